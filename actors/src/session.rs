//! `session_sup/session/<client-id>`: one client's session (emqttd_session).
//!
//! Holds what MQTT 3.1.1 §4.1 calls the session state: subscriptions, QoS 1/2 messages in flight
//! to the client, messages queued while the client is away or the window is full, and QoS 2
//! messages received from the client awaiting PUBREL. It lives apart from the connection: a
//! persistent session (clean session 0) outlives its connection until `session.expiry_interval`,
//! and a new connection with the same client id takes it over: inflight messages are resent with
//! DUP, then the queue, in order [MQTT-4.4.0-1].
//!
//! The session monitors its connection and the connection its session: a connection's end
//! detaches it (and ends a clean session); a session's crash closes the connection. Cleanup that
//! must happen even on kill (routes, registry entry, gauge) sits in [`Registration`]'s `Drop`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{DynamicChild, FaultHook, StartCtx, StartError, Started};
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;

use crate::broker::Broker;
use crate::codec::{Ack, Packet, PacketId, Publish, QoS, SubackCode};
use crate::connection::{ConnHandle, ConnectionMsg};
use crate::load::Load;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::mqueue::{Inflight, MQueue, Outgoing, Stage};
use crate::router::RouterMsg;
use crate::trie::Subscriber;

/// How a session is addressed in the route table: by client id.
#[derive(Clone)]
pub struct SessionHandle {
    /// The client id (the route table's key).
    pub client_id: Arc<str>,
    /// The session actor.
    pub session: ActorRef<SessionMsg>,
    /// Its load, which the publish path admits deliveries against.
    pub load: Arc<Load>,
}

impl Subscriber for SessionHandle {
    type Key = Arc<str>;
    fn key(&self) -> &Arc<str> {
        &self.client_id
    }
}

/// What the session says about an incoming QoS 2 PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos2 {
    /// First time seen: route it.
    New,
    /// A resend of one awaiting PUBREL: do not route again (exactly once).
    Duplicate,
    /// Too many awaiting PUBREL (`session.max_awaiting_rel`): dropped.
    Full,
}

/// Messages of a session.
pub enum SessionMsg {
    /// Deliver a routed message at this subscription QoS (`true`: as a retained message).
    Deliver(Arc<Message>, QoS, bool),
    /// Several routed messages from one publisher's burst, in order, at their subscription QoS.
    DeliverMany(Vec<(Arc<Message>, QoS)>),
    /// A (new) connection takes the session over.
    Attach(ConnHandle, RpcReplyPort<()>),
    /// Discard the session (a clean-session reconnect): close its connection and stop.
    Discard(RpcReplyPort<()>),
    /// PUBACKs from the client, in order (one read's worth at a time).
    PubAcks(Vec<PacketId>),
    /// PUBREC from the client (the connection has answered PUBREL).
    PubRec(PacketId),
    /// PUBCOMP from the client.
    PubComp(PacketId),
    /// A QoS 2 PUBLISH from the client: new or a duplicate?
    Qos2Received(PacketId, RpcReplyPort<Qos2>),
    /// PUBREL from the client.
    PubRel(PacketId),
    /// SUBSCRIBE: replies with the SUBACK codes, then sends matching retained messages.
    Subscribe(Vec<(String, QoS)>, RpcReplyPort<Vec<SubackCode>>),
    /// UNSUBSCRIBE.
    Unsubscribe(Vec<String>, RpcReplyPort<()>),
    /// Retry and expiry pass: a timer armed only while something is inflight or awaiting PUBREL.
    Tick,
    /// The expiry timer of a detached persistent session, with its generation.
    Expire(u64),
    /// What the admin API shows about this session.
    Info(RpcReplyPort<SessionInfo>),
    /// The connection's outbox has room again: send what was held back.
    Drained,
}

