//! CONNACK (MQTT 3.1.1 section 3.2): the broker's answer to CONNECT.
//!
//! The body is always two bytes, which `peek_header` checks before this file sees it. MQTT
//! 3.1 leaves the first byte unused, so on a 3.1 connection it is ignored on decode and
//! `session_present` is false; the broker must not set it for a 3.1 client.

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::ProtocolLevel;
use super::wire::Reader;

/// The connect return code [MQTT-3.2.2-5].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectReturnCode {
    /// 0x00: connection accepted.
    Accepted = 0,
    /// 0x01: the server does not support the protocol name or level [MQTT-3.1.2-2].
    UnacceptableProtocolVersion = 1,
    /// 0x02: the client id is valid UTF-8 but not allowed [MQTT-3.1.3-9].
    IdentifierRejected = 2,
    /// 0x03: the MQTT service is unavailable.
    ServerUnavailable = 3,
    /// 0x04: the user name or password is malformed.
    BadUsernameOrPassword = 4,
    /// 0x05: the client is not authorized to connect.
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// The code for a wire byte, or `None` above 5.
    pub const fn from_u8(code: u8) -> Option<ConnectReturnCode> {
        Some(match code {
            0 => ConnectReturnCode::Accepted,
            1 => ConnectReturnCode::UnacceptableProtocolVersion,
            2 => ConnectReturnCode::IdentifierRejected,
            3 => ConnectReturnCode::ServerUnavailable,
            4 => ConnectReturnCode::BadUsernameOrPassword,
            5 => ConnectReturnCode::NotAuthorized,
            _ => return None,
        })
    }
}

/// The broker's answer to CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck {
    /// The broker resumed a stored session [MQTT-3.2.2-2]; always false on a refusal
    /// [MQTT-3.2.2-4] and for a 3.1 client.
    pub session_present: bool,
    /// Accepted, or why not.
    pub code: ConnectReturnCode,
}

const SESSION_PRESENT: u8 = 0x01;

impl ConnAck {
    pub(crate) fn decode(mut r: Reader, level: Option<ProtocolLevel>) -> Result<ConnAck, CodecError> {
        let flags = r.u8("acknowledge flags")?;
        let code_byte = r.u8("return code")?;
        r.finish(super::PacketType::ConnAck)?;
        let code =
            ConnectReturnCode::from_u8(code_byte).ok_or(CodecError::InvalidConnectReturnCode(code_byte))?;
        if level == Some(ProtocolLevel::V31) {
            return Ok(ConnAck {
                session_present: false,
                code,
            });
        }
        if flags & !SESSION_PRESENT != 0 {
            return Err(CodecError::ConnAckReservedFlags(flags));
        }
        let session_present = flags & SESSION_PRESENT != 0;
        if session_present && code != ConnectReturnCode::Accepted {
            return Err(CodecError::SessionPresentOnRefusal(code));
        }
        Ok(ConnAck {
            session_present,
            code,
        })
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(if self.session_present { SESSION_PRESENT } else { 0 });
        buf.put_u8(self.code as u8);
    }

    pub(crate) fn len(&self) -> usize {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_roundtrip, decode_err, decode_ok};
    use crate::codec::{Packet, PacketType};

    fn connack(session_present: bool, code: ConnectReturnCode) -> Packet {
        Packet::ConnAck(ConnAck {
            session_present,
            code,
        })
    }

    #[test]
    fn roundtrip_and_truncations() {
        assert_roundtrip(
            &connack(true, ConnectReturnCode::Accepted),
            &[0x20, 0x02, 0x01, 0x00],
        );
        assert_roundtrip(
            &connack(false, ConnectReturnCode::NotAuthorized),
            &[0x20, 0x02, 0x00, 0x05],
        );
        for byte in 0..=5u8 {
            assert_eq!(ConnectReturnCode::from_u8(byte).map(|c| c as u8), Some(byte));
        }
    }

    #[test]
    fn invalid_return_code() {
        assert_eq!(
            decode_err(&[0x20, 0x02, 0x00, 0x06], None),
            CodecError::InvalidConnectReturnCode(6)
        );
    }

    #[test]
    fn reserved_ack_flags_3_2_2_1() {
        assert_eq!(
            decode_err(&[0x20, 0x02, 0x02, 0x00], None),
            CodecError::ConnAckReservedFlags(2)
        );
    }

    #[test]
    fn session_present_on_refusal_mqtt_3_2_2_4() {
        assert_eq!(
            decode_err(&[0x20, 0x02, 0x01, 0x04], None),
            CodecError::SessionPresentOnRefusal(ConnectReturnCode::BadUsernameOrPassword)
        );
    }

    #[test]
    fn mqtt_3_1_ignores_the_unused_first_byte() {
        let level = Some(ProtocolLevel::V31);
        assert_eq!(
            decode_ok(&[0x20, 0x02, 0xFF, 0x00], level),
            connack(false, ConnectReturnCode::Accepted)
        );
    }

    #[test]
    fn wrong_remaining_length() {
        assert_eq!(
            decode_err(&[0x20, 0x03, 0x00, 0x00, 0x00], None),
            CodecError::UnexpectedRemainingLength {
                packet_type: PacketType::ConnAck,
                expected: 2,
                actual: 3
            }
        );
    }

    #[test]
    fn reserved_header_flags() {
        assert_eq!(
            decode_err(&[0x21, 0x02, 0x00, 0x00], None),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::ConnAck,
                flags: 1
            }
        );
    }
}
