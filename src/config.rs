//! Loads the broker's configuration: three layers, each over the ones before, merged by the
//! `config` crate and deserialized into [`BrokerConfig`]:
//!
//! 1. the embedded `config/default.toml` ([`DEFAULT_TOML`]), where every default lives;
//! 2. the TOML file given with `arbor run -c FILE`, if any;
//! 3. environment variables `ARBOR__SECTION__KEY`: the rest of the name, lower-cased, with
//!    `__` as the path separator (`ARBOR__LISTENERS__TCP__BIND` sets `listeners.tcp.bind`).
//!    List keys (`listeners.<name>.access`) take a comma-separated value. `ARBOR_ADMIN`, with
//!    one underscore, is `arbor ctl`'s and is not configuration.
//!
//! Every error names the key and the layer to blame (file path or variable name). The
//! `config` crate merges layers into one tree and forgets where a value came from, so each
//! layer is checked as it is added: the stack so far is deserialized into the real
//! [`BrokerConfig`] under `serde_path_to_error`, which gives the exact key path of the first
//! failure (an unknown key included). The stack below was already shown to deserialize, so
//! the failure is the new layer's. This needs no mirror of the schema (no "partial" structs to
//! keep in step) and checks types as well as names; it costs three deserializations at start.
//! After the last layer, [`BrokerConfig::validate`] checks ranges and cross-key rules, and
//! its key is traced to the highest layer that sets it.
//!
//! Values convert as the `config` crate converts them, since environment variables are all
//! strings: `"4"` reads as 4 and `"yes"`/`"on"`/`"1"` as true, in the file as well. Every
//! number in the configuration is a count, a size or a time, never negative, so a number out
//! of range is told in those words ([`number_reason`]): `-1` is "expected a non-negative
//! integer", 70000 for a 16-bit key "expected an integer from 0 to 65535".

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use ::config::builder::DefaultState;
use ::config::{Config, ConfigBuilder, File, FileFormat, Map, Source, Value, ValueKind};
use arbor_actors::config::{BrokerConfig, DEFAULT_TOML};

/// Environment variables with this prefix (any case) are configuration.
pub const ENV_PREFIX: &str = "ARBOR__";

/// Separator between path segments in a variable name.
const ENV_SEPARATOR: &str = "__";

/// Keys whose environment value is a comma-separated list; `*` matches one segment.
const ENV_LIST_KEYS: &[&str] = &["listeners.*.access"];

/// Why the configuration could not be loaded. Each variant names what to fix and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `-c` file is missing or unreadable.
    #[error("cannot read config file {}", path.display())]
    ReadFile {
        /// The file as given.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML; the message has the line and column.
    #[error("invalid TOML in {}: {message}", path.display())]
    Syntax {
        /// The file as given.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An `ARBOR__…` variable whose name is not a key path.
    #[error(
        "environment variable {var} does not name a config key \
         (expected ARBOR__<SECTION>__<KEY>, segments of letters, digits and `_`)"
    )]
    EnvName {
        /// The variable.
        var: String,
    },
    /// An `ARBOR__…` variable whose value is not UTF-8.
    #[error("environment variable {var} is not valid UTF-8")]
    EnvNotUnicode {
        /// The variable.
        var: String,
    },
    /// Two variables set the same key, or one sets a table the other sets a key inside.
    #[error("environment variables {first} and {second} both set `{key}`")]
    EnvConflict {
        /// The key both set.
        key: String,
        /// One variable.
        first: String,
        /// The other.
        second: String,
    },
    /// A key the schema does not have.
    #[error("unknown key `{key}` in {origin}{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    UnknownKey {
        /// The full key path.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// The keys allowed there, as serde lists them.
        hint: Option<String>,
    },
    /// A required key absent from a table the layer added (a new listener must set every key).
    #[error("missing key `{key}` in {origin}")]
    MissingKey {
        /// The full key path.
        key: String,
        /// The layer that added the table.
        origin: Origin,
    },
    /// A value of the wrong type, or one its type rejects.
    #[error("invalid value for `{key}` in {origin}: {reason}")]
    InvalidValue {
        /// The full key path (`[i]` for a list element).
        key: String,
        /// Where it was set.
        origin: Origin,
        /// What was expected and what was found.
        reason: String,
    },
    /// The merged configuration breaks a rule of [`BrokerConfig::validate`].
    #[error("invalid `{key}` in {origin}: {reason}")]
    Invalid {
        /// The key the rule is about.
        key: String,
        /// The highest layer that sets that key.
        origin: Origin,
        /// The rule that is broken.
        reason: String,
    },
}

