//! The three backends behind one small trait, each written the way the broker would use it:
//! one atomic write per group commit, fsync'd or not, full scans and prefix scans in key order.

use std::path::Path;

use anyhow::Result;

/// Which store, and how it is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// redb 4.6.0, defaults (1-phase commit; a full repair after a crash).
    Redb,
    /// redb 4.6.0 with `set_quick_repair(true)` on every write transaction (2-phase commit and
    /// the allocator state saved in each commit, so no full repair after a crash).
    RedbQr,
    /// fjall 2.11.2, defaults.
    Fjall2,
    /// fjall 3.1.13, defaults.
    Fjall3,
    /// Reference, not a store: each commit appended to a plain file, then fsync (the file grows:
    /// every fsync also commits file-system metadata, as a journal in a sparse file does).
    RawAppend,
    /// Reference, not a store: each commit written in place in a preallocated, already written
    /// 16 MiB file, then fdatasync (no metadata to commit, as redb's steady state).
    RawOverwrite,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Redb, Kind::RedbQr, Kind::Fjall2, Kind::Fjall3];
    pub const RAW: [Kind; 2] = [Kind::RawAppend, Kind::RawOverwrite];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Redb => "redb",
            Kind::RedbQr => "redb-qr",
            Kind::Fjall2 => "fjall2",
            Kind::Fjall3 => "fjall3",
            Kind::RawAppend => "raw-append",
            Kind::RawOverwrite => "raw-overwrite",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Redb => "redb 4.6.0",
            Kind::RedbQr => "redb 4.6.0 quick_repair",
            Kind::Fjall2 => "fjall 2.11.2",
            Kind::Fjall3 => "fjall 3.1.13",
            Kind::RawAppend => "(reference) plain file, append + fsync",
            Kind::RawOverwrite => "(reference) plain file, overwrite in place + fdatasync",
        }
    }

    pub fn parse(s: &str) -> Result<Kind> {
        Kind::ALL
            .into_iter()
            .chain(Kind::RAW)
            .find(|k| k.name() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown backend {s:?} (redb, redb-qr, fjall2, fjall3)"))
    }

    pub fn is_redb(self) -> bool {
        matches!(self, Kind::Redb | Kind::RedbQr)
    }
}

/// The broker's three tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tbl {
    /// client id -> session record (~200 B)
    Sessions = 0,
    /// [len][client id][seq u64 BE] -> message (~120 B)
    Msgs = 1,
    /// same key as Msgs -> [packet id u16 BE][stage u8]
    Inflight = 2,
}

/// How a commit is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// fsync before commit returns (redb: `Durability::Immediate`, which calls fdatasync on its
    /// one file; fjall: `PersistMode::SyncAll`, fsync of the journal).
    All,
    /// fjall: `PersistMode::SyncData` (fdatasync of the journal). redb: same as `All`.
    Data,
    /// No fsync (redb: `Durability::None`; fjall: no persist, the journal is written to the OS).
    None,
}

pub enum Op {
    Put(Tbl, Vec<u8>, Vec<u8>),
    Del(Tbl, Vec<u8>),
}

pub trait Store {
    /// Applies `ops` in one atomic write, made durable as `sync` says before this returns.
    fn commit(&mut self, ops: &[Op], sync: Sync) -> Result<()>;
    /// Calls `f(key, value)` for every entry of `t` (whose key starts with `prefix`, if given),
    /// in key order.
    fn visit(&self, t: Tbl, prefix: Option<&[u8]>, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()>;

    /// Every entry of `t` in key order: (count, sum of value lengths).
    fn scan(&self, t: Tbl) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        self.visit(t, None, &mut |_, v| {
            n += 1;
            bytes += v.len() as u64;
        })?;
        Ok((n, bytes))
    }

