//! Proptest strategies for valid MQTT 5 packets, and what a packet becomes when written to a
//! 3.1.1 peer.

use bytes::Bytes;
use proptest::prelude::*;

use super::test_support::*;
use super::*;

/// Clears property `id` in `p`.
fn clear(p: &mut Properties, id: PropertyId) {
    match id {
        PropertyId::PayloadFormatIndicator => p.payload_format_indicator = None,
        PropertyId::MessageExpiryInterval => p.message_expiry_interval = None,
        PropertyId::ContentType => p.content_type = None,
        PropertyId::ResponseTopic => p.response_topic = None,
        PropertyId::CorrelationData => p.correlation_data = None,
        PropertyId::SubscriptionIdentifier => p.subscription_ids.clear(),
        PropertyId::SessionExpiryInterval => p.session_expiry_interval = None,
        PropertyId::AssignedClientIdentifier => p.assigned_client_identifier = None,
        PropertyId::ServerKeepAlive => p.server_keep_alive = None,
        PropertyId::AuthenticationMethod => p.authentication_method = None,
        PropertyId::AuthenticationData => p.authentication_data = None,
        PropertyId::RequestProblemInformation => p.request_problem_information = None,
        PropertyId::WillDelayInterval => p.will_delay_interval = None,
        PropertyId::RequestResponseInformation => p.request_response_information = None,
        PropertyId::ResponseInformation => p.response_information = None,
        PropertyId::ServerReference => p.server_reference = None,
        PropertyId::ReasonString => p.reason_string = None,
        PropertyId::ReceiveMaximum => p.receive_maximum = None,
        PropertyId::TopicAliasMaximum => p.topic_alias_maximum = None,
        PropertyId::TopicAlias => p.topic_alias = None,
        PropertyId::MaximumQos => p.maximum_qos = None,
        PropertyId::RetainAvailable => p.retain_available = None,
        PropertyId::UserProperty => p.user_properties.clear(),
        PropertyId::MaximumPacketSize => p.maximum_packet_size = None,
        PropertyId::WildcardSubscriptionAvailable => p.wildcard_subscription_available = None,
        PropertyId::SubscriptionIdentifierAvailable => p.subscription_identifier_available = None,
        PropertyId::SharedSubscriptionAvailable => p.shared_subscription_available = None,
    }
}

/// `p` with only what `of` allows, as a packet would hold it (`None` when nothing is left).
pub(crate) fn restrict(mut p: Properties, of: PropertiesOf) -> Option<Box<Properties>> {
    for id in PropertyId::ALL {
        if !id.is_allowed_in(of) {
            clear(&mut p, id);
        }
    }
    if !PropertyId::SubscriptionIdentifier.may_repeat_in(of) {
        p.subscription_ids.truncate(1);
    }
    if p.authentication_method.is_none() {
        p.authentication_data = None;
    }
    (!p.is_empty()).then(|| Box::new(p))
}

fn opt<T: std::fmt::Debug + Clone>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    // Mostly absent, so a packet has a few properties rather than all of them.
    prop::option::weighted(0.3, s)
}

