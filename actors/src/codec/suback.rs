//! SUBACK (MQTT 3.1.1 section 3.9, MQTT 5 section 3.9): one return code per filter of the
//! SUBSCRIBE it answers, in the same order [MQTT-3.8.4-5]; in MQTT 5, properties first.
//!
//! MQTT 3.1 has no failure code, so 0x80 is refused on a 3.1 connection; the broker must not
//! send it to a 3.1 client (it closes the connection instead). MQTT 5 has a reason code per
//! filter, from the SUBACK table [MQTT-3.9.3-2]: 0x00 to 0x02 grant a QoS, the others refuse.

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType, ProtocolLevel, QoS};
use super::properties::{self, Properties, PropertiesOf};
use super::reason::ReasonCode;
use super::wire::Reader;

/// The answer to one filter of a SUBSCRIBE [MQTT-3.9.3-1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubackCode {
    /// Subscribed, with this maximum QoS (possibly below the one requested).
    Success(QoS),
    /// Refused, and why: the MQTT 5 reason code (0x80 or above), written as the one failure
    /// code 0x80 on 3.1.1, which has no other. A 3.1.1 failure decodes as
    /// [`SubackCode::FAILURE`].
    Failure(ReasonCode),
}

const FAILURE: u8 = 0x80;

impl SubackCode {
    /// A refusal without a more precise reason: 0x80 at every level.
    pub const FAILURE: SubackCode = SubackCode::Failure(ReasonCode::UNSPECIFIED_ERROR);

    /// The byte on the wire of 3.1.1 (and of 3.1 for a success).
    pub const fn as_u8(self) -> u8 {
        match self {
            SubackCode::Success(qos) => qos.as_u8(),
            SubackCode::Failure(_) => FAILURE,
        }
    }

    /// The MQTT 5 reason code: the granted QoS, or the failure's code.
    pub const fn reason_code(self) -> ReasonCode {
        match self {
            SubackCode::Success(qos) => ReasonCode(qos.as_u8()),
            SubackCode::Failure(code) => code,
        }
    }
}

/// The answer to a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The SUBSCRIBE's packet id [MQTT-3.8.4-2].
    pub pkid: PacketId,
    /// One code per requested filter, in order; never empty when decoded.
    pub return_codes: Vec<SubackCode>,
    /// MQTT 5 only: reason string and user properties.
    pub properties: Option<Box<Properties>>,
}

impl SubAck {
    pub(crate) fn decode(mut r: Reader, level: Option<ProtocolLevel>) -> Result<SubAck, CodecError> {
        let pkid = r.packet_id(PacketType::SubAck)?;
        let v5 = level == Some(ProtocolLevel::V5);
        let properties = if v5 {
            Properties::decode(&mut r, PropertiesOf::Packet(PacketType::SubAck))?
        } else {
            None
        };
        let mut return_codes = Vec::new();
        while !r.is_empty() {
            if v5 {
                let reason = r.reason_code(PacketType::SubAck)?;
                return_codes.push(match QoS::from_u8(reason.get()) {
                    Some(qos) => SubackCode::Success(qos),
                    None => SubackCode::Failure(reason),
                });
                continue;
            }
            let byte = r.u8("return code")?;
            let code = match (byte, level) {
                (FAILURE, Some(ProtocolLevel::V31)) => None,
                (FAILURE, _) => Some(SubackCode::FAILURE),
                _ => QoS::from_u8(byte).map(SubackCode::Success),
            };
            return_codes.push(code.ok_or(CodecError::InvalidSubackCode(byte))?);
        }
        if return_codes.is_empty() {
            return Err(CodecError::EmptyPayload(PacketType::SubAck));
        }
        Ok(SubAck {
            pkid,
            return_codes,
            properties,
        })
    }

    pub(crate) fn encode(&self, level: ProtocolLevel, buf: &mut BytesMut) {
        buf.put_u16(self.pkid.get());
        if level == ProtocolLevel::V5 {
            let of = PropertiesOf::Packet(PacketType::SubAck);
            properties::encode(self.properties.as_deref(), of, buf);
            for code in &self.return_codes {
                debug_assert!(
                    code.reason_code().is_valid_for(PacketType::SubAck),
                    "{code:?} in SUBACK"
                );
                buf.put_u8(code.reason_code().get());
            }
        } else {
            for code in &self.return_codes {
                buf.put_u8(code.as_u8());
            }
        }
    }

