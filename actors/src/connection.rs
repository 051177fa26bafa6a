//! `connection_sup/connection/<peer>`: one TCP connection (emqttd_client).
//!
//! A reader task owns the read half: it decodes frames with [`crate::codec`] and casts each
//! packet to the actor, taking a credit first, so at most [`READ_CREDIT`] packets wait in the
//! mailbox and a fast client is slowed by TCP, not by our memory. The actor owns the write half:
//! replies and deliveries are encoded into one buffer and written by a `Flush` message queued
//! behind them, so a burst becomes one write. The protocol itself is in [`crate::protocol`].
//!
//! Every way a connection can end is a normal stop with one log line; the will is published by
//! [`WillGuard`]'s drop unless DISCONNECT disarmed it, so it also goes out when the actor is
//! killed (kill skips `post_stop`, but the state is dropped).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{FaultHook, StartCtx, StartError, Started};
use bytes::BytesMut;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::codec::{self, CodecError, Packet, PacketId, ProtocolLevel, Publish};
use crate::connection_sup::ConnectionPermit;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::retainer::RetainerMsg;
use crate::session::SessionMsg;

/// Packets the reader may have cast and the actor not yet handled.
pub const READ_CREDIT: usize = 64;

/// Deliveries a session may have sent to its connection and the connection not yet encoded.
/// Past this the session keeps messages in its bounded queue (drop oldest, counted) instead, so a
/// subscriber that stops reading costs at most this plus `session.max_mqueue_len` messages.
pub const OUTBOX_LIMIT: usize = 1000;

/// The count of deliveries in flight from a session to its connection (see [`OUTBOX_LIMIT`]).
#[derive(Debug, Default)]
pub struct Outbox {
    pending: AtomicUsize,
    /// Set by the session when it starts holding back; the connection then tells it when there
    /// is room again.
    blocked: AtomicBool,
}

impl Outbox {
    /// Whether the session must hold back (and marks it so, to be told when to resume).
    pub fn full(&self) -> bool {
        let full = self.pending.load(Ordering::Acquire) >= OUTBOX_LIMIT;
        if full {
            self.blocked.store(true, Ordering::Release);
        }
        full
    }

    fn sent(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// One delivery encoded; returns true when a held-back session should resume.
    fn taken(&self) -> bool {
        let left = self.pending.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        left <= OUTBOX_LIMIT / 2 && self.blocked.swap(false, Ordering::AcqRel)
    }
}

/// A connection as its session knows it: the actor and the outbox they share.
#[derive(Clone)]
pub struct ConnHandle {
    /// The connection actor.
    pub actor: ActorRef<ConnectionMsg>,
    /// Deliveries in flight to it.
    pub outbox: Arc<Outbox>,
}

impl ConnHandle {
    /// Sends a PUBLISH to write, counted in the outbox.
    pub fn deliver(&self, publish: Publish) {
        self.outbox.sent();
        if self.actor.send_message(ConnectionMsg::Deliver(publish)).is_err() {
            self.outbox.taken();
        }
    }
}

impl std::ops::Deref for ConnHandle {
    type Target = ActorRef<ConnectionMsg>;
    fn deref(&self) -> &Self::Target {
        &self.actor
    }
}

/// The close reason of a DISCONNECT.
pub(crate) const DISCONNECTED: &str = "client sent DISCONNECT";
/// The close reason of a clean EOF.
const PEER_CLOSED: &str = "peer closed the socket";

/// Messages of a connection.
pub enum ConnectionMsg {
    /// A decoded packet from the reader (it holds one read credit).
    Packet(Packet),
    /// The reader met a frame that breaks the protocol.
    ProtocolError(CodecError),
    /// The socket closed or failed.
    ReaderClosed(Option<String>),
    /// No CONNECT within `mqtt.connect_timeout`.
    ConnectTimeout,
    /// Check the keepalive.
    KeepaliveCheck,
    /// A PUBLISH from the session, to write.
    Deliver(Publish),
    /// A PUBREL the session resends.
    SendPubRel(PacketId),
    /// Close: taken over, discarded, or kicked by an operator.
    Kick(String),
    /// Write what is buffered.
    Flush,
}

/// The connected client, once CONNECT was accepted.
pub struct Client {
    /// Client id.
    pub id: Arc<str>,
    /// Its session.
    pub session: ActorRef<SessionMsg>,
    /// Keepalive (zero: off).
    pub keepalive: Duration,
    /// Protocol level.
    pub level: ProtocolLevel,
    /// User name from CONNECT (for the ACL's `user:` rules and `%u`).
    pub username: Option<String>,
}

/// Publishes the will when dropped, unless disarmed by DISCONNECT [MQTT-3.1.2-8, -10].
pub struct WillGuard {
    pub(crate) broker: Arc<Broker>,
    pub(crate) will: Option<Arc<Message>>,
}

impl Drop for WillGuard {
    fn drop(&mut self) {
        if let Some(will) = self.will.take() {
            tracing::debug!(topic = %will.topic, client_id = %will.from, "publishing will");
            if will.retain {
                if let Some(retainer) = self.broker.retainer.read().as_ref() {
                    let _ = retainer.send_message(RetainerMsg::Retain(will.clone(), None));
                }
            }
            crate::router::publish(&self.broker, will);
        }
    }
}

/// The connection actor.
pub struct Connection;

/// Its state. Dropping it (even on kill) aborts the reader, frees the permit and fires the will.
pub struct ConnectionState {
    pub(crate) broker: Arc<Broker>,
    pub(crate) peer: SocketAddr,
    pub(crate) path: String,
    pub(crate) client: Option<Client>,
    pub(crate) will: WillGuard,
    pub(crate) last_seen: Instant,
    /// Why it closed, for the `$SYS` notice (none when it was killed).
    closed_because: Option<String>,
    writer: OwnedWriteHalf,
    out: BytesMut,
    flush_queued: bool,
    credit: Arc<Semaphore>,
    pub(crate) outbox: Arc<Outbox>,
    reader: JoinHandle<()>,
    _permit: ConnectionPermit,
    fault: FaultHook,
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(client) = &self.client {
            {
                let mut clients = self.broker.clients.write();
                if clients.get(&client.id).is_some_and(|e| e.path == self.path) {
                    clients.remove(&client.id);
                }
            }
            let reason = self.closed_because.take().unwrap_or_else(|| "killed".into());
            let notice = serde_json::json!({ "clientid": &*client.id, "reason": reason, "ts": crate::protocol::unix_now() });
            crate::sys::client_event(&self.broker, &client.id, "disconnected", notice);
        }
    }
}

