//! The write side of a client's socket, owned by its session: the one writer of that socket.
//!
//! Everything the broker sends a client after CONNECT is written here by the session, in the
//! order the session decides: CONNACK first, then what a takeover resends, SUBACK before the
//! retained messages it brings [MQTT-3.3.1-6], the acknowledgements the connection's reader owes
//! for the client's PUBLISHes, and the deliveries. So order needs no lock and no hand-over
//! between two actors, and a delivery to an online subscriber costs no actor hop after the
//! session: the publisher's reader casts to the session, the session writes.
//!
//! Packets are encoded into a buffer during a handler; [`Outbox::flush`] at the end of the
//! handler writes the buffer without waiting (the socket is non-blocking), unless more
//! deliveries are already on their way to the session (its load counts them) and less than
//! [`WRITE_BATCH`] is buffered: then the handler of the last of them writes, so a burst to a
//! subscriber is one write, not one per message (a loopback `send` costs about as much as the
//! rest of a delivery). If the kernel's send
//! buffer is full, the write half and the unsent bytes are lent to a short task that waits for
//! the socket ([`Flushed`] brings them back), while the session goes on handling its mailbox
//! into a fresh buffer. The buffer is bounded ([`OUTBOX_LIMIT`]): past it the session queues
//! deliveries in its bounded mqueue instead and stops giving its reader read credits, so a client
//! that does not read costs at most this buffer, what the task is writing and the mqueue.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use ractor::ActorRef;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::codec::{self, Packet};
use crate::observability::metrics::Metrics;

/// The write half of a client's socket (TCP's, or a TLS or WebSocket stream's).
pub type Writer = Box<dyn AsyncWrite + Send + Sync + Unpin>;

/// Bytes buffered for one client past which its session holds deliveries back.
pub const OUTBOX_LIMIT: usize = 64 * 1024;

/// Bytes buffered past which the session writes even while more deliveries are on their way.
pub const WRITE_BATCH: usize = 16 * 1024;

/// A buffer back from a flush task larger than this is freed instead of being reused.
const KEEP_CAPACITY: usize = 2 * OUTBOX_LIMIT;

/// The write half and buffer coming back from a flush that had to wait (see the module docs).
pub struct Flushed {
    /// The connection it belongs to; a stale one (the client reconnected meanwhile) is dropped.
    pub generation: u64,
    /// The write half.
    pub writer: Writer,
    /// The buffer it wrote, emptied, to be reused.
    pub spare: BytesMut,
    /// Whether the write succeeded.
    pub result: std::io::Result<()>,
}

/// Where the write half is.
enum Half {
    /// No connection attached.
    Detached,
    /// Ready to write.
    Here(Writer),
    /// Lent to a flush task holding this many bytes.
    Lent(usize),
    /// A write failed: nothing more is written (the connection's reader sees the socket end and
    /// the connection closes, which detaches it).
    Broken,
}

/// A session's write side.
pub struct Outbox {
    half: Half,
    buf: BytesMut,
    generation: u64,
    level: codec::ProtocolLevel,
    /// Counts the bytes written (`bytes/sent`).
    metrics: Arc<Metrics>,
}

/// What a flush left to do.
#[derive(Debug, PartialEq, Eq)]
pub enum FlushOutcome {
    /// Everything written, or nothing to write, or lent to a flush task.
    Done,
    /// The socket failed: the write half was dropped (the connection's reader sees the end).
    Failed(String),
}

