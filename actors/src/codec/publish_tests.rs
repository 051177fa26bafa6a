//! PUBLISH: round trips at each QoS, zero-copy payload, header and topic rules.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::codec::corpus::{field, frame};
use crate::codec::test_support::{
    assert_roundtrip, assert_roundtrip_at, decode_err, decode_ok, encode_vec_at, pkid, props, topic, NO_LIMIT,
};
use crate::codec::test_support_v5::sample_publish_v5;
use crate::codec::{decode, Packet, PropertiesOf, PropertyId, ProtocolLevel, ReasonCode, TopicError};

const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

fn publish(qos: QoS, id: Option<u16>, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic("a/b"),
        pkid: id.map(pkid),
        payload: Bytes::from_static(payload),
        properties: None,
    }
}

#[test]
fn roundtrip_qos0() {
    let expected = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    assert_roundtrip(&Packet::Publish(publish(QoS::AtMostOnce, None, b"hi")), &expected);
}

#[test]
fn roundtrip_qos1_retain() {
    let mut p = publish(QoS::AtLeastOnce, Some(0x0102), b"x");
    p.retain = true;
    assert_roundtrip(
        &Packet::Publish(p),
        &[0x33, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x02, b'x'],
    );
}

#[test]
fn roundtrip_qos2_dup_empty_payload() {
    let mut p = publish(QoS::ExactlyOnce, Some(9), b"");
    p.dup = true;
    assert_roundtrip(
        &Packet::Publish(p),
        &[0x3C, 0x07, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x09],
    );
}

#[test]
fn roundtrip_multibyte_remaining_lengths() {
    // 2-, 3- and 4-byte remaining lengths.
    for size in [200, 20_000, 2_100_000] {
        let p = Publish::at_most_once(topic("big"), Bytes::from(vec![0xA5; size]));
        let bytes = crate::codec::test_support::encode_vec(&Packet::Publish(p.clone()));
        assert_eq!(
            bytes.len(),
            Packet::Publish(p.clone()).encoded_len(ProtocolLevel::V311)
        );
        assert_eq!(decode_ok(&bytes, Some(ProtocolLevel::V311)), Packet::Publish(p));
    }
    let p = Publish::at_most_once(topic("big"), Bytes::from(vec![7; 20_000]));
    assert_roundtrip(&Packet::Publish(p), &[]);
}

#[test]
fn payload_is_a_zero_copy_slice_of_the_frame() {
    let bytes =
        crate::codec::test_support::encode_vec(&Packet::Publish(publish(QoS::AtMostOnce, None, b"payload")));
    let mut buf = BytesMut::from(&bytes[..]);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let Ok(Some(Packet::Publish(p))) = decode(&mut buf, NO_LIMIT, None) else {
        panic!("not a publish");
    };
    let at = p.payload.as_ptr() as usize;
    assert!(at >= start && at + p.payload.len() <= end, "payload was copied");
}

#[test]
fn qos_3_mqtt_3_3_1_4() {
    for first in [0x36, 0x37, 0x3E, 0x3F] {
        // Refused from the first byte alone.
        assert_eq!(
            decode_err(&[first], None),
            CodecError::InvalidPublishQoS { flags: first & 0x0F }
        );
    }
}

#[test]
fn dup_at_qos_0_mqtt_3_3_1_2() {
    assert_eq!(decode_err(&[0x38], None), CodecError::DupWithQoS0 { flags: 0x08 });
    assert_eq!(
        decode_err(&[0x39, 0x03, 0x00, 0x01, b'a'], None),
        CodecError::DupWithQoS0 { flags: 0x09 }
    );
}

#[test]
fn zero_packet_id_mqtt_2_3_1_1() {
    for first in [0x32, 0x34, 0x3A] {
        let bytes = frame(first, &[&field(b"a")[..], &[0, 0], b"x"].concat());
        assert_eq!(
            decode_err(&bytes, None),
            CodecError::ZeroPacketId(PacketType::Publish)
        );
    }
}

#[test]
fn missing_packet_id() {
    let bytes = frame(0x32, &[&field(b"a")[..], &[0]].concat());
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::Truncated {
            field: "packet id",
            needed: 2,
            available: 1
        }
    );
}

#[test]
fn wildcards_in_topic_mqtt_3_3_2_2() {
    for (name, wildcard, at) in [("a/+", '+', 2), ("#", '#', 0), ("a/#", '#', 2), ("x+y", '+', 1)] {
        let bytes = frame(0x30, &field(name.as_bytes()));
        assert_eq!(
            decode_err(&bytes, None),
            CodecError::InvalidTopicName {
                topic: Bytes::copy_from_slice(name.as_bytes()),
                reason: TopicError::WildcardInName { wildcard, at },
            }
        );
    }
}

#[test]
fn empty_topic_mqtt_4_7_3_1() {
    let bytes = frame(0x30, &[&field(b"")[..], b"x"].concat());
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::InvalidTopicName {
            topic: Bytes::new(),
            reason: TopicError::Empty
        }
    );
}

