//! Durability (`[storage]`, docs/durability.md): what a broker acknowledged survives `kill -9`
//! of the whole process, a killed session actor comes back from the store, and a store that
//! cannot be opened stops the boot with one line and exit 2.
//!
//! The process tests run the `arbor` binary as a child on a store directory of their own and
//! kill it with SIGKILL: no in-process shortcut can prove what survives a process's death.

mod common;
/// The kill -9 chaos run (whole broker killed every ~2 s under QoS 1 load).
#[path = "durability/kill9_chaos.rs"]
mod kill9_chaos;
/// MQTT 5 session state through the store, and the store's figures.
#[path = "durability/v5.rs"]
mod v5;

use std::path::{Path, PathBuf};
use std::time::Duration;

use arbor_actors::config::StorageBackend;
use common::child::{arbor, fresh_dir, Broker};
use common::client::{self, connect_with, receive, spawn_events, subscribe_qos, wait_for, Client};
use common::{test_config, TestBroker};
use rumqttc::{Event, Packet, QoS};

/// A fresh directory for one test's store.
fn store_dir(name: &str) -> PathBuf {
    fresh_dir(&format!("durability-{name}"))
}

/// A persistent (clean session 0) client of `broker` subscribes to `filter` at QoS 1 and leaves
/// with DISCONNECT: what is published to it from now on is queued and stored.
async fn subscribe_and_leave(broker: &Broker, id: &str, filter: &str) {
    let (mut c, _) = connect_with(broker.options(id, false)).await;
    subscribe_qos(&mut c, filter, QoS::AtLeastOnce).await;
    c.client.disconnect().await.expect("disconnect queued");
    client::closed(&mut c).await;
}

/// Publishes `n` QoS 1 messages `0..n` on `topic` and waits for every PUBACK.
async fn publish_all_acked(c: &mut Client, topic: &str, n: u32) {
    let client = c.client.clone();
    let topic = topic.to_string();
    tokio::spawn(async move {
        for i in 0..n {
            client
                .publish(topic.clone(), QoS::AtLeastOnce, false, i.to_be_bytes().to_vec())
                .await
                .expect("queued");
        }
    });
    for _ in 0..n {
        wait_for(&mut c.events, |e| matches!(e, Event::Incoming(Packet::PubAck(_)))).await;
    }
}

/// Receives until every one of `0..n` has arrived; returns them in arrival order (duplicates
/// included).
async fn receive_all(c: &mut Client, n: u32) -> Vec<u32> {
    let mut got = Vec::new();
    let mut have = std::collections::BTreeSet::new();
    while have.len() < n as usize {
        let p = receive(c).await;
        let seq = u32::from_be_bytes(p.payload[..4].try_into().expect("4 bytes"));
        have.insert(seq);
        got.push(seq);
    }
    got
}

/// Each of `0..n` is there, and the first arrival of each is in publish order.
fn assert_all_in_order(got: &[u32], n: u32) {
    let mut first = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &s in got {
        if seen.insert(s) {
            first.push(s);
        }
    }
    assert_eq!(first, (0..n).collect::<Vec<_>>(), "every message once, in order");
}

/// Starts a broker on `dir` again: `id`'s persistent session is there [MQTT-3.2.2-2] and
/// delivers `0..n`, each at least once, in order. Returns the broker.
async fn restart_and_receive(dir: &Path, id: &str, n: u32) -> Broker {
    let broker = Broker::start(dir);
    let (mut c, connack) = connect_with(broker.options(id, false)).await;
    assert!(
        connack.session_present,
        "the persistent session survived [MQTT-3.2.2-2]"
    );
    let got = receive_all(&mut c, n).await;
    assert_all_in_order(&got, n);
    broker
}

/// The test: a persistent subscriber away, 1,000 QoS 1 messages acknowledged, the
/// broker killed with SIGKILL and started again on the same directory: the subscriber resumes
/// its session and gets all 1,000 in order; retained messages are all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_message_and_no_persistent_session() {
    let dir = store_dir("kill9");
    let broker = Broker::start(&dir);
    // The persistent subscriber subscribes and goes away.
    subscribe_and_leave(&broker, "dur-sub", "dur/#").await;
    // 1,000 acknowledged messages queue for it; three retained ones are stored.
    let (mut publisher, _) = connect_with(broker.options("dur-pub", true)).await;
    publish_all_acked(&mut publisher, "dur/t", 1000).await;
    for i in 0..3 {
        client::publish_acked(
            &mut publisher,
            &format!("ret/{i}"),
            QoS::AtLeastOnce,
            true,
            format!("r{i}"),
        )
        .await;
    }
    broker.kill_9();

    let broker = restart_and_receive(&dir, "dur-sub", 1000).await;
    let (mut fresh, _) = connect_with(broker.options("dur-ret", true)).await;
    subscribe_qos(&mut fresh, "ret/#", QoS::AtLeastOnce).await;
    let mut retained: Vec<String> = Vec::new();
    for _ in 0..3 {
        let p = receive(&mut fresh).await;
        assert!(p.retain);
        retained.push(String::from_utf8_lossy(&p.payload).into());
    }
    retained.sort();
    assert_eq!(retained, ["r0", "r1", "r2"]);
    broker.kill_9();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `durability = "os"` acknowledges once a commit is written to the operating system, not
