//! The fixed header, the remaining length and the `decode`/`encode` contract.

use bytes::{Bytes, BytesMut};

use super::test_support::{decode_err, decode_ok, encode_vec, pkid, topic, NO_LIMIT};
use super::*;

#[test]
fn empty_buffer_is_incomplete() {
    let mut buf = BytesMut::new();
    assert_eq!(decode(&mut buf, NO_LIMIT, None), Ok(None));
}

#[test]
fn packet_types_0_and_15_are_refused_from_the_first_byte() {
    for first in [0x00, 0x0F, 0xF0, 0xFF] {
        assert_eq!(
            decode_err(&[first], None),
            CodecError::InvalidPacketType(first >> 4)
        );
        assert_eq!(
            decode_err(&[first], Some(ProtocolLevel::V31)),
            CodecError::InvalidPacketType(first >> 4)
        );
    }
}

#[test]
fn remaining_length_boundaries() {
    let cases: [(usize, &[u8]); 8] = [
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (MAX_REMAINING_LEN, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];
    for (len, encoded) in cases {
        let mut buf = BytesMut::new();
        put_remaining_len(&mut buf, len);
        assert_eq!(&buf[..], encoded, "{len}");
        assert_eq!(remaining_len_len(len), encoded.len());
        assert_eq!(read_remaining_len(encoded), Ok(Some((len, encoded.len()))));
        // Every strict prefix is incomplete.
        for n in 0..encoded.len() {
            assert_eq!(read_remaining_len(&encoded[..n]), Ok(None));
        }
    }
}

#[test]
fn non_minimal_remaining_length_is_accepted() {
    assert_eq!(decode_ok(&[0xC0, 0x80, 0x00], None), Packet::PingReq);
}

#[test]
fn remaining_length_of_5_bytes_is_malformed() {
    // The fourth byte's continuation bit is enough: no need to wait for the fifth.
    assert_eq!(
        decode_err(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF], None),
        CodecError::MalformedRemainingLength
    );
    assert_eq!(
        decode_err(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], None),
        CodecError::MalformedRemainingLength
    );
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF][..]);
    assert_eq!(decode(&mut buf, NO_LIMIT, None), Ok(None));
}

#[test]
#[should_panic(expected = "exceeds the MQTT maximum")]
fn encoding_a_body_beyond_the_maximum_panics() {
    put_remaining_len(&mut BytesMut::new(), MAX_REMAINING_LEN + 1);
}

#[test]
fn max_packet_size_counts_the_whole_frame() {
    // PUBLISH "a" with 3 payload bytes: remaining length 6, frame 8.
    let bytes = [0x30, 0x06, 0x00, 0x01, b'a', b'x', b'y', b'z'];
    let mut buf = BytesMut::from(&bytes[..]);
    assert!(matches!(decode(&mut buf, 8, None), Ok(Some(Packet::Publish(_)))));
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        decode(&mut buf, 7, None),
        Err(CodecError::PayloadTooLarge { size: 8, max: 7 })
    );
    assert_eq!(buf.len(), 8, "refused without consuming");
    // The header alone is enough to refuse.
    let mut buf = BytesMut::from(&bytes[..2]);
    assert_eq!(
        decode(&mut buf, 7, None),
        Err(CodecError::PayloadTooLarge { size: 8, max: 7 })
    );
}

#[test]
fn huge_declared_frame_is_refused_after_five_bytes() {
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    let max = 1 << 20;
    assert_eq!(
        decode(&mut buf, max, None),
        Err(CodecError::PayloadTooLarge {
            size: MAX_REMAINING_LEN + 5,
            max
        })
    );
}

#[test]
fn peek_header_reads_without_consuming() {
    let bytes = encode_vec(&Packet::Subscribe(Subscribe {
        pkid: pkid(1),
        filters: vec![("a".into(), QoS::AtLeastOnce.into())],
        properties: None,
    }));
    let header = peek_header(&bytes[..2], NO_LIMIT, None)
        .expect("valid header")
        .expect("complete header");
    assert_eq!(header.packet_type, PacketType::Subscribe);
    assert_eq!(header.flags, 0b0010);
    assert_eq!(header.remaining_len, bytes.len() - 2);
    assert_eq!(header.frame_len(), bytes.len());
    assert_eq!(peek_header(&bytes[..1], NO_LIMIT, None), Ok(None));
}

