//! PUBACK, PUBREC, PUBREL and PUBCOMP (MQTT 3.1.1 sections 3.4 to 3.7): a packet id and
//! nothing else.
//!
//! The four share one body, so they share this file and one type, [`Ack`]; the fixed header
//! tells them apart, and `peek_header` has already checked their flags (0b0010 for PUBREL, 0
//! for the others) and that the remaining length is exactly 2.

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType};
use super::properties::Properties;
use super::reason::ReasonCode;
use super::wire::Reader;

/// Remaining length of every acknowledgement: the packet id.
pub(crate) const LEN: usize = 2;

/// The body of PUBACK, PUBREC, PUBREL and PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The packet id of the exchange being acknowledged.
    pub pkid: PacketId,
    /// MQTT 5 only: the outcome; [`ReasonCode::SUCCESS`] on 3.1/3.1.1, which carry none.
    pub reason: ReasonCode,
    /// MQTT 5 only: reason string and user properties.
    pub properties: Option<Box<Properties>>,
}

impl Ack {
    /// A successful acknowledgement of `pkid` without properties: all 3.1/3.1.1 can say.
    pub const fn new(pkid: PacketId) -> Ack {
        Ack {
            pkid,
            reason: ReasonCode::SUCCESS,
            properties: None,
        }
    }

    pub(crate) fn decode(mut r: Reader, packet_type: PacketType) -> Result<Ack, CodecError> {
        let pkid = r.packet_id(packet_type)?;
        r.finish(packet_type)?;
        Ok(Ack::new(pkid))
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16(self.pkid.get());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_roundtrip, decode_err, decode_ok, pkid};
    use crate::codec::{Packet, ProtocolLevel};

    type MakeAck = fn(Ack) -> Packet;

    const ACKS: [(PacketType, u8, MakeAck); 4] = [
        (PacketType::PubAck, 0x40, Packet::PubAck),
        (PacketType::PubRec, 0x50, Packet::PubRec),
        (PacketType::PubRel, 0x62, Packet::PubRel),
        (PacketType::PubComp, 0x70, Packet::PubComp),
    ];

    #[test]
    fn roundtrip_and_truncations() {
        for (_, first, make) in ACKS {
            assert_roundtrip(&make(Ack::new(pkid(0x1234))), &[first, 0x02, 0x12, 0x34]);
            assert_roundtrip(&make(Ack::new(pkid(u16::MAX))), &[first, 0x02, 0xFF, 0xFF]);
        }
    }

    #[test]
    fn zero_packet_id_mqtt_2_3_1_1() {
        for (packet_type, first, _) in ACKS {
            assert_eq!(
                decode_err(&[first, 0x02, 0x00, 0x00], None),
                CodecError::ZeroPacketId(packet_type)
            );
        }
    }

    #[test]
    fn reserved_flags_mqtt_2_2_2_2() {
        for (packet_type, first, _) in ACKS {
            for flags in (0..16u8).filter(|f| Some(*f) != packet_type.required_flags()) {
                let first = (first & 0xF0) | flags;
                assert_eq!(
                    decode_err(&[first, 0x02, 0x00, 0x01], None),
                    CodecError::InvalidHeaderFlags { packet_type, flags },
                );
            }
        }
    }

    #[test]
    fn remaining_length_must_be_2() {
        for (packet_type, first, _) in ACKS {
            for (len, bytes) in [
                (0, vec![first, 0x00]),
                (3, vec![first, 0x03, 0, 1, 0]),
                (1, vec![first, 0x01, 1]),
            ] {
                let expected = CodecError::UnexpectedRemainingLength {
                    packet_type,
                    expected: 2,
                    actual: len,
                };
                assert_eq!(decode_err(&bytes, None), expected);
            }
        }
    }

    #[test]
    fn mqtt_3_1_pubrel_needs_qos_1_and_may_have_dup() {
        let v31 = Some(ProtocolLevel::V31);
        assert_eq!(
            decode_ok(&[0x6A, 0x02, 0x00, 0x07], v31),
            Packet::PubRel(Ack::new(pkid(7)))
        );
        assert_eq!(
            decode_err(&[0x60, 0x02, 0x00, 0x07], v31),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::PubRel,
                flags: 0
            }
        );
        // 3.1 calls the flags of PUBACK "not used".
        assert_eq!(
            decode_ok(&[0x4F, 0x02, 0x00, 0x07], v31),
            Packet::PubAck(Ack::new(pkid(7)))
        );
        assert!(decode_err(&[0x6A, 0x02, 0x00, 0x07], Some(ProtocolLevel::V311))
            .to_string()
            .contains("PUBREL"));
    }
}
