//! `session_sup/session/<client-id>`: one client's session (emqttd_session), the sm pool that
//! opens sessions, and the registry that finds them.
//!
//! A session holds what MQTT 3.1.1 §4.1 calls the session state: subscriptions, QoS 1/2 messages
//! in flight to the client ([`inflight`]), messages queued while the client is away or the window
//! is full ([`mqueue`]), and QoS 2 messages received from the client awaiting PUBREL. It also
//! holds the client's will while connected, and the write half of the client's socket
//! ([`outbox`]): the session is the one writer of its client's socket.
//!
//! It lives apart from the connection: a persistent session (clean session 0) outlives its
//! connection until `session.expiry_interval`, and a new connection with the same client id takes
//! it over: the old one is closed, CONNACK goes out, inflight messages are resent with DUP, then
//! the queue, in order [MQTT-4.4.0-1].
//!
//! The session monitors its connection and the connection its session. When the connection ends
//! without the client's DISCONNECT (a socket error, a keepalive timeout, a kick, a takeover, a
//! kill) the session publishes the will [MQTT-3.1.2-8]; a clean session then ends, a persistent
//! one waits. What must be released even when the session is killed (its routes, its load's
//! waiters, the sessions gauge) is released by [`Registration`]'s `Drop`; its registry entry is
//! removed by the sm worker that monitors it.

mod aliases;
mod delivery;
mod durable;
pub mod inflight;
mod info;
pub(crate) mod lifecycle;
pub mod mqueue;
pub mod outbox;
mod receipts;
pub mod registry;
pub mod restorer;
pub mod sm;
mod subscriptions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{Slot, Worker};
use ractor::{ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::auth::Access;
use crate::codec::{Ack, Packet, PacketId, ProtocolLevel, QoS, ReasonCode, SubOptions, SubackCode, UnsubAck};
use crate::config::{MqttConfig, SessionConfig};
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::routing::load::Load;
use crate::routing::publish::{Deliveries, Inbox, Publisher};
use crate::routing::retainer::Retained;
use crate::routing::router::RouterMsg;
use crate::routing::trie::{RouteTable, Subscriber};
use crate::session::inflight::Inflight;
use crate::session::mqueue::MQueue;
use crate::session::outbox::{FlushOutcome, Flushed, Outbox};

/// Packets a connection's reader may have handed its session and the session not yet handled
/// (the reader's read credits). The reader hands over every complete frame a read brought, up
/// to this many, as one batch.
pub const READ_CREDIT: usize = 64;

/// The route table the broker runs: filters to sessions.
pub type Routes = RouteTable<SessionHandle>;

/// What sessions need of the rest of the broker: built once by the tree, shared by all.
pub struct SessionDeps {
    /// `[session]` configuration.
    pub config: SessionConfig,
    /// `[mqtt]` configuration (what subscriptions may use).
    pub mqtt: MqttConfig,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The router (subscribe and unsubscribe are calls to it).
    pub router: Slot<ActorRef<RouterMsg<SessionHandle>>>,
    /// Retained messages, read on subscribe.
    pub retained: Arc<Retained>,
    /// The publish path, for wills.
    pub publisher: Publisher<SessionHandle>,
    /// The ACL, for SUBSCRIBE.
    pub access: Access,
}

/// How the route table and the publish path address a session.
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
    fn alive(&self) -> bool {
        arbor_supervisors::worker::alive(&self.session.get_cell())
    }
}

impl Inbox for SessionHandle {
    fn load(&self) -> &Arc<Load> {
        &self.load
    }
    fn deliver(&self, deliveries: Deliveries) -> bool {
        self.session.send_message(SessionMsg::Deliver(deliveries)).is_ok()
    }
    fn same_inbox(&self, other: &Self) -> bool {
        self.session.get_id() == other.session.get_id()
    }
    fn durable_key(&self) -> Option<&str> {
        self.load.is_durable().then_some(&*self.client_id)
    }
}

