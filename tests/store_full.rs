//! A store that cannot write (its disk full: here the file-size limit of the process,
//! `RLIMIT_FSIZE`, which makes a write past it fail with EFBIG) acknowledges nothing it could not
//! keep: an MQTT 5 publisher gets PUBACK 0x80, a 3.1.1 publisher no PUBACK; the broker keeps
//! serving, counts the failures, and acknowledges again once writes succeed.
//!
//! Alone in its test binary: the limit is the whole process's.

mod common;

use std::time::Duration;

use arbor_actors::codec::{Packet, Properties, QoS, ReasonCode};
use arbor_actors::config::StorageBackend;
use common::raw::{connect_packet, connect_v5, publish_packet, publish_v5, Raw};
use common::{eventually, test_config, TestBroker};

fn set_file_size_limit(bytes: Option<u64>) {
    let limit = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain system calls on this process's own limits and signal disposition.
    unsafe {
        // A write past the limit then fails with EFBIG instead of killing the process.
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0, "setrlimit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_acknowledges_nothing_and_the_broker_keeps_serving() {
    let dir = std::env::temp_dir().join(format!("arbor-store-full-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = test_config();
    config.storage.backend = StorageBackend::Disk;
    config.storage.dir = dir.clone();
    let broker = TestBroker::with_config(config).await;
    // A persistent subscriber away: every QoS 1 message for it must be stored.
    let (mut away, _) = Raw::connected(broker.mqtt, connect_packet("full-sub", false, 30, None)).await;
    away.subscribe("full/#", QoS::AtLeastOnce).await;
    drop(away);
    eventually("the subscriber is gone", || {
        broker.handle.api.registry().client("full-sub").is_none()
    })
    .await;
    let (mut live, _) = Raw::connected(broker.mqtt, connect_packet("full-live", true, 30, None)).await;
    live.subscribe("live/#", QoS::AtMostOnce).await;

    let size = std::fs::metadata(dir.join("arbor.redb"))
        .expect("the store file")
        .len();
    set_file_size_limit(Some(size + 512 * 1024));
    let (mut v5, _) = Raw::connected(broker.mqtt, connect_v5("full-pub5", true, Properties::default())).await;
    let big = "x".repeat(100 * 1024);
    let mut refused = None;
    for pkid in 1..=200u16 {
        v5.send(&publish_v5(
            "full/t",
            QoS::AtLeastOnce,
            pkid,
            false,
            &big,
            Properties::default(),
        ))
        .await;
        match v5.next().await {
            Some(Packet::PubAck(ack)) if ack.reason == ReasonCode::SUCCESS => {}
            Some(Packet::PubAck(ack)) => {
                refused = Some(ack.reason);
                break;
            }
            other => panic!("expected PUBACK, got {other:?}"),
        }
    }
    assert_eq!(
        refused,
        Some(ReasonCode::UNSPECIFIED_ERROR),
        "a commit failed within 200 messages"
    );
    // 3.1.1 has no reason codes: no PUBACK at all, so the client sends it again. 2 MiB more
    // than the file may grow: some of them cannot be stored.
    let size = std::fs::metadata(dir.join("arbor.redb"))
        .expect("the store file")
        .len();
    set_file_size_limit(Some(size));
    let (mut v3, _) = Raw::connected(broker.mqtt, connect_packet("full-pub3", true, 30, None)).await;
    for pkid in 1..=20u16 {
        v3.send(&publish_packet("full/t", QoS::AtLeastOnce, pkid, false, &big))
            .await;
    }
    // An absence cannot be awaited: each commit takes milliseconds, so 500 ms of silence after
    // the last acknowledgement means no more are coming.
    let mut acked = 0;
    while let Ok(Some(packet)) = v3.next_within(Duration::from_millis(500)).await {
        assert!(matches!(packet, Packet::PubAck(_)), "{packet:?}");
        acked += 1;
    }
    assert!(
        acked < 20,
        "all 20 acknowledged while the store could not keep them all"
    );
    // The broker keeps serving what needs no store, and counts the failures.
    v3.send(&publish_packet("live/t", QoS::AtMostOnce, 0, false, "still here"))
        .await;
    assert_eq!(&live.expect_publish().await.payload[..], b"still here");
    assert!(broker.handle.api.store().info().commit_errors >= 1);

    // Room again: the store is opened again and acknowledgements resume.
    set_file_size_limit(None);
    v5.send(&publish_v5(
        "full/t",
        QoS::AtLeastOnce,
        500,
        false,
        "small",
        Properties::default(),
    ))
    .await;
    match v5.next().await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.reason, ReasonCode::SUCCESS),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    broker.handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
