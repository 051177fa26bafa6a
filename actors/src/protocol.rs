//! The MQTT protocol of one connection (emqttd_protocol): what each packet from the client does.
//!
//! Connection state rules live here, the codec checks the bytes: the first packet must be
//! CONNECT [MQTT-3.1.0-1] and a second CONNECT is a violation [MQTT-3.1.0-2]; a server-only packet
//! from a client is a violation. An `Err` is the reason to close, logged once by the caller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::ActorRef;

use crate::acl::{Action, Who};
use crate::broker::ClientEntry;
use crate::codec::{
    Ack, ConnAck, Connect, ConnectReturnCode, Packet, ProtocolLevel, Publish, QoS, SubAck, SubackCode,
    UnsubAck,
};
use crate::connection::{Client, ConnectionMsg, ConnectionState};
use crate::message::Message;
use crate::metrics::Metrics;
use crate::retainer::RetainerMsg;
use crate::session::{Qos2, SessionMsg};

/// A reason to close the connection.
pub type Close = String;

/// How long a connection waits on its session or the sm pool.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to reach the sm worker for an id (a pool restart replaces the workers).
const OPEN_ATTEMPTS: usize = 20;

static CLIENT_SEQ: AtomicU64 = AtomicU64::new(1);

impl ConnectionState {
    /// Handles one packet from the client.
    pub(crate) async fn handle_packet(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        packet: Packet,
    ) -> Result<(), Close> {
        let Some(client) = &self.client else {
            return match packet {
                // Rare paths are boxed: ractor keeps the largest `handle` future inline (twice)
                // in every actor's processing loop, idle or not.
                Packet::Connect(connect) => Box::pin(self.connect(myself, connect)).await,
                other => Err(format!(
                    "first packet is {:?}, not CONNECT [MQTT-3.1.0-1]",
                    other.packet_type()
                )),
            };
        };
        let session = client.session.clone();
        match packet {
            Packet::Connect(_) => return Err("second CONNECT [MQTT-3.1.0-2]".into()),
            Packet::Publish(publish) => self.publish(myself, publish).await?,
            Packet::PubAck(ack) => self.acks.push(ack.pkid),
            Packet::PubRec(ack) => {
                self.write(myself, &Packet::PubRel(Ack::new(ack.pkid)));
                cast(&session, SessionMsg::PubRec(ack.pkid));
            }
            Packet::PubRel(ack) => {
                cast(&session, SessionMsg::PubRel(ack.pkid));
                self.write(myself, &Packet::PubComp(Ack::new(ack.pkid)));
            }
            Packet::PubComp(ack) => cast(&session, SessionMsg::PubComp(ack.pkid)),
            Packet::Subscribe(subscribe) => {
                let filters = subscribe.filters.into_iter().map(|(f, o)| (f, o.qos)).collect();
                let codes = Box::pin(self.subscribe(&session, filters)).await?;
                self.write(
                    myself,
                    &Packet::SubAck(SubAck {
                        pkid: subscribe.pkid,
                        return_codes: codes,
                        properties: None,
                    }),
                );
            }
            Packet::Unsubscribe(unsubscribe) => {
                let filters = unsubscribe.filters;
                Box::pin(call(&session, |r| SessionMsg::Unsubscribe(filters, r))).await?;
                self.write(myself, &Packet::UnsubAck(UnsubAck::new(unsubscribe.pkid)));
            }
            Packet::PingReq => self.write(myself, &Packet::PingResp),
            Packet::Disconnect(_) => {
                self.will.will = None;
                return Err(crate::connection::DISCONNECTED.into());
            }
            other => {
                return Err(format!(
                    "{:?} is not a packet a client sends",
                    other.packet_type()
                ))
            }
        }
        Ok(())
    }

