//! Sessions with real clients (rumqttc, raw bytes where rumqttc cannot say it): persistence
//! while offline, clean sessions, takeover with DUP redelivery, the queue's drop-oldest bound,
//! client id rules, QoS 2 exactly-once receipt, retries, expiry and `$SYS`.

mod common;

use std::time::Duration;

use arbor_actors::codec::{self, ConnectReturnCode};
use common::client::{
    closed, connect, connect_with, no_publish_within, options, publish_acked, receive, receive_n,
    subscribe_qos, Client,
};
use common::raw::{connect_packet, publish_packet, Raw};
use common::{test_config, TestBroker};
use rumqttc::QoS;

/// An absence cannot be awaited: how long a test watches for a delivery that must not come.
const QUIET: Duration = Duration::from_millis(300);

/// Connects `id` with the clean session flag `clean`; returns the client and session-present.
async fn join(broker: &TestBroker, id: &str, clean: bool) -> (Client, bool) {
    let mut opts = options(broker, id);
    opts.set_clean_session(clean);
    let (c, ack) = connect_with(opts).await;
    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success, "{id} accepted");
    (c, ack.session_present)
}

/// Disconnects cleanly and waits until the broker has detached the session from the
/// connection (polled: no client-visible event says so).
async fn leave(broker: &TestBroker, mut c: Client, id: &str) {
    c.client.disconnect().await.expect("queued");
    closed(&mut c).await;
    broker.session_until(id, "detached", |s| !s.connected).await;
}

/// Publishes `payloads` at QoS 1 from a fresh client, each acknowledged (so routed).
async fn publish_all(broker: &TestBroker, topic: &str, payloads: impl IntoIterator<Item = String>) {
    let mut p = connect(broker, &format!("pub-{topic}"), true, None).await;
    for payload in payloads {
        publish_acked(&mut p, topic, QoS::AtLeastOnce, false, payload).await;
    }
}