/// Starts the connection actor for an admitted socket.
pub async fn start(
    ctx: StartCtx,
    broker: Arc<Broker>,
    socket: TcpStream,
    peer: SocketAddr,
    permit: ConnectionPermit,
) -> Result<Option<Started>, StartError> {
    let args = (broker, socket, peer, permit, ctx.fault.clone(), ctx.path.clone());
    let (actor, _) = Actor::spawn_linked(None, Connection, args, ctx.supervisor).await?;
    Ok(Some(Started::from(actor)))
}

impl Actor for Connection {
    type Msg = ConnectionMsg;
    type State = ConnectionState;
    type Arguments = (
        Arc<Broker>,
        TcpStream,
        SocketAddr,
        ConnectionPermit,
        FaultHook,
        String,
    );

    async fn pre_start(
        &self,
        myself: ActorRef<ConnectionMsg>,
        (broker, socket, peer, permit, fault, path): Self::Arguments,
    ) -> Result<ConnectionState, ActorProcessingErr> {
        let _ = socket.set_nodelay(true);
        let (read, writer) = socket.into_split();
        let credit = Arc::new(Semaphore::new(READ_CREDIT));
        let max = broker.config.mqtt.max_packet_size as usize;
        let bucket = permit.listener().config.rate_limit.as_ref().map(TokenBucket::new);
        let reader = tokio::spawn(read_loop(
            read,
            myself.clone(),
            credit.clone(),
            max,
            broker.metrics.clone(),
            bucket,
        ));
        myself.send_after(broker.config.mqtt.connect_timeout, || {
            ConnectionMsg::ConnectTimeout
        });
        Ok(ConnectionState {
            will: WillGuard {
                broker: broker.clone(),
                will: None,
            },
            broker,
            peer,
            path,
            client: None,
            last_seen: Instant::now(),
            closed_because: None,
            writer,
            out: BytesMut::with_capacity(1024),
            flush_queued: false,
            credit,
            outbox: Arc::default(),
            reader,
            _permit: permit,
            fault,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<ConnectionMsg>,
        msg: ConnectionMsg,
        state: &mut ConnectionState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            ConnectionMsg::Packet(packet) => {
                state.credit.add_permits(1);
                state.last_seen = Instant::now();
                state.broker.metrics.packet_received(packet.packet_type());
                if let Err(reason) = state.handle_packet(&myself, packet).await {
                    state.close(&myself, &reason).await;
                }
            }
            ConnectionMsg::ProtocolError(err) => {
                Metrics::add(&state.broker.metrics.protocol_errors, 1);
                if let (None, Some(code)) = (&state.client, err.connack_code()) {
                    // [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK 0x01 first.
                    state.write(
                        &myself,
                        &Packet::ConnAck(codec::ConnAck {
                            session_present: false,
                            code,
                        }),
                    );
                }
                state.close(&myself, &format!("protocol error: {err}")).await;
            }
            ConnectionMsg::ReaderClosed(reason) => {
                let reason = reason.map_or_else(|| PEER_CLOSED.to_string(), |e| format!("socket error: {e}"));
                state.close(&myself, &reason).await;
            }
            ConnectionMsg::ConnectTimeout => {
                if state.client.is_none() {
                    state.close(&myself, "no CONNECT within connect_timeout").await;
                }
            }
            ConnectionMsg::KeepaliveCheck => {
                if let Some(client) = &state.client {
                    if state.last_seen.elapsed() > client.keepalive.mul_f32(1.5) {
                        state.close(&myself, "keepalive timeout").await;
                    }
                }
            }
            ConnectionMsg::Deliver(publish) => {
                Metrics::add(&state.broker.metrics.messages_sent, 1);
                state.write(&myself, &Packet::Publish(publish));
                if state.outbox.taken() {
                    if let Some(client) = &state.client {
                        let _ = client.session.send_message(SessionMsg::Drained);
                    }
                }
            }
            ConnectionMsg::SendPubRel(pkid) => state.write(&myself, &Packet::PubRel(pkid)),
            ConnectionMsg::Kick(reason) => state.close(&myself, &reason).await,
            ConnectionMsg::Flush => {
                state.flush_queued = false;
                if let Err(e) = state.flush().await {
                    state.out.clear();
                    state.close(&myself, &format!("socket error: {e}")).await;
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<ConnectionMsg>,
        evt: SupervisionEvent,
        state: &mut ConnectionState,
    ) -> Result<(), ActorProcessingErr> {
        let Some(client) = &state.client else {
            return Ok(());
        };
        let is_session = evt
            .actor_cell()
            .is_some_and(|c| c.get_id() == client.session.get_id());
        match evt {
            SupervisionEvent::ActorFailed(_, err) if is_session => {
                let reason = format!("session crashed: {err}");
                state.close(&myself, &reason).await;
            }
            SupervisionEvent::ActorTerminated(_, _, reason) if is_session => {
                let reason = format!(
                    "session ended: {}",
                    arbor_supervisors::ExitReason::from_reason(reason.as_deref())
                );
                state.close(&myself, &reason).await;
            }
            _ => {}
        }
        Ok(())
    }
}

impl ConnectionState {
    /// Encodes a packet into the write buffer and makes sure a flush follows.
    pub(crate) fn write(&mut self, myself: &ActorRef<ConnectionMsg>, packet: &Packet) {
        codec::encode(packet, &mut self.out);
        self.broker.metrics.packet_sent(packet.packet_type());
        if !self.flush_queued {
            self.flush_queued = myself.send_message(ConnectionMsg::Flush).is_ok();
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.writer.write_all(&self.out).await?;
        Metrics::add(&self.broker.metrics.bytes_sent, self.out.len() as u64);
        self.out.clear();
        Ok(())
    }

    /// Ends the connection: one log line (debug for a clean goodbye, info otherwise), what is
    /// buffered is written, then a normal stop.
    pub(crate) async fn close(&mut self, myself: &ActorRef<ConnectionMsg>, reason: &str) {
        self.closed_because = Some(reason.to_string());
        let client_id = self.client.as_ref().map_or("", |c| &c.id);
        if reason == DISCONNECTED || reason == PEER_CLOSED {
            tracing::debug!(peer = %self.peer, %client_id, reason, "connection closed");
        } else {
            tracing::info!(peer = %self.peer, %client_id, reason, "connection closed");
        }
        let _ = self.flush().await;
        let _ = self.writer.shutdown().await;
        myself.stop(None);
    }
}

/// esockd's rate limit: `burst` bytes at once, refilled at `rate` bytes a second. Reading more
/// than the bucket holds runs it into debt, and the reader sleeps until the debt is repaid, so
/// the average stays at the rate while the socket is not read (TCP pushes back on the client).
struct TokenBucket {
    burst: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(limit: &crate::config::RateLimit) -> Self {
        Self {
            burst: limit.burst as f64,
            rate: (limit.bytes_per_sec as f64).max(1.0),
            tokens: limit.burst as f64,
            last: Instant::now(),
        }
    }

    /// Takes `n` bytes' worth; returns how long to pause reading, if the bucket is in debt.
    fn take(&mut self, n: usize) -> Option<Duration> {
        let now = Instant::now();
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst) - n as f64;
        self.last = now;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

async fn read_loop(
    mut read: OwnedReadHalf,
    me: ActorRef<ConnectionMsg>,
    credit: Arc<Semaphore>,
    max_packet_size: usize,
    metrics: Arc<Metrics>,
    mut bucket: Option<TokenBucket>,
) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut level = None;
    loop {
        loop {
            match codec::decode(&mut buf, max_packet_size, level) {
                Ok(Some(packet)) => {
                    if let Packet::Connect(connect) = &packet {
                        level.get_or_insert(connect.level);
                    }
                    match credit.acquire().await {
                        Ok(permit) => permit.forget(),
                        Err(_) => return,
                    }
                    if me.send_message(ConnectionMsg::Packet(packet)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    let _ = me.send_message(ConnectionMsg::ProtocolError(err));
                    return;
                }
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = me.send_message(ConnectionMsg::ReaderClosed(None));
                return;
            }
            Ok(n) => {
                Metrics::add(&metrics.bytes_received, n as u64);
                if let Some(pause) = bucket.as_mut().and_then(|b| b.take(n)) {
                    tokio::time::sleep(pause).await;
                }
            }
            Err(e) => {
                let _ = me.send_message(ConnectionMsg::ReaderClosed(Some(e.to_string())));
                return;
            }
        }
    }
}
