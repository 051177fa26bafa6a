//! `connection_sup/connection/<peer>`: one client connection (emqttd_client with
//! emqttd_protocol's CONNECT).
//!
//! The connection actor owns the connection's life: the socket until CONNECT is accepted, the
//! [`reader`] task that reads it, the `max_connections` permit, and the reason it ends. Its work
//! is CONNECT ([`connect`]): check the client id, authenticate, and ask the sm pool for the
//! session, handing the session the socket's write half; from then on the session is the one
//! writer of the socket and writes CONNACK.
//!
//! After CONNECT, packets do not pass through this actor. The reader runs the client's side of
//! the protocol ([`inbound`]): a PUBLISH is checked against the ACL and routed where it is read,
//! straight into the subscribers' sessions, and everything else goes to the client's own session
//! in order. A delivery to an online subscriber so crosses two tasks, the publisher's reader and
//! the subscriber's session, which writes it.
//!
//! Every way a connection ends is a stop with one log line and an `ExitReason::Shutdown` that
//! says why; the sm worker monitoring it reports that reason in `$SYS` and forgets the client, and
//! the session monitoring it publishes the will unless the client sent DISCONNECT. When it is the
//! session that dies abnormally (killed, panicked), the session cannot publish the will, so the
//! connection does, then closes.

pub mod client_id;
pub mod close_log;
pub mod connect;
mod enhanced_auth;
pub mod frame_clock;
mod inbound;
mod negotiate;
mod reader;
mod topic_alias;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{ExitReason, Worker};
use ractor::{ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::Access;
use crate::codec::{Auth, CodecError, Connect, ConnectReturnCode, ProtocolLevel, ReasonCode};
use crate::config::MqttConfig;
use crate::esockd::table::ConnectionPermit;
use crate::esockd::transport::Kind;
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::routing::publish::Publisher;
use crate::session::outbox::Writer;
use crate::session::sm::SmPool;
use crate::session::{SessionHandle, SessionMsg};

pub use crate::session::READ_CREDIT;

/// What connections need of the rest of the broker: built once by the tree, shared by all.
pub struct ConnectionDeps {
    /// `[mqtt]` configuration.
    pub mqtt: MqttConfig,
    /// `session.publisher_wait`: how long a publisher waits for a subscriber over high water.
    pub publisher_wait: Duration,
    /// `session.expiry_interval`: the longest a session outlives its connection.
    pub session_expiry_max: Duration,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Passwords and ACL.
    pub access: Access,
    /// The publish path.
    pub publisher: Publisher<SessionHandle>,
    /// The sm pool, which opens sessions.
    pub sm: SmPool,
}

/// Why a connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// The client sent DISCONNECT.
    Disconnected,
    /// A clean EOF between packets.
    PeerClosed,
    /// The socket failed, or closed inside a packet.
    Socket(String),
    /// A packet broke the protocol (MQTT 5: DISCONNECT 0x82).
    Protocol(String),
    /// A packet broke a rule with its own MQTT 5 reason code (malformed 0x81, too large 0x95,
    /// topic alias invalid 0x94, receive maximum exceeded 0x93...), sent in a DISCONNECT.
    Violation(ReasonCode, String),
    /// CONNECT could not be accepted as it came (a protocol level this broker does not speak
    /// [MQTT-3.1.2-2], an invalid MQTT 5 CONNECT): CONNACK says so first, at this level.
    Unsupported(ConnectReturnCode, ProtocolLevel, String),
    /// No CONNECT within `mqtt.connect_timeout`.
    ConnectTimeout,
    /// A packet that began was not finished within `mqtt.frame_timeout`.
    FrameTimeout,
    /// No packet within 1.5 × keepalive [MQTT-3.1.2-24].
    KeepaliveExpired,
    /// CONNECT was refused (the CONNACK said why).
    Refused(String),
    /// The session ended, or could not be reached.
    SessionGone(String),
    /// The reader task failed; a bug, reported as such.
    ReaderPanicked,
}

impl Close {
    /// A short name per kind, for counting closes by reason.
    pub fn kind(&self) -> &'static str {
        match self {
            Close::Disconnected => "disconnected",
            Close::PeerClosed => "peer_closed",
            Close::Socket(_) => "socket_error",
            Close::Protocol(_) | Close::Violation(..) | Close::Unsupported(..) => "protocol_error",
            Close::ConnectTimeout => "connect_timeout",
            Close::FrameTimeout => "frame_timeout",
            Close::KeepaliveExpired => "keepalive_timeout",
            Close::Refused(_) => "connect_refused",
            Close::SessionGone(_) => "session_gone",
            Close::ReaderPanicked => "reader_panicked",
        }
    }
}

