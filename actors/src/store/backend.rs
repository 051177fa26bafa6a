//! The embedded database under the store: redb, one file (`<storage.dir>/arbor.redb`), one
//! write transaction per group commit (bench/storechoice measured it against fjall).
//!
//! redb takes an exclusive lock on the file (a second arbor on the same directory is refused),
//! checksums its pages and commits copy-on-write, so a crash at any moment leaves the last
//! committed transaction; opening after a crash repairs the allocator state (0.2 s for a
//! 272 MiB store in bench/storechoice; `quick_repair` would save that at 30–45 % of the commit
//! rate, so it is off). Every open checks the whole file's checksums first: redb does not verify
//! pages on a plain open and would panic on reading a damaged one later; checked, a damaged
//! store is refused at boot with its error (0.15 s per 272 MiB). Every commit is a durable one
//! for redb; whether it is fsynced is the file's choice ([`super::file`]: always with
//! `durability = "sync"`, every second with `"os"`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError,
};

use super::file::DbFile;
use super::keys::{self, Table};
use super::StoreError;

/// The database file's name under `storage.dir`.
pub const FILE: &str = "arbor.redb";

/// An open table of the write transaction, and which one it is.
type OpenTable<'tx> = (Table, redb::Table<'tx, &'static [u8], &'static [u8]>);

/// What a scan calls with each row; an error stops the scan.
pub(super) type Visit<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<(), String>;

fn def(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

/// The open database.
pub(super) struct Db {
    db: Database,
    path: PathBuf,
    /// The file, for the periodic fsync of `durability = "os"`.
    file: Arc<std::fs::File>,
}

impl Db {
    /// Opens (creating it and its directory if missing) the database under `dir`; with `fsync`
    /// every commit is fsynced before it returns.
    pub fn open(dir: &Path, fsync: bool) -> Result<Db, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(dir.to_path_buf(), format!("cannot create the directory: {e}")))?;
        let path = dir.join(FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Io(path.clone(), e.to_string()))?;
        let opened = DbFile::open(file, fsync).and_then(|(backend, file)| {
            let db = Database::builder()
                .set_check_integrity_on_open(true)
                .create_with_backend(backend)?;
            Ok((db, file))
        });
        let (db, file) = opened.map_err(|e| open_error(&path, e))?;
        Ok(Db { db, path, file })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// In one transaction: removes each dropped session's rows, then applies `writes` (`None`
    /// deletes); written through to the operating system (and fsynced, with `fsync`) before it
    /// returns. Returns how many rows of each table it added (negative: removed).
    pub fn commit(
        &mut self,
        drops: &[Arc<str>],
        writes: &[(Table, Bytes, Option<Bytes>)],
    ) -> Result<Counts, String> {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let mut tx = self.db.begin_write().map_err(|x| e(&x))?;
        tx.set_durability(Durability::Immediate).map_err(|x| e(&x))?;
        let mut counts = Counts::default();
        {
            for client_id in drops {
                let mut sessions = tx.open_table(def(Table::Sessions)).map_err(|x| e(&x))?;
                let gone = sessions
                    .remove(client_id.as_bytes())
                    .map_err(|x| e(&x))?
                    .is_some();
                drop(sessions);
                counts.add(Table::Sessions, -i64::from(gone));
                let start = keys::prefix(client_id);
                let mut end = start.clone();
                if let Some(last) = end.last_mut() {
                    *last = 1;
                }
                for table in Table::PER_SESSION {
                    let mut t = tx.open_table(def(table)).map_err(|x| e(&x))?;
                    let range = start.as_slice()..end.as_slice();
                    let mut n = 0u64;
                    t.retain_in(range, |_, _| {
                        n += 1;
                        false
                    })
                    .map_err(|x| e(&x))?;
                    counts.add(table, -(n as i64));
                }
            }
            let mut open: Option<OpenTable<'_>> = None;
            for (table, key, value) in writes {
                if open.as_ref().is_none_or(|(t, _)| t != table) {
                    open = Some((*table, tx.open_table(def(*table)).map_err(|x| e(&x))?));
                }
                let Some((_, t)) = open.as_mut() else { continue };
                let change = match value {
                    Some(v) => t
                        .insert(key.as_ref(), v.as_ref())
                        .map(|old| i64::from(old.is_none())),
                    None => t.remove(key.as_ref()).map(|old| -i64::from(old.is_some())),
                }
                .map_err(|x| e(&x))?;
                counts.add(*table, change);
            }
        }
        tx.commit().map_err(|x| e(&x))?;
        Ok(counts)
    }

    /// Makes everything committed durable (durability `os`): fsyncs the file.
    pub fn sync(&mut self) -> Result<(), String> {
        self.file.sync_data().map_err(|e| e.to_string())
    }

    /// The value of `key` in `table`.
    pub fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let rtx = self.db.begin_read().map_err(|x| x.to_string())?;
        let t = match rtx.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(x) => return Err(x.to_string()),
        };
        Ok(t.get(key).map_err(|x| x.to_string())?.map(|v| v.value().to_vec()))
    }

    /// Calls `f` with every row of `table` whose key starts with `prefix`, in key order; stops
    /// at `f`'s first error.
    pub fn scan(&self, table: Table, prefix: &[u8], f: Visit<'_>) -> Result<(), String> {
        let rtx = self.db.begin_read().map_err(|x| x.to_string())?;
        let t = match rtx.open_table(def(table)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(x) => return Err(x.to_string()),
        };
        let end = prefix_end(prefix);
        let range = match &end {
            _ if prefix.is_empty() => t.iter(),
            Some(end) => t.range::<&[u8]>(prefix..end.as_slice()),
            None => t.range::<&[u8]>(prefix..),
        }
        .map_err(|x| x.to_string())?;
        for row in range {
            let (k, v) = row.map_err(|x| x.to_string())?;
            f(k.value(), v.value())?;
        }
        Ok(())
    }
}

/// Rows a commit added to the tables the gauges show (negative: removed).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub sessions: i64,
    pub messages: i64,
    pub retained: i64,
}

impl Counts {
    fn add(&mut self, table: Table, n: i64) {
        match table {
            Table::Sessions => self.sessions += n,
            Table::Messages => self.messages += n,
            Table::Retained => self.retained += n,
            Table::Inflight | Table::Receipts | Table::Meta => {}
        }
    }
}

/// The first key after every key that starts with `prefix` (None: there is none).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// What an open that failed says, naming the file.
fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    let path = path.to_path_buf();
    match e {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => StoreError::Locked(path),
        DatabaseError::UpgradeRequired(v) => StoreError::Corrupt(
            path,
            format!("written in redb file format {v}, which this arbor does not read"),
        ),
        DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            StoreError::Corrupt(path, format!("not a store, or damaged: {io}"))
        }
        DatabaseError::Storage(redb::StorageError::Io(io)) => StoreError::Io(path, io.to_string()),
        DatabaseError::Storage(redb::StorageError::Corrupted(what)) => {
            StoreError::Corrupt(path, format!("damaged: {what}"))
        }
        other => StoreError::Corrupt(path, other.to_string()),
    }
}
