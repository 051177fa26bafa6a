//! Properties: the allowed-property table, each property with its type, the at-most-once rule,
//! the values the spec forbids, and the block's length.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::codec::test_support::{props, topic};
use crate::codec::test_support_v5::restrict;
use crate::codec::{PacketType, ReasonCode};

/// Every property set to a valid value.
fn full() -> Properties {
    Properties {
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(u32::MAX),
        content_type: Some("application/json".into()),
        response_topic: Some(topic("reply/é")),
        correlation_data: Some(Bytes::from_static(b"\x00\xFFid")),
        subscription_ids: vec![1, 127, 128, 16_384, MAX_SUBSCRIPTION_ID],
        session_expiry_interval: Some(0xFFFF_FFFF),
        assigned_client_identifier: Some("auto-1".into()),
        server_keep_alive: Some(0),
        authentication_method: Some("SCRAM-SHA-256".into()),
        authentication_data: Some(Bytes::from_static(b"n,,n=user")),
        request_problem_information: Some(false),
        will_delay_interval: Some(30),
        request_response_information: Some(true),
        response_information: Some("resp/".into()),
        server_reference: Some("other:1883".into()),
        reason_string: Some("because".into()),
        receive_maximum: Some(u16::MAX),
        topic_alias_maximum: Some(0),
        topic_alias: Some(1),
        maximum_qos: Some(QoS::AtMostOnce),
        retain_available: Some(false),
        user_properties: vec![
            ("a".into(), "1".into()),
            ("a".into(), "2".into()),
            (String::new(), String::new()),
        ],
        maximum_packet_size: Some(1),
        wildcard_subscription_available: Some(true),
        subscription_identifier_available: Some(false),
        shared_subscription_available: Some(true),
    }
}

/// Every property set: each packet type, and the will.
fn every_set() -> Vec<PropertiesOf> {
    let mut sets: Vec<_> = (1..16)
        .filter_map(PacketType::from_nibble)
        .map(PropertiesOf::Packet)
        .collect();
    sets.push(PropertiesOf::Will);
    sets
}

/// A valid value of property `id`, as on the wire.
fn value(id: PropertyId) -> Vec<u8> {
    match id {
        PropertyId::PayloadFormatIndicator
        | PropertyId::RequestProblemInformation
        | PropertyId::RequestResponseInformation
        | PropertyId::MaximumQos
        | PropertyId::RetainAvailable
        | PropertyId::WildcardSubscriptionAvailable
        | PropertyId::SubscriptionIdentifierAvailable
        | PropertyId::SharedSubscriptionAvailable => vec![1],
        PropertyId::MessageExpiryInterval
        | PropertyId::SessionExpiryInterval
        | PropertyId::WillDelayInterval
        | PropertyId::MaximumPacketSize => vec![0, 0, 0, 9],
        PropertyId::ServerKeepAlive
        | PropertyId::ReceiveMaximum
        | PropertyId::TopicAliasMaximum
        | PropertyId::TopicAlias => vec![0, 9],
        PropertyId::SubscriptionIdentifier => vec![0x81, 0x01],
        PropertyId::UserProperty => vec![0, 1, b'k', 0, 1, b'v'],
        PropertyId::CorrelationData | PropertyId::AuthenticationData => vec![0, 2, 0xFF, 0x00],
        PropertyId::ContentType
        | PropertyId::ResponseTopic
        | PropertyId::AssignedClientIdentifier
        | PropertyId::AuthenticationMethod
        | PropertyId::ResponseInformation
        | PropertyId::ServerReference
        | PropertyId::ReasonString => vec![0, 3, b'a', b'/', b'b'],
    }
}

/// A property block: the length, then `content`.
fn block(content: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    put_var_int(&mut buf, content.len(), "test");
    buf.extend_from_slice(content);
    buf.freeze()
}

fn decode(content: &[u8], of: PropertiesOf) -> Result<Option<Box<Properties>>, CodecError> {
    let mut r = Reader::new(block(content));
    let props = Properties::decode(&mut r, of)?;
    assert!(r.is_empty(), "the block is read to its end");
    Ok(props)
}

fn property(id: PropertyId) -> Vec<u8> {
    [&[id as u8][..], &value(id)].concat()
}

