//! `router_sup/router`: the one writer of the route table (emqttd_router), and the publish path.
//!
//! Publishers do not go through this actor: [`publish`] reads the table where the publishing
//! connection runs (emqttd reads ETS from the publisher's process) and casts the message to each
//! matching session. Subscribe and unsubscribe are calls to this actor, so writes are serialised
//! and a client that has its SUBACK is routed to from then on. The table belongs to the broker
//! context, handed to router_sup's spec, so a router crash loses no route.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arbor_supervisors::{ChildSpec, FaultHook, Strategy, SupFlags, SupervisorSpec};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::broker::Broker;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::session::{SessionHandle, SessionMsg};
use crate::topic::TopicError;
use crate::trie::RouteTable;

/// The route table's type: filters to sessions.
pub type Routes = RouteTable<SessionHandle>;

/// Messages of the router.
pub enum RouterMsg {
    /// Add (or update the QoS of) a subscription.
    Subscribe {
        /// The filter (may be `$share/<group>/<filter>`).
        filter: String,
        /// The subscribing session.
        session: SessionHandle,
        /// Granted QoS.
        qos: u8,
        /// Done, or why the filter cannot be stored.
        reply: RpcReplyPort<Result<(), TopicError>>,
    },
    /// Remove a subscription; replies whether one existed.
    Unsubscribe(String, Arc<str>, RpcReplyPort<bool>),
    /// Remove all of a session's subscriptions (the session ended).
    RemoveAll(Arc<str>, Vec<String>),
}

/// The router worker.
pub struct Router;

/// Its state.
pub struct RouterState {
    routes: Arc<Routes>,
    fault: FaultHook,
}

impl Actor for Router {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = (Arc<Routes>, FaultHook);

    async fn pre_start(
        &self,
        _myself: ActorRef<RouterMsg>,
        (routes, fault): Self::Arguments,
    ) -> Result<RouterState, ActorProcessingErr> {
        Ok(RouterState { routes, fault })
    }

    async fn handle(
        &self,
        _myself: ActorRef<RouterMsg>,
        msg: RouterMsg,
        state: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            RouterMsg::Subscribe {
                filter,
                session,
                qos,
                reply,
            } => {
                let _ = reply.send(state.routes.subscribe(&filter, session, qos));
            }
            RouterMsg::Unsubscribe(filter, key, reply) => {
                let _ = reply.send(state.routes.unsubscribe(&filter, &key));
            }
            RouterMsg::RemoveAll(key, filters) => state.routes.remove_all(&key, &filters),
        }
        Ok(())
    }
}

/// Routes `msg` to every matching session; returns how many sessions it went to. Retained
/// messages are stored first (through the retainer) by the caller.
pub fn publish(broker: &Broker, msg: Arc<Message>) -> usize {
    let mut out = Vec::new();
    broker.routes.route(&msg.topic, &mut out);
    let m = &broker.metrics;
    if out.is_empty() {
        Metrics::add(&m.messages_dropped, 1);
    }
    let limit = broker.config.session.max_mqueue_len;
    for (session, qos) in &out {
        // A session that cannot keep up has at most `max_mqueue_len` deliveries waiting in its
        // mailbox; past that a message is dropped at its door and counted, the queue's own
        // policy, so publishers cannot grow the broker without bound (0: unbounded).
        if limit > 0 && session.inbox.load(Ordering::Acquire) >= limit {
            m.mqueue_drop();
            continue;
        }
        session.inbox.fetch_add(1, Ordering::AcqRel);
        let qos = crate::codec::QoS::from_u8(*qos).unwrap_or(crate::codec::QoS::AtMostOnce);
        if session
            .session
            .send_message(SessionMsg::Deliver(msg.clone(), qos, false))
            .is_err()
        {
            session.inbox.fetch_sub(1, Ordering::AcqRel);
        }
    }
    out.len()
}

/// `router_sup`: one_for_all over the router and the retainer.
pub fn router_sup_spec(broker: Arc<Broker>) -> ChildSpec {
    ChildSpec::supervisor("router_sup", move || {
        let slot = broker.router.clone();
        let routes = broker.routes.clone();
        let router = crate::worker::spec(
            "router",
            || Router,
            move |ctx| (routes.clone(), ctx.fault.clone()),
            move |r| *slot.write() = Some(r),
        );
        let retainer = crate::retainer::spec(broker.clone());
        let i = &broker.config.supervisors.router_sup;
        SupervisorSpec::new(
            SupFlags::new(Strategy::OneForAll, i.max_restarts, i.max_seconds),
            vec![router, retainer],
        )
    })
}
