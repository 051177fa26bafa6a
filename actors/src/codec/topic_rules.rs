//! The rules for topic names and topic filters (MQTT 3.1.1 section 4.7), the shape of a shared
//! subscription (`$share/<group>/<filter>`), and [`TopicName`], a topic name that has passed them.
//!
//! This is the broker's only topic validator. The codec applies it to every PUBLISH topic, will
//! topic and SUBSCRIBE/UNSUBSCRIBE filter it decodes; the route table checks a filter it stores
//! with [`validate_subscription`], which adds the shared-subscription rule to the filter rules,
//! so "valid topic" means one thing in the whole broker (emqttd keeps these rules in
//! `emqttd_topic:validate/1`). A malformed `$share/` filter is not a malformed packet: SUBACK
//! refuses it. Matching a name against a filter is routing's job, not this module's.
//!
//! Both validators work on `&str`, so UTF-8 well-formedness is already settled; they still
//! check U+0000 and the 65,535-byte limit because the router also gets topics that never
//! came off the wire (configuration, the admin API).

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The longest topic an MQTT string can carry [MQTT-4.7.3-3].
pub const MAX_TOPIC_LEN: usize = u16::MAX as usize;

/// Why a topic name or filter breaks the rules. Positions are byte offsets into the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// A topic is at least one character long [MQTT-4.7.3-1].
    #[error("topic is empty")]
    Empty,
    /// Longer than an MQTT string can carry [MQTT-4.7.3-3].
    #[error("topic is {0} bytes long, more than 65535")]
    TooLong(usize),
    /// U+0000 is forbidden in topics [MQTT-4.7.3-2].
    #[error("null character at byte {0}")]
    NullCharacter(usize),
    /// `+` or `#` in a topic name, where wildcards are forbidden [MQTT-3.3.2-2], [MQTT-4.7.1-1].
    #[error("wildcard {wildcard:?} at byte {at} in a topic name")]
    WildcardInName {
        /// The wildcard found.
        wildcard: char,
        /// Its byte offset.
        at: usize,
    },
    /// `#` shares its level with other characters [MQTT-4.7.1-2].
    #[error("'#' at byte {0} is not alone in its level")]
    HashNotAlone(usize),
    /// `#` is followed by more levels [MQTT-4.7.1-2].
    #[error("'#' at byte {0} is not the last level")]
    HashNotLast(usize),
    /// `+` shares its level with other characters [MQTT-4.7.1-3].
    #[error("'+' at byte {0} is not alone in its level")]
    PlusNotAlone(usize),
    /// Starts with `$share/` but is not `$share/<group>/<filter>` with a non-empty group free of
    /// `+` and `#` and a non-empty filter [MQTT-4.8.2-1] [MQTT-4.8.2-2].
    #[error("malformed shared subscription")]
    BadShare,
}

/// The prefix of a shared subscription.
const SHARE_PREFIX: &str = "$share/";

/// Splits a shared subscription `$share/<group>/<filter>` into `(group, filter)`.
///
/// `None` for a filter that does not start with `$share/` and also for a malformed one: an empty
/// group, a group holding `+` or `#`, or an empty filter ([`validate_subscription`] tells the two
/// apart). The returned filter is not validated here.
pub fn parse_share(filter: &str) -> Option<(&str, &str)> {
    let rest = filter.strip_prefix(SHARE_PREFIX)?;
    let (group, real) = rest.split_once('/')?;
    if group.is_empty() || group.contains(['+', '#']) || real.is_empty() {
        return None;
    }
    Some((group, real))
}

/// Checks a filter a session subscribes to: [`validate_topic_filter`], and for a `$share/`
/// filter a well-formed group followed by a valid filter. Error positions are byte offsets
/// into `filter`.
pub fn validate_subscription(filter: &str) -> Result<(), TopicError> {
    if !filter.starts_with(SHARE_PREFIX) {
        return validate_topic_filter(filter);
    }
    let (_, real) = parse_share(filter).ok_or(TopicError::BadShare)?;
    let offset = filter.len() - real.len();
    validate_topic_filter(real).map_err(|e| e.shifted(offset))
}

