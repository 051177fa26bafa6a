//! AUTH (MQTT 5 section 3.15): one step of enhanced authentication, either way, after the
//! CONNECT or to re-authenticate. MQTT 5 only: `peek_header` refuses packet type 15 below
//! level 5, so this file only ever sees MQTT 5 bodies.
//!
//! Same body as an MQTT 5 DISCONNECT: nothing for a bare success, a reason code (0x00, 0x18
//! continue or 0x19 re-authenticate), then properties. Every AUTH but the bare success names
//! its Authentication Method (section 3.15.2.2.2), so one without is a protocol error. That
//! the method is the CONNECT's, and that AUTH only follows a CONNECT that had one, are rules
//! about the connection, not this packet.

use bytes::BytesMut;

use super::disconnect::{
    decode_reason_and_properties, encode_reason_and_properties, reason_and_properties_len,
};
use super::error::CodecError;
use super::fields::{PacketType, ProtocolLevel};
use super::properties::Properties;
use super::reason::ReasonCode;
use super::wire::Reader;

/// The body of an AUTH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// 0x00 success, 0x18 continue authentication or 0x19 re-authenticate [MQTT-3.15.2-1].
    pub reason: ReasonCode,
    /// Authentication method and data, reason string, user properties.
    pub properties: Option<Box<Properties>>,
}

impl Auth {
    pub(crate) fn decode(r: Reader) -> Result<Auth, CodecError> {
        let (reason, properties) =
            decode_reason_and_properties(r, PacketType::Auth, Some(ProtocolLevel::V5))?;
        let bare_success = reason == ReasonCode::SUCCESS && properties.is_none();
        let has_method = properties
            .as_ref()
            .is_some_and(|p| p.authentication_method.is_some());
        if !bare_success && !has_method {
            return Err(CodecError::AuthWithoutMethod);
        }
        Ok(Auth { reason, properties })
    }

    /// Written in its MQTT 5 form whatever the level: no other level has AUTH, and the
    /// protocol layer never sends one to a 3.1/3.1.1 client.
    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        encode_reason_and_properties(
            self.reason,
            self.properties.as_deref(),
            PacketType::Auth,
            ProtocolLevel::V5,
            buf,
        );
    }

    pub(crate) fn len(&self) -> usize {
        reason_and_properties_len(self.reason, self.properties.as_deref(), ProtocolLevel::V5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::corpus::frame;
    use crate::codec::test_support::{assert_roundtrip_at, decode_err, props};
    use crate::codec::{Packet, PropertiesOf, PropertyId};

    const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

    fn auth(reason: ReasonCode, properties: Option<Box<Properties>>) -> Packet {
        Packet::Auth(Auth { reason, properties })
    }

    fn with_method(method: &str) -> Option<Box<Properties>> {
        props(|p| p.authentication_method = Some(method.into()))
    }

    #[test]
    fn roundtrip_short_and_full_forms_mqtt_3_15_2_1() {
        assert_roundtrip_at(&auth(ReasonCode::SUCCESS, None), &[0xF0, 0x00], V5);
        assert_roundtrip_at(
            &auth(ReasonCode::CONTINUE_AUTHENTICATION, with_method("SCRAM")),
            &[
                0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M',
            ],
            V5,
        );
        let mut full = with_method("m");
        if let Some(p) = full.as_mut() {
            p.authentication_data = Some(bytes::Bytes::from_static(b"\x00\x01"));
            p.reason_string = Some("more".into());
            p.user_properties = vec![("k".into(), "v".into()), ("k".into(), "w".into())];
        }
        assert_roundtrip_at(&auth(ReasonCode::RE_AUTHENTICATE, full), &[], V5);
        // A success with only a reason code byte reads as the bare success.
        assert_eq!(
            crate::codec::test_support::decode_ok(&[0xF0, 0x01, 0x00], V5),
            auth(ReasonCode::SUCCESS, None)
        );
    }

    #[test]
    fn auth_needs_mqtt_5() {
        for level in [None, Some(ProtocolLevel::V31), Some(ProtocolLevel::V311)] {
            assert_eq!(
                decode_err(&[0xF0, 0x00], level),
                CodecError::InvalidPacketType(15)
            );
        }
    }

    #[test]
    fn reserved_flags_mqtt_3_15_1_1() {
        assert_eq!(
            decode_err(&[0xF1, 0x00], V5),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::Auth,
                flags: 1
            }
        );
    }

    #[test]
    fn reason_codes_mqtt_3_15_2_1() {
        for code in [0x01, 0x04, 0x80, 0x87, 0x8C] {
            assert_eq!(
                decode_err(&[0xF0, 0x02, code, 0x00], V5),
                CodecError::InvalidReasonCode {
                    packet_type: PacketType::Auth,
                    code
                }
            );
        }
    }

    #[test]
    fn authentication_method_is_required_3_15_2_2_2() {
        assert_eq!(decode_err(&[0xF0, 0x01, 0x18], V5), CodecError::AuthWithoutMethod);
        assert_eq!(
            decode_err(&[0xF0, 0x02, 0x19, 0x00], V5),
            CodecError::AuthWithoutMethod
        );
        // Data without a method is refused as such.
        assert_eq!(
            decode_err(&frame(0xF0, &[0x18, 0x04, 0x16, 0x00, 0x01, 0xAA]), V5),
            CodecError::AuthDataWithoutMethod(PropertiesOf::Packet(PacketType::Auth))
        );
        assert_eq!(
            decode_err(&frame(0xF0, &[0x18, 0x02, 0x24, 0x01]), V5),
            CodecError::PropertyNotAllowed {
                property: PropertyId::MaximumQos,
                of: PropertiesOf::Packet(PacketType::Auth)
            }
        );
    }

    #[test]
    fn trailing_bytes_after_properties() {
        assert_eq!(
            decode_err(&[0xF0, 0x03, 0x18, 0x00, 0x00], V5),
            CodecError::TrailingBytes {
                packet_type: PacketType::Auth,
                count: 1
            }
        );
    }
}