/// What the connection's reader hands the session, in the order the client sent it.
pub enum Inbound {
    /// A packet from the client: PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ.
    Client(Packet),
    /// An acknowledgement the broker owes for a PUBLISH the reader routed (PUBACK, PUBREC).
    Reply(Packet),
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
    /// Routed messages (counted in the load when they were cast).
    Deliver(Deliveries),
    /// Packets from the client, holding this many read credits of the reader's semaphore, which
    /// are given back once handled (held while the client does not read what we write).
    Inbound(Arc<Semaphore>, Vec<Inbound>),
    /// A QoS 2 PUBLISH from the client: new or a duplicate?
    Qos2Received(PacketId, RpcReplyPort<Qos2>),
    /// The client sent DISCONNECT: its will is discarded [MQTT-3.1.2-10], unless (MQTT 5) its
    /// reason was 0x04; a Session Expiry Interval in it replaces the session's. Replies false
    /// when that change is not allowed (from 0 to more [MQTT-3.14.2-2]).
    Disconnect(Box<ClientDisconnect>, RpcReplyPort<bool>),
    /// The connection (this actor) is closing for this reason: an MQTT 5 client is told with a
    /// DISCONNECT first, written by the session, the socket's one writer.
    Goodbye(Box<(ractor::ActorId, ReasonCode)>, RpcReplyPort<()>),
    /// A (new) connection takes the session over.
    Attach(Box<Attach>, RpcReplyPort<()>),
    /// Discard the session (a clean-session reconnect): close its connection and stop.
    Discard(RpcReplyPort<()>),
    /// Subscribe on the client's behalf (the admin API); replies with the SUBACK codes.
    Subscribe(Box<Vec<(String, QoS)>>, RpcReplyPort<Vec<SubackCode>>),
    /// Unsubscribe on the client's behalf (the admin API).
    Unsubscribe(Box<Vec<String>>, RpcReplyPort<()>),
    /// A write that had to wait is done (boxed: rare, and large next to the other messages).
    Flushed(Box<Flushed>),
    /// Retry and expiry pass: a timer armed only while something is inflight or awaiting PUBREL.
    Tick,
    /// The expiry timer of a detached persistent session, with its generation.
    Expire(u64),
    /// The will delay of a detached session ran out (with the detach's generation).
    WillDue(u64),
    /// What the admin API shows about this session.
    Info(RpcReplyPort<SessionInfo>),
}

pub use info::SessionInfo;
pub use lifecycle::{Attach, ClientDisconnect, ClientLimits, Identity};

/// What a session starts with.
pub struct SessionArgs {
    /// The broker's handles.
    pub deps: Arc<SessionDeps>,
    /// Client id.
    pub client_id: Arc<str>,
    /// Clean session (3.1.1) or Clean Start (MQTT 5) flag.
    pub clean: bool,
    /// A connection, or what the store kept.
    pub start: Start,
}

/// How a session starts.
pub enum Start {
    /// A connecting client opens it.
    Attach(Box<Attach>),
    /// It comes back, detached, from the store (at boot, or restarted after a kill).
    Restore(Box<crate::store::SessionImage>),
}

/// Released when the session ends, however it ends (kill included): its routes (through the
/// router, their one writer; a router that is down sweeps them when it starts), its load's
/// waiting publishers and the sessions gauge.
struct Registration {
    /// How routes address this session.
    handle: SessionHandle,
    router: Slot<ActorRef<RouterMsg<SessionHandle>>>,
    metrics: Arc<Metrics>,
    /// Filter → its options (a sorted map: small, and listed in order by `info`; the MQTT 5
    /// identifiers live beside it, in the session, as few subscriptions have one).
    /// (Options packed in their wire byte, [`SubOptions::to_byte`]: this map is in every session.)
    subscriptions: BTreeMap<String, u8>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.subscriptions.is_empty() {
            if let Some(router) = self.router.get() {
                let filters = self.subscriptions.keys().cloned().collect();
                let _ = router.send_message(RouterMsg::RemoveAll(self.handle.client_id.clone(), filters));
            }
        }
        self.handle.load.close();
        Metrics::gauge_down(&self.metrics.sessions);
    }
}

/// What an MQTT 5 client tells its session in CONNECT, and the aliases toward it.
#[derive(Default)]
struct V5Client {
    /// How long the will waits after the connection ends.
    will_delay: Duration,
    /// What the client accepts.
    limits: ClientLimits,
    /// Topic aliases toward it.
    aliases: aliases::OutAliases,
}

