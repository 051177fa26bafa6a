//! The store end to end, in a directory of its own: ops through the writer, read back by a
//! load and by a reopen; the format mark.

use std::sync::Arc;

use bytes::Bytes;

use super::backend::Db;
use super::keys::{self, Table};
use super::records::{MessageRecord, SessionRecord};
use super::{Op, Store, StoreError};
use crate::codec::{QoS, TopicName};
use crate::config::{Durability, StorageBackend, StorageConfig};
use crate::message::Message;

fn config(name: &str) -> StorageConfig {
    let dir = std::env::temp_dir().join(format!("arbor-store-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    StorageConfig {
        backend: StorageBackend::Disk,
        dir,
        durability: Durability::Sync,
    }
}

fn record(since: u64) -> Bytes {
    SessionRecord {
        expiry_secs: 3600,
        since,
        created_at: 1,
        level: 4,
        subs: Vec::new(),
        will: None,
        will_delay_secs: 0,
        detached_at_ms: 0,
    }
    .encode()
}

fn message(n: u8) -> Bytes {
    let msg = Message::new(
        TopicName::new("t").unwrap(),
        vec![n].into(),
        QoS::AtLeastOnce,
        false,
        "p".into(),
    );
    MessageRecord::encode(&msg, QoS::AtLeastOnce)
}

#[tokio::test]
async fn what_was_committed_is_loaded_and_read_again_after_a_reopen() {
    let cfg = config("roundtrip");
    let (store, recovered) = Store::open(&cfg).unwrap();
    assert!(recovered.sessions.is_empty());
    let c: Arc<str> = "c".into();
    let seqs: Vec<u64> = (0..3).map(|_| store.next_seq()).collect();
    let mut ops = vec![Op::Put(
        Table::Sessions,
        Bytes::from_static(b"c"),
        record(seqs[0]),
    )];
    for (i, &seq) in seqs.iter().enumerate() {
        ops.push(Op::Insert(
            Table::Messages,
            keys::message(&c, seq),
            message(i as u8),
        ));
    }
    ops.push(Op::Insert(
        Table::Inflight,
        keys::message(&c, seqs[0]),
        super::encode_state(7, true),
    ));
    // The second message is acknowledged in the same batch: never written.
    ops.push(Op::Delete(Table::Messages, keys::message(&c, seqs[1])));
    ops.push(Op::Insert(Table::Receipts, keys::receipt(&c, 9), Bytes::new()));
    store.barrier(ops).await.unwrap();
    let image = store.load(c.clone()).await.unwrap().expect("stored");
    let seqs_got: Vec<u64> = image.messages.iter().map(|m| m.seq).collect();
    let payloads: Vec<u8> = image.messages.iter().map(|m| m.msg.payload[0]).collect();
    let states: Vec<_> = image.messages.iter().map(|m| m.inflight).collect();
    assert_eq!(seqs_got, vec![seqs[0], seqs[2]]);
    assert_eq!(payloads, vec![0, 2]);
    assert_eq!(states, vec![Some((7, true)), None]);
    assert_eq!(image.receipts, vec![9]);
    assert_eq!(store.info().cancelled, 1);
    drop(store);
    // The writer thread ends when the last handle goes; its lock with it.
    let (store, recovered) = reopen(&cfg);
    assert_eq!(recovered.sessions.len(), 1);
    assert_eq!(recovered.sessions[0].messages.len(), 2);
    assert!(
        recovered.next_seq > seqs[2],
        "sequence numbers go on after the last stored"
    );
    // The session ends: all of it goes.
    store.barrier(vec![Op::DropSession(c.clone())]).await.unwrap();
    assert!(store.load(c).await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(&cfg.dir);
}

/// Reopens `cfg` once the previous handle's writer thread has let go of its lock.
fn reopen(cfg: &StorageConfig) -> (Store, super::Recovered) {
    loop {
        match Store::open(cfg) {
            Err(StoreError::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => break other.unwrap(),
        }
    }
}

#[tokio::test]
async fn sequence_numbers_go_on_past_every_sessions_first_after_a_reopen() {
    let cfg = config("since");
    let (store, _) = Store::open(&cfg).unwrap();
    // Messages routed and acknowledged: the counter moved on, nothing is stored.
    for _ in 0..100 {
        store.next_seq();
    }
    let since = store.peek_seq();
    store
        .barrier(vec![Op::Put(
            Table::Sessions,
            Bytes::from_static(b"late"),
            record(since),
        )])
        .await
        .unwrap();
    drop(store);
    let (store, recovered) = reopen(&cfg);
    assert!(
        recovered.next_seq >= since,
        "next {} below the session's first {since}",
        recovered.next_seq
    );
    // What is routed to it now is its own, after the next reopen too.
    let c: Arc<str> = "late".into();
    let seq = store.next_seq();
    store
        .barrier(vec![Op::Insert(
            Table::Messages,
            keys::message(&c, seq),
            message(1),
        )])
        .await
        .unwrap();
    drop(store);
    let (_store, recovered) = reopen(&cfg);
    assert_eq!(recovered.sessions[0].messages.len(), 1);
    let _ = std::fs::remove_dir_all(&cfg.dir);
}

#[test]
fn a_store_of_a_newer_format_is_refused_and_left_alone() {
    let cfg = config("newer");
    {
        let mut db = Db::open(&cfg.dir, true).unwrap();
        let mark = Bytes::copy_from_slice(&99u32.to_be_bytes());
        db.commit(&[], &[(Table::Meta, Bytes::from_static(b"format"), Some(mark))])
            .unwrap();
    }
    match Store::open(&cfg) {
        Err(e @ StoreError::Newer { found: 99, .. }) => assert!(e.to_string().contains("newer arbor"), "{e}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a newer store was opened"),
    }
    let _ = std::fs::remove_dir_all(&cfg.dir);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let cfg = config("locked");
    let (_store, _) = Store::open(&cfg).unwrap();
    match Store::open(&cfg) {
        Err(e @ StoreError::Locked(_)) => assert!(e.to_string().contains("another process"), "{e}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("opened twice"),
    }
}

#[tokio::test]
async fn with_durability_os_commits_are_acknowledged_and_kept_across_a_reopen() {
    let mut cfg = config("os");
    cfg.durability = Durability::Os;
    let (store, _) = Store::open(&cfg).unwrap();
    let c: Arc<str> = "c".into();
    let seq = store.next_seq();
    let ops = vec![
        Op::Put(Table::Sessions, Bytes::from_static(b"c"), record(seq)),
        Op::Insert(Table::Messages, keys::message(&c, seq), message(1)),
    ];
    store.barrier(ops).await.unwrap();
    assert_eq!(store.info().durability, "os");
    drop(store);
    let (_, recovered) = loop {
        match Store::open(&cfg) {
            Err(StoreError::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(10)),
            other => break other.unwrap(),
        }
    };
    assert_eq!(recovered.sessions[0].messages.len(), 1);
    let _ = std::fs::remove_dir_all(&cfg.dir);
}
