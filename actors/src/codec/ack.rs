//! PUBACK, PUBREC, PUBREL and PUBCOMP (MQTT 3.1.1 sections 3.4 to 3.7, MQTT 5 sections 3.4
//! to 3.7): a packet id and, in MQTT 5, a reason code and properties.
//!
//! The four share one body, so they share this file and one type, [`Ack`]; the fixed header
//! tells them apart, and `peek_header` has already checked their flags (0b0010 for PUBREL, 0
//! for the others) and, below MQTT 5, that the remaining length is exactly 2. In MQTT 5 the
//! reason code and property length may be left out when the reason is Success and there are
//! no properties (remaining length 2), and the property length alone when there are no
//! properties (remaining length 3) (sections 3.4.2.1 and 3.4.2.2.1); the encoder writes the
//! shortest of the three forms.

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType, ProtocolLevel};
use super::properties::{self, Properties, PropertiesOf};
use super::reason::ReasonCode;
use super::wire::Reader;

/// The body of PUBACK, PUBREC, PUBREL and PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The packet id of the exchange being acknowledged.
    pub pkid: PacketId,
    /// MQTT 5 only: the outcome, one of the packet's table [MQTT-3.4.2-1], [MQTT-3.5.2-1],
    /// [MQTT-3.6.2-1], [MQTT-3.7.2-1]; [`ReasonCode::SUCCESS`] on 3.1/3.1.1, which carry
    /// none.
    pub reason: ReasonCode,
    /// MQTT 5 only: reason string and user properties.
    pub properties: Option<Box<Properties>>,
}

impl Ack {
    /// A successful acknowledgement of `pkid` without properties: all 3.1/3.1.1 can say.
    pub const fn new(pkid: PacketId) -> Ack {
        Ack {
            pkid,
            reason: ReasonCode::SUCCESS,
            properties: None,
        }
    }

    pub(crate) fn decode(
        mut r: Reader,
        packet_type: PacketType,
        level: Option<ProtocolLevel>,
    ) -> Result<Ack, CodecError> {
        let pkid = r.packet_id(packet_type)?;
        if level != Some(ProtocolLevel::V5) || r.is_empty() {
            r.finish(packet_type)?;
            return Ok(Ack::new(pkid));
        }
        let reason = r.reason_code(packet_type)?;
        let properties = if r.is_empty() {
            None
        } else {
            Properties::decode(&mut r, PropertiesOf::Packet(packet_type))?
        };
        r.finish(packet_type)?;
        Ok(Ack {
            pkid,
            reason,
            properties,
        })
    }

    pub(crate) fn encode(&self, packet_type: PacketType, level: ProtocolLevel, buf: &mut BytesMut) {
        buf.put_u16(self.pkid.get());
        if self.short(level) {
            return;
        }
        buf.put_u8(self.reason.get());
        if let Some(props) = &self.properties {
            properties::encode(Some(props), PropertiesOf::Packet(packet_type), buf);
        }
    }

    pub(crate) fn len(&self, level: ProtocolLevel) -> usize {
        match &self.properties {
            _ if self.short(level) => 2,
            None => 3,
            Some(props) => 3 + properties::encoded_len(Some(props)),
        }
    }

