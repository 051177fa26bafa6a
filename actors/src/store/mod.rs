//! The durable store: persistent sessions, their queued and inflight messages, incoming QoS 2
//! receipts and retained messages, on disk, so that a message the broker acknowledged survives
//! any crash, `kill -9` included (`[storage]`, docs/durability.md).
//!
//! One writer thread owns the embedded database ([`backend`]). Everyone else sends it
//! [`Op`]s through [`Store::send`]: the publish path inserts a message for each persistent
//! session it routes a QoS 1/2 message to, before it casts it; a session deletes it when its
//! client acknowledges it; the retainer puts and deletes retained messages. The writer applies
//! everything that arrived since its last commit in one transaction and makes it durable (group
//! commit, [`writer`]); a message inserted and acknowledged within one batch costs no write at
//! all. [`Store::barrier`] resolves once everything sent before it is durable: a publisher's
//! reader awaits it before its PUBACK/PUBREC goes out, which is the acknowledgement rule.
//!
//! Order is the channel's: what one task sends is applied in the order it sent it, and a
//! commit holds a prefix of what arrived, so a durable receipt implies durable messages sent
//! before it, and a session record is durable before any message routed to it.
//!
//! With `backend = "memory"` there is no store: [`Store::disabled`] takes every op and does
//! nothing, and the broker runs as it did before there was one.

mod backend;
mod file;
pub mod keys;
pub mod records;
mod recover;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::oneshot;

pub use keys::Table;
pub use records::{MessageRecord, SessionRecord, StoredSub};
pub use recover::{encode_state, Recovered, SessionImage, StoredMessage};

use crate::config::{Durability, StorageConfig};

/// Why the store cannot be opened or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store.
    #[error("{0}: in use by another process (another arbor on the same storage.dir?); stop it or choose another storage.dir")]
    Locked(PathBuf),
    /// The directory or a file cannot be created, read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, String),
    /// The files are not a store this version can read.
    #[error("{0}: {1}")]
    Corrupt(PathBuf, String),
    /// Written by a newer arbor.
    #[error("{path}: written by a newer arbor (store format {found}, this one reads {supported}); nothing was changed")]
    Newer {
        /// The store's directory.
        path: PathBuf,
        /// The format found.
        found: u32,
        /// The one this build reads.
        supported: u32,
    },
    /// A commit failed at runtime (disk full...): what it held is not durable.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The writer thread is gone.
    #[error("the store's writer stopped")]
    Closed,
}

/// One change to the store.
#[derive(Debug, Clone)]
pub enum Op {
    /// A key not written before (a new message, an inflight state, a receipt): cancelled by a
    /// delete of the same key in the same batch, so a message acknowledged before its commit
    /// is never written.
    Insert(Table, Bytes, Bytes),
    /// Writes (or replaces) a key.
    Put(Table, Bytes, Bytes),
    /// Deletes a key.
    Delete(Table, Bytes),
    /// Deletes a session's record, messages, inflight states and receipts (the session ended).
    DropSession(Arc<str>),
}

/// What the writer thread is sent.
enum Request {
    /// Ops, in order, and who waits for them to be durable.
    Ops(Vec<Op>, Option<oneshot::Sender<Result<(), StoreError>>>),
    /// Everything sent before is durable: then a session's image is read (a restarted session).
    Load(
        Arc<str>,
        oneshot::Sender<Result<Option<SessionImage>, StoreError>>,
    ),
}

/// Counters of the store, for `arbor ctl store` and Prometheus.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Commits done.
    pub commits: AtomicU64,
    /// Commits that failed (nothing of them acknowledged).
    pub commit_errors: AtomicU64,
    /// Bytes of keys and values written.
    pub bytes_written: AtomicU64,
    /// Unix milliseconds of the last commit.
    pub last_commit_ms: AtomicU64,
    /// Persistent sessions stored.
    pub sessions: AtomicU64,
    /// Messages stored (queued or inflight).
    pub messages: AtomicU64,
    /// Retained messages stored.
    pub retained: AtomicU64,
    /// Ops that cancelled out in their batch (a message acknowledged before its commit).
    pub cancelled: AtomicU64,
}

/// What `arbor ctl store` shows.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct StoreInfo {
    /// `disk` or `memory`.
    pub backend: String,
    /// The directory (empty for memory).
    pub dir: String,
    /// `sync` or `os`.
    pub durability: String,
    /// Bytes the store's files take on disk.
    pub size_bytes: u64,
    /// Persistent sessions stored.
    pub sessions: u64,
    /// Messages stored.
    pub messages: u64,
    /// Retained messages stored.
    pub retained: u64,
    /// Commits since boot.
    pub commits: u64,
    /// Commits that failed since boot.
    pub commit_errors: u64,
    /// Bytes written since boot.
    pub bytes_written: u64,
    /// Unix milliseconds of the last commit (0: none yet).
    pub last_commit_ms: u64,
    /// Ops cancelled in their batch since boot.
    pub cancelled: u64,
    /// How long the boot's recovery took, in milliseconds.
    pub recovery_ms: u64,
}