/// fsynced: the process dying at once after the acknowledgements loses none of them (only a
/// power loss could take the last second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_durability_os_kill_9_right_after_the_acks_loses_nothing() {
    let dir = store_dir("kill9-os");
    let mut cmd = common::child::arbor(&dir);
    cmd.env("ARBOR__STORAGE__DURABILITY", "os");
    let broker = Broker::spawn(cmd);
    subscribe_and_leave(&broker, "os-sub", "os/#").await;
    let (mut publisher, _) = connect_with(broker.options("os-pub", true)).await;
    publish_all_acked(&mut publisher, "os/t", 300).await;
    broker.kill_9();
    let broker = restart_and_receive(&dir, "os-sub", 300).await;
    broker.kill_9();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sequence numbers go on, after a restart, past the first one of every stored session: a
/// persistent session made after the counter had moved on, restored with nothing stored for it,
/// keeps what it is sent after that restart across the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_late_keeps_what_it_is_sent_across_two_restarts() {
    let dir = store_dir("late-session");
    let broker = Broker::start(&dir);
    // An online persistent subscriber takes 50 sequence numbers and acknowledges them all;
    // its SUBACK that follows means its deletes are durable: nothing stays stored.
    let (mut early, _) = connect_with(broker.options("seq-early", false)).await;
    subscribe_qos(&mut early, "early/#", QoS::AtLeastOnce).await;
    let (mut publisher, _) = connect_with(broker.options("seq-pub", true)).await;
    publish_all_acked(&mut publisher, "early/t", 50).await;
    receive_all(&mut early, 50).await;
    subscribe_qos(&mut early, "early2/#", QoS::AtLeastOnce).await;
    // A session made now starts past those 50; its client goes away.
    subscribe_and_leave(&broker, "seq-late", "late/#").await;
    broker.kill_9();

    // After a restart, 20 acknowledged messages are stored for it...
    let broker = Broker::start(&dir);
    let (mut publisher, _) = connect_with(broker.options("seq-pub", true)).await;
    publish_all_acked(&mut publisher, "late/t", 20).await;
    broker.kill_9();

    // ...and are still there after the next.
    let broker = restart_and_receive(&dir, "seq-late", 20).await;
    broker.kill_9();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A session whose expiry passes while the broker is down is gone after the restart: the
/// client starts afresh (session present 0) and nothing queued for it arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_expired_while_the_broker_was_down_is_gone() {
    let dir = store_dir("expired");
    let mut cmd = arbor(&dir);
    cmd.env("ARBOR__SESSION__EXPIRY_INTERVAL", "1s");
    let broker = Broker::spawn(cmd);
    subscribe_and_leave(&broker, "short-lived", "exp/#").await;
    // When its client left is stored by the commit that acknowledges the publish below (else
    // the restart counts its expiry from the restart, as for a client still connected).
    broker.detached("short-lived").await;
    let (mut publisher, _) = connect_with(broker.options("exp-pub", true)).await;
    client::publish_acked(&mut publisher, "exp/t", QoS::AtLeastOnce, false, "for nobody").await;
    broker.kill_9();
    // Its expiry (1 s) runs out while no broker runs.
    std::thread::sleep(Duration::from_millis(1500));
    let broker = Broker::start(&dir);
    assert!(
        broker.seen.iter().any(|l| l.contains("expired_sessions=1")),
        "the expired session is removed at boot:\n{}",
        broker.seen.join("\n")
    );
    let (mut again, connack) = connect_with(broker.options("short-lived", false)).await;
    assert!(!connack.session_present, "the expired session is gone");
    client::no_publish_within(&mut again, Duration::from_millis(300)).await;
    broker.kill_9();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `arbor run` on `dir` expecting it to refuse to start: exit 2 and one line naming the
