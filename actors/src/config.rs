//! The broker's configuration: one typed serde tree, mirroring emqttd's `emqttd.conf`
//! sections plus esockd's listener options and each supervisor's restart intensity.
//!
//! Choices a reader may question:
//! - **Defaults live only in `config/default.toml`**, embedded as [`DEFAULT_TOML`]. No struct
//!   here implements `Default` or uses `#[serde(default)]`: every key must come from some
//!   layer, and the embedded file is the bottom layer. [`BrokerConfig::defaults`] parses it
//!   alone (for tests and tools); the binary's loader (`src/config.rs`) layers a file and
//!   environment variables over it.
//! - **Unknown keys are errors** (`deny_unknown_fields` on every table), so a typo is never
//!   silently ignored.
//! - **Values are parsed into their real types while deserializing** (`SocketAddr`,
//!   [`AccessRule`], [`RateLimit`], [`LogFormat`], `Duration` via humantime strings), so a bad
//!   value fails with the key path and the layer it came from, and no code downstream parses
//!   strings again. [`BrokerConfig::validate`] then checks what one value cannot tell alone:
//!   ranges, the listener names, and the admin token that a non-loopback bind requires.
//! - Supervisors are a fixed struct, not a map: the tree's shape is code (`tree.rs`), so a
//!   misspelt supervisor name is an unknown key instead of a table nobody reads.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer};

use crate::esockd::access::AccessRule;
use crate::esockd::tls::TlsConfig;
use crate::esockd::transport::Kind;
use crate::esockd::ws::WsConfig;

/// `config/default.toml`, embedded at build time: the bottom layer of every configuration.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The largest MQTT frame there can be: a remaining length of 268,435,455 (the most four
/// length bytes can say) plus the one-byte header and four length bytes.
pub const MAX_MQTT_FRAME: u32 = 268_435_460;

/// The whole configuration, one field per section of `config/default.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    /// `[node]`
    pub node: NodeConfig,
    /// `[listeners.<name>]`, by name; the name is the listener's id in the tree.
    pub listeners: BTreeMap<String, ListenerConfig>,
    /// `[admin]`
    pub admin: AdminConfig,
    /// `[mqtt]`
    pub mqtt: MqttConfig,
    /// `[session]`
    pub session: SessionConfig,
    /// `[sm]`
    pub sm: SmConfig,
    /// `[sys]`
    pub sys: SysConfig,
    /// `[log]`
    pub log: LogConfig,
    /// `[supervisors.<name>]`
    pub supervisors: SupervisorsConfig,
    /// `[auth]`
    pub auth: AuthConfig,
    /// `[fault]`
    pub fault: FaultConfig,
    /// `[acl]`
    pub acl: AclConfig,
    /// `[storage]`
    pub storage: StorageConfig,
}

/// `[acl]`: who may publish and subscribe to what (emqttd's acl.conf).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    /// What happens when no rule matches.
    pub no_match: crate::auth::acl::Permission,
    /// The rules, first match wins.
    pub rules: Vec<crate::auth::acl::RuleConfig>,
}

/// `[fault]`: a fault-injection plan (docs/architecture.md §7), joined with the `--fault` flags.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// Rules in the `--fault` syntax: `<action>@<path-glob>[:<trigger>]`.
    pub rules: Vec<String>,
    /// Seed of the `p=` triggers.
    pub seed: u64,
}

/// `[node]`: this broker's identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// `name@host`, as emqttd names its node; used in `$SYS/brokers/<node>/…`.
    pub name: String,
}

/// `[listeners.<name>]`: one esockd listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// What it speaks: `tcp`, `tls`, `ws` or `wss`.
    pub kind: Kind,
    /// The address to bind.
    pub bind: SocketAddr,
    /// Acceptor tasks sharing the socket (at least 1).
    pub acceptors: usize,
    /// Connections held at once; `connection_sup` refuses the next one (esockd max_clients).
    pub max_connections: usize,
    /// Access rules, first match wins, no match allows.
    pub access: Vec<AccessRule>,
    /// Per-connection inbound byte rate; `None` (written `""`) is unlimited.
    #[serde(deserialize_with = "empty_is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Whether connections begin with a PROXY protocol (v1 or v2) header naming the client.
    pub proxy_protocol: bool,
    /// The proxies whose PROXY header or forwarding header is believed (IP addresses or CIDR
    /// blocks); empty: whoever connects to this listener.
    #[serde(default)]
    pub trusted_proxies: Vec<crate::esockd::access::TrustedProxy>,
    /// `[listeners.<name>.tls]`, required by the kinds `tls` and `wss` (absent otherwise).
    pub tls: Option<TlsConfig>,
    /// `[listeners.<name>.ws]`, required by the kinds `ws` and `wss` (absent otherwise).
    pub ws: Option<WsConfig>,
}