struct Inner {
    tx: std::sync::mpsc::Sender<Request>,
    stats: Arc<StoreStats>,
    /// The next message sequence number (global: a key is unique across session incarnations).
    seq: AtomicU64,
    dir: PathBuf,
    durability: Durability,
    recovery_ms: AtomicU64,
}

/// A handle on the store; cheap to clone. Disabled for `backend = "memory"`.
#[derive(Clone, Default)]
pub struct Store(Option<Arc<Inner>>);

impl Store {
    /// No store: every op is dropped, nothing is ever waited for.
    pub fn disabled() -> Self {
        Self(None)
    }

    /// Opens the store `config` names (creating its directory), reads everything it holds and
    /// starts its writer thread. Fails, changing nothing, when it is locked, unreadable,
    /// corrupt or newer than this build.
    pub fn open(config: &StorageConfig) -> Result<(Store, Recovered), StoreError> {
        if !config.is_disk() {
            return Ok((Store::disabled(), Recovered::default()));
        }
        let started = std::time::Instant::now();
        let dir = config.dir.clone();
        let mut db = backend::Db::open(&dir, config.durability == Durability::Sync)?;
        let stats = Arc::new(StoreStats::default());
        let recovered = recover::read_all(&mut db, &stats)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let sync = config.durability == Durability::Sync;
        writer::spawn(db, rx, stats.clone(), sync)?;
        let inner = Inner {
            tx,
            stats,
            seq: AtomicU64::new(recovered.next_seq),
            dir,
            durability: config.durability,
            recovery_ms: AtomicU64::new(0),
        };
        inner
            .recovery_ms
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        Ok((Store(Some(Arc::new(inner))), recovered))
    }

    /// Whether there is a store (persistent sessions and retained messages are durable).
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// A fresh message sequence number (0 when disabled: 0 means "not stored").
    pub fn next_seq(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |inner| inner.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// The sequence number the next message gets, without taking it (a new session's `since`).
    pub fn peek_seq(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |inner| inner.seq.load(Ordering::Relaxed))
    }

    /// Sends `ops` to the writer, in order, without waiting.
    pub fn send(&self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        if let Some(inner) = &self.0 {
            let _ = inner.tx.send(Request::Ops(ops, None));
        }
    }

    /// Sends `ops` (possibly none) and resolves once they and everything sent before them are
    /// durable, or the commit that held them failed. Disabled: resolves at once.
    pub fn barrier(
        &self,
        ops: Vec<Op>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let rx = self.0.as_ref().map(|inner| {
            let (done, rx) = oneshot::channel();
            let _ = inner.tx.send(Request::Ops(ops, Some(done)));
            rx
        });
        async move {
            match rx {
                None => Ok(()),
                Some(rx) => rx.await.unwrap_or(Err(StoreError::Closed)),
            }
        }
    }

    /// The stored image of `client_id`'s session, read after everything sent before is durable
    /// (a session restarted after a crash); `None` when it has none or there is no store.
    pub async fn load(&self, client_id: Arc<str>) -> Result<Option<SessionImage>, StoreError> {
        let Some(inner) = &self.0 else { return Ok(None) };
        let (reply, rx) = oneshot::channel();
        inner
            .tx
            .send(Request::Load(client_id, reply))
            .map_err(|_| StoreError::Closed)?;
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// What `arbor ctl store` shows.
    pub fn info(&self) -> StoreInfo {
        let Some(inner) = &self.0 else {
            return StoreInfo {
                backend: "memory".into(),
                ..StoreInfo::default()
            };
        };
        let s = &inner.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreInfo {
            backend: "disk".into(),
            dir: inner.dir.display().to_string(),
            durability: inner.durability.as_str().into(),
            size_bytes: dir_size(&inner.dir),
            sessions: get(&s.sessions),
            messages: get(&s.messages),
            retained: get(&s.retained),
            commits: get(&s.commits),
            commit_errors: get(&s.commit_errors),
            bytes_written: get(&s.bytes_written),
            last_commit_ms: get(&s.last_commit_ms),
            cancelled: get(&s.cancelled),
            recovery_ms: get(&inner.recovery_ms),
        }
    }
}

/// Bytes the files under `dir` take (0 if it cannot be read).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
