//! Child specifications and supervisor flags: data, checked once.
//!
//! OTP's `child_spec()` is `#{id, start, restart, shutdown, type}`; ours is [`ChildSpec`]. The start
//! function spawns the child linked to the supervisor (the [`StartCtx`] carries the supervisor's
//! cell and the child's path) and returns it, `Ok(None)` for OTP's `ignore`, or an error. It runs
//! again on every restart, so whatever must survive a restart is captured by the closure, not
//! created inside it (the ETS-heir pattern: the supervisor's spec owns the table).
//!
//! Defaults follow OTP: `Permanent`; shutdown 5000 ms for a worker and `Infinity` for a
//! supervisor (a supervisor needs the time to stop its own children in order).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorCell, ActorRef};
use serde::Serialize;

use crate::error::StartError;
use crate::events::Events;
use crate::fault::FaultHook;
use crate::supervisor::SupervisorRef;

/// When a child that ended is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Always restarted.
    Permanent,
    /// Restarted only after an abnormal exit (killed or failed).
    Transient,
    /// Never restarted; forgotten when it ends.
    Temporary,
}

/// How a child is stopped by its supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Killed at once, no cleanup (`exit(Child, kill)`).
    BrutalKill,
    /// Asked to stop; killed if it has not stopped after this long.
    Timeout(Duration),
    /// Asked to stop and waited for, however long it takes (for supervisors).
    Infinity,
}

/// Whether a child is a worker or a supervisor (it changes the default shutdown and lets the
/// tree view descend into it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildKind {
    /// A worker actor.
    Worker,
    /// A supervisor of the engine.
    Supervisor,
}

/// How a supervisor reacts when a child has to be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Restart only the child that ended.
    OneForOne,
    /// Stop all other children (reverse order), then start all (in order).
    OneForAll,
    /// Stop the children started after the one that ended (reverse order), then start it and
    /// them again (in order).
    RestForOne,
    /// Children are added at run time from one template and are all alike; one_for_one.
    SimpleOneForOne,
}

/// A supervisor's strategy and restart intensity (`max_restarts` in `max_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SupFlags {
    /// The restart strategy.
    pub strategy: Strategy,
    /// Restarts allowed inside the window before the supervisor gives up.
    pub max_restarts: u32,
    /// The window's length in seconds.
    pub max_seconds: u64,
}

impl SupFlags {
    /// Flags with a strategy and intensity.
    pub fn new(strategy: Strategy, max_restarts: u32, max_seconds: u64) -> Self {
        Self {
            strategy,
            max_restarts,
            max_seconds,
        }
    }
}

/// What a start function is handed.
#[derive(Clone)]
pub struct StartCtx {
    /// The supervisor to link the child to (`Actor::spawn_linked(.., ctx.supervisor.clone())`).
    pub supervisor: ActorCell,
    /// The child's stable path, for its logs and its own children.
    pub path: String,
    /// The fault plan's hook for this path; the child calls `fault.check()` in its handlers.
    pub fault: FaultHook,
    /// The tree's event log (a supervisor child records its own children's events there).
    pub events: Events,
}

/// A started child: its cell and, for a supervisor, its handle (so the tree can descend).
pub struct Started {
    /// The child's cell.
    pub cell: ActorCell,
    /// Set when the child is a supervisor of this engine.
    pub supervisor: Option<SupervisorRef>,
}

impl<M> From<ActorRef<M>> for Started {
    fn from(actor: ActorRef<M>) -> Self {
        Self {
            cell: actor.get_cell(),
            supervisor: None,
        }
    }
}

impl From<SupervisorRef> for Started {
    fn from(sup: SupervisorRef) -> Self {
        Self {
            cell: sup.cell(),
            supervisor: Some(sup),
        }
    }
}

/// The future a start function returns: the child, `None` for OTP's `ignore`, or an error.
pub type StartFuture = Pin<Box<dyn Future<Output = Result<Option<Started>, StartError>> + Send>>;
/// Where a supervisor child publishes its live handle (see [`ChildSpec::supervisor_in`]).
pub type SupervisorSlot = crate::slot::Slot<SupervisorRef>;
/// A start function that can run again on every restart.
pub type StartFn = Arc<dyn Fn(StartCtx) -> StartFuture + Send + Sync>;
/// A start function that runs once (a temporary dynamic child, whose start arguments such as a
/// socket cannot be kept: OTP does not save them either).
pub type StartOnce = Box<dyn FnOnce(StartCtx) -> StartFuture + Send>;

/// Wraps an async closure as a [`StartFn`].
pub fn start_fn<F, Fut>(f: F) -> StartFn
where
    F: Fn(StartCtx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Started>, StartError>> + Send + 'static,
{
    Arc::new(move |ctx| Box::pin(f(ctx)))
}

/// A static child of a supervisor.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique among its siblings; one or more path segments (`router`, `sm/3`).
    pub id: String,
    /// Spawns the child linked to the supervisor.
    pub start: StartFn,
    /// When it is restarted.
    pub restart: Restart,
    /// How it is stopped.
    pub shutdown: Shutdown,
    /// Worker or supervisor.
    pub kind: ChildKind,
}

