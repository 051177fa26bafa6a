//! DISCONNECT (MQTT 3.1.1 section 3.14, MQTT 5 section 3.14): the client's clean goodbye,
//! with no body below MQTT 5; in MQTT 5 either side's, with a reason code and properties.
//!
//! `peek_header` has already checked the flags (0) and, below MQTT 5, the remaining length
//! (0). In MQTT 5 the reason code and property length may be left out for a normal
//! disconnection without properties (remaining length 0), and the property length alone
//! without properties (remaining length 1) (sections 3.14.2.1 and 3.14.2.2.1). What a
//! DISCONNECT means (discard or publish the will [MQTT-3.14.4-3], close) is the connection's
//! business.

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketType, ProtocolLevel};
use super::properties::{self, Properties, PropertiesOf};
use super::reason::ReasonCode;
use super::wire::Reader;

/// The body of a DISCONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disconnect {
    /// MQTT 5 only: why, one of the DISCONNECT table [MQTT-3.14.2-1];
    /// [`ReasonCode::NORMAL_DISCONNECTION`] on 3.1/3.1.1, which carry none (there a
    /// DISCONNECT always discards the will).
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

    /// A DISCONNECT with `reason` and no properties.
    pub const fn with_reason(reason: ReasonCode) -> Disconnect {
        Disconnect {
            reason,
            properties: None,
        }
    }

    pub(crate) fn decode(r: Reader, level: Option<ProtocolLevel>) -> Result<Disconnect, CodecError> {
        let (reason, properties) = decode_reason_and_properties(r, PacketType::Disconnect, level)?;
        Ok(Disconnect { reason, properties })
    }

    pub(crate) fn encode(&self, level: ProtocolLevel, buf: &mut BytesMut) {
        encode_reason_and_properties(
            self.reason,
            self.properties.as_deref(),
            PacketType::Disconnect,
            level,
            buf,
        );
    }

    pub(crate) fn len(&self, level: ProtocolLevel) -> usize {
        reason_and_properties_len(self.reason, self.properties.as_deref(), level)
    }
}

/// The body DISCONNECT and AUTH share in MQTT 5: nothing (success), a reason code, or a
/// reason code and properties. Below MQTT 5 the body is empty.
pub(crate) fn decode_reason_and_properties(
    mut r: Reader,
    packet_type: PacketType,
    level: Option<ProtocolLevel>,
) -> Result<(ReasonCode, Option<Box<Properties>>), CodecError> {
    if level != Some(ProtocolLevel::V5) || r.is_empty() {
        r.finish(packet_type)?;
        return Ok((ReasonCode::SUCCESS, None));
    }
    let reason = r.reason_code(packet_type)?;
    let properties = if r.is_empty() {
        None
    } else {
        Properties::decode(&mut r, PropertiesOf::Packet(packet_type))?
    };
    r.finish(packet_type)?;
    Ok((reason, properties))
}

/// Writes the shortest form of [`decode_reason_and_properties`]'s body.
pub(crate) fn encode_reason_and_properties(
    reason: ReasonCode,
    props: Option<&Properties>,
    packet_type: PacketType,
    level: ProtocolLevel,
    buf: &mut BytesMut,
) {
    if reason_and_properties_len(reason, props, level) == 0 {
        return;
    }
    buf.put_u8(reason.get());
    if props.is_some() {
        properties::encode(props, PropertiesOf::Packet(packet_type), buf);
    }
}

pub(crate) fn reason_and_properties_len(
    reason: ReasonCode,
    props: Option<&Properties>,
    level: ProtocolLevel,
) -> usize {
    match props {
        _ if level != ProtocolLevel::V5 => 0,
        None if reason == ReasonCode::SUCCESS => 0,
        None => 1,
        Some(_) => 1 + properties::encoded_len(props),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{
        assert_roundtrip, assert_roundtrip_at, decode_err, decode_ok, encode_vec_at, props,
    };
    use crate::codec::{Packet, PropertiesOf, PropertyId};

    const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

    #[test]
    fn roundtrip_and_truncations() {
        assert_roundtrip(&Packet::Disconnect(Disconnect::NORMAL), &[0xE0, 0x00]);
    }

    #[test]
    fn body_is_refused_from_the_header_below_mqtt_5() {
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

    #[test]
    fn v5_short_forms_mqtt_3_14_2_1() {
        assert_roundtrip_at(&Packet::Disconnect(Disconnect::NORMAL), &[0xE0, 0x00], V5);
        let will = Disconnect::with_reason(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
        assert_roundtrip_at(&Packet::Disconnect(will), &[0xE0, 0x01, 0x04], V5);
        assert_eq!(
            decode_ok(&[0xE0, 0x02, 0x00, 0x00], V5),
            Packet::Disconnect(Disconnect::NORMAL)
        );
    }

    #[test]
    fn v5_reason_and_properties() {
        let disconnect = Disconnect {
            reason: ReasonCode::SESSION_TAKEN_OVER,
            properties: props(|p| {
                p.session_expiry_interval = Some(0);
                p.server_reference = Some("b".into());
            }),
        };
        let expected = [0xE0, 0x0B, 0x8E, 0x09, 0x11, 0, 0, 0, 0, 0x1C, 0x00, 0x01, b'b'];
        assert_roundtrip_at(&Packet::Disconnect(disconnect.clone()), &expected, V5);
        // Below MQTT 5 a DISCONNECT has no body, whatever it carries.
        assert_eq!(
            encode_vec_at(&Packet::Disconnect(disconnect), ProtocolLevel::V311),
            [0xE0, 0x00]
        );
    }

    #[test]
    fn v5_reason_codes_mqtt_3_14_2_1() {
        for code in 0..=u8::MAX {
            let bytes = [0xE0, 0x01, code];
            if ReasonCode(code).is_valid_for(PacketType::Disconnect) {
                decode_ok(&bytes, V5);
            } else {
                assert_eq!(
                    decode_err(&bytes, V5),
                    CodecError::InvalidReasonCode {
                        packet_type: PacketType::Disconnect,
                        code
                    }
                );
            }
        }
    }

    #[test]
    fn v5_properties_of_disconnect_only() {
        assert_eq!(
            decode_err(&[0xE0, 0x04, 0x00, 0x02, 0x21, 0x00], V5),
            CodecError::PropertyNotAllowed {
                property: PropertyId::ReceiveMaximum,
                of: PropertiesOf::Packet(PacketType::Disconnect)
            }
        );
        assert_eq!(
            decode_err(&[0xE0, 0x03, 0x00, 0x00, 0x00], V5),
            CodecError::TrailingBytes {
                packet_type: PacketType::Disconnect,
                count: 1
            }
        );
    }
}