/// The layer a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The embedded `config/default.toml`.
    Defaults,
    /// The `-c` file.
    File(PathBuf),
    /// One environment variable.
    Env(String),
    /// Some `ARBOR__…` variable (only if the one to blame cannot be told).
    Environment,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Defaults => f.write_str("the built-in defaults (config/default.toml)"),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::Environment => f.write_str("the ARBOR__ environment variables"),
        }
    }
}

/// [`load`] with the process environment.
pub fn load_from_env(file: Option<&Path>) -> Result<BrokerConfig, ConfigError> {
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        // A name that is not UTF-8 cannot start with ARBOR__ in any meaningful way: skip it.
        let Some(name) = name.to_str().filter(|n| strip_env_prefix(n).is_some()) else {
            continue;
        };
        let value = value
            .into_string()
            .map_err(|_: OsString| ConfigError::EnvNotUnicode { var: name.into() })?;
        env.push((name.to_owned(), value));
    }
    load(file, env)
}

/// Loads the embedded defaults, then `file` if given, then the `ARBOR__…` entries of `env`
/// (other entries are ignored), and validates the result.
pub fn load<I>(file: Option<&Path>, env: I) -> Result<BrokerConfig, ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let env = EnvLayer::parse(env)?;
    let defaults = Layer::toml(DEFAULT_TOML).map_err(|message| ConfigError::Syntax {
        path: "config/default.toml (built in)".into(),
        message,
    })?;
    let mut stack = Config::builder().add_source(defaults);
    // The base case of the blame: from here on, a failure belongs to the layer just added.
    deserialize(&stack, |_| Origin::Defaults)?;

    let file = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                path: path.to_owned(),
                source,
            })?;
            let layer = Layer::toml(&text).map_err(|message| ConfigError::Syntax {
                path: path.to_owned(),
                message,
            })?;
            stack = stack.add_source(layer.clone());
            deserialize(&stack, |_| Origin::File(path.to_owned()))?;
            Some((path, layer))
        }
        None => None,
    };

    stack = stack.add_source(env.layer());
    let config = deserialize(&stack, |key| {
        env.var_for(key)
            .map_or(Origin::Environment, |var| Origin::Env(var.to_owned()))
    })?;

    config.validate().map_err(|invalid| {
        let origin = if let Some(var) = env.var_for(&invalid.key) {
            Origin::Env(var.to_owned())
        } else {
            match file {
                Some((path, layer)) if layer.sets(&invalid.key) => Origin::File(path.to_owned()),
                _ => Origin::Defaults,
            }
        };
        ConfigError::Invalid {
            key: invalid.key,
            origin,
            reason: invalid.reason,
        }
    })?;
    Ok(config)
}

