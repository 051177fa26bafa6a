//! MQTT 5 messages, byte by byte: properties forwarded, expiry, topic aliases both ways,
//! subscription options and identifiers, reason codes, flow control, packet size, and mixed
//! 3.1.1/5 clients.

mod common;

use std::time::Duration;

use arbor_actors::codec::{
    Ack, Packet, PacketId, Properties, QoS, ReasonCode, RetainHandling, SubOptions, SubackCode, TopicName,
    Unsubscribe,
};
use bytes::Bytes;
use common::raw::{connect_packet, connect_v5, publish_packet, publish_v5, Raw};
use common::{test_config, TestBroker};

const QUIET: Duration = Duration::from_millis(300);

async fn v5(broker: &TestBroker, id: &str, props: Properties) -> Raw {
    Raw::connected(broker.mqtt, connect_v5(id, true, props)).await.0
}

fn opts(qos: QoS) -> SubOptions {
    SubOptions::new(qos)
}

/// [MQTT-3.3.2-17..20], [MQTT-3.3.2-6]: payload format, content type, response topic,
/// correlation data and user properties reach a v5 subscriber unchanged, with the expiry
/// interval counted down; a 3.1.1 subscriber gets the same message without properties.
#[tokio::test]
async fn mqtt_3_3_2_17_properties_are_forwarded_and_dropped_toward_3_1_1() {
    let broker = TestBroker::start().await;
    let mut sub5 = v5(&broker, "p-sub5", Properties::default()).await;
    sub5.subscribe_v5(1, &[("p/#", opts(QoS::AtMostOnce))], None)
        .await;
    let (mut sub3, _) = Raw::connected(broker.mqtt, connect_packet("p-sub3", true, 30, None)).await;
    sub3.subscribe("p/#", QoS::AtMostOnce).await;
    let mut publisher = v5(&broker, "p-pub", Properties::default()).await;
    let sent = Properties {
        payload_format_indicator: Some(true),
        content_type: Some("application/json".into()),
        response_topic: Some(TopicName::new("p/reply").unwrap()),
        correlation_data: Some(Bytes::from_static(b"\x01\x02")),
        user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
        message_expiry_interval: Some(100),
        ..Properties::default()
    };
    publisher
        .send(&publish_v5("p/a", QoS::AtMostOnce, 0, false, "{}", sent.clone()))
        .await;
    let got = sub5.expect_publish().await.properties.expect("properties");
    let expiry = got.message_expiry_interval.expect("an expiry");
    assert!((99..=100).contains(&expiry), "{expiry}");
    assert_eq!(
        Properties {
            message_expiry_interval: Some(100),
            ..*got
        },
        sent
    );
    let plain = sub3.expect_publish().await;
    assert_eq!((&plain.payload[..], plain.properties), (&b"{}"[..], None));
}

/// [MQTT-3.3.2-5]: a message whose expiry passes while it is queued is not delivered.
#[tokio::test]
async fn mqtt_3_3_2_5_an_expired_message_is_not_delivered() {
    let broker = TestBroker::start().await;
    let persistent = Properties {
        session_expiry_interval: Some(60),
        ..Properties::default()
    };
    let mut sub = v5(&broker, "x-sub", persistent.clone()).await;
    sub.subscribe_v5(1, &[("x/t", opts(QoS::AtLeastOnce))], None)
        .await;
    drop(sub);
    common::eventually("the client is gone", || {
        broker.handle.api.registry().client("x-sub").is_none()
    })
    .await;
    let mut publisher = v5(&broker, "x-pub", Properties::default()).await;
    let short = Properties {
        message_expiry_interval: Some(1),
        ..Properties::default()
    };
    publisher
        .send(&publish_v5("x/t", QoS::AtLeastOnce, 1, false, "short", short))
        .await;
    publisher
        .send(&publish_packet("x/t", QoS::AtLeastOnce, 2, false, "forever"))
        .await;
    for _ in 0..2 {
        assert!(matches!(publisher.next().await, Some(Packet::PubAck(_))));
    }
    // Time must pass for a message to expire: let the first one's second run out.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (mut back, ack) = Raw::connected(broker.mqtt, connect_v5("x-sub", false, persistent)).await;
    assert!(ack.session_present);
    assert_eq!(&back.expect_publish().await.payload[..], b"forever");
    assert!(
        back.next_within(QUIET).await.is_err(),
        "the expired one never comes"
    );
}

