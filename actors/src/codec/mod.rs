//! The MQTT 3.1, 3.1.1 and 5.0 codec: bytes from a socket to [`Packet`]s and back.
//!
//! Mirrors emqttd's `emqttd_parser` and `emqttd_serializer` (and EMQX's single packet record
//! for every level). This module owns the fixed header, the variable-length remaining length
//! and the two entry points, [`decode`] and [`encode`]; each packet's body lives in its own
//! file with the same three parts (`decode`, `encode`, `len`), MQTT 5 properties in
//! `properties.rs` and reason codes in `reason.rs`, and [`topic_rules`] holds the topic name
//! and filter rules the router shares.
//!
//! Imports go one way: packet files -> `properties` -> `wire` (the field reader) -> `error`
//! -> the value types [`CodecError`] names (`fields`, `property_id`, `reason`, `return_code`,
//! `topic_rules`), which import nothing else of the codec. So `error` needs no packet file and
//! the codec has no import circle; a new type an error variant carries goes below `error`
//! too (see `docs/architecture.md`, section 3).
//!
//! # Decoding
//! [`decode`] is pure (no I/O, no async) and works in two steps, as mini-redis does:
//! [`peek_header`] reads the fixed header without consuming anything and rejects what can be
//! rejected from it alone: a reserved packet type, wrong flag bits, a remaining length longer
//! than 4 bytes, a wrong length for a fixed-size packet, and a frame larger than
//! `max_packet_size`. So a peer declaring a 256 MB packet is refused after 5 bytes, before the
//! body is buffered. Only when the whole frame is in the buffer is exactly that frame split
//! off and parsed; every field length is checked against what remains of it, and bytes left
//! over are an error. `Ok(None)` means "read more" and leaves the buffer untouched.
//!
//! The codec checks every rule that can be checked on one packet. Rules about the order of
//! packets (CONNECT first [MQTT-3.1.0-1], only one CONNECT [MQTT-3.1.0-2]) belong to the
//! connection, which has [`Packet::packet_type`] and [`peek_header`] to apply them, even
//! before a large body arrives.
//!
//! # Protocol level
//! `decode` takes the level of the connection's CONNECT, or `None` before it; a CONNECT
//! decides its own level (`None` reads the CONNECT, then the connection passes its level on).
//! MQTT 3.1 has no reserved flag bits: it calls DUP, QoS and RETAIN "not used" on every type
//! but PUBLISH, and gives PUBREL, SUBSCRIBE and UNSUBSCRIBE QoS 1 with DUP set on a
//! retransmission; so on a 3.1 connection only those three types' QoS bits are checked. And
//! MQTT 3.1 has neither the CONNACK session-present flag nor the SUBACK failure code 0x80.
//! `None` applies the stricter 3.1.1 rules, which every valid CONNECT passes.
//!
//! MQTT 5 keeps the 3.1.1 fixed header, adds packet type 15 (AUTH, refused below level 5),
//! requires every variable byte integer in its shortest form [MQTT-1.5.5-1] (the remaining
//! length included), and gives most packets a reason code and properties, so only PINGREQ
//! and PINGRESP keep a fixed length. A malformed MQTT 5 packet gets a DISCONNECT whose reason
//! code [`CodecError::disconnect_reason`] names.
//!
//! [`encode`] writes a packet as a peer of the given level reads it: the same `Packet` is
//! written with its reason codes and properties to an MQTT 5 client and without them to a
//! 3.1.1 one, which is what lets 3.1.1 and MQTT 5 clients share messages.
//!
//! # Not mqttbytes
//! mqttbytes 0.6 has faults a broker cannot live with (no 3.1, level 5 accepted on the v4
//! reader, size limit on the remaining length only, flag bits ignored). This codec parses
//! every body itself; mqttbytes is used only by the differential tests, whose comments list
//! each divergence found.

