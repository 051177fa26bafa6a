//! The top of a tree: starts the root supervisor under a watcher that reports how it ended.
//!
//! A root supervisor has no parent to see its exit, so a small watcher actor (OTP's application
//! master, in spirit) links to it, records its exit reason and publishes it on a watch channel.
//! The binary waits on that: an orderly stop it asked for exits 0, anything else (the root gave up
//! after its intensity) is logged with the reason and exits non-zero.

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::{oneshot, watch};

use crate::error::StartError;
use crate::events::{EventKind, Events};
use crate::exit::ExitReason;
use crate::fault::FaultHook;
use crate::spec::{StartCtx, SupervisorSpec};
use crate::supervisor::{Supervisor, SupervisorRef};

/// A running root supervisor and the means to wait for its end.
pub struct RootHandle {
    supervisor: SupervisorRef,
    events: Events,
    exited: watch::Receiver<Option<ExitReason>>,
}

struct Watcher;

struct WatcherArgs {
    path: String,
    spec: SupervisorSpec,
    fault: FaultHook,
    events: Events,
    started: oneshot::Sender<Result<SupervisorRef, StartError>>,
    exited: watch::Sender<Option<ExitReason>>,
}

impl Actor for Watcher {
    type Msg = ();
    type State = watch::Sender<Option<ExitReason>>;
    type Arguments = WatcherArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<()>,
        args: WatcherArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let fault = args.fault.for_path(&args.path);
        let ctx = StartCtx {
            supervisor: myself.get_cell(),
            path: args.path.clone(),
            fault: fault.clone(),
            events: args.events.clone(),
        };
        match Supervisor::start_linked(ctx, args.spec).await {
            Ok(sup) => {
                fault.started(&sup.cell());
                let actor_id = sup.cell().get_id().to_string();
                args.events
                    .record(None, args.path, EventKind::Started { actor_id });
                let _ = args.started.send(Ok(sup));
                Ok(args.exited)
            }
            Err(err) => {
                let _ = args.started.send(Err(err.clone()));
                Err(Box::new(err))
            }
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<()>,
        evt: SupervisionEvent,
        exited: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(reason) = ExitReason::from_event(&evt) {
            let _ = exited.send(Some(reason));
            myself.stop(None);
        }
        Ok(())
    }
}

impl RootHandle {
    /// Starts `spec` as the root supervisor at `path`, with an event log keeping the last
    /// [`crate::events::DEFAULT_CAPACITY`] events (see [`Events::set_capacity`]). Fails with the
    /// start error (naming the chain of children down to the one that failed) if any static
    /// child fails to start. Once the tree is up, each fault rule that matches none of its
    /// actors is warned about, once ([`crate::FaultPlan::warn_unmatched`]).
    pub async fn start(
        path: impl Into<String>,
        spec: SupervisorSpec,
        fault: FaultHook,
    ) -> Result<Self, StartError> {
        let plan = fault.plan().cloned();
        let (started_tx, started_rx) = oneshot::channel();
        let (exited_tx, exited) = watch::channel(None);
        let events = Events::default();
        if let Some(plan) = fault.plan() {
            plan.report_to(&events);
        }
        let args = WatcherArgs {
            path: path.into(),
            spec,
            fault,
            events: events.clone(),
            started: started_tx,
            exited: exited_tx,
        };
        let spawned = Actor::spawn(None, Watcher, args).await;
        let supervisor = match started_rx.await {
            Ok(result) => result?,
            Err(_) => {
                return Err(spawned
                    .err()
                    .map(StartError::from)
                    .unwrap_or_else(|| StartError::failed("root did not start")))
            }
        };
        if let Some(plan) = plan {
            plan.warn_unmatched(&supervisor.paths());
        }
        Ok(Self {
            supervisor,
            events,
            exited,
        })
    }

    /// The root supervisor.
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.supervisor
    }

    /// The tree's event log: what every supervisor in it did, and fault firings.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Waits until the root supervisor has ended and returns why.
    pub async fn wait(&self) -> ExitReason {
        let mut exited = self.exited.clone();
        loop {
            if let Some(reason) = exited.borrow_and_update().clone() {
                return reason;
            }
            if exited.changed().await.is_err() {
                return exited.borrow().clone().unwrap_or(ExitReason::Killed);
            }
        }
    }

    /// Whether the root has ended.
    pub fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Stops the whole tree in order (children last-started first) and waits for it.
    pub async fn shutdown(&self) -> ExitReason {
        self.supervisor
            .cell()
            .stop(Some(ExitReason::Shutdown(None).to_reason()));
        self.wait().await
    }
}