/// [MQTT-3.3.2-8..12]: a topic set with an alias can then be published by alias alone; an
/// alias above the server's Topic Alias Maximum is DISCONNECT 0x94.
#[tokio::test]
async fn mqtt_3_3_2_8_inbound_topic_aliases() {
    let broker = TestBroker::start().await;
    let (mut sub, _) = Raw::connected(broker.mqtt, connect_packet("a-sub", true, 30, None)).await;
    sub.subscribe("a/#", QoS::AtMostOnce).await;
    let mut publisher = v5(&broker, "a-pub", Properties::default()).await;
    let alias = |a| Properties {
        topic_alias: Some(a),
        ..Properties::default()
    };
    publisher
        .send(&publish_v5(
            "a/long/topic",
            QoS::AtMostOnce,
            0,
            false,
            "1",
            alias(3),
        ))
        .await;
    let mut by_alias = publish_v5("a/x", QoS::AtMostOnce, 0, false, "2", alias(3));
    if let Packet::Publish(p) = &mut by_alias {
        p.topic = TopicName::alias_only();
    }
    publisher.send(&by_alias).await;
    for payload in ["1", "2"] {
        let p = sub.expect_publish().await;
        assert_eq!(
            (&p.topic[..], &p.payload[..]),
            ("a/long/topic", payload.as_bytes())
        );
    }
    let max = test_config().mqtt.max_topic_alias;
    publisher
        .send(&publish_v5("a/y", QoS::AtMostOnce, 0, false, "3", alias(max + 1)))
        .await;
    assert_eq!(
        publisher.expect_disconnect().await,
        ReasonCode::TOPIC_ALIAS_INVALID
    );
}

/// [MQTT-3.3.2-9]: the broker assigns aliases only up to the client's Topic Alias Maximum: the
/// first PUBLISH on a topic carries topic and alias, the next the alias alone.
#[tokio::test]
async fn mqtt_3_3_2_9_outbound_topic_aliases() {
    let broker = TestBroker::start().await;
    let allows = Properties {
        topic_alias_maximum: Some(1),
        ..Properties::default()
    };
    let mut sub = v5(&broker, "o-sub", allows).await;
    sub.subscribe_v5(1, &[("o/#", opts(QoS::AtMostOnce))], None).await;
    let mut publisher = v5(&broker, "o-pub", Properties::default()).await;
    for topic in ["o/a", "o/a", "o/b"] {
        publisher
            .send(&publish_packet(topic, QoS::AtMostOnce, 0, false, topic))
            .await;
    }
    let mut got: Vec<(String, Option<u16>)> = Vec::new();
    for _ in 0..3 {
        let p = sub.expect_publish().await;
        got.push((p.topic.to_string(), p.properties.and_then(|p| p.topic_alias)));
    }
    assert_eq!(
        got,
        vec![
            ("o/a".into(), Some(1)),
            (String::new(), Some(1)),
            ("o/b".into(), None)
        ],
        "one alias allowed: the second topic goes in full"
    );
}