mod ack;
mod auth;
mod connack;
mod connect;
pub mod corpus;
mod disconnect;
mod error;
mod fields;
mod ping;
mod properties;
mod property_id;
mod publish;
mod reason;
mod return_code;
mod suback;
mod subscribe;
pub mod topic_rules;
mod unsuback;
mod unsubscribe;
pub mod v5_corpus;
mod wire;

#[cfg(test)]
mod differential_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
pub(crate) mod test_support_rumqttc;
#[cfg(test)]
pub(crate) mod test_support_v5;
#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
#[cfg(test)]
mod v5_differential_tests;
#[cfg(test)]
mod v5_fuzz_tests;
#[cfg(test)]
mod v5_tests;

use bytes::{Buf, BufMut, BytesMut};

pub use ack::Ack;
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use error::CodecError;
pub use fields::{PacketId, PacketType, ProtocolLevel, QoS};
pub use properties::{Properties, MAX_SUBSCRIPTION_ID};
pub use property_id::{PropertiesOf, PropertyId};
pub use publish::{Publish, PublishView};
pub use reason::ReasonCode;
pub use return_code::ConnectReturnCode;
pub use suback::{SubAck, SubackCode};
pub use subscribe::{RetainHandling, SubOptions, Subscribe};
pub use topic_rules::{validate_topic_filter, validate_topic_name, TopicError, TopicName};
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;

use wire::Reader;

/// The largest remaining length the 4-byte variable-length integer can express.
pub const MAX_REMAINING_LEN: usize = 268_435_455;

/// One control packet, of any protocol level (like emqttd's single `#mqtt_packet{}` record).
///
/// What only MQTT 5 has (reason codes, properties) lives in fields that are empty on 3.1 and
/// 3.1.1 and boxed where large, so a 3.1.1 packet stays as small as before: the enum is at
/// most 64 bytes (a test holds it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Client request to connect (boxed: it is by far the largest packet, and one a connection
    /// sends once).
    Connect(Box<Connect>),
    /// Connect acknowledgement.
    ConnAck(ConnAck),
    /// Application message.
    Publish(Publish),
    /// QoS 1 acknowledgement.
    PubAck(Ack),
    /// QoS 2, publish received.
    PubRec(Ack),
    /// QoS 2, publish release.
    PubRel(Ack),
    /// QoS 2, publish complete.
    PubComp(Ack),
    /// Subscribe request.
    Subscribe(Subscribe),
    /// Subscribe acknowledgement.
    SubAck(SubAck),
    /// Unsubscribe request.
    Unsubscribe(Unsubscribe),
    /// Unsubscribe acknowledgement.
    UnsubAck(UnsubAck),
    /// Keepalive request.
    PingReq,
    /// Keepalive response.
    PingResp,
    /// Clean disconnect: on 3.1/3.1.1 the will is discarded [MQTT-3.14.4-3]. In MQTT 5 sent
    /// by either side, with a reason code.
    Disconnect(Disconnect),
    /// MQTT 5 only: a step of enhanced authentication.
    Auth(Auth),
}

impl Packet {
    /// The packet's type, for the connection's ordering rules and for logs.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Bytes [`encode`] writes for this packet at `level`: first byte, remaining length and
    /// body. Lets a writer reserve once, or check a packet against a client's maximum packet
    /// size before sending it.
    pub fn encoded_len(&self, level: ProtocolLevel) -> usize {
        let body = self.body_len(level);
        1 + remaining_len_len(body) + body
    }

    /// The remaining length at `level`: variable header plus payload.
    fn body_len(&self, level: ProtocolLevel) -> usize {
        match self {
            Packet::Connect(connect) => connect.len(),
            Packet::ConnAck(connack) => connack.len(level),
            Packet::Publish(publish) => publish.view().len(level),
            Packet::PubAck(ack) | Packet::PubRec(ack) | Packet::PubRel(ack) | Packet::PubComp(ack) => {
                ack.len(level)
            }
            Packet::Subscribe(subscribe) => subscribe.len(level),
            Packet::SubAck(suback) => suback.len(level),
            Packet::Unsubscribe(unsubscribe) => unsubscribe.len(level),
            Packet::UnsubAck(unsuback) => unsuback.len(level),
            Packet::PingReq | Packet::PingResp => ping::LEN,
            Packet::Disconnect(disconnect) => disconnect.len(level),
            Packet::Auth(auth) => auth.len(),
        }
    }

