//! [`ConnectReturnCode`]: why a CONNECT is accepted or refused, and its byte on each
//! protocol level (the return code of 3.1/3.1.1, the CONNACK reason code of MQTT 5).
//!
//! Apart from `connack.rs`, which reads and writes the packet, because [`CodecError`] names a
//! code too (a refusal with session present, the code a bad CONNECT is answered with): kept
//! here, with nothing but [`ReasonCode`] below it, the error type stays out of any import
//! circle (`connack` -> `wire` -> `error` -> `connack` before).
//!
//! [`CodecError`]: super::CodecError

use super::reason::ReasonCode;

/// Why a CONNECT is accepted or refused, as the broker means it: the six return codes of
/// 3.1/3.1.1 [MQTT-3.2.2-5] and the CONNACK reason codes of MQTT 5 (section 3.2.2.2).
///
/// Semantic, not a byte: the broker says `IdentifierRejected` once and the encoder writes
/// 0x02 to a 3.1.1 client and 0x85 to an MQTT 5 one. A code only MQTT 5 has is written to a
/// 3.1/3.1.1 client as the nearest of the six ([`ConnectReturnCode::v3_code`]). The
/// discriminant is the 3.1.1 byte for the six 3.1.1 codes and the MQTT 5 byte for the others;
/// use [`ConnectReturnCode::v3_code`] and [`ConnectReturnCode::reason_code`], not `as u8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConnectReturnCode {
    /// 0x00 / 0x00: connection accepted.
    Accepted = 0,
    /// 0x01 / 0x84: the server does not support the protocol name or level [MQTT-3.1.2-2].
    UnacceptableProtocolVersion = 1,
    /// 0x02 / 0x85: the client id is valid UTF-8 but not allowed [MQTT-3.1.3-9].
    IdentifierRejected = 2,
    /// 0x03 / 0x88: the MQTT service is unavailable.
    ServerUnavailable = 3,
    /// 0x04 / 0x86: the user name or password is malformed or wrong.
    BadUsernameOrPassword = 4,
    /// 0x05 / 0x87: the client is not authorized to connect.
    NotAuthorized = 5,
    /// MQTT 5 0x80 (3.1.1: 0x03): no other code applies.
    UnspecifiedError = 0x80,
    /// MQTT 5 0x81 (3.1.1: 0x01): the CONNECT could not be parsed.
    MalformedPacket = 0x81,
    /// MQTT 5 0x82 (3.1.1: 0x01): the CONNECT breaks a rule of the protocol.
    ProtocolError = 0x82,
    /// MQTT 5 0x83 (3.1.1: 0x03): valid, but refused by this implementation.
    ImplementationSpecificError = 0x83,
    /// MQTT 5 0x89 (3.1.1: 0x03).
    ServerBusy = 0x89,
    /// MQTT 5 0x8A (3.1.1: 0x05).
    Banned = 0x8A,
    /// MQTT 5 0x8C (3.1.1: 0x05): unknown or unsupported authentication method.
    BadAuthenticationMethod = 0x8C,
    /// MQTT 5 0x90 (3.1.1: 0x03): the will topic is well formed but not accepted.
    TopicNameInvalid = 0x90,
    /// MQTT 5 0x95 (3.1.1: 0x03): the CONNECT is larger than the maximum packet size.
    PacketTooLarge = 0x95,
    /// MQTT 5 0x97 (3.1.1: 0x03).
    QuotaExceeded = 0x97,
    /// MQTT 5 0x99 (3.1.1: 0x03): the will payload does not match its format indicator.
    PayloadFormatInvalid = 0x99,
    /// MQTT 5 0x9A (3.1.1: 0x03): a retained will, and the server does not retain.
    RetainNotSupported = 0x9A,
    /// MQTT 5 0x9B (3.1.1: 0x03): a will QoS above the server's maximum.
    QoSNotSupported = 0x9B,
    /// MQTT 5 0x9C (3.1.1: 0x03): use another server, temporarily.
    UseAnotherServer = 0x9C,
    /// MQTT 5 0x9D (3.1.1: 0x03): use another server, permanently.
    ServerMoved = 0x9D,
    /// MQTT 5 0x9F (3.1.1: 0x03).
    ConnectionRateExceeded = 0x9F,
}

/// Every code, for the conversions and the tests.
const ALL: [ConnectReturnCode; 22] = [
    ConnectReturnCode::Accepted,
    ConnectReturnCode::UnacceptableProtocolVersion,
    ConnectReturnCode::IdentifierRejected,
    ConnectReturnCode::ServerUnavailable,
    ConnectReturnCode::BadUsernameOrPassword,
    ConnectReturnCode::NotAuthorized,
    ConnectReturnCode::UnspecifiedError,
    ConnectReturnCode::MalformedPacket,
    ConnectReturnCode::ProtocolError,
    ConnectReturnCode::ImplementationSpecificError,
    ConnectReturnCode::ServerBusy,
    ConnectReturnCode::Banned,
    ConnectReturnCode::BadAuthenticationMethod,
    ConnectReturnCode::TopicNameInvalid,
    ConnectReturnCode::PacketTooLarge,
    ConnectReturnCode::QuotaExceeded,
    ConnectReturnCode::PayloadFormatInvalid,
    ConnectReturnCode::RetainNotSupported,
    ConnectReturnCode::QoSNotSupported,
    ConnectReturnCode::UseAnotherServer,
    ConnectReturnCode::ServerMoved,
    ConnectReturnCode::ConnectionRateExceeded,
];

