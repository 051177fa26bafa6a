//! PUBLISH (MQTT 3.1.1 section 3.3): an application message, the hot path.
//!
//! DUP, QoS and RETAIN are in the fixed header, whose QoS 3 and DUP-at-QoS-0 cases
//! `peek_header` has already refused. The payload is everything after the variable header and
//! is never copied: it is a `Bytes` view of the frame, so the read buffer's allocation lives
//! as long as any session still holds the message. The topic is copied once into a shared
//! [`TopicName`], cheap to clone on fan-out.
//!
//! MQTT 5 (section 3.3) puts properties between the packet id and the payload, and lets the
//! topic name be empty when a Topic Alias stands for it; an empty topic without an alias is a
//! protocol error. Whether the alias is known, or within the Topic Alias Maximum, is the
//! connection's state, not this packet's.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType, ProtocolLevel, QoS};
use super::properties::{self, Properties, PropertiesOf};
use super::topic_rules::{validate_topic_name, TopicName};
use super::wire::{check_utf8, prefixed_len, put_prefixed, Reader};

const FLAG_RETAIN: u8 = 0b0001;
const FLAG_DUP: u8 = 0b1000;

/// An application message.
#[derive(Clone, PartialEq, Eq)]
pub struct Publish {
    /// Re-delivery of an earlier attempt [MQTT-3.3.1-1]; never set at QoS 0 [MQTT-3.3.1-2].
    pub dup: bool,
    /// Delivery guarantee.
    pub qos: QoS,
    /// Store as the topic's retained message [MQTT-3.3.1-5].
    pub retain: bool,
    /// Where the message goes; never contains a wildcard [MQTT-3.3.2-2]. Empty only in an
    /// MQTT 5 PUBLISH whose Topic Alias stands for the topic: resolve it before routing.
    pub topic: TopicName,
    /// `Some` exactly when `qos` is above 0 [MQTT-2.3.1-5].
    pub pkid: Option<PacketId>,
    /// The message, a zero-copy view of the frame it came in.
    pub payload: Bytes,
    /// MQTT 5 only: expiry, topic alias, response topic, subscription identifiers and the
    /// other PUBLISH properties. Boxed and usually `None`, so a 3.1.1 message pays 8 bytes.
    pub properties: Option<Box<Properties>>,
}

impl Publish {
    /// A QoS 0, non-retained message, the common case for the broker to build.
    pub fn at_most_once(topic: TopicName, payload: Bytes) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            pkid: None,
            payload,
            properties: None,
        }
    }

    pub(crate) fn decode(
        flags: u8,
        mut r: Reader,
        level: Option<ProtocolLevel>,
    ) -> Result<Publish, CodecError> {
        // peek_header has refused QoS 3; this only keeps the function total.
        let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(CodecError::InvalidPublishQoS { flags })?;
        let v5 = level == Some(ProtocolLevel::V5);
        let topic = if v5 {
            Self::decode_v5_topic(&mut r)?
        } else {
            Some(r.topic_name("topic name")?)
        };
        let pkid = match qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce | QoS::ExactlyOnce => Some(r.packet_id(PacketType::Publish)?),
        };
        let properties = if v5 {
            Properties::decode(&mut r, PropertiesOf::Packet(PacketType::Publish))?
        } else {
            None
        };
        let topic = match topic {
            Some(topic) => topic,
            None if properties.as_ref().is_some_and(|p| p.topic_alias.is_some()) => TopicName::alias_only(),
            None => return Err(CodecError::EmptyTopicWithoutAlias),
        };
        Ok(Publish {
            dup: flags & FLAG_DUP != 0,
            qos,
            retain: flags & FLAG_RETAIN != 0,
            topic,
            pkid,
            payload: r.rest(),
            properties,
        })
    }

    /// An MQTT 5 topic name: `None` when empty (a Topic Alias must then stand for it).
    fn decode_v5_topic(r: &mut Reader) -> Result<Option<TopicName>, CodecError> {
        let raw = r.binary("topic name")?;
        let topic = check_utf8(&raw, "topic name")?;
        if topic.is_empty() {
            return Ok(None);
        }
        match validate_topic_name(topic) {
            Ok(()) => Ok(Some(TopicName::from_validated(topic))),
            Err(reason) => Err(CodecError::InvalidTopicName {
                topic: raw.clone(),
                reason,
            }),
        }
    }

    /// A borrowed view of this PUBLISH, which is what is encoded.
    pub fn view(&self) -> PublishView<'_> {
        PublishView {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: &self.topic,
            pkid: self.pkid,
            payload: &self.payload,
            properties: self.properties.as_deref(),
        }
    }
}