#[test]
fn topic_utf8_and_null_mqtt_1_5_3_1_and_2() {
    let bytes = frame(0x30, &field(b"ok/\xFF"));
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::InvalidUtf8 {
            field: "topic name",
            valid_up_to: 3
        }
    );
    let bytes = frame(0x30, &field(b"ok/\0"));
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::NullCharacter {
            field: "topic name",
            at: 3
        }
    );
    // U+FEFF is a valid character and stays [MQTT-1.5.3-3].
    match decode_ok(&frame(0x30, &field("\u{FEFF}t".as_bytes())), None) {
        Packet::Publish(p) => assert_eq!(p.topic, "\u{FEFF}t"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn topic_longer_than_the_frame() {
    assert_eq!(
        decode_err(&[0x30, 0x03, 0x00, 0x05, b'a'], None),
        CodecError::Truncated {
            field: "topic name",
            needed: 5,
            available: 1
        }
    );
    assert_eq!(
        decode_err(&[0x30, 0x00], None),
        CodecError::Truncated {
            field: "topic name",
            needed: 2,
            available: 0
        }
    );
}

#[test]
fn oversize_is_refused_from_the_header() {
    // Remaining length 1000: a 1003-byte frame. Only the header is buffered.
    let err = {
        let mut buf = BytesMut::from(&[0x30, 0xE8, 0x07][..]);
        decode(&mut buf, 1002, None)
    };
    assert_eq!(
        err,
        Err(CodecError::PayloadTooLarge {
            size: 1003,
            max: 1002
        })
    );
    let mut buf = BytesMut::from(&[0x30, 0xE8, 0x07][..]);
    assert_eq!(decode(&mut buf, 1003, None), Ok(None));
}

#[test]
fn debug_shows_payload_size_not_bytes() {
    let shown = format!("{:?}", publish(QoS::AtMostOnce, None, b"secret payload"));
    assert!(
        shown.contains("payload_len: 14") && !shown.contains("secret"),
        "{shown}"
    );
}

#[test]
fn v5_roundtrip_without_and_with_properties() {
    let bare = Packet::Publish(publish(QoS::AtMostOnce, None, b"hi"));
    assert_roundtrip_at(
        &bare,
        &[0x30, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, b'h', b'i'],
        V5,
    );
    let full = Packet::Publish(sample_publish_v5());
    assert_roundtrip_at(&full, &[], V5);
    // The same message to a 3.1.1 subscriber: properties dropped, payload untouched.
    let mut v311 = sample_publish_v5();
    v311.properties = None;
    assert_eq!(
        decode_ok(
            &encode_vec_at(&full, ProtocolLevel::V311),
            Some(ProtocolLevel::V311)
        ),
        Packet::Publish(v311)
    );
}

#[test]
fn v5_topic_alias_stands_for_an_empty_topic() {
    let mut p = publish(QoS::AtLeastOnce, Some(5), b"x");
    p.topic = TopicName::alias_only();
    p.properties = props(|p| p.topic_alias = Some(7));
    let expected = [0x32, 0x09, 0x00, 0x00, 0x00, 0x05, 0x03, 0x23, 0x00, 0x07, b'x'];
    assert_roundtrip_at(&Packet::Publish(p), &expected, V5);
    // A topic and an alias: the alias is being set.
    let mut p = publish(QoS::AtMostOnce, None, b"");
    p.properties = props(|p| p.topic_alias = Some(1));
    assert_roundtrip_at(&Packet::Publish(p), &[], V5);
}

#[test]
fn v5_empty_topic_without_alias_is_a_protocol_error() {
    let err = decode_err(&[0x30, 0x04, 0x00, 0x00, 0x00, b'x'], V5);
    assert_eq!(err, CodecError::EmptyTopicWithoutAlias);
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::PROTOCOL_ERROR));
    // Other properties do not stand for the topic.
    assert_eq!(
        decode_err(&[0x30, 0x06, 0x00, 0x00, 0x02, 0x01, 0x01, b'x'], V5),
        CodecError::EmptyTopicWithoutAlias
    );
    // Below MQTT 5 an empty topic is simply invalid.
    assert!(matches!(
        decode_err(&[0x30, 0x03, 0x00, 0x00, b'x'], Some(ProtocolLevel::V311)),
        CodecError::InvalidTopicName { .. }
    ));
}

#[test]
fn v5_topic_alias_0_mqtt_3_3_2_8() {
    let err = decode_err(&[0x30, 0x08, 0x00, 0x01, b'a', 0x03, 0x23, 0x00, 0x00, b'x'], V5);
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::TOPIC_ALIAS_INVALID));
}

#[test]
fn v5_topic_rules_still_apply_mqtt_3_3_2_2() {
    let err = decode_err(&[0x30, 0x05, 0x00, 0x01, b'#', 0x00, b'x'], V5);
    assert!(matches!(err, CodecError::InvalidTopicName { .. }), "{err:?}");
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::MALFORMED_PACKET));
    assert!(matches!(
        decode_err(&[0x30, 0x05, 0x00, 0x01, 0xFF, 0x00, b'x'], V5),
        CodecError::InvalidUtf8 { .. }
    ));
}

#[test]
fn v5_properties_of_publish_only() {
    // Will Delay Interval is a will property, not a PUBLISH one.
    assert_eq!(
        decode_err(&[0x30, 0x0A, 0x00, 0x01, b'a', 0x05, 0x18, 0, 0, 0, 1, b'x'], V5),
        CodecError::PropertyNotAllowed {
            property: PropertyId::WillDelayInterval,
            of: PropertiesOf::Packet(crate::codec::PacketType::Publish)
        }
    );
    // A property block that runs into the payload is cut at its length.
    assert!(matches!(
        decode_err(&[0x30, 0x07, 0x00, 0x01, b'a', 0x02, 0x02, 0x00, 0x00], V5),
        CodecError::Truncated {
            field: "message expiry interval",
            ..
        }
    ));
    // The property length is missing altogether.
    assert!(matches!(
        decode_err(&[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x01], V5),
        CodecError::Truncated {
            field: "property length",
            ..
        }
    ));
}