/// [MQTT-3.8.3-3], [MQTT-3.3.1-12], [MQTT-3.3.4-3]: No Local keeps a client's own messages
/// from it; Retain As Published keeps RETAIN on live deliveries; each matching subscription's
/// identifier comes with the message.
#[tokio::test]
async fn mqtt_3_8_3_3_no_local_retain_as_published_and_subscription_ids() {
    let broker = TestBroker::start().await;
    let mut me = v5(&broker, "s-me", Properties::default()).await;
    let no_local = SubOptions {
        no_local: true,
        ..opts(QoS::AtMostOnce)
    };
    me.subscribe_v5(1, &[("s/mine", no_local)], Some(5)).await;
    let rap = SubOptions {
        retain_as_published: true,
        ..opts(QoS::AtMostOnce)
    };
    me.subscribe_v5(2, &[("s/#", rap)], Some(7)).await;
    me.subscribe_v5(3, &[("s/+", opts(QoS::AtMostOnce))], Some(9))
        .await;
    me.send(&publish_packet("s/mine", QoS::AtMostOnce, 0, false, "own"))
        .await;
    let p = me.expect_publish().await;
    let ids = p.properties.map(|p| p.subscription_ids).unwrap_or_default();
    assert_eq!(
        (&p.payload[..], ids),
        (&b"own"[..], vec![7, 9]),
        "not through the No Local one"
    );
    let mut other = v5(&broker, "s-other", Properties::default()).await;
    other
        .send(&publish_packet("s/mine", QoS::AtMostOnce, 0, true, "theirs"))
        .await;
    let p = me.expect_publish().await;
    let mut ids = p.properties.map(|p| p.subscription_ids).unwrap_or_default();
    ids.sort_unstable();
    assert_eq!(
        (p.retain, ids),
        (true, vec![5, 7, 9]),
        "RETAIN kept by the RAP subscription"
    );
}

/// [MQTT-3.3.1-10], [MQTT-3.3.1-11]: Retain Handling 1 sends retained messages only for a new
/// subscription, 2 never.
#[tokio::test]
async fn mqtt_3_3_1_10_retain_handling() {
    let broker = TestBroker::start().await;
    let mut publisher = v5(&broker, "r-pub", Properties::default()).await;
    publisher
        .send(&publish_packet("r/t", QoS::AtLeastOnce, 1, true, "kept"))
        .await;
    assert!(matches!(publisher.next().await, Some(Packet::PubAck(_))));
    let mut sub = v5(&broker, "r-sub", Properties::default()).await;
    let if_new = SubOptions {
        retain_handling: RetainHandling::SendIfNew,
        ..opts(QoS::AtMostOnce)
    };
    sub.subscribe_v5(1, &[("r/t", if_new)], None).await;
    assert_eq!(&sub.expect_publish().await.payload[..], b"kept");
    sub.subscribe_v5(2, &[("r/t", if_new)], None).await;
    let never = SubOptions {
        retain_handling: RetainHandling::DoNotSend,
        ..opts(QoS::AtMostOnce)
    };
    sub.subscribe_v5(3, &[("r/+", never)], None).await;
    assert!(
        sub.next_within(QUIET).await.is_err(),
        "nothing for an existing or a 2 subscription"
    );
}

