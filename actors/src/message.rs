//! The internal message: protocol-neutral, shared by reference (docs/architecture.md §6).
//!
//! One `Arc<Message>` is routed to every subscriber; the topic is an `Arc<str>` and the payload a
//! `Bytes` slice of the frame it arrived in, so fan-out copies neither.

use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{QoS, TopicName};

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
        }
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
