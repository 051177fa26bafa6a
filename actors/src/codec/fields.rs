//! Small values shared by several packets: quality of service, packet identifier, protocol
//! level and packet type.
//!
//! Each is a closed type whose constructor is the only place its wire rule is checked, so the
//! rest of the broker never sees a QoS of 3 or a packet id of 0 (mirrors the constants and
//! guards of emqttd's `emqttd_protocol.hrl`).

use std::fmt;
use std::num::NonZeroU16;

/// Quality of service of a PUBLISH, a will or a subscription.
///
/// Ordered, so the QoS a subscriber receives is `publish.qos.min(granted)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum QoS {
    /// Fire and forget.
    AtMostOnce = 0,
    /// Acknowledged by PUBACK; may be delivered more than once.
    AtLeastOnce = 1,
    /// Four-way PUBREC/PUBREL/PUBCOMP handshake; delivered exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The value of the two QoS bits on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The QoS for two QoS bits, or `None` for the reserved value 3 [MQTT-3.3.1-4].
    pub const fn from_u8(bits: u8) -> Option<QoS> {
        match bits {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// A packet identifier: never zero on the wire [MQTT-2.3.1-1], so zero is unrepresentable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// The smallest packet id, where a session starts counting.
    pub const MIN: PacketId = PacketId(NonZeroU16::MIN);

    /// `None` for 0, the one value the spec forbids.
    pub const fn new(id: u16) -> Option<PacketId> {
        match NonZeroU16::new(id) {
            Some(id) => Some(PacketId(id)),
            None => None,
        }
    }

    /// The id as written on the wire.
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The id after this one, wrapping from 65535 back to 1 (an id is free again once its
    /// exchange is acknowledged, and 0 is skipped).
    pub const fn wrapping_next(self) -> PacketId {
        match NonZeroU16::new(self.0.get().wrapping_add(1)) {
            Some(id) => PacketId(id),
            None => PacketId::MIN,
        }
    }
}

impl From<NonZeroU16> for PacketId {
    fn from(id: NonZeroU16) -> Self {
        PacketId(id)
    }
}

impl From<PacketId> for u16 {
    fn from(id: PacketId) -> Self {
        id.get()
    }
}

impl TryFrom<u16> for PacketId {
    type Error = std::num::TryFromIntError;

    fn try_from(id: u16) -> Result<Self, Self::Error> {
        NonZeroU16::try_from(id).map(PacketId)
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The protocol a client speaks, fixed by its CONNECT and passed back to [`decode`] for every
/// later packet on that connection.
///
/// [`decode`]: super::decode
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ProtocolLevel {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    V31 = 3,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    V311 = 4,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    V5 = 5,
}

impl ProtocolLevel {
    /// The protocol level byte of the CONNECT variable header.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The protocol name that goes with this level in a CONNECT.
    pub const fn name(self) -> &'static str {
        match self {
            ProtocolLevel::V31 => "MQIsdp",
            ProtocolLevel::V311 | ProtocolLevel::V5 => "MQTT",
        }
    }

    /// Whether `name` is a protocol name of MQTT at all (`MQTT`, or 3.1's `MQIsdp`), whatever
    /// the level: a known name with a level arbor does not speak is answered with CONNACK
    /// 0x01 [MQTT-3.1.2-2], any other name is closed without one [MQTT-3.1.2-1].
    pub fn is_known_name(name: &[u8]) -> bool {
        matches!(name, b"MQTT" | b"MQIsdp")
    }

    /// The level for a CONNECT's protocol name and level byte, if arbor speaks it.
    pub fn from_name_and_level(name: &[u8], level: u8) -> Option<ProtocolLevel> {
        match (name, level) {
            (b"MQTT", 4) => Some(ProtocolLevel::V311),
            (b"MQTT", 5) => Some(ProtocolLevel::V5),
            (b"MQIsdp", 3) => Some(ProtocolLevel::V31),
            _ => None,
        }
    }
}

impl fmt::Display for ProtocolLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolLevel::V31 => "MQTT 3.1",
            ProtocolLevel::V311 => "MQTT 3.1.1",
            ProtocolLevel::V5 => "MQTT 5.0",
        })
    }
}

/// The control packet type: the high nibble of the first byte. 0 is reserved and has no
/// variant; 15 is reserved in MQTT 3.1.1 (section 2.2.1) and is AUTH in MQTT 5, so the decoder
/// refuses it below level 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Client request to connect.
    Connect = 1,
    /// Connect acknowledgement.
    ConnAck = 2,
    /// Application message.
    Publish = 3,
    /// QoS 1 acknowledgement.
    PubAck = 4,
    /// QoS 2 step 1: publish received.
    PubRec = 5,
    /// QoS 2 step 2: publish release.
    PubRel = 6,
    /// QoS 2 step 3: publish complete.
    PubComp = 7,
    /// Subscribe request.
    Subscribe = 8,
    /// Subscribe acknowledgement.
    SubAck = 9,
    /// Unsubscribe request.
    Unsubscribe = 10,
    /// Unsubscribe acknowledgement.
    UnsubAck = 11,
    /// Keepalive request.
    PingReq = 12,
    /// Keepalive response.
    PingResp = 13,
    /// Client is disconnecting cleanly; in MQTT 5 either side, with a reason code.
    Disconnect = 14,
    /// MQTT 5 only: a step of enhanced authentication.
    Auth = 15,
}

