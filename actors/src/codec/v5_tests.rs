//! The fixed header and the decode/encode contract at MQTT 5: every valid packet round-trips
//! at any split of the stream, the same packet is what a 3.1.1 peer reads without its MQTT 5
//! parts, and every error names the reason code the peer is told.

use bytes::BytesMut;
use proptest::prelude::*;

use super::test_support::*;
use super::test_support_v5::*;
use super::*;

const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

#[test]
fn only_the_pings_keep_a_fixed_length() {
    assert_eq!(
        decode_err(&[0xC0, 0x01, 0x00], V5),
        CodecError::UnexpectedRemainingLength {
            packet_type: PacketType::PingReq,
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(decode_ok(&[0xD0, 0x00], V5), Packet::PingResp);
    for t in [
        PacketType::ConnAck,
        PacketType::PubAck,
        PacketType::UnsubAck,
        PacketType::Disconnect,
    ] {
        assert_eq!(t.fixed_remaining_len(V5), None, "{t}");
        assert!(t.fixed_remaining_len(Some(ProtocolLevel::V311)).is_some(), "{t}");
    }
}

#[test]
fn remaining_length_in_its_shortest_form_mqtt_1_5_5_1() {
    // PINGREQ with its remaining length 0 written in two bytes: fine in 3.1.1, not in MQTT 5.
    assert_eq!(
        decode_ok(&[0xC0, 0x80, 0x00], Some(ProtocolLevel::V311)),
        Packet::PingReq
    );
    let err = decode_err(&[0xC0, 0x80, 0x00], V5);
    assert_eq!(
        err,
        CodecError::NonMinimalVarInt {
            field: "remaining length"
        }
    );
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::MALFORMED_PACKET));
    // Decided from the header, before the body.
    assert!(peek_header(&[0x30, 0x85, 0x00], NO_LIMIT, V5).is_err());
}

#[test]
fn packet_too_large_is_0x95() {
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0x7F][..]);
    let err = decode(&mut buf, 1024, V5).expect_err("too large");
    assert_eq!(err.disconnect_reason(), Some(ReasonCode::PACKET_TOO_LARGE));
}

#[test]
fn reserved_flags_are_still_malformed_mqtt_2_2_2_2() {
    for first in [0x41, 0x60, 0x83, 0xA0, 0xE1, 0xF2] {
        let err = decode_err(&[first, 0x00], V5);
        assert!(
            matches!(err, CodecError::InvalidHeaderFlags { .. }),
            "{first:#04x}: {err:?}"
        );
        assert_eq!(err.disconnect_reason(), Some(ReasonCode::MALFORMED_PACKET));
    }
}

#[test]
fn every_error_has_a_reason_for_an_mqtt_5_peer_but_an_unknown_protocol() {
    let unknown = CodecError::UnsupportedProtocol {
        name: bytes::Bytes::from_static(b"MQTT"),
        level: 9,
    };
    assert_eq!(unknown.disconnect_reason(), None);
    assert_eq!(
        CodecError::InvalidV5Connect(Box::new(CodecError::PayloadTooLarge { size: 9, max: 8 }))
            .connack_code(),
        Some(ConnectReturnCode::PacketTooLarge)
    );
    assert_eq!(CodecError::ZeroPacketId(PacketType::PubAck).connack_code(), None);
}

#[test]
fn a_packet_is_written_per_level() {
    let publish = Packet::Publish(sample_publish_v5());
    assert!(publish.encoded_len(ProtocolLevel::V5) > publish.encoded_len(ProtocolLevel::V311));
    assert_eq!(
        publish.encoded_len(ProtocolLevel::V31),
        publish.encoded_len(ProtocolLevel::V311)
    );
    let auth = Packet::Auth(Auth::default());
    assert_eq!(encode_vec_at(&auth, ProtocolLevel::V311), [0xF0, 0x00]);
    assert_eq!(auth.packet_type(), PacketType::Auth);
}

