//! UNSUBACK (MQTT 3.1.1 section 3.11, MQTT 5 section 3.11): the packet id of the UNSUBSCRIBE
//! it answers; in MQTT 5 also properties and one reason code per filter, in order
//! [MQTT-3.11.3-1], each from the UNSUBACK table [MQTT-3.11.3-2].
//!
//! `peek_header` has already checked the flags (0) and, below MQTT 5, the remaining length
//! (exactly 2).

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType, ProtocolLevel};
use super::properties::{self, Properties, PropertiesOf};
use super::reason::ReasonCode;
use super::wire::Reader;

/// Remaining length of a 3.1/3.1.1 UNSUBACK: the packet id.
pub(crate) const LEN: usize = 2;

/// The answer to an UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The UNSUBSCRIBE's packet id [MQTT-3.10.4-4].
    pub pkid: PacketId,
    /// MQTT 5 only: one code per filter of the UNSUBSCRIBE, in order [MQTT-3.11.3-1], never
    /// empty when written to an MQTT 5 client; empty on 3.1/3.1.1, which carry none.
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

    pub(crate) fn decode(mut r: Reader, level: Option<ProtocolLevel>) -> Result<UnsubAck, CodecError> {
        let pkid = r.packet_id(PacketType::UnsubAck)?;
        if level != Some(ProtocolLevel::V5) {
            r.finish(PacketType::UnsubAck)?;
            return Ok(UnsubAck::new(pkid));
        }
        let properties = Properties::decode(&mut r, PropertiesOf::Packet(PacketType::UnsubAck))?;
        let mut reasons = Vec::new();
        while !r.is_empty() {
            reasons.push(r.reason_code(PacketType::UnsubAck)?);
        }
        if reasons.is_empty() {
            return Err(CodecError::EmptyPayload(PacketType::UnsubAck));
        }
        Ok(UnsubAck {
            pkid,
            reasons,
            properties,
        })
    }

    pub(crate) fn encode(&self, level: ProtocolLevel, buf: &mut BytesMut) {
        buf.put_u16(self.pkid.get());
        if level == ProtocolLevel::V5 {
            debug_assert!(
                !self.reasons.is_empty(),
                "an MQTT 5 UNSUBACK has a reason code per filter [MQTT-3.11.3-1]"
            );
            let of = PropertiesOf::Packet(PacketType::UnsubAck);
            properties::encode(self.properties.as_deref(), of, buf);
            for reason in &self.reasons {
                buf.put_u8(reason.get());
            }
        }
    }

    pub(crate) fn len(&self, level: ProtocolLevel) -> usize {
        match level {
            ProtocolLevel::V5 => 2 + properties::encoded_len(self.properties.as_deref()) + self.reasons.len(),
            ProtocolLevel::V31 | ProtocolLevel::V311 => LEN,
        }
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

    #[test]
    fn v5_reason_code_per_filter_mqtt_3_11_3_1() {
        let unsuback = Packet::UnsubAck(UnsubAck {
            pkid: pkid(4),
            reasons: vec![
                ReasonCode::SUCCESS,
                ReasonCode::NO_SUBSCRIPTION_EXISTED,
                ReasonCode::NOT_AUTHORIZED,
            ],
            properties: None,
        });
        assert_roundtrip_at(&unsuback, &[0xB0, 0x06, 0x00, 0x04, 0x00, 0x00, 0x11, 0x87], V5);
        assert_eq!(
            encode_vec_at(&unsuback, ProtocolLevel::V311),
            [0xB0, 0x02, 0x00, 0x04]
        );
        let with_props = Packet::UnsubAck(UnsubAck {
            pkid: pkid(4),
            reasons: vec![ReasonCode::SUCCESS],
            properties: props(|p| p.user_properties = vec![("k".into(), "v".into())]),
        });
        assert_roundtrip_at(&with_props, &[], V5);
    }

    #[test]
    fn v5_invalid_codes_and_empty_payload_mqtt_3_11_3_2() {
        for code in [0x01, 0x02, 0x10, 0x81, 0x92, 0x9E] {
            assert_eq!(
                decode_err(&[0xB0, 0x04, 0x00, 0x01, 0x00, code], V5),
                CodecError::InvalidReasonCode {
                    packet_type: PacketType::UnsubAck,
                    code
                }
            );
        }
        assert_eq!(
            decode_err(&[0xB0, 0x03, 0x00, 0x01, 0x00], V5),
            CodecError::EmptyPayload(PacketType::UnsubAck)
        );
        // In MQTT 5 the length is not fixed, so a 2-byte UNSUBACK lacks its property length.
        assert!(matches!(
            decode_err(&[0xB0, 0x02, 0x00, 0x01], V5),
            CodecError::Truncated {
                field: "property length",
                ..
            }
        ));
    }
}
