//! The one way a singleton worker becomes a child spec: spawn linked to the supervisor with
//! arguments made fresh for each (re)start, then publish the live reference where its clients
//! look it up (a [`crate::broker::Slot`] or a pool index).

use arbor_supervisors::{start_fn, ChildSpec, StartCtx, StartError, Started};
use ractor::{Actor, ActorRef};

/// A permanent worker `id` running actor `A`; `args` builds its arguments for each start and
/// `publish` records the new reference.
pub fn spec<A, F, P>(id: impl Into<String>, actor: fn() -> A, args: F, publish: P) -> ChildSpec
where
    A: Actor,
    F: Fn(&StartCtx) -> A::Arguments + Send + Sync + 'static,
    P: Fn(ActorRef<A::Msg>) + Send + Sync + 'static,
{
    let args = std::sync::Arc::new(args);
    let publish = std::sync::Arc::new(publish);
    ChildSpec::worker(
        id,
        start_fn(move |ctx: StartCtx| {
            let arguments = args(&ctx);
            let publish = publish.clone();
            async move {
                let (actor, _) = Actor::spawn_linked(None, actor(), arguments, ctx.supervisor)
                    .await
                    .map_err(StartError::from)?;
                publish(actor.clone());
                Ok(Some(Started::from(actor)))
            }
        }),
    )
}
