//! SUBSCRIBE (MQTT 3.1.1 section 3.8, MQTT 5 section 3.8): a packet id and one or more
//! (filter, options) pairs; in MQTT 5, properties in between.
//!
//! Each filter passes [`validate_topic_filter`](super::validate_topic_filter); an empty list is
//! malformed [MQTT-3.8.3-3]. In 3.1/3.1.1 the options byte is the requested QoS, with its six
//! reserved bits clear and a QoS below 3 [MQTT-3.8.3-4]. In MQTT 5 it is the subscription
//! options: QoS, No Local, Retain As Published, Retain Handling, with bits 6-7 reserved
//! [MQTT-3.8.3-5]; QoS 3 or a reserved bit is malformed, Retain Handling 3 and No Local on a
//! shared subscription [MQTT-3.8.3-4] are protocol errors. Whether a filter is *allowed*
//! (ACLs, `$SYS`, a well-formed `$share/` group) is the broker's decision, answered with a
//! SUBACK failure code, not a decode error.

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType, ProtocolLevel, QoS};
use super::properties::{self, Properties, PropertiesOf};
use super::wire::{prefixed_len, put_prefixed, Reader};

const NO_LOCAL: u8 = 0x04;
const RETAIN_AS_PUBLISHED: u8 = 0x08;
const RETAIN_HANDLING_SHIFT: u8 = 4;
const RESERVED: u8 = 0xC0;

/// A subscribe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Echoed in the SUBACK.
    pub pkid: PacketId,
    /// Filters in the order sent, each with its options; never empty when decoded.
    pub filters: Vec<(String, SubOptions)>,
    /// MQTT 5 only: subscription identifier and user properties.
    pub properties: Option<Box<Properties>>,
}

/// What a SUBSCRIBE asks for one filter: the subscription options byte of MQTT 5 (section
/// 3.8.3.1), of which 3.1/3.1.1 have only the QoS (the other fields are then `false` and
/// [`RetainHandling::SendAtSubscribe`], which is what 3.1.1 does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubOptions {
    /// The maximum QoS the subscriber wants.
    pub qos: QoS,
    /// MQTT 5: never deliver the subscriber's own publications back to it [MQTT-3.8.3-3].
    pub no_local: bool,
    /// MQTT 5: keep the RETAIN flag of forwarded messages as published [MQTT-3.3.1-12],
    /// [MQTT-3.3.1-13].
    pub retain_as_published: bool,
    /// MQTT 5: when to send retained messages.
    pub retain_handling: RetainHandling,
}

/// When the retained messages of a new subscription are sent (MQTT 5 section 3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: at every SUBSCRIBE, the only behaviour of 3.1/3.1.1 [MQTT-3.3.1-9].
    #[default]
    SendAtSubscribe = 0,
    /// 1: only if the subscription did not exist [MQTT-3.3.1-10].
    SendIfNew = 1,
    /// 2: never [MQTT-3.3.1-11].
    DoNotSend = 2,
}

impl SubOptions {
    /// The options of a 3.1/3.1.1 subscription: `qos` and nothing else.
    pub const fn new(qos: QoS) -> SubOptions {
        SubOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }
}

impl From<QoS> for SubOptions {
    fn from(qos: QoS) -> SubOptions {
        SubOptions::new(qos)
    }
}

impl SubOptions {
    /// The options a byte made by [`SubOptions::to_byte`] holds: a one-byte form to store them
    /// in (not a decoder: the reserved bits are not checked).
    pub fn from_byte(byte: u8) -> SubOptions {
        SubOptions {
            qos: QoS::from_u8(byte & 0x03).unwrap_or(QoS::AtMostOnce),
            no_local: byte & NO_LOCAL != 0,
            retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
            retain_handling: match (byte >> RETAIN_HANDLING_SHIFT) & 0x03 {
                1 => RetainHandling::SendIfNew,
                2 => RetainHandling::DoNotSend,
                _ => RetainHandling::SendAtSubscribe,
            },
        }
    }