    /// Entries of `t` whose key starts with `prefix`: (count, sum of value lengths).
    fn scan_prefix(&self, t: Tbl, prefix: &[u8]) -> Result<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        self.visit(t, Some(prefix), &mut |_, v| {
            n += 1;
            bytes += v.len() as u64;
        })?;
        Ok((n, bytes))
    }

    /// (count, FNV-1a over every key and value): detects silently changed contents.
    fn digest(&self, t: Tbl) -> Result<(u64, u64)> {
        let (mut n, mut h) = (0u64, 0xcbf2_9ce4_8422_2325u64);
        self.visit(t, None, &mut |k, v| {
            n += 1;
            for &b in k.iter().chain(v) {
                h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
            }
        })?;
        Ok((n, h))
    }
}

/// How to open.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOpts {
    /// Fail if the store does not exist (redb: `Builder::open`, not `create`).
    pub existing: bool,
    /// redb only: `Builder::set_check_integrity_on_open(true)`.
    pub check_integrity: bool,
}

/// Opens (or creates) `kind` in `dir`. The error is the crate's own error, as text.
pub fn open(kind: Kind, dir: &Path, opts: OpenOpts) -> std::result::Result<Box<dyn Store>, String> {
    match kind {
        Kind::Redb | Kind::RedbQr => {
            redb_store::open(dir, kind == Kind::RedbQr, opts).map(|s| Box::new(s) as Box<dyn Store>)
        }
        Kind::Fjall2 => fjall2_store::open(dir).map(|s| Box::new(s) as Box<dyn Store>),
        Kind::Fjall3 => fjall3_store::open(dir).map(|s| Box::new(s) as Box<dyn Store>),
        Kind::RawAppend | Kind::RawOverwrite => raw::open(dir, kind == Kind::RawOverwrite)
            .map(|s| Box::new(s) as Box<dyn Store>)
            .map_err(|e| format!("{e:#}")),
    }
}

/// Exclusive upper bound of the keys starting with `prefix` (None: no upper bound).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

pub mod redb_store {
    use std::path::Path;

    use anyhow::Result;
    use redb::{Builder, Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError};

    use super::{Op, OpenOpts, Store, Sync, Tbl};

    // Byte-string keys and values: the broker encodes its records itself.
    pub const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
    pub const MSGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("msgs");
    pub const INFLIGHT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("inflight");

    fn def(t: Tbl) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        match t {
            Tbl::Sessions => SESSIONS,
            Tbl::Msgs => MSGS,
            Tbl::Inflight => INFLIGHT,
        }
    }

    pub const FILE: &str = "store.redb";

    pub struct RedbStore {
        db: Database,
        quick_repair: bool,
    }

    pub fn open(dir: &Path, quick_repair: bool, opts: OpenOpts) -> Result<RedbStore, String> {
        let path = dir.join(FILE);
        let mut builder = Builder::new();
        builder.set_check_integrity_on_open(opts.check_integrity);
        // `create` opens an existing file too (and initialises a missing or empty one);
        // `open` fails on a missing file. Both take the file lock: a second open fails with
        // `DatabaseError::DatabaseAlreadyOpen`.
        let db = if opts.existing {
            builder.open(&path)
        } else {
            builder.create(&path)
        }
        .map_err(|e| format!("redb::DatabaseError::{e:?}: {e}"))?;
        Ok(RedbStore { db, quick_repair })
    }

    impl Store for RedbStore {
        fn commit(&mut self, ops: &[Op], sync: Sync) -> Result<()> {
            let mut tx = self.db.begin_write()?;
            // Immediate (the default): commit() returns after fsync. None: in memory until the
            // next Immediate commit.
            tx.set_durability(match sync {
                Sync::All | Sync::Data => Durability::Immediate,
                Sync::None => Durability::None,
            })?;
            if self.quick_repair {
                tx.set_quick_repair(true);
            }
            {
                let mut sessions = tx.open_table(SESSIONS)?;
                let mut msgs = tx.open_table(MSGS)?;
                let mut inflight = tx.open_table(INFLIGHT)?;
                for op in ops {
                    let (t, key) = match op {
                        Op::Put(t, k, _) | Op::Del(t, k) => (*t, k.as_slice()),
                    };
                    let table = match t {
                        Tbl::Sessions => &mut sessions,
                        Tbl::Msgs => &mut msgs,
                        Tbl::Inflight => &mut inflight,
                    };
                    match op {
                        Op::Put(_, _, v) => {
                            table.insert(key, v.as_slice())?;
                        }
                        Op::Del(..) => {
                            table.remove(key)?;
                        }
                    }
                }
            } // tables (and any guards) dropped before commit
            tx.commit()?;
            Ok(())
        }

        fn visit(&self, t: Tbl, prefix: Option<&[u8]>, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            let rtx = self.db.begin_read()?;
            let table = match rtx.open_table(def(t)) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            // Prefix scan = range [prefix, prefix_end(prefix)).
            let end = prefix.and_then(super::prefix_end);
            let range = match (prefix, &end) {
                (None, _) => table.iter()?,
                (Some(p), Some(end)) => table.range::<&[u8]>(p..end.as_slice())?,
                (Some(p), None) => table.range::<&[u8]>(p..)?,
            };
            for entry in range {
                let (k, v) = entry?;
                f(k.value(), v.value());
            }
            Ok(())
        }
    }
}

