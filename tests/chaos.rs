//! The chaos run (issue 5): QoS 1 publishers and persistent QoS 1 subscribers exchange messages
//! while a seeded fault plan kills `sm/*`, `router`, `acceptor/*` and `listener` at random.
//!
//! Asserts that every message a publisher got a PUBACK for reaches every subscriber at least
//! once, in order per publisher, duplicates only with DUP set; that no subscriber loses its
//! session; and that the tree's restart counters match the faults injected. Prints a summary.
//!
//! By hand, longer, against a release build: `bench/chaos.sh [seconds] [seed]`
//! (env `ARBOR_CHAOS_SECS`, `ARBOR_CHAOS_SEED`).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{FaultHook, FaultPlan, TreeNode};
use common::{test_config, TestBroker};
use parking_lot::Mutex;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const PUBLISHERS: usize = 20;
const SUBSCRIBERS: usize = 20;
const PACE: Duration = Duration::from_millis(50);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one subscriber saw: per publisher, (sequence, dup) in arrival order.
type Seen = Arc<Mutex<HashMap<usize, Vec<(u64, bool)>>>>;

fn options(broker: &TestBroker, id: String, clean: bool) -> MqttOptions {
    let mut o = MqttOptions::new(id, broker.mqtt.ip().to_string(), broker.mqtt.port());
    o.set_clean_session(clean).set_keep_alive(Duration::from_secs(30));
    o
}

async fn subscriber(
    broker: &TestBroker,
    n: usize,
    seen: Seen,
) -> (AsyncClient, tokio::sync::oneshot::Receiver<()>) {
    let (client, mut eventloop) = AsyncClient::new(options(broker, format!("chaos-sub-{n}"), false), 1024);
    client
        .subscribe("chaos/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe queued");
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut subscribed_tx = Some(subscribed_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = subscribed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let text = String::from_utf8_lossy(&p.payload).to_string();
                    if let Some((publisher, seq)) = text.split_once(':') {
                        let (publisher, seq): (usize, u64) =
                            (publisher.parse().unwrap(), seq.parse().unwrap());
                        seen.lock().entry(publisher).or_default().push((seq, p.dup));
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("subscriber {n} lost its connection: {e}"),
            }
        }
    });
    (client, subscribed)
}

/// Publishes `publisher:seq` at QoS 1, one in flight, until `until`; returns the acked sequences.
async fn publisher(broker: &TestBroker, n: usize, until: tokio::time::Instant) -> Vec<u64> {
    let (client, mut eventloop) = AsyncClient::new(options(broker, format!("chaos-pub-{n}"), true), 16);
    let mut acked = Vec::new();
    let mut seq = 0u64;
    let mut waiting = false;
    loop {
        if !waiting {
            if tokio::time::Instant::now() >= until {
                break;
            }
            client
                .publish(
                    format!("chaos/{n}"),
                    QoS::AtLeastOnce,
                    false,
                    format!("{n}:{seq}"),
                )
                .await
                .unwrap();
            waiting = true;
        }
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                acked.push(seq);
                seq += 1;
                waiting = false;
                tokio::time::sleep(PACE).await; // pacing, not synchronisation
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("publisher {n} lost its connection: {e}"),
            Err(_) => panic!("publisher {n}: no PUBACK within 10 s for {seq}"),
        }
    }
    let _ = client.disconnect().await;
    acked
}

