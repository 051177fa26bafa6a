//! UNSUBACK (MQTT 3.1.1 section 3.11): the packet id of the UNSUBSCRIBE it answers.
//!
//! `peek_header` has already checked the flags (0) and the remaining length (exactly 2).

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType};
use super::properties::Properties;
use super::reason::ReasonCode;
use super::wire::Reader;

/// Remaining length of a 3.1/3.1.1 UNSUBACK: the packet id.
pub(crate) const LEN: usize = 2;

/// The answer to an UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The UNSUBSCRIBE's packet id [MQTT-3.10.4-4].
    pub pkid: PacketId,
    /// MQTT 5 only: one code per filter of the UNSUBSCRIBE, in order [MQTT-3.11.3-1]; empty
    /// on 3.1/3.1.1, which carry none.
    pub reasons: Vec<ReasonCode>,
    /// MQTT 5 only: reason string and user properties.
    pub properties: Option<Box<Properties>>,
}

impl UnsubAck {
    /// The 3.1/3.1.1 UNSUBACK: a packet id only.
    pub const fn new(pkid: PacketId) -> UnsubAck {
        UnsubAck {
            pkid,
            reasons: Vec::new(),
            properties: None,
        }
    }

    pub(crate) fn decode(mut r: Reader) -> Result<UnsubAck, CodecError> {
        let pkid = r.packet_id(PacketType::UnsubAck)?;
        r.finish(PacketType::UnsubAck)?;
        Ok(UnsubAck::new(pkid))
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16(self.pkid.get());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_roundtrip, decode_err, pkid};
    use crate::codec::Packet;

    #[test]
    fn roundtrip_and_truncations() {
        assert_roundtrip(
            &Packet::UnsubAck(UnsubAck::new(pkid(0xABCD))),
            &[0xB0, 0x02, 0xAB, 0xCD],
        );
    }

    #[test]
    fn zero_packet_id_mqtt_2_3_1_1() {
        assert_eq!(
            decode_err(&[0xB0, 0x02, 0x00, 0x00], None),
            CodecError::ZeroPacketId(PacketType::UnsubAck)
        );
    }

    #[test]
    fn reserved_flags_mqtt_2_2_2_2() {
        assert_eq!(
            decode_err(&[0xB2, 0x02, 0x00, 0x01], None),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::UnsubAck,
                flags: 2
            }
        );
    }

    #[test]
    fn remaining_length_must_be_2() {
        assert_eq!(
            decode_err(&[0xB0, 0x03, 0x00, 0x01, 0x00], None),
            CodecError::UnexpectedRemainingLength {
                packet_type: PacketType::UnsubAck,
                expected: 2,
                actual: 3
            }
        );
    }
}