    /// The first byte: type and flags.
    fn first_byte(&self) -> u8 {
        let packet_type = self.packet_type();
        let flags = match self {
            Packet::Publish(publish) => publish.view().header_flags(),
            _ => packet_type.required_flags().unwrap_or(0),
        };
        (packet_type as u8) << 4 | flags
    }
}

macro_rules! packet_from {
    ($($variant:ident($ty:ty)),*) => {
        $(impl From<$ty> for Packet {
            fn from(packet: $ty) -> Packet {
                Packet::$variant(packet)
            }
        })*
    };
}
impl From<Connect> for Packet {
    fn from(packet: Connect) -> Packet {
        Packet::Connect(Box::new(packet))
    }
}
packet_from!(
    ConnAck(ConnAck),
    Publish(Publish),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    Disconnect(Disconnect),
    Auth(Auth)
);

/// A fixed header that passed every check [`peek_header`] can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// The packet type.
    pub packet_type: PacketType,
    /// The low nibble of the first byte (DUP, QoS and RETAIN for PUBLISH).
    pub flags: u8,
    /// Length of the body that follows the header.
    pub remaining_len: usize,
    /// Length of the header itself: 1 plus 1 to 4 remaining length bytes.
    pub header_len: usize,
}

impl FixedHeader {
    /// Length of the whole frame, at most [`MAX_REMAINING_LEN`] + 5.
    pub fn frame_len(&self) -> usize {
        self.header_len + self.remaining_len
    }

    /// Whether the remaining length took the fewest bytes it could, as MQTT 5 requires
    /// [MQTT-1.5.5-1] (3.1.1 does not).
    pub fn is_shortest(&self) -> bool {
        self.header_len == 1 + remaining_len_len(self.remaining_len)
    }
}

/// Reads the fixed header at the start of `buf` without consuming anything: `Ok(None)` if
/// it is not all there yet, an error if it is invalid or declares a frame larger than
/// `max_packet_size` (whole frame, header included). The body need not be buffered.
///
/// See the module docs for what `level` changes.
pub fn peek_header(
    buf: &[u8],
    max_packet_size: usize,
    level: Option<ProtocolLevel>,
) -> Result<Option<FixedHeader>, CodecError> {
    let Some((&first, len_bytes)) = buf.split_first() else {
        return Ok(None);
    };
    let packet_type = match PacketType::from_nibble(first >> 4) {
        // AUTH exists in MQTT 5 only; below, 15 is reserved.
        Some(PacketType::Auth) if level != Some(ProtocolLevel::V5) => {
            return Err(CodecError::InvalidPacketType(first >> 4))
        }
        None => return Err(CodecError::InvalidPacketType(first >> 4)),
        Some(packet_type) => packet_type,
    };
    let flags = first & 0x0F;
    check_flags(packet_type, flags, level)?;

    let Some((remaining_len, len_len)) = read_remaining_len(len_bytes)? else {
        return Ok(None);
    };
    if level == Some(ProtocolLevel::V5) && len_len != remaining_len_len(remaining_len) {
        return Err(CodecError::NonMinimalVarInt {
            field: "remaining length",
        });
    }
    if let Some(expected) = packet_type.fixed_remaining_len(level) {
        if remaining_len != expected {
            return Err(CodecError::UnexpectedRemainingLength {
                packet_type,
                expected,
                actual: remaining_len,
            });
        }
    }
    let header = FixedHeader {
        packet_type,
        flags,
        remaining_len,
        header_len: 1 + len_len,
    };
    if header.frame_len() > max_packet_size {
        return Err(CodecError::PayloadTooLarge {
            size: header.frame_len(),
            max: max_packet_size,
        });
    }
    Ok(Some(header))
}