impl ConnectReturnCode {
    /// The code for a 3.1/3.1.1 wire byte, or `None` above 5.
    pub const fn from_u8(code: u8) -> Option<ConnectReturnCode> {
        Some(match code {
            0 => ConnectReturnCode::Accepted,
            1 => ConnectReturnCode::UnacceptableProtocolVersion,
            2 => ConnectReturnCode::IdentifierRejected,
            3 => ConnectReturnCode::ServerUnavailable,
            4 => ConnectReturnCode::BadUsernameOrPassword,
            5 => ConnectReturnCode::NotAuthorized,
            _ => return None,
        })
    }

    /// The code for an MQTT 5 CONNACK reason code, or `None` for a code CONNACK cannot carry.
    pub fn from_reason_code(code: ReasonCode) -> Option<ConnectReturnCode> {
        ALL.into_iter().find(|c| c.reason_code() == code)
    }

    /// The byte a 3.1/3.1.1 CONNACK carries: the code itself, or for a code only MQTT 5 has,
    /// the nearest of the six. Refusals by the server's state become 0x03 (server
    /// unavailable), refusals of the client 0x05 (not authorized), and a malformed CONNECT 0x01,
    /// what 3.1.1 answers to a CONNECT it cannot read (emqttd's `emqx_reason_codes:compat`).
    pub const fn v3_code(self) -> u8 {
        match self {
            ConnectReturnCode::Accepted => 0x00,
            ConnectReturnCode::UnacceptableProtocolVersion
            | ConnectReturnCode::MalformedPacket
            | ConnectReturnCode::ProtocolError => 0x01,
            ConnectReturnCode::IdentifierRejected => 0x02,
            ConnectReturnCode::BadUsernameOrPassword => 0x04,
            ConnectReturnCode::NotAuthorized
            | ConnectReturnCode::Banned
            | ConnectReturnCode::BadAuthenticationMethod => 0x05,
            ConnectReturnCode::ServerUnavailable
            | ConnectReturnCode::UnspecifiedError
            | ConnectReturnCode::ImplementationSpecificError
            | ConnectReturnCode::ServerBusy
            | ConnectReturnCode::TopicNameInvalid
            | ConnectReturnCode::PacketTooLarge
            | ConnectReturnCode::QuotaExceeded
            | ConnectReturnCode::PayloadFormatInvalid
            | ConnectReturnCode::RetainNotSupported
            | ConnectReturnCode::QoSNotSupported
            | ConnectReturnCode::UseAnotherServer
            | ConnectReturnCode::ServerMoved
            | ConnectReturnCode::ConnectionRateExceeded => 0x03,
        }
    }

    /// The reason code an MQTT 5 CONNACK carries.
    pub const fn reason_code(self) -> ReasonCode {
        ReasonCode(match self {
            ConnectReturnCode::Accepted => 0x00,
            ConnectReturnCode::UnacceptableProtocolVersion => 0x84,
            ConnectReturnCode::IdentifierRejected => 0x85,
            ConnectReturnCode::ServerUnavailable => 0x88,
            ConnectReturnCode::BadUsernameOrPassword => 0x86,
            ConnectReturnCode::NotAuthorized => 0x87,
            // The others' discriminant is their MQTT 5 byte.
            other => other as u8,
        })
    }

    /// Whether this is `Accepted`.
    pub const fn is_accepted(self) -> bool {
        matches!(self, ConnectReturnCode::Accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::PacketType;

    #[test]
    fn each_code_has_one_v5_byte_and_a_v3_byte() {
        for code in ALL {
            let reason = code.reason_code();
            assert!(reason.is_valid_for(PacketType::ConnAck), "{code:?}");
            assert_eq!(ConnectReturnCode::from_reason_code(reason), Some(code));
            assert_eq!(reason.is_error(), !code.is_accepted());
            let v3 = code.v3_code();
            assert_eq!(
                ConnectReturnCode::from_u8(v3).map(|c| c.is_accepted()),
                Some(code.is_accepted())
            );
        }
        // Every CONNACK reason code of MQTT 5 has its variant.
        let covered = (0..=u8::MAX)
            .filter(|b| ReasonCode(*b).is_valid_for(PacketType::ConnAck))
            .all(|b| ConnectReturnCode::from_reason_code(ReasonCode(b)).is_some());
        assert!(covered);
        assert_eq!(
            ConnectReturnCode::IdentifierRejected.reason_code(),
            ReasonCode::CLIENT_IDENTIFIER_NOT_VALID
        );
        assert_eq!(ConnectReturnCode::Banned.v3_code(), 0x05);
        assert_eq!(ConnectReturnCode::MalformedPacket.v3_code(), 0x01);
    }
}
