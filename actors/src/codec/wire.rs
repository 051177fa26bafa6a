//! Reading and writing the field encodings of MQTT 3.1.1 section 1.5 and MQTT 5.0 section
//! 1.5: big-endian integers, variable byte integers, length-prefixed binary data, UTF-8
//! strings and string pairs.
//!
//! [`Reader`] works on one frame that [`decode`](super::decode) has already split off, so
//! running out of bytes here means the peer declared a frame too short for its fields
//! ([`CodecError::Truncated`]), never "wait for more". Every length from the wire is checked
//! against what remains before anything is taken, and slices are `Bytes` views of the frame,
//! so a hostile length can neither read past the frame nor make us allocate.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::CodecError;
use super::fields::{PacketId, PacketType};
use super::reason::ReasonCode;
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

    /// Splits off the next `n` bytes as a reader of their own (an MQTT 5 property block).
    pub(crate) fn split(&mut self, n: usize, field: &'static str) -> Result<Reader, CodecError> {
        self.take(n, field).map(Reader::new)
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

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, CodecError> {
        match self.buf.first_chunk::<4>() {
            Some(&quad) => {
                self.buf.advance(4);
                Ok(u32::from_be_bytes(quad))
            }
            None => Err(CodecError::Truncated {
                field,
                needed: 4,
                available: self.buf.len(),
            }),
        }
    }

    /// An MQTT 5 variable byte integer (section 1.5.5): 7 bits a byte, low first, at most
    /// four bytes, in the fewest bytes that hold the value [MQTT-1.5.5-1]. A fifth byte or a
    /// longer form than needed is malformed.
    pub(crate) fn var_int(&mut self, field: &'static str) -> Result<u32, CodecError> {
        let mut value = 0u32;
        for i in 0..4 {
            let byte = self.u8(field)?;
            // i < 4, so the shift is at most 21 and the value below 2^28: no overflow.
            value |= u32::from(byte & 0x7F) << (7 * i);
            if byte & 0x80 == 0 {
                // A last byte of 0 after the first adds nothing: a longer form than needed.
                if i > 0 && byte == 0 {
                    return Err(CodecError::NonMinimalVarInt { field });
                }
                return Ok(value);
            }
        }
        Err(CodecError::MalformedVarInt { field })
    }

    /// An MQTT 5 UTF-8 string pair (section 1.5.7): a name string and a value string.
    pub(crate) fn string_pair(&mut self, field: &'static str) -> Result<(String, String), CodecError> {
        let name = self.string(field)?;
        let value = self.string(field)?;
        Ok((name, value))
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

    /// Reads the MQTT 5 reason code of a `packet_type`: one its table has
    /// ([`ReasonCode::is_valid_for`]), or a malformed packet.
    pub(crate) fn reason_code(&mut self, packet_type: PacketType) -> Result<ReasonCode, CodecError> {
        let code = ReasonCode(self.u8("reason code")?);
        if code.is_valid_for(packet_type) {
            Ok(code)
        } else {
            Err(CodecError::InvalidReasonCode {
                packet_type,
                code: code.0,
            })
        }
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

/// The largest value a variable byte integer holds: 268,435,455.
pub(crate) const MAX_VAR_INT: u32 = 268_435_455;

/// Bytes a variable byte integer takes on the wire (1 to 4).
pub(crate) fn var_int_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a variable byte integer in its shortest form [MQTT-1.5.5-1].
///
/// # Panics
/// Above [`MAX_VAR_INT`]: a caller bug (a body or property block that large cannot be sent,
/// and a subscription identifier that large is never valid).
pub(crate) fn put_var_int(buf: &mut BytesMut, value: usize, name: &'static str) {
    assert!(
        value <= MAX_VAR_INT as usize,
        "{name} of {value} exceeds the MQTT maximum of {MAX_VAR_INT}"
    );
    let mut rest = value;
    loop {
        // Truncation intended: the low 7 bits.
        let byte = (rest & 0x7F) as u8;
        rest >>= 7;
        if rest == 0 {
            buf.put_u8(byte);
            return;
        }
        buf.put_u8(byte | 0x80);
    }
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
    fn var_int_boundaries_mqtt_1_5_5() {
        let cases: [(u32, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_VAR_INT, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (value, encoded) in cases {
            let mut buf = BytesMut::new();
            put_var_int(&mut buf, value as usize, "v");
            assert_eq!(&buf[..], encoded, "{value}");
            assert_eq!(var_int_len(value as usize), encoded.len());
            let mut r = Reader::new(Bytes::copy_from_slice(encoded));
            assert_eq!(r.var_int("v"), Ok(value));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn var_int_longer_than_4_bytes_or_than_needed_mqtt_1_5_5_1() {
        let mut r = Reader::new(Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x01]));
        assert_eq!(r.var_int("v"), Err(CodecError::MalformedVarInt { field: "v" }));
        for non_minimal in [&[0x80, 0x00][..], &[0xFF, 0x80, 0x00], &[0x81, 0x80, 0x80, 0x00]] {
            let mut r = Reader::new(Bytes::copy_from_slice(non_minimal));
            assert_eq!(
                r.var_int("v"),
                Err(CodecError::NonMinimalVarInt { field: "v" }),
                "{non_minimal:02x?}"
            );
        }
        let mut r = Reader::new(Bytes::from_static(&[0x80, 0x80]));
        assert_eq!(
            r.var_int("v"),
            Err(CodecError::Truncated {
                field: "v",
                needed: 1,
                available: 0
            })
        );
    }

    #[test]
    #[should_panic(expected = "exceeds the MQTT maximum")]
    fn put_var_int_refuses_values_above_the_maximum() {
        put_var_int(&mut BytesMut::new(), MAX_VAR_INT as usize + 1, "v");
    }

    #[test]
    fn u32_and_string_pair() {
        let mut r = Reader::new(Bytes::from_static(&[0, 0, 1, 0, 0, 1, b'k', 0, 0, 0, 1]));
        assert_eq!(r.u32("x"), Ok(256));
        assert_eq!(r.string_pair("user property"), Ok(("k".into(), String::new())));
        assert_eq!(
            r.u32("x"),
            Err(CodecError::Truncated {
                field: "x",
                needed: 4,
                available: 2
            })
        );
        let mut r = Reader::new(Bytes::from_static(&[0, 1, b'k', 0, 1, 0xFF]));
        assert_eq!(
            r.string_pair("user property"),
            Err(CodecError::InvalidUtf8 {
                field: "user property",
                valid_up_to: 0
            })
        );
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
