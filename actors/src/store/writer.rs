//! The store's one writer: a thread that owns the database and commits in groups.
//!
//! It blocks for the first request, then takes every request already waiting, folds their ops
//! into one [`Batch`] and commits it once: with `durability = "sync"` the commit is fsynced
//! before anyone waiting on it hears of it; with `"os"` it is written and fsynced every
//! `storage.sync_interval`. While it commits, new requests queue, so the busier the broker the
//! larger the batch and the cheaper each message.
//!
//! A commit that fails (disk full) acknowledges nothing it held, is counted and logged once per
//! 10 s, and the database is opened again before the next one: after an I/O error redb refuses
//! every later operation, and a broker whose disk had a moment without space must not stay
//! unable to acknowledge anything.
//!
//! Folding: a key inserted and deleted in one batch (a message its subscriber acknowledged
//! before the commit) is dropped from the batch; the last write of a key wins; a dropped
//! session removes its rows already in the batch, and is applied before the rest, so rows
//! written after it (a publisher that routed to it as it ended) stay, to be swept by recovery.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::backend::{Counts, Db};
use super::keys::{self, Table};
use super::{recover, Op, Request, StoreError, StoreStats};

/// At most this many requests go into one batch, so a flood cannot hold one commit forever.
const MAX_REQUESTS: usize = 4096;

/// How often, with `durability = "os"`, written data is fsynced.
pub const OS_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// A key's fate in the batch.
enum Pending {
    /// Written in this batch and never before: a delete cancels it.
    New(Bytes),
    /// Written.
    Set(Bytes),
    /// Deleted.
    Gone,
}

/// What one commit applies.
#[derive(Default)]
pub(super) struct Batch {
    /// Sessions dropped, applied first.
    pub drops: Vec<Arc<str>>,
    map: HashMap<(Table, Bytes), Pending>,
    waiters: Vec<oneshot::Sender<Result<(), StoreError>>>,
    cancelled: u64,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.drops.is_empty() && self.map.is_empty()
    }

    /// Folds `op` into the batch (see the module docs).
    pub(super) fn add(&mut self, op: Op) {
        match op {
            Op::Insert(table, key, value) => {
                self.map.insert((table, key), Pending::New(value));
            }
            Op::Put(table, key, value) => match self.map.get_mut(&(table, key.clone())) {
                Some(Pending::New(old)) => *old = value,
                Some(other) => *other = Pending::Set(value),
                None => {
                    self.map.insert((table, key), Pending::Set(value));
                }
            },
            Op::Delete(table, key) => {
                let entry = self.map.entry((table, key));
                match entry {
                    std::collections::hash_map::Entry::Occupied(e) if matches!(e.get(), Pending::New(_)) => {
                        e.remove();
                        self.cancelled += 1;
                    }
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        e.insert(Pending::Gone);
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(Pending::Gone);
                    }
                }
            }
            Op::DropSession(client_id) => {
                let prefix = keys::prefix(&client_id);
                self.map.retain(|(table, key), _| match table {
                    Table::Sessions => key.as_ref() != client_id.as_bytes(),
                    Table::Messages | Table::Inflight | Table::Receipts => !key.starts_with(&prefix),
                    Table::Retained | Table::Meta => true,
                });
                self.drops.push(client_id);
            }
        }
    }

    /// The writes, sorted by table and key: `None` deletes.
    pub(super) fn writes(&mut self) -> Vec<(Table, Bytes, Option<Bytes>)> {
        let mut writes: Vec<_> = self
            .map
            .drain()
            .map(|((table, key), pending)| {
                let value = match pending {
                    Pending::New(v) | Pending::Set(v) => Some(v),
                    Pending::Gone => None,
                };
                (table, key, value)
            })
            .collect();
        writes.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        writes
    }
}

/// Starts the writer thread over `db`.
pub(super) fn spawn(
    db: Db,
    rx: Receiver<Request>,
    stats: Arc<StoreStats>,
    sync: bool,
) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("arbor-store".into())
        .spawn(move || Writer::new(db, stats, sync).run(rx))
        .map(|_| ())
        .map_err(|e| StoreError::Commit(format!("cannot start the store's writer: {e}")))
}

struct Writer {
    /// The database; `None` after a failure until it is opened again.
    db: Option<Db>,
    /// Its directory, to open it again.
    dir: std::path::PathBuf,
    stats: Arc<StoreStats>,
    sync: bool,
    /// Written since the last fsync (durability `os`).
    dirty: bool,
    last_sync: Instant,
    /// When a failed commit was last logged (once per interval).
    last_error_log: Option<Instant>,
}

impl Writer {
    fn new(db: Db, stats: Arc<StoreStats>, sync: bool) -> Self {
        let dir = db.path().parent().map(|p| p.to_path_buf()).unwrap_or_default();
        Self {
            db: Some(db),
            dir,
            stats,
            sync,
            dirty: false,
            last_sync: Instant::now(),
            last_error_log: None,
        }
    }