impl TopicError {
    /// The same error with its byte positions moved by `offset`.
    fn shifted(self, offset: usize) -> Self {
        match self {
            Self::NullCharacter(at) => Self::NullCharacter(at + offset),
            Self::WildcardInName { wildcard, at } => Self::WildcardInName {
                wildcard,
                at: at + offset,
            },
            Self::HashNotAlone(at) => Self::HashNotAlone(at + offset),
            Self::HashNotLast(at) => Self::HashNotLast(at + offset),
            Self::PlusNotAlone(at) => Self::PlusNotAlone(at + offset),
            other => other,
        }
    }
}

/// Checks a topic name as found in PUBLISH and in a CONNECT will: non-empty, at most 65,535
/// bytes, no U+0000 and no wildcard.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    match topic.bytes().position(|b| b == b'+' || b == b'#') {
        Some(at) => Err(TopicError::WildcardInName {
            wildcard: if topic.as_bytes().get(at) == Some(&b'+') {
                '+'
            } else {
                '#'
            },
            at,
        }),
        None => Ok(()),
    }
}

/// Checks a topic filter as found in SUBSCRIBE and UNSUBSCRIBE: non-empty, at most 65,535
/// bytes, no U+0000, `#` only alone in the last level, `+` only alone in its level. Empty
/// levels (`a//b`, `/a`) are allowed [MQTT-4.7.1-1].
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let bytes = filter.as_bytes();
    // A wildcard is alone in its level when the bytes on either side are a separator or an end.
    let separator_or_end = |i: Option<usize>| match i {
        Some(i) => bytes.get(i).is_none_or(|&b| b == b'/'),
        None => true,
    };
    for (at, &b) in bytes.iter().enumerate() {
        if b != b'+' && b != b'#' {
            continue;
        }
        let alone = separator_or_end(at.checked_sub(1)) && separator_or_end(at.checked_add(1));
        match (b, alone) {
            (b'+', false) => return Err(TopicError::PlusNotAlone(at)),
            (b'#', false) => return Err(TopicError::HashNotAlone(at)),
            (b'#', true) if at.checked_add(1) != Some(bytes.len()) => {
                return Err(TopicError::HashNotLast(at));
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong(topic.len()));
    }
    match topic.bytes().position(|b| b == 0) {
        Some(at) => Err(TopicError::NullCharacter(at)),
        None => Ok(()),
    }
}

/// A topic name that passed [`validate_topic_name`]: what a PUBLISH or a will is sent to.
///
/// Shared, not copied: a message fanned out to many sessions clones an `Arc`, not the
/// string. Compares, orders and hashes like the `str` it holds, and borrows as `&str`, so it
/// can key a map looked up by `&str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicName(Arc<str>);

impl TopicName {
    /// Validates `topic` and keeps it.
    pub fn new(topic: &str) -> Result<TopicName, TopicError> {
        validate_topic_name(topic)?;
        Ok(TopicName(Arc::from(topic)))
    }

    /// Wraps a topic the caller has already validated.
    pub(crate) fn from_validated(topic: &str) -> TopicName {
        debug_assert_eq!(validate_topic_name(topic), Ok(()));
        TopicName(Arc::from(topic))
    }

    /// The empty topic of an MQTT 5 PUBLISH that names its topic by Topic Alias alone
    /// (section 3.3.2.3.4): the one `TopicName` that breaks [`validate_topic_name`]. The codec
    /// builds it only for such a PUBLISH, and the connection replaces it by the aliased topic
    /// before the message goes anywhere.
    pub fn alias_only() -> TopicName {
        TopicName(Arc::from(""))
    }

    /// The topic as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for TopicName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;

