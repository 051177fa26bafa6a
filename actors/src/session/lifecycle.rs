//! A session's life with its connections: a connection attaching (first CONNECT, resume or
//! takeover), the connection ending (detach), the will, and the goodbyes.
//!
//! CONNACK goes first [MQTT-3.2.0-1], then the inflight messages again (PUBLISH with DUP, or
//! PUBREL past PUBREC), then the queue [MQTT-4.4.0-1]. When the connection ends without the
//! client's DISCONNECT the will is published [MQTT-3.1.2-8], after the MQTT 5 Will Delay
//! Interval if the session lives that long and no connection takes it over meanwhile
//! [MQTT-3.1.3-9]; a session that ends first publishes it as it ends. A session whose expiry is
//! 0 (3.1.1 clean session, or MQTT 5 Session Expiry Interval 0) ends with its connection; the
//! others wait their expiry for the client to come back.
//!
//! An MQTT 5 client is told why the server closes its connection with a DISCONNECT, written
//! here because the session is the socket's one writer: 0x8E when another connection takes the
//! session over, 0x8B when the broker stops, and the connection's own reason (keepalive 0x8D,
//! a protocol error...) when it asks ([`SessionMsg::Goodbye`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::ExitReason;
use ractor::{ActorCell, ActorId, ActorRef};

use crate::codec::{ConnAck, ConnectReturnCode, Disconnect, Packet, ProtocolLevel, ReasonCode};
use crate::message::Message;
use crate::session::outbox::{FlushOutcome, Writer};
use crate::session::{Connected, SessionMsg, SessionState, V5Client};
use crate::timeouts;

/// Who the connected client is, for the ACL's `user:` and `ip:` rules.
#[derive(Debug, Clone)]
pub struct Identity {
    /// User name from CONNECT.
    pub username: Option<Arc<str>>,
    /// Peer address.
    pub ip: IpAddr,
}

/// A connection taking a session: its actor, its socket's write half and what CONNACK says.
pub struct Attach {
    /// The connection actor (monitored; stopped to close the connection).
    pub conn: ActorCell,
    /// The socket's write half, from now on the session's to write.
    pub writer: Writer,
    /// The protocol level packets are encoded for.
    pub level: ProtocolLevel,
    /// Who the client is.
    pub identity: Identity,
    /// The will, published if the connection ends without DISCONNECT.
    pub will: Option<Arc<Message>>,
    /// MQTT 5: how long after the connection ends the will waits (if the session lives that
    /// long and no connection takes it over meanwhile).
    pub will_delay: Duration,
    /// How long the session outlives this connection: 0 for a clean session (3.1.1) or a
    /// Session Expiry Interval of 0 (MQTT 5).
    pub expiry: Duration,
    /// What the client accepts (MQTT 5 CONNECT properties; the defaults for 3.1/3.1.1).
    pub limits: ClientLimits,
    /// CONNACK's properties (MQTT 5), built by the connection.
    pub connack: Option<Box<crate::codec::Properties>>,
    /// CONNACK's session-present flag (set by the sm worker: a session was resumed).
    pub session_present: bool,
}

/// What a client accepts from the broker: MQTT 5 CONNECT properties, or their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Unacknowledged QoS 1/2 PUBLISHes it accepts (its Receive Maximum; 65,535 when absent).
    pub receive_maximum: u16,
    /// Largest packet it accepts ([MQTT-3.1.2-24]: larger ones are not sent to it).
    pub maximum_packet_size: Option<u32>,
    /// Highest topic alias the broker may use toward it (0: none).
    pub topic_alias_maximum: u16,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
        }
    }
}

/// A client's DISCONNECT, as the session needs it.
#[derive(Debug, Clone, Copy)]
pub struct ClientDisconnect {
    /// Publish the will anyway (MQTT 5 reason 0x04).
    pub with_will: bool,
    /// A new Session Expiry Interval, in seconds.
    pub expiry: Option<u32>,
}

impl SessionState {
    /// A connection takes the session: the previous one (a takeover) is told and closed, and
    /// its will published; then CONNACK, the inflight messages and the queue (see the module
    /// docs).
    pub(super) fn attach(&mut self, myself: &ActorRef<SessionMsg>, attach: Attach) {
        if self
            .conn
            .as_ref()
            .is_some_and(|old| old.cell.get_id() != attach.conn.get_id())
        {
            tracing::info!(client_id = %self.reg.handle.client_id, "takeover: closing the previous connection");
            self.close_connection(myself, "takeover by a new connection");
        }
        myself.get_cell().monitor(attach.conn.clone());
        self.expiry_gen += 1;
        self.release_credit();
        self.credit = None;
        self.outbox.attach(attach.writer, attach.level);
        // A delayed will of the previous connection is not published [MQTT-3.1.3-9]... unless
        // this is a new session (clean start), which was handled by discarding the old one.
        self.will = attach.will;
        self.expiry = attach.expiry;
        self.inflight.set_window(attach.limits.receive_maximum);
        self.v5 = (attach.level == ProtocolLevel::V5).then(|| {
            let mut v5 = Box::new(V5Client {
                will_delay: attach.will_delay,
                limits: attach.limits,
                ..V5Client::default()
            });
            v5.aliases.reset(attach.limits.topic_alias_maximum);
            v5
        });
        self.conn = Some(Connected {
            cell: attach.conn,
            identity: Box::new(attach.identity),
        });
        self.set_durable();
        // MQTT 3.1 has no session-present flag.
        let session_present = attach.session_present && attach.level != ProtocolLevel::V31;
        self.write(&Packet::ConnAck(ConnAck {
            session_present,
            code: ConnectReturnCode::Accepted,
            properties: attach.connack,
        }));
        self.resend_inflight();
        self.reg.handle.load.set_offline(false);
        self.drain();
    }

