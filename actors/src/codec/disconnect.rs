//! DISCONNECT (MQTT 3.1.1 section 3.14): the client's clean goodbye, no body.
//!
//! `peek_header` has already checked the flags (0) and the remaining length (0). What a
//! DISCONNECT means (discard the will [MQTT-3.14.4-3], close) is the connection's business.

use super::error::CodecError;
use super::fields::PacketType;
use super::properties::Properties;
use super::reason::ReasonCode;
use super::wire::Reader;

/// Remaining length of DISCONNECT.
pub(crate) const LEN: usize = 0;

/// The body of a DISCONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disconnect {
    /// MQTT 5 only: why; [`ReasonCode::NORMAL_DISCONNECTION`] on 3.1/3.1.1, which carry none
    /// (there a DISCONNECT always discards the will).
    pub reason: ReasonCode,
    /// MQTT 5 only: session expiry interval, reason string, server reference, user properties.
    pub properties: Option<Box<Properties>>,
}

impl Disconnect {
    /// A normal disconnection without properties: the only DISCONNECT of 3.1/3.1.1.
    pub const NORMAL: Disconnect = Disconnect {
        reason: ReasonCode::NORMAL_DISCONNECTION,
        properties: None,
    };

    pub(crate) fn decode(r: Reader) -> Result<Disconnect, CodecError> {
        r.finish(PacketType::Disconnect)?;
        Ok(Disconnect::NORMAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_roundtrip, decode_err};
    use crate::codec::Packet;

    #[test]
    fn roundtrip_and_truncations() {
        assert_roundtrip(&Packet::Disconnect(Disconnect::NORMAL), &[0xE0, 0x00]);
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
