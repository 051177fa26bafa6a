//! `router_sup/router`: the one writer of the route table (emqttd_router).
//!
//! Subscribe and unsubscribe are calls to this actor, so writes are serialised and a client that
//! has its SUBACK is routed to from then on. Publishers never come here: they read the table
//! directly ([`crate::routing::publish`]). The table is created by the tree for `router_sup` and
//! handed to each incarnation of the router, so a router crash loses no route; a new router
//! first sweeps out entries whose subscriber died while no router was there to hear of it.

use std::marker::PhantomData;
use std::sync::Arc;

use arbor_supervisors::Worker;
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::codec::TopicError;
use crate::routing::trie::{RouteTable, Subscriber};

/// Messages of the router.
pub enum RouterMsg<S: Subscriber> {
    /// Add (or update the QoS of) a subscription.
    Subscribe {
        /// The filter (may be `$share/<group>/<filter>`).
        filter: String,
        /// The subscriber.
        subscriber: S,
        /// Granted QoS.
        qos: u8,
        /// Done, or why the filter cannot be stored.
        reply: RpcReplyPort<Result<(), TopicError>>,
    },
    /// Remove a subscription; replies whether one existed.
    Unsubscribe(String, S::Key, RpcReplyPort<bool>),
    /// Remove all of a subscriber's subscriptions (its session ended).
    RemoveAll(S::Key, Vec<String>),
}

/// The router worker, over subscribers of type `S`.
pub struct Router<S>(PhantomData<fn() -> S>);

impl<S: Subscriber> Worker for Router<S> {
    type Msg = RouterMsg<S>;
    type Args = Arc<RouteTable<S>>;
    type State = Arc<RouteTable<S>>;

    async fn init(
        _myself: ActorRef<RouterMsg<S>>,
        routes: Self::Args,
    ) -> Result<Self::State, ActorProcessingErr> {
        let swept = routes.remove_dead();
        if swept > 0 {
            tracing::info!(
                swept,
                "router started: removed the routes of sessions that ended meanwhile"
            );
        }
        Ok(routes)
    }

    async fn handle(
        _myself: ActorRef<RouterMsg<S>>,
        msg: RouterMsg<S>,
        routes: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMsg::Subscribe {
                filter,
                subscriber,
                qos,
                reply,
            } => {
                let _ = reply.send(routes.subscribe(&filter, subscriber, qos));
            }
            RouterMsg::Unsubscribe(filter, key, reply) => {
                let _ = reply.send(routes.unsubscribe(&filter, &key));
            }
            RouterMsg::RemoveAll(key, filters) => routes.remove_all(&key, &filters),
        }
        Ok(())
    }
}