/// [MQTT-3.4.2-1]: PUBACK says 0x10 when nobody subscribes; PUBREL for an unknown packet id
/// gets PUBCOMP 0x92; UNSUBACK says 0x11 for a filter that was not subscribed [MQTT-3.11.3-1].
#[tokio::test]
async fn mqtt_3_4_2_1_reason_codes_in_acknowledgements() {
    let broker = TestBroker::start().await;
    let mut c = v5(&broker, "rc", Properties::default()).await;
    c.send(&publish_packet("nobody/here", QoS::AtLeastOnce, 1, false, "x"))
        .await;
    match c.next().await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.reason, ReasonCode::NO_MATCHING_SUBSCRIBERS),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    c.send(&Packet::PubRel(Ack::new(PacketId::new(9).unwrap()))).await;
    match c.next().await {
        Some(Packet::PubComp(ack)) => assert_eq!(ack.reason, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    c.subscribe_v5(2, &[("u/a", opts(QoS::AtMostOnce))], None).await;
    c.send(&Packet::Unsubscribe(Unsubscribe {
        pkid: PacketId::new(3).unwrap(),
        filters: vec!["u/a".into(), "u/b".into()],
        properties: None,
    }))
    .await;
    match c.next().await {
        Some(Packet::UnsubAck(ack)) => {
            assert_eq!(
                ack.reasons,
                vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED]
            )
        }
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
}

/// SUBACK reason codes by configuration: shared subscriptions off 0x9E, wildcards off 0xA2,
/// identifiers off 0xA1; `mqtt.max_qos` caps the granted QoS, and a PUBLISH above it is
/// DISCONNECT 0x9B [MQTT-3.2.2-11].
#[tokio::test]
async fn suback_reason_codes_follow_the_configuration() {
    let mut config = test_config();
    config.mqtt.shared_subscription = false;
    config.mqtt.wildcard_subscription = false;
    config.mqtt.subscription_identifiers = false;
    config.mqtt.max_qos = 1;
    let broker = TestBroker::with_config(config).await;
    let mut c = v5(&broker, "cfg", Properties::default()).await;
    let ack = c
        .subscribe_v5(
            1,
            &[
                ("$share/g/t", opts(QoS::AtMostOnce)),
                ("t/#", opts(QoS::AtMostOnce)),
                ("t", opts(QoS::ExactlyOnce)),
            ],
            None,
        )
        .await;
    assert_eq!(
        ack.return_codes,
        vec![
            SubackCode::Failure(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED),
            SubackCode::Failure(ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED),
            SubackCode::Success(QoS::AtLeastOnce),
        ]
    );
    let ack = c.subscribe_v5(2, &[("u", opts(QoS::AtMostOnce))], Some(4)).await;
    assert_eq!(
        ack.return_codes,
        vec![SubackCode::Failure(
            ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED
        )]
    );
    c.send(&publish_packet("t", QoS::ExactlyOnce, 1, false, "x"))
        .await;
    assert_eq!(c.expect_disconnect().await, ReasonCode::QOS_NOT_SUPPORTED);
}

/// [MQTT-3.3.4-7]: more unacknowledged QoS 1 PUBLISHes than the server's Receive Maximum is
/// DISCONNECT 0x93; [MQTT-3.3.4-9]: the broker never has more than the client's Receive Maximum
/// unacknowledged toward it.
#[tokio::test]
async fn mqtt_3_3_4_7_receive_maximum_both_ways() {
    let mut config = test_config();
    config.mqtt.receive_maximum = 2;
    let broker = TestBroker::with_config(config).await;
    let one_at_a_time = Properties {
        receive_maximum: Some(1),
        ..Properties::default()
    };
    let mut sub = v5(&broker, "rm-sub", one_at_a_time).await;
    sub.subscribe_v5(1, &[("rm/t", opts(QoS::AtLeastOnce))], None)
        .await;
    let mut publisher = v5(&broker, "rm-pub", Properties::default()).await;
    for i in 1..=2 {
        publisher
            .send(&publish_packet(
                "rm/t",
                QoS::AtLeastOnce,
                i,
                false,
                &i.to_string(),
            ))
            .await;
        assert!(matches!(publisher.next().await, Some(Packet::PubAck(_))));
    }
    let first = sub.expect_publish().await;
    assert!(
        sub.next_within(QUIET).await.is_err(),
        "the second waits for the first's PUBACK"
    );
    sub.send(&Packet::PubAck(Ack::new(first.pkid.unwrap()))).await;
    assert_eq!(&sub.expect_publish().await.payload[..], b"2");
    // Three QoS 1 PUBLISHes in one write: over the server's Receive Maximum of 2.
    let mut burst = bytes::BytesMut::new();
    for i in 10..13 {
        arbor_actors::codec::encode(
            &publish_packet("rm/t", QoS::AtLeastOnce, i, false, "b"),
            arbor_actors::codec::ProtocolLevel::V5,
            &mut burst,
        );
    }
    let mut flooder = v5(&broker, "rm-flood", Properties::default()).await;
    flooder.send_bytes(&burst).await;
    let mut reason = None;
    while let Some(packet) = flooder.next().await {
        if let Packet::Disconnect(d) = packet {
            reason = Some(d.reason);
        }
    }
    assert_eq!(reason, Some(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED));
}

/// [MQTT-3.1.2-25]: a PUBLISH larger than the client's Maximum Packet Size is not sent to it
/// (and the connection stays up); smaller ones are.
#[tokio::test]
async fn mqtt_3_1_2_25_no_packet_above_the_clients_maximum_packet_size() {
    let broker = TestBroker::start().await;
    let small = Properties {
        maximum_packet_size: Some(64),
        ..Properties::default()
    };
    let mut sub = v5(&broker, "mp-sub", small).await;
    sub.subscribe_v5(1, &[("mp/t", opts(QoS::AtLeastOnce))], None)
        .await;
    let mut publisher = v5(&broker, "mp-pub", Properties::default()).await;
    let big = "x".repeat(100);
    publisher
        .send(&publish_packet("mp/t", QoS::AtLeastOnce, 1, false, &big))
        .await;
    publisher
        .send(&publish_packet("mp/t", QoS::AtLeastOnce, 2, false, "small"))
        .await;
    assert_eq!(&sub.expect_publish().await.payload[..], b"small");
    let dropped = broker.handle.api.metrics().snapshot().messages_too_large;
    assert_eq!(dropped, 1);
}

/// Mixed levels: a 3.1.1 publisher reaches a v5 subscriber (no properties), at the
/// subscription's QoS.
#[tokio::test]
async fn a_3_1_1_publisher_reaches_a_v5_subscriber() {
    let broker = TestBroker::start().await;
    let mut sub = v5(&broker, "m-sub5", Properties::default()).await;
    sub.subscribe_v5(1, &[("m/t", opts(QoS::AtLeastOnce))], None)
        .await;
    let (mut publisher, _) = Raw::connected(broker.mqtt, connect_packet("m-pub3", true, 30, None)).await;
    publisher
        .send(&publish_packet("m/t", QoS::AtLeastOnce, 1, false, "hi"))
        .await;
    let p = sub.expect_publish().await;
    assert_eq!(
        (&p.payload[..], p.qos, p.properties),
        (&b"hi"[..], QoS::AtLeastOnce, None)
    );
}

/// [MQTT-3.4.2-1], [MQTT-3.9.3-1]: what the ACL refuses is answered with 0x87 to an MQTT 5
/// client: PUBACK for a PUBLISH, SUBACK for a filter; and the admin API shows the MQTT 5
/// session's protocol level, expiry, receive maximum and topic alias maximum.
#[tokio::test]
async fn acl_refusals_are_0x87_and_the_admin_api_shows_v5_sessions() {
    use arbor_actors::auth::acl::{Permission, RuleConfig};
    let mut config = test_config();
    config.acl.rules = vec![RuleConfig {
        permission: Permission::Deny,
        who: "all".into(),
        action: "all".into(),
        topics: vec!["secret/#".into()],
    }];
    let broker = TestBroker::with_config(config).await;
    let props = Properties {
        session_expiry_interval: Some(90),
        receive_maximum: Some(7),
        topic_alias_maximum: Some(3),
        ..Properties::default()
    };
    let mut c = v5(&broker, "acl5", props).await;
    c.send(&publish_packet("secret/a", QoS::AtLeastOnce, 1, false, "x"))
        .await;
    match c.next().await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.reason, ReasonCode::NOT_AUTHORIZED),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let ack = c
        .subscribe_v5(
            2,
            &[
                ("secret/#", opts(QoS::AtMostOnce)),
                ("open/#", opts(QoS::AtMostOnce)),
            ],
            None,
        )
        .await;
    assert_eq!(
        ack.return_codes,
        vec![
            SubackCode::Failure(ReasonCode::NOT_AUTHORIZED),
            SubackCode::Success(QoS::AtMostOnce)
        ]
    );
    let info = broker.session_info("acl5").await.expect("the session");
    assert_eq!(
        (
            info.protocol_level,
            info.expiry_interval,
            info.receive_maximum,
            info.topic_alias_maximum
        ),
        (5, 90, 7, 3)
    );
    let client = broker.handle.api.registry().client("acl5").expect("connected");
    assert_eq!(
        (
            client.protocol_level,
            client.session_expiry,
            client.receive_maximum
        ),
        (5, 90, 7)
    );
}