/// Encode at MQTT 5, check the length, decode, compare; one byte short is incomplete, and a
/// limit one byte too small is refused from the header.
fn roundtrip_v5(packet: &Packet) -> Result<(), TestCaseError> {
    let bytes = encode_vec_at(packet, ProtocolLevel::V5);
    prop_assert_eq!(bytes.len(), packet.encoded_len(ProtocolLevel::V5));
    let level = match packet {
        Packet::Connect(_) => None,
        _ => V5,
    };
    let mut buf = BytesMut::from(&bytes[..]);
    prop_assert_eq!(decode(&mut buf, bytes.len(), level), Ok(Some(packet.clone())));
    prop_assert!(buf.is_empty());
    let mut short = BytesMut::from(&bytes[..bytes.len() - 1]);
    prop_assert_eq!(decode(&mut short, NO_LIMIT, level), Ok(None));
    let mut buf = BytesMut::from(&bytes[..]);
    let too_small = decode(&mut buf, bytes.len() - 1, level).map_err(|e| e.disconnect_reason());
    prop_assert_eq!(too_small, Err(Some(ReasonCode::PACKET_TOO_LARGE)));
    Ok(())
}

proptest! {
    #[test]
    fn every_v5_packet_roundtrips(packet in arb_packet_v5()) {
        roundtrip_v5(&packet)?;
    }

    #[test]
    fn properties_roundtrip_in_publish(publish in arb_publish_v5()) {
        roundtrip_v5(&Packet::Publish(publish))?;
    }

    #[test]
    fn connect_and_connack_roundtrip(connect in arb_connect_v5(), connack in arb_connack_v5()) {
        roundtrip_v5(&Packet::from(connect))?;
        roundtrip_v5(&Packet::ConnAck(connack))?;
    }

    /// Mixed levels: an MQTT 5 packet written to a 3.1.1 peer is the 3.1.1 packet without
    /// reason codes, properties or subscription options.
    #[test]
    fn a_v311_peer_reads_the_packet_without_its_v5_parts(packet in arb_packet_v5()) {
        if let Some(expected) = as_read_by_v311(&packet) {
            let bytes = encode_vec_at(&packet, ProtocolLevel::V311);
            prop_assert_eq!(bytes.len(), packet.encoded_len(ProtocolLevel::V311));
            let mut buf = BytesMut::from(&bytes[..]);
            prop_assert_eq!(decode(&mut buf, NO_LIMIT, Some(ProtocolLevel::V311)), Ok(Some(expected)));
        }
    }

    /// A v5 stream cut into arbitrary chunks decodes to the same packets: a CONNECT first
    /// (level `None`), then level 5.
    #[test]
    fn v5_stream_split_anywhere(
        connect in arb_connect_v5(),
        packets in prop::collection::vec(arb_packet_v5(), 1..6),
        cuts in prop::collection::vec(1..40usize, 0..20),
    ) {
        let packets: Vec<Packet> = std::iter::once(Packet::from(connect))
            .chain(packets.into_iter().filter(|p| !matches!(p, Packet::Connect(_))))
            .collect();
        let mut stream = Vec::new();
        for packet in &packets {
            stream.extend(encode_vec_at(packet, ProtocolLevel::V5));
        }
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut rest = &stream[..];
        let mut cuts = cuts.into_iter();
        while !rest.is_empty() {
            let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            buf.extend_from_slice(chunk);
            loop {
                let level = if decoded.is_empty() { None } else { V5 };
                let before = buf.len();
                match decode(&mut buf, NO_LIMIT, level) {
                    Ok(Some(packet)) => decoded.push(packet),
                    Ok(None) => {
                        prop_assert_eq!(buf.len(), before);
                        break;
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                }
            }
        }
        prop_assert_eq!(decoded, packets);
    }

    /// Random bytes at level 5: no panic, and `Ok(None)` consumes nothing.
    #[test]
    fn random_bytes_never_panic_at_v5(
        bytes in prop::collection::vec(any::<u8>(), 0..96),
        max in prop_oneof![Just(8usize), Just(64), Just(NO_LIMIT)],
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        match decode(&mut buf, max, V5) {
            Ok(None) => prop_assert_eq!(&buf[..], &bytes[..]),
            Err(e) => prop_assert!(e.disconnect_reason().is_some() || e.connack_code().is_some()),
            Ok(Some(_)) => {}
        }
    }
}