/// `[admin]`: the HTTP admin API that `arbor ctl` talks to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The address to serve on.
    pub bind: SocketAddr,
    /// The bearer token requests must carry; `None` (written `""`) only on a loopback bind.
    #[serde(deserialize_with = "empty_is_none")]
    pub token: Option<Secret>,
}

/// `[mqtt]`: protocol limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Largest whole frame accepted, in bytes (2 to [`MAX_MQTT_FRAME`]).
    pub max_packet_size: u32,
    /// Time a new connection has to send CONNECT.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time a packet has to arrive whole once its first byte has, keepalive or not (see
    /// [`crate::connection::frame_clock`]).
    #[serde(with = "humantime_serde")]
    pub frame_timeout: Duration,
    /// Longest client id accepted, in bytes.
    pub max_clientid_len: u16,
    /// Highest QoS the broker grants and accepts from MQTT 5 clients (0, 1 or 2; CONNACK's
    /// Maximum QoS). 3.1/3.1.1 subscriptions are granted at most this too.
    pub max_qos: u8,
    /// Whether retained messages are served (CONNACK's Retain Available).
    pub retain_available: bool,
    /// Whether filters with `+` or `#` may be subscribed (CONNACK's Wildcard Subscription
    /// Available).
    pub wildcard_subscription: bool,
    /// Whether `$share/<group>/<filter>` may be subscribed (Shared Subscription Available).
    pub shared_subscription: bool,
    /// Whether MQTT 5 subscriptions may carry an identifier (Subscription Identifiers
    /// Available).
    pub subscription_identifiers: bool,
    /// Highest topic alias an MQTT 5 client may use toward the broker (0: none).
    pub max_topic_alias: u16,
    /// QoS 1 and 2 PUBLISHes an MQTT 5 client may have unacknowledged toward the broker
    /// (CONNACK's Receive Maximum, 1 to 65535).
    pub receive_maximum: u16,
    /// Longest keepalive allowed, in seconds: a longer one (or 0) from an MQTT 5 client is
    /// replaced by this in CONNACK's Server Keep Alive. 0: the client's is kept.
    pub max_keepalive: u16,
    /// Sent as Response Information to an MQTT 5 client that asks for it (empty: none).
    pub response_information: String,
}

/// `[session]`: per-session windows and queues (emqttd_session).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// QoS 1/2 messages in flight to the client at once (at least 1).
    pub max_inflight: u16,
    /// Time before an unacknowledged QoS 1/2 message is sent again.
    #[serde(with = "humantime_serde")]
    pub retry_interval: Duration,
    /// Incoming QoS 2 messages awaiting PUBREL.
    pub max_awaiting_rel: u16,
    /// Time an incoming QoS 2 message may await its PUBREL.
    #[serde(with = "humantime_serde")]
    pub await_rel_timeout: Duration,
    /// Messages queued while offline or while the inflight window is full.
    pub max_mqueue_len: usize,
    /// Whether QoS 0 messages are queued too.
    pub mqueue_store_qos0: bool,
    /// How long publishers are paused for a session over half its queue before it counts as
    /// stalled (see [`crate::routing::load`]).
    #[serde(with = "humantime_serde")]
    pub publisher_wait: Duration,
    /// How long a persistent session outlives its client.
    #[serde(with = "humantime_serde")]
    pub expiry_interval: Duration,
}

/// `[sm]`: the session manager pool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmConfig {
    /// Workers in the pool; 0 means one per core (see [`SmConfig::workers`]).
    pub pool_size: usize,
}

/// `[sys]`: `$SYS` publishing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysConfig {
    /// Time between two `$SYS` publications.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The most verbose level logged.
    pub level: LogLevel,
    /// How log lines are written.
    pub format: LogFormat,
}

/// `[supervisors.<name>]`: one restart intensity per supervisor of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorsConfig {
    /// The root.
    pub broker_sup: IntensityConfig,
    /// Parent of the listeners.
    pub listeners_sup: IntensityConfig,
    /// One per listener.
    pub listener_sup: IntensityConfig,
    /// A listener's acceptor pool.
    pub acceptor_sup: IntensityConfig,
    /// A listener's connections (temporary children, never restarted).
    pub connection_sup: IntensityConfig,
    /// Router and retainer.
    pub router_sup: IntensityConfig,
    /// The session manager pool.
    pub sm_sup: IntensityConfig,
    /// Sessions (temporary children, never restarted).
    pub session_sup: IntensityConfig,
}