    async fn connect(
        &mut self,
        myself: &ActorRef<ConnectionMsg>,
        connect: Box<Connect>,
    ) -> Result<(), Close> {
        if connect.level == ProtocolLevel::V5 {
            // The codec reads MQTT 5; serving it is issue 14. Refused as before, and counted
            // as before, when the codec refused the CONNECT.
            Metrics::add(&self.broker.metrics.protocol_errors, 1);
            return Err(self.refuse(
                myself,
                ConnectReturnCode::UnacceptableProtocolVersion,
                "MQTT 5 is not served yet",
            ));
        }
        let config = &self.broker.config;
        let client_id: Arc<str> = if connect.client_id.is_empty() {
            if !connect.clean_session {
                // [MQTT-3.1.3-8]: a zero-byte client id needs clean session.
                return Err(self.refuse(
                    myself,
                    ConnectReturnCode::IdentifierRejected,
                    "empty client id without clean session",
                ));
            }
            Arc::from(format!("arbor-{}", CLIENT_SEQ.fetch_add(1, Ordering::Relaxed)))
        } else {
            Arc::from(connect.client_id.as_str())
        };
        if client_id.len() > usize::from(config.mqtt.max_clientid_len) {
            return Err(self.refuse(
                myself,
                ConnectReturnCode::IdentifierRejected,
                "client id too long",
            ));
        }
        let access = self.broker.access.read().clone();
        if let Err(code) = access.authenticate(connect.username.as_deref(), connect.password.as_deref()) {
            Metrics::add(&self.broker.metrics.auth_failures, 1);
            return Err(self.refuse(myself, code, "authentication failed"));
        }
        // What the session sends on takeover (inflight, queue) follows the CONNACK.
        self.outbox.hold();
        let (session, present) = match self.open_session(myself, &client_id, connect.clean_session).await {
            Ok(opened) => opened,
            Err(e) => {
                return Err(self.refuse(
                    myself,
                    ConnectReturnCode::ServerUnavailable,
                    &format!("no session: {e}"),
                ))
            }
        };
        myself.get_cell().monitor(session.get_cell());
        self.will.will = connect.will.map(|w| {
            Arc::new(Message::new(
                w.topic,
                w.payload,
                w.qos,
                w.retain,
                client_id.clone(),
            ))
        });
        let keepalive = Duration::from_secs(u64::from(connect.keep_alive));
        tracing::debug!(peer = %self.peer, %client_id, clean = connect.clean_session, present, "client connected");
        let entry = ClientEntry {
            conn: myself.clone(),
            path: self.path.clone(),
            peer: self.peer,
            connected_at: std::time::SystemTime::now(),
            clean: connect.clean_session,
            keepalive: connect.keep_alive,
            protocol_level: connect.level as u8,
            username: connect.username.clone(),
            session: session.clone(),
        };
        self.broker.clients.write().insert(client_id.clone(), entry);
        let notice = serde_json::json!({
            "clientid": &*client_id,
            "username": connect.username,
            "ipaddress": self.peer.ip().to_string(),
            "clean_session": connect.clean_session,
            "protocol": connect.level as u8,
            "connack": 0,
            "ts": unix_now(),
        });
        crate::sys::client_event(&self.broker, &client_id, "connected", notice);
        self.client = Some(Client {
            username: connect.username.clone(),
            id: client_id,
            session,
            keepalive,
            level: connect.level,
        });
        // MQTT 3.1 has no session-present flag.
        let session_present = present && connect.level == ProtocolLevel::V311;
        self.write(
            myself,
            &Packet::ConnAck(ConnAck {
                session_present,
                code: ConnectReturnCode::Accepted,
                properties: None,
            }),
        );
        Ok(())
    }

