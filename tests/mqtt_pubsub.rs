//! Publish and subscribe with a real client (rumqttc): QoS flows and order, QoS downgrade,
//! retained messages, the wildcard matrix and the `$` rule, overlapping and shared
//! subscriptions, SUBACK codes and unsubscribe.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::client::{
    connect, forward_publishes, no_publish_within, publish_acked, receive, receive_n, subscribe_qos,
    wait_for, Client,
};
use common::{test_config, TestBroker};
use rumqttc::{Event, Packet, QoS, SubscribeFilter, SubscribeReasonCode};

/// An absence cannot be awaited: this is how long a test watches for a delivery that must not
/// come. Every delivery here crosses loopback within milliseconds.
const QUIET: Duration = Duration::from_millis(300);

/// Messages per QoS in the order test.
const N: u32 = 1000;

fn min_qos(a: QoS, b: QoS) -> QoS {
    if (a as u8) <= (b as u8) {
        a
    } else {
        b
    }
}

/// 1000 messages at each of QoS 0, 1 and 2 reach subscribers at QoS 0, 1 and 2 complete and in
/// order [MQTT-4.6.0-6], each at min(publish QoS, subscription QoS) [MQTT-3.3.5-1], with
/// RETAIN 0 since they match an established subscription [MQTT-3.3.1-9].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_0_1_2_in_order_at_min_of_publish_and_subscription_qos_mqtt_3_3_5_1() {
    let broker = TestBroker::start().await;
    let mut subs = Vec::new();
    for sub_qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut c = connect(&broker, &format!("order-sub-{}", sub_qos as u8), true, None).await;
        assert_eq!(
            subscribe_qos(&mut c, "order/#", sub_qos).await,
            [SubscribeReasonCode::Success(sub_qos)]
        );
        subs.push((sub_qos, c));
    }
    let mut publisher = connect(&broker, "order-pub", true, None).await;
    for pub_qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let topic = format!("order/{}", pub_qos as u8);
        for i in 0..N {
            publisher
                .client
                .publish(&topic, pub_qos, false, i.to_be_bytes().to_vec())
                .await
                .expect("queued");
        }
        for (sub_qos, c) in &mut subs {
            for i in 0..N {
                let p = receive(c).await;
                assert_eq!(p.topic, topic);
                assert_eq!(
                    p.payload[..],
                    i.to_be_bytes(),
                    "publish QoS {pub_qos:?} to subscription QoS {sub_qos:?}: message {i} in order"
                );
                assert_eq!(p.qos, min_qos(pub_qos, *sub_qos), "[MQTT-3.3.5-1]");
                assert!(!p.retain, "[MQTT-3.3.1-9]");
            }
        }
    }
    // The publisher's flows all completed: one PUBACK per QoS 1 and one PUBCOMP per QoS 2.
    let (mut pubacks, mut pubcomps) = (0, 0);
    wait_for(&mut publisher.events, |e| {
        match e {
            Event::Incoming(Packet::PubAck(_)) => pubacks += 1,
            Event::Incoming(Packet::PubComp(_)) => pubcomps += 1,
            _ => {}
        }
        pubacks == N && pubcomps == N
    })
    .await;
}

/// A retained message is sent to a new subscription [MQTT-3.3.1-6] with RETAIN 1
/// [MQTT-3.3.1-8], at min(stored QoS, subscription QoS); a newer one replaces it [MQTT-3.3.1-5].
#[tokio::test]
async fn retained_message_reaches_new_subscription_with_retain_1_mqtt_3_3_1_6() {
    let broker = TestBroker::start().await;
    let mut publisher = connect(&broker, "ret-pub", true, None).await;
    publish_acked(&mut publisher, "ret/a", QoS::AtLeastOnce, true, "first").await;
    publish_acked(&mut publisher, "ret/a", QoS::AtLeastOnce, true, "second").await;
    publish_acked(&mut publisher, "ret/b", QoS::ExactlyOnce, true, "b").await;
    let mut sub = connect(&broker, "ret-sub", true, None).await;
    subscribe_qos(&mut sub, "ret/+", QoS::ExactlyOnce).await;
    let got: BTreeMap<String, (String, QoS, bool)> = receive_n(&mut sub, 2)
        .await
        .into_iter()
        .map(|p| {
            let payload = String::from_utf8_lossy(&p.payload).to_string();
            (p.topic, (payload, p.qos, p.retain))
        })
        .collect();
    assert_eq!(
        got,
        BTreeMap::from([
            ("ret/a".into(), ("second".into(), QoS::AtLeastOnce, true)),
            ("ret/b".into(), ("b".into(), QoS::ExactlyOnce, true)),
        ])
    );
    no_publish_within(&mut sub, QUIET).await; // one retained message per topic
    let mut low = connect(&broker, "ret-sub-q0", true, None).await;
    subscribe_qos(&mut low, "ret/b", QoS::AtMostOnce).await;
    let p = receive(&mut low).await;
    assert_eq!((p.qos, p.retain), (QoS::AtMostOnce, true), "min(stored, granted)");
}