/// Reserved flag bits per type [MQTT-2.2.2-1], [MQTT-2.2.2-2]; PUBLISH QoS 3
/// [MQTT-3.3.1-4] and DUP at QoS 0 [MQTT-3.3.1-2].
fn check_flags(packet_type: PacketType, flags: u8, level: Option<ProtocolLevel>) -> Result<(), CodecError> {
    let qos_bits = (flags >> 1) & 0b11;
    match (packet_type, level) {
        (PacketType::Publish, _) => {
            if qos_bits == 3 {
                return Err(CodecError::InvalidPublishQoS { flags });
            }
            if qos_bits == 0 && flags & 0b1000 != 0 {
                return Err(CodecError::DupWithQoS0 { flags });
            }
            Ok(())
        }
        // MQTT 3.1 sections 3.6, 3.8 and 3.10: QoS 1, DUP set on a retransmission.
        (PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe, Some(ProtocolLevel::V31))
            if qos_bits == 1 =>
        {
            Ok(())
        }
        // MQTT 3.1 section 2.1: DUP, QoS and RETAIN "not used" on the other types.
        (PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe, Some(ProtocolLevel::V31)) => {
            Err(CodecError::InvalidHeaderFlags { packet_type, flags })
        }
        (_, Some(ProtocolLevel::V31)) => Ok(()),
        _ if packet_type.required_flags() == Some(flags) => Ok(()),
        _ => Err(CodecError::InvalidHeaderFlags { packet_type, flags }),
    }
}

/// Decodes one packet from the front of `buf`.
///
/// - `Ok(Some(packet))`: exactly that packet's frame was consumed.
/// - `Ok(None)`: the frame is not all there yet; nothing was consumed. Read more and call again.
/// - `Err(_)`: the peer broke the protocol; close the connection (after a CONNACK if
///   [`CodecError::connack_code`] says so). The frame may or may not have been consumed.
///
/// `max_packet_size` bounds the whole frame and is enforced from the header alone, so `buf`
/// never has to hold more than that. `level` is the connection's protocol level once its
/// CONNECT is accepted, `None` before (see the module docs).
///
/// Never panics, whatever the bytes.
pub fn decode(
    buf: &mut BytesMut,
    max_packet_size: usize,
    level: Option<ProtocolLevel>,
) -> Result<Option<Packet>, CodecError> {
    let Some(header) = peek_header(buf, max_packet_size, level)? else {
        return Ok(None);
    };
    if buf.len() < header.frame_len() {
        return Ok(None);
    }
    let mut frame = buf.split_to(header.frame_len()).freeze();
    // Cannot panic: the frame is header_len + remaining_len bytes long.
    frame.advance(header.header_len);
    let body = Reader::new(frame);
    let packet = match header.packet_type {
        PacketType::Connect => Packet::Connect(Box::new(Connect::decode(body, header.is_shortest())?)),
        PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(body, level)?),
        PacketType::Publish => Packet::Publish(Publish::decode(header.flags, body, level)?),
        PacketType::PubAck => Packet::PubAck(Ack::decode(body, PacketType::PubAck, level)?),
        PacketType::PubRec => Packet::PubRec(Ack::decode(body, PacketType::PubRec, level)?),
        PacketType::PubRel => Packet::PubRel(Ack::decode(body, PacketType::PubRel, level)?),
        PacketType::PubComp => Packet::PubComp(Ack::decode(body, PacketType::PubComp, level)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(body, level)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(body, level)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(body, level)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(body, level)?),
        PacketType::PingReq => ping::decode(body, PacketType::PingReq).map(|()| Packet::PingReq)?,
        PacketType::PingResp => ping::decode(body, PacketType::PingResp).map(|()| Packet::PingResp)?,
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(body, level)?),
        // peek_header lets AUTH through at level 5 only.
        PacketType::Auth => Packet::Auth(Auth::decode(body)?),
    };
    Ok(Some(packet))
}