/// Merges the stack and deserializes it; a failure is blamed on `origin_of(key)`, where `key`
/// is the failing key, or for a missing key the table the new layer added without it.
fn deserialize(
    stack: &ConfigBuilder<DefaultState>,
    origin_of: impl Fn(&str) -> Origin,
) -> Result<BrokerConfig, ConfigError> {
    // Our layers are collected up front, so merging them cannot fail; map it anyway.
    let merged = stack.build_cloned().map_err(|e| ConfigError::InvalidValue {
        key: ".".into(),
        origin: origin_of("."),
        reason: e.to_string(),
    })?;
    serde_path_to_error::deserialize(merged).map_err(|err| {
        let path = err.path().to_string();
        let mut inner = err.into_inner();
        // `config` wraps errors in `At` to add the key; the path already has it.
        while let ::config::ConfigError::At { error, .. } = inner {
            inner = *error;
        }
        match inner {
            // serde's fixed wording for `deny_unknown_fields`; the path ends with the key.
            ::config::ConfigError::Message(message) if message.starts_with("unknown field") => {
                ConfigError::UnknownKey {
                    origin: origin_of(&path),
                    hint: message.split_once(", ").map(|(_, hint)| hint.to_owned()),
                    key: path,
                }
            }
            // The path is the table; `config` has put the table's path before the field.
            ::config::ConfigError::NotFound(field) => {
                let field = field.rsplit('.').next().unwrap_or(&field);
                let key = match path.as_str() {
                    "." => field.to_owned(),
                    table => format!("{table}.{field}"),
                };
                ConfigError::MissingKey {
                    origin: origin_of(&path),
                    key,
                }
            }
            ::config::ConfigError::Type {
                unexpected, expected, ..
            } => {
                let found = unexpected.to_string();
                ConfigError::InvalidValue {
                    origin: origin_of(&path),
                    reason: number_reason(expected, &found)
                        .unwrap_or_else(|| format!("expected {expected}, found {found}")),
                    key: path,
                }
            }
            other => ConfigError::InvalidValue {
                origin: origin_of(&path),
                reason: other.to_string(),
                key: path,
            },
        }
    })
}

/// The reason for a number the key's type cannot hold, from the `config` crate's words: what it
/// `expected` for an unsigned integer ("an integer" when a string would not parse, "an unsigned
/// 64 bit or less integer", "an unsigned 16 bit integer") and the value it `found`, as its
/// `Unexpected` prints it (`` 64-bit integer `-1` ``, `string "-1"`). `None` when it is not a
/// number out of range (a word, say), which keeps the crate's own words.
fn number_reason(expected: &str, found: &str) -> Option<String> {
    let unsigned = expected == "an integer" || expected.starts_with("an unsigned ");
    if !unsigned {
        return None;
    }
    let number: i128 = if let Some(text) = found.strip_prefix("string ") {
        text.trim_matches('"').trim().parse().ok()?
    } else {
        let (_, rest) = found.split_once('`')?;
        rest.strip_suffix('`')?.parse().ok()?
    };
    if number < 0 {
        return Some(format!("expected a non-negative integer, found {number}"));
    }
    let bits: u32 = expected
        .strip_prefix("an unsigned ")?
        .strip_suffix(" bit integer")?
        .parse()
        .ok()?;
    let max = 1u128.checked_shl(bits)?.checked_sub(1)?;
    Some(format!("expected an integer from 0 to {max}, found {number}"))
}

/// One collected layer: a tree of values, added to the stack as a `config` source.
#[derive(Debug, Clone)]
struct Layer(Map<String, Value>);

impl Layer {
    /// Parses TOML text; the error message has the line and column.
    fn toml(text: &str) -> Result<Self, String> {
        let map = File::from_str(text, FileFormat::Toml)
            .collect()
            .map_err(|e| match e {
                ::config::ConfigError::FileParse { cause, .. } => cause.to_string(),
                other => other.to_string(),
            })
            .map_err(|message| message.trim_end().to_owned())?;
        Ok(Self(map))
    }

    /// Whether this layer sets `key`, a table holding it, or something inside it. A
    /// segment may itself contain dots (a quoted TOML key), so whole remainders are tried.
    fn sets(&self, key: &str) -> bool {
        fn walk(table: &Map<String, Value>, rest: &str) -> bool {
            if table.contains_key(rest) {
                return true;
            }
            rest.match_indices('.')
                .any(|(at, _)| match table.get(&rest[..at]).map(|v| &v.kind) {
                    Some(ValueKind::Table(inner)) => walk(inner, &rest[at + 1..]),
                    // A value where a table belongs: this layer set it over the key.
                    Some(_) => true,
                    None => false,
                })
        }
        walk(&self.0, base_key(key))
    }
}

