//! UNSUBSCRIBE (MQTT 3.1.1 section 3.10, MQTT 5 section 3.10): a packet id, in MQTT 5
//! properties (user properties only), and one or more topic filters.
//!
//! Filters pass the same rules as in SUBSCRIBE (an UNSUBSCRIBE for `a+` could never match a
//! subscription, and the spec calls it malformed all the same); an empty list is malformed
//! [MQTT-3.10.3-2].

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType, ProtocolLevel};
use super::properties::{self, Properties, PropertiesOf};
use super::wire::{prefixed_len, put_prefixed, Reader};

/// An unsubscribe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Echoed in the UNSUBACK [MQTT-3.10.4-4].
    pub pkid: PacketId,
    /// Filters in the order sent; never empty when decoded.
    pub filters: Vec<String>,
    /// MQTT 5 only: user properties.
    pub properties: Option<Box<Properties>>,
}

impl Unsubscribe {
    pub(crate) fn decode(mut r: Reader, level: Option<ProtocolLevel>) -> Result<Unsubscribe, CodecError> {
        let pkid = r.packet_id(PacketType::Unsubscribe)?;
        let properties = if level == Some(ProtocolLevel::V5) {
            Properties::decode(&mut r, PropertiesOf::Packet(PacketType::Unsubscribe))?
        } else {
            None
        };
        let mut filters = Vec::new();
        while !r.is_empty() {
            filters.push(r.topic_filter()?);
        }
        if filters.is_empty() {
            return Err(CodecError::EmptyPayload(PacketType::Unsubscribe));
        }
        Ok(Unsubscribe {
            pkid,
            filters,
            properties,
        })
    }

    pub(crate) fn encode(&self, level: ProtocolLevel, buf: &mut BytesMut) {
        buf.put_u16(self.pkid.get());
        if level == ProtocolLevel::V5 {
            let of = PropertiesOf::Packet(PacketType::Unsubscribe);
            properties::encode(self.properties.as_deref(), of, buf);
        }
        for filter in &self.filters {
            put_prefixed(buf, filter.as_bytes(), "topic filter");
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
                .map(|f| prefixed_len(f.as_bytes()))
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{
        assert_roundtrip, assert_roundtrip_at, decode_err, encode_vec_at, pkid, props,
    };
    use crate::codec::{Packet, PropertiesOf, PropertyId, TopicError};

    const V5: Option<ProtocolLevel> = Some(ProtocolLevel::V5);

    #[test]
    fn roundtrip_and_truncations() {
        let unsubscribe = Unsubscribe {
            pkid: pkid(3),
            filters: vec!["a/+".into(), "#".into()],
            properties: None,
        };
        assert_roundtrip(
            &Packet::Unsubscribe(unsubscribe),
            &[
                0xA2, 0x0A, 0x00, 0x03, 0x00, 0x03, b'a', b'/', b'+', 0x00, 0x01, b'#',
            ],
        );
    }

    #[test]
    fn no_filters_mqtt_3_10_3_2() {
        assert_eq!(
            decode_err(&[0xA2, 0x02, 0x00, 0x01], None),
            CodecError::EmptyPayload(PacketType::Unsubscribe)
        );
    }

    #[test]
    fn zero_packet_id_mqtt_2_3_1_1() {
        assert_eq!(
            decode_err(&[0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, b'a'], None),
            CodecError::ZeroPacketId(PacketType::Unsubscribe)
        );
    }

    #[test]
    fn invalid_filter() {
        assert_eq!(
            decode_err(&[0xA2, 0x07, 0x00, 0x01, 0x00, 0x03, b'#', b'/', b'a'], None),
            CodecError::InvalidTopicFilter {
                filter: bytes::Bytes::from_static(b"#/a"),
                reason: TopicError::HashNotLast(0)
            }
        );
    }

    #[test]
    fn filter_utf8_mqtt_1_5_3_1() {
        assert_eq!(
            decode_err(&[0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 0x80], None),
            CodecError::InvalidUtf8 {
                field: "topic filter",
                valid_up_to: 0
            }
        );
    }

    #[test]
    fn half_a_length_prefix() {
        assert_eq!(
            decode_err(&[0xA2, 0x03, 0x00, 0x01, 0x00], None),
            CodecError::Truncated {
                field: "topic filter",
                needed: 2,
                available: 1
            }
        );
    }

    #[test]
    fn reserved_flags_mqtt_3_10_1_1() {
        assert_eq!(
            decode_err(&[0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], None),
            CodecError::InvalidHeaderFlags {
                packet_type: PacketType::Unsubscribe,
                flags: 0
            }
        );
    }

    #[test]
    fn v5_roundtrip_with_user_properties() {
        let unsubscribe = Packet::Unsubscribe(Unsubscribe {
            pkid: pkid(3),
            filters: vec!["a/+".into()],
            properties: props(|p| p.user_properties = vec![("k".into(), "v".into())]),
        });
        assert_roundtrip_at(
            &unsubscribe,
            &[
                0xA2, 0x0F, 0x00, 0x03, 0x07, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', 0x00, 0x03, b'a',
                b'/', b'+',
            ],
            V5,
        );
        assert_eq!(
            encode_vec_at(&unsubscribe, ProtocolLevel::V311),
            [0xA2, 0x07, 0x00, 0x03, 0x00, 0x03, b'a', b'/', b'+']
        );
    }

    #[test]
    fn v5_rules() {
        assert_eq!(
            decode_err(&[0xA2, 0x03, 0x00, 0x01, 0x00], V5),
            CodecError::EmptyPayload(PacketType::Unsubscribe)
        );
        assert_eq!(
            decode_err(&[0xA2, 0x08, 0x00, 0x01, 0x02, 0x1F, 0x00, 0x00, 0x01, b'a'], V5),
            CodecError::PropertyNotAllowed {
                property: PropertyId::ReasonString,
                of: PropertiesOf::Packet(PacketType::Unsubscribe)
            }
        );
        // Without the property length, the filter's length prefix is read as one.
        assert!(matches!(
            decode_err(&[0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], V5),
            CodecError::InvalidTopicFilter { .. } | CodecError::Truncated { .. }
        ));
    }
}
