//! The kill -9 chaos run: QoS 1 publishers and persistent QoS 1 subscribers exchange messages
//! while the whole broker process is killed with SIGKILL every ~2 s and started again on the
//! same store directory (docs/durability.md).
//!
//! Each start listens on a new port; the clients learn the current address through a watch
//! channel (`None` while no broker runs) and reconnect on their own: publishers with a clean
//! session, publishing again the message they had in flight; subscribers with clean session 0,
//! expecting their session back (session present) every time.
//!
//! Asserts that every message a publisher got a PUBACK for reaches every subscriber (duplicates
//! allowed, counted) and that no subscriber ever reconnects to a broker that lost its session.
//! Prints a summary: kills, the longest restart, messages acknowledged, and per subscriber what
//! it received, its duplicates and its reconnects.
//!
//! By hand, longer, against a release build: `bench/chaos.sh kill9 [seconds]`
//! (env `ARBOR_KILL9_SECS`, default 8; `ARBOR_KILL9_SEED` for the kill pacing, default 1).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::child::{self, Broker};
use parking_lot::Mutex;
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

const PUBLISHERS: usize = 5;
const SUBSCRIBERS: usize = 5;
/// The broker lives this long, ± [`KILL_JITTER`], between its start and its kill.
const KILL_EVERY: Duration = Duration::from_millis(2000);
const KILL_JITTER: u64 = 500;
/// How long the last broker has to deliver every acknowledged message once the kills stop.
const DRAIN: Duration = Duration::from_secs(30);
/// Connection errors in a row against one running broker before a client gives up (a broker
/// that is up but refuses clients is a failure, not chaos).
const MAX_FAILURES_PER_BROKER: u32 = 50;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The running broker's generation and MQTT address; `None` while it is down.
type Current = watch::Receiver<Option<(u64, SocketAddr)>>;

/// Waits for a running broker. A client that lost its connection to one that still runs (the
/// generation `failed`) retries it at once, up to [`MAX_FAILURES_PER_BROKER`] times in a row.
async fn next_broker(
    current: &mut Current,
    failed: Option<u64>,
    failures: &mut u32,
    who: &str,
) -> (u64, SocketAddr) {
    let (generation, addr) = current
        .wait_for(Option::is_some)
        .await
        .expect("the driver runs")
        .expect("some");
    if failed == Some(generation) {
        *failures += 1;
        assert!(
            *failures < MAX_FAILURES_PER_BROKER,
            "{who}: {failures} connection errors in a row against a running broker"
        );
    } else {
        *failures = 0;
    }
    (generation, addr)
}

/// What one subscriber saw.
#[derive(Default)]
struct SubStats {
    /// How often each (publisher, seq) arrived.
    arrivals: HashMap<(usize, u64), u32>,
    /// PUBLISH packets received.
    received: u64,
    /// Per publisher, the highest sequence that arrived.
    highest: HashMap<usize, u64>,
    /// First arrivals of a sequence lower than one already seen from its publisher (counted,
    /// not asserted: the run is about loss).
    reordered: u64,
    /// Of them, with DUP set.
    dup_flag: u64,
    /// Connections after the first.
    reconnects: u32,
    /// Of them, with session present 0 (the broker lost the session).
    sessions_lost: u32,
}

impl SubStats {
    fn duplicates(&self) -> u64 {
        self.received - self.arrivals.len() as u64
    }
}

/// Records what one subscriber's event says; `true` for a PUBLISH.
fn record(stats: &Mutex<SubStats>, event: &Event, first_connection: bool) -> bool {
    match event {
        Event::Incoming(Packet::Publish(p)) => {
            let text = String::from_utf8_lossy(&p.payload);
            let (publisher, seq) = text.split_once(':').expect("publisher:seq");
            let key: (usize, u64) = (
                publisher.parse().expect("a publisher"),
                seq.parse().expect("a seq"),
            );
            let mut guard = stats.lock();
            let s = &mut *guard;
            let count = s.arrivals.entry(key).or_default();
            *count += 1;
            if *count == 1 {
                let highest = s.highest.entry(key.0).or_insert(key.1);
                if key.1 < *highest {
                    s.reordered += 1;
                }
                *highest = (*highest).max(key.1);
            }
            s.received += 1;
            s.dup_flag += u64::from(p.dup);
            true
        }
        Event::Incoming(Packet::ConnAck(c)) if !first_connection => {
            let mut s = stats.lock();
            s.reconnects += 1;
            s.sessions_lost += u32::from(!c.session_present);
            false
        }
        _ => false,
    }
}

