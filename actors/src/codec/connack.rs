//! CONNACK (MQTT 3.1.1 section 3.2, MQTT 5 section 3.2): the broker's answer to CONNECT.
//!
//! Below MQTT 5 the body is always two bytes, which `peek_header` checks before this file
//! sees it. MQTT 3.1 leaves the first byte unused, so on a 3.1 connection it is ignored on
//! decode and `session_present` is false; the broker must not set it for a 3.1 client. In
//! MQTT 5 a reason code from the CONNACK table replaces the return code and properties
//! follow (the property length is always there).

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketType, ProtocolLevel};
use super::properties::{self, Properties, PropertiesOf};
use super::return_code::ConnectReturnCode;
use super::wire::Reader;

/// The broker's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// The broker resumed a stored session [MQTT-3.2.2-2]; always false on a refusal
    /// [MQTT-3.2.2-4] and for a 3.1 client.
    pub session_present: bool,
    /// Accepted, or why not.
    pub code: ConnectReturnCode,
    /// MQTT 5 only: what the server grants and supports (receive maximum, maximum packet
    /// size, assigned client id...).
    pub properties: Option<Box<Properties>>,
}

const SESSION_PRESENT: u8 = 0x01;

impl ConnAck {
    pub(crate) fn decode(mut r: Reader, level: Option<ProtocolLevel>) -> Result<ConnAck, CodecError> {
        let flags = r.u8("acknowledge flags")?;
        if level == Some(ProtocolLevel::V5) {
            return Self::decode_v5(flags, r);
        }
        let code_byte = r.u8("return code")?;
        r.finish(PacketType::ConnAck)?;
        let code =
            ConnectReturnCode::from_u8(code_byte).ok_or(CodecError::InvalidConnectReturnCode(code_byte))?;
        if level == Some(ProtocolLevel::V31) {
            return Ok(ConnAck {
                session_present: false,
                code,
                properties: None,
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
            properties: None,
        })
    }

    /// Reserved flag bits [MQTT-3.2.2-1], a reason code of the CONNACK table [MQTT-3.2.2-8],
    /// no session on a refusal [MQTT-3.2.2-6], properties.
    fn decode_v5(flags: u8, mut r: Reader) -> Result<ConnAck, CodecError> {
        if flags & !SESSION_PRESENT != 0 {
            return Err(CodecError::ConnAckReservedFlags(flags));
        }
        let reason = r.reason_code(PacketType::ConnAck)?;
        // Cannot fail: every code of the CONNACK table has its variant (a test checks).
        let code = ConnectReturnCode::from_reason_code(reason).ok_or(CodecError::InvalidReasonCode {
            packet_type: PacketType::ConnAck,
            code: reason.get(),
        })?;
        let session_present = flags & SESSION_PRESENT != 0;
        if session_present && !code.is_accepted() {
            return Err(CodecError::SessionPresentOnRefusal(code));
        }
        let properties = Properties::decode(&mut r, PropertiesOf::Packet(PacketType::ConnAck))?;
        r.finish(PacketType::ConnAck)?;
        Ok(ConnAck {
            session_present,
            code,
            properties,
        })
    }

    pub(crate) fn encode(&self, level: ProtocolLevel, buf: &mut BytesMut) {
        buf.put_u8(if self.session_present { SESSION_PRESENT } else { 0 });
        if level == ProtocolLevel::V5 {
            buf.put_u8(self.code.reason_code().get());
            properties::encode(
                self.properties.as_deref(),
                PropertiesOf::Packet(PacketType::ConnAck),
                buf,
            );
        } else {
            buf.put_u8(self.code.v3_code());
        }
    }

    pub(crate) fn len(&self, level: ProtocolLevel) -> usize {
        match level {
            ProtocolLevel::V5 => 2 + properties::encoded_len(self.properties.as_deref()),
            ProtocolLevel::V31 | ProtocolLevel::V311 => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{
        assert_roundtrip, assert_roundtrip_at, decode_err, decode_ok, encode_vec_at, props,
    };
    use crate::codec::{Packet, PacketType, PropertyId, QoS, ReasonCode};

    const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

    fn connack(session_present: bool, code: ConnectReturnCode) -> Packet {
        Packet::ConnAck(ConnAck {
            session_present,
            code,
            properties: None,
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
            assert_eq!(
                ConnectReturnCode::from_u8(byte).map(ConnectReturnCode::v3_code),
                Some(byte)
            );
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

    #[test]
    fn v5_roundtrip_with_server_properties() {
        assert_roundtrip_at(
            &connack(true, ConnectReturnCode::Accepted),
            &[0x20, 0x03, 0x01, 0x00, 0x00],
            V5,
        );
        let packet = Packet::ConnAck(ConnAck {
            session_present: false,
            code: ConnectReturnCode::Accepted,
            properties: props(|p| {
                p.receive_maximum = Some(10);
                p.maximum_qos = Some(QoS::AtLeastOnce);
                p.assigned_client_identifier = Some("auto".into());
                p.topic_alias_maximum = Some(5);
                p.maximum_packet_size = Some(1 << 20);
                p.retain_available = Some(true);
                p.wildcard_subscription_available = Some(true);
                p.subscription_identifier_available = Some(true);
                p.shared_subscription_available = Some(false);
                p.server_keep_alive = Some(30);
            }),
        });
        assert_roundtrip_at(&packet, &[], V5);
        // Written to a 3.1.1 client: flags and return code only.
        assert_eq!(
            encode_vec_at(&packet, ProtocolLevel::V311),
            [0x20, 0x02, 0x00, 0x00]
        );
    }

    #[test]
    fn v5_codes_are_written_per_level() {
        let refusal = connack(false, ConnectReturnCode::IdentifierRejected);
        assert_eq!(
            encode_vec_at(&refusal, ProtocolLevel::V5),
            [0x20, 0x03, 0x00, 0x85, 0x00]
        );
        assert_eq!(
            encode_vec_at(&refusal, ProtocolLevel::V311),
            [0x20, 0x02, 0x00, 0x02]
        );
        let banned = connack(false, ConnectReturnCode::Banned);
        assert_eq!(
            encode_vec_at(&banned, ProtocolLevel::V5),
            [0x20, 0x03, 0x00, 0x8A, 0x00]
        );
        assert_eq!(
            encode_vec_at(&banned, ProtocolLevel::V31),
            [0x20, 0x02, 0x00, 0x05]
        );
        for code in 0..=u8::MAX {
            let bytes = [0x20, 0x03, 0x00, code, 0x00];
            match ConnectReturnCode::from_reason_code(ReasonCode(code)) {
                Some(expected) => assert_eq!(decode_ok(&bytes, V5), connack(false, expected)),
                None => assert_eq!(
                    decode_err(&bytes, V5),
                    CodecError::InvalidReasonCode {
                        packet_type: PacketType::ConnAck,
                        code
                    }
                ),
            }
        }
    }

    #[test]
    fn v5_flags_and_session_present_mqtt_3_2_2_1_and_3_2_2_6() {
        assert_eq!(
            decode_err(&[0x20, 0x03, 0x02, 0x00, 0x00], V5),
            CodecError::ConnAckReservedFlags(2)
        );
        assert_eq!(
            decode_err(&[0x20, 0x03, 0x01, 0x87, 0x00], V5),
            CodecError::SessionPresentOnRefusal(ConnectReturnCode::NotAuthorized)
        );
    }

    #[test]
    fn v5_property_length_is_required() {
        assert!(matches!(
            decode_err(&[0x20, 0x02, 0x00, 0x00], V5),
            CodecError::Truncated {
                field: "property length",
                ..
            }
        ));
        assert_eq!(
            decode_err(&[0x20, 0x05, 0x00, 0x00, 0x02, 0x23, 0x01], V5),
            CodecError::PropertyNotAllowed {
                property: PropertyId::TopicAlias,
                of: crate::codec::PropertiesOf::Packet(PacketType::ConnAck)
            }
        );
    }
}