fn payloads(c: &[rumqttc::Publish]) -> Vec<String> {
    c.iter()
        .map(|p| String::from_utf8_lossy(&p.payload).to_string())
        .collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

/// A persistent session (clean session 0) keeps its subscriptions and queues QoS 1 messages
/// while its client is away; on return CONNACK says session present [MQTT-3.2.2-2] and the
/// messages arrive in order [MQTT-3.1.2-4, -5].
#[tokio::test]
async fn persistent_session_queues_while_offline_session_present_1_mqtt_3_2_2_2() {
    let broker = TestBroker::start().await;
    let (mut c, present) = join(&broker, "persist", false).await;
    assert!(!present, "a new session [MQTT-3.2.2-3]");
    subscribe_qos(&mut c, "p/t", QoS::AtLeastOnce).await;
    leave(&broker, c, "persist").await;
    publish_all(&broker, "p/t", numbered(0..5)).await;
    broker
        .session_until("persist", "5 queued", |s| s.mqueue_len == 5)
        .await;
    let (mut back, present) = join(&broker, "persist", false).await;
    assert!(present, "session present [MQTT-3.2.2-2]");
    let got = receive_n(&mut back, 5).await;
    assert_eq!(payloads(&got), numbered(0..5));
    assert!(got.iter().all(|p| p.qos == QoS::AtLeastOnce && !p.dup));
}

/// Clean session 1 discards any previous session: session present 0 [MQTT-3.2.2-1], nothing
/// queued for the old one arrives, its subscriptions are gone [MQTT-3.1.2-6]; and a clean
/// session leaves nothing behind for the next connection.
#[tokio::test]
async fn clean_session_starts_empty_session_present_0_mqtt_3_2_2_1() {
    let broker = TestBroker::start().await;
    let (mut c, _) = join(&broker, "cleaner", false).await;
    subscribe_qos(&mut c, "c/t", QoS::AtLeastOnce).await;
    leave(&broker, c, "cleaner").await;
    publish_all(&broker, "c/t", numbered(0..3)).await;
    broker
        .session_until("cleaner", "3 queued", |s| s.mqueue_len == 3)
        .await;
    let (mut fresh, present) = join(&broker, "cleaner", true).await;
    assert!(!present, "[MQTT-3.2.2-1]");
    publish_all(&broker, "c/t", numbered(3..4)).await;
    no_publish_within(&mut fresh, QUIET).await; // neither the queue nor the old subscription
    fresh.client.disconnect().await.expect("queued");
    closed(&mut fresh).await;
    let (_again, present) = join(&broker, "cleaner", false).await;
    assert!(!present, "a clean session is not kept [MQTT-3.1.2-6]");
}

/// A second connection with the same client id closes the first [MQTT-3.1.4-2]; the second
/// works normally.
#[tokio::test]
async fn second_connection_with_same_id_closes_the_first_mqtt_3_1_4_2() {
    let broker = TestBroker::start().await;
    let mut first = connect(&broker, "twin", true, None).await;
    let mut second = connect(&broker, "twin", true, None).await;
    closed(&mut first).await;
    subscribe_qos(&mut second, "twin/t", QoS::AtLeastOnce).await;
    publish_all(&broker, "twin/t", numbered(0..1)).await;
    assert_eq!(&receive(&mut second).await.payload[..], b"m0");
}

/// Takeover of a persistent session whose client did not acknowledge: the new connection gets
/// the unacknowledged QoS 1 messages again with DUP 1 [MQTT-3.3.1-1], then the queued ones,
/// in order [MQTT-4.4.0-1]; the old connection is closed [MQTT-3.1.4-2].
#[tokio::test]
async fn takeover_resends_unacked_with_dup_then_the_queue_mqtt_4_4_0_1() {
    let mut config = test_config();
    config.session.max_inflight = 3;
    let broker = TestBroker::with_config(config).await;
    let mut opts = options(&broker, "taker");
    opts.set_clean_session(false).set_manual_acks(true);
    let (mut first, _) = connect_with(opts).await;
    subscribe_qos(&mut first, "tk/t", QoS::AtLeastOnce).await;
    publish_all(&broker, "tk/t", numbered(0..6)).await;
    let unacked = receive_n(&mut first, 3).await; // the window is full: no ack is sent
    assert_eq!(payloads(&unacked), numbered(0..3));
    assert!(unacked.iter().all(|p| !p.dup));
    broker
        .session_until("taker", "3 in flight, 3 queued", |s| {
            s.inflight == 3 && s.mqueue_len == 3
        })
        .await;
    let (mut second, present) = join(&broker, "taker", false).await;
    assert!(present);
    let got = receive_n(&mut second, 6).await;
    let seen: Vec<(String, bool)> = payloads(&got)
        .into_iter()
        .zip(got.iter().map(|p| p.dup))
        .collect();
    let want: Vec<(String, bool)> = numbered(0..6)
        .into_iter()
        .zip([true, true, true, false, false, false])
        .collect();
    assert_eq!(seen, want, "inflight again with DUP, then the queue");
    closed(&mut first).await;
    no_publish_within(&mut second, QUIET).await;
}

/// While the client is offline the queue keeps the newest `session.max_mqueue_len` messages
/// (emqttd's drop-oldest policy), counting what it dropped.
#[tokio::test]
async fn offline_queue_drops_the_oldest_beyond_max_mqueue_len() {
    let mut config = test_config();
    config.session.max_mqueue_len = 10;
    let broker = TestBroker::with_config(config).await;
    let (mut c, _) = join(&broker, "dropper", false).await;
    subscribe_qos(&mut c, "dq/t", QoS::AtLeastOnce).await;
    leave(&broker, c, "dropper").await;
    publish_all(&broker, "dq/t", numbered(0..25)).await;
    let info = broker
        .session_until("dropper", "25 offered", |s| {
            s.mqueue_len + s.mqueue_dropped as usize == 25
        })
        .await;
    assert_eq!((info.mqueue_len, info.mqueue_dropped), (10, 15));
    let (mut back, present) = join(&broker, "dropper", false).await;
    assert!(present);
    assert_eq!(payloads(&receive_n(&mut back, 10).await), numbered(15..25));
    no_publish_within(&mut back, QUIET).await; // only the newest 10
}

/// An empty client id with clean session 1 is accepted and the broker assigns one
/// [MQTT-3.1.3-6]; the connection then works.
#[tokio::test]
async fn empty_client_id_with_clean_session_is_accepted_mqtt_3_1_3_6() {
    let broker = TestBroker::start().await;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_packet("", true, 30, None)).await;
    assert_eq!(
        (ack.code, ack.session_present),
        (ConnectReturnCode::Accepted, false)
    );
    raw.subscribe("anon/t", codec::QoS::AtLeastOnce).await;
    raw.send(&publish_packet("anon/t", codec::QoS::AtMostOnce, 0, false, "hi"))
        .await;
    assert_eq!(&raw.expect_publish().await.payload[..], b"hi");
    let (c, ack) = connect_with(options(&broker, "")).await;
    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success, "rumqttc too");
    drop(c);
}

