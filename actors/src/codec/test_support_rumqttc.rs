//! Our MQTT 5 packets as rumqttc 0.25's values, for the differential tests.

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5 as rq;
use rumqttc::v5::mqttbytes::QoS as RqQoS;

use super::*;

pub(crate) fn rq_qos(qos: QoS) -> RqQoS {
    match qos {
        QoS::AtMostOnce => RqQoS::AtMostOnce,
        QoS::AtLeastOnce => RqQoS::AtLeastOnce,
        QoS::ExactlyOnce => RqQoS::ExactlyOnce,
    }
}

/// Maps a reason code byte to one of rumqttc's reason enums.
macro_rules! reason_map {
    ($name:ident -> $ty:ty { $($byte:literal => $variant:expr),* $(,)? }) => {
        fn $name(code: ReasonCode) -> Option<$ty> {
            match code.get() {
                $($byte => Some($variant),)*
                _ => None,
            }
        }
    };
}

reason_map!(rq_puback -> rq::PubAckReason {
    0x00 => rq::PubAckReason::Success, 0x10 => rq::PubAckReason::NoMatchingSubscribers,
    0x80 => rq::PubAckReason::UnspecifiedError, 0x83 => rq::PubAckReason::ImplementationSpecificError,
    0x87 => rq::PubAckReason::NotAuthorized, 0x90 => rq::PubAckReason::TopicNameInvalid,
    0x91 => rq::PubAckReason::PacketIdentifierInUse, 0x97 => rq::PubAckReason::QuotaExceeded,
    0x99 => rq::PubAckReason::PayloadFormatInvalid,
});
reason_map!(rq_pubrec -> rq::PubRecReason {
    0x00 => rq::PubRecReason::Success, 0x10 => rq::PubRecReason::NoMatchingSubscribers,
    0x80 => rq::PubRecReason::UnspecifiedError, 0x83 => rq::PubRecReason::ImplementationSpecificError,
    0x87 => rq::PubRecReason::NotAuthorized, 0x90 => rq::PubRecReason::TopicNameInvalid,
    0x91 => rq::PubRecReason::PacketIdentifierInUse, 0x97 => rq::PubRecReason::QuotaExceeded,
    0x99 => rq::PubRecReason::PayloadFormatInvalid,
});
reason_map!(rq_pubrel -> rq::PubRelReason {
    0x00 => rq::PubRelReason::Success, 0x92 => rq::PubRelReason::PacketIdentifierNotFound,
});
reason_map!(rq_pubcomp -> rq::PubCompReason {
    0x00 => rq::PubCompReason::Success, 0x92 => rq::PubCompReason::PacketIdentifierNotFound,
});
reason_map!(rq_unsuback -> rq::UnsubAckReason {
    0x00 => rq::UnsubAckReason::Success, 0x11 => rq::UnsubAckReason::NoSubscriptionExisted,
    0x80 => rq::UnsubAckReason::UnspecifiedError, 0x83 => rq::UnsubAckReason::ImplementationSpecificError,
    0x87 => rq::UnsubAckReason::NotAuthorized, 0x8F => rq::UnsubAckReason::TopicFilterInvalid,
    0x91 => rq::UnsubAckReason::PacketIdentifierInUse,
});
reason_map!(rq_suback_failure -> rq::SubscribeReasonCode {
    0x80 => rq::SubscribeReasonCode::Unspecified, 0x83 => rq::SubscribeReasonCode::ImplementationSpecific,
    0x87 => rq::SubscribeReasonCode::NotAuthorized, 0x8F => rq::SubscribeReasonCode::TopicFilterInvalid,
    0x91 => rq::SubscribeReasonCode::PkidInUse, 0x97 => rq::SubscribeReasonCode::QuotaExceeded,
    0x9E => rq::SubscribeReasonCode::SharedSubscriptionsNotSupported,
    0xA1 => rq::SubscribeReasonCode::SubscriptionIdNotSupported,
    0xA2 => rq::SubscribeReasonCode::WildcardSubscriptionsNotSupported,
});
reason_map!(rq_connack -> rq::ConnectReturnCode {
    0x00 => rq::ConnectReturnCode::Success, 0x80 => rq::ConnectReturnCode::UnspecifiedError,
    0x81 => rq::ConnectReturnCode::MalformedPacket, 0x82 => rq::ConnectReturnCode::ProtocolError,
    0x83 => rq::ConnectReturnCode::ImplementationSpecificError,
    0x84 => rq::ConnectReturnCode::UnsupportedProtocolVersion,
    0x85 => rq::ConnectReturnCode::ClientIdentifierNotValid,
    0x86 => rq::ConnectReturnCode::BadUserNamePassword, 0x87 => rq::ConnectReturnCode::NotAuthorized,
    0x88 => rq::ConnectReturnCode::ServerUnavailable, 0x89 => rq::ConnectReturnCode::ServerBusy,
    0x8A => rq::ConnectReturnCode::Banned, 0x8C => rq::ConnectReturnCode::BadAuthenticationMethod,
    0x90 => rq::ConnectReturnCode::TopicNameInvalid, 0x95 => rq::ConnectReturnCode::PacketTooLarge,
    0x97 => rq::ConnectReturnCode::QuotaExceeded, 0x99 => rq::ConnectReturnCode::PayloadFormatInvalid,
    0x9A => rq::ConnectReturnCode::RetainNotSupported, 0x9B => rq::ConnectReturnCode::QoSNotSupported,
    0x9C => rq::ConnectReturnCode::UseAnotherServer, 0x9D => rq::ConnectReturnCode::ServerMoved,
    0x9F => rq::ConnectReturnCode::ConnectionRateExceeded,
});

