//! Publish and subscribe with real clients (rumqttc): QoS flows and order, retained messages,
//! wildcard matching, the `$` rule, overlapping and shared subscriptions, unsubscribe.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::client::{connect, receive, subscribe, wait_for, Client};
use common::TestBroker;
use rumqttc::{Event, Packet, QoS, SubscribeReasonCode};

/// Nothing more arrives within a short, bounded window (an absence cannot be awaited).
async fn nothing_more(c: &mut Client) {
    let extra = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Some(Event::Incoming(Packet::Publish(p))) = c.events.recv().await {
                return p;
            }
        }
    })
    .await;
    assert!(extra.is_err(), "unexpected delivery {extra:?}");
}

async fn sub_qos(c: &mut Client, filter: &str, qos: QoS) -> Vec<SubscribeReasonCode> {
    c.client.subscribe(filter, qos).await.unwrap();
    match wait_for(&mut c.events, |e| matches!(e, Event::Incoming(Packet::SubAck(_)))).await {
        Event::Incoming(Packet::SubAck(ack)) => ack.return_codes,
        _ => unreachable!(),
    }
}

/// QoS 0, 1 and 2 arrive complete and in order per publisher [MQTT-4.6.0-6], each at the
/// minimum of the publish and subscription QoS [MQTT-3.3.5-1].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_arrive_in_order_at_the_minimum_qos() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "order-sub", true, None).await;
    sub_qos(&mut sub, "order/#", QoS::ExactlyOnce).await;
    let mut sub1 = connect(&broker, "order-sub1", true, None).await;
    sub_qos(&mut sub1, "order/#", QoS::AtLeastOnce).await;
    let publisher = connect(&broker, "order-pub", true, None).await;
    for (qos, n) in [
        (QoS::AtMostOnce, 0u8),
        (QoS::AtLeastOnce, 1),
        (QoS::ExactlyOnce, 2),
    ] {
        for i in 0..300u32 {
            publisher
                .client
                .publish(format!("order/{n}"), qos, false, i.to_be_bytes().to_vec())
                .await
                .unwrap();
        }
        for (c, cap) in [(&mut sub, QoS::ExactlyOnce), (&mut sub1, QoS::AtLeastOnce)] {
            for i in 0..300u32 {
                let p = receive(c).await;
                assert_eq!(p.topic, format!("order/{n}"));
                assert_eq!(p.payload[..], i.to_be_bytes(), "in order");
                assert_eq!(p.qos, qos.min(cap), "min(publish, subscription) QoS");
                assert!(!p.retain, "live messages carry retain=0 [MQTT-3.3.1-9]");
            }
        }
    }
}

trait MinQos {
    fn min(self, other: QoS) -> QoS;
}

impl MinQos for QoS {
    fn min(self, other: QoS) -> QoS {
        if (self as u8) < (other as u8) {
            self
        } else {
            other
        }
    }
}

/// A retained message reaches later subscribers with retain=1 [MQTT-3.3.1-6]; a new one replaces
/// it; an empty payload deletes it [MQTT-3.3.1-10, -11].
#[tokio::test]
async fn retained_messages_are_sent_on_subscribe_replaced_and_deleted() {
    let broker = TestBroker::start().await;
    let mut publisher = connect(&broker, "ret-pub", true, None).await;
    for payload in ["first", "second"] {
        publisher
            .client
            .publish("ret/a", QoS::AtLeastOnce, true, payload)
            .await
            .unwrap();
        wait_for(&mut publisher.events, |e| {
            matches!(e, Event::Incoming(Packet::PubAck(_)))
        })
        .await;
    }
    let mut sub = connect(&broker, "ret-sub", true, None).await;
    sub_qos(&mut sub, "ret/+", QoS::AtLeastOnce).await;
    let got = receive(&mut sub).await;
    assert!(got.retain);
    assert_eq!(&got.payload[..], b"second");
    nothing_more(&mut sub).await;
    publisher
        .client
        .publish("ret/a", QoS::AtLeastOnce, true, "")
        .await
        .unwrap();
    wait_for(&mut publisher.events, |e| {
        matches!(e, Event::Incoming(Packet::PubAck(_)))
    })
    .await;
    let deleted = receive(&mut sub).await; // the empty message itself is delivered live
    assert!(deleted.payload.is_empty());
    let mut late = connect(&broker, "ret-late", true, None).await;
    sub_qos(&mut late, "ret/#", QoS::AtLeastOnce).await;
    nothing_more(&mut late).await;
}