/// A PUBLISH to encode, borrowing its topic, payload and properties: the broker writes a
/// routed message to each subscriber without cloning (so without touching the reference
/// counts of) its shared topic and payload.
#[derive(Debug, Clone, Copy)]
pub struct PublishView<'a> {
    /// Re-delivery of an earlier attempt [MQTT-3.3.1-1]; never set at QoS 0 [MQTT-3.3.1-2].
    pub dup: bool,
    /// Delivery guarantee.
    pub qos: QoS,
    /// The RETAIN flag.
    pub retain: bool,
    /// Where the message goes (empty for an MQTT 5 alias-only PUBLISH).
    pub topic: &'a str,
    /// `Some` exactly when `qos` is above 0 [MQTT-2.3.1-5].
    pub pkid: Option<PacketId>,
    /// The message.
    pub payload: &'a [u8],
    /// MQTT 5 only: the PUBLISH properties.
    pub properties: Option<&'a Properties>,
}

impl PublishView<'_> {
    /// Appends the whole frame (fixed header included) for a client at `level`.
    pub fn encode(&self, level: ProtocolLevel, buf: &mut BytesMut) {
        let body_len = self.len(level);
        buf.reserve(1 + super::remaining_len_len(body_len) + body_len);
        buf.put_u8((PacketType::Publish as u8) << 4 | self.header_flags());
        super::put_remaining_len(buf, body_len);
        self.encode_body(level, buf);
    }

    /// The whole frame's size at `level` (to compare with a client's maximum packet size).
    pub fn frame_len(&self, level: ProtocolLevel) -> usize {
        let body_len = self.len(level);
        1 + super::remaining_len_len(body_len) + body_len
    }

    pub(crate) fn encode_body(&self, level: ProtocolLevel, buf: &mut BytesMut) {
        put_prefixed(buf, self.topic.as_bytes(), "topic name");
        if let Some(pkid) = self.pkid {
            buf.put_u16(pkid.get());
        }
        if level == ProtocolLevel::V5 {
            let of = PropertiesOf::Packet(PacketType::Publish);
            properties::encode(self.properties, of, buf);
        }
        buf.put_slice(self.payload);
    }

    pub(crate) fn len(&self, level: ProtocolLevel) -> usize {
        let properties = match level {
            ProtocolLevel::V5 => properties::encoded_len(self.properties),
            ProtocolLevel::V31 | ProtocolLevel::V311 => 0,
        };
        prefixed_len(self.topic.as_bytes()) + self.pkid.map_or(0, |_| 2) + properties + self.payload.len()
    }

    /// DUP, QoS and RETAIN for the first byte.
    pub(crate) fn header_flags(&self) -> u8 {
        let mut flags = self.qos.as_u8() << 1;
        if self.dup {
            flags |= FLAG_DUP;
        }
        if self.retain {
            flags |= FLAG_RETAIN;
        }
        flags
    }
}

/// Shows the payload's size, not its bytes, so a PUBLISH can be logged.
impl fmt::Debug for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("dup", &self.dup)
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("topic", &self.topic)
            .field("pkid", &self.pkid)
            .field("payload_len", &self.payload.len())
            .field("properties", &self.properties)
            .finish()
    }
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