impl Outbox {
    /// A write side with no connection yet, counting into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            half: Half::Detached,
            buf: BytesMut::new(),
            generation: 0,
            level: codec::ProtocolLevel::V311,
            metrics,
        }
    }

    /// Takes a new connection's write half; whatever the previous connection had buffered is
    /// dropped with its write half.
    pub fn attach(&mut self, writer: Writer, level: codec::ProtocolLevel) {
        self.generation += 1;
        self.half = Half::Here(writer);
        self.level = level;
        self.buf.clear();
    }

    /// The connection ended: drop its write half (closing the socket's write side) and what it
    /// had not written.
    pub fn detach(&mut self) {
        self.generation += 1;
        self.half = Half::Detached;
        self.buf = BytesMut::new();
    }

    /// Whether a connection is attached and its socket writable.
    pub fn attached(&self) -> bool {
        matches!(self.half, Half::Here(_) | Half::Lent(_))
    }

    /// The protocol level packets are encoded for.
    pub fn level(&self) -> codec::ProtocolLevel {
        self.level
    }

    /// Bytes encoded and not yet handed to the socket.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether deliveries must wait: no connection, or past [`OUTBOX_LIMIT`] bytes unsent.
    pub fn full(&self) -> bool {
        let lent = match self.half {
            Half::Detached | Half::Broken => return true,
            Half::Here(_) => 0,
            Half::Lent(n) => n,
        };
        self.buf.len() + lent >= OUTBOX_LIMIT
    }

    /// Whether the buffer has drained below half the limit (deliveries and read credits resume).
    pub fn has_room(&self) -> bool {
        let lent = match self.half {
            Half::Detached | Half::Broken => return false,
            Half::Here(_) => 0,
            Half::Lent(n) => n,
        };
        self.buf.len() + lent <= OUTBOX_LIMIT / 2
    }

    /// Encodes `packet` for the client; written at the next [`Outbox::flush`]. Nothing is kept
    /// while no connection is attached.
    pub fn push(&mut self, packet: &Packet) {
        if self.attached() {
            codec::encode(packet, self.level, &mut self.buf);
        }
    }

    /// Encodes a PUBLISH from borrowed parts (no reference count of the shared message is
    /// touched); as [`Outbox::push`].
    pub fn push_publish(&mut self, publish: &codec::PublishView<'_>) {
        if self.attached() {
            publish.encode(self.level, &mut self.buf);
        }
    }

    /// Writes what is buffered without waiting; if the socket cannot take it all, lends the write
    /// half and the rest to a task that waits, which sends [`Flushed`] to `session` as made by
    /// `flushed`.
    pub fn flush<M: ractor::Message>(
        &mut self,
        session: &ActorRef<M>,
        flushed: fn(Flushed) -> M,
    ) -> FlushOutcome {
        if self.buf.is_empty() {
            return FlushOutcome::Done;
        }
        let Half::Here(writer) = &mut self.half else {
            return FlushOutcome::Done;
        };
        let mut cx = Context::from_waker(Waker::noop());
        while !self.buf.is_empty() {
            match Pin::new(&mut *writer).poll_write(&mut cx, &self.buf) {
                Poll::Ready(Ok(0)) => return self.failed("socket closed for writing".into()),
                Poll::Ready(Ok(n)) => {
                    Metrics::add(&self.metrics.bytes_sent, n as u64);
                    self.buf.advance(n);
                }
                Poll::Ready(Err(e)) => return self.failed(e.to_string()),
                Poll::Pending => break,
            }
        }
        if self.buf.is_empty() {
            // TLS and WebSocket writers may hold what they took; a TCP half's flush does nothing.
            match Pin::new(&mut *writer).poll_flush(&mut cx) {
                Poll::Ready(Ok(())) => {
                    self.buf.clear();
                    return FlushOutcome::Done;
                }
                Poll::Ready(Err(e)) => return self.failed(e.to_string()),
                // Lent below with nothing to write: the task's flush waits for the socket.
                Poll::Pending => {}
            }
        }
        let Half::Here(mut writer) = std::mem::replace(&mut self.half, Half::Lent(self.buf.len())) else {
            return FlushOutcome::Done;
        };
        let mut pending = std::mem::take(&mut self.buf);
        let generation = self.generation;
        let session = session.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let result = match writer.write_all(&pending).await {
                Ok(()) => writer.flush().await,
                Err(e) => Err(e),
            };
            if result.is_ok() {
                Metrics::add(&metrics.bytes_sent, pending.len() as u64);
            }
            pending.clear();
            let _ = session.send_message(flushed(Flushed {
                generation,
                writer,
                spare: pending,
                result,
            }));
        });
        FlushOutcome::Done
    }

    /// A flush task is done: takes the write half back (unless it belongs to a connection that
    /// has since gone).
    pub fn flushed(&mut self, flushed: Flushed) -> FlushOutcome {
        if flushed.generation != self.generation || !matches!(self.half, Half::Lent(_)) {
            return FlushOutcome::Done;
        }
        if let Err(e) = flushed.result {
            return self.failed(e.to_string());
        }
        self.half = Half::Here(flushed.writer);
        if self.buf.is_empty() && flushed.spare.capacity() <= KEEP_CAPACITY {
            self.buf = flushed.spare;
        }
        FlushOutcome::Done
    }

    fn failed(&mut self, error: String) -> FlushOutcome {
        self.half = Half::Broken;
        self.buf = BytesMut::new();
        FlushOutcome::Failed(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::PacketId;

    fn ack(n: u16) -> Packet {
        Packet::PubAck(crate::codec::Ack::new(PacketId::new(n).expect("non-zero")))
    }

    #[test]
    fn nothing_is_kept_while_detached() {
        let mut outbox = Outbox::new(Arc::default());
        outbox.push(&ack(1));
        assert!(outbox.full(), "no connection: deliveries wait");
        assert!(outbox.buf.is_empty());
    }

    #[tokio::test]
    async fn packets_reach_the_socket_in_push_order() {
        let (client, server) = tokio::io::duplex(1024);
        let mut outbox = Outbox::new(Arc::default());
        outbox.attach(Box::new(server), codec::ProtocolLevel::V311);
        outbox.push(&ack(1));
        outbox.push(&Packet::PingResp);
        let (me, _) = ractor::Actor::spawn(None, Sink, ()).await.expect("sink");
        assert_eq!(outbox.flush(&me, |_| ()), FlushOutcome::Done);
        let mut got = [0u8; 6];
        let mut client = client;
        tokio::io::AsyncReadExt::read_exact(&mut client, &mut got)
            .await
            .expect("read");
        assert_eq!(got, [0x40, 2, 0, 1, 0xd0, 0]);
        me.stop(None);
    }

    #[tokio::test]
    async fn a_full_socket_lends_the_writer_and_gets_it_back() {
        let (client, server) = tokio::io::duplex(16);
        let mut outbox = Outbox::new(Arc::default());
        outbox.attach(Box::new(server), codec::ProtocolLevel::V311);
        for n in 1..=20 {
            outbox.push(&ack(n));
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (me, _) = ractor::Actor::spawn(None, Forward, tx).await.expect("forward");
        assert_eq!(outbox.flush(&me, |f| f), FlushOutcome::Done);
        assert!(
            matches!(outbox.half, Half::Lent(_)),
            "the duplex took 16 of 80 bytes"
        );
        outbox.push(&Packet::PingResp);
        let mut client = client;
        let mut got = vec![0u8; 80];
        tokio::io::AsyncReadExt::read_exact(&mut client, &mut got)
            .await
            .expect("read");
        let back = rx.recv().await.expect("flushed");
        assert_eq!(outbox.flushed(back), FlushOutcome::Done);
        assert_eq!(outbox.flush(&me, |f| f), FlushOutcome::Done);
        let mut ping = [0u8; 2];
        tokio::io::AsyncReadExt::read_exact(&mut client, &mut ping)
            .await
            .expect("read");
        assert_eq!(ping, [0xd0, 0], "what came meanwhile follows, in order");
        me.stop(None);
    }

    #[tokio::test]
    async fn a_stale_writer_is_dropped() {
        let (_client, server) = tokio::io::duplex(16);
        let mut outbox = Outbox::new(Arc::default());
        outbox.attach(Box::new(server), codec::ProtocolLevel::V311);
        outbox.half = Half::Lent(10);
        let (_c2, s2) = tokio::io::duplex(16);
        let stale = Flushed {
            generation: outbox.generation - 1,
            writer: Box::new(s2),
            spare: BytesMut::new(),
            result: Ok(()),
        };
        outbox.flushed(stale);
        assert!(matches!(outbox.half, Half::Lent(10)));
    }

    struct Sink;
    impl ractor::Actor for Sink {
        type Msg = ();
        type State = ();
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ractor::ActorProcessingErr> {
            Ok(())
        }
    }

    struct Forward;
    impl ractor::Actor for Forward {
        type Msg = Flushed;
        type State = tokio::sync::mpsc::UnboundedSender<Flushed>;
        type Arguments = tokio::sync::mpsc::UnboundedSender<Flushed>;
        async fn pre_start(
            &self,
            _: ActorRef<Flushed>,
            tx: Self::Arguments,
        ) -> Result<Self::State, ractor::ActorProcessingErr> {
            Ok(tx)
        }
        async fn handle(
            &self,
            _: ActorRef<Flushed>,
            msg: Flushed,
            tx: &mut Self::State,
        ) -> Result<(), ractor::ActorProcessingErr> {
            let _ = tx.send(msg);
            Ok(())
        }
    }
}
