//! arbor-supervisors: OTP's supervisor on ractor, with no MQTT in it.
//!
//! The broker is a tree of these supervisors (see docs/architecture.md §1–2). What OTP gives an Erlang
//! programmer and ractor does not, this crate adds:
//!
//! - child specs as data ([`ChildSpec`]: id, start, restart, shutdown, kind), checked once;
//! - the four strategies ([`Strategy`]) with restart intensity in a sliding window
//!   ([`intensity`]) and escalation to the parent when it is exceeded;
//! - start in order, stop in reverse order honouring each child's shutdown
//!   (stop → wait → kill), which ractor does not do (a dying ractor actor kills its children
//!   without their `post_stop`);
//! - OTP exit reasons on top of ractor's strings ([`ExitReason`]);
//! - a live view of the tree ([`TreeNode`]) readable while supervisors are busy;
//! - stable paths ([`path`]) and fault injection ([`fault`]) for every supervised actor;
//! - an event stream of what every supervisor does ([`events`]): a ring of recent events and a
//!   live broadcast, reachable from the root ([`RootHandle::events`], [`SupervisorRef::events`]).
//!
//! Start a tree with [`RootHandle::start`]; supervisors below are [`ChildSpec::supervisor`]s and
//! workers implement [`Worker`], the one skeleton that runs the fault plan's check for them.

mod children;
pub mod error;
pub mod events;
pub mod exit;
pub mod fault;
pub mod intensity;
pub mod path;
mod restart;
mod root;
mod shutdown;
pub mod slot;
pub mod spec;
mod supervisor;
pub mod tree;
pub mod worker;

pub use children::{ChildStatus, SupStatus};
pub use error::{StartError, SupervisorError};
pub use events::{Event, EventKind, Events, Subscription};
pub use exit::ExitReason;
pub use fault::{FaultHook, FaultPlan};
pub use restart::REACHED_MAX_RESTART_INTENSITY;
pub use root::RootHandle;
pub use slot::Slot;
pub use spec::{
    start_fn, ChildKind, ChildSpec, DynStart, DynamicChild, Restart, Shutdown, StartCtx, StartFn,
    StartFuture, Started, Strategy, SupFlags, SupervisorSlot, SupervisorSpec, Template,
};
pub use supervisor::{Supervisor, SupervisorMsg, SupervisorRef};
pub use tree::{ChildCounts, ChildInfo, Found, TreeNode, TreeOpts};
pub use worker::Worker;