    /// Asks `sm/hash(id)` to open the session; retried while the pool is being restarted.
    async fn open_session(
        &self,
        myself: &ActorRef<ConnectionMsg>,
        client_id: &Arc<str>,
        clean: bool,
    ) -> Result<(ActorRef<SessionMsg>, bool), String> {
        let mut last = String::from("sm pool not running");
        for attempt in 0..OPEN_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let Some(sm) = crate::sm::worker_for(&self.broker, client_id) else {
                continue;
            };
            let conn = crate::connection::ConnHandle {
                actor: myself.clone(),
                outbox: self.outbox.clone(),
            };
            let id = client_id.clone();
            match sm
                .call(
                    |reply| crate::sm::SmMsg::Open {
                        client_id: id,
                        clean,
                        conn,
                        reply,
                    },
                    Some(CALL_TIMEOUT),
                )
                .await
            {
                Ok(CallResult::Success(opened)) => return opened,
                Ok(other) => last = format!("{other:?}"),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// Refuses a CONNECT with a return code [MQTT-3.2.2-5]; returns the reason to close.
    fn refuse(&mut self, myself: &ActorRef<ConnectionMsg>, code: ConnectReturnCode, why: &str) -> Close {
        self.write(
            myself,
            &Packet::ConnAck(ConnAck {
                session_present: false,
                code,
                properties: None,
            }),
        );
        format!("CONNECT refused ({code:?}): {why}")
    }

    async fn publish(&mut self, myself: &ActorRef<ConnectionMsg>, publish: Publish) -> Result<(), Close> {
        let Some(client) = &self.client else { return Ok(()) };
        Metrics::add(&self.broker.metrics.messages_received, 1);
        let allowed = self.may(Action::Publish, &publish.topic);
        let msg = Arc::new(Message::new(
            publish.topic,
            publish.payload,
            publish.qos,
            publish.retain,
            client.id.clone(),
        ));
        match (publish.qos, publish.pkid) {
            (QoS::AtMostOnce, _) => {
                if allowed {
                    self.dispatch(myself, msg, false).await;
                }
            }
            (QoS::AtLeastOnce, Some(pkid)) => {
                if allowed {
                    self.dispatch(myself, msg, true).await;
                }
                self.write(myself, &Packet::PubAck(Ack::new(pkid)));
            }
            (QoS::ExactlyOnce, Some(pkid)) => {
                let session = client.session.clone();
                // Exactly once on the receiving side: a resent PUBLISH awaiting PUBREL is not
                // routed again (method B of MQTT 3.1.1 figure 4.3).
                let qos2 = Box::pin(call(&session, |r| SessionMsg::Qos2Received(pkid, r))).await?;
                if qos2 == Qos2::New && allowed {
                    self.dispatch(myself, msg, true).await;
                }
                self.write(myself, &Packet::PubRec(Ack::new(pkid)));
            }
            (_, None) => return Err("QoS > 0 PUBLISH without packet id".into()),
        }
        if !allowed {
            Metrics::add(&self.broker.metrics.messages_dropped, 1);
        }
        Ok(())
    }

    /// Whether the ACL lets this client do `action` on `topic`.
    fn may(&self, action: Action, topic: &str) -> bool {
        let Some(client) = &self.client else { return false };
        let who = Who {
            client_id: &client.id,
            username: client.username.as_deref(),
            ip: self.peer.ip(),
        };
        self.broker.access.read().allowed(&who, action, topic)
    }

    /// SUBSCRIBE: denied filters get 0x80 and never reach the session [MQTT-3.9.3-1]; the
    /// others are routed by the session, in the request's order.
    async fn subscribe(
        &self,
        session: &ActorRef<SessionMsg>,
        filters: Vec<(String, QoS)>,
    ) -> Result<Vec<SubackCode>, Close> {
        let allowed: Vec<bool> = filters
            .iter()
            .map(|(f, _)| self.may(Action::Subscribe, f))
            .collect();
        let permitted: Vec<(String, QoS)> = filters
            .into_iter()
            .zip(&allowed)
            .filter(|(_, ok)| **ok)
            .map(|(f, _)| f)
            .collect();
        let mut granted = if permitted.is_empty() {
            Vec::new().into_iter()
        } else {
            // Retained messages follow the SUBACK [MQTT-3.3.1-6].
            self.outbox.hold();
            call(session, |r| SessionMsg::Subscribe(permitted, r))
                .await?
                .into_iter()
        };
        Ok(allowed
            .iter()
            .map(|ok| {
                if *ok {
                    granted.next().unwrap_or(SubackCode::FAILURE)
                } else {
                    SubackCode::FAILURE
                }
            })
            .collect())
    }

    /// Stores a retained message (waiting for the store when the publisher will get an ack, so
    /// a subscriber that follows the ack finds it) and routes the message; pauses reading when a
    /// session it went to is over its high water.
    async fn dispatch(&mut self, myself: &ActorRef<ConnectionMsg>, msg: Arc<Message>, ack_follows: bool) {
        if msg.retain {
            let retainer = self.broker.retainer.read().clone();
            if let Some(retainer) = retainer {
                if ack_follows {
                    let m = msg.clone();
                    let call = retainer.call(|r| RetainerMsg::Retain(m, Some(r)), Some(CALL_TIMEOUT));
                    let _ = Box::pin(call).await;
                } else {
                    let _ = retainer.send_message(RetainerMsg::Retain(msg.clone(), None));
                }
            }
        }
        if let Some(load) = crate::router::publish_into(&self.broker, msg, &mut self.run).pressure {
            self.pause_for(myself, load);
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn cast(session: &ActorRef<SessionMsg>, msg: SessionMsg) {
    let _ = session.send_message(msg);
}

async fn call<T: Send + 'static>(
    session: &ActorRef<SessionMsg>,
    msg: impl FnOnce(ractor::RpcReplyPort<T>) -> SessionMsg,
) -> Result<T, Close> {
    match session.call(msg, Some(CALL_TIMEOUT)).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err("session did not answer in time".into()),
        Ok(CallResult::SenderError) => Err("session ended before answering".into()),
        Err(e) => Err(format!("session unavailable: {e}")),
    }
}
