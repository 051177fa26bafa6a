//! A supervisor's children: the table the supervisor actor writes and the tree query reads.
//!
//! OTP keeps static children in an ordered list and dynamic ones in a pid→args map. We do the same
//! (`statics` in start order, `dynamics` keyed by a start sequence so listings keep start order),
//! plus `by_actor` to find the child a supervision event is about. The table sits behind a mutex
//! shared with every [`crate::SupervisorRef`] so that `which_children` and `tree()` answer even
//! while the supervisor is busy restarting or shutting down (OTP's supervisor answers
//! `which_children` between restart attempts; a read of the table is the same thing, without a
//! round trip). The lock is held only for in-memory updates, never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use ractor::{ActorCell, ActorId};
use serde::Serialize;

use crate::events::Events;
use crate::exit::ExitReason;
use crate::spec::{ChildKind, Restart, Shutdown, StartFn, StartOnce, SupFlags};
use crate::supervisor::SupervisorRef;

/// Where a child sits in its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// Index into the static children (start order).
    Static(usize),
    /// Start sequence of a dynamic child.
    Dynamic(u64),
}

/// A child's state as the tree shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildStatus {
    /// Its start function is running.
    Starting,
    /// Alive.
    Running,
    /// A restart failed; the supervisor tries again (OTP's `restarting`).
    Restarting,
    /// Not running and not being restarted (terminated, or ended and not restarted).
    Stopped,
    /// Its start function returned `ignore`.
    Ignored,
}

/// A supervisor's own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SupStatus {
    /// Starting its static children.
    Starting,
    /// Running.
    Running,
    /// Stopping its children (an orderly stop or giving up).
    ShuttingDown,
    /// Gone.
    Stopped,
}

/// How a child is started again.
pub(crate) enum ChildStart {
    Repeat(StartFn),
    Once(Option<StartOnce>),
    /// A temporary child's start arguments are not kept (OTP:
    /// `do_not_save_start_parameters_for_temporary_children`).
    Forgotten,
}

/// One child. Its path is not stored: it is the supervisor's path and the id (see
/// [`Child::path`]), and a supervisor of connections keeps tens of thousands of these.
pub(crate) struct Child {
    pub id: String,
    pub restart: Restart,
    pub shutdown: Shutdown,
    pub kind: ChildKind,
    pub start: ChildStart,
    pub cell: Option<ActorCell>,
    pub sup: Option<SupervisorRef>,
    /// How many times the supervisor restarted this child (kept across its incarnations).
    pub restarts: u64,
    pub status: ChildStatus,
    pub last_exit: Option<ExitReason>,
}

impl Child {
    pub fn new(id: String, restart: Restart, shutdown: Shutdown, kind: ChildKind, start: ChildStart) -> Self {
        Self {
            id,
            restart,
            shutdown,
            kind,
            start,
            cell: None,
            sup: None,
            restarts: 0,
            status: ChildStatus::Stopped,
            last_exit: None,
        }
    }

    /// Its stable path, below its supervisor's `parent` path.
    pub fn path(&self, parent: &str) -> String {
        crate::path::child_path(parent, &self.id)
    }
}

pub(crate) struct Inner {
    pub status: SupStatus,
    /// Restarts this supervisor performed (each counted toward its intensity).
    pub child_restarts: u64,
    pub statics: Vec<Child>,
    /// Boxed: a B-tree filled in key order leaves its nodes about half empty, and a node slot
    /// of a pointer wastes less than one of a whole `Child`.
    pub dynamics: BTreeMap<u64, Box<Child>>,
    pub next_seq: u64,
    pub by_actor: HashMap<ActorId, Key>,
    /// The last abnormal exit of a child, `path: reason`.
    pub last_failure: Option<String>,
}

impl Inner {
    pub fn get(&self, key: Key) -> Option<&Child> {
        match key {
            Key::Static(i) => self.statics.get(i),
            Key::Dynamic(seq) => self.dynamics.get(&seq).map(|c| &**c),
        }
    }

    pub fn get_mut(&mut self, key: Key) -> Option<&mut Child> {
        match key {
            Key::Static(i) => self.statics.get_mut(i),
            Key::Dynamic(seq) => self.dynamics.get_mut(&seq).map(|c| &mut **c),
        }
    }

    /// Forgets a child: a dynamic one leaves the table, a static temporary one is marked gone
    /// (its index must stay stable for `by_actor`), as OTP deletes a temporary child's spec.
    pub fn forget(&mut self, key: Key) {
        match key {
            Key::Dynamic(seq) => {
                self.dynamics.remove(&seq);
            }
            Key::Static(i) => {
                if let Some(child) = self.statics.get_mut(i) {
                    child.start = ChildStart::Forgotten;
                    child.status = ChildStatus::Stopped;
                }
            }
        }
    }

    /// Children in start order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &Child)> {
        let statics = self.statics.iter().enumerate().map(|(i, c)| (Key::Static(i), c));
        let dynamics = self.dynamics.iter().map(|(s, c)| (Key::Dynamic(*s), &**c));
        statics.chain(dynamics)
    }

    /// A static child is listed unless it is a temporary child that ended (spec deleted).
    pub fn is_listed(child: &Child) -> bool {
        !matches!(child.start, ChildStart::Forgotten) || child.cell.is_some()
    }
}

/// State shared between a supervisor actor and its handles.
pub(crate) struct Shared {
    pub path: String,
    pub flags: SupFlags,
    /// The tree's event log, where this supervisor records what it does.
    pub events: Events,
    pub inner: Mutex<Inner>,
}

impl Shared {
    pub fn new(path: String, flags: SupFlags, events: Events) -> Arc<Self> {
        Arc::new(Self {
            path,
            flags,
            events,
            inner: Mutex::new(Inner {
                status: SupStatus::Starting,
                child_restarts: 0,
                statics: Vec::new(),
                dynamics: BTreeMap::new(),
                next_seq: 0,
                by_actor: HashMap::new(),
                last_failure: None,
            }),
        })
    }
}
