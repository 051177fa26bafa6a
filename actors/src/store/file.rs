//! The database file under redb: redb's own file backend (its locks included), with the one
//! change `durability = "os"` needs: a commit's fsync is skipped, and the writer fsyncs the
//! file every second instead.
//!
//! redb's only other level, `Durability::None`, keeps a commit in redb's memory until a later
//! durable one, so a killed process would lose it; here every commit is written through to the
//! operating system (its header too), so it survives the process and only a power loss or a
//! kernel crash can take the last second.

use std::fs::File;
use std::io;
use std::ops::Bound;
use std::sync::Arc;

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// redb's file backend, fsyncing only when `fsync` is set.
#[derive(Debug)]
pub(super) struct DbFile {
    inner: FileBackend,
    fsync: bool,
}

impl DbFile {
    /// The backend over `file`, and a second handle on it for the periodic fsync.
    pub fn open(file: File, fsync: bool) -> Result<(DbFile, Arc<File>), redb::DatabaseError> {
        let for_sync = Arc::new(
            file.try_clone()
                .map_err(|e| redb::DatabaseError::Storage(e.into()))?,
        );
        let inner = FileBackend::new(file)?;
        Ok((DbFile { inner, fsync }, for_sync))
    }
}

impl StorageBackend for DbFile {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        match self.fsync {
            true => self.inner.sync_data(),
            false => Ok(()),
        }
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.inner.write(offset, data)
    }
    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }
    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }
    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }
    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }
    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }
    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
