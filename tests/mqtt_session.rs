//! Sessions with real clients: persistence while offline, clean sessions, takeover with DUP
//! redelivery, the queue's drop-oldest bound, client id rules, and `$SYS`.

mod common;

use std::time::Duration;

use arbor_actors::codec::ConnectReturnCode;
use common::client::{connect, receive, subscribe, wait_for};
use common::raw::{connect_packet, Raw};
use common::{test_config, TestBroker};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

async fn publish_acked(broker: &TestBroker, topic: &str, payloads: impl IntoIterator<Item = String>) {
    let mut p = connect(broker, &format!("pub-{topic}"), true, None).await;
    let mut n = 0;
    for payload in payloads {
        p.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        n += 1;
    }
    for _ in 0..n {
        wait_for(&mut p.events, |e| matches!(e, Event::Incoming(Packet::PubAck(_)))).await;
    }
}

async fn session_present(broker: &TestBroker, id: &str, clean: bool) -> (common::client::Client, bool) {
    let mut options = MqttOptions::new(id, broker.mqtt.ip().to_string(), broker.mqtt.port());
    options.set_clean_session(clean);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if tx.send(event).is_err() {
                return;
            }
        }
        let _ = tx.send(Event::Outgoing(rumqttc::Outgoing::Disconnect));
    });
    let present = match wait_for(&mut events, |e| matches!(e, Event::Incoming(Packet::ConnAck(_)))).await {
        Event::Incoming(Packet::ConnAck(ack)) => ack.session_present,
        _ => unreachable!(),
    };
    (common::client::Client { client, events }, present)
}

/// A persistent session queues QoS 1 messages while its client is away and delivers them on
/// return, with session present = 1 [MQTT-3.2.2-2]; a clean one starts empty [MQTT-3.2.2-1].
#[tokio::test]
async fn persistent_session_queues_while_offline_and_clean_session_starts_empty() {
    let broker = TestBroker::start().await;
    let (mut c, present) = session_present(&broker, "persist", false).await;
    assert!(!present);
    subscribe(&mut c, "p/t").await;
    c.client.disconnect().await.unwrap();
    wait_for(&mut c.events, |e| {
        matches!(e, Event::Outgoing(rumqttc::Outgoing::Disconnect))
    })
    .await;
    common::eventually("session detached", || {
        broker.handle.broker.clients.read().get("persist").is_none()
    })
    .await;
    publish_acked(&broker, "p/t", (0..5).map(|i| format!("m{i}"))).await;
    let (mut back, present) = session_present(&broker, "persist", false).await;
    assert!(present, "session present");
    for i in 0..5 {
        assert_eq!(receive(&mut back).await.payload, format!("m{i}").as_bytes());
    }
    back.client.disconnect().await.unwrap();
    let (_fresh, present) = session_present(&broker, "persist", true).await;
    assert!(!present, "clean session discards it");
}

/// A second connection with the same client id closes the first [MQTT-3.1.4-2].
#[tokio::test]
async fn second_connection_with_the_same_id_kicks_the_first() {
    let broker = TestBroker::start().await;
    let mut first = connect(&broker, "twin", true, None).await;
    let _second = connect(&broker, "twin", true, None).await;
    wait_for(&mut first.events, |e| {
        matches!(e, Event::Outgoing(rumqttc::Outgoing::Disconnect))
    })
    .await;
}

/// Takeover of a persistent session: unacknowledged QoS 1 messages are sent again with DUP,
/// then the queue, in order [MQTT-4.4.0-1].
#[tokio::test]
async fn takeover_resends_inflight_with_dup_then_the_queue() {
    let mut config = test_config();
    config.session.max_inflight = 3;
    let broker = TestBroker::with_config(config).await;
    // A raw client never acks, so messages stay in flight.
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("taker", false, 30, None)).await;
    let pkid = arbor_actors::codec::PacketId::new(1).unwrap();
    let filters = vec![("tk/t".to_string(), arbor_actors::codec::QoS::AtLeastOnce)];
    raw.send(&arbor_actors::codec::Packet::Subscribe(
        arbor_actors::codec::Subscribe { pkid, filters },
    ))
    .await;
    assert!(matches!(
        raw.next().await,
        Some(arbor_actors::codec::Packet::SubAck(_))
    ));
    publish_acked(&broker, "tk/t", (0..5).map(|i| format!("m{i}"))).await;
    for i in 0..3 {
        match raw.next().await {
            Some(arbor_actors::codec::Packet::Publish(p)) => {
                assert_eq!(p.payload, format!("m{i}").as_bytes());
                assert!(!p.dup);
            }
            other => panic!("expected a publish, got {other:?}"),
        }
    }
    // The window (3) is full: m3 and m4 wait in the queue. Take over with a new connection.
    let (mut c, present) = session_present(&broker, "taker", false).await;
    assert!(present);
    let mut got = Vec::new();
    for _ in 0..5 {
        let p = receive(&mut c).await;
        got.push((String::from_utf8_lossy(&p.payload).to_string(), p.dup));
    }
    let expected: Vec<(String, bool)> = (0..5).map(|i| (format!("m{i}"), i < 3)).collect();
    assert_eq!(got, expected);
    assert!(raw.closed().await.is_empty(), "the first connection was closed");
}