/// A session as `ctl sessions show` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionInfo {
    /// Client id.
    pub client_id: String,
    /// Clean session flag.
    pub clean_session: bool,
    /// Whether a connection is attached.
    pub connected: bool,
    /// Subscriptions: filter → granted QoS.
    pub subscriptions: Vec<(String, u8)>,
    /// QoS 1/2 messages sent and not yet acknowledged.
    pub inflight: usize,
    /// Window size.
    pub max_inflight: usize,
    /// Messages queued.
    pub mqueue_len: usize,
    /// Messages dropped so far: by the queue, and at the door of a full session.
    pub mqueue_dropped: u64,
    /// QoS 2 messages received and awaiting PUBREL.
    pub awaiting_rel: usize,
    /// When the session was created (seconds since the Unix epoch).
    pub created_at: u64,
    /// Seconds a detached persistent session is kept.
    pub expiry_interval: u64,
}

/// What a session starts with.
pub struct SessionArgs {
    /// The broker.
    pub broker: Arc<Broker>,
    /// Client id.
    pub client_id: Arc<str>,
    /// Clean session flag.
    pub clean: bool,
    /// The connection that created it.
    pub conn: ConnHandle,
    /// Fault hook.
    pub fault: FaultHook,
}

/// The session actor.
pub struct Session;

/// Cleanup owed when the session ends, however it ends (kill included): its routes, its
/// registry entry and the sessions gauge.
struct Registration {
    broker: Arc<Broker>,
    load: Arc<Load>,
    client_id: Arc<str>,
    cell: ActorCell,
    subscriptions: HashMap<String, QoS>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let filters: Vec<String> = self.subscriptions.keys().cloned().collect();
        if !filters.is_empty() {
            // The router is the one writer; if it is restarting, remove directly so no dead
            // session stays routed.
            match self.broker.router.read().as_ref() {
                Some(router) => {
                    if router
                        .send_message(RouterMsg::RemoveAll(self.client_id.clone(), filters.clone()))
                        .is_err()
                    {
                        self.broker.routes.remove_all(&self.client_id, &filters);
                    }
                }
                None => self.broker.routes.remove_all(&self.client_id, &filters),
            }
        }
        self.broker.registry.remove_if(&self.client_id, &self.cell);
        self.load.close();
        Metrics::gauge_down(&self.broker.metrics.sessions);
    }
}

/// The session's state.
pub struct SessionState {
    reg: Registration,
    handle: SessionHandle,
    clean: bool,
    conn: Option<ConnHandle>,
    inflight: Inflight,
    mqueue: MQueue,
    awaiting_rel: HashMap<PacketId, Instant>,
    /// Whether a `Tick` is scheduled. An idle session has no timer (each costs a tokio task).
    tick_armed: bool,
    expiry_gen: u64,
    created_at: u64,
    fault: FaultHook,
}

/// Starts a session under session_sup; the registry entry is the caller's (sm) to make.
pub async fn start(broker: &Arc<Broker>, args: SessionArgs) -> Result<ActorRef<SessionMsg>, StartError> {
    let sup = broker
        .session_sup
        .read()
        .clone()
        .ok_or_else(|| StartError::failed("session_sup is not running"))?;
    let id = format!(
        "session/{}",
        arbor_supervisors::path::encode_segment(&args.client_id)
    );
    let child = DynamicChild::once(id, move |ctx: StartCtx| async move {
        let args = SessionArgs {
            fault: ctx.fault.clone(),
            ..args
        };
        let (actor, _) = Actor::spawn_linked(None, Session, args, ctx.supervisor).await?;
        Ok(Some(Started::from(actor)))
    });
    let cell = sup
        .start_child(child)
        .await?
        .ok_or_else(|| StartError::failed("session ignored"))?;
    Ok(cell.into())
}

