//! [`ReasonCode`]: the one-byte result MQTT 5 puts in every acknowledgement, DISCONNECT and AUTH
//! (MQTT 5.0 section 2.4), and which codes each packet type may carry.
//!
//! A newtype over the byte rather than an enum: the same byte has different names in different
//! packets (0x00 is "Success", "Normal disconnection" and "Granted QoS 0"), the broker builds
//! codes far more often than it matches them, and a code arriving on the wire only has to be
//! checked against its packet's list ([`ReasonCode::is_valid_for`]), which the decoder does
//! once. MQTT 3.1 and 3.1.1 have no reason codes: a packet carrying one is written without it
//! on those levels (emqttd keeps the same table in `emqx_reason_codes`).

use std::fmt;

use super::fields::PacketType;

/// An MQTT 5 reason code: below 0x80 success, 0x80 and above failure [MQTT-2.4]. The byte is
/// public so tests can build any code; the decoder only lets through the codes that
/// [`ReasonCode::is_valid_for`] the packet.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReasonCode(pub u8);

macro_rules! reason_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl ReasonCode {
            $($(#[$doc])* pub const $name: ReasonCode = ReasonCode($value);)*

            /// The spec's name for the code (the first one, where a byte has several), or
            /// `None` for a byte MQTT 5 does not define.
            pub const fn name(self) -> Option<&'static str> {
                // The first arm for a byte wins: 0x00 reads "success".
                #[allow(unreachable_patterns)]
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

reason_codes! {
    /// 0x00 in CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK and AUTH.
    SUCCESS = 0x00, "success";
    /// 0x00 in DISCONNECT: close without publishing the will.
    NORMAL_DISCONNECTION = 0x00, "normal disconnection";
    /// 0x00 in SUBACK.
    GRANTED_QOS_0 = 0x00, "granted qos 0";
    /// 0x01 in SUBACK.
    GRANTED_QOS_1 = 0x01, "granted qos 1";
    /// 0x02 in SUBACK.
    GRANTED_QOS_2 = 0x02, "granted qos 2";
    /// 0x04 in DISCONNECT: close and publish the will.
    DISCONNECT_WITH_WILL_MESSAGE = 0x04, "disconnect with will message";
    /// 0x10 in PUBACK and PUBREC: accepted, but nobody subscribes.
    NO_MATCHING_SUBSCRIBERS = 0x10, "no matching subscribers";
    /// 0x11 in UNSUBACK.
    NO_SUBSCRIPTION_EXISTED = 0x11, "no subscription existed";
    /// 0x18 in AUTH.
    CONTINUE_AUTHENTICATION = 0x18, "continue authentication";
    /// 0x19 in AUTH.
    RE_AUTHENTICATE = 0x19, "re-authenticate";
    /// 0x80: no other code applies.
    UNSPECIFIED_ERROR = 0x80, "unspecified error";
    /// 0x81: the packet could not be parsed [MQTT-4.13].
    MALFORMED_PACKET = 0x81, "malformed packet";
    /// 0x82: the packet parsed but breaks a rule of the protocol.
    PROTOCOL_ERROR = 0x82, "protocol error";
    /// 0x83: valid, but refused by this implementation.
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83, "implementation specific error";
    /// 0x84 in CONNACK.
    UNSUPPORTED_PROTOCOL_VERSION = 0x84, "unsupported protocol version";
    /// 0x85 in CONNACK.
    CLIENT_IDENTIFIER_NOT_VALID = 0x85, "client identifier not valid";
    /// 0x86 in CONNACK.
    BAD_USER_NAME_OR_PASSWORD = 0x86, "bad user name or password";
    /// 0x87.
    NOT_AUTHORIZED = 0x87, "not authorized";
    /// 0x88 in CONNACK.
    SERVER_UNAVAILABLE = 0x88, "server unavailable";
    /// 0x89.
    SERVER_BUSY = 0x89, "server busy";
    /// 0x8A in CONNACK.
    BANNED = 0x8A, "banned";
    /// 0x8B in DISCONNECT.
    SERVER_SHUTTING_DOWN = 0x8B, "server shutting down";
    /// 0x8C.
    BAD_AUTHENTICATION_METHOD = 0x8C, "bad authentication method";
    /// 0x8D in DISCONNECT.
    KEEP_ALIVE_TIMEOUT = 0x8D, "keep alive timeout";
    /// 0x8E in DISCONNECT.
    SESSION_TAKEN_OVER = 0x8E, "session taken over";
    /// 0x8F: a well-formed filter the receiver does not accept.
    TOPIC_FILTER_INVALID = 0x8F, "topic filter invalid";
    /// 0x90: a well-formed topic name the receiver does not accept.
    TOPIC_NAME_INVALID = 0x90, "topic name invalid";
    /// 0x91 in PUBACK, PUBREC, SUBACK and UNSUBACK.
    PACKET_IDENTIFIER_IN_USE = 0x91, "packet identifier in use";
    /// 0x92 in PUBREL and PUBCOMP.
    PACKET_IDENTIFIER_NOT_FOUND = 0x92, "packet identifier not found";
    /// 0x93 in DISCONNECT.
    RECEIVE_MAXIMUM_EXCEEDED = 0x93, "receive maximum exceeded";
    /// 0x94 in DISCONNECT.
    TOPIC_ALIAS_INVALID = 0x94, "topic alias invalid";
    /// 0x95: larger than the maximum packet size.
    PACKET_TOO_LARGE = 0x95, "packet too large";
    /// 0x96 in DISCONNECT.
    MESSAGE_RATE_TOO_HIGH = 0x96, "message rate too high";
    /// 0x97.
    QUOTA_EXCEEDED = 0x97, "quota exceeded";
    /// 0x98 in DISCONNECT.
    ADMINISTRATIVE_ACTION = 0x98, "administrative action";
    /// 0x99: the payload does not match its payload format indicator.
    PAYLOAD_FORMAT_INVALID = 0x99, "payload format invalid";
    /// 0x9A.
    RETAIN_NOT_SUPPORTED = 0x9A, "retain not supported";
    /// 0x9B.
    QOS_NOT_SUPPORTED = 0x9B, "qos not supported";
    /// 0x9C.
    USE_ANOTHER_SERVER = 0x9C, "use another server";
    /// 0x9D.
    SERVER_MOVED = 0x9D, "server moved";
    /// 0x9E in SUBACK and DISCONNECT.
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E, "shared subscriptions not supported";
    /// 0x9F.
    CONNECTION_RATE_EXCEEDED = 0x9F, "connection rate exceeded";
    /// 0xA0 in DISCONNECT.
    MAXIMUM_CONNECT_TIME = 0xA0, "maximum connect time";
    /// 0xA1 in SUBACK and DISCONNECT.
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1, "subscription identifiers not supported";
    /// 0xA2 in SUBACK and DISCONNECT.
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2, "wildcard subscriptions not supported";
}

/// The codes of each packet's reason code table (sections 3.2.2.2, 3.4.2.1 to 3.7.2.1,
/// 3.9.3, 3.11.3, 3.14.2.1 and 3.15.2.1).
const CONNACK: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99,
    0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
const PUBACK_PUBREC: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_PUBCOMP: &[u8] = &[0x00, 0x92];
const SUBACK: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
const UNSUBACK: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
const DISCONNECT: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
const AUTH: &[u8] = &[0x00, 0x18, 0x19];

impl ReasonCode {
    /// The byte on the wire.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// 0x80 or above: the request failed [MQTT-2.4].
    pub const fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// Whether `packet_type` may carry this code: the packet's table in the spec. CONNECT,
    /// PUBLISH, SUBSCRIBE, UNSUBSCRIBE and the pings carry none.
    pub fn is_valid_for(self, packet_type: PacketType) -> bool {
        Self::table(packet_type).contains(&self.0)
    }

    fn table(packet_type: PacketType) -> &'static [u8] {
        match packet_type {
            PacketType::ConnAck => CONNACK,
            PacketType::PubAck | PacketType::PubRec => PUBACK_PUBREC,
            PacketType::PubRel | PacketType::PubComp => PUBREL_PUBCOMP,
            PacketType::SubAck => SUBACK,
            PacketType::UnsubAck => UNSUBACK,
            PacketType::Disconnect => DISCONNECT,
            PacketType::Auth => AUTH,
            PacketType::Connect
            | PacketType::Publish
            | PacketType::Subscribe
            | PacketType::Unsubscribe
            | PacketType::PingReq
            | PacketType::PingResp => &[],
        }
    }
}

impl Default for ReasonCode {
    /// 0x00: success, normal disconnection, granted QoS 0.
    fn default() -> Self {
        ReasonCode::SUCCESS
    }
}

impl From<ReasonCode> for u8 {
    fn from(code: ReasonCode) -> u8 {
        code.0
    }
}

/// `0x87 (not authorized)`, or `0x07 (unknown)`.
impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x} ({})", self.0, self.name().unwrap_or("unknown"))
    }
}

impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReasonCode({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_error_bit() {
        assert_eq!(ReasonCode::SUCCESS, ReasonCode::NORMAL_DISCONNECTION);
        assert_eq!(ReasonCode::SUCCESS.name(), Some("success"));
        assert_eq!(
            ReasonCode::MALFORMED_PACKET.to_string(),
            "0x81 (malformed packet)"
        );
        assert_eq!(format!("{:?}", ReasonCode(0x07)), "ReasonCode(0x07 (unknown))");
        assert!(ReasonCode::UNSPECIFIED_ERROR.is_error());
        assert!(!ReasonCode::NO_SUBSCRIPTION_EXISTED.is_error());
        assert_eq!(u8::from(ReasonCode::PACKET_TOO_LARGE), 0x95);
    }

    /// Every code MQTT 5 defines (section 2.4) has a name, and no other byte does.
    #[test]
    fn the_spec_defines_43_distinct_codes() {
        let named = (0..=u8::MAX).filter(|b| ReasonCode(*b).name().is_some()).count();
        assert_eq!(named, 43);
    }

    /// Each packet's table, spot-checked against section 2.4 (which lists, per code, the
    /// packets that may carry it).
    #[test]
    fn codes_per_packet_mqtt_2_4() {
        let cases = [
            (ReasonCode::SUCCESS, PacketType::Auth, true),
            (ReasonCode::CONTINUE_AUTHENTICATION, PacketType::Auth, true),
            (ReasonCode::CONTINUE_AUTHENTICATION, PacketType::ConnAck, false),
            (ReasonCode::NO_MATCHING_SUBSCRIBERS, PacketType::PubRec, true),
            (ReasonCode::NO_MATCHING_SUBSCRIBERS, PacketType::PubComp, false),
            (ReasonCode::PACKET_IDENTIFIER_NOT_FOUND, PacketType::PubRel, true),
            (ReasonCode::PACKET_IDENTIFIER_NOT_FOUND, PacketType::PubAck, false),
            (ReasonCode::GRANTED_QOS_2, PacketType::SubAck, true),
            (ReasonCode::GRANTED_QOS_2, PacketType::UnsubAck, false),
            (
                ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
                PacketType::Disconnect,
                true,
            ),
            (ReasonCode::SERVER_SHUTTING_DOWN, PacketType::ConnAck, false),
            (
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
                PacketType::ConnAck,
                true,
            ),
            (
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
                PacketType::Disconnect,
                false,
            ),
            (
                ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
                PacketType::SubAck,
                true,
            ),
            (ReasonCode::MALFORMED_PACKET, PacketType::PubAck, false),
            (ReasonCode(0x03), PacketType::SubAck, false),
            (ReasonCode::SUCCESS, PacketType::Publish, false),
        ];
        for (code, packet_type, valid) in cases {
            assert_eq!(code.is_valid_for(packet_type), valid, "{code} in {packet_type}");
        }
        // Every code in a table is one the spec defines.
        for nibble in 1..16 {
            let Some(packet_type) = PacketType::from_nibble(nibble) else {
                continue;
            };
            for &byte in ReasonCode::table(packet_type) {
                assert!(ReasonCode(byte).name().is_some(), "{byte:#04x} in {packet_type}");
            }
        }
    }
}
