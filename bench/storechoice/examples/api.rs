//! The API of each candidate as the broker would use it, compile-tested and run:
//! `cargo run --release --example api`. Each section asserts what it claims (lock errors,
//! prefix scans, deletes), so this doubles as a check of the snippets in README.md.

use std::path::Path;

use anyhow::Result;

/// [len u8][client id][seq u64 BE]: the length byte keeps "a" from prefixing "ab".
fn msg_key(client: &str, seq: u64) -> Vec<u8> {
    let mut k = vec![client.len() as u8];
    k.extend_from_slice(client.as_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn client_prefix(client: &str) -> Vec<u8> {
    let mut k = vec![client.len() as u8];
    k.extend_from_slice(client.as_bytes());
    k
}

/// Smallest key greater than every key starting with `prefix` (None: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

// ------------------------------------------------------------------------------------------
mod redb_api {
    use super::*;
    use redb::{
        Builder, Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
        TableDefinition,
    };

    const MSGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("msgs");
    const INFLIGHT: TableDefinition<&[u8], &[u8]> = TableDefinition::new("inflight");

    pub fn run(dir: &Path) -> Result<()> {
        let path = dir.join("store.redb");

        // Open (creates the file if missing). Builder::open() instead fails on a missing file.
        let db: Database = Builder::new()
            // .set_cache_size(64 << 20)           // default 1 GiB
            // .set_check_integrity_on_open(true)  // verify every page on every open
            .create(&path)?;

        // One group commit = one write transaction, fsync'd (fdatasync) before commit() returns.
        let mut tx = db.begin_write()?;
        tx.set_durability(Durability::Immediate)?; // the default; Durability::None = no fsync
                                                   // tx.set_quick_repair(true); // 2-phase commit + allocator state per commit: ~no repair
                                                   //                            // after a crash, but ~2x slower commits at small batches
        {
            let mut msgs = tx.open_table(MSGS)?; // creates the table on first use
            let mut inflight = tx.open_table(INFLIGHT)?;
            for seq in 1..=3u64 {
                let key = msg_key("sub-1", seq);
                msgs.insert(key.as_slice(), b"message bytes".as_slice())?;
                inflight.insert(key.as_slice(), [0u8, 7, 1].as_slice())?; // packet id 7, stage 1
            }
            msgs.insert(msg_key("sub-10", 1).as_slice(), b"other client".as_slice())?;
            // Delete (acknowledged): remove() returns the old value, if any.
            let old = msgs.remove(msg_key("sub-1", 1).as_slice())?;
            assert!(old.is_some());
            inflight.remove(msg_key("sub-1", 1).as_slice())?;
        } // tables must be dropped before commit()
        tx.commit()?;

        // Prefix scan in key order = range [prefix, prefix_end(prefix)).
        let rtx = db.begin_read()?; // needs `ReadableDatabase` in scope
        let msgs = rtx.open_table(MSGS)?; // TableError::TableDoesNotExist if never written
        let prefix = client_prefix("sub-1");
        let end = prefix_end(&prefix).unwrap();
        let mut seqs = Vec::new();
        for entry in msgs.range::<&[u8]>(prefix.as_slice()..end.as_slice())? {
            let (k, v) = entry?; // AccessGuard<&[u8]>
            let k: &[u8] = k.value();
            seqs.push(u64::from_be_bytes(k[k.len() - 8..].try_into()?));
            let _value: &[u8] = v.value();
        }
        assert_eq!(seqs, [2, 3]); // "sub-10" is not under "sub-1"
        assert_eq!(msgs.len()?, 3); // ReadableTableMetadata
        let mut n = 0;
        for entry in msgs.iter()? {
            // full scan in key order (ReadableTable); also msgs.first()? / msgs.last()?
            let (_k, _v) = entry?;
            n += 1;
        }
        assert_eq!(n, 3);
        drop((msgs, rtx));

        // A second open, in this process or another, while `db` is open:
        match Builder::new().create(&path) {
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                println!("redb second open: {}", DatabaseError::DatabaseAlreadyOpen)
            }
            Err(e) => anyhow::bail!("unexpected: {e}"),
            Ok(_) => anyhow::bail!("redb opened twice"),
        }
        db.close()?; // or drop(db): a clean close means no repair on the next open
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
mod fjall3_api {
    use super::*;
    use fjall3::{Database, Error, KeyspaceCreateOptions, PersistMode};

    pub fn run(dir: &Path) -> Result<()> {
        // Open or create the database (a directory); takes an flock on <dir>/lock.
        let db = Database::builder(dir).open()?;
        // Each keyspace is its own LSM-tree; all share one journal, so a batch is atomic across them.
        let msgs = db.keyspace("msgs", KeyspaceCreateOptions::default)?;
        let inflight = db.keyspace("inflight", KeyspaceCreateOptions::default)?;

        // One group commit = one write batch; with a durability, commit() fsyncs the journal.
        let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
        for seq in 1..=3u64 {
            let key = msg_key("sub-1", seq);
            batch.insert(&msgs, key.as_slice(), b"message bytes".as_slice());
            batch.insert(&inflight, key.as_slice(), [0u8, 7, 1].as_slice());
        }
        batch.insert(&msgs, msg_key("sub-10", 1), b"other client".as_slice());
        batch.remove(&msgs, msg_key("sub-1", 1)); // a tombstone; no old value returned
        batch.remove(&inflight, msg_key("sub-1", 1));
        batch.commit()?;
        // Equivalent: commit without durability, then db.persist(PersistMode::SyncAll)?

        // Prefix scan in key order; items are Guards.
        let mut seqs = Vec::new();
        for guard in msgs.prefix(client_prefix("sub-1")) {
            let (k, _v) = guard.into_inner()?; // (Slice, Slice); Slice derefs to [u8]
            seqs.push(u64::from_be_bytes(k[k.len() - 8..].try_into()?));
        }
        assert_eq!(seqs, [2, 3]);
        // Also: msgs.range(a..b), msgs.iter(), msgs.get(key)?, single-key msgs.insert/remove.

        // A second open, in this process or another, while `db` is open
        // (fjall retries 3 times, 100 ms apart, before giving up):
        match Database::builder(dir).open() {
            Err(Error::Locked) => println!("fjall 3 second open: {}", Error::Locked),
            Err(e) => anyhow::bail!("unexpected: {e}"),
            Ok(_) => anyhow::bail!("fjall 3 opened twice"),
        }
        drop((msgs, inflight, db));
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
mod fjall2_api {
    use super::*;
    use fjall2::{Config, PartitionCreateOptions, PersistMode};

    pub fn run(dir: &Path) -> Result<()> {
        let keyspace = Config::new(dir).open()?;
        let msgs = keyspace.open_partition("msgs", PartitionCreateOptions::default())?;
        let inflight = keyspace.open_partition("inflight", PartitionCreateOptions::default())?;

        let mut batch = keyspace.batch().durability(Some(PersistMode::SyncAll));
        for seq in 1..=3u64 {
            let key = msg_key("sub-1", seq);
            batch.insert(&msgs, key.as_slice(), b"message bytes".as_slice());
            batch.insert(&inflight, key.as_slice(), [0u8, 7, 1].as_slice());
        }
        batch.remove(&msgs, msg_key("sub-1", 1));
        batch.remove(&inflight, msg_key("sub-1", 1));
        batch.commit()?;
        // Equivalent: batch.commit()? then keyspace.persist(PersistMode::SyncAll)?

        let mut seqs = Vec::new();
        for kv in msgs.prefix(client_prefix("sub-1")) {
            let (k, _v) = kv?; // (Slice, Slice)
            seqs.push(u64::from_be_bytes(k[k.len() - 8..].try_into()?));
        }
        assert_eq!(seqs, [2, 3]);

        // fjall 2 takes no lock: a second open of the same directory succeeds.
        let second = Config::new(dir).open();
        println!(
            "fjall 2 second open: {}",
            if second.is_ok() {
                "succeeds (no lock)"
            } else {
                "refused"
            }
        );
        drop(second);
        drop((msgs, inflight, keyspace));
        Ok(())
    }
}

fn main() -> Result<()> {
    let base = std::env::temp_dir().join(format!("storechoice-api-{}", std::process::id()));
    for d in ["redb", "fjall3", "fjall2"] {
        std::fs::create_dir_all(base.join(d))?;
    }
    redb_api::run(&base.join("redb"))?;
    fjall3_api::run(&base.join("fjall3"))?;
    fjall2_api::run(&base.join("fjall2"))?;
    // fjall 3 opening fjall 2's directory: the formats differ.
    match fjall3::Database::builder(base.join("fjall2")).open() {
        Ok(_) => println!("fjall 3 opens a fjall 2 directory"),
        Err(e) => println!("fjall 3 on a fjall 2 directory: {e}"),
    }
    std::fs::remove_dir_all(&base)?;
    println!("all API checks passed");
    Ok(())
}