/// rumqttc's property structs are `None` when empty; so are ours.
fn p(props: &Option<Box<Properties>>) -> Option<&Properties> {
    props.as_deref()
}

fn user(props: &Properties) -> Vec<(String, String)> {
    props.user_properties.clone()
}

fn flag(value: Option<bool>) -> Option<u8> {
    value.map(u8::from)
}

fn rq_login(c: &Connect) -> Option<Option<rq::Login>> {
    match (&c.username, &c.password) {
        (None, None) => Some(None),
        // Empty means absent in rumqttc's Login, and a password is a String.
        (Some(u), None) if !u.is_empty() => Some(Some(rq::Login::new(u.clone(), ""))),
        (Some(u), Some(pw)) if !u.is_empty() && !pw.is_empty() => Some(Some(rq::Login::new(
            u.clone(),
            String::from_utf8(pw.to_vec()).ok()?,
        ))),
        _ => None,
    }
}

fn rq_will(w: &Will) -> rq::LastWill {
    rq::LastWill {
        topic: Bytes::copy_from_slice(w.topic.as_bytes()),
        message: w.payload.clone(),
        qos: rq_qos(w.qos),
        retain: w.retain,
        properties: p(&w.properties).map(|p| rq::LastWillProperties {
            delay_interval: p.will_delay_interval,
            payload_format_indicator: flag(p.payload_format_indicator),
            message_expiry_interval: p.message_expiry_interval,
            content_type: p.content_type.clone(),
            response_topic: p.response_topic.as_ref().map(|t| t.to_string()),
            correlation_data: p.correlation_data.clone(),
            user_properties: user(p),
        }),
    }
}