    fn try_from(topic: &str) -> Result<Self, Self::Error> {
        TopicName::new(topic)
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicError;

    fn try_from(topic: String) -> Result<Self, Self::Error> {
        validate_topic_name(&topic)?;
        Ok(TopicName(Arc::from(topic)))
    }
}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_topic_names() {
        for name in [
            "a",
            "/",
            "a/b",
            "//",
            "$SYS/x",
            "sport/tennis player1",
            "é/😀",
            "\u{FEFF}",
        ] {
            assert_eq!(validate_topic_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn topic_name_rejects_empty_mqtt_4_7_3_1() {
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
    }

    #[test]
    fn topic_name_rejects_wildcards_mqtt_3_3_2_2() {
        let plus = TopicError::WildcardInName { wildcard: '+', at: 2 };
        assert_eq!(validate_topic_name("a/+"), Err(plus));
        let hash = TopicError::WildcardInName { wildcard: '#', at: 0 };
        assert_eq!(validate_topic_name("#"), Err(hash));
        assert_eq!(
            validate_topic_name("a+b"),
            Err(TopicError::WildcardInName { wildcard: '+', at: 1 })
        );
    }

    #[test]
    fn topics_reject_null_and_overlong_mqtt_4_7_3_2_and_3() {
        assert_eq!(validate_topic_name("a\0"), Err(TopicError::NullCharacter(1)));
        assert_eq!(validate_topic_filter("\0/#"), Err(TopicError::NullCharacter(0)));
        let long = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(
            validate_topic_name(&long),
            Err(TopicError::TooLong(MAX_TOPIC_LEN + 1))
        );
        assert_eq!(
            validate_topic_filter(&long),
            Err(TopicError::TooLong(MAX_TOPIC_LEN + 1))
        );
        assert_eq!(validate_topic_name(&long[1..]), Ok(()));
    }

    #[test]
    fn valid_topic_filters() {
        for filter in [
            "#", "+", "a/#", "a/+/b", "+/+", "/+", "+/", "a//#", "/", "$SYS/#", "é/+",
        ] {
            assert_eq!(validate_topic_filter(filter), Ok(()), "{filter:?}");
        }
    }

    #[test]
    fn topic_filter_rejects_empty() {
        assert_eq!(validate_topic_filter(""), Err(TopicError::Empty));
    }

    #[test]
    fn topic_filter_hash_only_last_and_alone_mqtt_4_7_1_2() {
        assert_eq!(validate_topic_filter("#/a"), Err(TopicError::HashNotLast(0)));
        assert_eq!(validate_topic_filter("a/#/"), Err(TopicError::HashNotLast(2)));
        assert_eq!(validate_topic_filter("a#"), Err(TopicError::HashNotAlone(1)));
        assert_eq!(validate_topic_filter("a/#b"), Err(TopicError::HashNotAlone(2)));
        assert_eq!(validate_topic_filter("##"), Err(TopicError::HashNotAlone(0)));
    }

    #[test]
    fn topic_filter_plus_alone_mqtt_4_7_1_3() {
        assert_eq!(validate_topic_filter("a+/b"), Err(TopicError::PlusNotAlone(1)));
        assert_eq!(validate_topic_filter("a/+b"), Err(TopicError::PlusNotAlone(2)));
        assert_eq!(validate_topic_filter("++"), Err(TopicError::PlusNotAlone(0)));
    }

    #[test]
    fn shared_subscriptions_mqtt_4_8_2_1_and_4_8_2_2() {
        for ok in ["$share/g/+/x/#", "$share/g/#", "$share/group/a/b"] {
            assert_eq!(validate_subscription(ok), Ok(()), "{ok:?}");
        }
        for bad in ["$share//a", "$share/g", "$share/g/", "$share/g+/a", "$share/#/a"] {
            assert_eq!(validate_subscription(bad), Err(TopicError::BadShare), "{bad:?}");
            assert_eq!(parse_share(bad), None, "{bad:?}");
        }
        assert_eq!(
            validate_subscription("$share/g/a#"),
            Err(TopicError::HashNotAlone(10)),
            "the inner filter's rules, positions in the whole filter"
        );
        assert_eq!(parse_share("$share/g/a/b"), Some(("g", "a/b")));
        assert_eq!(parse_share("a/b"), None);
        assert_eq!(validate_subscription("sport+"), Err(TopicError::PlusNotAlone(5)));
    }

    #[test]
    fn topic_name_is_a_str_key() {
        let topic = TopicName::new("a/b").expect("a/b is a valid topic name");
        assert_eq!(topic, "a/b");
        assert_eq!(topic.len(), 3);
        let mut map = std::collections::HashMap::new();
        map.insert(topic.clone(), 1);
        assert_eq!(map.get("a/b"), Some(&1));
        assert_eq!(format!("{topic} {topic:?}"), "a/b \"a/b\"");
        assert!(TopicName::try_from(String::from("a/#")).is_err());
    }

    #[test]
    fn topic_error_messages() {
        assert_eq!(
            TopicError::PlusNotAlone(1).to_string(),
            "'+' at byte 1 is not alone in its level"
        );
        assert_eq!(
            TopicError::WildcardInName { wildcard: '#', at: 0 }.to_string(),
            "wildcard '#' at byte 0 in a topic name"
        );
    }
}
