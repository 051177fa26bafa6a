//! Helpers and proptest strategies shared by the codec's tests.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

/// A limit no test packet reaches: the protocol's own maximum frame.
pub(crate) const NO_LIMIT: usize = MAX_REMAINING_LEN + 5;

pub(crate) fn pkid(id: u16) -> PacketId {
    PacketId::new(id).expect("test packet ids are non-zero")
}

pub(crate) fn topic(name: &str) -> TopicName {
    TopicName::new(name).expect("test topic names are valid")
}

/// Properties set by `set` on an empty set, boxed as a packet holds them.
pub(crate) fn props(set: impl FnOnce(&mut Properties)) -> Option<Box<Properties>> {
    let mut props = Box::<Properties>::default();
    set(&mut props);
    Some(props)
}

/// `packet` as written to a 3.1.1 peer (a `Connect` at its own level).
pub(crate) fn encode_vec(packet: &Packet) -> Vec<u8> {
    encode_vec_at(packet, ProtocolLevel::V311)
}

pub(crate) fn encode_vec_at(packet: &Packet, level: ProtocolLevel) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(packet, level, &mut buf);
    buf.to_vec()
}

/// The level a packet is decoded with in round trips: none before CONNECT, 3.1.1 after.
pub(crate) fn level_for(packet: &Packet) -> Option<ProtocolLevel> {
    match packet {
        Packet::Connect(_) => None,
        _ => Some(ProtocolLevel::V311),
    }
}

/// Decodes `bytes`, which must hold exactly one valid packet.
#[track_caller]
pub(crate) fn decode_ok(bytes: &[u8], level: Option<ProtocolLevel>) -> Packet {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, NO_LIMIT, level) {
        Ok(Some(packet)) => {
            assert!(buf.is_empty(), "{} bytes left after {packet:?}", buf.len());
            packet
        }
        other => panic!("expected a packet from {bytes:02x?}, got {other:?}"),
    }
}

/// Decodes `bytes`, which must be rejected.
#[track_caller]
pub(crate) fn decode_err(bytes: &[u8], level: Option<ProtocolLevel>) -> CodecError {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, NO_LIMIT, level) {
        Err(e) => e,
        other => panic!("expected an error from {bytes:02x?}, got {other:?}"),
    }
}

/// Round trip at the packet's usual level; see [`assert_roundtrip_at`].
#[track_caller]
pub(crate) fn assert_roundtrip(packet: &Packet, expected: &[u8]) {
    assert_roundtrip_at(packet, expected, level_for(packet));
}

/// Encodes `packet` at `level` (3.1.1 for `None`: a CONNECT has its own), to exactly
/// `expected` unless that is empty, checks `encoded_len`, decodes it back, checks that every
/// prefix is incomplete without being consumed, and that a following packet is left in the
/// buffer.
#[track_caller]
pub(crate) fn assert_roundtrip_at(packet: &Packet, expected: &[u8], level: Option<ProtocolLevel>) {
    let write_level = level.unwrap_or(ProtocolLevel::V311);
    let bytes = encode_vec_at(packet, write_level);
    if !expected.is_empty() {
        assert_eq!(bytes, expected, "encoding of {packet:?}");
    }
    assert_eq!(
        bytes.len(),
        packet.encoded_len(write_level),
        "encoded_len of {packet:?}"
    );
    assert_eq!(decode_ok(&bytes, level), *packet);
    assert_truncations_incomplete(&bytes, level);

    let mut buf = BytesMut::from(&bytes[..]);
    buf.extend_from_slice(&[0xC0, 0x00]);
    assert_eq!(decode(&mut buf, NO_LIMIT, level), Ok(Some(packet.clone())));
    assert_eq!(&buf[..], &[0xC0, 0x00], "only one frame is consumed");
}

/// Feeds `bytes` one byte at a time: every call before the last byte must return `Ok(None)`
/// and leave the buffer as it was; the last byte completes the packet.
#[track_caller]
pub(crate) fn assert_truncations_incomplete(bytes: &[u8], level: Option<ProtocolLevel>) {
    let mut buf = BytesMut::with_capacity(bytes.len());
    for (i, &byte) in bytes.iter().enumerate() {
        let last = i + 1 == bytes.len();
        buf.extend_from_slice(&[byte]);
        if !last {
            assert_eq!(
                decode(&mut buf, NO_LIMIT, level),
                Ok(None),
                "prefix of {} bytes",
                i + 1
            );
            assert_eq!(&buf[..], &bytes[..=i], "Ok(None) consumed bytes");
        }
    }
    assert!(
        matches!(decode(&mut buf, NO_LIMIT, level), Ok(Some(_))),
        "complete packet"
    );
}

// ---- proptest strategies: arbitrary *valid* packets ----

pub(crate) fn arb_qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

pub(crate) fn arb_pkid() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(pkid)
}

/// Any valid MQTT string: any chars but U+0000, multibyte ones included.
pub(crate) fn arb_string(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("no U+0000", |c| *c != '\0'),
        0..max_chars,
    )
    .prop_map(String::from_iter)
}