/// While offline, the queue keeps the newest `max_mqueue_len` messages (drop oldest).
#[tokio::test]
async fn mqueue_drops_the_oldest_when_full() {
    let mut config = test_config();
    config.session.max_mqueue_len = 10;
    let broker = TestBroker::with_config(config).await;
    let (mut c, _) = session_present(&broker, "dropper", false).await;
    subscribe(&mut c, "dq/t").await;
    c.client.disconnect().await.unwrap();
    common::eventually("offline", || {
        broker.handle.broker.clients.read().get("dropper").is_none()
    })
    .await;
    publish_acked(&broker, "dq/t", (0..25).map(|i| format!("m{i}"))).await;
    let (mut back, _) = session_present(&broker, "dropper", false).await;
    for i in 15..25 {
        assert_eq!(receive(&mut back).await.payload, format!("m{i}").as_bytes());
    }
    let extra = tokio::time::timeout(Duration::from_millis(300), receive(&mut back)).await;
    assert!(extra.is_err(), "only the newest 10");
}

/// Client ids: empty with clean session gets one assigned; empty with clean session 0 is
/// refused with 0x02 [MQTT-3.1.3-8]; long ids with any UTF-8 are accepted [MQTT-3.1.3-5 allows].
#[tokio::test]
async fn client_id_rules() {
    let broker = TestBroker::start().await;
    let (_raw, ack) = Raw::connected(broker.mqtt, connect_packet("", true, 30, None)).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_packet("", false, 30, None)).await;
    assert_eq!(ack.code, ConnectReturnCode::IdentifierRejected);
    assert!(raw.closed().await.is_empty());
    let long = "ünïcødé-客户端-".repeat(6);
    assert!(long.len() > 100);
    let (_raw, ack) = Raw::connected(broker.mqtt, connect_packet(&long, true, 30, None)).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
}

/// `$SYS/brokers/<node>/…` is published at start and every `sys.interval`.
#[tokio::test]
async fn sys_topics_are_published() {
    let mut config = test_config();
    config.sys.interval = Duration::from_millis(200);
    let broker = TestBroker::with_config(config).await;
    let mut c = connect(&broker, "sys-watch", true, None).await;
    subscribe(&mut c, "$SYS/brokers/+/version").await;
    assert_eq!(
        receive(&mut c).await.payload,
        env!("CARGO_PKG_VERSION").as_bytes()
    );
    subscribe(&mut c, "$SYS/brokers/+/uptime").await;
    let uptime = receive(&mut c).await;
    assert!(uptime.topic.ends_with("/uptime"), "{}", uptime.topic);
}

/// QoS 2 receipt is exactly once: a PUBLISH resent with DUP before PUBREL is acknowledged again
/// but not routed again [MQTT-4.3.3-2].
#[tokio::test]
async fn qos2_publish_resent_before_pubrel_is_routed_once() {
    use arbor_actors::codec::{Packet as P, PacketId, Publish, QoS as Q, TopicName};
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "q2-sub", true, None).await;
    subscribe(&mut sub, "q2/t").await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("q2-pub", true, 30, None)).await;
    let pkid = PacketId::new(7).unwrap();
    let publish = Publish {
        qos: Q::ExactlyOnce,
        pkid: Some(pkid),
        ..Publish::at_most_once(TopicName::new("q2/t").unwrap(), "once".into())
    };
    raw.send(&P::Publish(publish.clone())).await;
    assert!(matches!(raw.next().await, Some(P::PubRec(id)) if id == pkid));
    raw.send(&P::Publish(Publish { dup: true, ..publish })).await;
    assert!(matches!(raw.next().await, Some(P::PubRec(id)) if id == pkid));
    raw.send(&P::PubRel(pkid)).await;
    assert!(matches!(raw.next().await, Some(P::PubComp(id)) if id == pkid));
    assert_eq!(&receive(&mut sub).await.payload[..], b"once");
    let again = tokio::time::timeout(Duration::from_millis(300), receive(&mut sub)).await;
    assert!(again.is_err(), "routed once");
}

/// An unacknowledged QoS 1 message is sent again with DUP after `session.retry_interval`.
#[tokio::test]
async fn unacknowledged_message_is_retried_with_dup() {
    use arbor_actors::codec::{Packet as P, PacketId, QoS as Q, Subscribe};
    let mut config = test_config();
    config.session.retry_interval = Duration::from_millis(400);
    let broker = TestBroker::with_config(config).await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("retry", true, 30, None)).await;
    let filters = vec![("rt/t".to_string(), Q::AtLeastOnce)];
    raw.send(&P::Subscribe(Subscribe {
        pkid: PacketId::new(1).unwrap(),
        filters,
    }))
    .await;
    assert!(matches!(raw.next().await, Some(P::SubAck(_))));
    publish_acked(&broker, "rt/t", ["again".to_string()]).await;
    let Some(P::Publish(first)) = raw.next().await else {
        panic!("first delivery")
    };
    assert!(!first.dup);
    let Some(P::Publish(retry)) = raw.next().await else {
        panic!("retry")
    };
    assert!(retry.dup && retry.pkid == first.pkid, "{retry:?}");
    raw.send(&P::PubAck(first.pkid.unwrap())).await;
}

/// A detached persistent session expires after `session.expiry_interval`.
#[tokio::test]
async fn detached_persistent_session_expires() {
    let mut config = test_config();
    config.session.expiry_interval = Duration::from_millis(300);
    let broker = TestBroker::with_config(config).await;
    let (c, _) = session_present(&broker, "expiring", false).await;
    c.client.disconnect().await.unwrap();
    common::eventually("session expired", || {
        broker.handle.broker.registry.get("expiring").is_none()
    })
    .await;
    let (_again, present) = session_present(&broker, "expiring", false).await;
    assert!(!present);
}