    pub(crate) fn len(&self, level: ProtocolLevel) -> usize {
        let properties = match level {
            ProtocolLevel::V5 => properties::encoded_len(self.properties.as_deref()),
            ProtocolLevel::V31 | ProtocolLevel::V311 => 0,
        };
        2 + properties + self.return_codes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{
        assert_roundtrip, assert_roundtrip_at, decode_err, encode_vec_at, pkid, props,
    };
    use crate::codec::Packet;

    const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

    #[test]
    fn roundtrip_and_truncations() {
        let suback = SubAck {
            pkid: pkid(0x0102),
            return_codes: vec![
                SubackCode::Success(QoS::AtMostOnce),
                SubackCode::Success(QoS::AtLeastOnce),
                SubackCode::Success(QoS::ExactlyOnce),
                SubackCode::FAILURE,
            ],
            properties: None,
        };
        assert_roundtrip(
            &Packet::SubAck(suback),
            &[0x90, 0x06, 0x01, 0x02, 0x00, 0x01, 0x02, 0x80],
        );
    }

    #[test]
    fn invalid_return_codes() {
        for code in [0x03, 0x81, 0x40, 0xFF] {
            assert_eq!(
                decode_err(&[0x90, 0x03, 0x00, 0x01, code], None),
                CodecError::InvalidSubackCode(code)
            );
        }
        // MQTT 3.1 has no failure code.
        assert_eq!(
            decode_err(&[0x90, 0x03, 0x00, 0x01, 0x80], Some(ProtocolLevel::V31)),
            CodecError::InvalidSubackCode(0x80)
        );
    }

    #[test]
    fn no_return_codes() {
        assert_eq!(
            decode_err(&[0x90, 0x02, 0x00, 0x01], None),
            CodecError::EmptyPayload(PacketType::SubAck)
        );
    }

    #[test]
    fn zero_packet_id_mqtt_2_3_1_1() {
        assert_eq!(
            decode_err(&[0x90, 0x03, 0x00, 0x00, 0x00], None),
            CodecError::ZeroPacketId(PacketType::SubAck)
        );
    }

    #[test]
    fn reserved_flags_mqtt_2_2_2_2() {
        assert_eq!(
            decode_err(&[0x92, 0x03, 0x00, 0x01, 0x00], None),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::SubAck,
                flags: 2
            }
        );
    }

    #[test]
    fn v5_reason_code_per_filter_mqtt_3_9_3_2() {
        let suback = Packet::SubAck(SubAck {
            pkid: pkid(3),
            return_codes: vec![
                SubackCode::Success(QoS::ExactlyOnce),
                SubackCode::Failure(ReasonCode::NOT_AUTHORIZED),
                SubackCode::Failure(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED),
                SubackCode::FAILURE,
            ],
            properties: props(|p| p.reason_string = Some("acl".into())),
        });
        assert_roundtrip_at(
            &suback,
            &[
                0x90, 0x0D, 0x00, 0x03, 0x06, 0x1F, 0x00, 0x03, b'a', b'c', b'l', 0x02, 0x87, 0x9E, 0x80,
            ],
            V5,
        );
        // A 3.1.1 client reads every refusal as 0x80, and no properties.
        assert_eq!(
            encode_vec_at(&suback, ProtocolLevel::V311),
            [0x90, 0x06, 0x00, 0x03, 0x02, 0x80, 0x80, 0x80]
        );
    }

    #[test]
    fn v5_invalid_codes_and_empty_payload() {
        for code in [0x03, 0x04, 0x10, 0x81, 0x82, 0x84, 0x92, 0xFF] {
            assert_eq!(
                decode_err(&[0x90, 0x04, 0x00, 0x01, 0x00, code], V5),
                CodecError::InvalidReasonCode {
                    packet_type: PacketType::SubAck,
                    code
                }
            );
        }
        assert_eq!(
            decode_err(&[0x90, 0x03, 0x00, 0x01, 0x00], V5),
            CodecError::EmptyPayload(PacketType::SubAck)
        );
    }
}