#[test]
fn consecutive_packets_are_decoded_one_at_a_time() {
    let first = Packet::Publish(Publish::at_most_once(topic("t"), Bytes::from_static(b"1")));
    let second = Packet::PubAck(Ack::new(pkid(2)));
    let mut buf = BytesMut::new();
    encode(&first, ProtocolLevel::V311, &mut buf);
    encode(&second, ProtocolLevel::V311, &mut buf);
    buf.extend_from_slice(&[0xE0]);
    let level = Some(ProtocolLevel::V311);
    assert_eq!(decode(&mut buf, NO_LIMIT, level), Ok(Some(first)));
    assert_eq!(decode(&mut buf, NO_LIMIT, level), Ok(Some(second)));
    assert_eq!(decode(&mut buf, NO_LIMIT, level), Ok(None));
    assert_eq!(&buf[..], &[0xE0]);
}

#[test]
fn encode_appends_and_reserves() {
    let mut buf = BytesMut::from(&b"prefix"[..]);
    let packet = Packet::PingResp;
    encode(&packet, ProtocolLevel::V311, &mut buf);
    assert_eq!(&buf[..], b"prefix\xD0\x00");
    assert_eq!(packet.encoded_len(ProtocolLevel::V311), 2);
}

#[test]
fn packet_type_of_each_packet() {
    assert_eq!(
        Packet::PubRel(Ack::new(pkid(1))).packet_type(),
        PacketType::PubRel
    );
    assert_eq!(
        Packet::Disconnect(Disconnect::NORMAL).packet_type(),
        PacketType::Disconnect
    );
    let publish = Publish::at_most_once(topic("t"), Bytes::new());
    assert_eq!(Packet::from(publish).packet_type(), PacketType::Publish);
}

#[test]
fn mqtt_3_1_checks_only_the_qos_of_pubrel_subscribe_unsubscribe() {
    let v31 = Some(ProtocolLevel::V31);
    assert_eq!(decode_ok(&[0xCF, 0x00], v31), Packet::PingReq);
    assert_eq!(
        decode_ok(&[0xE1, 0x00], v31),
        Packet::Disconnect(Disconnect::NORMAL)
    );
    assert_eq!(
        decode_err(&[0xA4, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], v31),
        CodecError::InvalidHeaderFlags {
            packet_type: PacketType::Unsubscribe,
            flags: 4
        }
    );
    // PUBLISH keeps its rules at every level.
    assert_eq!(
        decode_err(&[0x36], v31),
        CodecError::InvalidPublishQoS { flags: 6 }
    );
    assert_eq!(decode_err(&[0x38], v31), CodecError::DupWithQoS0 { flags: 8 });
}

#[test]
fn error_messages_are_lower_case_and_name_the_value() {
    let cases: [(CodecError, &str); 8] = [
        (CodecError::InvalidPacketType(15), "reserved packet type 15"),
        (
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::PubRel,
                flags: 0,
            },
            "invalid flags 0b0000 in PUBREL fixed header",
        ),
        (
            CodecError::MalformedRemainingLength,
            "remaining length longer than 4 bytes",
        ),
        (
            CodecError::PayloadTooLarge {
                size: 2_000_000,
                max: 1_048_576,
            },
            "frame of 2000000 bytes exceeds the maximum packet size of 1048576",
        ),
        (
            CodecError::Truncated {
                field: "client id",
                needed: 9,
                available: 1,
            },
            "client id needs 9 bytes but only 1 remain in the packet",
        ),
        (
            CodecError::InvalidTopicName {
                topic: Bytes::from_static(b"a/+"),
                reason: TopicError::WildcardInName { wildcard: '+', at: 2 },
            },
            "invalid topic name \"a/+\": wildcard '+' at byte 2 in a topic name",
        ),
        (
            CodecError::ZeroPacketId(PacketType::SubAck),
            "packet id 0 in SUBACK",
        ),
        (
            CodecError::WillFlagsWithoutWill(0x0A),
            "will qos or will retain without will flag in CONNECT flags 0b00001010",
        ),
    ];
    for (err, message) in cases {
        assert_eq!(err.to_string(), message);
        assert!(!message.ends_with('.'));
        assert!(
            message.starts_with(|c: char| !c.is_ascii_uppercase()),
            "{message}"
        );
    }
}

/// A 3.1.1 packet pays nothing for what only MQTT 5 carries but a null pointer: the enum stays
/// within one cache line.
#[test]
fn packet_is_at_most_64_bytes() {
    assert!(
        std::mem::size_of::<Packet>() <= 64,
        "Packet is {} bytes",
        std::mem::size_of::<Packet>()
    );
    assert_eq!(std::mem::size_of::<Option<Box<Properties>>>(), 8);
}