/// Every property set at random, valid values only; [`restrict`] it to a packet.
pub(crate) fn arb_any_properties() -> impl Strategy<Value = Properties> {
    let published = (
        opt(any::<bool>()),
        opt(any::<u32>()),
        opt(arb_string(8)),
        opt(arb_topic_name()),
        opt(arb_bytes(8)),
        prop::collection::vec(1..=MAX_SUBSCRIPTION_ID, 0..3),
    );
    let session = (
        opt(any::<u32>()),
        opt(arb_string(8)),
        opt(any::<u16>()),
        opt(arb_string(8)),
        opt(arb_bytes(8)),
        opt(any::<bool>()),
        opt(any::<u32>()),
        opt(any::<bool>()),
        opt(arb_string(8)),
        opt(arb_string(8)),
        opt(arb_string(8)),
    );
    let limits = (
        opt(1..=u16::MAX),
        opt(any::<u16>()),
        opt(1..=u16::MAX),
        opt(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
        opt(any::<bool>()),
        prop::collection::vec((arb_string(5), arb_string(5)), 0..3),
        opt(1..=u32::MAX),
        opt(any::<bool>()),
        opt(any::<bool>()),
        opt(any::<bool>()),
    );
    (published, session, limits).prop_map(|(a, b, c)| Properties {
        payload_format_indicator: a.0,
        message_expiry_interval: a.1,
        content_type: a.2,
        response_topic: a.3,
        correlation_data: a.4,
        subscription_ids: a.5,
        session_expiry_interval: b.0,
        assigned_client_identifier: b.1,
        server_keep_alive: b.2,
        authentication_method: b.3,
        authentication_data: b.4,
        request_problem_information: b.5,
        will_delay_interval: b.6,
        request_response_information: b.7,
        response_information: b.8,
        server_reference: b.9,
        reason_string: b.10,
        receive_maximum: c.0,
        topic_alias_maximum: c.1,
        topic_alias: c.2,
        maximum_qos: c.3,
        retain_available: c.4,
        user_properties: c.5,
        maximum_packet_size: c.6,
        wildcard_subscription_available: c.7,
        subscription_identifier_available: c.8,
        shared_subscription_available: c.9,
    })
}

/// Valid properties of `of`, often none.
pub(crate) fn arb_properties(of: PropertiesOf) -> impl Strategy<Value = Option<Box<Properties>>> {
    prop_oneof![
        1 => Just(None),
        3 => arb_any_properties().prop_map(move |p| restrict(p, of)),
    ]
}

/// A reason code from `packet_type`'s table.
pub(crate) fn arb_reason(packet_type: PacketType) -> impl Strategy<Value = ReasonCode> {
    let codes: Vec<ReasonCode> = (0..=u8::MAX)
        .map(ReasonCode)
        .filter(|c| c.is_valid_for(packet_type))
        .collect();
    prop::sample::select(codes)
}

pub(crate) fn arb_connect_v5() -> impl Strategy<Value = Connect> {
    let will = (arb_will(), arb_properties(PropertiesOf::Will))
        .prop_map(|(will, properties)| Will { properties, ..will });
    (
        arb_connect(),
        prop::option::of(will),
        prop::option::of(arb_bytes(16)),
        arb_properties(PropertiesOf::Packet(PacketType::Connect)),
    )
        .prop_map(|(connect, will, password, properties)| Connect {
            level: ProtocolLevel::V5,
            will,
            // MQTT 5 allows a password without a user name.
            password,
            properties,
            ..connect
        })
}

pub(crate) fn arb_connack_v5() -> impl Strategy<Value = ConnAck> {
    let codes: Vec<ConnectReturnCode> = (0..=u8::MAX)
        .filter_map(|b| ConnectReturnCode::from_reason_code(ReasonCode(b)))
        .collect();
    (
        prop::sample::select(codes),
        any::<bool>(),
        arb_properties(PropertiesOf::Packet(PacketType::ConnAck)),
    )
        .prop_map(|(code, session_present, properties)| ConnAck {
            session_present: session_present && code.is_accepted(),
            code,
            properties,
        })
}

pub(crate) fn arb_publish_v5() -> impl Strategy<Value = Publish> {
    (
        arb_publish(),
        arb_properties(PropertiesOf::Packet(PacketType::Publish)),
        any::<bool>(),
    )
        .prop_map(|(publish, properties, alias_only)| {
            // An empty topic needs a Topic Alias to stand for it.
            let alias_only = alias_only && properties.as_ref().is_some_and(|p| p.topic_alias.is_some());
            Publish {
                topic: if alias_only {
                    TopicName::alias_only()
                } else {
                    publish.topic.clone()
                },
                properties,
                ..publish
            }
        })
}

pub(crate) fn arb_ack_v5(packet_type: PacketType) -> impl Strategy<Value = Ack> {
    (
        arb_pkid(),
        arb_reason(packet_type),
        arb_properties(PropertiesOf::Packet(packet_type)),
    )
        .prop_map(|(pkid, reason, properties)| Ack {
            pkid,
            reason,
            properties,
        })
}

pub(crate) fn arb_sub_options() -> impl Strategy<Value = SubOptions> {
    let handling = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendIfNew),
        Just(RetainHandling::DoNotSend),
    ];
    (arb_qos(), any::<bool>(), any::<bool>(), handling).prop_map(
        |(qos, no_local, retain_as_published, retain_handling)| SubOptions {
            qos,
            no_local,
            retain_as_published,
            retain_handling,
        },
    )
}

