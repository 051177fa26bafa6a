//! [`CodecError`]: every way a peer's bytes can break MQTT 3.1, 3.1.1 or 5.
//!
//! One variant per rule, carrying the offending value, so the connection can log exactly what
//! the peer sent and tests can assert which rule fired. "Not enough bytes yet" is not an error
//! but `Ok(None)` from [`decode`], as in mini-redis: it happens all the time in normal running.
//!
//! Each error also says what an MQTT 5 peer is told before the close
//! ([`CodecError::disconnect_reason`]): 0x81 for a packet that cannot be parsed, 0x82 for one
//! that parses but breaks a rule ("It is a Protocol Error to..."), 0x95 and 0x94 for the
//! two rules with their own code. A 3.1/3.1.1 peer is told nothing [MQTT-4.8.0-1], except a
//! CONNECT refused for its protocol level ([`CodecError::connack_code`]).
//!
//! Nothing here allocates when it is built, bar two rare cases: values are numbers,
//! `&'static str` field names or `Bytes` slices of the frame being decoded (a reference
//! count, not a copy). A shared subscription with no local keeps the filter string the decoder
//! had already built, and an error in an MQTT 5 CONNECT is boxed into
//! [`CodecError::InvalidV5Connect`] (once per connection at most).
//!
//! [`decode`]: super::decode

use bytes::Bytes;

use super::fields::{PacketType, ProtocolLevel};
use super::property_id::{PropertiesOf, PropertyId};
use super::reason::ReasonCode;
use super::return_code::ConnectReturnCode;
use super::topic_rules::TopicError;

/// Why a packet was rejected. Every variant is the peer's fault and ends the connection, after
/// the CONNACK of [`CodecError::connack_code`] or, to an MQTT 5 peer past its CONNECT, the
/// DISCONNECT of [`CodecError::disconnect_reason`].
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

    /// A CONNECT with MQTT's protocol name but a level other than `MQTT` level 4 or 5 or
    /// `MQIsdp` level 3. The connection answers a 3.1.1 CONNACK 0x01 before closing
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

    /// CONNACK refusing the connection yet claiming a session [MQTT-3.2.2-4],
    /// [MQTT-3.2.2-6].
    #[error("session present on CONNACK refusal {0:?}")]
    SessionPresentOnRefusal(ConnectReturnCode),

    /// MQTT 5: a variable byte integer in the body runs past its fourth byte (section 1.5.5).
    #[error("{field} is a variable byte integer longer than 4 bytes")]
    MalformedVarInt {
        /// Which field.
        field: &'static str,
    },

    /// MQTT 5: a variable byte integer in more bytes than its value needs [MQTT-1.5.5-1].
    #[error("{field} is not in the shortest variable byte integer encoding")]
    NonMinimalVarInt {
        /// Which field (`remaining length` for the fixed header).
        field: &'static str,
    },

    /// MQTT 5: a property identifier the spec does not define (section 2.2.2.2).
    #[error("unknown property identifier {0:#04x}")]
    UnknownProperty(u32),

    /// MQTT 5: a property the packet may not carry (section 2.2.2.2, table 2-4).
    #[error("{property} is not allowed in {of} properties")]
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// The packet, or the will.
        of: PropertiesOf,
    },

    /// MQTT 5: a property other than User Property (or Subscription Identifier in PUBLISH)
    /// appears twice ("It is a Protocol Error to include ... more than once").
    #[error("{property} more than once in {of} properties")]
    DuplicateProperty {
        /// The property.
        property: PropertyId,
        /// The packet, or the will.
        of: PropertiesOf,
    },

    /// MQTT 5: a property value the spec forbids: 0 for Receive Maximum, Maximum Packet Size,
    /// Subscription Identifier or Topic Alias [MQTT-3.3.2-8], a Maximum QoS of 2, a flag other
    /// than 0 or 1.
    #[error("{property} of {value} is not allowed")]
    InvalidPropertyValue {
        /// The property.
        property: PropertyId,
        /// The value sent.
        value: u32,
    },

    /// MQTT 5: Authentication Data without Authentication Method (sections 3.1.2.11.10,
    /// 3.2.2.3.18).
    #[error("authentication data without authentication method in {0} properties")]
    AuthDataWithoutMethod(PropertiesOf),

    /// MQTT 5: an AUTH other than the bare success form without Authentication Method
    /// (section 3.15.2.2.2).
    #[error("AUTH without authentication method")]
    AuthWithoutMethod,

    /// MQTT 5: a reason code the packet's table does not have (section 2.4).
    #[error("reason code {code:#04x} is not valid in {packet_type}")]
    InvalidReasonCode {
        /// The packet type.
        packet_type: PacketType,
        /// The byte sent.
        code: u8,
    },

    /// MQTT 5: a PUBLISH with an empty topic name and no Topic Alias (section 3.3.4).
    #[error("empty topic name without topic alias in PUBLISH")]
    EmptyTopicWithoutAlias,

    /// MQTT 5: subscription options with reserved bits 6-7 set [MQTT-3.8.3-5] or QoS 3
    /// (section 3.8.3.1).
    #[error("invalid subscription options {0:#010b}")]
    InvalidSubscriptionOptions(u8),

    /// MQTT 5: subscription options with Retain Handling 3 (section 3.8.3.1).
    #[error("retain handling 3 in subscription options {0:#010b}")]
    InvalidRetainHandling(u8),

    /// MQTT 5: No Local on a shared subscription [MQTT-3.8.3-4].
    #[error("no local on shared subscription {filter:?}")]
    NoLocalOnSharedSubscription {
        /// The `$share/...` filter.
        filter: String,
    },

    /// An MQTT 5 CONNECT (protocol name and level already read) that breaks a rule: the
    /// client speaks MQTT 5, so it is told why in a CONNACK of that level (see
    /// [`CodecError::connack_code`]).
    #[error("invalid MQTT 5 CONNECT: {0}")]
    InvalidV5Connect(Box<CodecError>),
}

