//! What each crash must do (issue 5's table), one test per row not already in tree.rs (sm/i,
//! acceptor/i, listener, connection_sup and escalation are there): router, retainer, session,
//! connection, a fault plan's panic, and broker_sup giving up.

mod common;

use std::sync::Arc;

use arbor::cli::CtlCommand;
use arbor_supervisors::{FaultHook, FaultPlan};
use common::client::{closed, connect, receive, subscribe, wait_for};
use common::{eventually, test_config, TestBroker};
use rumqttc::{Event, LastWill, Packet, QoS};

#[tokio::test]
async fn router_crash_keeps_routes_and_subscriptions_still_deliver() {
    let broker = TestBroker::start().await;
    let mut sub = connect(&broker, "r-sub", true, None).await;
    subscribe(&mut sub, "chaos/#").await;
    broker
        .ctl(CtlCommand::Crash {
            path: "broker_sup/router_sup/router".into(),
        })
        .await
        .unwrap();
    eventually("router restarted", || {
        broker.node("router_sup").child_restarts == Some(1)
    })
    .await;
    let router = broker.node("router_sup/router");
    assert!(router
        .last_exit
        .unwrap_or_default()
        .contains("crashed through the admin API"));
    let publisher = connect(&broker, "r-pub", true, None).await;
    publisher
        .client
        .publish("chaos/1", QoS::AtLeastOnce, false, "after")
        .await
        .unwrap();
    assert_eq!(&receive(&mut sub).await.payload[..], b"after");
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn retainer_crash_keeps_retained_messages() {
    let broker = TestBroker::start().await;
    let mut publisher = connect(&broker, "ret-pub", true, None).await;
    publisher
        .client
        .publish("keep/me", QoS::AtLeastOnce, true, "kept")
        .await
        .unwrap();
    wait_for(&mut publisher.events, |e| {
        matches!(e, Event::Incoming(Packet::PubAck(_)))
    })
    .await;
    broker.kill("router_sup/retainer").await;
    eventually("retainer restarted", || {
        broker.node("router_sup").child_restarts == Some(1)
    })
    .await;
    eventually("router_sup running", || {
        broker
            .node("router_sup")
            .children
            .iter()
            .all(|c| c.status == "running")
    })
    .await;
    let mut sub = connect(&broker, "ret-sub", true, None).await;
    subscribe(&mut sub, "keep/#").await;
    let got = receive(&mut sub).await;
    assert!(got.retain && &got.payload[..] == b"kept");
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn session_crash_closes_its_connection_and_the_client_can_reconnect() {
    let broker = TestBroker::start().await;
    let mut c = connect(&broker, "crashy", true, None).await;
    broker
        .ctl(CtlCommand::Crash {
            path: "broker_sup/session_sup/session/crashy".into(),
        })
        .await
        .unwrap();
    closed(&mut c).await;
    let mut again = connect(&broker, "crashy", true, None).await;
    subscribe(&mut again, "x").await;
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn connection_kill_keeps_the_persistent_session_queueing_and_publishes_the_will() {
    let broker = TestBroker::start().await;
    let mut watcher = connect(&broker, "watcher", true, None).await;
    subscribe(&mut watcher, "wills/#").await;
    let will = LastWill::new("wills/victim", "gone", QoS::AtLeastOnce, false);
    let mut victim = connect(&broker, "victim", false, Some(will)).await;
    subscribe(&mut victim, "for/victim").await;
    let path = broker
        .handle
        .api
        .registry()
        .client("victim")
        .expect("victim connected")
        .path
        .to_string();
    assert!(path.contains("/connection_sup/connection/"), "{path}");
    broker.ctl(CtlCommand::Kill { path: path.clone() }).await.unwrap();
    let will = receive(&mut watcher).await;
    assert_eq!(
        (will.topic.as_str(), &will.payload[..]),
        ("wills/victim", &b"gone"[..])
    );
    // The session stayed and queues while its client is away.
    let publisher = connect(&broker, "queuer", true, None).await;
    publisher
        .client
        .publish("for/victim", QoS::AtLeastOnce, false, "queued")
        .await
        .unwrap();
    let mut back = connect(&broker, "victim", false, None).await;
    assert_eq!(&receive(&mut back).await.payload[..], b"queued");
    let _ = victim.client.disconnect().await;
    broker.handle.shutdown().await;
}

#[tokio::test]
async fn a_fault_plan_panics_the_router_which_restarts_with_its_routes() {
    let plan = FaultPlan::parse(&["panic@broker_sup/router_sup/router:after=2".into()], 1).unwrap();
    let plan = Arc::new(plan);
    let handle = arbor::boot::start(test_config(), FaultHook::from_plan(plan.clone()))
        .await
        .unwrap();
    let broker = TestBroker::from_handle(handle);
    let mut sub = connect(&broker, "fp-sub", true, None).await;
    subscribe(&mut sub, "a").await; // router message 1
    let sub2 = connect(&broker, "fp-sub2", true, None).await;
    sub2.client.subscribe("b", QoS::AtLeastOnce).await.unwrap(); // message 2: the router panics
    eventually("router restarted after the injected panic", || {
        broker.node("router_sup").child_restarts == Some(1)
    })
    .await;
    assert_eq!(plan.report()[0].fired, 1);
    let exit = broker.node("router_sup/router").last_exit.unwrap_or_default();
    assert!(exit.contains("injected fault: panic"), "{exit}");
    let faults = broker.ctl(CtlCommand::Faults { json: false }).await.unwrap();
    assert!(
        faults.contains("panic@broker_sup/router_sup/router:after=2  1"),
        "{faults}"
    );
    let publisher = connect(&broker, "fp-pub", true, None).await;
    publisher
        .client
        .publish("a", QoS::AtLeastOnce, false, "still routed")
        .await
        .unwrap();
    assert_eq!(&receive(&mut sub).await.payload[..], b"still routed");
    broker.handle.shutdown().await;
}

/// With a store, session_sup restarts killed sessions from it (transient); a killed clean
/// session has nothing stored, so its restart is `ignore` and session_sup keeps no child for
/// it (OTP: an ignored dynamic child is not kept).
#[tokio::test]
async fn with_a_store_a_killed_clean_session_leaves_no_child_behind() {
    let dir = std::env::temp_dir().join(format!("arbor-crash-clean-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = test_config();
    config.storage.backend = arbor_actors::config::StorageBackend::Disk;
    config.storage.dir = dir.clone();
    let broker = TestBroker::with_config(config).await;
    let mut clean = connect(&broker, "clean-one", true, None).await;
    broker.kill("session_sup/session/clean-one").await;
    closed(&mut clean).await;
    eventually("session_sup tried the restart and kept nothing", || {
        let sup = broker.node("session_sup");
        sup.child_restarts == Some(1) && sup.children.is_empty()
    })
    .await;
    broker.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