/// An empty client id with clean session 0 is refused with CONNACK 0x02 and the connection is
/// closed [MQTT-3.1.3-8].
#[tokio::test]
async fn empty_client_id_without_clean_session_gets_0x02_mqtt_3_1_3_8() {
    let broker = TestBroker::start().await;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_packet("", false, 30, None)).await;
    assert_eq!(
        (ack.code, ack.session_present),
        (ConnectReturnCode::IdentifierRejected, false),
        "[MQTT-3.2.2-4]"
    );
    assert!(
        raw.closed().await.is_empty(),
        "closed after the refusal [MQTT-3.2.2-5]"
    );
}

/// A 100-byte client id of non-ASCII UTF-8 is accepted (the server may allow more than 23
/// bytes and any characters [MQTT-3.1.3-5]) and identifies the session.
#[tokio::test]
async fn client_id_of_100_bytes_non_ascii_utf8_is_accepted() {
    let broker = TestBroker::start().await;
    let id = "ü客".repeat(20);
    assert_eq!((id.len(), id.chars().count()), (100, 40));
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_packet(&id, false, 30, None)).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    raw.send(&codec::Packet::Disconnect(codec::Disconnect::NORMAL))
        .await;
    raw.closed().await;
    let (mut c, present) = join(&broker, &id, false).await;
    assert!(present, "the same session by that id");
    subscribe_qos(&mut c, "utf8/t", QoS::AtLeastOnce).await;
    publish_all(&broker, "utf8/t", numbered(0..1)).await;
    assert_eq!(&receive(&mut c).await.payload[..], b"m0");
}

/// QoS 2 receipt is exactly once: a PUBLISH resent with DUP before PUBREL is acknowledged
/// again but not routed again [MQTT-4.3.3-2].
#[tokio::test]
async fn qos2_publish_resent_before_pubrel_is_routed_once_mqtt_4_3_3_2() {
    use codec::Packet as P;
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "q2-sub", true, None).await;
    subscribe_qos(&mut sub, "q2/t", QoS::ExactlyOnce).await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("q2-pub", true, 30, None)).await;
    let P::Publish(publish) = publish_packet("q2/t", codec::QoS::ExactlyOnce, 7, false, "once") else {
        unreachable!("publish_packet builds a PUBLISH")
    };
    let pkid = publish.pkid.expect("QoS 2 has an id");
    raw.send(&P::Publish(publish.clone())).await;
    let ack = codec::Ack::new(pkid);
    assert_eq!(raw.next().await, Some(P::PubRec(ack.clone())));
    raw.send(&P::Publish(codec::Publish { dup: true, ..publish }))
        .await;
    assert_eq!(raw.next().await, Some(P::PubRec(ack.clone())));
    raw.send(&P::PubRel(ack.clone())).await;
    assert_eq!(raw.next().await, Some(P::PubComp(ack)));
    assert_eq!(&receive(&mut sub).await.payload[..], b"once");
    no_publish_within(&mut sub, QUIET).await; // routed once
}

