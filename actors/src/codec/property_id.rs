//! [`PropertyId`] and [`PropertiesOf`]: the MQTT 5 property identifiers (section 2.2.2.2,
//! table 2-4) and the property sets they may appear in.
//!
//! Apart from `properties.rs`, which reads and writes the values, because [`CodecError`] names
//! a property and its set in its variants: keeping the identifiers here, with nothing but
//! [`PacketType`] below them, keeps the error type out of any import circle
//! (`properties` -> `wire` -> `error` -> `properties` before).
//!
//! [`CodecError`]: super::CodecError

use std::fmt;

use super::fields::PacketType;

/// Which property set a block belongs to: a packet's, or the will's inside a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertiesOf {
    /// The properties of a packet of this type.
    Packet(PacketType),
    /// The will properties of a CONNECT (section 3.1.3.2).
    Will,
}

impl PropertiesOf {
    /// This set's bit in [`PropertyId::allowed`]'s masks: 1 << packet type, bit 0 for the will.
    const fn bit(self) -> u16 {
        match self {
            PropertiesOf::Will => 1,
            PropertiesOf::Packet(packet_type) => 1 << packet_type as u8,
        }
    }
}

impl fmt::Display for PropertiesOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertiesOf::Packet(packet_type) => f.write_str(packet_type.name()),
            PropertiesOf::Will => f.write_str("will"),
        }
    }
}

const WILL: u16 = 1;
const CONNECT: u16 = 1 << PacketType::Connect as u8;
const CONNACK: u16 = 1 << PacketType::ConnAck as u8;
const PUBLISH: u16 = 1 << PacketType::Publish as u8;
const PUBACK: u16 = 1 << PacketType::PubAck as u8;
const PUBREC: u16 = 1 << PacketType::PubRec as u8;
const PUBREL: u16 = 1 << PacketType::PubRel as u8;
const PUBCOMP: u16 = 1 << PacketType::PubComp as u8;
const SUBSCRIBE: u16 = 1 << PacketType::Subscribe as u8;
const SUBACK: u16 = 1 << PacketType::SubAck as u8;
const UNSUBSCRIBE: u16 = 1 << PacketType::Unsubscribe as u8;
const UNSUBACK: u16 = 1 << PacketType::UnsubAck as u8;
const DISCONNECT: u16 = 1 << PacketType::Disconnect as u8;
const AUTH: u16 = 1 << PacketType::Auth as u8;
const ACKS: u16 = PUBACK | PUBREC | PUBREL | PUBCOMP;

macro_rules! property_ids {
    ($($name:ident = $id:literal, $text:literal, $allowed:expr;)*) => {
        /// A property identifier (MQTT 5.0 section 2.2.2.2, table 2-4).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum PropertyId {
            $(#[doc = concat!($text, ".")] $name = $id,)*
        }

        impl PropertyId {
            /// Every property, in identifier order.
            pub const ALL: [PropertyId; 27] = [$(PropertyId::$name,)*];

            /// The property for an identifier, or `None` for one MQTT 5 does not define.
            pub const fn from_u8(id: u8) -> Option<PropertyId> {
                match id {
                    $($id => Some(PropertyId::$name),)*
                    _ => None,
                }
            }

            /// The spec's name, lower case.
            pub const fn name(self) -> &'static str {
                match self {
                    $(PropertyId::$name => $text,)*
                }
            }

            /// The property sets it may appear in, as a mask of [`PropertiesOf::bit`]s.
            const fn allowed(self) -> u16 {
                match self {
                    $(PropertyId::$name => $allowed,)*
                }
            }
        }
    };
}

property_ids! {
    PayloadFormatIndicator = 0x01, "payload format indicator", PUBLISH | WILL;
    MessageExpiryInterval = 0x02, "message expiry interval", PUBLISH | WILL;
    ContentType = 0x03, "content type", PUBLISH | WILL;
    ResponseTopic = 0x08, "response topic", PUBLISH | WILL;
    CorrelationData = 0x09, "correlation data", PUBLISH | WILL;
    SubscriptionIdentifier = 0x0B, "subscription identifier", PUBLISH | SUBSCRIBE;
    SessionExpiryInterval = 0x11, "session expiry interval", CONNECT | CONNACK | DISCONNECT;
    AssignedClientIdentifier = 0x12, "assigned client identifier", CONNACK;
    ServerKeepAlive = 0x13, "server keep alive", CONNACK;
    AuthenticationMethod = 0x15, "authentication method", CONNECT | CONNACK | AUTH;
    AuthenticationData = 0x16, "authentication data", CONNECT | CONNACK | AUTH;
    RequestProblemInformation = 0x17, "request problem information", CONNECT;
    WillDelayInterval = 0x18, "will delay interval", WILL;
    RequestResponseInformation = 0x19, "request response information", CONNECT;
    ResponseInformation = 0x1A, "response information", CONNACK;
    ServerReference = 0x1C, "server reference", CONNACK | DISCONNECT;
    ReasonString = 0x1F, "reason string", CONNACK | ACKS | SUBACK | UNSUBACK | DISCONNECT | AUTH;
    ReceiveMaximum = 0x21, "receive maximum", CONNECT | CONNACK;
    TopicAliasMaximum = 0x22, "topic alias maximum", CONNECT | CONNACK;
    TopicAlias = 0x23, "topic alias", PUBLISH;
    MaximumQos = 0x24, "maximum qos", CONNACK;
    RetainAvailable = 0x25, "retain available", CONNACK;
    UserProperty = 0x26, "user property",
        CONNECT | CONNACK | PUBLISH | WILL | ACKS | SUBSCRIBE | SUBACK | UNSUBSCRIBE | UNSUBACK
            | DISCONNECT | AUTH;
    MaximumPacketSize = 0x27, "maximum packet size", CONNECT | CONNACK;
    WildcardSubscriptionAvailable = 0x28, "wildcard subscription available", CONNACK;
    SubscriptionIdentifierAvailable = 0x29, "subscription identifier available", CONNACK;
    SharedSubscriptionAvailable = 0x2A, "shared subscription available", CONNACK;
}

impl PropertyId {
    /// Whether the property may appear in `of` (table 2-4).
    pub const fn is_allowed_in(self, of: PropertiesOf) -> bool {
        self.allowed() & of.bit() != 0
    }

    /// Whether it may appear more than once in `of`: User Property anywhere (section 3.1.2.11.8
    /// and its twin in every packet), Subscription Identifier in PUBLISH only (one per
    /// matching subscription, section 3.3.2.3.8; at most one in SUBSCRIBE, section 3.8.2.1.2).
    pub const fn may_repeat_in(self, of: PropertiesOf) -> bool {
        match self {
            PropertyId::UserProperty => true,
            PropertyId::SubscriptionIdentifier => {
                matches!(of, PropertiesOf::Packet(PacketType::Publish))
            }
            _ => false,
        }
    }
}

impl fmt::Display for PropertyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.name(), *self as u8)
    }
}
