//! Back-pressure (actors/src/load.rs): publishers are paused, not dropped, while a subscriber's
//! session is over half its queue; a subscriber stuck longer than `session.publisher_wait` stops
//! holding its publishers up and drops instead, counted (QoS 0 at its door).

mod common;

use std::time::Duration;

use arbor_actors::codec::{Ack, Packet, ProtocolLevel, QoS};
use bytes::BytesMut;
use common::client::{connect, receive_n, subscribe_qos};
use common::raw::{connect_packet, publish_packet, Raw};
use common::{test_config, TestBroker};

/// Sends `n` QoS 1 PUBLISHes numbered 0..n on `topic` from a raw client that never waits for
/// its PUBACKs (MQTT 3.1.1 sets no receive maximum), in one task.
fn flood(mut publisher: Raw, topic: &'static str, n: u16) -> tokio::task::JoinHandle<Raw> {
    tokio::spawn(async move {
        let mut frames = BytesMut::new();
        for i in 0..n {
            let packet = publish_packet(topic, QoS::AtLeastOnce, i + 1, false, &i.to_string());
            arbor_actors::codec::encode(&packet, ProtocolLevel::V311, &mut frames);
        }
        publisher.send_bytes(&frames).await;
        publisher
    })
}

/// [MQTT-4.3.2-1] promises a QoS 1 message at least once: a subscriber slower than its publisher
/// gets every message, in order [MQTT-4.6.0-2], while its session's queue stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qos1_publisher_is_paused_and_nothing_is_lost() {
    let mut config = test_config();
    config.session.max_mqueue_len = 100;
    config.session.max_inflight = 10;
    config.session.publisher_wait = Duration::from_secs(60);
    let broker = TestBroker::with_config(config).await;
    let (mut sub, _) = Raw::connected(broker.mqtt, connect_packet("slow-acker", true, 300, None)).await;
    sub.subscribe("bp/t", QoS::AtLeastOnce).await;
    let (publisher, _) = Raw::connected(broker.mqtt, connect_packet("flooder", true, 300, None)).await;
    const N: u16 = 3000;
    let sent = flood(publisher, "bp/t", N);
    // The subscriber acks nothing yet: the window fills, the queue passes half (50), and the
    // publisher is paused before the queue can reach its drop-oldest bound.
    let info = broker
        .session_until("slow-acker", "queue over high water", |i| i.mqueue_len >= 50)
        .await;
    assert_eq!(info.mqueue_dropped, 0);
    // Now read and ack everything: all N arrive, in order, none dropped.
    for expected in 0..N {
        let publish = sub.expect_publish().await;
        assert_eq!(&publish.payload[..], expected.to_string().as_bytes());
        sub.send(&Packet::PubAck(Ack::new(
            publish.pkid.expect("QoS 1 has a packet id"),
        )))
        .await;
        if expected % 500 == 0 {
            let info = broker.session_info("slow-acker").await.expect("session");
            // The bound, passed by at most what the publisher had read when it was paused.
            let bound = 100 + arbor_actors::connection::READ_CREDIT;
            assert!(info.mqueue_len <= bound, "bounded: {}", info.mqueue_len);
            assert_eq!(info.mqueue_dropped, 0, "nothing dropped");
        }
    }
    sent.await.expect("publisher task");
}

/// A subscriber that stops reading must not stop the publisher's other subscribers for good:
/// after `publisher_wait` its session counts as stalled and drops oldest, counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_subscriber_stalls_and_the_others_go_on() {
    let mut config = test_config();
    config.session.max_mqueue_len = 100;
    config.session.max_inflight = 10;
    config.session.publisher_wait = Duration::from_millis(200);
    let broker = TestBroker::with_config(config).await;
    let (mut stuck, _) = Raw::connected(broker.mqtt, connect_packet("stuck", true, 300, None)).await;
    stuck.subscribe("bp/all", QoS::AtLeastOnce).await;
    let mut good = connect(&broker, "good", true, None).await;
    subscribe_qos(&mut good, "bp/all", rumqttc::QoS::AtLeastOnce).await;
    let (publisher, _) = Raw::connected(broker.mqtt, connect_packet("pub", true, 300, None)).await;
    const N: u16 = 1000;
    let sent = flood(publisher, "bp/all", N);
    let got = receive_n(&mut good, usize::from(N)).await;
    let numbers: Vec<u16> = got
        .iter()
        .map(|p| std::str::from_utf8(&p.payload).unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers, (0..N).collect::<Vec<_>>(), "all, in order");
    let info = broker.session_info("stuck").await.expect("stuck session");
    assert!(info.mqueue_dropped > 0, "the stuck session dropped: {info:?}");
    assert!(info.mqueue_len <= 100, "and stayed bounded: {}", info.mqueue_len);
    sent.await.expect("publisher task");
    drop(stuck);
}

/// QoS 0 to a stalled, full session is dropped at its door and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_at_a_stalled_session_is_dropped_and_counted() {
    let mut config = test_config();
    config.session.max_mqueue_len = 10;
    config.session.publisher_wait = Duration::from_millis(100);
    let broker = TestBroker::with_config(config).await;
    let (mut stuck, _) = Raw::connected(broker.mqtt, connect_packet("full", true, 300, None)).await;
    stuck.subscribe("bp/q0", QoS::AtMostOnce).await;
    let (mut publisher, _) = Raw::connected(broker.mqtt, connect_packet("q0pub", true, 300, None)).await;
    // 64 KiB payloads: once the socket buffers are full the outbox (64 KiB) fills at once, then
    // the queue (10); the publisher is paused for 100 ms, then the session is stalled and the
    // door drops.
    let payload = "x".repeat(64 * 1024);
    // 25 MB: more than loopback's socket buffers hold.
    for _ in 0..400 {
        publisher
            .send(&publish_packet("bp/q0", QoS::AtMostOnce, 0, false, &payload))
            .await;
    }
    let info = broker
        .session_until("full", "drops", |i| i.mqueue_dropped > 0)
        .await;
    // Bounded: the limit, passed by at most what the publisher had read before it was paused.
    let bound = 10 + arbor_actors::connection::READ_CREDIT;
    assert!(info.mqueue_len <= bound, "{}", info.mqueue_len);
    drop(stuck);
}
