//! The reader task: reads a connection's socket, frames packets with [`crate::codec`], keeps the
//! connection's deadlines, and runs the client's side of the protocol ([`super::inbound`]).
//!
//! Deadlines, kept here rather than in timer tasks (an idle connection costs no extra task):
//! CONNECT within `mqtt.connect_timeout`; then, with keepalive on, a packet within 1.5 ×
//! keepalive [MQTT-3.1.2-24]; and a packet that has begun must be finished within
//! `mqtt.frame_timeout`, keepalive or not, so a peer that trickles or stalls mid-packet is closed
//! ([`FrameClock`]: only time spent waiting on the socket counts against it).
//!
//! Reading stops (TCP pushes back on the client) while the rate limit's bucket is in debt, while
//! the session has not handed back the read credits of what it was given ([`READ_CREDIT`]), and
//! while a subscriber this client published to is over its high water ([`crate::routing::load`]).
//! Whatever ends the loop, the connection actor hears why in one `Closed` message, a panic
//! included.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::FutureExt;
use ractor::ActorRef;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::codec::{self, Packet};
use crate::connection::frame_clock::FrameClock;
use crate::connection::inbound::{finish, Inbound};
use crate::connection::{Answer, Close, ConnectionDeps, ConnectionMsg, READ_CREDIT};
use crate::esockd::rate_limit::TokenBucket;
use crate::esockd::table::ListenerTable;
use crate::esockd::transport::{self, StreamRead};
use crate::observability::metrics::Metrics;

/// What the reader reads: a TCP socket's read half, or a socket whose listener's handshake
/// (TLS, WebSocket) the reader runs first.
pub(super) enum Source {
    Tcp(OwnedReadHalf),
    Handshake(TcpStream, Arc<ListenerTable>),
}

/// What the reader reads once any handshake is done.
enum Input {
    Tcp(OwnedReadHalf),
    Stream(StreamRead),
}

/// What the reader starts with.
pub(super) struct ReaderArgs {
    pub read: Source,
    pub conn: ActorRef<ConnectionMsg>,
    pub deps: Arc<ConnectionDeps>,
    pub bucket: Option<Box<TokenBucket>>,
}

/// Spawns the reader; its end, however it comes, is one `Closed` to the connection.
pub(super) fn spawn(args: ReaderArgs) -> JoinHandle<()> {
    let conn = args.conn.clone();
    // Combinators, not an `async` block: a block would keep the loop's future twice (as what
    // it captured and as what it awaits), and this task lives as long as the connection.
    let fut = AssertUnwindSafe(read_loop(args))
        .catch_unwind()
        .map(move |ended| {
            let close = ended.unwrap_or(Close::ReaderPanicked);
            let _ = conn.send_message(ConnectionMsg::Closed(close));
        });
    tokio::spawn(fut)
}

/// How much room a read makes in the buffer.
const READ_CHUNK: usize = 4096;