/// A supervisor's restart intensity: more than `max_restarts` in `max_seconds` and it gives up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntensityConfig {
    /// Restarts allowed inside the window.
    pub max_restarts: u32,
    /// The window, in seconds (at least 1).
    pub max_seconds: u64,
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether a client may connect without a username.
    pub allow_anonymous: bool,
    /// The password file; `None` (written `""`) for none.
    #[serde(deserialize_with = "empty_is_none")]
    pub password_file: Option<PathBuf>,
}

/// A token bucket: `burst` bytes at once, refilled at `bytes_per_sec` (esockd_rate_limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Bucket size in bytes (at least 1).
    pub burst: u64,
    /// Refill rate in bytes per second (at least 1).
    pub bytes_per_sec: u64,
}

/// The log level, a closed set so that a typo fails at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogLevel {
    /// `trace`
    Trace,
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warn`
    Warn,
    /// `error`
    Error,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A secret string whose `Debug` does not show it, so a logged config leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// A configuration that deserialized but breaks a rule; `key` is the dotted key path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{key}`: {reason}")]
pub struct ConfigInvalid {
    /// The offending key, e.g. `listeners.tcp.acceptors`.
    pub key: String,
    /// What is wrong, in lower case.
    pub reason: String,
}

/// A value outside a closed set of words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found:?}")]
pub struct UnknownWord {
    expected: &'static str,
    found: String,
}

/// A `rate_limit` that is not `<burst bytes>,<bytes per second>` with both at least 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate limit {0:?}: expected \"<burst bytes>,<bytes per second>\", both at least 1")]
pub struct RateLimitError(String);

impl BrokerConfig {
    /// The embedded `config/default.toml` alone, with no file or environment over it.
    pub fn defaults() -> Self {
        toml::from_str(DEFAULT_TOML).expect(
            "config/default.toml is embedded at build time and the unit test \
             `embedded_defaults_parse_and_validate` parses it",
        )
    }
}

impl SmConfig {
    /// The pool size to start: `pool_size`, or the number of cores when it is 0 (1 if the
    /// platform cannot tell).
    pub fn workers(&self) -> usize {
        match self.pool_size {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

impl SupervisorsConfig {
    /// Each supervisor's name (its id in the tree) and intensity, in tree order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &IntensityConfig)> {
        [
            ("broker_sup", &self.broker_sup),
            ("listeners_sup", &self.listeners_sup),
            ("listener_sup", &self.listener_sup),
            ("acceptor_sup", &self.acceptor_sup),
            ("connection_sup", &self.connection_sup),
            ("router_sup", &self.router_sup),
            ("sm_sup", &self.sm_sup),
            ("session_sup", &self.session_sup),
        ]
        .into_iter()
    }
}

impl FromStr for RateLimit {
    type Err = RateLimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || RateLimitError(s.to_owned());
        let (burst, rate) = s.split_once(',').ok_or_else(error)?;
        let number = |n: &str| match n.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(error()),
        };
        Ok(Self {
            burst: number(burst)?,
            bytes_per_sec: number(rate)?,
        })
    }
}

impl LogLevel {
    /// The level as written in the config (`"info"`), which tracing filters also accept.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl FromStr for LogLevel {
    type Err = UnknownWord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "trace" => Self::Trace,
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" => Self::Warn,
            "error" => Self::Error,
            _ => {
                return Err(UnknownWord {
                    expected: "`trace`, `debug`, `info`, `warn` or `error`",
                    found: s.to_owned(),
                })
            }
        })
    }
}

impl TryFrom<String> for LogLevel {
    type Error = UnknownWord;

    fn try_from(s: String) -> Result<Self, UnknownWord> {
        s.parse()
    }
}

impl FromStr for LogFormat {
    type Err = UnknownWord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(UnknownWord {
                expected: "`text` or `json`",
                found: s.to_owned(),
            }),
        }
    }
}

impl TryFrom<String> for LogFormat {
    type Error = UnknownWord;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl Secret {
    /// The secret itself, for the one place that compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a string where `""` means "not set" and anything else must parse as `T`.
fn empty_is_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let s = String::deserialize(deserializer)?;
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(de::Error::custom)
}

mod storage;
mod validate;

pub use storage::{Durability, StorageBackend, StorageConfig};

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