pub(crate) fn arb_subscribe_v5() -> impl Strategy<Value = Subscribe> {
    (
        arb_pkid(),
        prop::collection::vec((arb_topic_filter(), arb_sub_options()), 1..6),
        arb_properties(PropertiesOf::Packet(PacketType::Subscribe)),
    )
        .prop_map(|(pkid, filters, properties)| Subscribe {
            pkid,
            filters,
            properties,
        })
}

pub(crate) fn arb_suback_v5() -> impl Strategy<Value = SubAck> {
    let code = arb_reason(PacketType::SubAck).prop_map(|r| match QoS::from_u8(r.get()) {
        Some(qos) => SubackCode::Success(qos),
        None => SubackCode::Failure(r),
    });
    (
        arb_pkid(),
        prop::collection::vec(code, 1..8),
        arb_properties(PropertiesOf::Packet(PacketType::SubAck)),
    )
        .prop_map(|(pkid, return_codes, properties)| SubAck {
            pkid,
            return_codes,
            properties,
        })
}

pub(crate) fn arb_unsubscribe_v5() -> impl Strategy<Value = Unsubscribe> {
    (
        arb_unsubscribe(),
        arb_properties(PropertiesOf::Packet(PacketType::Unsubscribe)),
    )
        .prop_map(|(unsubscribe, properties)| Unsubscribe {
            properties,
            ..unsubscribe
        })
}

pub(crate) fn arb_unsuback_v5() -> impl Strategy<Value = UnsubAck> {
    (
        arb_pkid(),
        prop::collection::vec(arb_reason(PacketType::UnsubAck), 1..8),
        arb_properties(PropertiesOf::Packet(PacketType::UnsubAck)),
    )
        .prop_map(|(pkid, reasons, properties)| UnsubAck {
            pkid,
            reasons,
            properties,
        })
}

pub(crate) fn arb_disconnect_v5() -> impl Strategy<Value = Disconnect> {
    (
        arb_reason(PacketType::Disconnect),
        arb_properties(PropertiesOf::Packet(PacketType::Disconnect)),
    )
        .prop_map(|(reason, properties)| Disconnect { reason, properties })
}

pub(crate) fn arb_auth_v5() -> impl Strategy<Value = Auth> {
    (
        arb_reason(PacketType::Auth),
        arb_properties(PropertiesOf::Packet(PacketType::Auth)),
        arb_string(8),
    )
        .prop_map(|(reason, properties, method)| {
            if reason == ReasonCode::SUCCESS && properties.is_none() {
                return Auth { reason, properties };
            }
            // Every AUTH but the bare success names its method.
            let mut properties = properties.unwrap_or_default();
            properties.authentication_method.get_or_insert(method);
            Auth {
                reason,
                properties: Some(properties),
            }
        })
}

