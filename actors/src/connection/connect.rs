//! CONNECT (emqttd_protocol's `process(CONNECT)`): the client id rules, authentication, the will,
//! and opening the session through the sm worker that owns the client id.
//!
//! A refusal is a CONNACK with its return code [MQTT-3.2.2-5] (MQTT 5: its reason code), written
//! by the connection itself (it still owns the socket), then the close. An accepted CONNECT
//! hands the socket's write half to the session, which writes the CONNACK with what
//! [`negotiate`] granted; the connection then monitors the session.
//!
//! A CONNECT naming an MQTT 5 Authentication Method goes through [`super::enhanced_auth`]
//! first: AUTH packets back and forth until the method says who the client is; then the same
//! path, without the password check, and CONNACK carries the method's last word.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use ractor::rpc::CallResult;
use ractor::{ActorRef, MessagingErr};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::codec::{self, ConnAck, Connect, ConnectReturnCode, Packet, ProtocolLevel};
use crate::connection::enhanced_auth::Authenticated;
use crate::connection::{
    client_id, negotiate, Answer, Attached, Client, Close, ConnectionMsg, ConnectionState,
};
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::session::registry::ClientInfo;
use crate::session::sm::{Open, SmMsg};
use crate::session::{Attach, Identity};
use crate::timeouts;

impl ConnectionState {
    /// Handles CONNECT; `Err` is the reason to close (a refusal has been written).
    pub(super) async fn connect(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        connect: Box<Connect>,
    ) -> Result<Answer, Close> {
        self.level = connect.level;
        if let Some(method) = connect
            .properties
            .as_ref()
            .and_then(|p| p.authentication_method.clone())
        {
            return self.begin_auth(myself, connect, method).await;
        }
        self.complete(myself, connect, None).await.map(Answer::Attached)
    }

    /// Accepts `connect` (unless a check refuses it): with `authenticated` (an enhanced
    /// authentication that succeeded) the password is not checked and CONNACK carries the
    /// method and its data.
    pub(super) async fn complete(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        connect: Box<Connect>,
        authenticated: Option<Authenticated>,
    ) -> Result<Box<Attached>, Close> {
        let client_id = self.client_id(&connect).await?;
        let access = self.deps.access.current();
        if authenticated.is_none() {
            if let Err(code) = access.authenticate(connect.username.as_deref(), connect.password.as_deref()) {
                Metrics::add(&self.deps.metrics.auth_failures, 1);
                self.refuse(code).await;
                return Err(Close::Refused("authentication failed".into()));
            }
        }
        if let Some(code) = negotiate::will_refusal(&connect, &self.deps.mqtt) {
            self.refuse(code).await;
            return Err(Close::Refused(format!("will refused: {code:?}")));
        }
        let assigned =
            (connect.client_id.is_empty() && connect.level == ProtocolLevel::V5).then_some(&*client_id);
        let mut granted =
            negotiate::negotiate(&connect, &self.deps.mqtt, self.deps.session_expiry_max, assigned);
        if let (Some(done), Some(connack)) = (authenticated, granted.connack.as_mut()) {
            connack.authentication_method = Some(done.method);
            connack.authentication_data = done.data.map(Bytes::from);
        }
        let now = Instant::now();
        let will = connect.will.as_ref().map(|w| {
            let msg = Message::new(
                w.topic.clone(),
                w.payload.clone(),
                w.qos,
                w.retain,
                client_id.clone(),
            );
            Arc::new(msg.with_properties(w.properties.clone(), now))
        });
        let username: Option<Arc<str>> = connect.username.as_deref().map(Arc::from);
        let Some(writer) = self.writer.take() else {
            return Err(Close::Protocol("second CONNECT [MQTT-3.1.0-2]".into()));
        };
        let open = Open {
            client_id: client_id.clone(),
            clean: connect.clean_session,
            attach: Box::new(Attach {
                conn: myself.get_cell(),
                writer,
                level: connect.level,
                identity: Identity {
                    username: username.clone(),
                    ip: self.peer.ip(),
                },
                will: will.clone(),
                will_delay: granted.will_delay,
                expiry: granted.expiry,
                limits: granted.limits,
                connack: granted.connack,
                session_present: false,
            }),
            client: ClientInfo {
                conn: myself.get_cell(),
                path: self.path.clone(),
                peer: self.peer,
                connected_at: SystemTime::now(),
                clean: connect.clean_session,
                keepalive: granted.keepalive,
                protocol_level: connect.level as u8,
                username: connect.username.clone(),
                session_expiry: granted.expiry.as_secs(),
                receive_maximum: granted.limits.receive_maximum,
                topic_alias_maximum: granted.limits.topic_alias_maximum,
            },
        };
        let (session, present) = self.open_session(Box::new(open)).await?;
        myself.get_cell().monitor(session.get_cell());
        tracing::debug!(peer = %self.peer, %client_id, clean = connect.clean_session, present, "client connected");
        self.client = Some(Client {
            id: client_id.clone(),
            session: session.clone(),
            will,
        });
        Ok(Box::new(Attached {
            client_id,
            session,
            username,
            ip: self.peer.ip(),
            keepalive: granted.keepalive,
            level: connect.level,
            durable: !granted.expiry.is_zero() && self.deps.publisher.store().enabled(),
        }))
    }

