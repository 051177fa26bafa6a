//! The supervisor actor and its handle: OTP's `supervisor` behaviour on ractor.
//!
//! Contract (as OTP's module doc states it): static children start in list order and stop in
//! reverse order; a child that ends is restarted according to its restart type (`Permanent`
//! always, `Transient` only after an abnormal exit, `Temporary` never) and the strategy; more than
//! `max_restarts` restarts in `max_seconds` make the supervisor stop its children and exit with
//! `shutdown: reached_max_restart_intensity`, so its parent applies its own strategy (escalation).
//! A static child that fails to start makes the supervisor's start fail with that error, after the
//! children already started were stopped. A failed restart is retried by a message to self, so the
//! supervisor keeps answering between attempts, and each attempt counts toward the intensity.
//!
//! ractor's default reaction to a child's end is to stop the parent, and a dying actor kills its
//! linked children without running their `post_stop`; this actor overrides the first and stops its
//! children itself, in order, before it exits.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::children::{ChildStatus, Key, Shared, SupStatus};
use crate::error::{StartError, SupervisorError};
use crate::events::Events;
use crate::exit::ExitReason;
use crate::fault::FaultHook;
use crate::intensity::Intensity;
use crate::spec::{DynamicChild, StartCtx, SupervisorSpec, Template};

/// How long a caller waits for a supervisor to start a dynamic child.
const START_CHILD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a caller waits for an administrative request (terminate, restart).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Messages a supervisor handles.
pub enum SupervisorMsg {
    /// Add a dynamic child (`SimpleOneForOne` only); replies with its cell, or `None` if ignored.
    StartChild(DynamicChild, RpcReplyPort<Result<Option<ActorCell>, StartError>>),
    /// Stop a child by id (a static child keeps its spec; a dynamic one is removed).
    TerminateChild(String, RpcReplyPort<Result<(), SupervisorError>>),
    /// Stop a dynamic child by its actor id.
    TerminateActor(ActorId, RpcReplyPort<Result<(), SupervisorError>>),
    /// Start again a static child that was terminated.
    RestartChild(String, RpcReplyPort<Result<(), StartError>>),
    /// A restart failed earlier; try again (OTP's `try_again_restart`).
    TryAgainRestart(KeyMsg),
}

/// A child position carried by `TryAgainRestart` (opaque outside the engine).
pub struct KeyMsg(pub(crate) Key);

/// The supervisor behaviour.
pub struct Supervisor;

/// What a supervisor actor starts with.
pub struct SupervisorArgs {
    pub(crate) spec: SupervisorSpec,
    pub(crate) shared: Arc<Shared>,
    pub(crate) fault: FaultHook,
}

/// The actor's state: the shared child table plus what only the actor touches.
pub struct SupervisorState {
    pub(crate) myself: ActorRef<SupervisorMsg>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) intensity: Intensity,
    pub(crate) template: Option<Template>,
    pub(crate) fault: FaultHook,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let SupervisorArgs { spec, shared, fault } = args;
        spec.validate()?;
        let mut state = SupervisorState {
            myself,
            intensity: Intensity::new(spec.flags.max_restarts, spec.flags.max_seconds),
            template: spec.template,
            shared,
            fault,
        };
        let count = state.install_statics(spec.children);
        for index in 0..count {
            if let Err(reason) = state.start_key(Key::Static(index)).await {
                let path = state.shared.inner.lock().statics[index].path(&state.shared.path);
                // Debug only: the error goes back to whoever is starting this supervisor, which
                // reports it once (a restarting parent, or the caller of the root's start),
                // instead of once per level of the tree.
                tracing::debug!(supervisor = %state.shared.path, child = %path, %reason, "failed_to_start_child");
                state.shutdown_children().await;
                state.shared.inner.lock().status = SupStatus::Stopped;
                return Err(Box::new(StartError::ChildFailed {
                    path,
                    reason: Box::new(reason),
                }));
            }
            state.record_started(Key::Static(index), false);
        }
        state.shared.inner.lock().status = SupStatus::Running;
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            SupervisorMsg::StartChild(child, reply) => {
                let result = state.start_dynamic(child).await;
                let _ = reply.send(result);
            }
            SupervisorMsg::TerminateChild(id, reply) => {
                let result = state.terminate_id(&id).await;
                let _ = reply.send(result);
            }
            SupervisorMsg::TerminateActor(actor, reply) => {
                let result = state.terminate_actor(actor).await;
                let _ = reply.send(result);
            }
            SupervisorMsg::RestartChild(id, reply) => {
                let result = state.restart_id(&id).await;
                let _ = reply.send(result);
            }
            SupervisorMsg::TryAgainRestart(KeyMsg(key)) => state.try_again(key).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        evt: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let ended = ExitReason::from_event(&evt).zip(evt.actor_cell().map(ActorCell::get_id));
        // A terminated child's event carries its last state: drop it before restarting, so what
        // the dead incarnation held (a bound socket, say) is released first, as in OTP.
        drop(evt);
        if let Some((reason, actor)) = ended {
            state.child_exited(actor, reason).await;
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.shutdown_children().await;
        state.shared.inner.lock().status = SupStatus::Stopped;
        Ok(())
    }
}

