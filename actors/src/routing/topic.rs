//! Topic matching: does a topic name match a topic filter.
//!
//! Mirrors emqttd's `emqttd_topic` (`match/2`, `wildcard/1`). It owns no state: these are pure
//! functions used by the route table ([`crate::routing::trie`]) and the retained store
//! ([`crate::routing::retained`]). What a valid name or filter is, and the `$share/` syntax, are
//! the codec's rules ([`crate::codec::topic_rules`], the broker's one validator). Topic matching
//! is ours rather than mqttbytes', whose `matches` panics on a multibyte first character; nothing
//! here indexes into a string by byte offset, so no input can make these functions panic.
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
//! literally, and a filter with `#` anywhere but last matches nothing.
//! [`crate::codec::topic_rules::validate_subscription`] rejects such filters, so the broker never
//! stores one; the rule only fixes what [`matches()`] answers if it is given one anyway, so that every matcher agrees.

pub use crate::codec::topic_rules::parse_share;

/// Whether `topic` matches `filter` under the rules in the module doc.
///
/// Never panics and never allocates, whatever the input. Assumes nothing of `topic`; a
/// `filter` that [`validate_subscription`](crate::codec::topic_rules::validate_subscription) would refuse gets the answer described in the module doc.
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
/// Checks characters, not levels: for a filter accepted by [`validate_subscription`](crate::codec::topic_rules::validate_subscription) the two agree,
/// and for any other filter this errs on the side of "wildcard".
pub fn is_wildcard(filter: &str) -> bool {
    filter.bytes().any(|b| b == b'+' || b == b'#')
}

#[cfg(test)]
#[path = "topic_tests.rs"]
mod tests;