/// Our packet as rumqttc's value, or `None` where rumqttc cannot represent it.
pub(crate) fn to_rq(packet: &Packet) -> Option<rq::Packet> {
    Some(match packet {
        Packet::Connect(c) => rq::Packet::Connect(
            rq::Connect {
                keep_alive: c.keep_alive,
                client_id: c.client_id.clone(),
                clean_start: c.clean_session,
                properties: p(&c.properties).map(|p| rq::ConnectProperties {
                    session_expiry_interval: p.session_expiry_interval,
                    receive_maximum: p.receive_maximum,
                    max_packet_size: p.maximum_packet_size,
                    topic_alias_max: p.topic_alias_maximum,
                    request_response_info: flag(p.request_response_information),
                    request_problem_info: flag(p.request_problem_information),
                    user_properties: user(p),
                    authentication_method: p.authentication_method.clone(),
                    authentication_data: p.authentication_data.clone(),
                }),
            },
            c.will.as_ref().map(rq_will),
            rq_login(c)?,
        ),
        Packet::ConnAck(c) => rq::Packet::ConnAck(rq::ConnAck {
            session_present: c.session_present,
            code: rq_connack(c.code.reason_code())?,
            properties: p(&c.properties).map(|p| rq::ConnAckProperties {
                session_expiry_interval: p.session_expiry_interval,
                receive_max: p.receive_maximum,
                max_qos: p.maximum_qos.map(QoS::as_u8),
                retain_available: flag(p.retain_available),
                max_packet_size: p.maximum_packet_size,
                assigned_client_identifier: p.assigned_client_identifier.clone(),
                topic_alias_max: p.topic_alias_maximum,
                reason_string: p.reason_string.clone(),
                user_properties: user(p),
                wildcard_subscription_available: flag(p.wildcard_subscription_available),
                subscription_identifiers_available: flag(p.subscription_identifier_available),
                shared_subscription_available: flag(p.shared_subscription_available),
                server_keep_alive: p.server_keep_alive,
                response_information: p.response_information.clone(),
                server_reference: p.server_reference.clone(),
                authentication_method: p.authentication_method.clone(),
                authentication_data: p.authentication_data.clone(),
            }),
        }),
        Packet::Publish(x) => rq::Packet::Publish(rq::Publish {
            dup: x.dup,
            qos: rq_qos(x.qos),
            retain: x.retain,
            topic: Bytes::copy_from_slice(x.topic.as_bytes()),
            pkid: x.pkid.map_or(0, PacketId::get),
            payload: x.payload.clone(),
            properties: p(&x.properties).map(|p| rq::PublishProperties {
                payload_format_indicator: flag(p.payload_format_indicator),
                message_expiry_interval: p.message_expiry_interval,
                topic_alias: p.topic_alias,
                response_topic: p.response_topic.as_ref().map(|t| t.to_string()),
                correlation_data: p.correlation_data.clone(),
                user_properties: user(p),
                subscription_identifiers: p.subscription_ids.iter().map(|&i| i as usize).collect(),
                content_type: p.content_type.clone(),
            }),
        }),
        Packet::PubAck(a) => rq::Packet::PubAck(rq::PubAck {
            pkid: a.pkid.get(),
            reason: rq_puback(a.reason)?,
            properties: p(&a.properties).map(|p| rq::PubAckProperties {
                reason_string: p.reason_string.clone(),
                user_properties: user(p),
            }),
        }),
        Packet::PubRec(a) => rq::Packet::PubRec(rq::PubRec {
            pkid: a.pkid.get(),
            reason: rq_pubrec(a.reason)?,
            properties: p(&a.properties).map(|p| rq::PubRecProperties {
                reason_string: p.reason_string.clone(),
                user_properties: user(p),
            }),
        }),
        Packet::PubRel(a) => rq::Packet::PubRel(rq::PubRel {
            pkid: a.pkid.get(),
            reason: rq_pubrel(a.reason)?,
            properties: p(&a.properties).map(|p| rq::PubRelProperties {
                reason_string: p.reason_string.clone(),
                user_properties: user(p),
            }),
        }),
        Packet::PubComp(a) => rq::Packet::PubComp(rq::PubComp {
            pkid: a.pkid.get(),
            reason: rq_pubcomp(a.reason)?,
            properties: p(&a.properties).map(|p| rq::PubCompProperties {
                reason_string: p.reason_string.clone(),
                user_properties: user(p),
            }),
        }),
        Packet::Subscribe(s) => rq::Packet::Subscribe(rq::Subscribe {
            pkid: s.pkid.get(),
            filters: s
                .filters
                .iter()
                .map(|(f, o)| rq::Filter {
                    path: f.clone(),
                    qos: rq_qos(o.qos),
                    nolocal: o.no_local,
                    preserve_retain: o.retain_as_published,
                    retain_forward_rule: match o.retain_handling {
                        RetainHandling::SendAtSubscribe => rq::RetainForwardRule::OnEverySubscribe,
                        RetainHandling::SendIfNew => rq::RetainForwardRule::OnNewSubscribe,
                        RetainHandling::DoNotSend => rq::RetainForwardRule::Never,
                    },
                })
                .collect(),
            properties: p(&s.properties).map(|p| rq::SubscribeProperties {
                id: p.subscription_ids.first().map(|&i| i as usize),
                user_properties: user(p),
            }),
        }),
        Packet::SubAck(s) => rq::Packet::SubAck(rq::SubAck {
            pkid: s.pkid.get(),
            return_codes: s
                .return_codes
                .iter()
                .map(|c| match c {
                    SubackCode::Success(qos) => Some(rq::SubscribeReasonCode::Success(rq_qos(*qos))),
                    SubackCode::Failure(code) => rq_suback_failure(*code),
                })
                .collect::<Option<_>>()?,
            properties: p(&s.properties).map(|p| rq::SubAckProperties {
                reason_string: p.reason_string.clone(),
                user_properties: user(p),
            }),
        }),
        Packet::Unsubscribe(u) => rq::Packet::Unsubscribe(rq::Unsubscribe {
            pkid: u.pkid.get(),
            filters: u.filters.clone(),
            properties: p(&u.properties).map(|p| rq::UnsubscribeProperties {
                user_properties: user(p),
            }),
        }),
        Packet::UnsubAck(u) => rq::Packet::UnsubAck(rq::UnsubAck {
            pkid: u.pkid.get(),
            reasons: u.reasons.iter().map(|r| rq_unsuback(*r)).collect::<Option<_>>()?,
            properties: p(&u.properties).map(|p| rq::UnsubAckProperties {
                reason_string: p.reason_string.clone(),
                user_properties: user(p),
            }),
        }),
        Packet::PingReq => rq::Packet::PingReq(rq::PingReq),
        Packet::PingResp => rq::Packet::PingResp(rq::PingResp),
        Packet::Disconnect(d) => rq::Packet::Disconnect(rq::Disconnect {
            reason_code: rq::DisconnectReasonCode::try_from(d.reason.get()).ok()?,
            properties: p(&d.properties).map(|p| rq::DisconnectProperties {
                session_expiry_interval: p.session_expiry_interval,
                reason_string: p.reason_string.clone(),
                user_properties: user(p),
                server_reference: p.server_reference.clone(),
            }),
        }),
        // rumqttc does not export its AUTH reason code and properties types: AUTH is
        // compared field by field below.
        Packet::Auth(_) => return None,
    })
}