fn arb_level_text() -> impl Strategy<Value = String> {
    let plain = any::<char>().prop_filter("no separator, wildcard or null", |c| {
        !matches!(c, '\0' | '/' | '+' | '#')
    });
    prop_oneof![
        prop::collection::vec(plain, 0..6).prop_map(String::from_iter),
        prop::sample::select(vec!["a", "sport", "tennis", "$SYS", "é", "😀", ""]).prop_map(String::from),
    ]
}

pub(crate) fn arb_topic_name() -> impl Strategy<Value = TopicName> {
    prop::collection::vec(arb_level_text(), 1..5).prop_map(|levels| {
        let joined = levels.join("/");
        topic(if joined.is_empty() { "/" } else { &joined })
    })
}

pub(crate) fn arb_topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => arb_level_text(), 1 => Just(String::from("+"))];
    (prop::collection::vec(level, 1..5), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash {
            levels.push(String::from("#"));
        }
        let joined = levels.join("/");
        if joined.is_empty() {
            String::from("#")
        } else {
            joined
        }
    })
}

pub(crate) fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

pub(crate) fn arb_will() -> impl Strategy<Value = Will> {
    (arb_topic_name(), arb_bytes(32), arb_qos(), any::<bool>()).prop_map(|(topic, payload, qos, retain)| {
        Will {
            topic,
            payload,
            qos,
            retain,
            properties: None,
        }
    })
}

pub(crate) fn arb_connect() -> impl Strategy<Value = Connect> {
    let level = prop_oneof![Just(ProtocolLevel::V311), Just(ProtocolLevel::V31)];
    (
        level,
        arb_string(30),
        any::<bool>(),
        any::<u16>(),
        prop::option::of(arb_will()),
        prop::option::of(arb_string(12)),
        prop::option::of(arb_bytes(16)),
    )
        .prop_map(
            |(level, client_id, clean_session, keep_alive, will, username, password)| {
                // A 3.1.1 password needs a username [MQTT-3.1.2-22].
                let password = if level == ProtocolLevel::V311 && username.is_none() {
                    None
                } else {
                    password
                };
                Connect {
                    level,
                    client_id,
                    clean_session,
                    keep_alive,
                    will,
                    username,
                    password,
                    properties: None,
                }
            },
        )
}

pub(crate) fn arb_connack() -> impl Strategy<Value = ConnAck> {
    (0..=5u8, any::<bool>()).prop_map(|(code, session_present)| {
        let code = ConnectReturnCode::from_u8(code).unwrap_or(ConnectReturnCode::Accepted);
        ConnAck {
            session_present: session_present && code == ConnectReturnCode::Accepted,
            code,
            properties: None,
        }
    })
}

pub(crate) fn arb_publish() -> impl Strategy<Value = Publish> {
    (
        arb_qos(),
        any::<bool>(),
        any::<bool>(),
        arb_topic_name(),
        arb_pkid(),
        arb_bytes(300),
    )
        .prop_map(|(qos, dup, retain, topic, id, payload)| {
            let at_least_once = qos != QoS::AtMostOnce;
            Publish {
                dup: dup && at_least_once,
                qos,
                retain,
                topic,
                pkid: at_least_once.then_some(id),
                payload,
                properties: None,
            }
        })
}

pub(crate) fn arb_subscribe() -> impl Strategy<Value = Subscribe> {
    (
        arb_pkid(),
        prop::collection::vec((arb_topic_filter(), arb_qos().prop_map(SubOptions::new)), 1..6),
    )
        .prop_map(|(pkid, filters)| Subscribe {
            pkid,
            filters,
            properties: None,
        })
}

pub(crate) fn arb_suback() -> impl Strategy<Value = SubAck> {
    let code = prop_oneof![arb_qos().prop_map(SubackCode::Success), Just(SubackCode::FAILURE)];
    (arb_pkid(), prop::collection::vec(code, 1..10)).prop_map(|(pkid, return_codes)| SubAck {
        pkid,
        return_codes,
        properties: None,
    })
}

pub(crate) fn arb_unsubscribe() -> impl Strategy<Value = Unsubscribe> {
    (arb_pkid(), prop::collection::vec(arb_topic_filter(), 1..6)).prop_map(|(pkid, filters)| Unsubscribe {
        pkid,
        filters,
        properties: None,
    })
}

/// Any valid packet of any type.
pub(crate) fn arb_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        arb_connect().prop_map(Packet::from),
        arb_connack().prop_map(Packet::ConnAck),
        arb_publish().prop_map(Packet::Publish),
        arb_pkid().prop_map(|id| Packet::PubAck(Ack::new(id))),
        arb_pkid().prop_map(|id| Packet::PubRec(Ack::new(id))),
        arb_pkid().prop_map(|id| Packet::PubRel(Ack::new(id))),
        arb_pkid().prop_map(|id| Packet::PubComp(Ack::new(id))),
        arb_subscribe().prop_map(Packet::Subscribe),
        arb_suback().prop_map(Packet::SubAck),
        arb_unsubscribe().prop_map(Packet::Unsubscribe),
        arb_pkid().prop_map(|id| Packet::UnsubAck(UnsubAck::new(id))),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        Just(Packet::Disconnect(Disconnect::NORMAL)),
    ]
}