impl Actor for Session {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        let cfg = &args.broker.config.session;
        myself.get_cell().monitor(args.conn.get_cell());
        let m = &args.broker.metrics;
        Metrics::gauge_up(&m.sessions, &m.sessions_max);
        let load = Arc::new(Load::new(cfg.max_mqueue_len));
        Ok(SessionState {
            handle: SessionHandle {
                client_id: args.client_id.clone(),
                session: myself.clone(),
                load: load.clone(),
            },
            inflight: Inflight::new(usize::from(cfg.max_inflight)),
            mqueue: MQueue::new(cfg.max_mqueue_len, cfg.mqueue_store_qos0),
            reg: Registration {
                load,
                broker: args.broker,
                client_id: args.client_id,
                cell: myself.get_cell(),
                subscriptions: HashMap::new(),
            },
            clean: args.clean,
            conn: Some(args.conn),
            awaiting_rel: HashMap::new(),
            tick_armed: false,
            expiry_gen: 0,
            created_at: crate::protocol::unix_now(),
            fault: args.fault,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            SessionMsg::Deliver(msg, sub_qos, retain) => state.routed(msg, sub_qos, retain),
            SessionMsg::DeliverMany(msgs) => {
                for (msg, sub_qos) in msgs {
                    state.routed(msg, sub_qos, false);
                }
            }
            SessionMsg::Attach(conn, reply) => {
                state.attach(&myself, conn);
                let _ = reply.send(());
            }
            SessionMsg::Discard(reply) => {
                if let Some(conn) = state.conn.take() {
                    let _ = conn.send_message(ConnectionMsg::Kick("discarded by a clean session".into()));
                }
                myself.stop(None);
                let _ = reply.send(());
            }
            SessionMsg::PubAcks(pkids) => {
                let done = pkids.into_iter().filter(|p| state.inflight.complete(*p)).count();
                if done > 0 {
                    state.drain();
                }
            }
            SessionMsg::PubComp(pkid) => {
                if state.inflight.complete(pkid) {
                    state.drain();
                }
            }
            SessionMsg::PubRec(pkid) => {
                state.inflight.received(pkid, Instant::now());
            }
            SessionMsg::Qos2Received(pkid, reply) => {
                let _ = reply.send(state.qos2_received(pkid));
            }
            SessionMsg::PubRel(pkid) => {
                state.awaiting_rel.remove(&pkid);
            }
            // Boxed: ractor keeps the largest `handle` future inline (twice) in every actor's
            // processing loop, idle or not.
            SessionMsg::Subscribe(filters, reply) => Box::pin(state.subscribe(filters, reply)).await,
            SessionMsg::Unsubscribe(filters, reply) => {
                Box::pin(state.unsubscribe(filters)).await;
                let _ = reply.send(());
            }
            SessionMsg::Tick => {
                state.tick_armed = false;
                state.tick();
            }
            SessionMsg::Drained => state.drain(),
            SessionMsg::Info(reply) => {
                let _ = reply.send(state.info());
            }
            SessionMsg::Expire(generation) => {
                if state.conn.is_none() && generation == state.expiry_gen {
                    tracing::info!(client_id = %state.handle.client_id, "persistent session expired");
                    myself.stop(None);
                }
            }
        }
        state.handle.load.set_queued(state.mqueue.len());
        state.arm_tick(&myself);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SessionMsg>,
        evt: SupervisionEvent,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        let ended = matches!(
            evt,
            SupervisionEvent::ActorTerminated(..) | SupervisionEvent::ActorFailed(..)
        );
        let is_conn = evt
            .actor_cell()
            .zip(state.conn.as_ref())
            .is_some_and(|(c, conn)| c.get_id() == conn.get_id());
        if ended && is_conn {
            state.conn = None;
            state.handle.load.set_offline(true);
            if state.clean {
                myself.stop(None);
            } else {
                state.expiry_gen += 1;
                let generation = state.expiry_gen;
                myself.send_after(state.reg.broker.config.session.expiry_interval, move || {
                    SessionMsg::Expire(generation)
                });
            }
        }
        Ok(())
    }
}