    fn run(mut self, rx: Receiver<Request>) {
        loop {
            let first = match rx.recv_timeout(OS_SYNC_INTERVAL) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    self.os_sync();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = Batch::default();
            self.take(first, &mut batch);
            for _ in 0..MAX_REQUESTS {
                match rx.try_recv() {
                    Ok(request) => self.take(request, &mut batch),
                    Err(_) => break,
                }
            }
            self.commit(batch);
            if !self.sync && self.last_sync.elapsed() >= OS_SYNC_INTERVAL {
                self.os_sync();
            }
        }
        self.os_sync();
    }

    fn take(&mut self, request: Request, batch: &mut Batch) {
        match request {
            Request::Ops(ops, waiter) => {
                for op in ops {
                    batch.add(op);
                }
                if let Some(waiter) = waiter {
                    batch.waiters.push(waiter);
                }
            }
            Request::Load(client_id, reply) => {
                // What was sent before the load is committed first, so the image holds it.
                self.commit(std::mem::take(batch));
                let image = match &self.db {
                    Some(db) => recover::read_session(db, &client_id),
                    None => Err(StoreError::Commit("the store could not be opened again".into())),
                };
                let _ = reply.send(image);
            }
        }
    }

    fn commit(&mut self, mut batch: Batch) {
        let result = if batch.is_empty() {
            Ok(())
        } else {
            let writes = batch.writes();
            let bytes: usize = writes
                .iter()
                .map(|(_, k, v)| k.len() + v.as_ref().map_or(0, Bytes::len))
                .sum();
            if self.db.is_none() {
                self.reopen();
            }
            let outcome = match self.db.as_mut() {
                Some(db) => db.commit(&batch.drops, &writes),
                None => Err("the store could not be opened again".to_string()),
            };
            match outcome {
                Ok(counts) => {
                    self.count(counts, bytes);
                    self.dirty = !self.sync;
                    Ok(())
                }
                Err(e) => {
                    self.failed(&e);
                    // Opened again before the next commit (see the module docs).
                    self.db = None;
                    Err(StoreError::Commit(e))
                }
            }
        };
        let s = &self.stats;
        s.cancelled.fetch_add(batch.cancelled, Ordering::Relaxed);
        for waiter in batch.waiters.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }

    fn count(&self, counts: Counts, bytes: usize) {
        let s = &self.stats;
        s.commits.fetch_add(1, Ordering::Relaxed);
        s.bytes_written.fetch_add(bytes as u64, Ordering::Relaxed);
        s.last_commit_ms.store(super::unix_ms(), Ordering::Relaxed);
        for (gauge, change) in [
            (&s.sessions, counts.sessions),
            (&s.messages, counts.messages),
            (&s.retained, counts.retained),
        ] {
            let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add_signed(change))
            });
        }
    }

    fn failed(&mut self, error: &str) {
        self.stats.commit_errors.fetch_add(1, Ordering::Relaxed);
        let due = self
            .last_error_log
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(10));
        if due {
            self.last_error_log = Some(Instant::now());
            tracing::error!(%error, "store: a commit failed; what it held was not acknowledged (logged once per 10 s; see store_commit_errors)");
        }
    }

    fn reopen(&mut self) {
        match Db::open(&self.dir, self.sync) {
            Ok(db) => {
                tracing::info!(dir = %self.dir.display(), "store: opened again after a failed commit");
                self.db = Some(db);
            }
            Err(e) => self.failed(&e.to_string()),
        }
    }

    fn os_sync(&mut self) {
        if !self.dirty {
            return;
        }
        let Some(db) = self.db.as_mut() else { return };
        match db.sync() {
            Ok(()) => {
                self.dirty = false;
                self.last_sync = Instant::now();
            }
            Err(e) => self.failed(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn an_insert_deleted_in_its_batch_is_never_written() {
        let mut batch = Batch::default();
        batch.add(Op::Insert(Table::Messages, b("k1"), b("v")));
        batch.add(Op::Insert(Table::Inflight, b("k1"), b("s")));
        batch.add(Op::Put(Table::Inflight, b("k1"), b("s2")));
        batch.add(Op::Delete(Table::Messages, b("k1")));
        batch.add(Op::Delete(Table::Inflight, b("k1")));
        batch.add(Op::Delete(Table::Messages, b("old")));
        let writes = batch.writes();
        assert_eq!(writes, vec![(Table::Messages, b("old"), None)]);
        assert_eq!(batch.cancelled, 2);
    }

    #[test]
    fn the_last_write_wins_and_a_drop_clears_what_came_before_it() {
        let mut batch = Batch::default();
        batch.add(Op::Put(Table::Sessions, b("c"), b("1")));
        batch.add(Op::Put(Table::Sessions, b("c"), b("2")));
        batch.add(Op::Insert(Table::Messages, keys::message("c", 1), b("m")));
        batch.add(Op::Put(Table::Retained, b("t"), b("r")));
        batch.add(Op::DropSession("c".into()));
        batch.add(Op::Insert(Table::Messages, keys::message("c", 2), b("late")));
        assert_eq!(batch.drops.len(), 1);
        let writes = batch.writes();
        assert_eq!(
            writes,
            vec![
                (Table::Messages, keys::message("c", 2), Some(b("late"))),
                (Table::Retained, b("t"), Some(b("r"))),
            ]
        );
    }
}