/// Any valid MQTT 5 packet of any type.
pub(crate) fn arb_packet_v5() -> impl Strategy<Value = Packet> {
    prop_oneof![
        arb_connect_v5().prop_map(Packet::from),
        arb_connack_v5().prop_map(Packet::ConnAck),
        arb_publish_v5().prop_map(Packet::Publish),
        arb_ack_v5(PacketType::PubAck).prop_map(Packet::PubAck),
        arb_ack_v5(PacketType::PubRec).prop_map(Packet::PubRec),
        arb_ack_v5(PacketType::PubRel).prop_map(Packet::PubRel),
        arb_ack_v5(PacketType::PubComp).prop_map(Packet::PubComp),
        arb_subscribe_v5().prop_map(Packet::Subscribe),
        arb_suback_v5().prop_map(Packet::SubAck),
        arb_unsubscribe_v5().prop_map(Packet::Unsubscribe),
        arb_unsuback_v5().prop_map(Packet::UnsubAck),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        arb_disconnect_v5().prop_map(Packet::Disconnect),
        arb_auth_v5().prop_map(Packet::Auth),
    ]
}

/// What a 3.1.1 peer reads when `packet` is written to it: reason codes, properties and
/// subscription options dropped, refusals as 3.1.1 codes. `None` for what 3.1.1 cannot carry
/// at all (AUTH, a PUBLISH named by alias only) and for CONNECT, written at its own level.
pub(crate) fn as_read_by_v311(packet: &Packet) -> Option<Packet> {
    Some(match packet.clone() {
        Packet::Connect(_) | Packet::Auth(_) => return None,
        Packet::Publish(publish) if publish.topic.is_empty() => return None,
        Packet::ConnAck(connack) => Packet::ConnAck(ConnAck {
            code: ConnectReturnCode::from_u8(connack.code.v3_code())?,
            properties: None,
            ..connack
        }),
        Packet::Publish(publish) => Packet::Publish(Publish {
            properties: None,
            ..publish
        }),
        Packet::PubAck(ack) => Packet::PubAck(Ack::new(ack.pkid)),
        Packet::PubRec(ack) => Packet::PubRec(Ack::new(ack.pkid)),
        Packet::PubRel(ack) => Packet::PubRel(Ack::new(ack.pkid)),
        Packet::PubComp(ack) => Packet::PubComp(Ack::new(ack.pkid)),
        Packet::Subscribe(subscribe) => Packet::Subscribe(Subscribe {
            pkid: subscribe.pkid,
            filters: subscribe
                .filters
                .into_iter()
                .map(|(f, o)| (f, SubOptions::new(o.qos)))
                .collect(),
            properties: None,
        }),
        Packet::SubAck(suback) => Packet::SubAck(SubAck {
            pkid: suback.pkid,
            return_codes: suback
                .return_codes
                .into_iter()
                .map(|c| match c {
                    SubackCode::Success(qos) => SubackCode::Success(qos),
                    SubackCode::Failure(_) => SubackCode::FAILURE,
                })
                .collect(),
            properties: None,
        }),
        Packet::Unsubscribe(unsubscribe) => Packet::Unsubscribe(Unsubscribe {
            properties: None,
            ..unsubscribe
        }),
        Packet::UnsubAck(unsuback) => Packet::UnsubAck(UnsubAck::new(unsuback.pkid)),
        Packet::Disconnect(_) => Packet::Disconnect(Disconnect::NORMAL),
        other @ (Packet::PingReq | Packet::PingResp) => other,
    })
}

/// A valid MQTT 5 PUBLISH with a bit of everything, for the fuzz and corpus seeds.
pub(crate) fn sample_publish_v5() -> Publish {
    Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: topic("a/b"),
        pkid: Some(pkid(9)),
        payload: Bytes::from_static(b"hello"),
        properties: props(|p| {
            p.payload_format_indicator = Some(true);
            p.message_expiry_interval = Some(60);
            p.topic_alias = Some(3);
            p.response_topic = Some(topic("reply/to"));
            p.correlation_data = Some(Bytes::from_static(b"\x01\x02"));
            p.user_properties = vec![("k".into(), "v".into())];
            p.subscription_ids = vec![1, 268_435_455];
            p.content_type = Some("text/plain".into());
        }),
    }
}
