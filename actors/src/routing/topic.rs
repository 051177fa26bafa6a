//! Topic names and topic filters: matching, validation and the shared-subscription syntax.
//!
//! Mirrors emqttd's `emqttd_topic` (`match/2`, `wildcard/1`, `validate/1`, and the `$share/`
//! parsing emqttd keeps next to it). It owns no state: these are pure functions used by the route
//! table ([`crate::routing::trie`]), the retained store ([`crate::routing::retained`]) and the codec's checks
//! of SUBSCRIBE and PUBLISH. Topic matching is ours rather than mqttbytes', whose `matches`
//! panics on a multibyte first character; nothing here indexes into a string by byte offset, so
//! no input can make these functions panic.
//!
//! Matching rules, MQTT 3.1.1 section 4.7:
//! - Levels are separated by `/`, and an empty string between separators is a level: `/a` has the
//!   two levels `""` and `"a"`, `a//b` has three.
//! - `+` matches exactly one level, whatever it holds, the empty level included [MQTT-4.7.1-3].
//! - `#` as the last level matches its parent level and every level below it: `sport/#` matches
//!   `sport`, `sport/` and `sport/tennis/player1` [MQTT-4.7.1-2].
//! - A filter whose first level is `+` or `#` does not match a topic starting with `$`
//!   [MQTT-4.7.2-1]; `$SYS/#` does.
//! - No normalisation of any kind: levels are compared byte for byte [MQTT-4.7.3-4].
//!
//! Invariant shared with the route table and the retained store: `+` and `#` are wildcards only
//! when they are a whole level, and `#` only as the last level. A level like `a+` compares
//! literally, and a filter with `#` anywhere but last matches nothing. [`validate_filter`]
//! rejects such filters, so the broker never stores one; the rule only fixes what
//! [`matches()`] answers if it is given one anyway, so that every matcher agrees.

use std::fmt;

/// The longest topic or filter MQTT can encode: a two-byte length prefix [MQTT-1.5.3].
pub const MAX_LEN: usize = u16::MAX as usize;

/// The prefix of a shared subscription, `$share/<group>/<filter>`.
const SHARE_PREFIX: &str = "$share/";

/// Why a topic name or a topic filter was refused by [`validate_topic`] or [`validate_filter`].
///
/// Variants carry the offending string so the connection can log it; building one allocates,
/// which is fine because it happens once per refused SUBSCRIBE or PUBLISH, never when routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// Topic names and filters are at least one character long [MQTT-4.7.3-1].
    Empty,
    /// Longer than [`MAX_LEN`] bytes; carries the length.
    TooLong(usize),
    /// Contains U+0000 [MQTT-4.7.3-2].
    NulChar(String),
    /// A topic name holds `+` or `#` [MQTT-3.3.2-2].
    WildcardInTopic(String),
    /// A filter has `+` or `#` sharing a level with other characters, or `#` that is not the
    /// last level [MQTT-4.7.1-2] [MQTT-4.7.1-3].
    MisplacedWildcard(String),
    /// Starts with `$share/` but is not `$share/<group>/<filter>` with a non-empty group free of
    /// `+` and `#` and a non-empty filter.
    BadShare(String),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::Empty => write!(f, "empty topic"),
            TopicError::TooLong(len) => write!(f, "topic of {len} bytes exceeds {MAX_LEN}"),
            TopicError::NulChar(s) => write!(f, "topic {s:?} contains U+0000"),
            TopicError::WildcardInTopic(s) => write!(f, "topic name {s:?} contains a wildcard"),
            TopicError::MisplacedWildcard(s) => {
                write!(f, "topic filter {s:?} has a misplaced wildcard")
            }
            TopicError::BadShare(s) => write!(f, "malformed shared subscription {s:?}"),
        }
    }
}

impl std::error::Error for TopicError {}

/// Whether `topic` matches `filter` under the rules in the module doc.
///
/// Never panics and never allocates, whatever the input. Assumes nothing of `topic`; a
/// `filter` that [`validate_filter`] would refuse gets the answer described in the module doc.
/// Shared-subscription prefixes are not interpreted: strip them with [`parse_share`] first.
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    if topic.starts_with('$') {
        // [MQTT-4.7.2-1]: `split` always yields a first level, even for "".
        if let Some("+" | "#") = filter.split('/').next() {
            return false;
        }
    }
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            // `#` covers the parent level too, hence any topic level, present or not.
            (Some("#"), _) => return filter_levels.next().is_none(),
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether `filter` contains a wildcard character, so it cannot be looked up as an exact topic.
///
/// Checks characters, not levels: for a filter accepted by [`validate_filter`] the two agree,
/// and for any other filter this errs on the side of "wildcard".
pub fn is_wildcard(filter: &str) -> bool {
    filter.bytes().any(|b| b == b'+' || b == b'#')
}

/// Splits a shared subscription `$share/<group>/<filter>` into `(group, filter)`.
///
/// Returns `None` for a filter that does not start with `$share/` and also for a malformed one:
/// an empty group, a group containing `+` or `#`, or an empty filter. Callers that must tell the
/// two apart use [`validate_filter`], which refuses the malformed ones with
/// [`TopicError::BadShare`]. The returned filter is not validated here.
pub fn parse_share(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix(SHARE_PREFIX)?;
    let (group, real) = rest.split_once('/')?;
    if group.is_empty() || is_wildcard(group) || real.is_empty() {
        return None;
    }
    Some((group, real))
}

/// Checks a topic name from PUBLISH or a will: non-empty, at most [`MAX_LEN`] bytes, no U+0000,
/// no wildcard [MQTT-4.7.3-1] [MQTT-4.7.3-2] [MQTT-3.3.2-2].
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    if is_wildcard(topic) {
        return Err(TopicError::WildcardInTopic(topic.to_owned()));
    }
    Ok(())
}

/// Checks a topic filter from SUBSCRIBE or UNSUBSCRIBE: non-empty, at most [`MAX_LEN`] bytes,
/// no U+0000, wildcards only as whole levels and `#` only last [MQTT-4.7.1-2] [MQTT-4.7.1-3];
/// a `$share/` filter must be well formed and its inner filter valid.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let real = if filter.starts_with(SHARE_PREFIX) {
        match parse_share(filter) {
            Some((_, real)) => real,
            None => return Err(TopicError::BadShare(filter.to_owned())),
        }
    } else {
        filter
    };
    let mut levels = real.split('/').peekable();
    while let Some(level) = levels.next() {
        let ok = match level {
            "+" => true,
            "#" => levels.peek().is_none(),
            other => !is_wildcard(other),
        };
        if !ok {
            return Err(TopicError::MisplacedWildcard(filter.to_owned()));
        }
    }
    Ok(())
}

/// The checks topic names and filters share.
fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_LEN {
        return Err(TopicError::TooLong(s.len()));
    }
    if s.contains('\0') {
        return Err(TopicError::NulChar(s.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
#[path = "topic_tests.rs"]
mod tests;