    /// The client id to use ([`client_id::choose`]); a refused one gets CONNACK 0x02.
    async fn client_id(&mut self, connect: &Connect) -> Result<Arc<str>, Close> {
        let max = usize::from(self.deps.mqtt.max_clientid_len);
        match client_id::choose(connect.level, &connect.client_id, connect.clean_session, max) {
            Ok(id) => Ok(id),
            Err(why) => {
                self.refuse(ConnectReturnCode::IdentifierRejected).await;
                Err(Close::Refused(why.into()))
            }
        }
    }

    /// Asks `sm/hash(id)` to open the session, waiting (up to [`timeouts::SM_CALL`]) while the
    /// pool restarts. While the request has not reached a worker the write half comes back with
    /// it, so a pool that stays down is answered with CONNACK 0x03.
    async fn open_session(
        &mut self,
        mut open: Box<Open>,
    ) -> Result<(ActorRef<crate::session::SessionMsg>, bool), Close> {
        let deadline = Instant::now() + timeouts::SM_CALL;
        loop {
            if let Some(sm) = self.deps.sm.worker_for(&open.client_id) {
                let left = deadline.saturating_duration_since(Instant::now());
                match sm.call(|reply| SmMsg::Open(open, reply), Some(left)).await {
                    Ok(CallResult::Success(Ok(opened))) => return Ok(opened),
                    Ok(CallResult::Success(Err(why))) => return Err(Close::SessionGone(why)),
                    Ok(CallResult::Timeout) => {
                        return Err(Close::SessionGone("sm did not answer in time".into()))
                    }
                    Ok(CallResult::SenderError) => {
                        return Err(Close::SessionGone("sm ended while opening".into()))
                    }
                    Err(MessagingErr::SendErr(SmMsg::Open(back, _))) => open = back,
                    Err(e) => return Err(Close::SessionGone(format!("sm unavailable: {e}"))),
                }
            }
            if Instant::now() >= deadline {
                self.writer = Some(open.attach.writer);
                self.refuse(ConnectReturnCode::ServerUnavailable).await;
                return Err(Close::Refused("the sm pool is not running".into()));
            }
            tokio::time::sleep(timeouts::RESTART_POLL).await;
        }
    }

    /// Writes a refusing CONNACK while the connection still owns the socket.
    pub(super) async fn refuse(&mut self, code: ConnectReturnCode) {
        let connack = Packet::ConnAck(ConnAck {
            session_present: false,
            code,
            properties: None,
        });
        self.write_own(&connack).await;
    }

    /// Writes `packet` while the connection still owns the socket (before the session has it).
    pub(super) async fn write_own(&mut self, packet: &Packet) {
        let Some(writer) = &mut self.writer else { return };
        let mut buf = bytes::BytesMut::new();
        // A 3.1 client reads 3.1.1's CONNACK; MQTT 5 has its reason codes.
        let level = match self.level {
            ProtocolLevel::V5 => ProtocolLevel::V5,
            _ => ProtocolLevel::V311,
        };
        codec::encode(packet, level, &mut buf);
        if writer.write_all(&buf).await.is_ok() {
            self.deps.metrics.packet_sent(packet.packet_type());
            Metrics::add(&self.deps.metrics.bytes_sent, buf.len() as u64);
        }
    }
}
