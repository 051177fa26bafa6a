//! CONNECT: round trips at both levels, every rule of section 3.1, and the protocol check.

use bytes::Bytes;

use super::*;
use crate::codec::corpus::{connect_frame, field, frame};
use crate::codec::test_support::{assert_roundtrip, decode_err, decode_ok, topic};
use crate::codec::{ConnectReturnCode, Packet, TopicError};

fn minimal(level: ProtocolLevel) -> Connect {
    Connect {
        level,
        client_id: String::from("c1"),
        clean_session: true,
        keep_alive: 60,
        will: None,
        username: None,
        password: None,
        properties: None,
    }
}

fn full() -> Connect {
    Connect {
        level: ProtocolLevel::V311,
        client_id: String::from("client-é"),
        clean_session: false,
        keep_alive: 0xFFFF,
        will: Some(Will {
            topic: topic("last/will"),
            payload: Bytes::from_static(b"\x00\xFFbye"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: None,
        }),
        username: Some(String::from("user")),
        password: Some(Bytes::from_static(b"\xFF\x00secret")),
        properties: None,
    }
}

#[test]
fn roundtrip_minimal_3_1_1() {
    let expected = [
        0x10, 0x0E, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x02, b'c', b'1',
    ];
    assert_roundtrip(
        &Packet::Connect(Box::new(minimal(ProtocolLevel::V311))),
        &expected,
    );
}

#[test]
fn roundtrip_minimal_3_1() {
    let expected = [
        0x10, 0x10, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x3C, 0x00, 0x02, b'c',
        b'1',
    ];
    assert_roundtrip(&Packet::Connect(Box::new(minimal(ProtocolLevel::V31))), &expected);
}

#[test]
fn roundtrip_with_will_username_and_binary_password() {
    let connect = full();
    assert_eq!(connect.flags(), 0b1111_0100);
    assert_roundtrip(&Packet::Connect(Box::new(connect)), &[]);
}

#[test]
fn roundtrip_each_will_qos_and_empty_fields() {
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut connect = full();
        connect.client_id.clear();
        connect.username = Some(String::new());
        connect.password = Some(Bytes::new());
        if let Some(will) = connect.will.as_mut() {
            will.qos = qos;
            will.retain = false;
            will.payload = Bytes::new();
        }
        assert_roundtrip(&Packet::Connect(Box::new(connect)), &[]);
    }
}

#[test]
fn long_client_id_is_the_brokers_decision() {
    let mut connect = minimal(ProtocolLevel::V31);
    connect.client_id = "x".repeat(1000);
    assert_roundtrip(&Packet::Connect(Box::new(connect)), &[]);
}

#[test]
fn mqtt_3_1_allows_password_without_username() {
    let mut connect = minimal(ProtocolLevel::V31);
    connect.password = Some(Bytes::from_static(b"pw"));
    assert_roundtrip(&Packet::Connect(Box::new(connect)), &[]);
}

#[test]
fn password_without_username_mqtt_3_1_2_22() {
    let bytes = connect_frame(b"MQTT", 4, 0x42, &[b"c", b"pw"]);
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::PasswordWithoutUsername(0x42)
    );
}

#[test]
fn unsupported_protocol_mqtt_3_1_2_2() {
    let cases: [(&[u8], u8); 7] = [
        (b"MQTT", 6),
        (b"MQIsdp", 5),
        (b"MQTT", 3),
        (b"MQTT", 0),
        (b"MQIsdp", 4),
        (b"MQIsdp", 5),
        (b"MQIsdp", 255),
    ];
    for (name, level) in cases {
        let bytes = connect_frame(name, level, 0x02, &[b"c"]);
        let err = decode_err(&bytes, None);
        assert_eq!(
            err,
            CodecError::UnsupportedProtocol {
                name: Bytes::copy_from_slice(name),
                level
            }
        );
        assert_eq!(
            err.connack_code(),
            Some(ConnectReturnCode::UnacceptableProtocolVersion)
        );
        assert_eq!(err.connack_level(), ProtocolLevel::V311);
        assert_eq!(err.disconnect_reason(), None);
    }
}

/// A name that is not MQTT's is no MQTT client: closed without a CONNACK [MQTT-3.1.2-1],
/// whatever the level byte says.
#[test]
fn unknown_protocol_name_gets_no_connack_mqtt_3_1_2_1() {
    let cases: [(&[u8], u8); 7] = [
        (b"MQTU", 4),
        (b"", 4),
        (b"", 0),
        (b"mqtt", 4),
        (b"MQIsdp\x00", 3),
        (b"\xFF\x00", 4),
        (b"HTTP/1.1", 5),
    ];
    for (name, level) in cases {
        let bytes = connect_frame(name, level, 0x02, &[b"c"]);
        let err = decode_err(&bytes, None);
        assert_eq!(
            err,
            CodecError::UnknownProtocolName {
                name: Bytes::copy_from_slice(name)
            }
        );
        assert_eq!(err.connack_code(), None, "{name:?}");
    }
    assert_eq!(
        decode_err(&connect_frame(b"MQTU", 4, 0x02, &[b"c"]), None).to_string(),
        "unknown protocol name \"MQTU\""
    );
}

