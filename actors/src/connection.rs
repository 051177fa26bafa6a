//! `connection_sup/connection/<peer>`: one TCP connection (emqttd_client).
//!
//! A reader task owns the read half: it decodes frames with [`crate::codec`] and casts every
//! complete packet a read brought to the actor as one batch, taking a credit per packet first, so
//! at most [`READ_CREDIT`] packets wait in the mailbox and a fast client is slowed by TCP, not by
//! our memory. The actor holds its credits back while a session it publishes to is over its
//! high water ([`crate::load`]), which is how back-pressure reaches a publisher. The actor owns
//! the write half: it and its session encode packets into the shared [`Outbox`], and one `Flush`
//! per burst writes them. The protocol itself is in [`crate::protocol`].
//!
//! Every way a connection can end is a normal stop with one log line; the will is published by
//! [`WillGuard`]'s drop unless DISCONNECT disarmed it, so it also goes out when the actor is
//! killed (kill skips `post_stop`, but the state is dropped).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{FaultHook, StartCtx, StartError, Started};
use bytes::BytesMut;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::broker::Broker;
use crate::codec::{self, CodecError, Packet, ProtocolLevel};
use crate::connection_sup::ConnectionPermit;
use crate::load::Load;
use crate::message::Message;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::retainer::RetainerMsg;
use crate::session::SessionMsg;

/// Packets the reader may have cast and the actor not yet handled. The reader casts every
/// complete frame a read brought, up to this many, as one batch.
pub const READ_CREDIT: usize = 64;

/// A connection as its session knows it: the actor and the write buffer they share.
#[derive(Clone)]
pub struct ConnHandle {
    /// The connection actor.
    pub actor: ActorRef<ConnectionMsg>,
    /// The shared write buffer.
    pub outbox: Arc<Outbox>,
}

impl ConnHandle {
    /// Queues a packet to write: no actor message unless a flush has to be asked for.
    pub fn send(&self, packet: &Packet) {
        if self.outbox.push(packet) {
            ask_flush(&self.outbox, &self.actor);
        }
    }
}