/// store's file and the problem.
fn refused(dir: &Path, want: &str) {
    let mut child = arbor(dir).spawn().expect("run arbor");
    let lines = common::child::lines_of(&mut child);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "arbor started on a store it should refuse: {}",
                lines.try_iter().collect::<Vec<_>>().join("\n")
            );
        }
        // Polling a child's exit: there is no event to await for it here.
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr: Vec<String> = lines.iter().collect();
    let stderr = stderr.join("\n");
    assert_eq!(status.code(), Some(2), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("arbor: storage:"))
        .unwrap_or_else(|| panic!("no storage line in:\n{stderr}"));
    assert!(line.contains(want), "{line}");
}

/// A store another arbor holds, a damaged file and a directory that cannot be made each stop
/// the boot with their own clear line and exit 2, changing nothing.
#[test]
fn a_store_that_cannot_be_opened_stops_the_boot_with_exit_2() {
    // Locked: a running broker holds it.
    let dir = store_dir("locked");
    let holder = Broker::start(&dir);
    refused(&dir, "in use by another process");
    holder.kill_9();
    // Damaged: the file is not a store.
    let dir = store_dir("damaged");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("arbor.redb");
    std::fs::write(&file, vec![0x5a; 64 * 1024]).expect("write garbage");
    refused(&dir, "arbor.redb");
    assert_eq!(
        std::fs::read(&file).expect("read").len(),
        64 * 1024,
        "nothing rewritten"
    );
    // A directory under a file cannot be made.
    let under_file = file.join("sub");
    refused(&under_file, "cannot create the directory");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real store with a damaged page in the middle (what a bad disk leaves) is refused at boot
/// with its error, exit 2, and left as it was: never a panic later, when the page is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_a_damaged_page_is_refused_at_boot() {
    let dir = store_dir("damaged-page");
    let broker = Broker::start(&dir);
    let (mut publisher, _) = connect_with(broker.options("dmg-pub", true)).await;
    let big = vec![b'x'; 8 * 1024];
    for i in 0..128 {
        client::publish_acked(
            &mut publisher,
            &format!("dmg/{i}"),
            QoS::AtLeastOnce,
            true,
            big.clone(),
        )
        .await;
    }
    broker.kill_9();
    let file = dir.join("arbor.redb");
    let mut bytes = std::fs::read(&file).expect("read the store");
    // Every 4 KiB page holding the messages' payload ('x' runs) gets garbage: the live ones
    // among them are damaged whichever they are.
    let mut damaged = 0;
    for page in bytes.chunks_mut(4096) {
        if page.windows(1024).any(|w| w.iter().all(|&b| b == b'x')) {
            for (i, b) in page.iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(151).wrapping_add(7);
            }
            damaged += 1;
        }
    }
    assert!(damaged > 0, "no page of the store holds the payloads");
    std::fs::write(&file, &bytes).expect("damage it");
    refused(&dir, "arbor.redb");
    assert_eq!(std::fs::read(&file).expect("read"), bytes, "nothing rewritten");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A persistent session whose actor is killed comes back from the store (session_sup restarts
/// it, transient), keeps its subscription and delivers what was queued for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_restarts_from_the_store_with_its_queue() {
    let dir = store_dir("session-kill");
    let mut config = test_config();
    config.storage.backend = StorageBackend::Disk;
    config.storage.dir = dir.clone();
    let broker = TestBroker::with_config(config).await;
    let mut opts = client::options(&broker, "victim");
    opts.set_clean_session(false);
    let (mut victim, _) = connect_with(opts.clone()).await;
    subscribe_qos(&mut victim, "queue/#", QoS::AtLeastOnce).await;
    victim.client.disconnect().await.expect("disconnect queued");
    client::closed(&mut victim).await;
    let (mut publisher, _) = connect_with(client::options(&broker, "queue-pub")).await;
    for i in 0u32..20 {
        client::publish_acked(
            &mut publisher,
            "queue/t",
            QoS::AtLeastOnce,
            false,
            i.to_be_bytes().to_vec(),
        )
        .await;
    }
    let before = broker
        .handle
        .api
        .registry()
        .get("victim")
        .expect("the session")
        .session
        .get_id();
    broker.kill("session_sup/session/victim").await;
    common::eventually("the session restarted", || {
        broker
            .handle
            .api
            .registry()
            .get("victim")
            .is_some_and(|e| e.alive() && e.session.get_id() != before)
    })
    .await;
    // Routed to while it was restarted too.
    for i in 20u32..25 {
        client::publish_acked(
            &mut publisher,
            "queue/t",
            QoS::AtLeastOnce,
            false,
            i.to_be_bytes().to_vec(),
        )
        .await;
    }
    let (client, eventloop) = rumqttc::AsyncClient::new(opts, 64);
    let mut victim = Client {
        client,
        events: spawn_events(eventloop),
    };
    let got = receive_all(&mut victim, 25).await;
    assert_all_in_order(&got, 25);
    broker.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
