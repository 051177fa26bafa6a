//! What a CONNECT asks for and what the broker grants: the session's lifetime, the keepalive,
//! the client's limits (MQTT 5 CONNECT properties) and the CONNACK properties that tell an
//! MQTT 5 client the server's own (section 3.2.2.3). Pure functions of the CONNECT and the
//! `[mqtt]`/`[session]` configuration, so every rule is unit-tested here.

use std::time::Duration;

use crate::codec::{Connect, ConnectReturnCode, Properties, ProtocolLevel, QoS};
use crate::config::MqttConfig;
use crate::session::lifecycle::expiry_of;
use crate::session::ClientLimits;

/// What the broker grants a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Negotiated {
    /// How long the session outlives the connection (0: it ends with it).
    pub expiry: Duration,
    /// The keepalive the broker holds the client to, in seconds (0: none).
    pub keepalive: u16,
    /// What the client accepts.
    pub limits: ClientLimits,
    /// How long the will waits after the connection ends (MQTT 5 Will Delay Interval).
    pub will_delay: Duration,
    /// CONNACK's properties (MQTT 5 only).
    pub connack: Option<Box<Properties>>,
}

/// Negotiates `connect`: `expiry_max` is `session.expiry_interval`; `assigned` is the client id
/// the broker chose for an empty one.
pub(super) fn negotiate(
    connect: &Connect,
    mqtt: &MqttConfig,
    expiry_max: Duration,
    assigned: Option<&str>,
) -> Negotiated {
    let none = Properties::default();
    let props = connect.properties.as_deref().unwrap_or(&none);
    if connect.level != ProtocolLevel::V5 {
        // 3.1/3.1.1: a clean session ends with its connection; the others last expiry_max.
        return Negotiated {
            expiry: if connect.clean_session {
                Duration::ZERO
            } else {
                expiry_max
            },
            keepalive: connect.keep_alive,
            limits: ClientLimits::default(),
            will_delay: Duration::ZERO,
            connack: None,
        };
    }
    let requested = props.session_expiry_interval.unwrap_or(0);
    let expiry = expiry_of(requested, expiry_max);
    let keepalive = match mqtt.max_keepalive {
        0 => connect.keep_alive,
        max if connect.keep_alive == 0 || connect.keep_alive > max => max,
        _ => connect.keep_alive,
    };
    let will_delay = connect
        .will
        .as_ref()
        .and_then(|w| w.properties.as_ref())
        .and_then(|p| p.will_delay_interval)
        .map_or(Duration::ZERO, |secs| Duration::from_secs(u64::from(secs)));
    let limits = ClientLimits {
        receive_maximum: props.receive_maximum.unwrap_or(u16::MAX),
        maximum_packet_size: props.maximum_packet_size,
        topic_alias_maximum: props.topic_alias_maximum.unwrap_or(0),
    };
    let mut connack = Properties {
        receive_maximum: (mqtt.receive_maximum != u16::MAX).then_some(mqtt.receive_maximum),
        maximum_packet_size: Some(mqtt.max_packet_size),
        topic_alias_maximum: (mqtt.max_topic_alias > 0).then_some(mqtt.max_topic_alias),
        maximum_qos: match mqtt.max_qos {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            _ => None,
        },
        retain_available: (!mqtt.retain_available).then_some(false),
        wildcard_subscription_available: (!mqtt.wildcard_subscription).then_some(false),
        subscription_identifier_available: (!mqtt.subscription_identifiers).then_some(false),
        shared_subscription_available: (!mqtt.shared_subscription).then_some(false),
        assigned_client_identifier: assigned.map(str::to_string),
        // [MQTT-3.2.2-21]: the client must use the server's keep alive.
        server_keep_alive: (keepalive != connect.keep_alive).then_some(keepalive),
        ..Properties::default()
    };
    // Told only when it differs from what the client asked for.
    let granted = u32::try_from(expiry.as_secs()).unwrap_or(u32::MAX);
    if requested != u32::MAX && granted != requested {
        connack.session_expiry_interval = Some(granted);
    }
    if props.request_response_information == Some(true) && !mqtt.response_information.is_empty() {
        connack.response_information = Some(mqtt.response_information.clone());
    }
    Negotiated {
        expiry,
        keepalive,
        limits,
        will_delay,
        connack: Some(Box::new(connack)),
    }
}

