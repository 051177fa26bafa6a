//! MQTT 5 session state through the store: a session restarted from what the store kept still
//! has its Session Expiry, its subscriptions' options and identifiers, its inflight packet ids
//! and its QoS 2 receipts, and its queued messages keep their properties and expiry.

use std::time::Duration;

use crate::common::raw::{connect_v5, publish_v5, Raw};
use crate::common::{eventually, test_config, TestBroker};
use arbor_actors::codec::{Ack, Packet, PacketId, Properties, QoS, ReasonCode, SubOptions};
use arbor_actors::config::StorageBackend;

async fn durable_broker(name: &str) -> (TestBroker, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("arbor-durable-v5-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = test_config();
    config.storage.backend = StorageBackend::Disk;
    config.storage.dir = dir.clone();
    (TestBroker::with_config(config).await, dir)
}

fn persistent() -> Properties {
    Properties {
        session_expiry_interval: Some(600),
        ..Properties::default()
    }
}

/// Kills `client_id`'s session actor and waits until session_sup restarted it from the store
/// and its sm worker registered it again.
async fn restart_session(broker: &TestBroker, client_id: &str) {
    let before = broker
        .handle
        .api
        .registry()
        .get(client_id)
        .expect("a session")
        .session
        .get_id();
    broker.kill(&format!("session_sup/session/{client_id}")).await;
    eventually("the session restarted from the store", || {
        broker
            .handle
            .api
            .registry()
            .get(client_id)
            .is_some_and(|e| e.alive() && e.session.get_id() != before)
    })
    .await;
}

/// [MQTT-3.3.4-3], [MQTT-3.3.2-6], [MQTT-4.4.0-1]: after the restart the queued QoS 1 message
/// still carries the subscription's identifier, the publisher's user property and what is left
/// of its expiry; the QoS 2 message sent before the restart and not acknowledged is resent with
/// DUP and its packet id.
#[tokio::test]
async fn a_v5_session_comes_back_with_its_options_properties_and_packet_ids() {
    let (broker, dir) = durable_broker("options").await;
    let (mut sub, _) = Raw::connected(broker.mqtt, connect_v5("d5", true, persistent())).await;
    sub.subscribe_v5(1, &[("d5/#", SubOptions::new(QoS::ExactlyOnce))], Some(42))
        .await;
    let mut publisher = Raw::connected(broker.mqtt, connect_v5("d5-pub", true, Properties::default()))
        .await
        .0;
    // A QoS 2 message goes out to the connected subscriber and stays unacknowledged.
    publisher
        .send(&publish_v5(
            "d5/two",
            QoS::ExactlyOnce,
            1,
            false,
            "two",
            Properties::default(),
        ))
        .await;
    let first = sub.expect_publish().await;
    let pkid = first.pkid.expect("a packet id");
    drop(sub);
    eventually("the subscriber is gone", || {
        broker.handle.api.registry().client("d5").is_none()
    })
    .await;
    // A QoS 1 message with properties queues while it is away.
    let props = Properties {
        user_properties: vec![("k".into(), "v".into())],
        message_expiry_interval: Some(300),
        ..Properties::default()
    };
    publisher
        .send(&publish_v5("d5/one", QoS::AtLeastOnce, 2, false, "one", props))
        .await;
    match publisher.next().await {
        Some(Packet::PubRec(_)) | Some(Packet::PubAck(_)) => {}
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
    restart_session(&broker, "d5").await;
    let (mut sub, connack) = Raw::connected(broker.mqtt, connect_v5("d5", false, persistent())).await;
    assert!(connack.session_present, "[MQTT-3.2.2-2]");
    let again = sub.expect_publish().await;
    assert_eq!(
        (again.pkid, again.dup, &*again.topic),
        (Some(pkid), true, "d5/two")
    );
    let queued = sub.expect_publish().await;
    assert_eq!(&*queued.topic, "d5/one");
    let p = queued.properties.expect("properties");
    assert_eq!(p.subscription_ids, vec![42]);
    assert_eq!(p.user_properties, vec![("k".to_string(), "v".to_string())]);
    assert!(
        p.message_expiry_interval.is_some_and(|s| (1..=300).contains(&s)),
        "{p:?}"
    );
    broker.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// MQTT 5 section 4.3.3 (the receiver's method B): a QoS 2 receipt (the packet id awaiting PUBREL) survives the restart, so the
/// publisher's resend is not routed again, and its PUBREL completes normally.
#[tokio::test]
async fn a_qos_2_receipt_survives_a_restart_so_a_resend_is_not_delivered_twice() {
    let (broker, dir) = durable_broker("receipt").await;
    let (mut sub, _) = Raw::connected(broker.mqtt, connect_v5("r-sub", true, Properties::default())).await;
    sub.subscribe_v5(1, &[("r/#", SubOptions::new(QoS::AtMostOnce))], None)
        .await;
    let (mut publisher, _) = Raw::connected(broker.mqtt, connect_v5("r-pub", true, persistent())).await;
    publisher
        .send(&publish_v5(
            "r/t",
            QoS::ExactlyOnce,
            7,
            false,
            "once",
            Properties::default(),
        ))
        .await;
    assert!(matches!(publisher.next().await, Some(Packet::PubRec(_))));
    assert_eq!(&sub.expect_publish().await.payload[..], b"once");
    drop(publisher);
    eventually("the publisher is gone", || {
        broker.handle.api.registry().client("r-pub").is_none()
    })
    .await;
    restart_session(&broker, "r-pub").await;
    let (mut publisher, connack) =
        Raw::connected(broker.mqtt, connect_v5("r-pub", false, persistent())).await;
    assert!(connack.session_present);
    let mut resend = publish_v5("r/t", QoS::ExactlyOnce, 7, false, "once", Properties::default());
    if let Packet::Publish(p) = &mut resend {
        p.dup = true;
    }
    publisher.send(&resend).await;
    assert!(matches!(publisher.next().await, Some(Packet::PubRec(_))));
    publisher
        .send(&Packet::PubRel(Ack::new(PacketId::new(7).expect("non-zero"))))
        .await;
    match publisher.next().await {
        Some(Packet::PubComp(comp)) => assert_eq!(comp.reason, ReasonCode::SUCCESS, "the receipt was kept"),
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    let dup = sub.next_within(Duration::from_millis(300)).await;
    assert!(
        !matches!(dup, Ok(Some(Packet::Publish(_)))),
        "delivered twice: {dup:?}"
    );
    broker.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `arbor ctl store` and the `arbor_store_*` Prometheus series show the store's figures.
#[tokio::test]
async fn ctl_store_and_prometheus_show_the_store() {
    let (broker, dir) = durable_broker("figures").await;
    let (mut sub, _) = Raw::connected(broker.mqtt, connect_v5("f-sub", true, persistent())).await;
    sub.subscribe_v5(1, &[("f/#", SubOptions::new(QoS::AtLeastOnce))], None)
        .await;
    // Its record is written again: still one session.
    sub.subscribe_v5(2, &[("g/#", SubOptions::new(QoS::AtLeastOnce))], None)
        .await;
    let out = broker
        .ctl(arbor::cli::CtlCommand::Store { json: true })
        .await
        .expect("ctl store");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["backend"], "disk");
    assert_eq!(v["durability"], "sync");
    assert_eq!(v["sessions"].as_u64(), Some(1), "{v}");
    assert!(v["commits"].as_u64() >= Some(1), "{v}");
    assert!(v["size_bytes"].as_u64() > Some(0), "{v}");
    let text = reqwest::get(format!("{}/metrics", broker.admin))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    assert!(text.contains("arbor_store_sessions 1"), "{text}");
    assert!(text.contains("arbor_store_commits_total"), "{text}");
    broker.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