/// A persistent subscriber to `k9/#`: subscribes on its first connection (telling `ready`),
/// then reconnects with clean session 0 to each broker, for ever (aborted at the end).
async fn subscriber(
    n: usize,
    mut current: Current,
    stats: Arc<Mutex<SubStats>>,
    progress: Arc<Notify>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let id = format!("k9-sub-{n}");
    let mut ready = Some(ready);
    let (mut failed, mut failures) = (None, 0);
    loop {
        let (generation, addr) = next_broker(&mut current, failed, &mut failures, &id).await;
        let (client, mut eventloop) = AsyncClient::new(child::options(addr, &id, false), 64);
        if ready.is_some() {
            client
                .subscribe("k9/#", QoS::AtLeastOnce)
                .await
                .expect("subscribe queued");
        }
        let first = ready.is_some();
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Ok(event) => {
                    if record(&stats, &event, first) {
                        progress.notify_one();
                    }
                }
                Err(_) => {
                    // Packets read with the one that failed are still queued (their PUBACKs
                    // may have gone out): they count.
                    for event in drain(&mut eventloop) {
                        if record(&stats, &event, first) {
                            progress.notify_one();
                        }
                    }
                    failed = Some(generation);
                    break;
                }
            }
        }
    }
}

/// The events an event loop read but had not handed out when its connection failed.
fn drain(eventloop: &mut EventLoop) -> Vec<Event> {
    eventloop.state.events.drain(..).collect()
}

/// Publishes `n:seq` on `k9/n` at QoS 1, one in flight, reconnecting (clean session) to each
/// broker and publishing again what was in flight, until `stop` (the message in flight then is
/// still seen through to its PUBACK). Returns the acknowledged sequences and the reconnects.
async fn publisher(n: usize, mut current: Current, stop: watch::Receiver<bool>) -> (Vec<u64>, u32) {
    let id = format!("k9-pub-{n}");
    let topic = format!("k9/{n}");
    let mut acked = Vec::new();
    let mut seq = 0u64;
    let mut connections = 0u32;
    let (mut failed, mut failures) = (None, 0);
    loop {
        let (generation, addr) = next_broker(&mut current, failed, &mut failures, &id).await;
        let (client, mut eventloop) = AsyncClient::new(child::options(addr, &id, true), 16);
        connections += 1;
        // Queued until the connection is up; published again on the next one if this fails.
        client
            .publish(topic.clone(), QoS::AtLeastOnce, false, format!("{n}:{seq}"))
            .await
            .expect("publish queued");
        loop {
            let (event, lost) = match eventloop.poll().await {
                Ok(event) => (Some(event), false),
                // A PUBACK read with the packet that failed still counts.
                Err(_) => (drain(&mut eventloop).into_iter().find(is_puback), true),
            };
            if event.as_ref().is_some_and(is_puback) {
                acked.push(seq);
                seq += 1;
                if *stop.borrow() {
                    return (acked, connections - 1);
                }
                if !lost {
                    client
                        .publish(topic.clone(), QoS::AtLeastOnce, false, format!("{n}:{seq}"))
                        .await
                        .expect("publish queued");
                }
            }
            if lost {
                failed = Some(generation);
                break;
            }
        }
    }
}

fn is_puback(event: &Event) -> bool {
    matches!(event, Event::Incoming(Packet::PubAck(_)))
}

/// A small deterministic generator for the kill pacing (xorshift64*).
struct Pace(u64);

impl Pace {
    fn next(&mut self) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (2 * KILL_JITTER + 1);
        KILL_EVERY + Duration::from_millis(r) - Duration::from_millis(KILL_JITTER)
    }
}

