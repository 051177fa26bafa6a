//! DISCONNECT (MQTT 3.1.1 section 3.14): the client's clean goodbye, no body.
//!
//! `peek_header` has already checked the flags (0) and the remaining length (0). What a
//! DISCONNECT means (discard the will [MQTT-3.14.4-3], close) is the connection's business.

use super::error::CodecError;
use super::fields::PacketType;
use super::wire::Reader;

/// Remaining length of DISCONNECT.
pub(crate) const LEN: usize = 0;

pub(crate) fn decode(r: Reader) -> Result<(), CodecError> {
    r.finish(PacketType::Disconnect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_roundtrip, decode_err};
    use crate::codec::Packet;

    #[test]
    fn roundtrip_and_truncations() {
        assert_roundtrip(&Packet::Disconnect, &[0xE0, 0x00]);
    }

    #[test]
    fn body_is_refused_from_the_header() {
        assert_eq!(
            decode_err(&[0xE0, 0x7F], None),
            CodecError::UnexpectedRemainingLength {
                packet_type: PacketType::Disconnect,
                expected: 0,
                actual: 127
            }
        );
    }

    #[test]
    fn reserved_flags_mqtt_2_2_2_2() {
        assert_eq!(
            decode_err(&[0xE2, 0x00], None),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::Disconnect,
                flags: 2
            }
        );
    }
}