fn tick_interval(retry: Duration) -> Duration {
    (retry / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

impl SessionState {
    /// Schedules the next retry/expiry pass if one is owed and none is scheduled.
    fn arm_tick(&mut self, myself: &ActorRef<SessionMsg>) {
        let owed = !self.inflight.is_empty() || !self.awaiting_rel.is_empty();
        if owed && !self.tick_armed {
            let every = tick_interval(self.reg.broker.config.session.retry_interval);
            myself.send_after(every, || SessionMsg::Tick);
            self.tick_armed = true;
        }
    }

    /// A message from the publish path (counted in the load when it was cast).
    fn routed(&mut self, msg: Arc<Message>, sub_qos: QoS, retain: bool) {
        self.handle.load.handled();
        let qos = msg.qos.min(sub_qos);
        self.deliver(Outgoing { msg, qos, retain });
    }

    /// Sends now when connected, the connection's outbox has room, nothing is queued ahead and
    /// (for QoS 1/2) the window has room; queues otherwise, so order per publisher is kept and a
    /// subscriber that stops reading holds at most the outbox and the bounded queue.
    fn deliver(&mut self, out: Outgoing) {
        let ready = self.conn.as_ref().is_some_and(|c| !c.outbox.full())
            && self.mqueue.is_empty()
            && (out.qos == QoS::AtMostOnce || self.inflight.has_room());
        if ready {
            self.send_now(out);
        } else {
            for _ in 0..self.mqueue.push(out, !self.handle.load.is_stalled()) {
                self.reg.broker.metrics.mqueue_drop();
            }
            self.drain();
        }
    }

    /// Sends queued messages, oldest first, while the outbox and (for QoS 1/2) the window allow.
    fn drain(&mut self) {
        while self.conn.as_ref().is_some_and(|c| !c.outbox.full()) {
            match self.mqueue.front() {
                Some(next) if next.qos == QoS::AtMostOnce || self.inflight.has_room() => {}
                _ => break,
            }
            if let Some(out) = self.mqueue.pop() {
                self.send_now(out);
            }
        }
    }

    fn send_now(&mut self, out: Outgoing) {
        let Some(conn) = &self.conn else { return };
        let packet = publish_packet(&out, None, false);
        let packet = if out.qos == QoS::AtMostOnce {
            packet
        } else {
            let pkid = self.inflight.push(out, Instant::now());
            Publish {
                pkid: Some(pkid),
                ..packet
            }
        };
        send(&self.reg.broker, conn, packet);
    }

    /// A new connection takes over: the old one is kicked, inflight is resent with DUP in order
    /// (PUBREL for those past PUBREC), then the queue drains [MQTT-4.4.0-1].
    fn attach(&mut self, myself: &ActorRef<SessionMsg>, conn: ConnHandle) {
        if let Some(old) = self.conn.take() {
            if old.get_id() != conn.get_id() {
                tracing::info!(client_id = %self.handle.client_id, "takeover: closing the previous connection");
                let _ = old.send_message(ConnectionMsg::Kick("takeover by a new connection".into()));
            }
        }
        myself.get_cell().monitor(conn.get_cell());
        self.expiry_gen += 1;
        let now = Instant::now();
        for entry in self.inflight.due(now, now) {
            resend(&self.reg.broker, &conn, &entry);
        }
        self.conn = Some(conn);
        self.handle.load.set_offline(false);
        self.drain();
    }

    fn qos2_received(&mut self, pkid: PacketId) -> Qos2 {
        if self.awaiting_rel.contains_key(&pkid) {
            return Qos2::Duplicate;
        }
        let max = usize::from(self.reg.broker.config.session.max_awaiting_rel);
        if max > 0 && self.awaiting_rel.len() >= max {
            tracing::warn!(client_id = %self.handle.client_id, %max, "too many QoS 2 messages awaiting PUBREL, dropping");
            return Qos2::Full;
        }
        self.awaiting_rel.insert(pkid, Instant::now());
        Qos2::New
    }

    async fn subscribe(&mut self, filters: Vec<(String, QoS)>, reply: RpcReplyPort<Vec<SubackCode>>) {
        let broker = self.reg.broker.clone();
        let mut codes = Vec::with_capacity(filters.len());
        let mut granted = Vec::new();
        for (filter, qos) in filters {
            if self.route(&filter, qos).await {
                self.reg.subscriptions.insert(filter.clone(), qos);
                codes.push(SubackCode::Success(qos));
                granted.push((filter, qos));
            } else {
                codes.push(SubackCode::FAILURE);
            }
        }
        let _ = reply.send(codes);
        // Retained messages follow the SUBACK [MQTT-3.3.1-6]; shared subscriptions get none.
        let mut retained = Vec::new();
        for (filter, qos) in granted
            .iter()
            .filter(|(f, _)| crate::topic::parse_share(f).is_none())
        {
            retained.clear();
            broker.retained.matching(filter, &mut retained);
            for (_, msg) in retained.drain(..) {
                let qos = msg.qos.min(*qos);
                self.deliver(Outgoing {
                    msg,
                    qos,
                    retain: true,
                });
            }
        }
    }

    async fn route(&self, filter: &str, qos: QoS) -> bool {
        let Some(router) = self.reg.broker.router.read().clone() else {
            return false;
        };
        let session = self.handle.clone();
        let filter = filter.to_string();
        let call = router.call(
            |reply| RouterMsg::Subscribe {
                filter,
                session,
                qos: qos.as_u8(),
                reply,
            },
            Some(Duration::from_secs(5)),
        );
        matches!(call.await, Ok(ractor::rpc::CallResult::Success(Ok(()))))
    }

    async fn unsubscribe(&mut self, filters: Vec<String>) {
        let router = self.reg.broker.router.read().clone();
        for filter in filters {
            self.reg.subscriptions.remove(&filter);
            let key = self.handle.client_id.clone();
            match &router {
                Some(router) => {
                    let _ = router
                        .call(
                            |reply| RouterMsg::Unsubscribe(filter, key, reply),
                            Some(Duration::from_secs(5)),
                        )
                        .await;
                }
                None => {
                    self.reg.broker.routes.unsubscribe(&filter, &key);
                }
            }
        }
    }

    /// Resends what waited longer than `retry_interval`, and drops QoS 2 receipts whose PUBREL
    /// never came within `await_rel_timeout`.
    fn tick(&mut self) {
        let cfg = &self.reg.broker.config.session;
        let now = Instant::now();
        if let Some(conn) = &self.conn {
            if let Some(deadline) = now.checked_sub(cfg.retry_interval) {
                for entry in self.inflight.due(deadline, now) {
                    resend(&self.reg.broker, conn, &entry);
                }
            }
        }
        let timeout = cfg.await_rel_timeout;
        self.awaiting_rel
            .retain(|_, at| now.saturating_duration_since(*at) < timeout);
    }
}

impl SessionState {
    fn info(&self) -> SessionInfo {
        let cfg = &self.reg.broker.config.session;
        let mut subscriptions: Vec<(String, u8)> = self
            .reg
            .subscriptions
            .iter()
            .map(|(f, q)| (f.clone(), q.as_u8()))
            .collect();
        subscriptions.sort();
        SessionInfo {
            client_id: self.handle.client_id.to_string(),
            clean_session: self.clean,
            connected: self.conn.is_some(),
            subscriptions,
            inflight: self.inflight.len(),
            max_inflight: usize::from(cfg.max_inflight),
            mqueue_len: self.mqueue.len(),
            mqueue_dropped: self.mqueue.dropped() + self.handle.load.dropped(),
            awaiting_rel: self.awaiting_rel.len(),
            created_at: self.created_at,
            expiry_interval: cfg.expiry_interval.as_secs(),
        }
    }
}

fn publish_packet(out: &Outgoing, pkid: Option<PacketId>, dup: bool) -> Publish {
    Publish {
        dup,
        qos: out.qos,
        retain: out.retain,
        topic: out.msg.topic.clone(),
        pkid,
        payload: out.msg.payload.clone(),
        properties: None,
    }
}

fn resend(broker: &Broker, conn: &ConnHandle, entry: &crate::mqueue::InflightEntry) {
    match entry.stage {
        Stage::Published => send(broker, conn, publish_packet(&entry.out, Some(entry.pkid), true)),
        Stage::Released => write(broker, conn, &Packet::PubRel(Ack::new(entry.pkid))),
    }
}

/// Writes a PUBLISH into the connection's outbox, counted as a message sent.
fn send(broker: &Broker, conn: &ConnHandle, publish: Publish) {
    write(broker, conn, &Packet::Publish(publish));
    Metrics::add(&broker.metrics.messages_sent, 1);
}

/// Writes a packet into the connection's outbox, counted as a packet sent.
fn write(broker: &Broker, conn: &ConnHandle, packet: &Packet) {
    conn.send(packet);
    broker.metrics.packet_sent(packet.packet_type());
}