impl ChildSpec {
    /// A permanent worker with a 5000 ms shutdown (OTP's defaults).
    pub fn worker(id: impl Into<String>, start: StartFn) -> Self {
        Self {
            id: id.into(),
            start,
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_millis(5000)),
            kind: ChildKind::Worker,
        }
    }

    /// A permanent supervisor child with an infinite shutdown, built fresh from `spec` on every
    /// (re)start.
    pub fn supervisor<F>(id: impl Into<String>, spec: F) -> Self
    where
        F: Fn() -> crate::SupervisorSpec + Send + Sync + 'static,
    {
        Self::supervisor_in(id, SupervisorSlot::default(), spec)
    }

    /// Like [`ChildSpec::supervisor`], and on every (re)start stores the new handle in `slot`, so
    /// siblings always reach the live incarnation (esockd's listener finds its acceptor_sup so).
    pub fn supervisor_in<F>(id: impl Into<String>, slot: SupervisorSlot, spec: F) -> Self
    where
        F: Fn() -> crate::SupervisorSpec + Send + Sync + 'static,
    {
        let spec = Arc::new(spec);
        let start = start_fn(move |ctx: StartCtx| {
            let spec = spec();
            let slot = slot.clone();
            async move {
                let sup = crate::Supervisor::start_linked(ctx, spec).await?;
                slot.set(sup.clone());
                Ok(Some(Started::from(sup)))
            }
        });
        Self {
            id: id.into(),
            start,
            restart: Restart::Permanent,
            shutdown: Shutdown::Infinity,
            kind: ChildKind::Supervisor,
        }
    }

    /// Sets the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets the shutdown.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }
}

/// The template of a `SimpleOneForOne` supervisor: every dynamic child shares these.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// Restart type of every child.
    pub restart: Restart,
    /// Shutdown of every child.
    pub shutdown: Shutdown,
    /// Kind of every child.
    pub kind: ChildKind,
}

/// How a dynamic child is started.
pub enum DynStart {
    /// Runs again on restart (needed for permanent and transient children).
    Repeat(StartFn),
    /// Runs once (temporary children).
    Once(StartOnce),
}

/// A child added at run time to a `SimpleOneForOne` supervisor.
pub struct DynamicChild {
    /// Its id (`connection/127.0.0.1:5000`); not required to be unique.
    pub id: String,
    /// How to start it.
    pub start: DynStart,
}

impl DynamicChild {
    /// A child started once (for a temporary template).
    pub fn once<F, Fut>(id: impl Into<String>, f: F) -> Self
    where
        F: FnOnce(StartCtx) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<Started>, StartError>> + Send + 'static,
    {
        Self {
            id: id.into(),
            start: DynStart::Once(Box::new(move |ctx| Box::pin(f(ctx)))),
        }
    }

    /// A child that can be restarted.
    pub fn repeat(id: impl Into<String>, start: StartFn) -> Self {
        Self {
            id: id.into(),
            start: DynStart::Repeat(start),
        }
    }
}

/// Everything a supervisor is started with.
pub struct SupervisorSpec {
    /// Strategy and intensity.
    pub flags: SupFlags,
    /// Static children, started in this order and stopped in reverse.
    pub children: Vec<ChildSpec>,
    /// The template, for `SimpleOneForOne` (required there, refused elsewhere).
    pub template: Option<Template>,
}

impl SupervisorSpec {
    /// A supervisor of static children.
    pub fn new(flags: SupFlags, children: Vec<ChildSpec>) -> Self {
        Self {
            flags,
            children,
            template: None,
        }
    }

    /// A `SimpleOneForOne` supervisor with this template.
    pub fn simple(max_restarts: u32, max_seconds: u64, template: Template) -> Self {
        Self {
            flags: SupFlags::new(Strategy::SimpleOneForOne, max_restarts, max_seconds),
            children: Vec::new(),
            template: Some(template),
        }
    }

    /// OTP's `check_childspecs` / `sup_flags` validation: precise reasons for bad specs.
    pub fn validate(&self) -> Result<(), StartError> {
        match (self.flags.strategy, &self.template) {
            (Strategy::SimpleOneForOne, None) => {
                return Err(StartError::Invalid("simple_one_for_one needs a template".into()))
            }
            (Strategy::SimpleOneForOne, Some(_)) if !self.children.is_empty() => {
                return Err(StartError::Invalid(
                    "simple_one_for_one takes no static children".into(),
                ))
            }
            (s, Some(_)) if s != Strategy::SimpleOneForOne => {
                return Err(StartError::Invalid(format!("{s:?} takes no template")))
            }
            _ => {}
        }
        let mut seen = std::collections::HashSet::new();
        for child in &self.children {
            if child.id.is_empty() {
                return Err(StartError::Invalid("missing_id".into()));
            }
            if !seen.insert(child.id.as_str()) {
                return Err(StartError::Invalid(format!(
                    "duplicate_child_name `{}`",
                    child.id
                )));
            }
        }
        Ok(())
    }
}