fn restarts(node: &TreeNode, out: &mut Vec<(String, u64)>) {
    if let Some(n) = node.child_restarts {
        out.push((node.path.clone(), n));
    }
    for child in &node.children {
        restarts(child, out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_run_loses_no_acknowledged_message() {
    let secs = env_or("ARBOR_CHAOS_SECS", 20);
    let seed = env_or("ARBOR_CHAOS_SEED", 1);
    let rules = [
        "kill@broker_sup/sm_sup/sm/*:every=3s",
        "kill@broker_sup/router_sup/router:every=3s",
        "kill@broker_sup/listeners_sup/*/*/acceptor_sup/acceptor/*:every=4s",
        "kill@broker_sup/listeners_sup/*/*/listener:every=5s",
    ];
    let plan = Arc::new(FaultPlan::parse(&rules.map(String::from), seed).unwrap());
    let mut config = test_config();
    for sup in [
        &mut config.supervisors.sm_sup,
        &mut config.supervisors.router_sup,
        &mut config.supervisors.listener_sup,
    ] {
        sup.max_restarts = 1000;
    }
    let handle = arbor::boot::start(config, FaultHook::from_plan(plan.clone()))
        .await
        .unwrap();
    let broker = TestBroker::from_handle(handle);

    let mut seen: Vec<Seen> = Vec::new();
    let mut subs = Vec::new();
    for n in 0..SUBSCRIBERS {
        let s: Seen = Arc::default();
        let (client, subscribed) = subscriber(&broker, n, s.clone()).await;
        tokio::time::timeout(Duration::from_secs(10), subscribed)
            .await
            .expect("SUBACK")
            .unwrap();
        seen.push(s);
        subs.push(client);
    }
    let sessions: Vec<_> = (0..SUBSCRIBERS)
        .map(|n| {
            broker
                .handle
                .api
                .registry()
                .get(&format!("chaos-sub-{n}"))
                .expect("session")
                .session
                .get_id()
        })
        .collect();

    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    let broker = Arc::new(broker);
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|n| {
            let broker = broker.clone();
            tokio::spawn(async move { publisher(&broker, n, until).await })
        })
        .collect();
    let mut acked = Vec::new();
    for p in publishers {
        acked.push(p.await.expect("publisher task"));
    }
    let sent: usize = acked.iter().map(Vec::len).sum();

    // Every acknowledged message reaches every subscriber.
    let complete = |s: &Seen| {
        let s = s.lock();
        acked.iter().enumerate().all(|(p, seqs)| {
            let got = s.get(&p).map(|v| {
                v.iter()
                    .map(|(q, _)| *q)
                    .collect::<std::collections::HashSet<_>>()
            });
            seqs.iter().all(|q| got.as_ref().is_some_and(|g| g.contains(q)))
        })
    };
    common::eventually("every acknowledged message at every subscriber", || {
        seen.iter().all(complete)
    })
    .await;

    let (mut delivered, mut duplicated) = (0usize, 0usize);
    for (n, s) in seen.iter().enumerate() {
        for (p, arrivals) in s.lock().iter() {
            let mut highest = None;
            let mut firsts = std::collections::HashSet::new();
            for &(seq, dup) in arrivals {
                delivered += 1;
                if !firsts.insert(seq) {
                    duplicated += 1;
                    assert!(dup, "subscriber {n}: duplicate of {p}:{seq} without DUP");
                    continue;
                }
                assert!(
                    highest < Some(seq),
                    "subscriber {n}: {p}:{seq} out of order after {highest:?}"
                );
                highest = Some(seq);
            }
        }
    }
    for (n, id) in sessions.iter().enumerate() {
        let now = broker
            .handle
            .api
            .registry()
            .get(&format!("chaos-sub-{n}"))
            .map(|e| e.session.get_id());
        assert_eq!(now, Some(*id), "subscriber {n} kept its session");
    }

    let report = plan.report();
    let tree = broker.handle.tree(Default::default());
    let mut per_sup = Vec::new();
    restarts(&tree, &mut per_sup);
    let sup = |suffix: &str| {
        per_sup
            .iter()
            .find(|(p, _)| p.ends_with(suffix))
            .map_or(0, |(_, n)| *n)
    };
    let fired = |i: usize| report[i].fired;
    println!("chaos summary (seed {seed}, {secs} s)");
    for rule in &report {
        println!("  fault {:<70} fired {}", rule.spec, rule.fired);
    }
    for (path, n) in &per_sup {
        println!("  restarts {path:<70} {n}");
    }
    println!("  messages sent (acked) {sent}, delivered {delivered}, duplicated {duplicated}");
    assert!(report.iter().all(|r| r.fired > 0), "every rule fired: {report:?}");
    assert_eq!(sup("sm_sup"), fired(0), "sm_sup restarts = sm kills");
    assert_eq!(sup("router_sup"), fired(1), "router_sup restarts = router kills");
    assert_eq!(
        sup("acceptor_sup"),
        fired(2),
        "acceptor_sup restarts = acceptor kills"
    );
    let listener_sup = format!("broker_sup/{}", broker.listener_sup());
    assert_eq!(
        sup(&listener_sup),
        fired(3),
        "listener_sup restarts = listener kills"
    );
    assert!(sent > 0);
    drop(subs);
}