    /// The MQTT 5 subscription options byte.
    pub const fn to_byte(self) -> u8 {
        let mut byte = self.qos.as_u8() | (self.retain_handling as u8) << RETAIN_HANDLING_SHIFT;
        if self.no_local {
            byte |= NO_LOCAL;
        }
        if self.retain_as_published {
            byte |= RETAIN_AS_PUBLISHED;
        }
        byte
    }

    /// Reads an MQTT 5 subscription options byte (see the module docs).
    fn from_v5_byte(byte: u8) -> Result<SubOptions, CodecError> {
        let qos = match QoS::from_u8(byte & 0b11) {
            Some(qos) if byte & RESERVED == 0 => qos,
            _ => return Err(CodecError::InvalidSubscriptionOptions(byte)),
        };
        let retain_handling = match (byte >> RETAIN_HANDLING_SHIFT) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(CodecError::InvalidRetainHandling(byte)),
        };
        Ok(SubOptions {
            qos,
            no_local: byte & NO_LOCAL != 0,
            retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
            retain_handling,
        })
    }
}

impl Subscribe {
    pub(crate) fn decode(mut r: Reader, level: Option<ProtocolLevel>) -> Result<Subscribe, CodecError> {
        let v5 = level == Some(ProtocolLevel::V5);
        let pkid = r.packet_id(PacketType::Subscribe)?;
        let properties = if v5 {
            Properties::decode(&mut r, PropertiesOf::Packet(PacketType::Subscribe))?
        } else {
            None
        };
        // Grows with what was actually parsed; never sized from a peer's number.
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = r.topic_filter()?;
            let options = if v5 {
                let options = SubOptions::from_v5_byte(r.u8("subscription options")?)?;
                if options.no_local && filter.starts_with("$share/") {
                    return Err(CodecError::NoLocalOnSharedSubscription { filter });
                }
                options
            } else {
                let byte = r.u8("requested qos")?;
                // Any bit above the low two is reserved, so only 0, 1 and 2 pass.
                SubOptions::new(QoS::from_u8(byte).ok_or(CodecError::InvalidRequestedQoS(byte))?)
            };
            filters.push((filter, options));
        }
        if filters.is_empty() {
            return Err(CodecError::EmptyPayload(PacketType::Subscribe));
        }
        Ok(Subscribe {
            pkid,
            filters,
            properties,
        })
    }

    pub(crate) fn encode(&self, level: ProtocolLevel, buf: &mut BytesMut) {
        let v5 = level == ProtocolLevel::V5;
        buf.put_u16(self.pkid.get());
        if v5 {
            let of = PropertiesOf::Packet(PacketType::Subscribe);
            properties::encode(self.properties.as_deref(), of, buf);
        }
        for (filter, options) in &self.filters {
            put_prefixed(buf, filter.as_bytes(), "topic filter");
            buf.put_u8(if v5 {
                options.to_byte()
            } else {
                options.qos.as_u8()
            });
        }
    }

    pub(crate) fn len(&self, level: ProtocolLevel) -> usize {
        let properties = match level {
            ProtocolLevel::V5 => properties::encoded_len(self.properties.as_deref()),
            ProtocolLevel::V31 | ProtocolLevel::V311 => 0,
        };
        2 + properties
            + self
                .filters
                .iter()
                .map(|(f, _)| prefixed_len(f.as_bytes()) + 1)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{
        assert_roundtrip, assert_roundtrip_at, decode_err, decode_ok, encode_vec_at, pkid, props,
    };
    use crate::codec::{Packet, PropertyId, ProtocolLevel, ReasonCode, TopicError};

    const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

    fn subscribe_v5(filter: &str, options: SubOptions) -> Packet {
        Packet::Subscribe(Subscribe {
            pkid: pkid(1),
            filters: vec![(filter.to_string(), options)],
            properties: None,
        })
    }

    fn subscribe(filters: &[(&str, QoS)]) -> Packet {
        Packet::Subscribe(Subscribe {
            pkid: pkid(10),
            filters: filters
                .iter()
                .map(|(f, q)| (f.to_string(), SubOptions::new(*q)))
                .collect(),
            properties: None,
        })
    }

    #[test]
    fn roundtrip_and_truncations() {
        assert_roundtrip(
            &subscribe(&[("a/+", QoS::AtLeastOnce)]),
            &[0x82, 0x08, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'+', 0x01],
        );
        assert_roundtrip(
            &subscribe(&[
                ("#", QoS::ExactlyOnce),
                ("a/b", QoS::AtMostOnce),
                ("é", QoS::AtLeastOnce),
            ]),
            &[],
        );
    }

    #[test]
    fn no_filters_mqtt_3_8_3_3() {
        assert_eq!(
            decode_err(&[0x82, 0x02, 0x00, 0x01], None),
            CodecError::EmptyPayload(PacketType::Subscribe)
        );
    }

    #[test]
    fn requested_qos_reserved_bits_and_qos_3_mqtt_3_8_3_4() {
        for options in [0x03, 0x04, 0x80, 0xFF, 0x41] {
            assert_eq!(
                decode_err(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', options], None),
                CodecError::InvalidRequestedQoS(options)
            );
        }
    }

    #[test]
    fn missing_requested_qos() {
        assert_eq!(
            decode_err(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], None),
            CodecError::Truncated {
                field: "requested qos",
                needed: 1,
                available: 0
            }
        );
    }

    #[test]
    fn filter_longer_than_the_frame() {
        assert_eq!(
            decode_err(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x09, b'a', 0x00], None),
            CodecError::Truncated {
                field: "topic filter",
                needed: 9,
                available: 2
            }
        );
    }

    #[test]
    fn zero_packet_id_mqtt_2_3_1_1() {
        assert_eq!(
            decode_err(&[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00], None),
            CodecError::ZeroPacketId(PacketType::Subscribe)
        );
    }

    #[test]
    fn invalid_filters_mqtt_4_7_1_2_and_3() {
        let cases: [(&[u8], TopicError); 4] = [
            (b"a/#/b", TopicError::HashNotLast(2)),
            (b"a+/b", TopicError::PlusNotAlone(1)),
            (b"a#", TopicError::HashNotAlone(1)),
            (b"", TopicError::Empty),
        ];
        for (filter, reason) in cases {
            let mut bytes = vec![
                0x82,
                (5 + filter.len()) as u8,
                0x00,
                0x01,
                0x00,
                filter.len() as u8,
            ];
            bytes.extend_from_slice(filter);
            bytes.push(0x00);
            assert_eq!(
                decode_err(&bytes, None),
                CodecError::InvalidTopicFilter {
                    filter: bytes::Bytes::copy_from_slice(filter),
                    reason
                }
            );
        }
    }

    #[test]
    fn filter_utf8_and_null_mqtt_1_5_3_1_and_2() {
        assert_eq!(
            decode_err(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x02, b'a', 0xFF, 0x00], None),
            CodecError::InvalidUtf8 {
                field: "topic filter",
                valid_up_to: 1
            }
        );
        assert_eq!(
            decode_err(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x02, b'a', 0x00, 0x00], None),
            CodecError::NullCharacter {
                field: "topic filter",
                at: 1
            }
        );
    }

    #[test]
    fn reserved_flags_mqtt_3_8_1_1() {
        for first in [0x80, 0x83, 0x8A] {
            assert_eq!(
                decode_err(&[first, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00], None),
                CodecError::InvalidHeaderFlags {
                    packet_type: PacketType::Subscribe,
                    flags: first & 0x0F
                }
            );
        }
        // An MQTT 3.1 client sets DUP when it sends a SUBSCRIBE again.
        let expected = subscribe(&[("a", QoS::AtMostOnce)]);
        let mut packet = decode_ok(
            &[0x8A, 0x06, 0x00, 0x0A, 0x00, 0x01, b'a', 0x00],
            Some(ProtocolLevel::V31),
        );
        assert_eq!(packet, expected);
        packet = decode_ok(
            &[0x82, 0x06, 0x00, 0x0A, 0x00, 0x01, b'a', 0x00],
            Some(ProtocolLevel::V311),
        );
        assert_eq!(packet, expected);
    }

    #[test]
    fn v5_subscription_options_mqtt_3_8_3_1() {
        let options = SubOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        assert_eq!(options.to_byte(), 0b0010_1101);
        let packet = subscribe_v5("a", options);
        assert_roundtrip_at(
            &packet,
            &[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x2D],
            V5,
        );
        // A 3.1.1 server reads the QoS alone.
        assert_eq!(
            encode_vec_at(&packet, ProtocolLevel::V311),
            [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x01]
        );
        for byte in 0..=u8::MAX {
            let bytes = [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', byte];
            let qos3 = byte & 0b11 == 3;
            let reserved = byte & 0xC0 != 0;
            let handling3 = (byte >> 4) & 0b11 == 3;
            if qos3 || reserved {
                assert_eq!(
                    decode_err(&bytes, V5),
                    CodecError::InvalidSubscriptionOptions(byte)
                );
            } else if handling3 {
                let err = decode_err(&bytes, V5);
                assert_eq!(err, CodecError::InvalidRetainHandling(byte));
                assert_eq!(err.disconnect_reason(), Some(ReasonCode::PROTOCOL_ERROR));
            } else {
                match decode_ok(&bytes, V5) {
                    Packet::Subscribe(s) => assert_eq!(s.filters[0].1.to_byte(), byte),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn v5_reserved_bits_are_malformed_mqtt_3_8_3_5() {
        let err = decode_err(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x40], V5);
        assert_eq!(err, CodecError::InvalidSubscriptionOptions(0x40));
        assert_eq!(err.disconnect_reason(), Some(ReasonCode::MALFORMED_PACKET));
    }

    #[test]
    fn v5_no_local_on_a_shared_subscription_mqtt_3_8_3_4() {
        let bytes = crate::codec::corpus::frame(
            0x82,
            &[
                &[0x00, 0x01, 0x00][..],
                &crate::codec::corpus::field(b"$share/g/a"),
                &[0x04],
            ]
            .concat(),
        );
        let err = decode_err(&bytes, V5);
        assert_eq!(
            err,
            CodecError::NoLocalOnSharedSubscription {
                filter: "$share/g/a".into()
            }
        );
        assert_eq!(err.disconnect_reason(), Some(ReasonCode::PROTOCOL_ERROR));
        // Without No Local it is a valid subscription; and No Local elsewhere is fine.
        let options = SubOptions::new(QoS::AtMostOnce);
        assert_roundtrip_at(&subscribe_v5("$share/g/a", options), &[], V5);
        let no_local = SubOptions {
            no_local: true,
            ..options
        };
        assert_roundtrip_at(&subscribe_v5("share/g/a", no_local), &[], V5);
    }

    #[test]
    fn v5_subscription_identifier_at_most_once_and_not_0() {
        let packet = Packet::Subscribe(Subscribe {
            pkid: pkid(2),
            filters: vec![("a/#".into(), QoS::ExactlyOnce.into())],
            properties: props(|p| {
                p.subscription_ids = vec![0x80];
                p.user_properties = vec![("k".into(), "v".into())];
            }),
        });
        assert_roundtrip_at(&packet, &[], V5);
        let err = decode_err(
            &[0x82, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b'a', 0x00],
            V5,
        );
        assert_eq!(
            err,
            CodecError::InvalidPropertyValue {
                property: PropertyId::SubscriptionIdentifier,
                value: 0
            }
        );
        assert_eq!(err.disconnect_reason(), Some(ReasonCode::PROTOCOL_ERROR));
    }

    #[test]
    fn v5_no_filters_and_missing_options() {
        assert_eq!(
            decode_err(&[0x82, 0x03, 0x00, 0x01, 0x00], V5),
            CodecError::EmptyPayload(PacketType::Subscribe)
        );
        assert!(matches!(
            decode_err(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b'a'], V5),
            CodecError::Truncated {
                field: "subscription options",
                ..
            }
        ));
    }
}

#[cfg(test)]
mod options_byte_tests {
    use super::*;

    #[test]
    fn every_options_byte_round_trips() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for rh in [
                RetainHandling::SendAtSubscribe,
                RetainHandling::SendIfNew,
                RetainHandling::DoNotSend,
            ] {
                for (no_local, rap) in [(false, false), (true, false), (false, true), (true, true)] {
                    let o = SubOptions {
                        qos,
                        no_local,
                        retain_as_published: rap,
                        retain_handling: rh,
                    };
                    assert_eq!(SubOptions::from_byte(o.to_byte()), o);
                }
            }
        }
    }
}