impl Supervisor {
    /// Starts a supervisor linked to `ctx.supervisor` (the start function of a supervisor child).
    pub async fn start_linked(ctx: StartCtx, spec: SupervisorSpec) -> Result<SupervisorRef, StartError> {
        let shared = Shared::new(ctx.path.clone(), spec.flags, ctx.events.clone());
        let args = SupervisorArgs {
            spec,
            shared: shared.clone(),
            fault: ctx.fault.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, Supervisor, args, ctx.supervisor).await?;
        Ok(SupervisorRef { actor, shared })
    }

    /// Starts a supervisor with no parent (tests; the broker uses [`crate::RootHandle`]), with
    /// an event log of its own.
    pub async fn start_unlinked(
        path: impl Into<String>,
        spec: SupervisorSpec,
        fault: FaultHook,
    ) -> Result<SupervisorRef, StartError> {
        let events = Events::default();
        if let Some(plan) = fault.plan() {
            plan.report_to(&events);
        }
        let shared = Shared::new(path.into(), spec.flags, events);
        let args = SupervisorArgs {
            spec,
            shared: shared.clone(),
            fault,
        };
        let (actor, _) = Actor::spawn(None, Supervisor, args).await?;
        Ok(SupervisorRef { actor, shared })
    }
}

/// A handle to a running supervisor: requests go to the actor, queries read the shared table.
#[derive(Clone)]
pub struct SupervisorRef {
    pub(crate) actor: ActorRef<SupervisorMsg>,
    pub(crate) shared: Arc<Shared>,
}

impl SupervisorRef {
    /// The supervisor's cell.
    pub fn cell(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// Its stable path.
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// Its status.
    pub fn status(&self) -> SupStatus {
        self.shared.inner.lock().status
    }

    /// The event log of its tree (the root's, shared by every supervisor below it).
    pub fn events(&self) -> &Events {
        &self.shared.events
    }

    /// Restarts this supervisor has performed so far.
    pub fn child_restarts(&self) -> u64 {
        self.shared.inner.lock().child_restarts
    }

    /// OTP `start_child/2` for a `SimpleOneForOne` supervisor.
    pub async fn start_child(&self, child: DynamicChild) -> Result<Option<ActorCell>, StartError> {
        let reply = self
            .actor
            .call(
                |port| SupervisorMsg::StartChild(child, port),
                Some(START_CHILD_TIMEOUT),
            )
            .await;
        match reply {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(other) => Err(StartError::Unavailable(format!("{}: {other:?}", self.path()))),
            Err(err) => Err(StartError::Unavailable(format!("{}: {err}", self.path()))),
        }
    }

    /// OTP `terminate_child/2` by id.
    pub async fn terminate_child(&self, id: &str) -> Result<(), SupervisorError> {
        let id = id.to_string();
        self.admin(|port| SupervisorMsg::TerminateChild(id, port)).await
    }

    /// OTP `terminate_child/2` by pid, for dynamic children.
    pub async fn terminate_actor(&self, actor: ActorId) -> Result<(), SupervisorError> {
        self.admin(|port| SupervisorMsg::TerminateActor(actor, port))
            .await
    }

    /// OTP `restart_child/2`: starts a terminated static child again.
    pub async fn restart_child(&self, id: &str) -> Result<(), StartError> {
        let id = id.to_string();
        match self
            .actor
            .call(|port| SupervisorMsg::RestartChild(id, port), Some(ADMIN_TIMEOUT))
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(other) => Err(StartError::Unavailable(format!("{other:?}"))),
            Err(err) => Err(StartError::Unavailable(err.to_string())),
        }
    }

    async fn admin(
        &self,
        msg: impl FnOnce(RpcReplyPort<Result<(), SupervisorError>>) -> SupervisorMsg,
    ) -> Result<(), SupervisorError> {
        match self.actor.call(msg, Some(ADMIN_TIMEOUT)).await {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(other) => Err(SupervisorError::Unavailable(format!("{other:?}"))),
            Err(err) => Err(SupervisorError::Unavailable(err.to_string())),
        }
    }

    /// Stops the supervisor in order (children in reverse order) and waits for it to end.
    pub async fn stop_and_wait(&self) {
        self.actor.stop(Some(ExitReason::Shutdown(None).to_reason()));
        let _ = self.actor.get_cell().wait(None).await;
    }

    /// The live children's cells whose id equals `id` (dynamic ids need not be unique).
    pub fn children_with_id(&self, id: &str) -> Vec<ActorCell> {
        let inner = self.shared.inner.lock();
        inner
            .iter()
            .filter(|(_, c)| c.id == id && c.status == ChildStatus::Running)
            .filter_map(|(_, c)| c.cell.clone())
            .collect()
    }
}