impl Source for Layer {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, ::config::ConfigError> {
        Ok(self.0.clone())
    }
}

/// The `ARBOR__…` variables, each with the key it sets.
#[derive(Debug, Clone)]
struct EnvLayer {
    /// Sorted by name, so the blame is stable.
    vars: Vec<EnvVar>,
}

/// One `ARBOR__…` variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EnvVar {
    /// The variable's name, as set.
    name: String,
    /// The dotted key it sets.
    key: String,
    /// Its value.
    value: String,
}

impl EnvLayer {
    /// Keeps the `ARBOR__…` entries; a name that is not a key path, or two names setting the
    /// same key (or a table and a key inside it), is an error naming the variables.
    fn parse(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut vars = Vec::new();
        for (name, value) in env {
            let Some(path) = strip_env_prefix(&name) else {
                continue;
            };
            let key = path
                .to_ascii_lowercase()
                .split(ENV_SEPARATOR)
                .map(|segment| {
                    let valid = !segment.is_empty()
                        && segment
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    valid.then_some(segment.to_owned())
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ConfigError::EnvName { var: name.clone() })?
                .join(".");
            vars.push(EnvVar { name, key, value });
        }
        vars.sort();
        for (i, first) in vars.iter().enumerate() {
            for second in vars.iter().skip(i + 1) {
                let (a, b) = (&first.key, &second.key);
                if a == b || nested(a, b) || nested(b, a) {
                    return Err(ConfigError::EnvConflict {
                        key: if a.len() <= b.len() { a } else { b }.clone(),
                        first: first.name.clone(),
                        second: second.name.clone(),
                    });
                }
            }
        }
        Ok(Self { vars })
    }

    /// The variables as a layer: strings, except comma-separated lists for list keys.
    fn layer(&self) -> Layer {
        let mut map = Map::new();
        for var in &self.vars {
            let kind = if ENV_LIST_KEYS.iter().any(|pattern| key_matches(pattern, &var.key)) {
                let items = if var.value.trim().is_empty() {
                    Vec::new()
                } else {
                    var.value.split(',').map(|item| item.trim().to_owned()).collect()
                };
                ValueKind::from(items)
            } else {
                ValueKind::String(var.value.clone())
            };
            map.insert(var.key.clone(), Value::new(Some(&var.name), kind));
        }
        Layer(map)
    }

    /// The variable that sets `key`, a table holding it, or a key inside it.
    fn var_for(&self, key: &str) -> Option<&str> {
        let key = base_key(key);
        self.vars
            .iter()
            .find(|var| var.key == key || nested(&var.key, key) || nested(key, &var.key))
            .map(|var| var.name.as_str())
    }
}

/// The rest of `name` after [`ENV_PREFIX`], matched in any case; `None` without the prefix
/// (`ARBOR_ADMIN` has none).
fn strip_env_prefix(name: &str) -> Option<&str> {
    let (prefix, rest) = name.split_at_checked(ENV_PREFIX.len())?;
    prefix.eq_ignore_ascii_case(ENV_PREFIX).then_some(rest)
}

/// Whether `inner` is a key inside the table `outer`.
fn nested(outer: &str, inner: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Whether `key` matches `pattern`, where a `*` segment matches any one segment.
fn key_matches(pattern: &str, key: &str) -> bool {
    let (mut pattern, mut key) = (pattern.split('.'), key.split('.'));
    loop {
        match (pattern.next(), key.next()) {
            (None, None) => return true,
            (Some(p), Some(k)) if p == "*" || p == k => {}
            _ => return false,
        }
    }
}

/// The key without a trailing list index: `listeners.tcp.access[1]` → `listeners.tcp.access`.
fn base_key(key: &str) -> &str {
    key.split_once('[').map_or(key, |(base, _)| base)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