/// The attached connection.
struct Connected {
    cell: ActorCell,
    identity: Box<Identity>,
}

/// The attached reader's read credits: what it has taken and we have not handled is on its
/// way; `held` are credits of handled packets kept back while the client does not read what we
/// write.
struct Credit {
    semaphore: Arc<Semaphore>,
    held: usize,
}

/// The session worker.
pub struct Session;

/// Its state.
pub struct SessionState {
    reg: Registration,
    deps: Arc<SessionDeps>,
    clean: bool,
    /// How long the session outlives its connection (0: it ends with it).
    expiry: Duration,
    conn: Option<Connected>,
    outbox: Outbox,
    will: Option<Arc<Message>>,
    /// What an MQTT 5 client adds (boxed: absent for 3.1/3.1.1, and the session is in every
    /// connection's memory).
    v5: Option<Box<V5Client>>,
    /// MQTT 5 Subscription Identifiers by filter (made on first use).
    sub_ids: subscriptions::SubIds,
    /// Whether a subscription has an option that changes a delivery (No Local, Retain As
    /// Published, an identifier): then each delivery is matched against the session's filters.
    with_options: bool,
    inflight: Inflight,
    mqueue: MQueue,
    awaiting_rel: receipts::Receipts,
    /// The attached reader's read credits, as last seen.
    credit: Option<Credit>,
    /// Whether a `Tick` is scheduled. An idle session has no timer (each costs a tokio task).
    tick_armed: bool,
    expiry_gen: u64,
    created_at: u64,
    /// Store writes gathered while handling a message ([`durable`]).
    ops: Vec<crate::store::Op>,
    /// The first store sequence number that is this session's.
    since: u64,
}

impl Worker for Session {
    type Msg = SessionMsg;
    type Args = SessionArgs;
    type State = SessionState;

    async fn init(
        myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        let deps = args.deps;
        let cfg = &deps.config;
        let m = &deps.metrics;
        Metrics::gauge_up(&m.sessions, &m.sessions_max);
        let load = Arc::new(Load::new(cfg.max_mqueue_len));
        let outbox = Outbox::new(deps.metrics.clone());
        let since = deps.publisher.store().peek_seq();
        let mut state = SessionState {
            inflight: Inflight::new(cfg.max_inflight),
            mqueue: MQueue::new(cfg.max_mqueue_len, cfg.mqueue_store_qos0),
            reg: Registration {
                handle: SessionHandle {
                    client_id: args.client_id,
                    session: myself.clone(),
                    load,
                },
                router: deps.router.clone(),
                metrics: deps.metrics.clone(),
                subscriptions: BTreeMap::new(),
            },
            deps,
            clean: args.clean,
            expiry: Duration::ZERO,
            conn: None,
            outbox,
            will: None,
            v5: None,
            sub_ids: subscriptions::SubIds::default(),
            with_options: false,
            awaiting_rel: receipts::Receipts::default(),
            credit: None,
            tick_armed: false,
            expiry_gen: 0,
            created_at: crate::message::unix_now(),
            ops: Vec::new(),
            since,
        };
        match args.start {
            Start::Attach(attach) => state.attach(&myself, *attach),
            Start::Restore(image) => Box::pin(state.restore(&myself, *image)).await,
        }
        state.flush_store();
        state.flush(&myself);
        Ok(state)
    }