/// Reads what the socket has into `buf`. A busy connection reads on into the buffer it has
/// (reclaimed in place once its frames are gone); one with nothing to read and nothing buffered
/// drops the buffer before it waits, so an idle connection holds no [`READ_CHUNK`].
async fn read_some(input: &mut Input, buf: &mut BytesMut) -> std::io::Result<usize> {
    let read = match input {
        Input::Tcp(read) => read,
        Input::Stream(stream) => {
            buf.reserve(READ_CHUNK);
            return stream.read_buf(buf).await;
        }
    };
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

/// The read loop; returns why the connection ends. An `async move` block rather than an
/// `async fn`, which would keep a second copy of its argument: this future lives as long as the
/// connection.
#[allow(clippy::manual_async_fn)] // on purpose, see above
fn read_loop(args: ReaderArgs) -> impl std::future::Future<Output = Close> + Send {
    let ReaderArgs {
        read,
        conn,
        deps,
        mut bucket,
    } = args;
    async move {
        let mut buf = BytesMut::new();
        let mut level = None;
        // The client's side of the protocol, once CONNECT is accepted (boxed: an idle connection
        // holds it for its whole life).
        let mut client: Option<Box<Inbound>> = None;
        // The connect timeout, then (keepalive on) 1.5 × keepalive from the last packet.
        let mut idle = Some(Instant::now() + deps.mqtt.connect_timeout);
        // CONNECT's keepalive in seconds (0: off).
        let mut keepalive = 0u16;
        // An MQTT 5 enhanced authentication is under way: the next packet must be AUTH.
        let mut authenticating = false;
        let mut frame = FrameClock::new(deps.mqtt.frame_timeout);
        let (mut input, cert_username) = match read {
            Source::Tcp(read) => (Input::Tcp(read), None),
            Source::Handshake(socket, table) => {
                let deadline = idle.unwrap_or_else(Instant::now);
                match Box::pin(transport::upgrade(socket, &table, deadline)).await {
                    Ok(up) => {
                        if conn
                            .send_message(ConnectionMsg::Upgraded(Box::new((up.writer, up.peer))))
                            .is_err()
                        {
                            return Close::Socket("connection gone during the handshake".into());
                        }
                        (Input::Stream(up.read), up.cert_username)
                    }
                    Err(e) => return Close::Socket(e.to_string()),
                }
            }
        };
        loop {
            let mut decoded = 0;
            while decoded < READ_CREDIT {
                let packet = match codec::decode(&mut buf, deps.mqtt.max_packet_size as usize, level) {
                    Ok(Some(packet)) => packet,
                    Ok(None) => break,
                    Err(err) => {
                        if let Some(client) = &mut client {
                            let _ = finish(client.end_batch()).await;
                        }
                        return match (level, err.connack_code()) {
                            (None, Some(code)) => {
                                Close::Unsupported(code, err.connack_level(), err.to_string())
                            }
                            _ => Close::from(err),
                        };
                    }
                };
                decoded += 1;
                frame.completed();
                deps.metrics.packet_received(packet.packet_type());
                let handled = match &mut client {
                    Some(client) => finish(client.packet(packet)).await,
                    None => {
                        let answer = match (authenticating, packet) {
                            (true, Packet::Auth(auth)) => {
                                Box::pin(ask(&conn, |tx| ConnectionMsg::Auth(auth, tx))).await
                            }
                            (true, other) => {
                                return Close::Protocol(format!(
                                    "{:?} while authenticating, not AUTH (MQTT 5 section 4.12)",
                                    other.packet_type()
                                ))
                            }
                            (false, packet) => match first_packet(packet) {
                                Ok(mut connect) => {
                                    if let Some(name) = &cert_username {
                                        // peer_cert_as_username: the certificate names the user.
                                        connect.username = Some(name.clone());
                                    }
                                    level = Some(connect.level);
                                    Box::pin(ask(&conn, |tx| ConnectionMsg::Connect(connect, tx))).await
                                }
                                Err(close) => return close,
                            },
                        };
                        match answer {
                            Answer::Attached(attached) => {
                                keepalive = attached.keepalive;
                                client = Some(Box::new(Inbound::new(*attached, deps.clone())));
                                Ok(())
                            }
                            Answer::Continue => {
                                authenticating = true;
                                Ok(())
                            }
                            Answer::Refused => return Close::Refused("see the connection's log".into()),
                        }
                    }
                };
                if let Err(close) = handled {
                    if let Some(client) = &mut client {
                        let _ = finish(client.end_batch()).await;
                    }
                    return close;
                }
            }
            if decoded > 0 {
                if let Some(client) = &mut client {
                    if client.deliver_first() {
                        tokio::task::yield_now().await;
                    }
                    if let Err(close) = finish(client.end_batch()).await {
                        return close;
                    }
                }
                if level.is_some() && !authenticating {
                    // [MQTT-3.1.2-24]: one and a half times the keepalive.
                    let secs = u64::from(keepalive);
                    idle = (secs > 0).then(|| Instant::now() + Duration::from_millis(secs * 1500));
                }
            }
            if decoded == READ_CREDIT {
                continue;
            }
            let partial = !buf.is_empty();
            let now = Instant::now();
            let limit = frame.deadline(partial, now, idle);
            let frame_limit = limit.is_some_and(|l| l.frame);
            let got = match limit {
                Some(limit) => tokio::time::timeout_at(limit.at, read_some(&mut input, &mut buf)).await,
                None => Ok(read_some(&mut input, &mut buf).await),
            };
            frame.waited(partial, now.elapsed());
            let Ok(got) = got else {
                return match (frame_limit, level) {
                    (true, _) => Close::FrameTimeout,
                    (false, None) => Close::ConnectTimeout,
                    (false, Some(_)) => Close::KeepaliveExpired,
                };
            };
            match got {
                Ok(0) if buf.is_empty() => return Close::PeerClosed,
                Ok(0) => return Close::Socket("closed inside a packet".into()),
                Ok(n) => {
                    Metrics::add(&deps.metrics.bytes_received, n as u64);
                    if let Some(pause) = bucket.as_mut().and_then(|b| b.take(n)) {
                        Box::pin(tokio::time::sleep(pause)).await;
                    }
                }
                Err(e) => return Close::Socket(e.to_string()),
            }
        }
    }
}

/// The first packet must be CONNECT [MQTT-3.1.0-1].
fn first_packet(packet: Packet) -> Result<Box<codec::Connect>, Close> {
    match packet {
        Packet::Connect(connect) => Ok(connect),
        other => Err(Close::Protocol(format!(
            "first packet is {:?}, not CONNECT [MQTT-3.1.0-1]",
            other.packet_type()
        ))),
    }
}

/// Hands CONNECT (or an AUTH during it) to the connection actor and waits for its answer: how
/// to go on; refused when the actor has written the CONNACK and is closing, or is gone.
async fn ask(
    conn: &ActorRef<ConnectionMsg>,
    msg: impl FnOnce(oneshot::Sender<Answer>) -> ConnectionMsg,
) -> Answer {
    let (tx, rx) = oneshot::channel();
    if conn.send_message(msg(tx)).is_err() {
        return Answer::Refused;
    }
    rx.await.unwrap_or(Answer::Refused)
}
