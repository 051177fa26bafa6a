//! Property tests: every valid packet of every type survives encode then decode unchanged,
//! at any split of the byte stream, and random bytes never panic the decoder.

use bytes::BytesMut;
use proptest::prelude::*;

use super::test_support::*;
use super::*;

/// Encode, check the length, decode at `level`, compare; and every strict prefix is
/// incomplete.
fn roundtrip(packet: &Packet, level: Option<ProtocolLevel>) -> Result<(), TestCaseError> {
    let bytes = encode_vec(packet);
    prop_assert_eq!(bytes.len(), packet.encoded_len(ProtocolLevel::V311));
    let mut buf = BytesMut::from(&bytes[..]);
    prop_assert_eq!(decode(&mut buf, bytes.len(), level), Ok(Some(packet.clone())));
    prop_assert!(buf.is_empty());
    // One byte short is incomplete, and (checked from the header alone) one byte too small a
    // limit is refused.
    let mut short = BytesMut::from(&bytes[..bytes.len() - 1]);
    prop_assert_eq!(decode(&mut short, NO_LIMIT, level), Ok(None));
    prop_assert_eq!(short.len(), bytes.len() - 1);
    let mut buf = BytesMut::from(&bytes[..]);
    let too_small = decode(&mut buf, bytes.len() - 1, level);
    prop_assert_eq!(
        too_small,
        Err(CodecError::PayloadTooLarge {
            size: bytes.len(),
            max: bytes.len() - 1
        })
    );
    Ok(())
}

/// What MQTT 3.1 cannot carry: CONNACK's session-present flag and SUBACK's failure code.
fn valid_in_3_1(packet: &Packet) -> bool {
    match packet {
        Packet::ConnAck(connack) => !connack.session_present,
        Packet::SubAck(suback) => !suback.return_codes.contains(&SubackCode::FAILURE),
        _ => true,
    }
}

proptest! {
    #[test]
    fn connect_roundtrip(connect in arb_connect()) {
        roundtrip(&Packet::Connect(Box::new(connect)), None)?;
    }

    #[test]
    fn connack_roundtrip(connack in arb_connack()) {
        roundtrip(&Packet::ConnAck(connack), Some(ProtocolLevel::V311))?;
    }

    #[test]
    fn publish_roundtrip(publish in arb_publish()) {
        let packet = Packet::Publish(publish);
        roundtrip(&packet, Some(ProtocolLevel::V311))?;
        roundtrip(&packet, Some(ProtocolLevel::V31))?;
    }

    #[test]
    fn acks_roundtrip(id in arb_pkid(), which in 0..5usize) {
        let packet = match which {
            0 => Packet::PubAck(Ack::new(id)),
            1 => Packet::PubRec(Ack::new(id)),
            2 => Packet::PubRel(Ack::new(id)),
            3 => Packet::PubComp(Ack::new(id)),
            _ => Packet::UnsubAck(UnsubAck::new(id)),
        };
        roundtrip(&packet, Some(ProtocolLevel::V311))?;
        roundtrip(&packet, Some(ProtocolLevel::V31))?;
    }

    #[test]
    fn subscribe_roundtrip(subscribe in arb_subscribe()) {
        let packet = Packet::Subscribe(subscribe);
        roundtrip(&packet, Some(ProtocolLevel::V311))?;
        roundtrip(&packet, Some(ProtocolLevel::V31))?;
    }

    #[test]
    fn suback_roundtrip(suback in arb_suback()) {
        roundtrip(&Packet::SubAck(suback), Some(ProtocolLevel::V311))?;
    }

    #[test]
    fn unsubscribe_roundtrip(unsubscribe in arb_unsubscribe()) {
        roundtrip(&Packet::Unsubscribe(unsubscribe), Some(ProtocolLevel::V311))?;
    }

    #[test]
    fn bodiless_roundtrip(which in 0..3usize) {
        let packet = [Packet::PingReq, Packet::PingResp, Packet::Disconnect(Disconnect::NORMAL)][which].clone();
        roundtrip(&packet, Some(ProtocolLevel::V311))?;
    }

    #[test]
    fn any_packet_roundtrips_at_3_1_when_3_1_can_carry_it(packet in arb_packet()) {
        if valid_in_3_1(&packet) && !matches!(packet, Packet::Connect(_)) {
            roundtrip(&packet, Some(ProtocolLevel::V31))?;
        }
    }

    /// A stream of packets cut into arbitrary chunks decodes to the same packets.
    #[test]
    fn stream_split_anywhere(
        packets in prop::collection::vec(arb_packet(), 1..6),
        cuts in prop::collection::vec(1..40usize, 0..20),
    ) {
        let mut stream = Vec::new();
        for packet in &packets {
            stream.extend(encode_vec(packet));
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
                let level = if decoded.is_empty() { None } else { Some(ProtocolLevel::V311) };
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

    /// Random bytes at any level and limit: no panic, and `Ok(None)` consumes nothing.
    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        level in prop_oneof![Just(None), Just(Some(ProtocolLevel::V31)), Just(Some(ProtocolLevel::V311))],
        max in prop_oneof![Just(8usize), Just(64), Just(NO_LIMIT)],
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        if let Ok(None) = decode(&mut buf, max, level) {
            prop_assert_eq!(&buf[..], &bytes[..]);
        }
    }
}