/// A retained PUBLISH reaching an established subscription goes out with RETAIN 0
/// [MQTT-3.3.1-9]; a non-retained PUBLISH leaves the retained message in place [MQTT-3.3.1-12].
#[tokio::test]
async fn live_delivery_of_retained_publish_has_retain_0_mqtt_3_3_1_9() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "live-sub", true, None).await;
    subscribe_qos(&mut sub, "live/t", QoS::AtLeastOnce).await;
    let mut publisher = connect(&broker, "live-pub", true, None).await;
    publish_acked(&mut publisher, "live/t", QoS::AtLeastOnce, true, "kept").await;
    let p = receive(&mut sub).await;
    assert_eq!((&p.payload[..], p.retain), (&b"kept"[..], false));
    publish_acked(&mut publisher, "live/t", QoS::AtLeastOnce, false, "not kept").await;
    assert!(!receive(&mut sub).await.retain);
    let mut late = connect(&broker, "live-late", true, None).await;
    subscribe_qos(&mut late, "live/t", QoS::AtLeastOnce).await;
    let p = receive(&mut late).await;
    assert_eq!(
        (&p.payload[..], p.retain),
        (&b"kept"[..], true),
        "[MQTT-3.3.1-12]"
    );
}

/// A retained PUBLISH with an empty payload is delivered as normal, removes the retained
/// message [MQTT-3.3.1-10] and is not stored itself [MQTT-3.3.1-11].
#[tokio::test]
async fn empty_retained_payload_deletes_the_retained_message_mqtt_3_3_1_10_11() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "del-sub", true, None).await;
    subscribe_qos(&mut sub, "del/t", QoS::AtLeastOnce).await;
    let mut publisher = connect(&broker, "del-pub", true, None).await;
    publish_acked(&mut publisher, "del/t", QoS::AtLeastOnce, true, "x").await;
    publish_acked(&mut publisher, "del/keep", QoS::AtLeastOnce, true, "k").await;
    assert_eq!(&receive(&mut sub).await.payload[..], b"x");
    publish_acked(&mut publisher, "del/t", QoS::AtLeastOnce, true, "").await;
    assert!(
        receive(&mut sub).await.payload.is_empty(),
        "processed as normal [MQTT-3.3.1-10]"
    );
    let mut late = connect(&broker, "del-late", true, None).await;
    subscribe_qos(&mut late, "del/#", QoS::AtLeastOnce).await;
    let p = receive(&mut late).await;
    assert_eq!(p.topic, "del/keep", "only the other topic's message is left");
    no_publish_within(&mut late, QUIET).await;
}

/// Which filter receives which topic: `+` and `#` [MQTT-4.7.1-2, -3], an empty level, a
/// parent level for `#`, and the `$` rule: `#` and `+/…` never match a topic starting with `$`
/// (the broker's own retained `$SYS/brokers/…` included) while `$foo/#` does [MQTT-4.7.2-1].
#[tokio::test]
async fn wildcard_matrix_and_dollar_topics_mqtt_4_7_2_1() {
    let broker = TestBroker::start().await;
    let topics = [
        "a", "a/b", "a/b/c", "a/x/c", "b", "/b", "a/", "x/b", "$foo", "$foo/bar", "$SYS/t/x",
    ];
    let matrix: [(&str, &[&str]); 12] = [
        ("a/#", &["a", "a/b", "a/b/c", "a/x/c", "a/"]),
        ("a/+", &["a/b", "a/"]),
        ("a/+/c", &["a/b/c", "a/x/c"]),
        ("+/b", &["a/b", "/b", "x/b"]),
        ("+/+", &["a/b", "/b", "a/", "x/b"]),
        ("+", &["a", "b"]),
        ("+/#", &["a", "a/b", "a/b/c", "a/x/c", "b", "/b", "a/", "x/b"]),
        ("#", &["a", "a/b", "a/b/c", "a/x/c", "b", "/b", "a/", "x/b"]),
        ("/+", &["/b"]),
        ("$foo/#", &["$foo", "$foo/bar"]),
        ("$SYS/t/#", &["$SYS/t/x"]),
        ("+/t/x", &[]),
    ];
    let mut subs = Vec::new();
    for (i, (filter, _)) in matrix.iter().enumerate() {
        let mut c = connect(&broker, &format!("wild-{i}"), true, None).await;
        subscribe_qos(&mut c, filter, QoS::AtLeastOnce).await;
        subs.push(c);
    }
    let mut publisher = connect(&broker, "wild-pub", true, None).await;
    for topic in topics {
        publish_acked(&mut publisher, topic, QoS::AtLeastOnce, false, topic).await;
    }
    for ((filter, want), c) in matrix.iter().zip(subs.iter_mut()) {
        let got: BTreeSet<String> = receive_n(c, want.len())
            .await
            .into_iter()
            .map(|p| p.topic)
            .collect();
        let want: BTreeSet<String> = want.iter().map(|t| t.to_string()).collect();
        assert_eq!(got, want, "filter {filter}");
    }
    // Nothing beyond the matrix, checked for every subscriber in the same window.
    futures::future::join_all(subs.iter_mut().map(|c| no_publish_within(c, QUIET))).await;
}

