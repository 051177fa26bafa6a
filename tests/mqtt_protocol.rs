//! Connection-level protocol rules with raw bytes: what must be first, what closes, keepalive,
//! wills, MQTT 3.1, and the malformed-input corpus against a live broker.

mod common;

use std::time::Duration;

use arbor_actors::codec::corpus::malformed_corpus;
use arbor_actors::codec::{
    ConnectReturnCode, Packet, PacketId, ProtocolLevel, Publish, QoS, Subscribe, TopicName,
};
use common::client::{connect, receive, subscribe};
use common::raw::{connect_packet, Raw};
use common::{test_config, TestBroker};

#[tokio::test]
async fn first_packet_not_connect_closes_mqtt_3_1_0_1() {
    let broker = TestBroker::start().await;
    let mut raw = Raw::open(broker.mqtt).await;
    raw.send(&Packet::PingReq).await;
    assert!(raw.closed().await.is_empty());
}

#[tokio::test]
async fn second_connect_closes_mqtt_3_1_0_2() {
    let broker = TestBroker::start().await;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect_packet("twice", true, 30, None)).await;
    assert_eq!(ack.code, ConnectReturnCode::Accepted);
    raw.send(&Packet::Connect(connect_packet("twice", true, 30, None)))
        .await;
    assert!(raw.closed().await.is_empty());
}

#[tokio::test]
async fn connect_with_level_5_gets_connack_0x01_then_close_mqtt_3_1_2_2() {
    let broker = TestBroker::start().await;
    let mut raw = Raw::open(broker.mqtt).await;
    // CONNECT, protocol "MQTT" level 5, clean, keepalive 30, client id "v5" (no v5 properties
    // needed: the level alone is refused).
    raw.send_bytes(&[
        0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 30, 0, 2, b'v', b'5',
    ])
    .await;
    let seen = raw.closed().await;
    assert!(
        matches!(seen.as_slice(), [Packet::ConnAck(ack)] if ack.code == ConnectReturnCode::UnacceptableProtocolVersion),
        "{seen:?}"
    );
}

#[tokio::test]
async fn no_connect_within_connect_timeout_closes() {
    let mut config = test_config();
    config.mqtt.connect_timeout = Duration::from_millis(300);
    let broker = TestBroker::with_config(config).await;
    let mut raw = Raw::open(broker.mqtt).await;
    assert!(raw.closed().await.is_empty());
}