pub mod fjall2_store {
    use std::path::Path;

    use anyhow::Result;
    use fjall2::{Config, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};

    use super::{Op, Store, Sync, Tbl};

    pub struct Fjall2Store {
        keyspace: Keyspace,
        /// Sessions, Msgs, Inflight: each partition is its own LSM-tree, one shared journal.
        parts: [PartitionHandle; 3],
    }

    pub fn open(dir: &Path) -> Result<Fjall2Store, String> {
        let err = |e: fjall2::Error| format!("fjall::Error::{e:?}: {e}");
        let keyspace = Config::new(dir).open().map_err(err)?;
        let part = |name| keyspace.open_partition(name, PartitionCreateOptions::default());
        let parts = [
            part("sessions").map_err(err)?,
            part("msgs").map_err(err)?,
            part("inflight").map_err(err)?,
        ];
        Ok(Fjall2Store { keyspace, parts })
    }

    impl Store for Fjall2Store {
        fn commit(&mut self, ops: &[Op], sync: Sync) -> Result<()> {
            // A batch is atomic across partitions; with a durability it fsyncs the journal in
            // commit() (same as commit() then keyspace.persist(PersistMode::SyncAll)).
            let mut batch = self.keyspace.batch();
            batch = batch.durability(match sync {
                Sync::All => Some(PersistMode::SyncAll),
                Sync::Data => Some(PersistMode::SyncData),
                Sync::None => None,
            });
            for op in ops {
                match op {
                    Op::Put(t, k, v) => batch.insert(&self.parts[*t as usize], k.as_slice(), v.as_slice()),
                    Op::Del(t, k) => batch.remove(&self.parts[*t as usize], k.as_slice()),
                }
            }
            batch.commit()?;
            Ok(())
        }

        fn visit(&self, t: Tbl, prefix: Option<&[u8]>, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            let part = &self.parts[t as usize];
            let iter: Box<dyn Iterator<Item = fjall2::Result<fjall2::KvPair>>> = match prefix {
                None => Box::new(part.iter()),
                Some(p) => Box::new(part.prefix(p)),
            };
            for kv in iter {
                let (k, v) = kv?;
                f(&k, &v);
            }
            Ok(())
        }
    }
}

pub mod fjall3_store {
    use std::path::Path;

    use anyhow::Result;
    use fjall3::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

    use super::{Op, Store, Sync, Tbl};

    pub struct Fjall3Store {
        db: Database,
        /// Sessions, Msgs, Inflight: each keyspace is its own LSM-tree, one shared journal.
        spaces: [Keyspace; 3],
    }

