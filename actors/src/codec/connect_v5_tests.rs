//! CONNECT at MQTT 5: properties, will properties, the rules that changed since 3.1.1, and
//! the CONNACK an invalid MQTT 5 CONNECT calls for.

use bytes::Bytes;

use super::*;
use crate::codec::corpus::{field, frame};
use crate::codec::test_support::{assert_roundtrip, decode_err, decode_ok, props, topic};
use crate::codec::{ConnectReturnCode, Packet, PropertyId, ReasonCode};

/// A level-5 CONNECT frame: flags, keepalive 60, the CONNECT property block `props`, then
/// each payload field length-prefixed (the will properties, if any, are in `payload` raw).
fn connect5(flags: u8, props: &[u8], payload: &[&[u8]]) -> Vec<u8> {
    let mut body = field(b"MQTT");
    body.extend_from_slice(&[5, flags, 0x00, 0x3C]);
    body.push(u8::try_from(props.len()).expect("short test property block"));
    body.extend_from_slice(props);
    for data in payload {
        body.extend(field(data));
    }
    frame(0x10, &body)
}

fn minimal() -> Connect {
    Connect {
        level: ProtocolLevel::V5,
        client_id: String::from("c5"),
        clean_session: true,
        keep_alive: 60,
        will: None,
        username: None,
        password: None,
        properties: None,
    }
}

/// The error inside an [`CodecError::InvalidV5Connect`].
#[track_caller]
fn v5_error(bytes: &[u8]) -> CodecError {
    match decode_err(bytes, None) {
        CodecError::InvalidV5Connect(error) => *error,
        other => panic!("not an MQTT 5 CONNECT error: {other:?}"),
    }
}

#[test]
fn roundtrip_minimal() {
    let expected = [
        0x10, 0x0F, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x02, b'c', b'5',
    ];
    assert_roundtrip(&Packet::Connect(Box::new(minimal())), &expected);
}

#[test]
fn roundtrip_with_properties_will_properties_and_credentials() {
    let connect = Connect {
        clean_session: false,
        will: Some(Will {
            topic: topic("last/will"),
            payload: Bytes::from_static(b"\x00bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: props(|p| {
                p.will_delay_interval = Some(10);
                p.payload_format_indicator = Some(false);
                p.message_expiry_interval = Some(3600);
                p.content_type = Some("text/plain".into());
                p.response_topic = Some(topic("r"));
                p.correlation_data = Some(Bytes::from_static(b"id"));
                p.user_properties = vec![("w".into(), "1".into())];
            }),
        }),
        username: Some(String::from("u")),
        password: Some(Bytes::from_static(b"\xFFpw")),
        properties: props(|p| {
            p.session_expiry_interval = Some(u32::MAX);
            p.receive_maximum = Some(20);
            p.maximum_packet_size = Some(65_536);
            p.topic_alias_maximum = Some(10);
            p.request_response_information = Some(true);
            p.request_problem_information = Some(false);
            p.user_properties = vec![("a".into(), "b".into())];
            p.authentication_method = Some("SCRAM-SHA-256".into());
            p.authentication_data = Some(Bytes::from_static(b"n,,n=u,r=x"));
        }),
        ..minimal()
    };
    assert_roundtrip(&Packet::Connect(Box::new(connect)), &[]);
}