/// Why an MQTT 5 CONNECT's will cannot be accepted, if it cannot: a QoS above `mqtt.max_qos`
/// (0x9B [MQTT-3.2.2-12]) or a retained will while retain is off (0x9A [MQTT-3.2.2-13]).
pub(super) fn will_refusal(connect: &Connect, mqtt: &MqttConfig) -> Option<ConnectReturnCode> {
    let will = connect.will.as_ref()?;
    if connect.level != ProtocolLevel::V5 {
        return None;
    }
    if will.qos.as_u8() > mqtt.max_qos {
        return Some(ConnectReturnCode::QoSNotSupported);
    }
    if will.retain && !mqtt.retain_available {
        return Some(ConnectReturnCode::RetainNotSupported);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn mqtt() -> MqttConfig {
        BrokerConfig::defaults().mqtt
    }

    fn v5(props: Properties) -> Connect {
        Connect {
            level: ProtocolLevel::V5,
            client_id: "c".into(),
            clean_session: true,
            keep_alive: 60,
            will: None,
            username: None,
            password: None,
            properties: Some(Box::new(props)),
        }
    }

    const TWO_HOURS: Duration = Duration::from_secs(7200);

    #[test]
    fn a_3_1_1_clean_session_ends_with_its_connection_and_a_persistent_one_lasts_the_maximum() {
        let mut c = v5(Properties::default());
        c.level = ProtocolLevel::V311;
        c.properties = None;
        assert_eq!(negotiate(&c, &mqtt(), TWO_HOURS, None).expiry, Duration::ZERO);
        c.clean_session = false;
        let n = negotiate(&c, &mqtt(), TWO_HOURS, None);
        assert_eq!(n.expiry, TWO_HOURS);
        assert_eq!(n.connack, None, "3.1.1 CONNACK has no properties");
    }

    /// [MQTT-3.1.2-23]: the Session Expiry Interval, 0 when absent; 0xFFFFFFFF never expires
    /// (capped here by the configuration, which CONNACK then says).
    #[test]
    fn mqtt_3_1_2_23_session_expiry_is_the_clients_capped_by_the_configuration() {
        let n = negotiate(&v5(Properties::default()), &mqtt(), TWO_HOURS, None);
        assert_eq!(n.expiry, Duration::ZERO);
        assert_eq!(n.connack.unwrap().session_expiry_interval, None);
        let asks = |secs| {
            v5(Properties {
                session_expiry_interval: Some(secs),
                ..Properties::default()
            })
        };
        let n = negotiate(&asks(60), &mqtt(), TWO_HOURS, None);
        assert_eq!(n.expiry, Duration::from_secs(60));
        assert_eq!(n.connack.unwrap().session_expiry_interval, None);
        let n = negotiate(&asks(100_000), &mqtt(), TWO_HOURS, None);
        assert_eq!(n.expiry, TWO_HOURS);
        assert_eq!(n.connack.unwrap().session_expiry_interval, Some(7200));
        let n = negotiate(&asks(u32::MAX), &mqtt(), TWO_HOURS, None);
        assert_eq!(n.expiry, TWO_HOURS);
    }

    /// [MQTT-3.2.2-21]: a Server Keep Alive replaces the client's.
    #[test]
    fn mqtt_3_2_2_21_server_keep_alive_caps_the_clients() {
        let mut cfg = mqtt();
        cfg.max_keepalive = 30;
        let n = negotiate(&v5(Properties::default()), &cfg, TWO_HOURS, None);
        assert_eq!(
            (n.keepalive, n.connack.unwrap().server_keep_alive),
            (30, Some(30))
        );
        let mut c = v5(Properties::default());
        c.keep_alive = 10;
        let n = negotiate(&c, &cfg, TWO_HOURS, None);
        assert_eq!((n.keepalive, n.connack.unwrap().server_keep_alive), (10, None));
        c.keep_alive = 0;
        assert_eq!(negotiate(&c, &cfg, TWO_HOURS, None).keepalive, 30);
    }

    #[test]
    fn connack_states_the_servers_limits_and_the_assigned_id() {
        let mut cfg = mqtt();
        cfg.max_qos = 1;
        cfg.retain_available = false;
        cfg.shared_subscription = false;
        let p = negotiate(&v5(Properties::default()), &cfg, TWO_HOURS, Some("arbor-7"))
            .connack
            .unwrap();
        assert_eq!(p.assigned_client_identifier.as_deref(), Some("arbor-7"));
        assert_eq!(p.maximum_qos, Some(QoS::AtLeastOnce));
        assert_eq!(p.retain_available, Some(false));
        assert_eq!(p.shared_subscription_available, Some(false));
        assert_eq!(p.wildcard_subscription_available, None, "absent means available");
        assert_eq!(p.receive_maximum, Some(cfg.receive_maximum));
        assert_eq!(p.maximum_packet_size, Some(cfg.max_packet_size));
        assert_eq!(p.topic_alias_maximum, Some(cfg.max_topic_alias));
    }

    #[test]
    fn the_clients_limits_and_response_information() {
        let mut cfg = mqtt();
        cfg.response_information = "replies/".into();
        let c = v5(Properties {
            receive_maximum: Some(5),
            maximum_packet_size: Some(1000),
            topic_alias_maximum: Some(9),
            request_response_information: Some(true),
            ..Properties::default()
        });
        let n = negotiate(&c, &cfg, TWO_HOURS, None);
        assert_eq!(
            n.limits,
            ClientLimits {
                receive_maximum: 5,
                maximum_packet_size: Some(1000),
                topic_alias_maximum: 9
            }
        );
        assert_eq!(
            n.connack.unwrap().response_information.as_deref(),
            Some("replies/")
        );
    }
}
