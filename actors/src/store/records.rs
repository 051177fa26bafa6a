//! How stored values are encoded.
//!
//! A message is kept as the MQTT 5 PUBLISH the codec writes and reads (topic, payload, QoS,
//! RETAIN, the forwarded properties), after a short header: the format, the QoS of the delivery
//! it stands for, the expiry deadline in Unix milliseconds (an `Instant` does not survive the
//! process) and the publishing client. The wire format is the one encoding the codec already
//! proves (corpus, differential and fuzz tests), so a stored message decodes to what was routed.
//!
//! A session record is a serde struct in postcard, after a format byte.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::codec::{self, Packet, PacketId, ProtocolLevel, PublishView, QoS};
use crate::message::{Message, V5Parts};

/// The format byte of a message record.
const MESSAGE_FORMAT: u8 = 1;
/// The format byte of a session record.
const SESSION_FORMAT: u8 = 1;

/// A stored message: what was routed, and at which QoS it is delivered.
pub struct MessageRecord;

impl MessageRecord {
    /// Encodes `msg`, to be delivered at `qos`.
    pub fn encode(msg: &Message, qos: QoS) -> Bytes {
        let mut buf = BytesMut::with_capacity(msg.topic.len() + msg.payload.len() + msg.from.len() + 32);
        buf.put_u8(MESSAGE_FORMAT);
        buf.put_u8(qos.as_u8());
        buf.put_u64(msg.expires_at().map_or(0, deadline_ms));
        let from = msg.from.as_bytes();
        let from = &from[..from.len().min(usize::from(u16::MAX))];
        buf.put_u16(from.len() as u16);
        buf.put_slice(from);
        let view = PublishView {
            dup: false,
            qos: msg.qos,
            retain: msg.retain,
            topic: &msg.topic,
            pkid: (msg.qos != QoS::AtMostOnce).then_some(PacketId::MIN),
            payload: &msg.payload,
            properties: msg.properties(),
        };
        view.encode(ProtocolLevel::V5, &mut buf);
        buf.freeze()
    }

    /// Decodes a record: the message and its delivery QoS; `None` for a message whose expiry
    /// passed [MQTT-3.3.2-5]. An `Err` names what is wrong with the bytes.
    pub fn decode(mut bytes: Bytes) -> Result<Option<(Arc<Message>, QoS)>, String> {
        if bytes.len() < 12 {
            return Err("message record too short".into());
        }
        let format = bytes.get_u8();
        if format != MESSAGE_FORMAT {
            return Err(format!("message record format {format}"));
        }
        let qos = QoS::from_u8(bytes.get_u8()).ok_or("bad QoS in a message record")?;
        let expires_ms = bytes.get_u64();
        let from_len = usize::from(bytes.get_u16());
        if bytes.len() < from_len {
            return Err("message record too short".into());
        }
        let from = std::str::from_utf8(&bytes.split_to(from_len))
            .map_err(|_| "client id not UTF-8")?
            .into();
        let mut frame = BytesMut::from(&bytes[..]);
        let publish = match codec::decode(&mut frame, usize::MAX, Some(ProtocolLevel::V5)) {
            Ok(Some(Packet::Publish(publish))) => publish,
            Ok(_) => return Err("not a PUBLISH".into()),
            Err(e) => return Err(e.to_string()),
        };
        let mut msg = Message::new(publish.topic, publish.payload, publish.qos, publish.retain, from);
        let expires_at = match expires_ms {
            0 => None,
            ms => match instant_of(ms) {
                Some(at) => Some(at),
                None => return Ok(None),
            },
        };
        if publish.properties.is_some() || expires_at.is_some() {
            msg.v5 = Some(Box::new(V5Parts {
                properties: publish.properties.map(|p| *p).unwrap_or_default(),
                expires_at,
            }));
        }
        Ok(Some((Arc::new(msg), qos)))
    }
}

/// An `Instant` deadline as Unix milliseconds.
pub fn deadline_ms(at: Instant) -> u64 {
    let now = Instant::now();
    let left = at.saturating_duration_since(now).as_millis() as u64;
    // A deadline already passed is kept as "now" (at least 1: 0 means none).
    (super::unix_ms() + left).max(1)
}