/// A set `id` may appear in, with the authentication method it may need.
fn home(id: PropertyId) -> (PropertiesOf, Vec<u8>) {
    let of = every_set()
        .into_iter()
        .find(|of| id.is_allowed_in(*of))
        .expect("every property is allowed somewhere");
    let prefix = match id {
        PropertyId::AuthenticationData => property(PropertyId::AuthenticationMethod),
        _ => Vec::new(),
    };
    (of, prefix)
}

#[test]
fn every_property_roundtrips_with_its_type_mqtt_2_2_2_2() {
    for of in every_set() {
        let expected = restrict(full(), of);
        let mut buf = BytesMut::new();
        encode(expected.as_deref(), of, &mut buf);
        assert_eq!(buf.len(), encoded_len(expected.as_deref()), "{of}");
        assert_eq!(decode_block(buf.freeze(), of), Ok(expected), "{of}");
    }
}

fn decode_block(bytes: Bytes, of: PropertiesOf) -> Result<Option<Box<Properties>>, CodecError> {
    let mut r = Reader::new(bytes);
    Properties::decode(&mut r, of)
}

/// Table 2-4, counted: 64 (property, packet) pairs, the will counted as a packet.
#[test]
fn allowed_property_table_mqtt_2_2_2_2() {
    let pairs = PropertyId::ALL
        .iter()
        .map(|id| every_set().iter().filter(|of| id.is_allowed_in(**of)).count())
        .sum::<usize>();
    assert_eq!(pairs, 64);
    let publish = PropertiesOf::Packet(PacketType::Publish);
    assert!(PropertyId::TopicAlias.is_allowed_in(publish));
    assert!(!PropertyId::TopicAlias.is_allowed_in(PropertiesOf::Will));
    assert!(PropertyId::WillDelayInterval.is_allowed_in(PropertiesOf::Will));
    assert!(!PropertyId::WillDelayInterval.is_allowed_in(publish));
    assert!(!PropertyId::UserProperty.is_allowed_in(PropertiesOf::Packet(PacketType::PingReq)));
    assert!(PropertyId::ReasonString.is_allowed_in(PropertiesOf::Packet(PacketType::PubRel)));
    assert!(!PropertyId::ReasonString.is_allowed_in(PropertiesOf::Packet(PacketType::Connect)));
    for (i, id) in PropertyId::ALL.iter().enumerate() {
        assert_eq!(PropertyId::from_u8(*id as u8), Some(*id));
        assert!(i == 0 || PropertyId::ALL[i - 1] < *id, "identifier order");
    }
}

#[test]
fn a_property_outside_its_packets_is_malformed_mqtt_2_2_2_2() {
    let mut checked = 0;
    for of in every_set() {
        for id in PropertyId::ALL.into_iter().filter(|id| !id.is_allowed_in(of)) {
            let err = decode(&property(id), of).expect_err("not allowed");
            assert_eq!(err, CodecError::PropertyNotAllowed { property: id, of });
            assert_eq!(err.disconnect_reason(), Some(ReasonCode::MALFORMED_PACKET));
            checked += 1;
        }
    }
    // 15 packet types and the will.
    assert_eq!(checked, 27 * 16 - 64);
}

#[test]
fn unknown_identifiers_are_malformed() {
    let of = PropertiesOf::Packet(PacketType::ConnAck);
    for id in [
        0x00, 0x04, 0x07, 0x0A, 0x0C, 0x10, 0x14, 0x1B, 0x1D, 0x20, 0x2B, 0x7F,
    ] {
        let err = decode(&[id, 0, 0, 0, 0], of).expect_err("unknown");
        assert_eq!(err, CodecError::UnknownProperty(u32::from(id)));
        assert_eq!(err.disconnect_reason(), Some(ReasonCode::MALFORMED_PACKET));
    }
    // The identifier is a variable byte integer: 128 is unknown, 0x81 0x00 is 1 written long.
    assert_eq!(
        decode(&[0x80, 0x01, 0], of),
        Err(CodecError::UnknownProperty(128))
    );
    assert_eq!(
        decode(&[0x81, 0x00, 0], of),
        Err(CodecError::NonMinimalVarInt {
            field: "property identifier"
        })
    );
}

#[test]
fn a_second_occurrence_is_a_protocol_error() {
    for id in PropertyId::ALL {
        let (of, prefix) = home(id);
        let twice = [&prefix[..], &property(id), &property(id)].concat();
        let result = decode(&twice, of);
        if id.may_repeat_in(of) {
            assert!(result.is_ok(), "{id} may repeat in {of}: {result:?}");
        } else {
            let err = result.expect_err("duplicate");
            assert_eq!(err, CodecError::DuplicateProperty { property: id, of }, "{id}");
            assert_eq!(err.disconnect_reason(), Some(ReasonCode::PROTOCOL_ERROR));
        }
    }
}

