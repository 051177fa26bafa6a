//! [`CodecError`]: every way a peer's bytes can break MQTT 3.1/3.1.1.
//!
//! One variant per rule, carrying the offending value, so the connection can log exactly what
//! the peer sent and tests can assert which rule fired. "Not enough bytes yet" is not an error
//! but `Ok(None)` from [`decode`], as in mini-redis: it happens all the time in normal running.
//!
//! Nothing here allocates when it is built: values are numbers, `&'static str` field names or
//! `Bytes` slices of the frame being decoded (a reference count, not a copy).
//!
//! [`decode`]: super::decode

use bytes::Bytes;

use super::connack::ConnectReturnCode;
use super::fields::PacketType;
use super::topic_rules::TopicError;

/// Why a packet was rejected. Every variant is the peer's fault and ends the connection; only
/// [`CodecError::UnsupportedProtocol`] calls for a reply first (see
/// [`CodecError::connack_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Packet type 0 or 15, both reserved (MQTT 3.1.1 section 2.2.1).
    #[error("reserved packet type {0}")]
    InvalidPacketType(u8),

    /// Fixed-header flag bits other than the ones the spec fixes for this type
    /// [MQTT-2.2.2-1], [MQTT-2.2.2-2].
    #[error("invalid flags {flags:#06b} in {packet_type} fixed header")]
    InvalidHeaderFlags {
        /// The packet type of the first byte.
        packet_type: PacketType,
        /// The low nibble of the first byte.
        flags: u8,
    },

    /// PUBLISH with both QoS bits set [MQTT-3.3.1-4].
    #[error("qos 3 in PUBLISH fixed header (flags {flags:#06b})")]
    InvalidPublishQoS {
        /// The low nibble of the first byte.
        flags: u8,
    },

    /// PUBLISH at QoS 0 with DUP set [MQTT-3.3.1-2].
    #[error("dup set on qos 0 PUBLISH (flags {flags:#06b})")]
    DupWithQoS0 {
        /// The low nibble of the first byte.
        flags: u8,
    },

    /// The remaining length runs past its fourth byte (MQTT 3.1.1 section 2.2.3).
    #[error("remaining length longer than 4 bytes")]
    MalformedRemainingLength,

    /// A packet whose body has a fixed size declared another size (PUBACK with 3 bytes,
    /// PINGREQ with a body).
    #[error("remaining length {actual} for {packet_type}, which has exactly {expected}")]
    UnexpectedRemainingLength {
        /// The packet type of the first byte.
        packet_type: PacketType,
        /// The only valid remaining length for that type.
        expected: usize,
        /// The remaining length the peer declared.
        actual: usize,
    },

    /// The whole frame (first byte, remaining length bytes and body) would be larger than the
    /// configured maximum. Decided from the fixed header, before the body is buffered.
    #[error("frame of {size} bytes exceeds the maximum packet size of {max}")]
    PayloadTooLarge {
        /// The declared frame size.
        size: usize,
        /// The limit passed to `decode`.
        max: usize,
    },

    /// A field runs past the end of the frame the fixed header declared.
    #[error("{field} needs {needed} bytes but only {available} remain in the packet")]
    Truncated {
        /// Which field, as the spec names it.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the frame.
        available: usize,
    },

    /// Bytes left inside the frame after the last field.
    #[error("{count} trailing bytes in {packet_type}")]
    TrailingBytes {
        /// The packet type.
        packet_type: PacketType,
        /// How many bytes were left over.
        count: usize,
    },

    /// A string field is not well-formed UTF-8 [MQTT-1.5.3-1].
    #[error("{field} is not valid utf-8 after byte {valid_up_to}")]
    InvalidUtf8 {
        /// Which field.
        field: &'static str,
        /// Length of the valid prefix.
        valid_up_to: usize,
    },

    /// A string field contains U+0000 [MQTT-1.5.3-2].
    #[error("{field} contains a null character at byte {at}")]
    NullCharacter {
        /// Which field.
        field: &'static str,
        /// Byte offset of the null in the field.
        at: usize,
    },

    /// A CONNECT whose protocol name is not MQTT's (`MQTT`, or `MQIsdp` for 3.1): not an MQTT
    /// client, so it is closed without a CONNACK [MQTT-3.1.2-1].
    #[error("unknown protocol name {:?}", String::from_utf8_lossy(.name))]
    UnknownProtocolName {
        /// The protocol name bytes, not necessarily UTF-8.
        name: Bytes,
    },

    /// A CONNECT with MQTT's protocol name but a level other than `MQTT` level 4 or `MQIsdp`
    /// level 3 (an MQTT 5 client, say). The connection answers CONNACK 0x01 before closing
    /// [MQTT-3.1.2-2].
    #[error("unsupported protocol {:?} level {level}", String::from_utf8_lossy(.name))]
    UnsupportedProtocol {
        /// The protocol name bytes, not necessarily UTF-8.
        name: Bytes,
        /// The protocol level byte.
        level: u8,
    },

    /// CONNECT flags with the reserved bit 0 set [MQTT-3.1.2-3].
    #[error("reserved bit set in CONNECT flags {0:#010b}")]
    ConnectReservedFlag(u8),

    /// CONNECT flags with will QoS or will retain but no will flag [MQTT-3.1.2-11],
    /// [MQTT-3.1.2-13], [MQTT-3.1.2-15].
    #[error("will qos or will retain without will flag in CONNECT flags {0:#010b}")]
    WillFlagsWithoutWill(u8),

    /// CONNECT flags with will QoS 3 [MQTT-3.1.2-14].
    #[error("will qos 3 in CONNECT flags {0:#010b}")]
    InvalidWillQoS(u8),

    /// A 3.1.1 CONNECT with the password flag but not the username flag [MQTT-3.1.2-22].
    #[error("password without username in CONNECT flags {0:#010b}")]
    PasswordWithoutUsername(u8),

    /// A PUBLISH or will topic that breaks the topic name rules.
    #[error("invalid topic name {:?}: {reason}", String::from_utf8_lossy(.topic))]
    InvalidTopicName {
        /// The topic as sent (valid UTF-8, since that is checked first).
        topic: Bytes,
        /// The rule it breaks.
        reason: TopicError,
    },

    /// A SUBSCRIBE or UNSUBSCRIBE filter that breaks the topic filter rules.
    #[error("invalid topic filter {:?}: {reason}", String::from_utf8_lossy(.filter))]
    InvalidTopicFilter {
        /// The filter as sent (valid UTF-8, since that is checked first).
        filter: Bytes,
        /// The rule it breaks.
        reason: TopicError,
    },

    /// Packet id 0 where the packet needs one [MQTT-2.3.1-1].
    #[error("packet id 0 in {0}")]
    ZeroPacketId(PacketType),

    /// SUBSCRIBE or UNSUBSCRIBE without a topic filter [MQTT-3.8.3-3], [MQTT-3.10.3-2], or
    /// SUBACK without a return code.
    #[error("empty payload in {0}")]
    EmptyPayload(PacketType),

    /// A SUBSCRIBE requested-QoS byte with reserved bits set or QoS 3 [MQTT-3.8.3-4].
    #[error("invalid requested qos byte {0:#04x}")]
    InvalidRequestedQoS(u8),

    /// A SUBACK return code other than 0, 1, 2 or (3.1.1 only) 0x80.
    #[error("invalid SUBACK return code {0:#04x}")]
    InvalidSubackCode(u8),

    /// A CONNACK return code above 5.
    #[error("invalid CONNACK return code {0:#04x}")]
    InvalidConnectReturnCode(u8),

    /// CONNACK acknowledge flags with reserved bits 7-1 set (MQTT 3.1.1 section 3.2.2.1).
    #[error("reserved bits set in CONNACK flags {0:#010b}")]
    ConnAckReservedFlags(u8),

    /// CONNACK refusing the connection yet claiming a session [MQTT-3.2.2-4].
    #[error("session present on CONNACK refusal {0:?}")]
    SessionPresentOnRefusal(ConnectReturnCode),
}

impl CodecError {
    /// The CONNACK the connection must send before closing, if this error calls for one:
    /// 0x01 for MQTT's protocol name with a level arbor does not speak [MQTT-3.1.2-2]. Every
    /// other error, an unknown protocol name included [MQTT-3.1.2-1], closes the connection
    /// without a reply [MQTT-4.8.0-1].
    pub fn connack_code(&self) -> Option<ConnectReturnCode> {
        match self {
            CodecError::UnsupportedProtocol { .. } => Some(ConnectReturnCode::UnacceptableProtocolVersion),
            _ => None,
        }
    }
}