/// Appends `packet`'s frame, as a client or server of protocol `level` reads it, to `buf`,
/// reserving [`Packet::encoded_len`] bytes first.
///
/// On 3.1 and 3.1.1 what those levels cannot carry is left out: reason codes, properties,
/// the options of a subscription but its QoS; a `SubackCode::Failure` is 0x80 and a
/// `ConnectReturnCode` only MQTT 5 has is written as its nearest 3.1.1 code. A `Connect`
/// is always written at its own `level`, an `Auth` always as MQTT 5 (no other level has it).
/// On MQTT 5 the shortest form is written: an acknowledgement with reason Success and no
/// properties is two bytes [MQTT-3.4.2-1], a normal DISCONNECT none.
///
/// That every reason code and property is allowed in its packet is checked by debug
/// assertions only: the broker builds these, and a packet that breaks the tables is a bug.
///
/// Writes the fields as they are: a `Publish` whose `pkid` does not match its `qos`, or a
/// 3.1.1 `Connect` with a password but no username, is written as such (tests use this to
/// build malformed input). Give a 3.1 client a `ConnAck` with `session_present: false`.
///
/// # Panics
/// If a string or binary field is longer than 65,535 bytes, or the body longer than
/// [`MAX_REMAINING_LEN`]: neither fits the wire format, and neither can come out of
/// [`decode`], so only a caller bug builds one.
pub fn encode(packet: &Packet, level: ProtocolLevel, buf: &mut BytesMut) {
    let body_len = packet.body_len(level);
    buf.reserve(1 + remaining_len_len(body_len) + body_len);
    buf.put_u8(packet.first_byte());
    put_remaining_len(buf, body_len);
    match packet {
        Packet::Connect(connect) => connect.encode(buf),
        Packet::ConnAck(connack) => connack.encode(level, buf),
        Packet::Publish(publish) => publish.view().encode_body(level, buf),
        Packet::PubAck(ack) | Packet::PubRec(ack) | Packet::PubRel(ack) | Packet::PubComp(ack) => {
            ack.encode(packet.packet_type(), level, buf);
        }
        Packet::Subscribe(subscribe) => subscribe.encode(level, buf),
        Packet::SubAck(suback) => suback.encode(level, buf),
        Packet::Unsubscribe(unsubscribe) => unsubscribe.encode(level, buf),
        Packet::UnsubAck(unsuback) => unsuback.encode(level, buf),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(disconnect) => disconnect.encode(level, buf),
        Packet::Auth(auth) => auth.encode(buf),
    }
}

/// Reads the variable-length remaining length (MQTT 3.1.1 section 2.2.3): `Ok(None)` if it
/// is not complete yet, else the value and how many bytes it took. A fourth byte with the
/// continuation bit means a fifth byte, which is malformed; we know that without waiting for
/// the fifth. Non-minimal encodings (`0x80 0x00` for 0) are accepted: 3.1.1 does not forbid
/// them.
fn read_remaining_len(bytes: &[u8]) -> Result<Option<(usize, usize)>, CodecError> {
    let mut value = 0usize;
    for (i, &byte) in bytes.iter().take(4).enumerate() {
        // i < 4, so the shift is at most 21 and the value below 2^28: no overflow.
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 4 {
        Err(CodecError::MalformedRemainingLength)
    } else {
        Ok(None)
    }
}

/// Bytes the remaining length takes on the wire (1 to 4).
fn remaining_len_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes the remaining length in its shortest form.
///
/// # Panics
/// Above [`MAX_REMAINING_LEN`]; see [`encode`].
fn put_remaining_len(buf: &mut BytesMut, len: usize) {
    assert!(
        len <= MAX_REMAINING_LEN,
        "packet body of {len} bytes exceeds the MQTT maximum of {MAX_REMAINING_LEN}"
    );
    let mut rest = len;
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