/// Overlapping subscriptions of one client (`ov/#` at QoS 0, `ov/a` at QoS 1) deliver one copy,
/// at the highest granted QoS (emqttd; MQTT 3.1.1 section 3.3.5 non-normative).
#[tokio::test]
async fn overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "overlap", true, None).await;
    subscribe_qos(&mut sub, "ov/#", QoS::AtMostOnce).await;
    subscribe_qos(&mut sub, "ov/a", QoS::AtLeastOnce).await;
    let mut publisher = connect(&broker, "overlap-pub", true, None).await;
    publish_acked(&mut publisher, "ov/a", QoS::ExactlyOnce, false, "x").await;
    assert_eq!(receive(&mut sub).await.qos, QoS::AtLeastOnce);
    publish_acked(&mut publisher, "ov/b", QoS::ExactlyOnce, false, "y").await;
    let p = receive(&mut sub).await;
    assert_eq!((p.topic.as_str(), p.qos), ("ov/b", QoS::AtMostOnce));
    no_publish_within(&mut sub, QUIET).await;
}

/// A SUBSCRIBE for a filter the client already has replaces it: the new QoS applies and there
/// is still one copy [MQTT-3.8.4-3].
#[tokio::test]
async fn resubscribe_replaces_the_subscription_mqtt_3_8_4_3() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "resub", true, None).await;
    subscribe_qos(&mut sub, "rs/t", QoS::AtMostOnce).await;
    subscribe_qos(&mut sub, "rs/t", QoS::ExactlyOnce).await;
    let mut publisher = connect(&broker, "resub-pub", true, None).await;
    publish_acked(&mut publisher, "rs/t", QoS::ExactlyOnce, false, "x").await;
    assert_eq!(receive(&mut sub).await.qos, QoS::ExactlyOnce);
    no_publish_within(&mut sub, QUIET).await;
}

/// `$share/g/t/#` with three members: each message goes to exactly one member, every message
/// is delivered once in total; a plain subscriber of `t/#` still gets all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_delivers_each_message_to_exactly_one_member() {
    const MESSAGES: usize = 60;
    let broker = TestBroker::start().await;
    let (tx, mut merged) = tokio::sync::mpsc::unbounded_channel();
    let mut members = Vec::new(); // keeps the members connected
    for member in 0..3 {
        let mut c = connect(&broker, &format!("share-{member}"), true, None).await;
        assert_eq!(
            subscribe_qos(&mut c, "$share/g/t/#", QoS::AtLeastOnce).await,
            [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
        );
        members.push(forward_publishes(c, member, tx.clone()));
    }
    let mut plain = connect(&broker, "share-plain", true, None).await;
    subscribe_qos(&mut plain, "t/#", QoS::AtLeastOnce).await;
    let mut publisher = connect(&broker, "share-pub", true, None).await;
    for i in 0..MESSAGES {
        publish_acked(&mut publisher, &format!("t/{i}"), QoS::AtLeastOnce, false, "job").await;
    }
    let mut by_topic = BTreeMap::new();
    let mut per_member = [0usize; 3];
    for _ in 0..MESSAGES {
        let (member, p): (usize, rumqttc::Publish) =
            tokio::time::timeout(Duration::from_secs(10), merged.recv())
                .await
                .expect("a shared delivery in time")
                .expect("members alive");
        per_member[member] += 1;
        assert!(
            by_topic.insert(p.topic.clone(), member).is_none(),
            "{} delivered twice",
            p.topic
        );
    }
    assert_eq!(by_topic.len(), MESSAGES, "every message once");
    // No member gets a second copy of anything (bounded watch, see QUIET).
    let extra = tokio::time::timeout(QUIET, merged.recv()).await;
    assert!(extra.is_err(), "extra shared delivery {extra:?}");
    // Load is shared: not every message to one member (random or round robin alike).
    assert!(
        per_member.iter().filter(|n| **n > 0).count() > 1,
        "spread over the group: {per_member:?}"
    );
    assert_eq!(receive_n(&mut plain, MESSAGES).await.len(), MESSAGES);
}

