//! The internal message: protocol-neutral, shared by reference (docs/architecture.md §6).
//!
//! One `Arc<Message>` is routed to every subscriber; the topic is an `Arc<str>` and the payload a
//! `Bytes` slice of the frame it arrived in, so fan-out copies neither. What only MQTT 5 has (the
//! PUBLISH properties forwarded to subscribers, and the expiry deadline) is one boxed, usually
//! absent part, so a 3.1.1 message pays one pointer for it.

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use crate::codec::{Properties, QoS, TopicName};

/// A published message as the broker routes it.
#[derive(Debug, Clone)]
pub struct Message {
    /// Where it was published.
    pub topic: TopicName,
    /// The application message.
    pub payload: Bytes,
    /// The publisher's QoS (a subscriber gets at most this).
    pub qos: QoS,
    /// Whether the publisher asked to retain it.
    pub retain: bool,
    /// The publishing client (empty for the broker's own `$SYS` messages).
    pub from: Arc<str>,
    /// MQTT 5: what is forwarded and when it expires; `None` for a plain message.
    pub v5: Option<Box<V5Parts>>,
}

/// The MQTT 5 parts of a message.
#[derive(Debug, Clone, Default)]
pub struct V5Parts {
    /// Forwarded unchanged to every subscriber [MQTT-3.3.2-17..20]: payload format, content type,
    /// response topic, correlation data, user properties. Never a topic alias or subscription
    /// identifier (those are per connection and per subscription) and never the expiry
    /// interval (written per delivery from `expires_at`).
    pub properties: Properties,
    /// When the message expires [MQTT-3.3.2-5]; `None`: never.
    pub expires_at: Option<Instant>,
}

impl Message {
    /// A message from `from`.
    pub fn new(topic: TopicName, payload: Bytes, qos: QoS, retain: bool, from: Arc<str>) -> Self {
        Self {
            topic,
            payload,
            qos,
            retain,
            from,
            v5: None,
        }
    }

    /// Attaches the MQTT 5 properties of the PUBLISH (or will) it came from, received at `now`:
    /// the alias and subscription identifiers are dropped, the expiry interval becomes a
    /// deadline. Nothing is attached when nothing is left.
    pub fn with_properties(mut self, properties: Option<Box<Properties>>, now: Instant) -> Self {
        let Some(mut properties) = properties else {
            return self;
        };
        properties.topic_alias = None;
        properties.subscription_ids.clear();
        properties.will_delay_interval = None;
        let expires_at = properties
            .message_expiry_interval
            .take()
            .map(|secs| now + std::time::Duration::from_secs(u64::from(secs)));
        if expires_at.is_none() && *properties == Properties::default() {
            return self;
        }
        self.v5 = Some(Box::new(V5Parts {
            properties: *properties,
            expires_at,
        }));
        self
    }

    /// Whether it expired before `now` [MQTT-3.3.2-5]: then it is no longer delivered.
    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }

    /// Its expiry deadline, if it has one.
    pub fn expires_at(&self) -> Option<Instant> {
        self.v5.as_ref().and_then(|v5| v5.expires_at)
    }

    /// The Message Expiry Interval a subscriber gets: what is left of the publisher's
    /// [MQTT-3.3.2-6], at least 1 second while it has not expired.
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        let left = self.expires_at()?.saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Some(u32::try_from(secs.max(1)).unwrap_or(u32::MAX))
    }

    /// The properties forwarded to subscribers, if any.
    pub fn properties(&self) -> Option<&Properties> {
        self.v5.as_ref().map(|v5| &v5.properties)
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn msg() -> Message {
        Message::new(
            TopicName::new("t").unwrap(),
            Bytes::new(),
            QoS::AtMostOnce,
            false,
            "c".into(),
        )
    }

    #[test]
    fn a_message_without_properties_carries_no_v5_part() {
        let now = Instant::now();
        assert!(msg().with_properties(None, now).v5.is_none());
        let empty = Box::new(Properties {
            topic_alias: Some(3),
            subscription_ids: vec![7],
            ..Properties::default()
        });
        assert!(msg().with_properties(Some(empty), now).v5.is_none());
    }

    /// [MQTT-3.3.2-6]: the subscriber gets the interval less the time the message waited.
    #[test]
    fn mqtt_3_3_2_6_remaining_expiry_counts_down_and_then_expires() {
        let now = Instant::now();
        let props = Box::new(Properties {
            message_expiry_interval: Some(10),
            content_type: Some("text/plain".into()),
            ..Properties::default()
        });
        let m = msg().with_properties(Some(props), now);
        assert_eq!(m.remaining_expiry(now), Some(10));
        assert_eq!(m.remaining_expiry(now + Duration::from_millis(3500)), Some(7));
        assert!(!m.expired(now + Duration::from_secs(9)));
        assert!(m.expired(now + Duration::from_secs(10)));
        let props = m.properties().unwrap();
        assert_eq!(props.message_expiry_interval, None);
        assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    }
}
