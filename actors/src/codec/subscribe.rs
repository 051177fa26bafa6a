//! SUBSCRIBE (MQTT 3.1.1 section 3.8): a packet id and one or more (filter, requested QoS)
//! pairs.
//!
//! Each filter passes [`validate_topic_filter`](super::validate_topic_filter) and each
//! requested-QoS byte has its six reserved bits clear and a QoS below 3 [MQTT-3.8.3-4]; an
//! empty list is malformed [MQTT-3.8.3-3]. Whether a filter is *allowed* (ACLs, `$SYS`) is the
//! broker's decision, answered with a SUBACK failure code, not a decode error.

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType, QoS};
use super::properties::Properties;
use super::wire::{prefixed_len, put_prefixed, Reader};

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

impl Subscribe {
    pub(crate) fn decode(mut r: Reader) -> Result<Subscribe, CodecError> {
        let pkid = r.packet_id(PacketType::Subscribe)?;
        // Grows with what was actually parsed; never sized from a peer's number.
        let mut filters = Vec::new();
        while !r.is_empty() {
            let filter = r.topic_filter()?;
            let options = r.u8("requested qos")?;
            // Any bit above the low two is reserved, so only 0, 1 and 2 pass.
            let qos = QoS::from_u8(options).ok_or(CodecError::InvalidRequestedQoS(options))?;
            filters.push((filter, SubOptions::new(qos)));
        }
        if filters.is_empty() {
            return Err(CodecError::EmptyPayload(PacketType::Subscribe));
        }
        Ok(Subscribe {
            pkid,
            filters,
            properties: None,
        })
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16(self.pkid.get());
        for (filter, options) in &self.filters {
            put_prefixed(buf, filter.as_bytes(), "topic filter");
            buf.put_u8(options.qos.as_u8());
        }
    }

    pub(crate) fn len(&self) -> usize {
        2 + self
            .filters
            .iter()
            .map(|(f, _)| prefixed_len(f.as_bytes()) + 1)
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_roundtrip, decode_err, decode_ok, pkid};
    use crate::codec::{Packet, ProtocolLevel, TopicError};

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
}