#[test]
fn user_properties_repeat_and_keep_their_order() {
    let content = [
        &property(PropertyId::UserProperty)[..],
        &[0x26, 0, 1, b'k', 0, 1, b'w'],
        &[0x26, 0, 1, b'j', 0, 0],
    ]
    .concat();
    let expected = props(|p| {
        p.user_properties = vec![
            ("k".into(), "v".into()),
            ("k".into(), "w".into()),
            ("j".into(), String::new()),
        ];
    });
    assert_eq!(
        decode(&content, PropertiesOf::Packet(PacketType::PubAck)),
        Ok(expected)
    );
}

#[test]
fn subscription_identifiers_repeat_in_publish_only() {
    let twice = [0x0B, 0x01, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F];
    let expected = props(|p| p.subscription_ids = vec![1, MAX_SUBSCRIPTION_ID]);
    assert_eq!(
        decode(&twice, PropertiesOf::Packet(PacketType::Publish)),
        Ok(expected)
    );
    let subscribe = PropertiesOf::Packet(PacketType::Subscribe);
    assert_eq!(
        decode(&twice, subscribe),
        Err(CodecError::DuplicateProperty {
            property: PropertyId::SubscriptionIdentifier,
            of: subscribe
        })
    );
    // Five bytes: longer than a variable byte integer.
    assert_eq!(
        decode(&[0x0B, 0x80, 0x80, 0x80, 0x80, 0x01], subscribe),
        Err(CodecError::MalformedVarInt {
            field: "subscription identifier"
        })
    );
}

#[test]
fn forbidden_values_are_protocol_errors() {
    let connect = PropertiesOf::Packet(PacketType::Connect);
    let connack = PropertiesOf::Packet(PacketType::ConnAck);
    let publish = PropertiesOf::Packet(PacketType::Publish);
    let cases: [(&[u8], PropertiesOf, PropertyId, u32); 12] = [
        (&[0x21, 0, 0], connect, PropertyId::ReceiveMaximum, 0),
        (&[0x27, 0, 0, 0, 0], connack, PropertyId::MaximumPacketSize, 0),
        (&[0x0B, 0x00], publish, PropertyId::SubscriptionIdentifier, 0),
        (&[0x24, 2], connack, PropertyId::MaximumQos, 2),
        (&[0x24, 0xFF], connack, PropertyId::MaximumQos, 255),
        (&[0x01, 2], publish, PropertyId::PayloadFormatIndicator, 2),
        (&[0x17, 2], connect, PropertyId::RequestProblemInformation, 2),
        (
            &[0x19, 0x80],
            connect,
            PropertyId::RequestResponseInformation,
            0x80,
        ),
        (&[0x25, 2], connack, PropertyId::RetainAvailable, 2),
        (&[0x28, 3], connack, PropertyId::WildcardSubscriptionAvailable, 3),
        (
            &[0x29, 9],
            connack,
            PropertyId::SubscriptionIdentifierAvailable,
            9,
        ),
        (
            &[0x2A, 0xFF],
            connack,
            PropertyId::SharedSubscriptionAvailable,
            255,
        ),
    ];
    for (content, of, property, value) in cases {
        let err = decode(content, of).expect_err("forbidden value");
        assert_eq!(err, CodecError::InvalidPropertyValue { property, value });
        assert_eq!(
            err.disconnect_reason(),
            Some(ReasonCode::PROTOCOL_ERROR),
            "{property}"
        );
    }
}

#[test]
fn topic_alias_0_is_topic_alias_invalid_mqtt_3_3_2_8() {
    let err = decode(&[0x23, 0, 0], PropertiesOf::Packet(PacketType::Publish)).expect_err("alias 0");
    assert_eq!(
        err,
        CodecError::InvalidPropertyValue {
            property: PropertyId::TopicAlias,
            value: 0
        }
    );
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::TOPIC_ALIAS_INVALID));
}

#[test]
fn authentication_data_needs_a_method() {
    for packet_type in [PacketType::Connect, PacketType::ConnAck] {
        let of = PropertiesOf::Packet(packet_type);
        let err = decode(&property(PropertyId::AuthenticationData), of).expect_err("no method");
        assert_eq!(err, CodecError::AuthDataWithoutMethod(of));
        assert_eq!(err.disconnect_reason(), Some(ReasonCode::PROTOCOL_ERROR));
    }
}