#[test]
fn unsupported_protocol_wins_over_what_follows() {
    // Whatever comes after an unknown level, the answer is CONNACK 0x01.
    let bytes = frame(0x10, &[&field(b"MQTT")[..], &[6, 0x01, 0xFF]].concat());
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::UnsupportedProtocol {
            name: Bytes::from_static(b"MQTT"),
            level: 6
        }
    );
    assert_eq!(
        decode_err(&bytes, None).to_string(),
        "unsupported protocol \"MQTT\" level 6"
    );
}

#[test]
fn reserved_flag_mqtt_3_1_2_3() {
    let bytes = connect_frame(b"MQTT", 4, 0x03, &[b"c"]);
    assert_eq!(decode_err(&bytes, None), CodecError::ConnectReservedFlag(0x03));
    let bytes = connect_frame(b"MQIsdp", 3, 0x01, &[b"c"]);
    assert_eq!(decode_err(&bytes, None), CodecError::ConnectReservedFlag(0x01));
}

#[test]
fn will_qos_and_retain_need_the_will_flag_mqtt_3_1_2_11_13_15() {
    for flags in [0x08, 0x10, 0x18, 0x20, 0x28] {
        let bytes = connect_frame(b"MQTT", 4, flags, &[b"c"]);
        assert_eq!(decode_err(&bytes, None), CodecError::WillFlagsWithoutWill(flags));
    }
}

#[test]
fn will_qos_3_mqtt_3_1_2_14() {
    let bytes = connect_frame(b"MQTT", 4, 0x1C, &[b"c", b"t", b"m"]);
    assert_eq!(decode_err(&bytes, None), CodecError::InvalidWillQoS(0x1C));
}

#[test]
fn will_topic_follows_topic_name_rules() {
    let cases: [(&[u8], TopicError); 3] = [
        (b"a/+", TopicError::WildcardInName { wildcard: '+', at: 2 }),
        (b"#", TopicError::WildcardInName { wildcard: '#', at: 0 }),
        (b"", TopicError::Empty),
    ];
    for (will_topic, reason) in cases {
        let bytes = connect_frame(b"MQTT", 4, 0x04, &[b"c", will_topic, b"m"]);
        let topic = Bytes::copy_from_slice(will_topic);
        assert_eq!(
            decode_err(&bytes, None),
            CodecError::InvalidTopicName { topic, reason }
        );
    }
}

#[test]
fn strings_must_be_utf8_without_null_mqtt_1_5_3_1_and_2() {
    let bytes = connect_frame(b"MQTT", 4, 0x02, &[b"a\xC3"]);
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::InvalidUtf8 {
            field: "client id",
            valid_up_to: 1
        }
    );
    let bytes = connect_frame(b"MQTT", 4, 0x02, &[b"\0"]);
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::NullCharacter {
            field: "client id",
            at: 0
        }
    );
    let bytes = connect_frame(b"MQTT", 4, 0x06, &[b"c", b"\xE2\x82", b"m"]);
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::InvalidUtf8 {
            field: "will topic",
            valid_up_to: 0
        }
    );
    let bytes = connect_frame(b"MQTT", 4, 0x82, &[b"c", b"\xFF"]);
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::InvalidUtf8 {
            field: "username",
            valid_up_to: 0
        }
    );
    let bytes = connect_frame(b"MQTT", 4, 0x82, &[b"c", b"u\0"]);
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::NullCharacter {
            field: "username",
            at: 1
        }
    );
}

#[test]
fn byte_order_mark_is_kept() {
    let bytes = connect_frame(b"MQTT", 4, 0x02, &["\u{FEFF}id".as_bytes()]);
    match decode_ok(&bytes, None) {
        Packet::Connect(connect) => assert_eq!(connect.client_id, "\u{FEFF}id"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fields_past_the_frame_are_truncated() {
    let cases: [(Vec<u8>, &str); 6] = [
        (vec![0x10, 0x00], "protocol name"),
        (frame(0x10, &field(b"MQTT")), "protocol level"),
        (
            frame(0x10, &[&field(b"MQTT")[..], &[4]].concat()),
            "connect flags",
        ),
        (
            frame(0x10, &[&field(b"MQTT")[..], &[4, 2, 0]].concat()),
            "keep alive",
        ),
        (connect_frame(b"MQTT", 4, 0x06, &[b"c", b"t"]), "will payload"),
        (connect_frame(b"MQTT", 4, 0xC2, &[b"c", b"u"]), "password"),
    ];
    for (bytes, field) in cases {
        match decode_err(&bytes, None) {
            CodecError::Truncated { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn trailing_bytes() {
    let bytes = connect_frame(b"MQTT", 4, 0x02, &[b"c", b"extra"]);
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::TrailingBytes {
            packet_type: PacketType::Connect,
            count: 7
        }
    );
}

#[test]
fn header_flags_mqtt_2_2_2_2() {
    let mut bytes = connect_frame(b"MQTT", 4, 0x02, &[b"c"]);
    bytes[0] = 0x18;
    assert_eq!(
        decode_err(&bytes, None),
        CodecError::InvalidHeaderFlags {
            packet_type: PacketType::Connect,
            flags: 8
        }
    );
}

#[test]
fn debug_redacts_the_password() {
    let shown = format!("{:?}", full());
    assert!(
        shown.contains("<redacted>") && !shown.contains("secret"),
        "{shown}"
    );
    assert!(shown.contains("client-é"));
}