    /// Whether the packet id is all there is to write: below MQTT 5, or a bare success.
    fn short(&self, level: ProtocolLevel) -> bool {
        level != ProtocolLevel::V5 || (self.reason == ReasonCode::SUCCESS && self.properties.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{
        assert_roundtrip, assert_roundtrip_at, decode_err, decode_ok, encode_vec_at, pkid, props,
    };
    use crate::codec::{Packet, PropertyId, ProtocolLevel};

    const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

    type MakeAck = fn(Ack) -> Packet;

    const ACKS: [(PacketType, u8, MakeAck); 4] = [
        (PacketType::PubAck, 0x40, Packet::PubAck),
        (PacketType::PubRec, 0x50, Packet::PubRec),
        (PacketType::PubRel, 0x62, Packet::PubRel),
        (PacketType::PubComp, 0x70, Packet::PubComp),
    ];

    #[test]
    fn roundtrip_and_truncations() {
        for (_, first, make) in ACKS {
            assert_roundtrip(&make(Ack::new(pkid(0x1234))), &[first, 0x02, 0x12, 0x34]);
            assert_roundtrip(&make(Ack::new(pkid(u16::MAX))), &[first, 0x02, 0xFF, 0xFF]);
        }
    }

    #[test]
    fn zero_packet_id_mqtt_2_3_1_1() {
        for (packet_type, first, _) in ACKS {
            assert_eq!(
                decode_err(&[first, 0x02, 0x00, 0x00], None),
                CodecError::ZeroPacketId(packet_type)
            );
        }
    }

    #[test]
    fn reserved_flags_mqtt_2_2_2_2() {
        for (packet_type, first, _) in ACKS {
            for flags in (0..16u8).filter(|f| Some(*f) != packet_type.required_flags()) {
                let first = (first & 0xF0) | flags;
                assert_eq!(
                    decode_err(&[first, 0x02, 0x00, 0x01], None),
                    CodecError::InvalidHeaderFlags { packet_type, flags },
                );
            }
        }
    }

    #[test]
    fn remaining_length_must_be_2() {
        for (packet_type, first, _) in ACKS {
            for (len, bytes) in [
                (0, vec![first, 0x00]),
                (3, vec![first, 0x03, 0, 1, 0]),
                (1, vec![first, 0x01, 1]),
            ] {
                let expected = CodecError::UnexpectedRemainingLength {
                    packet_type,
                    expected: 2,
                    actual: len,
                };
                assert_eq!(decode_err(&bytes, None), expected);
            }
        }
    }

    #[test]
    fn mqtt_3_1_pubrel_needs_qos_1_and_may_have_dup() {
        let v31 = Some(ProtocolLevel::V31);
        assert_eq!(
            decode_ok(&[0x6A, 0x02, 0x00, 0x07], v31),
            Packet::PubRel(Ack::new(pkid(7)))
        );
        assert_eq!(
            decode_err(&[0x60, 0x02, 0x00, 0x07], v31),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::PubRel,
                flags: 0
            }
        );
        // 3.1 calls the flags of PUBACK "not used".
        assert_eq!(
            decode_ok(&[0x4F, 0x02, 0x00, 0x07], v31),
            Packet::PubAck(Ack::new(pkid(7)))
        );
        assert!(decode_err(&[0x6A, 0x02, 0x00, 0x07], Some(ProtocolLevel::V311))
            .to_string()
            .contains("PUBREL"));
    }

    #[test]
    fn v5_short_forms_mqtt_3_4_2_1() {
        for (packet_type, first, make) in ACKS {
            // Success without properties: the packet id alone, as in 3.1.1.
            assert_roundtrip_at(&make(Ack::new(pkid(7))), &[first, 0x02, 0x00, 0x07], V5);
            // A reason code without properties: no property length.
            let code = if matches!(packet_type, PacketType::PubRel | PacketType::PubComp) {
                ReasonCode::PACKET_IDENTIFIER_NOT_FOUND
            } else {
                ReasonCode::NO_MATCHING_SUBSCRIBERS
            };
            let ack = Ack {
                reason: code,
                ..Ack::new(pkid(7))
            };
            assert_roundtrip_at(&make(ack), &[first, 0x03, 0x00, 0x07, code.get()], V5);
            // A success with an empty property block reads as the short form.
            assert_eq!(
                decode_ok(&[first, 0x04, 0x00, 0x07, 0x00, 0x00], V5),
                make(Ack::new(pkid(7)))
            );
        }
    }

    #[test]
    fn v5_reason_and_properties() {
        for (packet_type, first, make) in ACKS {
            let ack = Ack {
                pkid: pkid(0x0102),
                reason: ReasonCode::SUCCESS,
                properties: props(|p| {
                    p.reason_string = Some("ok".into());
                    p.user_properties = vec![("a".into(), "b".into())];
                }),
            };
            let expected = [
                first, 0x10, 0x01, 0x02, 0x00, 0x0C, 0x1F, 0x00, 0x02, b'o', b'k', 0x26, 0x00, 0x01, b'a',
                0x00, 0x01, b'b',
            ];
            assert_roundtrip_at(&make(ack.clone()), &expected, V5);
            // Written to a 3.1.1 client, the same acknowledgement is the packet id alone.
            assert_eq!(
                encode_vec_at(&make(ack), ProtocolLevel::V311),
                [first, 0x02, 0x01, 0x02],
                "{packet_type}"
            );
        }
    }

    #[test]
    fn v5_reason_codes_per_packet_mqtt_3_4_2_1_and_3_7_2_1() {
        for (packet_type, first, _) in ACKS {
            for code in 0..=u8::MAX {
                let bytes = [first, 0x03, 0x00, 0x01, code];
                if ReasonCode(code).is_valid_for(packet_type) {
                    decode_ok(&bytes, V5);
                } else {
                    assert_eq!(
                        decode_err(&bytes, V5),
                        CodecError::InvalidReasonCode { packet_type, code }
                    );
                }
            }
        }
    }

    #[test]
    fn v5_malformed_bodies() {
        for (packet_type, first, _) in ACKS {
            // Packet id cut short.
            assert!(matches!(
                decode_err(&[first, 0x01, 0x00], V5),
                CodecError::Truncated {
                    field: "packet id",
                    ..
                }
            ));
            // A property the acknowledgements do not carry.
            assert_eq!(
                decode_err(&[first, 0x06, 0x00, 0x01, 0x00, 0x02, 0x23, 0x00], V5),
                CodecError::PropertyNotAllowed {
                    property: PropertyId::TopicAlias,
                    of: crate::codec::PropertiesOf::Packet(packet_type)
                }
            );
            // A property length past the frame, and bytes after the properties.
            assert!(matches!(
                decode_err(&[first, 0x04, 0x00, 0x01, 0x00, 0x05], V5),
                CodecError::Truncated {
                    field: "properties",
                    ..
                }
            ));
            assert_eq!(
                decode_err(&[first, 0x05, 0x00, 0x01, 0x00, 0x00, 0xAA], V5),
                CodecError::TrailingBytes {
                    packet_type,
                    count: 1
                }
            );
        }
    }
}