/// An unacknowledged QoS 1 message is sent again with DUP 1 and the same packet id after
/// `session.retry_interval` [MQTT-3.3.1-1].
#[tokio::test]
async fn unacknowledged_message_is_retried_with_dup() {
    let mut config = test_config();
    config.session.retry_interval = Duration::from_millis(400);
    let broker = TestBroker::with_config(config).await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("retry", true, 30, None)).await;
    raw.subscribe("rt/t", codec::QoS::AtLeastOnce).await;
    publish_all(&broker, "rt/t", numbered(0..1)).await;
    let first = raw.expect_publish().await;
    assert!(!first.dup);
    let retry = raw.expect_publish().await;
    assert!(
        retry.dup && retry.pkid == first.pkid && retry.payload == first.payload,
        "{retry:?}"
    );
    raw.send(&codec::Packet::PubAck(codec::Ack::new(
        first.pkid.expect("QoS 1"),
    )))
    .await;
}

/// A detached persistent session expires after `session.expiry_interval`.
#[tokio::test]
async fn detached_persistent_session_expires() {
    let mut config = test_config();
    config.session.expiry_interval = Duration::from_millis(300);
    let broker = TestBroker::with_config(config).await;
    let (mut c, _) = join(&broker, "expiring", false).await;
    c.client.disconnect().await.expect("queued");
    closed(&mut c).await;
    common::eventually("session expired", || {
        broker.handle.api.registry().get("expiring").is_none()
    })
    .await;
    let (_again, present) = join(&broker, "expiring", false).await;
    assert!(!present);
}

/// `$SYS/brokers/<node>/…` is published (retained) at start and every `sys.interval`.
#[tokio::test]
async fn sys_topics_are_published() {
    let mut config = test_config();
    config.sys.interval = Duration::from_millis(200);
    let broker = TestBroker::with_config(config).await;
    let mut c = connect(&broker, "sys-watch", true, None).await;
    subscribe_qos(&mut c, "$SYS/brokers/+/version", QoS::AtMostOnce).await;
    assert_eq!(
        receive(&mut c).await.payload,
        env!("CARGO_PKG_VERSION").as_bytes()
    );
    subscribe_qos(&mut c, "$SYS/brokers/+/uptime", QoS::AtMostOnce).await;
    let uptime = receive(&mut c).await;
    assert!(uptime.topic.ends_with("/uptime"), "{}", uptime.topic);
}

/// A subscriber that stops reading costs a bounded amount: once the connection's outbox is full
/// the session queues (at most `max_mqueue_len`, oldest dropped and counted) instead of sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_costs_a_bounded_queue() {
    use arbor_actors::codec::{
        Packet as P, PacketId, ProtocolLevel, Publish, QoS as Q, Subscribe, TopicName,
    };
    let mut config = test_config();
    config.session.max_mqueue_len = 100;
    // The publisher is held back this long (crate::load), then the session counts as stalled.
    config.session.publisher_wait = Duration::from_millis(200);
    let broker = TestBroker::with_config(config).await;
    let (mut slow, _) = Raw::connected(broker.mqtt, connect_packet("slow", true, 300, None)).await;
    let filters = vec![("slow/t".to_string(), Q::AtMostOnce.into())];
    slow.send(&P::Subscribe(Subscribe {
        pkid: PacketId::new(1).unwrap(),
        filters,
        properties: None,
    }))
    .await;
    assert!(matches!(slow.next().await, Some(P::SubAck(_))));
    // Never read from `slow` again. 50 MB of QoS 0 messages go to it.
    let (mut publisher, _) = Raw::connected(broker.mqtt, connect_packet("firehose", true, 300, None)).await;
    let packet = P::Publish(Publish::at_most_once(
        TopicName::new("slow/t").unwrap(),
        vec![7u8; 1024].into(),
    ));
    let mut frame = bytes::BytesMut::new();
    for _ in 0..64 {
        arbor_actors::codec::encode(&packet, ProtocolLevel::V311, &mut frame);
    }
    for _ in 0..(50_000 / 64) {
        publisher.send_bytes(&frame).await;
    }
    let info = broker
        .session_until("slow", "messages dropped", |i| i.mqueue_dropped > 0)
        .await;
    // The bound, passed by at most what the publisher had read before it was paused.
    let bound = 100 + arbor_actors::connection::READ_CREDIT;
    assert!(info.mqueue_len <= bound, "queue bounded: {}", info.mqueue_len);
    let dropped = broker
        .handle
        .api
        .metrics()
        .messages_dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(dropped > 0);
}