impl std::fmt::Display for Close {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Close::Disconnected => f.write_str("client sent DISCONNECT"),
            Close::PeerClosed => f.write_str("peer closed the socket"),
            Close::Socket(e) => write!(f, "socket error: {e}"),
            Close::Protocol(e) | Close::Unsupported(_, _, e) => write!(f, "protocol error: {e}"),
            Close::Violation(code, e) => write!(f, "protocol error ({}): {e}", code.name().unwrap_or("?")),
            Close::ConnectTimeout => f.write_str("no CONNECT within connect_timeout"),
            Close::FrameTimeout => f.write_str("a packet was not finished within frame_timeout"),
            Close::KeepaliveExpired => f.write_str("keepalive timeout"),
            Close::Refused(why) => write!(f, "CONNECT refused: {why}"),
            Close::SessionGone(why) => write!(f, "session ended: {why}"),
            Close::ReaderPanicked => f.write_str("reader task panicked"),
        }
    }
}

impl Close {
    /// The reason code an MQTT 5 client is told in the server's DISCONNECT, if it is told one
    /// (section 3.14.2.1): not when the client left, nor when the socket is gone.
    pub fn disconnect_reason(&self) -> Option<ReasonCode> {
        Some(match self {
            Close::Protocol(_) => ReasonCode::PROTOCOL_ERROR,
            Close::Violation(code, _) => *code,
            Close::KeepaliveExpired => ReasonCode::KEEP_ALIVE_TIMEOUT,
            Close::ReaderPanicked => ReasonCode::UNSPECIFIED_ERROR,
            Close::Disconnected
            | Close::PeerClosed
            | Close::Socket(_)
            | Close::Unsupported(..)
            | Close::ConnectTimeout
            | Close::FrameTimeout
            | Close::Refused(_)
            | Close::SessionGone(_) => return None,
        })
    }
}

impl From<CodecError> for Close {
    fn from(err: CodecError) -> Self {
        let code = err.disconnect_reason().unwrap_or(ReasonCode::PROTOCOL_ERROR);
        Close::Violation(code, err.to_string())
    }
}

/// What the reader needs once CONNECT is accepted.
pub struct Attached {
    /// Client id.
    pub client_id: Arc<str>,
    /// The session, which takes everything but PUBLISH.
    pub session: ActorRef<SessionMsg>,
    /// User name, for the ACL.
    pub username: Option<Arc<str>>,
    /// Peer address, for the ACL.
    pub ip: std::net::IpAddr,
    /// The keepalive the client is held to (MQTT 5: possibly the server's).
    pub keepalive: u16,
    /// The protocol level.
    pub level: ProtocolLevel,
    /// Whether its session is stored (persistent, with a store): its QoS 2 receipts are too.
    pub durable: bool,
}

/// How the reader goes on after CONNECT (or an AUTH during it).
pub enum Answer {
    /// Accepted: the client's side of the protocol starts.
    Attached(Box<Attached>),
    /// Enhanced authentication goes on: the next packet must be AUTH.
    Continue,
    /// Refused (the CONNACK is written; the actor is closing).
    Refused,
}

/// Messages of a connection.
pub enum ConnectionMsg {
    /// The reader decoded CONNECT; the answer says how the reader goes on.
    Connect(Box<Connect>, oneshot::Sender<Answer>),
    /// The reader decoded an AUTH while enhanced authentication is under way.
    Auth(Auth, oneshot::Sender<Answer>),
    /// The reader stopped, for this reason.
    Closed(Close),
    /// A TLS or WebSocket connection's reader finished the handshake: the write half (sent
    /// before the reader reads, so before CONNECT).
    /// With the client's real address if a proxy named it.
    Upgraded(Box<(Writer, Option<SocketAddr>)>),
}

/// What a connection starts with.
pub struct ConnectionArgs {
    /// The broker's handles.
    pub deps: Arc<ConnectionDeps>,
    /// The admitted socket.
    pub socket: TcpStream,
    /// Its peer.
    pub peer: SocketAddr,
    /// Its slot under the listener's `max_connections`.
    pub permit: ConnectionPermit,
    /// Its path in the tree (shared with the registry's entry for the client).
    pub path: Arc<str>,
}

/// The connected client, once CONNECT was accepted.
struct Client {
    id: Arc<str>,
    session: ActorRef<SessionMsg>,
    /// The will, published here only if the session dies abnormally (see the module docs).
    will: Option<Arc<Message>>,
}

/// The connection worker.
pub struct Connection;