/// Which filters receive which topics [MQTT-4.7.1-2, -3], and the `$` rule [MQTT-4.7.2-1].
#[tokio::test]
async fn wildcard_matrix_and_the_dollar_rule() {
    let broker = TestBroker::start().await;
    let filters = [
        "sport/#",
        "sport/+",
        "sport/+/player1",
        "+/+",
        "#",
        "+",
        "/+",
        "$test/#",
        "$test/+/x",
    ];
    let topics = [
        "sport",
        "sport/tennis",
        "sport/tennis/player1",
        "/finance",
        "a",
        "$test/mon",
        "$test/b/x",
        "$other",
    ];
    let mut subs = Vec::new();
    for (i, filter) in filters.iter().enumerate() {
        let mut c = connect(&broker, &format!("wild-{i}"), true, None).await;
        sub_qos(&mut c, filter, QoS::AtLeastOnce).await;
        subs.push(c);
    }
    let publisher = connect(&broker, "wild-pub", true, None).await;
    for topic in topics {
        publisher
            .client
            .publish(topic, QoS::AtLeastOnce, false, topic)
            .await
            .unwrap();
    }
    publisher
        .client
        .publish("end", QoS::AtLeastOnce, false, "end")
        .await
        .unwrap();
    let expected: HashMap<&str, Vec<&str>> = HashMap::from([
        ("sport/#", vec!["sport", "sport/tennis", "sport/tennis/player1"]),
        ("sport/+", vec!["sport/tennis"]),
        ("sport/+/player1", vec!["sport/tennis/player1"]),
        ("+/+", vec!["sport/tennis", "/finance"]),
        (
            "#",
            vec![
                "sport",
                "sport/tennis",
                "sport/tennis/player1",
                "/finance",
                "a",
                "end",
            ],
        ),
        ("+", vec!["sport", "a", "end"]),
        ("/+", vec!["/finance"]),
        ("$test/#", vec!["$test/mon", "$test/b/x"]),
        ("$test/+/x", vec!["$test/b/x"]),
    ]);
    for (filter, c) in filters.iter().zip(subs.iter_mut()) {
        let want = &expected[filter];
        let mut got = Vec::new();
        for _ in 0..want.len() {
            got.push(receive(c).await.topic);
        }
        assert_eq!(&got, want, "filter {filter}");
        if !filter.starts_with('$') && !matches!(*filter, "#" | "+") {
            nothing_more(c).await;
        }
    }
}

/// Overlapping subscriptions of one client deliver one copy at the highest QoS.
#[tokio::test]
async fn overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "overlap", true, None).await;
    sub_qos(&mut sub, "ov/#", QoS::AtMostOnce).await;
    sub_qos(&mut sub, "ov/a", QoS::AtLeastOnce).await;
    let publisher = connect(&broker, "overlap-pub", true, None).await;
    publisher
        .client
        .publish("ov/a", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    assert_eq!(receive(&mut sub).await.qos, QoS::AtLeastOnce);
    nothing_more(&mut sub).await;
}

/// `$share/<group>/<filter>`: each message to exactly one member of the group.
#[tokio::test]
async fn shared_subscription_delivers_each_message_to_one_member() {
    let broker = TestBroker::start().await;
    let mut members = Vec::new();
    for i in 0..3 {
        let mut c = connect(&broker, &format!("share-{i}"), true, None).await;
        sub_qos(&mut c, "$share/g/jobs/#", QoS::AtLeastOnce).await;
        members.push(c);
    }
    let publisher = connect(&broker, "share-pub", true, None).await;
    for i in 0..30 {
        publisher
            .client
            .publish(format!("jobs/{i}"), QoS::AtLeastOnce, false, "job")
            .await
            .unwrap();
    }
    let mut total = 0;
    let mut per_member = Vec::new();
    for m in &mut members {
        let mut n = 0;
        while tokio::time::timeout(Duration::from_millis(500), receive_quiet(m))
            .await
            .is_ok()
        {
            n += 1;
        }
        per_member.push(n);
        total += n;
    }
    assert_eq!(total, 30, "every message once: {per_member:?}");
    assert!(
        per_member.iter().all(|n| *n > 0),
        "spread over members: {per_member:?}"
    );
}

async fn receive_quiet(c: &mut Client) {
    loop {
        if let Some(Event::Incoming(Packet::Publish(_))) = c.events.recv().await {
            return;
        }
    }
}

/// SUBACK grants the requested QoS; after UNSUBSCRIBE nothing more arrives [MQTT-3.10.4-6].
#[tokio::test]
async fn suback_grants_and_unsubscribe_stops_delivery() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "unsub", true, None).await;
    assert_eq!(
        sub_qos(&mut sub, "u/t", QoS::ExactlyOnce).await,
        [SubscribeReasonCode::Success(QoS::ExactlyOnce)]
    );
    let publisher = connect(&broker, "unsub-pub", true, None).await;
    publisher
        .client
        .publish("u/t", QoS::AtLeastOnce, false, "1")
        .await
        .unwrap();
    receive(&mut sub).await;
    sub.client.unsubscribe("u/t").await.unwrap();
    wait_for(&mut sub.events, |e| {
        matches!(e, Event::Incoming(Packet::UnsubAck(_)))
    })
    .await;
    publisher
        .client
        .publish("u/t", QoS::AtLeastOnce, false, "2")
        .await
        .unwrap();
    nothing_more(&mut sub).await;
    subscribe(&mut sub, "u/other").await;
}
