//! `router_sup/router`: the one writer of the route table (emqttd_router), and the publish path.
//!
//! Publishers do not go through this actor: [`publish`] reads the table where the publishing
//! connection runs (emqttd reads ETS from the publisher's process) and casts the message to each
//! matching session. Subscribe and unsubscribe are calls to this actor, so writes are serialised
//! and a client that has its SUBACK is routed to from then on. The table belongs to the broker
//! context, handed to router_sup's spec, so a router crash loses no route.

use std::sync::Arc;

use arbor_supervisors::{ChildSpec, FaultHook, Strategy, SupFlags, SupervisorSpec};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::broker::Broker;
use crate::codec::QoS;
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::routing::load::{Admit, Load};
use crate::routing::topic::TopicError;
use crate::routing::trie::RouteTable;
use crate::session::{SessionHandle, SessionMsg};

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

/// Where a publish went.
#[derive(Debug, Default)]
pub struct Routed {
    /// Sessions it was cast to.
    pub sessions: usize,
    /// A session over its high water: the publisher should pause until it has room.
    pub pressure: Option<Arc<Load>>,
}

thread_local! {
    /// The matches of one publish, reused so routing allocates nothing per message.
    static MATCHES: std::cell::Cell<Vec<(SessionHandle, u8)>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Routes `msg` to every matching session (see [`publish_into`]) and casts it at once.
pub fn publish(broker: &Broker, msg: Arc<Message>) -> Routed {
    let mut run = Run::default();
    let routed = publish_into(broker, msg, &mut run);
    run.cast();
    routed
}

/// Routes `msg` to every matching session, each admitted against its load ([`crate::routing::load`]):
/// to a session the publisher can still hold back it goes, and one over its high water is
/// returned so the publisher can pause; a stalled one drops QoS 0 at its door, counted. The
/// deliveries go through `run`, which the caller casts. Retained messages are stored first
/// (through the retainer) by the caller.
pub fn publish_into(broker: &Broker, msg: Arc<Message>, run: &mut Run) -> Routed {
    let mut matches = MATCHES.take();
    broker.routes.route(&msg.topic, &mut matches);
    let m = &broker.metrics;
    if matches.is_empty() {
        Metrics::add(&m.messages_dropped, 1);
    }
    let mut routed = Routed::default();
    for (session, sub_qos) in matches.drain(..) {
        let qos = QoS::from_u8(sub_qos).unwrap_or(QoS::AtMostOnce);
        match session.load.admit(msg.qos.min(qos).as_u8()) {
            Admit::Drop => {
                m.mqueue_drop();
                continue;
            }
            Admit::Pressure if routed.pressure.is_none() => routed.pressure = Some(session.load.clone()),
            Admit::Pressure | Admit::Yes => {}
        }
        routed.sessions += 1;
        run.push(session, msg.clone(), qos);
    }
    MATCHES.set(matches);
    routed
}

/// Deliveries held back while they go to one session, so a publisher's burst to the same
/// subscriber is one mailbox message (`DeliverMany`), not one per PUBLISH. Cast when the target
/// changes or by the caller at the end of a batch; order per session is kept either way.
#[derive(Default)]
pub struct Run {
    to: Option<SessionHandle>,
    msgs: Vec<(Arc<Message>, QoS)>,
}

impl Run {
    fn push(&mut self, to: SessionHandle, msg: Arc<Message>, qos: QoS) {
        let same = self
            .to
            .as_ref()
            .is_some_and(|held| held.session.get_id() == to.session.get_id());
        if !same {
            self.cast();
            self.to = Some(to);
        }
        self.msgs.push((msg, qos));
    }

    /// Casts what is held.
    pub fn cast(&mut self) {
        let Some(to) = self.to.take() else { return };
        let n = self.msgs.len();
        let msg = match self.msgs.pop() {
            None => return,
            Some((msg, qos)) if n == 1 => SessionMsg::Deliver(msg, qos, false),
            Some(last) => {
                self.msgs.push(last);
                SessionMsg::DeliverMany(std::mem::take(&mut self.msgs))
            }
        };
        if to.session.send_message(msg).is_err() {
            to.load.uncast(n);
        }
    }
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
        let retainer = crate::routing::retainer::spec(broker.clone());
        let i = &broker.config.supervisors.router_sup;
        SupervisorSpec::new(
            SupFlags::new(Strategy::OneForAll, i.max_restarts, i.max_seconds),
            vec![router, retainer],
        )
    })
}
