//! Reading and writing the field encodings of MQTT 3.1.1 section 1.5: big-endian `u16`,
//! length-prefixed binary data and length-prefixed UTF-8 strings.
//!
//! [`Reader`] works on one frame that [`decode`](super::decode) has already split off, so
//! running out of bytes here means the peer declared a frame too short for its fields
//! ([`CodecError::Truncated`]), never "wait for more". Every length from the wire is checked
//! against what remains before anything is taken, and slices are `Bytes` views of the frame,
//! so a hostile length can neither read past the frame nor make us allocate.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType};
use super::topic_rules::{validate_topic_filter, validate_topic_name, TopicName};

/// A cursor over the body of one frame.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub(crate) fn new(body: Bytes) -> Reader {
        Reader { buf: body }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes exactly `n` bytes.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, CodecError> {
        if n > self.buf.len() {
            return Err(CodecError::Truncated {
                field,
                needed: n,
                available: self.buf.len(),
            });
        }
        Ok(self.buf.split_to(n))
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, CodecError> {
        match self.buf.first() {
            Some(&b) => {
                self.buf.advance(1);
                Ok(b)
            }
            None => Err(CodecError::Truncated {
                field,
                needed: 1,
                available: 0,
            }),
        }
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, CodecError> {
        match self.buf.first_chunk::<2>() {
            Some(&pair) => {
                self.buf.advance(2);
                Ok(u16::from_be_bytes(pair))
            }
            None => Err(CodecError::Truncated {
                field,
                needed: 2,
                available: self.buf.len(),
            }),
        }
    }

    /// Binary data: a `u16` length, then that many bytes (section 1.5.3).
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, CodecError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// A UTF-8 string, as an owned `String`.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, CodecError> {
        let raw = self.binary(field)?;
        check_utf8(&raw, field).map(str::to_owned)
    }

    /// A non-zero packet identifier [MQTT-2.3.1-1].
    pub(crate) fn packet_id(&mut self, packet_type: PacketType) -> Result<PacketId, CodecError> {
        let id = self.u16("packet id")?;
        PacketId::new(id).ok_or(CodecError::ZeroPacketId(packet_type))
    }

    /// A topic name: a UTF-8 string that also passes [`validate_topic_name`].
    pub(crate) fn topic_name(&mut self, field: &'static str) -> Result<TopicName, CodecError> {
        let raw = self.binary(field)?;
        let topic = check_utf8(&raw, field)?;
        match validate_topic_name(topic) {
            Ok(()) => Ok(TopicName::from_validated(topic)),
            Err(reason) => Err(CodecError::InvalidTopicName {
                topic: raw.clone(),
                reason,
            }),
        }
    }

    /// A topic filter: a UTF-8 string that also passes [`validate_topic_filter`].
    pub(crate) fn topic_filter(&mut self) -> Result<String, CodecError> {
        let raw = self.binary("topic filter")?;
        let filter = check_utf8(&raw, "topic filter")?;
        match validate_topic_filter(filter) {
            Ok(()) => Ok(filter.to_owned()),
            Err(reason) => Err(CodecError::InvalidTopicFilter {
                filter: raw.clone(),
                reason,
            }),
        }
    }

    /// Everything left: the PUBLISH payload, a zero-copy view of the frame.
    pub(crate) fn rest(self) -> Bytes {
        self.buf
    }

    /// Ends a packet whose last field has been read: any byte left is an error.
    pub(crate) fn finish(self, packet_type: PacketType) -> Result<(), CodecError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(CodecError::TrailingBytes {
                packet_type,
                count: self.buf.len(),
            })
        }
    }
}

/// A string is well-formed UTF-8 [MQTT-1.5.3-1] without U+0000 [MQTT-1.5.3-2]. In
/// well-formed UTF-8, U+0000 can only be the byte 0 (the overlong `C0 80` is ill-formed), so
/// a byte search finds it. U+FEFF is allowed and kept [MQTT-1.5.3-3].
pub(crate) fn check_utf8<'a>(raw: &'a [u8], field: &'static str) -> Result<&'a str, CodecError> {
    let s = std::str::from_utf8(raw).map_err(|e| CodecError::InvalidUtf8 {
        field,
        valid_up_to: e.valid_up_to(),
    })?;
    match raw.iter().position(|&b| b == 0) {
        Some(at) => Err(CodecError::NullCharacter { field, at }),
        None => Ok(s),
    }
}

/// Size of a length-prefixed field on the wire.
pub(crate) fn prefixed_len(field: &[u8]) -> usize {
    2 + field.len()
}

/// Writes binary data or a string with its `u16` length.
///
/// # Panics
/// If `field` is longer than 65,535 bytes: a caller bug, since a decoded packet never holds
/// such a field and the broker only re-encodes what it decoded or built from config.
pub(crate) fn put_prefixed(buf: &mut BytesMut, field: &[u8], name: &'static str) {
    let Ok(len) = u16::try_from(field.len()) else {
        panic!(
            "{name} is {} bytes, more than the 65535 an MQTT field can carry",
            field.len()
        );
    };
    buf.put_u16(len);
    buf.put_slice(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u16_and_binary_stay_inside_the_frame() {
        let mut r = Reader::new(Bytes::from_static(&[0x00, 0x03, b'a', b'b']));
        assert_eq!(
            r.binary("will payload"),
            Err(CodecError::Truncated {
                field: "will payload",
                needed: 3,
                available: 2
            })
        );
        let mut r = Reader::new(Bytes::from_static(&[0x01]));
        assert_eq!(
            r.u16("keep alive"),
            Err(CodecError::Truncated {
                field: "keep alive",
                needed: 2,
                available: 1
            })
        );
        assert_eq!(r.u8("x"), Ok(1));
        assert_eq!(
            r.u8("x"),
            Err(CodecError::Truncated {
                field: "x",
                needed: 1,
                available: 0
            })
        );
    }

    #[test]
    fn strings_must_be_utf8_without_null_mqtt_1_5_3_1_and_2() {
        assert_eq!(
            check_utf8(b"a\xffb", "f"),
            Err(CodecError::InvalidUtf8 {
                field: "f",
                valid_up_to: 1
            })
        );
        // An overlong encoding of U+0000 is ill-formed, not a null.
        assert_eq!(
            check_utf8(b"\xc0\x80", "f"),
            Err(CodecError::InvalidUtf8 {
                field: "f",
                valid_up_to: 0
            })
        );
        // A UTF-16 surrogate encoded in UTF-8 is ill-formed too.
        assert_eq!(
            check_utf8(b"\xed\xa0\x80", "f"),
            Err(CodecError::InvalidUtf8 {
                field: "f",
                valid_up_to: 0
            })
        );
        assert_eq!(
            check_utf8(b"ab\0", "f"),
            Err(CodecError::NullCharacter { field: "f", at: 2 })
        );
        assert_eq!(check_utf8("\u{FEFF}x".as_bytes(), "f"), Ok("\u{FEFF}x"));
    }

    #[test]
    fn finish_rejects_trailing_bytes() {
        let r = Reader::new(Bytes::from_static(&[1, 2]));
        assert_eq!(
            r.finish(PacketType::Connect),
            Err(CodecError::TrailingBytes {
                packet_type: PacketType::Connect,
                count: 2
            })
        );
    }

    #[test]
    #[should_panic(expected = "client id is 65536 bytes")]
    fn put_prefixed_refuses_overlong_fields() {
        put_prefixed(&mut BytesMut::new(), &[b'a'; 65536], "client id");
    }
}
