//! Topic aliases from one MQTT 5 client (section 3.3.2.3.4): the map the client builds by
//! sending a topic with an alias, read when it later sends the alias alone. It lives with the
//! connection's reader and ends with the connection [MQTT-3.3.2-7].

use crate::codec::{ReasonCode, TopicName};
use crate::connection::Close;
use crate::lazy_map::LazyMap;

/// The client's aliases, up to `mqtt.max_topic_alias`.
#[derive(Debug, Default)]
pub(super) struct InAliases {
    /// Made on the first alias: most clients send none.
    map: LazyMap<u16, TopicName>,
}

impl InAliases {
    /// The topic a PUBLISH names: `topic` itself, which (with an alias) also sets the alias, or
    /// (empty topic) the alias's topic. An alias above `max` is 0x94 [MQTT-3.3.2-8]; an
    /// empty topic whose alias was never set, or without an alias, is a protocol error
    /// (section 3.3.2.3.4).
    pub(super) fn resolve(
        &mut self,
        topic: TopicName,
        alias: Option<u16>,
        max: u16,
    ) -> Result<TopicName, Close> {
        let Some(alias) = alias else {
            if topic.is_empty() {
                return Err(Close::Protocol(
                    "PUBLISH with an empty topic and no topic alias".into(),
                ));
            }
            return Ok(topic);
        };
        if alias == 0 || alias > max {
            return Err(Close::Violation(
                ReasonCode::TOPIC_ALIAS_INVALID,
                format!("topic alias {alias} is outside 1..={max} [MQTT-3.3.2-8]"),
            ));
        }
        if topic.is_empty() {
            return self
                .map
                .get(&alias)
                .cloned()
                .ok_or_else(|| Close::Protocol(format!("topic alias {alias} was never set")));
        }
        self.map.insert(alias, topic.clone());
        Ok(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    /// [MQTT-3.3.2-8], [MQTT-3.3.2-10]: an alias set with a topic stands for it later; one above
    /// the maximum, or unknown, closes the connection.
    #[test]
    fn mqtt_3_3_2_8_aliases_resolve_within_the_maximum() {
        let mut a = InAliases::default();
        assert_eq!(a.resolve(t("a/b"), None, 5).unwrap(), t("a/b"));
        assert_eq!(a.resolve(t("a/b"), Some(2), 5).unwrap(), t("a/b"));
        assert_eq!(a.resolve(TopicName::alias_only(), Some(2), 5).unwrap(), t("a/b"));
        assert_eq!(
            a.resolve(t("c"), Some(2), 5).unwrap(),
            t("c"),
            "an alias may be set again"
        );
        assert_eq!(a.resolve(TopicName::alias_only(), Some(2), 5).unwrap(), t("c"));
        let too_big = a.resolve(t("x"), Some(6), 5).unwrap_err();
        assert_eq!(too_big.disconnect_reason(), Some(ReasonCode::TOPIC_ALIAS_INVALID));
        let unknown = a.resolve(TopicName::alias_only(), Some(3), 5).unwrap_err();
        assert_eq!(unknown.disconnect_reason(), Some(ReasonCode::PROTOCOL_ERROR));
        let none = a.resolve(TopicName::alias_only(), None, 5).unwrap_err();
        assert_eq!(none.disconnect_reason(), Some(ReasonCode::PROTOCOL_ERROR));
    }
}
