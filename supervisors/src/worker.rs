//! The one skeleton every supervised worker shares (gen_server's place in OTP).
//!
//! A worker writes what is its own: how its state is made from its arguments ([`Worker::init`]),
//! what each message does ([`Worker::handle`]), and, if it monitors other actors, what their
//! exits mean to it ([`Worker::exited`]). What every worker does the same way lives here once:
//! the fault plan's check before each message (`--fault panic@<path>:after=3` counts the
//! messages of the worker at that path), spawning linked to the supervisor of the start, and
//! publishing the live reference in a [`Slot`] where a singleton's clients find the current
//! incarnation after a restart.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::slot::Slot;
use crate::spec::{start_fn, ChildSpec, StartCtx, Started};
use crate::{FaultHook, StartError};

/// A supervised worker: its state, messages and reactions. See the module docs.
pub trait Worker: Send + Sync + Sized + 'static {
    /// Its messages.
    type Msg: ractor::Message;
    /// What each (re)start hands it.
    type Args: Send + 'static;
    /// Its state.
    type State: Send + 'static;

    /// Makes the state. An error is a start failure its supervisor sees (OTP's `{error, _}`).
    fn init(
        myself: ActorRef<Self::Msg>,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::State, ActorProcessingErr>> + Send;

    /// Handles one message. An error stops the worker as failed, and its supervisor restarts it
    /// as its spec says.
    fn handle(
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send;

    /// An actor this worker monitors (or a child it linked) started, ended or failed.
    fn exited(
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = (myself, event, state);
        async { Ok(()) }
    }

    /// The worker stopped normally (not killed: a kill skips this, so cleanup that must always
    /// happen belongs in a `Drop` of the state).
    fn stopped(
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = (myself, state);
        async { Ok(()) }
    }
}

/// The ractor actor that runs a [`Worker`].
pub struct Supervised<W>(PhantomData<fn() -> W>);

/// A running worker's state and its fault hook.
pub struct Running<W: Worker> {
    state: W::State,
    fault: FaultHook,
}

impl<W: Worker> Actor for Supervised<W> {
    type Msg = W::Msg;
    type State = Running<W>;
    type Arguments = (W::Args, FaultHook);

    async fn pre_start(
        &self,
        myself: ActorRef<W::Msg>,
        (args, fault): Self::Arguments,
    ) -> Result<Running<W>, ActorProcessingErr> {
        Ok(Running {
            state: W::init(myself, args).await?,
            fault,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<W::Msg>,
        msg: W::Msg,
        running: &mut Running<W>,
    ) -> Result<(), ActorProcessingErr> {
        running.fault.check().await?;
        W::handle(myself, msg, &mut running.state).await
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<W::Msg>,
        event: SupervisionEvent,
        running: &mut Running<W>,
    ) -> Result<(), ActorProcessingErr> {
        W::exited(myself, event, &mut running.state).await
    }

    async fn post_stop(
        &self,
        myself: ActorRef<W::Msg>,
        running: &mut Running<W>,
    ) -> Result<(), ActorProcessingErr> {
        W::stopped(myself, &mut running.state).await
    }
}

/// Spawns worker `W` linked to the supervisor of `ctx`, with the fault hook of its path.
pub async fn spawn<W: Worker>(ctx: &StartCtx, args: W::Args) -> Result<ActorRef<W::Msg>, StartError> {
    let (actor, _) = Actor::spawn_linked(
        None,
        Supervised::<W>(PhantomData),
        (args, ctx.fault.clone()),
        ctx.supervisor.clone(),
    )
    .await?;
    Ok(actor)
}

/// Spawns worker `W` under the supervisor of `ctx`, as a start function returns it.
pub async fn start<W: Worker>(ctx: StartCtx, args: W::Args) -> Result<Option<Started>, StartError> {
    let actor = spawn::<W>(&ctx, args).await?;
    Ok(Some(Started::from(actor)))
}

/// A permanent worker child `id` running `W`: `args` makes its arguments afresh for every
/// (re)start, and each new reference is published in `slot`.
pub fn spec<W, F>(id: impl Into<String>, args: F, slot: Slot<ActorRef<W::Msg>>) -> ChildSpec
where
    W: Worker,
    F: Fn() -> W::Args + Send + Sync + 'static,
{
    let args = Arc::new(args);
    ChildSpec::worker(
        id,
        start_fn(move |ctx: StartCtx| {
            let arguments = args();
            let slot = slot.clone();
            async move {
                let actor = spawn::<W>(&ctx, arguments).await?;
                slot.set(actor.clone());
                Ok(Some(Started::from(actor)))
            }
        }),
    )
}

/// Whether the actor is starting or running (not stopping, not stopped).
pub fn alive(cell: &ractor::ActorCell) -> bool {
    matches!(
        cell.get_status(),
        ractor::ActorStatus::Running | ractor::ActorStatus::Starting
    )
}
