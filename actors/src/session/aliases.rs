//! Topic aliases toward one MQTT 5 client (section 3.3.2.3.4): the broker assigns them, up to
//! the Topic Alias Maximum the client sent in CONNECT, and forgets them with the connection
//! [MQTT-3.3.2-7].
//!
//! A topic gets the next free alias the first time it is sent, with the topic; afterwards it is
//! sent as the alias alone, with an empty topic. Once every alias is taken, new topics go out
//! in full (no replacement policy: the hot topics of a connection are usually its first ones).

use crate::codec::TopicName;
use crate::lazy_map::LazyMap;

/// The aliases of the attached connection.
#[derive(Debug, Default)]
pub(super) struct OutAliases {
    max: u16,
    /// Made on first use: most clients allow no aliases.
    map: LazyMap<TopicName, u16>,
}

/// How a PUBLISH names its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alias {
    /// No alias: the topic in full.
    None,
    /// The topic in full, and from now on this alias stands for it.
    Set(u16),
    /// The alias alone (empty topic).
    Use(u16),
}

impl OutAliases {
    /// Forgets every alias (a new connection) and allows up to `max`.
    pub(super) fn reset(&mut self, max: u16) {
        self.max = max;
        self.map.clear();
    }

    /// The alias to use for `topic`, assigning one if there is room.
    pub(super) fn for_topic(&mut self, topic: &TopicName) -> Alias {
        if self.max == 0 {
            return Alias::None;
        }
        if let Some(&alias) = self.map.get(topic) {
            return Alias::Use(alias);
        }
        let Ok(taken) = u16::try_from(self.map.len()) else {
            return Alias::None;
        };
        if taken >= self.max {
            return Alias::None;
        }
        let alias = taken + 1;
        self.map.insert(topic.clone(), alias);
        Alias::Set(alias)
    }

    /// Takes back the alias just set for `topic`, whose PUBLISH was not sent after all (numbering
    /// stays dense: it was the last one assigned).
    pub(super) fn unset(&mut self, topic: &TopicName) {
        self.map.remove(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [MQTT-3.3.2-7], [MQTT-3.3.2-9]: aliases from 1 up to the client's maximum, per connection.
    #[test]
    fn aliases_are_assigned_up_to_the_maximum_and_forgotten_on_reset() {
        let mut a = OutAliases::default();
        let t = |s: &str| TopicName::new(s).unwrap();
        let (x, y, z) = (t("x"), t("y"), t("z"));
        assert_eq!(
            a.for_topic(&x),
            Alias::None,
            "no aliases before the client allows them"
        );
        a.reset(2);
        assert_eq!(a.for_topic(&x), Alias::Set(1));
        assert_eq!(a.for_topic(&x), Alias::Use(1));
        assert_eq!(a.for_topic(&y), Alias::Set(2));
        assert_eq!(
            a.for_topic(&z),
            Alias::None,
            "past the maximum, topics go in full"
        );
        a.reset(2);
        assert_eq!(a.for_topic(&y), Alias::Set(1));
    }
}