/// Unix milliseconds as an `Instant`; `None` when that time has passed.
pub fn instant_of(ms: u64) -> Option<Instant> {
    let now_ms = super::unix_ms();
    (ms > now_ms).then(|| Instant::now() + Duration::from_millis(ms - now_ms))
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSub {
    /// The filter (may be `$share/<group>/<filter>`).
    pub filter: String,
    /// Its options in their wire byte ([`crate::codec::SubOptions::to_byte`]).
    pub options: u8,
    /// Its MQTT 5 Subscription Identifier.
    pub id: Option<u32>,
}

/// A persistent session, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Seconds it outlives its connection.
    pub expiry_secs: u64,
    /// The first message sequence number that belongs to it: older rows under its id are a
    /// previous session's, left by a publisher that routed to it as it ended.
    pub since: u64,
    /// Unix seconds it was created.
    pub created_at: u64,
    /// The protocol level of its last client.
    pub level: u8,
    /// Its subscriptions.
    pub subs: Vec<StoredSub>,
    /// Its will, a message record, while one is owed.
    pub will: Option<Vec<u8>>,
    /// MQTT 5 Will Delay Interval, in seconds.
    pub will_delay_secs: u64,
    /// Unix milliseconds its connection ended; 0 while a client is connected.
    pub detached_at_ms: u64,
}

impl SessionRecord {
    /// The stored bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = vec![SESSION_FORMAT];
        // Cannot fail: every field serializes.
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        Bytes::from(out)
    }

    /// Reads stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        match bytes.split_first() {
            Some((&SESSION_FORMAT, body)) => postcard::from_bytes(body).map_err(|e| e.to_string()),
            Some((format, _)) => Err(format!("session record format {format}")),
            None => Err("empty session record".into()),
        }
    }

    /// The will, decoded, if one is owed and has not expired.
    pub fn will(&self) -> Option<Arc<Message>> {
        let bytes = Bytes::copy_from_slice(self.will.as_deref()?);
        MessageRecord::decode(bytes).ok().flatten().map(|(m, _)| m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Properties, TopicName};

    #[test]
    fn a_message_with_properties_and_expiry_round_trips() {
        let props = Box::new(Properties {
            message_expiry_interval: Some(60),
            content_type: Some("text/plain".into()),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        });
        let msg = Message::new(
            TopicName::new("a/b").unwrap(),
            Bytes::from_static(b"hello"),
            QoS::ExactlyOnce,
            true,
            "pub-1".into(),
        )
        .with_properties(Some(props), Instant::now());
        let bytes = MessageRecord::encode(&msg, QoS::AtLeastOnce);
        let (back, qos) = MessageRecord::decode(bytes).unwrap().unwrap();
        assert_eq!(qos, QoS::AtLeastOnce);
        assert_eq!(
            (&*back.topic, &back.payload[..], back.qos, back.retain),
            ("a/b", &b"hello"[..], QoS::ExactlyOnce, true)
        );
        assert_eq!(&*back.from, "pub-1");
        assert_eq!(back.properties(), msg.properties());
        let left = back.remaining_expiry(Instant::now()).unwrap();
        assert!((59..=60).contains(&left), "{left}");
    }

    #[test]
    fn a_plain_message_round_trips_without_a_v5_part() {
        let msg = Message::new(
            TopicName::new("t").unwrap(),
            Bytes::new(),
            QoS::AtMostOnce,
            false,
            "".into(),
        );
        let (back, qos) = MessageRecord::decode(MessageRecord::encode(&msg, QoS::AtMostOnce))
            .unwrap()
            .unwrap();
        assert!(back.v5.is_none());
        assert_eq!((qos, &*back.topic), (QoS::AtMostOnce, "t"));
    }

    /// [MQTT-3.3.2-5]: a message whose expiry passed while the broker was down is not delivered.
    #[test]
    fn mqtt_3_3_2_5_an_expired_record_decodes_to_none() {
        let mut bytes = BytesMut::from(
            &MessageRecord::encode(
                &Message::new(
                    TopicName::new("t").unwrap(),
                    Bytes::new(),
                    QoS::AtLeastOnce,
                    false,
                    "c".into(),
                ),
                QoS::AtLeastOnce,
            )[..],
        );
        bytes[2..10].copy_from_slice(&1u64.to_be_bytes());
        assert!(MessageRecord::decode(bytes.freeze()).unwrap().is_none());
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"\x01",
            b"\x09\x01\0\0\0\0\0\0\0\0\0\0",
            b"\x01\x01\0\0\0\0\0\0\0\0\0\x05ab",
        ] {
            assert!(MessageRecord::decode(Bytes::copy_from_slice(bad)).is_err());
        }
        for bad in [&b""[..], b"\x01", b"\x09\x01\x02"] {
            assert!(SessionRecord::decode(bad).is_err());
        }
        let record = SessionRecord {
            expiry_secs: 7200,
            since: 5,
            created_at: 1,
            level: 5,
            subs: vec![StoredSub {
                filter: "a/#".into(),
                options: 1,
                id: Some(3),
            }],
            will: None,
            will_delay_secs: 0,
            detached_at_ms: 0,
        };
        assert_eq!(SessionRecord::decode(&record.encode()).unwrap(), record);
    }
}