    async fn handle(
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Deliver(deliveries) => state.routed(deliveries),
            // Boxed: the largest future of `handle` is kept inline in every session's actor loop,
            // idle or not, and subscribing (which waits on the router) is the large, rare one.
            SessionMsg::Inbound(credit, packets) => Box::pin(state.inbound(credit, packets)).await,
            SessionMsg::Qos2Received(pkid, reply) => {
                let _ = reply.send(state.qos2_received(pkid));
            }
            SessionMsg::Disconnect(disconnect, reply) => {
                let _ = reply.send(state.client_disconnect(*disconnect));
            }
            SessionMsg::Goodbye(said, reply) => {
                let (conn, reason) = *said;
                state.goodbye(&myself, conn, reason);
                let _ = reply.send(());
            }
            SessionMsg::Attach(attach, reply) => {
                state.attach(&myself, *attach);
                let _ = reply.send(());
            }
            SessionMsg::Discard(reply) => {
                state.close_connection(&myself, "discarded by a clean session");
                // A will still waiting its delay goes out as the session ends.
                state.publish_will();
                state.end_stored();
                myself.stop(None);
                let _ = reply.send(());
            }
            SessionMsg::Subscribe(filters, reply) => {
                let filters = (*filters)
                    .into_iter()
                    .map(|(f, q)| (f, SubOptions::new(q), None))
                    .collect();
                let granted = Box::pin(state.subscribe(filters, false)).await;
                Box::pin(state.store_durable()).await;
                let _ = reply.send(granted.codes);
                state.send_retained(granted.filters);
            }
            SessionMsg::Unsubscribe(filters, reply) => {
                let _ = Box::pin(state.unsubscribe(*filters)).await;
                Box::pin(state.store_durable()).await;
                let _ = reply.send(());
            }
            SessionMsg::Flushed(flushed) => {
                if let FlushOutcome::Failed(e) = state.outbox.flushed(*flushed) {
                    tracing::debug!(client_id = %state.reg.handle.client_id, error = %e, "write failed");
                }
                state.drain();
                if state.outbox.has_room() || !state.outbox.attached() {
                    state.release_credit();
                }
            }
            SessionMsg::Tick => {
                state.tick_armed = false;
                state.tick();
            }
            SessionMsg::Info(reply) => {
                let _ = reply.send(state.info());
            }
            SessionMsg::Expire(generation) => {
                if state.conn.is_none() && generation == state.expiry_gen {
                    tracing::info!(client_id = %state.reg.handle.client_id, "persistent session expired");
                    state.publish_will();
                    state.end_stored();
                    myself.stop(None);
                }
            }
            SessionMsg::WillDue(generation) => {
                if state.conn.is_none() && generation == state.expiry_gen {
                    state.publish_will();
                }
            }
        }
        state.reg.handle.load.set_queued(state.mqueue.len());
        // The write first: arming the retry timer spawns a task, and the client is waiting.
        state.flush(&myself);
        state.flush_store();
        state.arm_tick(&myself);
        Ok(())
    }

    fn exited(
        myself: ActorRef<SessionMsg>,
        event: SupervisionEvent,
        state: &mut SessionState,
    ) -> impl std::future::Future<Output = Result<(), ActorProcessingErr>> + Send {
        let ended = match &event {
            SupervisionEvent::ActorTerminated(cell, ..) | SupervisionEvent::ActorFailed(cell, _) => {
                Some(cell.get_id())
            }
            _ => None,
        };
        if ended.is_some() && state.conn.as_ref().map(|c| c.cell.get_id()) == ended {
            state.detach(&myself);
            state.flush_store();
        }
        std::future::ready(Ok(()))
    }

    /// A session stopped while its client is connected (the broker shuts down, or an operator
    /// stops it): an MQTT 5 client is told why [MQTT-3.14.0-1].
    fn stopped(
        myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> impl std::future::Future<Output = Result<(), ActorProcessingErr>> + Send {
        if state.conn.is_some() {
            state.say_goodbye(&myself, ReasonCode::SERVER_SHUTTING_DOWN);
        }
        std::future::ready(Ok(()))
    }
}

impl SessionState {
    /// Packets from the client's reader, in order; its read credits go back once they are
    /// handled, unless the client is not reading what we write.
    async fn inbound(&mut self, credit: Arc<Semaphore>, packets: Vec<Inbound>) {
        let n = packets.len();
        for packet in packets {
            match packet {
                Inbound::Reply(reply) => self.write(&reply),
                Inbound::Client(packet) => self.client_packet(packet).await,
            }
        }
        match &mut self.credit {
            Some(c) if Arc::ptr_eq(&c.semaphore, &credit) => c.held += n,
            _ => {
                // A new reader (or the first batch): give back what the old one had held.
                self.release_credit();
                self.credit = Some(Credit {
                    semaphore: credit,
                    held: n,
                });
            }
        }
        if self.outbox.has_room() || !self.outbox.attached() {
            self.release_credit();
        }
    }

