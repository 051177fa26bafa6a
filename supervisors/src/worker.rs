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

use futures::future::{Either, FutureExt};
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

    /// An actor this worker monitors (or a child it linked) started, ended or failed. ractor
    /// keeps this future inline in the actor's loop beside `handle`'s: do the work in plain code
    /// and return a small (or boxed) future.
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

    /// Not an `async fn`, for the reason [`Supervised::handle`] gives: the start's future is
    /// kept in the actor's task for as long as the actor lives.
    fn pre_start(
        &self,
        myself: ActorRef<W::Msg>,
        (args, fault): Self::Arguments,
    ) -> impl Future<Output = Result<Running<W>, ActorProcessingErr>> + Send {
        W::init(myself, args).map(move |state| Ok(Running { state: state?, fault }))
    }

    /// The fault check first, then the worker's handler. Not an `async fn`: that would keep the
    /// message twice (as its own argument and inside the worker's future), and ractor keeps this
    /// future inline in every actor's loop. Only when a fault fires is the pair boxed.
    fn handle(
        &self,
        myself: ActorRef<W::Msg>,
        msg: W::Msg,
        running: &mut Running<W>,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let Running { state, fault } = running;
        match fault.due_now() {
            None => Either::Left(W::handle(myself, msg, state)),
            Some(fault) => Either::Right(Box::pin(async move {
                fault.await?;
                W::handle(myself, msg, state).await
            })),
        }
    }

    // Not `async fn`s either: the worker's own future is what ractor keeps.
    fn handle_supervisor_evt(
        &self,
        myself: ActorRef<W::Msg>,
        event: SupervisionEvent,
        running: &mut Running<W>,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        W::exited(myself, event, &mut running.state)
    }

    fn post_stop(
        &self,
        myself: ActorRef<W::Msg>,
        running: &mut Running<W>,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        W::stopped(myself, &mut running.state)
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