#[test]
fn the_block_stays_inside_the_frame_and_values_inside_the_block() {
    let of = PropertiesOf::Packet(PacketType::Disconnect);
    // A property length of 9 with 3 bytes left.
    let mut r = Reader::new(Bytes::from_static(&[0x09, 0x11, 0x00, 0x00]));
    assert_eq!(
        Properties::decode(&mut r, of),
        Err(CodecError::Truncated {
            field: "properties",
            needed: 9,
            available: 3
        })
    );
    // A block of 3 bytes whose Session Expiry Interval needs 4 after its identifier: it does
    // not read into what follows the block.
    let mut r = Reader::new(Bytes::from_static(&[0x03, 0x11, 0x00, 0x00, 0x00, 0x00]));
    assert_eq!(
        Properties::decode(&mut r, of),
        Err(CodecError::Truncated {
            field: "session expiry interval",
            needed: 4,
            available: 2
        })
    );
    // A string past the block.
    assert!(matches!(
        decode(&[0x1F, 0x00, 0x05, b'a'], of),
        Err(CodecError::Truncated {
            field: "reason string",
            ..
        })
    ));
}

#[test]
fn property_length_is_a_shortest_variable_byte_integer_mqtt_1_5_5_1() {
    let of = PropertiesOf::Packet(PacketType::Disconnect);
    let mut r = Reader::new(Bytes::from_static(&[0x80, 0x00]));
    assert_eq!(
        Properties::decode(&mut r, of),
        Err(CodecError::NonMinimalVarInt {
            field: "property length"
        })
    );
    let mut r = Reader::new(Bytes::from_static(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]));
    assert_eq!(
        Properties::decode(&mut r, of),
        Err(CodecError::MalformedVarInt {
            field: "property length"
        })
    );
}

#[test]
fn an_empty_block_is_none() {
    assert_eq!(decode(&[], PropertiesOf::Packet(PacketType::Publish)), Ok(None));
    let mut buf = BytesMut::new();
    encode(None, PropertiesOf::Will, &mut buf);
    assert_eq!(&buf[..], &[0x00]);
    assert_eq!(encoded_len(None), 1);
    assert!(Properties::default().is_empty());
    assert!(!full().is_empty());
}

#[test]
fn strings_are_utf8_without_null_and_response_topic_a_topic_name_mqtt_3_3_2_14() {
    let publish = PropertiesOf::Packet(PacketType::Publish);
    assert_eq!(
        decode(&[0x03, 0, 2, b'a', 0xFF], publish),
        Err(CodecError::InvalidUtf8 {
            field: "content type",
            valid_up_to: 1
        })
    );
    assert_eq!(
        decode(&[0x26, 0, 1, b'k', 0, 1, 0], publish),
        Err(CodecError::NullCharacter {
            field: "user property",
            at: 0
        })
    );
    assert!(matches!(
        decode(&[0x08, 0, 3, b'a', b'/', b'#'], publish),
        Err(CodecError::InvalidTopicName { .. })
    ));
    assert!(matches!(
        decode(&[0x08, 0, 0], publish),
        Err(CodecError::InvalidTopicName { .. })
    ));
}

#[test]
fn names_and_messages() {
    assert_eq!(PropertyId::TopicAlias.to_string(), "topic alias (0x23)");
    assert_eq!(PropertiesOf::Will.to_string(), "will");
    assert_eq!(
        CodecError::DuplicateProperty {
            property: PropertyId::ReasonString,
            of: PropertiesOf::Packet(PacketType::PubAck)
        }
        .to_string(),
        "reason string (0x1f) more than once in PUBACK properties"
    );
    assert_eq!(
        CodecError::PropertyNotAllowed {
            property: PropertyId::TopicAlias,
            of: PropertiesOf::Will
        }
        .to_string(),
        "topic alias (0x23) is not allowed in will properties"
    );
}

#[test]
#[should_panic(expected = "is not allowed in")]
#[cfg(debug_assertions)]
fn encoding_a_property_outside_its_packets_is_a_bug() {
    let props = props(|p| p.topic_alias = Some(1));
    encode(
        props.as_deref(),
        PropertiesOf::Packet(PacketType::Connect),
        &mut BytesMut::new(),
    );
}