/// Casts the `Flush` an outbox asked for; if the connection is gone, the next push asks again.
fn ask_flush(outbox: &Outbox, actor: &ActorRef<ConnectionMsg>) {
    if actor.send_message(ConnectionMsg::Flush).is_err() {
        outbox.flush_failed();
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
    /// Decoded packets from the reader, in order (each holds one read credit).
    Packets(Vec<Packet>),
    /// The reader met a frame that breaks the protocol.
    ProtocolError(CodecError),
    /// The socket closed or failed.
    ReaderClosed(Option<String>),
    /// No CONNECT within `mqtt.connect_timeout` (the reader's deadline).
    ConnectTimeout,
    /// No packet within 1.5 × keepalive [MQTT-3.1.2-24] (the reader's deadline).
    KeepaliveExpired,
    /// A session this connection published to has room again: read on.
    Resume,
    /// Close: taken over, discarded, or kicked by an operator.
    Kick(String),
    /// Write what the outbox holds.
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
    /// Why it closed, for the `$SYS` notice (none when it was killed).
    closed_because: Option<String>,
    writer: OwnedWriteHalf,
    /// The buffer last written, kept to swap in for the next write.
    spare: BytesMut,
    credit: Arc<Semaphore>,
    /// Read credits held back while a session we published to is over its high water.
    pub(crate) paused: Option<usize>,
    /// Deliveries of consecutive PUBLISHes to one session, cast as one message.
    pub(crate) run: crate::router::Run,
    /// PUBACKs of one read, cast to the session as one message.
    pub(crate) acks: Vec<crate::codec::PacketId>,
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
            broker.config.mqtt.connect_timeout,
        ));
        Ok(ConnectionState {
            will: WillGuard {
                broker: broker.clone(),
                will: None,
            },
            broker,
            peer,
            path,
            client: None,
            closed_because: None,
            writer,
            spare: BytesMut::new(),
            credit,
            paused: None,
            run: Default::default(),
            acks: Vec::new(),
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
            // Boxed, one allocation per batch: ractor keeps the largest `handle` future inline
            // in every actor's processing loop, so an inline packet path (~1 KB) would be paid
            // by every idle connection.
            ConnectionMsg::Packets(packets) => Box::pin(state.handle_packets(&myself, packets)).await,
            ConnectionMsg::Resume => {
                if let Some(held) = state.paused.take() {
                    state.credit.add_permits(held);
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
                            properties: None,
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
                state.close(&myself, "no CONNECT within connect_timeout").await;
            }
            ConnectionMsg::KeepaliveExpired => state.close(&myself, "keepalive timeout").await,
            ConnectionMsg::Kick(reason) => state.close(&myself, &reason).await,
            ConnectionMsg::Flush => {
                if let Err(e) = state.flush().await {
                    state.close(&myself, &format!("socket error: {e}")).await;
                } else if state.outbox.resume() {
                    if let Some(client) = &state.client {
                        let _ = client.session.send_message(SessionMsg::Drained);
                    }
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
    /// Handles a batch from the reader, then gives its read credits back (or holds them while
    /// paused).
    async fn handle_packets(&mut self, myself: &ActorRef<ConnectionMsg>, packets: Vec<Packet>) {
        let credits = packets.len();
        for packet in packets {
            self.broker.metrics.packet_received(packet.packet_type());
            // A run spans consecutive PUBLISHes (or PUBACKs) only: whatever else the client
            // does comes after them.
            if !matches!(packet, Packet::Publish(_)) {
                self.run.cast();
            }
            if !matches!(packet, Packet::PubAck(_)) {
                self.cast_acks();
            }
            if let Err(reason) = self.handle_packet(myself, packet).await {
                self.run.cast();
                self.cast_acks();
                self.close(myself, &reason).await;
                break;
            }
        }
        self.run.cast();
        self.cast_acks();
        match &mut self.paused {
            Some(held) => *held += credits,
            None => self.credit.add_permits(credits),
        }
    }

    /// Casts the PUBACKs gathered from this read to the session, as one message.
    fn cast_acks(&mut self) {
        if self.acks.is_empty() {
            return;
        }
        if let Some(client) = &self.client {
            let acks = std::mem::take(&mut self.acks);
            let _ = client.session.send_message(SessionMsg::PubAcks(acks));
        } else {
            self.acks.clear();
        }
    }

    /// Encodes a packet into the outbox, ahead of what the session sent while held back (see
    /// [`Outbox::hold`]), and makes sure a flush follows.
    pub(crate) fn write(&mut self, myself: &ActorRef<ConnectionMsg>, packet: &Packet) {
        if self.outbox.reply(packet) {
            ask_flush(&self.outbox, myself);
        }
        self.broker.metrics.packet_sent(packet.packet_type());
    }

    /// Stops reading the socket (read credits are held back) until `load` is below its low
    /// water, or `session.publisher_wait` passed, after which that session counts as stalled.
    pub(crate) fn pause_for(&mut self, myself: &ActorRef<ConnectionMsg>, load: Arc<Load>) {
        if self.paused.is_some() {
            return;
        }
        self.paused = Some(0);
        let wait = self.broker.config.session.publisher_wait;
        let me = myself.clone();
        let peer = self.peer;
        tokio::spawn(async move {
            if tokio::time::timeout(wait, load.room()).await.is_err() {
                tracing::warn!(%peer, ?wait, "a subscriber's session stayed over half its queue: stalled, its queue drops oldest until it catches up");
                load.stall();
            }
            let _ = me.send_message(ConnectionMsg::Resume);
        });
    }

    /// Writes what the outbox holds, in one write.
    async fn flush(&mut self) -> std::io::Result<()> {
        self.outbox.take(&mut self.spare);
        if self.spare.is_empty() {
            return Ok(());
        }
        self.writer.write_all(&self.spare).await?;
        Metrics::add(&self.broker.metrics.bytes_sent, self.spare.len() as u64);
        Ok(())
    }

    /// Ends the connection: one log line (debug for a clean goodbye, info otherwise), what is
    /// buffered is written, then a normal stop.
    pub(crate) async fn close(&mut self, myself: &ActorRef<ConnectionMsg>, reason: &str) {
        // Boxed: ractor keeps the largest `handle` future inline (twice) in every actor's loop.
        Box::pin(self.close_now(myself, reason)).await
    }

    async fn close_now(&mut self, myself: &ActorRef<ConnectionMsg>, reason: &str) {
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

/// How much room a read makes in the buffer.
const READ_CHUNK: usize = 4096;

/// Reads what the socket has into `buf`. A busy connection reads on into the buffer it has
/// (reclaimed in place once its frames are gone); one with nothing to read and nothing buffered
/// drops the buffer before it waits, so an idle connection holds no [`READ_CHUNK`].
async fn read_some(read: &OwnedReadHalf, buf: &mut BytesMut) -> std::io::Result<usize> {
    loop {
        if buf.capacity() - buf.len() >= READ_CHUNK / 4 {
            match read.try_read_buf(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                done => return done,
            }
        }
        if buf.is_empty() {
            *buf = BytesMut::new();
        }
        read.readable().await?;
        buf.reserve(READ_CHUNK);
        match read.try_read_buf(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            done => return done,
        }
    }
}

/// The reader task. An `async move` block rather than an `async fn`, which would keep a second
/// copy of every argument: this future lives as long as the connection.
#[allow(clippy::manual_async_fn)] // on purpose, see above
fn read_loop(
    read: OwnedReadHalf,
    me: ActorRef<ConnectionMsg>,
    credit: Arc<Semaphore>,
    max_packet_size: usize,
    metrics: Arc<Metrics>,
    mut bucket: Option<TokenBucket>,
    connect_timeout: Duration,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    async move {
        let mut buf = BytesMut::new();
        let mut level = None;
        let mut batch = Vec::new();
        // The connect timeout, then (keepalive on) 1.5 × keepalive from the last packet. Kept here,
        // not in timer tasks: an idle connection costs no extra task.
        let mut deadline = Some(Instant::now() + connect_timeout);
        let mut keepalive = None;
        loop {
            // A block, so that `failed` is not kept across the read below.
            let full = {
                let failed = loop {
                    if batch.len() == READ_CREDIT {
                        break None;
                    }
                    match codec::decode(&mut buf, max_packet_size, level) {
                        Ok(Some(packet)) => {
                            if let Packet::Connect(connect) = &packet {
                                if level.is_none() {
                                    let secs = u64::from(connect.keep_alive);
                                    keepalive = (secs > 0).then(|| Duration::from_millis(secs * 1500));
                                }
                                level.get_or_insert(connect.level);
                            }
                            batch.push(packet);
                        }
                        Ok(None) => break None,
                        Err(err) => break Some(err),
                    }
                };
                let full = batch.len() == READ_CREDIT;
                if !batch.is_empty() {
                    // Cannot overflow u32: a batch is at most READ_CREDIT packets.
                    match credit.acquire_many(batch.len() as u32).await {
                        Ok(permit) => permit.forget(),
                        Err(_) => return,
                    }
                    if me
                        .send_message(ConnectionMsg::Packets(std::mem::take(&mut batch)))
                        .is_err()
                    {
                        return;
                    }
                    if level.is_some() {
                        deadline = keepalive.map(|k| Instant::now() + k);
                    }
                }
                if let Some(err) = failed {
                    let _ = me.send_message(ConnectionMsg::ProtocolError(err));
                    return;
                }
                full
            };
            if full {
                continue;
            }
            let got = match deadline {
                Some(at) => tokio::time::timeout_at(at, read_some(&read, &mut buf)).await,
                None => Ok(read_some(&read, &mut buf).await),
            };
            let Ok(got) = got else {
                let _ = me.send_message(match level {
                    None => ConnectionMsg::ConnectTimeout,
                    Some(_) => ConnectionMsg::KeepaliveExpired,
                });
                return;
            };
            match got {
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
}