/// Its state. Dropping it (even on kill) stops the reader and frees the permit.
pub struct ConnectionState {
    deps: Arc<ConnectionDeps>,
    peer: SocketAddr,
    path: Arc<str>,
    /// The socket's write half until CONNECT is accepted; then the session's.
    writer: Option<Writer>,
    /// The protocol level of the CONNECT (3.1.1 until one came).
    level: ProtocolLevel,
    /// A CONNECT whose enhanced authentication is under way.
    pending_auth: Option<Box<enhanced_auth::Pending>>,
    client: Option<Client>,
    reader: JoinHandle<()>,
    _permit: ConnectionPermit,
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Worker for Connection {
    type Msg = ConnectionMsg;
    type Args = ConnectionArgs;
    type State = ConnectionState;

    async fn init(
        myself: ActorRef<ConnectionMsg>,
        args: ConnectionArgs,
    ) -> Result<ConnectionState, ActorProcessingErr> {
        let listener = args.permit.listener();
        let bucket = listener.rate_limit().map(Box::new);
        // TCP is split here; other kinds are handshaken first, in the reader (see esockd::transport).
        let (read, writer): (_, Option<Writer>) = match listener.kind() {
            Kind::Tcp if !listener.config().proxy_protocol => {
                let _ = args.socket.set_nodelay(true);
                let (read, write) = args.socket.into_split();
                (reader::Source::Tcp(read), Some(Box::new(write)))
            }
            _ => (reader::Source::Handshake(args.socket, listener.clone()), None),
        };
        let reader = reader::spawn(reader::ReaderArgs {
            read,
            conn: myself,
            deps: args.deps.clone(),
            bucket,
        });
        Ok(ConnectionState {
            deps: args.deps,
            peer: args.peer,
            path: args.path,
            writer,
            level: ProtocolLevel::V311,
            pending_auth: None,
            client: None,
            reader,
            _permit: args.permit,
        })
    }

    async fn handle(
        myself: ActorRef<ConnectionMsg>,
        msg: ConnectionMsg,
        state: &mut ConnectionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            // Boxed: the largest future of `handle` is kept inline in every connection's actor
            // loop, idle or not, and CONNECT is the large path, taken once.
            ConnectionMsg::Connect(connect, reply) => {
                let answer = Box::pin(state.connect(&myself, connect)).await;
                state.answer(&myself, answer, reply).await;
            }
            ConnectionMsg::Auth(auth, reply) => {
                let answer = Box::pin(state.continue_auth(&myself, auth)).await;
                state.answer(&myself, answer, reply).await;
            }
            ConnectionMsg::Closed(close) => Box::pin(state.close(&myself, &close)).await,
            ConnectionMsg::Upgraded(upgraded) => {
                let (writer, peer) = *upgraded;
                state.writer = Some(writer);
                state.peer = peer.unwrap_or(state.peer);
            }
        }
        Ok(())
    }

    fn exited(
        myself: ActorRef<ConnectionMsg>,
        event: SupervisionEvent,
        state: &mut ConnectionState,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let close = state.session_ended(&event);
        async move {
            if let Some(close) = close {
                Box::pin(state.close(&myself, &close)).await;
            }
            Ok(())
        }
    }
}

impl ConnectionState {
    /// If `event` says the session ended, why the connection closes; a session that died
    /// abnormally could not publish the will, so it is published here.
    fn session_ended(&mut self, event: &SupervisionEvent) -> Option<Close> {
        let client = self.client.as_mut()?;
        let (cell, reason) = match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, ExitReason::from_reason(reason.as_deref()))
            }
            SupervisionEvent::ActorFailed(cell, err) => (cell, ExitReason::Failed(err.to_string())),
            _ => return None,
        };
        if cell.get_id() != client.session.get_id() {
            return None;
        }
        if reason.is_abnormal() {
            if let Some(will) = client.will.take() {
                tracing::debug!(topic = %will.topic, client_id = %client.id, "session died: publishing the will");
                if will.retain {
                    self.deps.publisher.retain(&will);
                }
                self.deps.publisher.publish(will);
            }
        }
        Some(Close::SessionGone(reason.to_string()))
    }
}

impl ConnectionState {
    /// Tells the reader how to go on; a refusal closes.
    async fn answer(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        answer: Result<Answer, Close>,
        reply: oneshot::Sender<Answer>,
    ) {
        match answer {
            Ok(answer) => {
                let _ = reply.send(answer);
            }
            Err(close) => {
                let _ = reply.send(Answer::Refused);
                Box::pin(self.close(myself, &close)).await;
            }
        }
    }

    /// Ends the connection: one log line (debug for a clean goodbye; otherwise info, with
    /// repeats of a kind summarised by [`close_log`]), then a stop whose reason says why. The
    /// session, monitoring this actor, closes the socket's write half.
    async fn close(&mut self, myself: &ActorRef<ConnectionMsg>, close: &Close) {
        let client_id = self.client.as_ref().map_or("", |c| &*c.id);
        if matches!(close, Close::Disconnected | Close::PeerClosed) {
            tracing::debug!(peer = %self.peer, %client_id, reason = %close, "connection closed");
        } else {
            close_log::closed(self.peer, client_id, &close.to_string());
        }
        if close.kind() == "protocol_error" {
            Metrics::add(&self.deps.metrics.protocol_errors, 1);
        }
        if let Close::Unsupported(code, level, _) = close {
            self.level = *level;
            self.refuse(*code).await;
        }
        if let (Some(client), Some(reason)) = (&self.client, close.disconnect_reason()) {
            if self.level == ProtocolLevel::V5 {
                // The session writes the DISCONNECT: it owns the socket's write side.
                crate::session::lifecycle::goodbye(&client.session, myself.get_id(), reason).await;
            }
        }
        if let Some(mut writer) = self.writer.take() {
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut writer).await;
        }
        myself.stop(Some(ExitReason::Shutdown(Some(close.to_string())).to_reason()));
    }
}