impl PacketType {
    /// The type for a first byte's high nibble, or `None` for the reserved 0. (15 is AUTH,
    /// which only MQTT 5 has.)
    pub const fn from_nibble(nibble: u8) -> Option<PacketType> {
        Some(match nibble {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            15 => PacketType::Auth,
            _ => return None,
        })
    }

    /// The four flag bits MQTT 3.1.1 requires for this type [MQTT-2.2.2-1]; PUBLISH carries
    /// DUP, QoS and RETAIN there instead, so it has none.
    pub const fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0b0000),
        }
    }

    /// The remaining length of types whose body has a fixed size at `level`, which lets a
    /// wrong length be rejected from the fixed header alone. In MQTT 5 only the pings have
    /// one: the acknowledgements, CONNACK and DISCONNECT grew reason codes and properties.
    pub const fn fixed_remaining_len(self, level: Option<ProtocolLevel>) -> Option<usize> {
        match (self, level) {
            (PacketType::PingReq | PacketType::PingResp, _) => Some(0),
            (_, Some(ProtocolLevel::V5)) => None,
            (
                PacketType::ConnAck
                | PacketType::PubAck
                | PacketType::PubRec
                | PacketType::PubRel
                | PacketType::PubComp
                | PacketType::UnsubAck,
                _,
            ) => Some(2),
            (PacketType::Disconnect, _) => Some(0),
            _ => None,
        }
    }

    /// The name the spec uses, e.g. `PUBLISH`.
    pub const fn name(self) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::ConnAck => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::PubAck => "PUBACK",
            PacketType::PubRec => "PUBREC",
            PacketType::PubRel => "PUBREL",
            PacketType::PubComp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::SubAck => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::UnsubAck => "UNSUBACK",
            PacketType::PingReq => "PINGREQ",
            PacketType::PingResp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Auth => "AUTH",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_from_u8_rejects_3() {
        assert_eq!(QoS::from_u8(2), Some(QoS::ExactlyOnce));
        assert_eq!(QoS::from_u8(3), None);
        assert!(QoS::AtMostOnce < QoS::ExactlyOnce);
    }

    #[test]
    fn packet_id_zero_is_unrepresentable_and_next_skips_it() {
        assert_eq!(PacketId::new(0), None);
        assert!(PacketId::try_from(0u16).is_err());
        let max = PacketId::new(u16::MAX).map(PacketId::wrapping_next);
        assert_eq!(max, Some(PacketId::MIN));
        assert_eq!(PacketId::MIN.wrapping_next().get(), 2);
        assert_eq!(PacketId::MIN.to_string(), "1");
    }

    #[test]
    fn protocol_level_names() {
        assert_eq!(
            ProtocolLevel::from_name_and_level(b"MQTT", 4),
            Some(ProtocolLevel::V311)
        );
        assert_eq!(
            ProtocolLevel::from_name_and_level(b"MQIsdp", 3),
            Some(ProtocolLevel::V31)
        );
        assert_eq!(ProtocolLevel::from_name_and_level(b"MQTT", 3), None);
        assert_eq!(
            ProtocolLevel::from_name_and_level(b"MQTT", 5),
            Some(ProtocolLevel::V5)
        );
        assert_eq!(ProtocolLevel::from_name_and_level(b"MQIsdp", 5), None);
        assert_eq!(ProtocolLevel::from_name_and_level(b"MQTT", 6), None);
        assert_eq!(ProtocolLevel::V31.name(), "MQIsdp");
        assert!(ProtocolLevel::is_known_name(b"MQTT") && ProtocolLevel::is_known_name(b"MQIsdp"));
        for name in [&b""[..], b"MQTU", b"mqtt", b"MQTTT", b"MQIsd"] {
            assert!(!ProtocolLevel::is_known_name(name), "{name:?}");
        }
        assert_eq!(ProtocolLevel::V5.to_string(), "MQTT 5.0");
    }

    #[test]
    fn packet_type_nibbles() {
        assert_eq!(PacketType::from_nibble(0), None);
        assert_eq!(PacketType::from_nibble(15), Some(PacketType::Auth));
        for nibble in 1..16u8 {
            let t = PacketType::from_nibble(nibble);
            assert_eq!(t.map(|t| t as u8), Some(nibble));
        }
        assert_eq!(PacketType::PubRel.required_flags(), Some(2));
        assert_eq!(PacketType::Publish.required_flags(), None);
        assert_eq!(PacketType::SubAck.to_string(), "SUBACK");
    }
}