#[test]
fn password_without_username_is_allowed_section_3_1_2_9() {
    let bytes = connect5(0x42, &[], &[b"c", b"pw"]);
    match decode_ok(&bytes, None) {
        Packet::Connect(c) => {
            assert_eq!((c.username, c.password), (None, Some(Bytes::from_static(b"pw"))));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_after_the_level_get_an_mqtt_5_connack_mqtt_3_1_4_1() {
    let err = decode_err(&connect5(0x03, &[], &[b"c"]), None);
    assert_eq!(
        err,
        CodecError::InvalidV5Connect(Box::new(CodecError::ConnectReservedFlag(0x03)))
    );
    assert_eq!(err.connack_code(), Some(ConnectReturnCode::MalformedPacket));
    assert_eq!(err.connack_level(), ProtocolLevel::V5);
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::MALFORMED_PACKET));
    assert_eq!(
        err.to_string(),
        "invalid MQTT 5 CONNECT: reserved bit set in CONNECT flags 0b00000011"
    );
    // A protocol error is answered 0x82.
    let err = decode_err(&connect5(0x02, &[0x21, 0x00, 0x00], &[b"c"]), None);
    assert_eq!(err.connack_code(), Some(ConnectReturnCode::ProtocolError));
}

#[test]
fn connect_flags_mqtt_3_1_2_3_and_11_to_14() {
    assert_eq!(
        v5_error(&connect5(0x18, &[], &[b"c"])),
        CodecError::WillFlagsWithoutWill(0x18)
    );
    assert_eq!(
        v5_error(&connect5(0x22, &[], &[b"c"])),
        CodecError::WillFlagsWithoutWill(0x22)
    );
    assert_eq!(
        v5_error(&connect5(0x1E, &[], &[b"c"])),
        CodecError::InvalidWillQoS(0x1E)
    );
}

#[test]
fn connect_properties_only() {
    // Topic Alias belongs to PUBLISH, Will Delay Interval to the will.
    for (id, value) in [
        (0x23u8, &[0x00, 0x01][..]),
        (0x18, &[0, 0, 0, 1]),
        (0x24, &[0x01]),
    ] {
        let block = [&[id][..], value].concat();
        let err = v5_error(&connect5(0x02, &block, &[b"c"]));
        assert!(
            matches!(err, CodecError::PropertyNotAllowed { property, of } if property as u8 == id && of == PropertiesOf::Packet(PacketType::Connect)),
            "{err:?}"
        );
    }
    assert_eq!(
        v5_error(&connect5(0x02, &[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], &[b"c"])),
        CodecError::DuplicateProperty {
            property: PropertyId::SessionExpiryInterval,
            of: PropertiesOf::Packet(PacketType::Connect)
        }
    );
    assert_eq!(
        v5_error(&connect5(0x02, &[0x16, 0x00, 0x01, 0xAA], &[b"c"])),
        CodecError::AuthDataWithoutMethod(PropertiesOf::Packet(PacketType::Connect))
    );
}

#[test]
fn will_properties_only_will_ones() {
    // Will flag, QoS 0: will properties (Session Expiry Interval, a CONNECT property), topic,
    // payload.
    let mut body = field(b"MQTT");
    body.extend_from_slice(&[5, 0x06, 0x00, 0x3C, 0x00]);
    body.extend(field(b"c"));
    body.extend_from_slice(&[0x05, 0x11, 0, 0, 0, 1]);
    body.extend(field(b"w"));
    body.extend(field(b"m"));
    assert_eq!(
        v5_error(&frame(0x10, &body)),
        CodecError::PropertyNotAllowed {
            property: PropertyId::SessionExpiryInterval,
            of: PropertiesOf::Will
        }
    );
}

#[test]
fn missing_property_length_is_malformed() {
    // A 3.1.1 body under level 5: the client id's length prefix reads as the property length.
    let mut body = field(b"MQTT");
    body.extend_from_slice(&[5, 0x02, 0x00, 0x3C]);
    body.extend(field(b"abc"));
    let err = v5_error(&frame(0x10, &body));
    assert!(matches!(err, CodecError::Truncated { .. }), "{err:?}");
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::MALFORMED_PACKET));
}

#[test]
fn remaining_length_in_its_shortest_form_mqtt_1_5_5_1() {
    // The minimal CONNECT with its remaining length written in two bytes (0x8F 0x00).
    let mut bytes = connect5(0x02, &[], &[b"c5"]);
    assert_eq!(bytes[1], 0x0F);
    bytes.splice(1..2, [0x8F, 0x00]);
    assert_eq!(
        v5_error(&bytes),
        CodecError::NonMinimalVarInt {
            field: "remaining length"
        }
    );
    // 3.1.1 does not require it.
    let mut v311 = crate::codec::corpus::valid_connect();
    let len = v311[1];
    v311.splice(1..2, [len | 0x80, 0x00]);
    assert!(matches!(decode_ok(&v311, None), Packet::Connect(_)));
}

#[test]
fn level_5_needs_the_name_mqtt() {
    let bytes = frame(
        0x10,
        &[&field(b"MQIsdp")[..], &[5, 0x02, 0, 60, 0], &field(b"c")].concat(),
    );
    assert!(matches!(
        decode_err(&bytes, None),
        CodecError::UnsupportedProtocol { level: 5, .. }
    ));
}