    pub fn open(dir: &Path) -> Result<Fjall3Store, String> {
        let err = |e: fjall3::Error| format!("fjall::Error::{e:?}: {e}");
        // Takes an flock on <dir>/lock: a second open fails with `Error::Locked`.
        let db = Database::builder(dir).open().map_err(err)?;
        let ks = |name| db.keyspace(name, KeyspaceCreateOptions::default);
        let spaces = [
            ks("sessions").map_err(err)?,
            ks("msgs").map_err(err)?,
            ks("inflight").map_err(err)?,
        ];
        Ok(Fjall3Store { db, spaces })
    }

    impl Store for Fjall3Store {
        fn commit(&mut self, ops: &[Op], sync: Sync) -> Result<()> {
            let mut batch = self.db.batch();
            batch = batch.durability(match sync {
                Sync::All => Some(PersistMode::SyncAll),
                Sync::Data => Some(PersistMode::SyncData),
                Sync::None => None,
            });
            for op in ops {
                match op {
                    Op::Put(t, k, v) => batch.insert(&self.spaces[*t as usize], k.as_slice(), v.as_slice()),
                    Op::Del(t, k) => batch.remove(&self.spaces[*t as usize], k.as_slice()),
                }
            }
            batch.commit()?;
            Ok(())
        }

        fn visit(&self, t: Tbl, prefix: Option<&[u8]>, f: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            let space = &self.spaces[t as usize];
            let iter = match prefix {
                None => space.iter(),
                Some(p) => space.prefix(p),
            };
            for guard in iter {
                let (k, v) = guard.into_inner()?;
                f(&k, &v);
            }
            Ok(())
        }
    }
}

/// The reference "stores": the commit's bytes written to one plain file and synced, nothing else.
pub mod raw {
    use std::fs::{File, OpenOptions};
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::path::Path;

    use anyhow::{bail, Result};

    use super::{Op, Store, Sync, Tbl};

    const SIZE: u64 = 16 << 20;

    pub struct RawFile {
        file: File,
        overwrite: bool,
        pos: u64,
        buf: Vec<u8>,
    }

    pub fn open(dir: &Path, overwrite: bool) -> Result<RawFile> {
        let path = dir.join("raw.log");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(!overwrite)
            .write(true)
            .open(path)?;
        if overwrite {
            // In 4 KiB writes: the page cache then holds 4 KiB folios, as for redb's page writes
            // (a large folio re-dirtied by a small write is counted whole in write_bytes).
            let page = [0u8; 4096];
            for _ in 0..SIZE / 4096 {
                file.write_all(&page)?;
            }
            file.sync_all()?;
        }
        Ok(RawFile {
            file,
            overwrite,
            pos: 0,
            buf: Vec::new(),
        })
    }

    impl Store for RawFile {
        fn commit(&mut self, ops: &[Op], sync: Sync) -> Result<()> {
            self.buf.clear();
            for op in ops {
                match op {
                    Op::Put(t, k, v) => {
                        self.buf.push(*t as u8);
                        self.buf.extend_from_slice(k);
                        self.buf.extend_from_slice(v);
                    }
                    Op::Del(t, k) => {
                        self.buf.push(*t as u8 | 0x80);
                        self.buf.extend_from_slice(k);
                    }
                }
            }
            if self.overwrite {
                if self.pos + self.buf.len() as u64 > SIZE {
                    self.pos = 0;
                }
                self.file.write_all_at(&self.buf, self.pos)?;
                self.pos += self.buf.len() as u64;
                if sync != Sync::None {
                    self.file.sync_data()?;
                }
            } else {
                self.file.write_all(&self.buf)?;
                if sync != Sync::None {
                    self.file.sync_all()?;
                }
            }
            Ok(())
        }

        fn visit(&self, _: Tbl, _: Option<&[u8]>, _: &mut dyn FnMut(&[u8], &[u8])) -> Result<()> {
            bail!("a plain file cannot be scanned")
        }
    }
}