/// One SUBSCRIBE with three filters at QoS 0, 1 and 2: the SUBACK has one code per filter, in
/// order, each the granted QoS [MQTT-3.8.4-5, MQTT-3.9.3-1], under the same packet id
/// [MQTT-3.8.4-2].
#[tokio::test]
async fn suback_return_codes_are_the_granted_qos_in_order_mqtt_3_8_4_5() {
    let broker = TestBroker::start().await;
    let mut c = connect(&broker, "suback", true, None).await;
    let filters = [
        ("s/0", QoS::AtMostOnce),
        ("s/2", QoS::ExactlyOnce),
        ("s/1", QoS::AtLeastOnce),
    ];
    c.client
        .subscribe_many(filters.map(|(f, q)| SubscribeFilter::new(f.to_string(), q)))
        .await
        .expect("queued");
    let (sent, ack) = {
        let mut sent = None;
        let ack = wait_for(&mut c.events, |e| {
            if let Event::Outgoing(rumqttc::Outgoing::Subscribe(pkid)) = e {
                sent = Some(*pkid);
            }
            matches!(e, Event::Incoming(Packet::SubAck(_)))
        })
        .await;
        (sent, ack)
    };
    let Event::Incoming(Packet::SubAck(ack)) = ack else {
        unreachable!("wait_for returns what matched")
    };
    assert_eq!(Some(ack.pkid), sent, "[MQTT-3.8.4-2]");
    assert_eq!(
        ack.return_codes,
        filters.map(|(_, q)| SubscribeReasonCode::Success(q))
    );
}

/// After UNSUBSCRIBE (answered with UNSUBACK [MQTT-3.10.4-4]) no new message is delivered for
/// that filter [MQTT-3.10.4-2], other subscriptions keep working; an UNSUBSCRIBE matching
/// nothing is answered too [MQTT-3.10.4-5].
#[tokio::test]
async fn unsubscribe_stops_delivery_mqtt_3_10_4_2() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "unsub", true, None).await;
    subscribe_qos(&mut sub, "u/t", QoS::AtLeastOnce).await;
    subscribe_qos(&mut sub, "u/other", QoS::AtLeastOnce).await;
    let mut publisher = connect(&broker, "unsub-pub", true, None).await;
    publish_acked(&mut publisher, "u/t", QoS::AtLeastOnce, false, "1").await;
    assert_eq!(&receive(&mut sub).await.payload[..], b"1");
    for filter in ["u/t", "never/subscribed"] {
        sub.client.unsubscribe(filter).await.expect("queued");
        wait_for(&mut sub.events, |e| {
            matches!(e, Event::Incoming(Packet::UnsubAck(_)))
        })
        .await;
    }
    publish_acked(&mut publisher, "u/t", QoS::AtLeastOnce, false, "2").await;
    publish_acked(&mut publisher, "u/other", QoS::AtLeastOnce, false, "3").await;
    let p = receive(&mut sub).await;
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("u/other", &b"3"[..]),
        "nothing for u/t, published first"
    );
    no_publish_within(&mut sub, QUIET).await;
}

/// With `session.max_inflight` small, a burst of QoS 1 messages waits in the queue and still
/// arrives complete and in order once the client acknowledges (the window moves).
#[tokio::test]
async fn small_inflight_window_still_delivers_everything_in_order() {
    let mut config = test_config();
    config.session.max_inflight = 2;
    let broker = TestBroker::with_config(config).await;
    let mut sub: Client = connect(&broker, "window-sub", true, None).await;
    subscribe_qos(&mut sub, "w/t", QoS::AtLeastOnce).await;
    let publisher = connect(&broker, "window-pub", true, None).await;
    for i in 0..200u32 {
        publisher
            .client
            .publish("w/t", QoS::AtLeastOnce, false, i.to_be_bytes().to_vec())
            .await
            .expect("queued");
    }
    for i in 0..200u32 {
        assert_eq!(receive(&mut sub).await.payload[..], i.to_be_bytes());
    }
}