/// Starts a broker on `dir` (blocking: it reads the child's output), off the runtime's threads.
async fn start(dir: &Path) -> Broker {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || Broker::start(&dir))
        .await
        .expect("the broker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_chaos_run_loses_no_acknowledged_message() {
    let secs = env_or("ARBOR_KILL9_SECS", 8);
    let seed = env_or("ARBOR_KILL9_SEED", 1);
    let dir = child::fresh_dir("kill9-chaos");
    let mut broker = start(&dir).await;
    let mut generation = 0u64;
    let (current_tx, current) = watch::channel(Some((generation, broker.mqtt)));

    // The persistent subscribers subscribe before any load.
    let progress = Arc::new(Notify::new());
    let mut stats = Vec::new();
    let mut subscribers = Vec::new();
    for n in 0..SUBSCRIBERS {
        let s = Arc::new(Mutex::new(SubStats::default()));
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        subscribers.push(tokio::spawn(subscriber(
            n,
            current.clone(),
            s.clone(),
            progress.clone(),
            ready_tx,
        )));
        tokio::time::timeout(Duration::from_secs(10), ready)
            .await
            .expect("SUBACK in time")
            .expect("subscribed");
        stats.push(s);
    }

    let (stop_tx, stop) = watch::channel(false);
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|n| tokio::spawn(publisher(n, current.clone(), stop.clone())))
        .collect();

    // The kills: the broker runs ~2 s (seeded jitter), is killed and started again.
    let mut pace = Pace(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let until = Instant::now() + Duration::from_secs(secs);
    let (mut kills, mut longest) = (0u32, Duration::ZERO);
    loop {
        let wait = pace.next();
        if Instant::now() + wait >= until {
            break;
        }
        tokio::time::sleep(wait).await; // the kill pacing: the point of the run
        current_tx.send_replace(None);
        let killed_at = Instant::now();
        broker.kill_9();
        broker = start(&dir).await;
        longest = longest.max(killed_at.elapsed());
        kills += 1;
        generation += 1;
        current_tx.send_replace(Some((generation, broker.mqtt)));
    }
    tokio::time::sleep_until(until).await; // the rest of the run, with the last broker up
    stop_tx.send_replace(true);

    // The publishers see what they have in flight through, to the last broker.
    let mut acked = Vec::new();
    let mut publisher_reconnects = 0;
    for p in publishers {
        let (seqs, reconnects) = tokio::time::timeout(DRAIN, p)
            .await
            .expect("every publisher's last message acknowledged in time")
            .expect("publisher task");
        acked.push(seqs);
        publisher_reconnects += reconnects;
    }
    let acknowledged: usize = acked.iter().map(Vec::len).sum();

    // Every acknowledged message reaches every subscriber: waits for their progress.
    let mut missing: Vec<Vec<(usize, u64)>> = stats
        .iter()
        .map(|_| {
            acked
                .iter()
                .enumerate()
                .flat_map(|(p, seqs)| seqs.iter().map(move |&q| (p, q)))
                .collect()
        })
        .collect();
    let _ = tokio::time::timeout(DRAIN, async {
        loop {
            for (s, missing) in stats.iter().zip(missing.iter_mut()) {
                let s = s.lock();
                missing.retain(|key| !s.arrivals.contains_key(key));
            }
            if missing.iter().all(Vec::is_empty) {
                break;
            }
            progress.notified().await;
        }
    })
    .await;

    println!("kill -9 chaos summary (seed {seed}, {secs} s)");
    println!(
        "  kills {kills}, longest restart {} ms; publishers: messages acknowledged {acknowledged}, reconnects {publisher_reconnects}",
        longest.as_millis()
    );
    for (n, s) in stats.iter().enumerate() {
        let s = s.lock();
        println!(
            "  subscriber {n}: received {}, duplicates {} ({} with DUP), out of order {}, reconnects {} (session lost {}), missing {}",
            s.received,
            s.duplicates(),
            s.dup_flag,
            s.reordered,
            s.reconnects,
            s.sessions_lost,
            missing[n].len()
        );
    }
    for s in &subscribers {
        s.abort();
    }
    broker.kill_9();

    for (n, missing) in missing.iter().enumerate() {
        assert!(
            missing.is_empty(),
            "subscriber {n}: {} acknowledged messages never arrived, the first: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
    for (n, s) in stats.iter().enumerate() {
        let s = s.lock();
        assert_eq!(
            s.sessions_lost, 0,
            "subscriber {n}: {} of {} reconnects without its session",
            s.sessions_lost, s.reconnects
        );
    }
    assert!(kills > 0, "the broker was killed");
    assert!(acknowledged > 0, "messages were acknowledged");
    let _ = std::fs::remove_dir_all(&dir);
}