    /// Whether the reader has handed over packets not yet handled here (it takes a credit for
    /// each before it casts them).
    fn inbound_pending(&self) -> bool {
        self.credit
            .as_ref()
            .is_some_and(|c| READ_CREDIT.saturating_sub(c.semaphore.available_permits()) > c.held)
    }

    /// Gives the reader the credits held back (the client reads again, or is gone).
    fn release_credit(&mut self) {
        if let Some(c) = &mut self.credit {
            c.semaphore.add_permits(std::mem::take(&mut c.held));
        }
    }

    async fn client_packet(&mut self, packet: Packet) {
        match packet {
            Packet::PubAck(ack) | Packet::PubComp(ack) => {
                if let Some(seq) = self.inflight.complete(ack.pkid) {
                    self.forget(seq);
                    self.drain();
                }
            }
            Packet::PubRec(ack) => {
                if let Some(seq) = self.inflight.received(ack.pkid, Instant::now()) {
                    self.note_sent(seq, ack.pkid, inflight::Stage::Released);
                }
                self.write(&Packet::PubRel(Ack::new(ack.pkid)));
            }
            Packet::PubRel(ack) => {
                let mut comp = Ack::new(ack.pkid);
                match self.awaiting_rel.remove(&ack.pkid) {
                    Some(_) => self.receipt_done(ack.pkid),
                    // MQTT 5 says so; 3.1.1 has no reason codes (the encoder leaves it out).
                    None => comp.reason = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                }
                self.write(&Packet::PubComp(comp));
            }
            Packet::Subscribe(subscribe) => {
                let id = subscribe
                    .properties
                    .as_ref()
                    .and_then(|p| p.subscription_ids.first().copied());
                let filters = subscribe.filters.into_iter().map(|(f, o)| (f, o, id)).collect();
                let granted = self.subscribe(filters, true).await;
                self.store_durable().await;
                self.write(&Packet::SubAck(crate::codec::SubAck {
                    pkid: subscribe.pkid,
                    return_codes: granted.codes,
                    properties: None,
                }));
                // Retained messages follow the SUBACK [MQTT-3.3.1-6].
                self.send_retained(granted.filters);
            }
            Packet::Unsubscribe(unsubscribe) => {
                let reasons = self.unsubscribe(unsubscribe.filters).await;
                self.store_durable().await;
                let mut unsuback = UnsubAck::new(unsubscribe.pkid);
                if self.outbox.level() == ProtocolLevel::V5 {
                    unsuback.reasons = reasons;
                }
                self.write(&Packet::UnsubAck(unsuback));
            }
            Packet::PingReq => self.write(&Packet::PingResp),
            other => {
                tracing::debug!(client_id = %self.reg.handle.client_id, packet = ?other.packet_type(), "not a packet for the session");
            }
        }
    }

    fn qos2_received(&mut self, pkid: PacketId) -> Qos2 {
        if self.awaiting_rel.get(&pkid).is_some() {
            return Qos2::Duplicate;
        }
        let mut max = usize::from(self.deps.config.max_awaiting_rel);
        if max > 0 && self.outbox.level() == ProtocolLevel::V5 {
            // An MQTT 5 client was promised `mqtt.receive_maximum` unacknowledged PUBLISHes.
            max = max.max(usize::from(self.deps.mqtt.receive_maximum));
        }
        if max > 0 && self.awaiting_rel.len() >= max {
            tracing::warn!(client_id = %self.reg.handle.client_id, %max, "too many QoS 2 messages awaiting PUBREL, dropping");
            return Qos2::Full;
        }
        self.awaiting_rel.insert(pkid, Instant::now());
        Qos2::New
    }

    /// Writes what this message produced, without waiting, unless more is on its way
    /// (deliveries, or packets the reader has taken credits for) and the buffer is small: then
    /// the last of them writes (see [`outbox`]).
    fn flush(&mut self, myself: &ActorRef<SessionMsg>) {
        let more = self.reg.handle.load.in_mailbox() > 0 || self.inbound_pending();
        if more && self.outbox.buffered() < outbox::WRITE_BATCH {
            return;
        }
        if let FlushOutcome::Failed(e) = self.outbox.flush(myself, |f| SessionMsg::Flushed(Box::new(f))) {
            tracing::debug!(client_id = %self.reg.handle.client_id, error = %e, "write failed");
        }
    }
}