    /// Closes the attached connection from this side (takeover, discard): it did not send
    /// DISCONNECT, so its will is published [MQTT-3.1.2-8]; an MQTT 5 client hears 0x8E first.
    pub(super) fn close_connection(&mut self, myself: &ActorRef<SessionMsg>, why: &str) {
        self.say_goodbye(myself, ReasonCode::SESSION_TAKEN_OVER);
        if let Some(old) = self.conn.take() {
            old.cell
                .stop(Some(ExitReason::Shutdown(Some(why.to_string())).to_reason()));
            self.outbox.detach();
            self.publish_will();
        }
    }

    /// Writes an MQTT 5 DISCONNECT with `reason` to the attached client, pushes it out without
    /// waiting and writes nothing after it [MQTT-3.14.4-1]: the connection is about to close;
    /// deliveries from now on wait in the queue as for an absent client. Nothing for 3.1/3.1.1,
    /// which has no server DISCONNECT, nor twice.
    pub(super) fn say_goodbye(&mut self, myself: &ActorRef<SessionMsg>, reason: ReasonCode) {
        if self.conn.is_none() || !self.outbox.attached() || self.outbox.level() != ProtocolLevel::V5 {
            return;
        }
        tracing::debug!(client_id = %self.reg.handle.client_id, reason = ?reason, "DISCONNECT to the client");
        self.write(&Packet::Disconnect(Disconnect::with_reason(reason)));
        if let FlushOutcome::Failed(e) = self.outbox.flush(myself, |f| SessionMsg::Flushed(Box::new(f))) {
            tracing::debug!(client_id = %self.reg.handle.client_id, error = %e, "write failed");
        }
        self.outbox.detach();
    }

    /// The connection `conn` closes for `reason`: its client hears it (MQTT 5).
    pub(super) fn goodbye(&mut self, myself: &ActorRef<SessionMsg>, conn: ActorId, reason: ReasonCode) {
        if self.conn.as_ref().is_some_and(|c| c.cell.get_id() == conn) {
            self.say_goodbye(myself, reason);
        }
    }

    /// The client's DISCONNECT: the will is dropped unless it asked for it (MQTT 5 0x04), and
    /// its Session Expiry Interval, if any, replaces the session's; false if that is not
    /// allowed: a session that was to end with its connection cannot be made to outlive it
    /// [MQTT-3.14.2-2].
    pub(super) fn client_disconnect(&mut self, disconnect: ClientDisconnect) -> bool {
        if let Some(secs) = disconnect.expiry {
            if self.expiry.is_zero() && secs > 0 {
                return false;
            }
            self.expiry = expiry_of(secs, self.deps.config.expiry_interval);
            self.set_durable();
        }
        if !disconnect.with_will {
            self.will = None;
        } else {
            // Published now: a DISCONNECT 0x04 asks for the will, not for its delay.
            if let Some(v5) = &mut self.v5 {
                v5.will_delay = Duration::ZERO;
            }
        }
        true
    }

    /// The connection ended: its will goes out (now, or after its delay) unless it sent
    /// DISCONNECT; a session with expiry 0 ends, another waits its expiry for the client.
    pub(super) fn detach(&mut self, myself: &ActorRef<SessionMsg>) {
        self.conn = None;
        self.outbox.detach();
        self.release_credit();
        if self.expiry.is_zero() {
            self.reg.handle.load.set_offline(true);
            self.publish_will();
            self.end_stored();
            myself.stop(None);
            return;
        }
        self.away_since(myself, Duration::ZERO);
        self.save();
    }

    /// The session is without a client, which left `away` ago (0, or before the broker
    /// restarted): its delayed will and its expiry count from then.
    pub(super) fn away_since(&mut self, myself: &ActorRef<SessionMsg>, away: Duration) {
        self.reg.handle.load.set_offline(true);
        self.expiry_gen += 1;
        let generation = self.expiry_gen;
        let left = self.expiry.saturating_sub(away);
        if self.will.is_some() {
            let delay = self.v5.as_ref().map_or(Duration::ZERO, |v5| v5.will_delay);
            let delay = delay.saturating_sub(away);
            if delay.is_zero() {
                self.publish_will();
            } else if delay < left {
                myself.send_after(delay, move || SessionMsg::WillDue(generation));
            }
            // Otherwise the session ends first, and publishes it then.
        }
        myself.send_after(left, move || SessionMsg::Expire(generation));
    }

    /// Publishes the will, if there is one (once).
    pub(super) fn publish_will(&mut self) {
        let Some(will) = self.will.take() else { return };
        tracing::debug!(topic = %will.topic, client_id = %will.from, "publishing will");
        if will.retain {
            self.deps.publisher.retain(&will);
        }
        self.deps.publisher.publish(will);
        self.save();
    }
}

/// Asks `session` to tell the client of connection `conn` why it is closed (an MQTT 5
/// DISCONNECT with `reason`, written by the session, the socket's one writer), waiting at most
/// [`timeouts::SESSION_CALL`] for it to be written.
pub async fn goodbye(session: &ActorRef<SessionMsg>, conn: ActorId, reason: ReasonCode) {
    let call = session.call(
        |r| SessionMsg::Goodbye(Box::new((conn, reason)), r),
        Some(timeouts::SESSION_CALL),
    );
    let _ = call.await;
}

/// A session lifetime from an MQTT 5 Session Expiry Interval in seconds: 0xFFFFFFFF is "never",
/// and both are capped at `max` (`session.expiry_interval`).
pub fn expiry_of(secs: u32, max: Duration) -> Duration {
    if secs == u32::MAX {
        return max;
    }
    Duration::from_secs(u64::from(secs)).min(max)
}
