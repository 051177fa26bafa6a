//! UNSUBSCRIBE (MQTT 3.1.1 section 3.10): a packet id and one or more topic filters.
//!
//! Filters pass the same rules as in SUBSCRIBE (an UNSUBSCRIBE for `a+` could never match a
//! subscription, and the spec calls it malformed all the same); an empty list is malformed
//! [MQTT-3.10.3-2].

use bytes::{BufMut, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType};
use super::properties::Properties;
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
    pub(crate) fn decode(mut r: Reader) -> Result<Unsubscribe, CodecError> {
        let pkid = r.packet_id(PacketType::Unsubscribe)?;
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
            properties: None,
        })
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16(self.pkid.get());
        for filter in &self.filters {
            put_prefixed(buf, filter.as_bytes(), "topic filter");
        }
    }

    pub(crate) fn len(&self) -> usize {
        2 + self
            .filters
            .iter()
            .map(|f| prefixed_len(f.as_bytes()))
            .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_roundtrip, decode_err, pkid};
    use crate::codec::{Packet, TopicError};

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
}
