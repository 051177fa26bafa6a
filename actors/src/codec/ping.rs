//! PINGREQ and PINGRESP (MQTT 3.1.1 sections 3.12 and 3.13): keepalive, no body.
//!
//! `peek_header` has already checked the flags (0) and the remaining length (0), so a
//! PINGREQ declaring a body is refused from its header, before the body is read.

use super::error::CodecError;
use super::fields::PacketType;
use super::wire::Reader;

/// Remaining length of PINGREQ and PINGRESP.
pub(crate) const LEN: usize = 0;

pub(crate) fn decode(r: Reader, packet_type: PacketType) -> Result<(), CodecError> {
    r.finish(packet_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_roundtrip, decode_err};
    use crate::codec::Packet;

    #[test]
    fn roundtrip_and_truncations() {
        assert_roundtrip(&Packet::PingReq, &[0xC0, 0x00]);
        assert_roundtrip(&Packet::PingResp, &[0xD0, 0x00]);
    }

    #[test]
    fn body_is_refused_from_the_header() {
        for (first, packet_type) in [(0xC0, PacketType::PingReq), (0xD0, PacketType::PingResp)] {
            // Only the header is there: the error does not wait for the body.
            assert_eq!(
                decode_err(&[first, 0x01], None),
                CodecError::UnexpectedRemainingLength {
                    packet_type,
                    expected: 0,
                    actual: 1
                }
            );
        }
    }

    #[test]
    fn reserved_flags_mqtt_2_2_2_2() {
        assert_eq!(
            decode_err(&[0xC1, 0x00], None),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::PingReq,
                flags: 1
            }
        );
        assert_eq!(
            decode_err(&[0xD8, 0x00], None),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::PingResp,
                flags: 8
            }
        );
    }
}