#[tokio::test]
async fn mqtt_3_1_mqisdp_is_accepted_and_works() {
    let broker = TestBroker::start().await;
    let mut connect = connect_packet("v31-client", true, 30, None);
    connect.level = ProtocolLevel::V31;
    let (mut raw, ack) = Raw::connected(broker.mqtt, connect).await;
    assert_eq!(
        (ack.code, ack.session_present),
        (ConnectReturnCode::Accepted, false)
    );
    let pkid = PacketId::new(1).unwrap();
    raw.send(&Packet::Subscribe(Subscribe {
        pkid,
        filters: vec![("v31/t".into(), QoS::AtLeastOnce)],
    }))
    .await;
    assert!(matches!(raw.next().await, Some(Packet::SubAck(_))));
    let topic = TopicName::new("v31/t").unwrap();
    raw.send(&Packet::Publish(Publish {
        qos: QoS::AtLeastOnce,
        pkid: Some(pkid),
        ..Publish::at_most_once(topic, "hi".into())
    }))
    .await;
    let mut got_ack = false;
    let mut got_msg = false;
    while !(got_ack && got_msg) {
        match raw.next().await {
            Some(Packet::PubAck(_)) => got_ack = true,
            Some(Packet::Publish(p)) => {
                assert_eq!(&p.payload[..], b"hi");
                got_msg = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn pingreq_gets_pingresp_mqtt_3_12_4_1() {
    let broker = TestBroker::start().await;
    let (mut raw, _) = Raw::connected(broker.mqtt, connect_packet("pinger", true, 30, None)).await;
    raw.send(&Packet::PingReq).await;
    assert!(matches!(raw.next().await, Some(Packet::PingResp)));
}

#[tokio::test]
async fn will_published_with_retain_when_socket_drops_mqtt_3_1_2_8() {
    let broker = TestBroker::start().await;
    let mut watcher = connect(&broker, "will-watcher", true, None).await;
    subscribe(&mut watcher, "will/#").await;
    let (raw, _) = Raw::connected(
        broker.mqtt,
        connect_packet("dropper", true, 30, Some(("will/dropper", "bye", true))),
    )
    .await;
    drop(raw);
    let will = receive(&mut watcher).await;
    assert_eq!(
        (will.topic.as_str(), &will.payload[..]),
        ("will/dropper", &b"bye"[..])
    );
    // Retained: a later subscriber gets it with the retain flag [MQTT-3.1.2-17].
    let mut late = connect(&broker, "will-late", true, None).await;
    subscribe(&mut late, "will/dropper").await;
    assert!(receive(&mut late).await.retain);
}

#[tokio::test]
async fn keepalive_expiry_closes_and_publishes_the_will_mqtt_3_1_2_24() {
    let broker = TestBroker::start().await;
    let mut watcher = connect(&broker, "ka-watcher", true, None).await;
    subscribe(&mut watcher, "will/#").await;
    let (mut raw, _) = Raw::connected(
        broker.mqtt,
        connect_packet("silent", true, 1, Some(("will/silent", "timeout", false))),
    )
    .await;
    let started = tokio::time::Instant::now();
    assert!(raw.closed().await.is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    assert_eq!(&receive(&mut watcher).await.payload[..], b"timeout");
}

#[tokio::test]
async fn no_will_after_disconnect_mqtt_3_1_2_10() {
    let broker = TestBroker::start().await;
    let mut watcher = connect(&broker, "dc-watcher", true, None).await;
    subscribe(&mut watcher, "will/#").await;
    let (mut raw, _) = Raw::connected(
        broker.mqtt,
        connect_packet("polite", true, 30, Some(("will/polite", "no", false))),
    )
    .await;
    raw.send(&Packet::Disconnect).await;
    assert!(raw.closed().await.is_empty());
    // A marker published after the close arrives; the will must not have come before it.
    let marker = connect(&broker, "dc-marker", true, None).await;
    marker
        .client
        .publish("will/marker", rumqttc::QoS::AtLeastOnce, false, "marker")
        .await
        .unwrap();
    assert_eq!(receive(&mut watcher).await.topic, "will/marker");
}

/// Every case of the malformed corpus closes its connection, while a subscribed client keeps
/// working (checked after every batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_corpus_closes_each_connection_and_harms_no_other() {
    let broker = TestBroker::start().await;
    let mut keeper = connect(&broker, "keeper", true, None).await;
    subscribe(&mut keeper, "alive").await;
    let probe = connect(&broker, "keeper-probe", true, None).await;
    let cases = malformed_corpus();
    assert!(cases.len() >= 100, "corpus has {} cases", cases.len());
    for (batch_no, batch) in cases.chunks(20).enumerate() {
        let runs = batch.iter().enumerate().map(|(i, case)| {
            let addr = broker.mqtt;
            let id = format!("corpus-{batch_no}-{i}");
            async move {
                let mut raw = if case.after_connect {
                    let (raw, ack) = Raw::connected(addr, connect_packet(&id, true, 30, None)).await;
                    assert_eq!(ack.code, ConnectReturnCode::Accepted, "{}", case.name);
                    raw
                } else {
                    Raw::open(addr).await
                };
                raw.send_bytes(&case.bytes).await;
                let seen = tokio::time::timeout(Duration::from_secs(10), raw.closed()).await;
                let seen =
                    seen.unwrap_or_else(|_| panic!("case `{}` did not close the connection", case.name));
                // A case may open with a valid CONNECT (then break a rule): a CONNACK of any code
                // is fine, nothing else is (no SUBACK for a bad SUBSCRIBE, no PUBACK, ...).
                let connack_only = seen.iter().all(|p| matches!(p, Packet::ConnAck(_)));
                assert!(connack_only, "case `{}`: broker answered {seen:?}", case.name);
            }
        });
        futures::future::join_all(runs).await;
        let marker = format!("after batch {batch_no}");
        probe
            .client
            .publish("alive", rumqttc::QoS::AtLeastOnce, false, marker.clone())
            .await
            .unwrap();
        assert_eq!(
            receive(&mut keeper).await.payload,
            marker.as_bytes(),
            "other clients keep working"
        );
    }
    println!(
        "malformed corpus: {} cases, each closed its connection",
        cases.len()
    );
}
