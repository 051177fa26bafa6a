//! `[storage]`: where persistent sessions, their messages and retained messages are kept
//! (docs/durability.md).

use std::path::PathBuf;

use serde::Deserialize;

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `disk` (durable) or `memory` (lost when the process ends).
    pub backend: StorageBackend,
    /// The store's directory (`disk`), created if missing; relative to the working directory.
    pub dir: PathBuf,
    /// When a commit counts as durable (`disk`).
    pub durability: Durability,
}

/// Where the store lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// An embedded database under `storage.dir`.
    Disk,
    /// Nothing is stored: a restart loses sessions, queues and retained messages.
    Memory,
}

/// When a commit counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync before any acknowledgement: nothing acknowledged is lost, even on power loss.
    Sync,
    /// Written to the operating system before any acknowledgement, fsynced every second:
    /// survives a crash of the process (kill -9), may lose the last second on power loss.
    Os,
}

impl StorageConfig {
    /// Whether the store is on disk.
    pub fn is_disk(&self) -> bool {
        self.backend == StorageBackend::Disk
    }
}

impl Durability {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Sync => "sync",
            Durability::Os => "os",
        }
    }
}