impl CodecError {
    /// The CONNACK the connection sends before closing, if this error calls for one, to be
    /// written at [`CodecError::connack_level`]: 0x01 for MQTT's protocol name with a level arbor
    /// does not speak [MQTT-3.1.2-2]; for an invalid MQTT 5 CONNECT, 0x81 malformed packet, 0x82
    /// protocol error... as [`CodecError::disconnect_reason`] says [MQTT-3.1.4-1],
    /// [MQTT-4.13.1-1]. Every other error, an unknown protocol name included [MQTT-3.1.2-1],
    /// closes the connection without a CONNACK [MQTT-4.8.0-1].
    pub fn connack_code(&self) -> Option<ConnectReturnCode> {
        match self {
            CodecError::UnsupportedProtocol { .. } => Some(ConnectReturnCode::UnacceptableProtocolVersion),
            CodecError::InvalidV5Connect(error) => error
                .disconnect_reason()
                .and_then(ConnectReturnCode::from_reason_code),
            _ => None,
        }
    }

    /// The level to write the CONNACK of [`CodecError::connack_code`] at: MQTT 5 for an MQTT
    /// 5 CONNECT, else 3.1.1 (the protocol is unknown, and a 3.1 client reads a 3.1.1 refusal).
    pub fn connack_level(&self) -> ProtocolLevel {
        match self {
            CodecError::InvalidV5Connect(_) => ProtocolLevel::V5,
            _ => ProtocolLevel::V311,
        }
    }

    /// The reason code an MQTT 5 peer is told before the close, in a DISCONNECT once its
    /// CONNECT is accepted (section 4.13): 0x81 for a packet that cannot be parsed, 0x82 for
    /// a rule the spec calls a protocol error, 0x95 for a packet over the maximum packet size,
    /// 0x94 for a Topic Alias of 0. `None` for a CONNECT of an unknown protocol, which gets
    /// [`CodecError::connack_code`] instead.
    pub fn disconnect_reason(&self) -> Option<ReasonCode> {
        Some(match self {
            CodecError::UnsupportedProtocol { .. } | CodecError::UnknownProtocolName { .. } => return None,
            CodecError::InvalidV5Connect(error) => return error.disconnect_reason(),
            CodecError::PayloadTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            CodecError::InvalidPropertyValue {
                property: PropertyId::TopicAlias,
                ..
            } => ReasonCode::TOPIC_ALIAS_INVALID,
            CodecError::DuplicateProperty { .. }
            | CodecError::InvalidPropertyValue { .. }
            | CodecError::AuthDataWithoutMethod(_)
            | CodecError::AuthWithoutMethod
            | CodecError::EmptyTopicWithoutAlias
            | CodecError::InvalidRetainHandling(_)
            | CodecError::NoLocalOnSharedSubscription { .. }
            | CodecError::SessionPresentOnRefusal(_) => ReasonCode::PROTOCOL_ERROR,
            CodecError::InvalidPacketType(_)
            | CodecError::InvalidHeaderFlags { .. }
            | CodecError::InvalidPublishQoS { .. }
            | CodecError::DupWithQoS0 { .. }
            | CodecError::MalformedRemainingLength
            | CodecError::UnexpectedRemainingLength { .. }
            | CodecError::Truncated { .. }
            | CodecError::TrailingBytes { .. }
            | CodecError::InvalidUtf8 { .. }
            | CodecError::NullCharacter { .. }
            | CodecError::ConnectReservedFlag(_)
            | CodecError::WillFlagsWithoutWill(_)
            | CodecError::InvalidWillQoS(_)
            | CodecError::PasswordWithoutUsername(_)
            | CodecError::InvalidTopicName { .. }
            | CodecError::InvalidTopicFilter { .. }
            | CodecError::ZeroPacketId(_)
            | CodecError::EmptyPayload(_)
            | CodecError::InvalidRequestedQoS(_)
            | CodecError::InvalidSubackCode(_)
            | CodecError::InvalidConnectReturnCode(_)
            | CodecError::ConnAckReservedFlags(_)
            | CodecError::MalformedVarInt { .. }
            | CodecError::NonMinimalVarInt { .. }
            | CodecError::UnknownProperty(_)
            | CodecError::PropertyNotAllowed { .. }
            | CodecError::InvalidReasonCode { .. }
            | CodecError::InvalidSubscriptionOptions(_) => ReasonCode::MALFORMED_PACKET,
        })
    }
}
