//! The client's side of the protocol after CONNECT (emqttd_protocol's `process/2`), run by the
//! reader: what each packet from the client does.
//!
//! A PUBLISH is handled where it is read: checked against the ACL, stored through the retainer if
//! retained, and routed into the subscribers' sessions ([`crate::routing::publish`]), with its
//! acknowledgement (PUBACK, PUBREC) owed to the client handed to the client's own session, which
//! writes it. Everything else (PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ)
//! is the session's and goes to it in order, one message per read. Server-only packets and a
//! second CONNECT are violations [MQTT-3.1.0-2]. An `Err` is the reason to close.
//!
//! QoS 2 from the client is exactly once on the receiving side: a resent PUBLISH still awaiting
//! PUBREL is not routed again (method B of MQTT 3.1.1 figure 4.3), which only the session knows,
//! so the reader asks it, after handing it what came before (a PUBREL may free the id).
//!
//! MQTT 5 adds, for a v5 client only: topic aliases resolved before anything else
//! ([`super::topic_alias`]); the PUBLISH properties carried on with the message; the broker's
//! limits (Maximum QoS 0x9B, Retain Available 0x9A, Receive Maximum 0x93: a read that brings
//! more unacknowledged QoS 1/2 PUBLISHes than it can have outstanding proves the client over
//! it); PUBACK/PUBREC reason codes (0x87 not authorized, 0x10 no matching subscribers); and
//! DISCONNECT's reason (0x04 publishes the will) and Session Expiry Interval.
//!
//! With a store, a read that routed a QoS 1/2 message to a persistent session (or stored a
//! retained one, or a QoS 2 receipt) waits for the store before it hands its session the
//! acknowledgements: a PUBACK/PUBREC goes out only once the message cannot be lost
//! ([`crate::store`]). Deliveries are cast before that wait; only the acknowledgements wait.
//! A commit that fails sends no acknowledgement (MQTT 5: the reason 0x80 instead), so the
//! client sends the message again.
//!
//! The common path waits for nothing, so it is plain code: [`Inbound::packet`] and
//! [`Inbound::end_batch`] return a [`Wait`] only for what must wait (a QoS 2 receipt, a retained
//! message stored before its ack, DISCONNECT, read credits, a subscriber over its high water).
//! The reader's task lives as long as its connection and holds room for the largest future it
//! awaits, so keeping those futures boxed and off the common path keeps every idle connection
//! small.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use ractor::rpc::CallResult;
use ractor::ActorRef;
use tokio::sync::Semaphore;

use crate::auth::acl::{Action, Who};
use crate::codec::{Ack, Disconnect, Packet, PacketId, ProtocolLevel, Publish, QoS, ReasonCode, TopicName};
use crate::connection::topic_alias::InAliases;
use crate::connection::{Attached, Close, ConnectionDeps, READ_CREDIT};
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::routing::load::Load;
use crate::routing::publish::Run;
use crate::session::{ClientDisconnect, Inbound as ToSession, Qos2, SessionHandle, SessionMsg};
use crate::timeouts;

/// Something the reader must await before it goes on: boxed, see the module docs.
pub(super) type Wait<'a> = Pin<Box<dyn Future<Output = Result<(), Close>> + Send + 'a>>;

/// What handling a packet left: nothing (done), something to await, or the reason to close.
pub(super) type Step<'a> = Result<Option<Wait<'a>>, Close>;

/// The connected client, as its reader sees it.
pub(super) struct Inbound {
    client_id: Arc<str>,
    session: ActorRef<SessionMsg>,
    username: Option<Arc<str>>,
    ip: IpAddr,
    deps: Arc<ConnectionDeps>,
    /// Read credits: one per packet handed to the session and not yet handled by it.
    credit: Arc<Semaphore>,
    /// Deliveries of this read's PUBLISHes, grouped per subscriber.
    run: Run<SessionHandle>,
    /// This read's packets for the session, in order.
    to_session: Vec<ToSession>,
    /// A subscriber over its high water, met during this read.
    pressure: Option<Arc<Load>>,
    /// The protocol level.
    level: ProtocolLevel,
    /// MQTT 5: the client's topic aliases.
    aliases: InAliases,
    /// MQTT 5: QoS 1/2 PUBLISHes of this read (none of them acknowledged yet).
    unacked: u16,
    /// Whether its session is stored (its QoS 2 receipts are too).
    durable: bool,
    /// This read stored something: its acknowledgements wait for the store.
    stored: bool,
}

impl Inbound {
    pub(super) fn new(attached: Attached, deps: Arc<ConnectionDeps>) -> Self {
        Self {
            client_id: attached.client_id,
            session: attached.session,
            username: attached.username,
            ip: attached.ip,
            deps,
            credit: Arc::new(Semaphore::new(READ_CREDIT)),
            run: Run::default(),
            to_session: Vec::new(),
            pressure: None,
            level: attached.level,
            aliases: InAliases::default(),
            unacked: 0,
            durable: attached.durable,
            stored: false,
        }
    }

    /// Handles one packet from the client.
    pub(super) fn packet(&mut self, packet: Packet) -> Step<'_> {
        match packet {
            Packet::Publish(publish) => self.publish(publish),
            Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => {
                self.to_session.push(ToSession::Client(packet));
                Ok(None)
            }
            Packet::Disconnect(disconnect) => Ok(Some(Box::pin(self.disconnect(disconnect)))),
            Packet::Connect(_) => Err(Close::Protocol("second CONNECT [MQTT-3.1.0-2]".into())),
            other => Err(Close::Protocol(format!(
                "{:?} is not a packet a client sends",
                other.packet_type()
            ))),
        }
    }

    fn publish(&mut self, mut publish: Publish) -> Step<'_> {
        Metrics::add(&self.deps.metrics.messages_received, 1);
        if self.level == ProtocolLevel::V5 {
            self.v5_publish(&mut publish)?;
        } else if publish.retain && !self.deps.mqtt.retain_available {
            // 3.1.1 cannot be told: the message is routed, not kept.
            publish.retain = false;
        }
        let allowed = self.may_publish(&publish.topic);
        if !allowed {
            Metrics::add(&self.deps.metrics.messages_dropped, 1);
        }
        let (qos, pkid) = (publish.qos, publish.pkid);
        let mut msg = Message::new(
            publish.topic,
            publish.payload,
            publish.qos,
            publish.retain,
            self.client_id.clone(),
        );
        if publish.properties.is_some() {
            msg = msg.with_properties(publish.properties, tokio::time::Instant::now());
        }
        let msg = Arc::new(msg);
        match (qos, pkid) {
            (QoS::AtMostOnce, _) => {
                if allowed {
                    if msg.retain {
                        self.deps.publisher.retain(&msg);
                    }
                    self.route(msg);
                }
                Ok(None)
            }
            (QoS::AtLeastOnce, Some(pkid)) => {
                let ack = Ack::new(pkid);
                if allowed && msg.retain {
                    return Ok(Some(Box::pin(self.retained_then(msg, Packet::PubAck, ack))));
                }
                let routed = allowed && self.route(msg);
                self.to_session
                    .push(ToSession::Reply(Packet::PubAck(acked(ack, allowed, routed))));
                Ok(None)
            }
            (QoS::ExactlyOnce, Some(pkid)) => Ok(Some(Box::pin(self.exactly_once(pkid, msg, allowed)))),
            (_, None) => Err(Close::Protocol("QoS > 0 PUBLISH without packet id".into())),
        }
    }

    /// An MQTT 5 PUBLISH: its topic alias resolved, and the server's limits checked.
    fn v5_publish(&mut self, publish: &mut Publish) -> Result<(), Close> {
        let mqtt = &self.deps.mqtt;
        let alias = publish.properties.as_ref().and_then(|p| p.topic_alias);
        let topic = std::mem::replace(&mut publish.topic, TopicName::alias_only());
        publish.topic = self.aliases.resolve(topic, alias, mqtt.max_topic_alias)?;
        if publish.qos.as_u8() > mqtt.max_qos {
            let why = format!(
                "QoS {} above the Maximum QoS {} [MQTT-3.2.2-11]",
                publish.qos.as_u8(),
                mqtt.max_qos
            );
            return Err(Close::Violation(ReasonCode::QOS_NOT_SUPPORTED, why));
        }
        if publish.retain && !mqtt.retain_available {
            let why = "retained PUBLISH while Retain Available is 0 [MQTT-3.2.2-14]".to_string();
            return Err(Close::Violation(ReasonCode::RETAIN_NOT_SUPPORTED, why));
        }
        if publish.qos != QoS::AtMostOnce {
            self.unacked = self.unacked.saturating_add(1);
            if self.unacked > mqtt.receive_maximum {
                let why = format!(
                    "more than the Receive Maximum {} unacknowledged [MQTT-3.3.4-7]",
                    mqtt.receive_maximum
                );
                return Err(Close::Violation(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED, why));
            }
        }
        Ok(())
    }

    /// Routes `msg` through this read's run; notes a subscriber over its high water. True if it
    /// went to at least one subscriber.
    fn route(&mut self, msg: Arc<Message>) -> bool {
        let routed = self.deps.publisher.publish_into(msg, &mut self.run);
        if let Some(load) = routed.pressure {
            self.pressure.get_or_insert(load);
        }
        self.stored |= routed.stored;
        routed.delivered > 0
    }

    /// A retained message whose publisher gets an ack: stored first, so that a subscriber who
    /// follows the ack finds it, then routed and acked. What this read routed so far goes out
    /// before the wait (its sessions would otherwise hold their writes for it).
    async fn retained_then(
        &mut self,
        msg: Arc<Message>,
        kind: fn(Ack) -> Packet,
        ack: Ack,
    ) -> Result<(), Close> {
        self.run.cast();
        self.deps.publisher.retain_and_wait(&msg).await;
        // The retainer sent the store its write before it answered: the wait covers it.
        self.stored |= self.deps.publisher.store().enabled();
        let routed = self.route(msg);
        self.to_session
            .push(ToSession::Reply(kind(acked(ack, true, routed))));
        Ok(())
    }

    /// QoS 2: route the message unless the session still awaits PUBREL for its packet id
    /// (then it is a resend), and owe a PUBREC.
    async fn exactly_once(&mut self, pkid: PacketId, msg: Arc<Message>, allowed: bool) -> Result<(), Close> {
        if let Some(wait) = self.hand_over()? {
            wait.await?;
        }
        let call = self
            .session
            .call(|r| SessionMsg::Qos2Received(pkid, r), Some(timeouts::READER_CALL));
        let qos2 = match call.await {
            Ok(CallResult::Success(qos2)) => qos2,
            Ok(CallResult::Timeout) => return Err(Close::SessionGone("did not answer in time".into())),
            _ => return Err(Close::SessionGone("ended before answering".into())),
        };
        if qos2 == Qos2::Full && self.level == ProtocolLevel::V5 {
            let why = "more QoS 2 PUBLISHes awaiting PUBREL than the Receive Maximum [MQTT-3.3.4-7]";
            return Err(Close::Violation(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED, why.into()));
        }
        let ack = Ack::new(pkid);
        let new = qos2 == Qos2::New;
        match (new && allowed, msg.retain) {
            (true, true) => self.retained_then(msg, Packet::PubRec, ack).await?,
            (true, false) => {
                let routed = self.route(msg);
                self.to_session
                    .push(ToSession::Reply(Packet::PubRec(acked(ack, true, routed))));
            }
            (false, _) => {
                let ack = acked(ack, allowed, true);
                self.to_session.push(ToSession::Reply(Packet::PubRec(ack)));
            }
        }
        if new && self.durable {
            // After the message's inserts: a durable receipt implies a durable message, so a
            // resend after a crash is recognised only if the first copy was kept.
            let key = crate::store::keys::receipt(&self.client_id, pkid.get());
            let op = crate::store::Op::Insert(crate::store::Table::Receipts, key, bytes::Bytes::new());
            self.deps.publisher.store().send(vec![op]);
            self.stored = true;
        }
        Ok(())
    }

    /// DISCONNECT: what came before goes to the session, then a call, not a cast: the session
    /// must drop the will before it hears that the connection ended [MQTT-3.1.2-10] (MQTT 5:
    /// unless the reason is 0x04 [MQTT-3.14.4-3]), and take a new Session Expiry Interval.
    async fn disconnect(&mut self, disconnect: Disconnect) -> Result<(), Close> {
        if let Some(wait) = self.end_batch()? {
            wait.await?;
        }
        let said = Box::new(ClientDisconnect {
            with_will: disconnect.reason == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
            expiry: disconnect.properties.and_then(|p| p.session_expiry_interval),
        });
        let call = self
            .session
            .call(|r| SessionMsg::Disconnect(said, r), Some(timeouts::READER_CALL));
        if let Ok(CallResult::Success(false)) = call.await {
            return Err(Close::Protocol(
                "DISCONNECT set a Session Expiry Interval where CONNECT had 0 [MQTT-3.14.2-2]".into(),
            ));
        }
        Err(Close::Disconnected)
    }

    /// Whether the ACL lets this client publish to `topic`.
    fn may_publish(&self, topic: &str) -> bool {
        let who = Who {
            client_id: &self.client_id,
            username: self.username.as_deref(),
            ip: self.ip,
        };
        self.deps.access.current().allowed(&who, Action::Publish, topic)
    }

    /// Casts this read's deliveries; true if it cast some and packets for the session wait
    /// too: the caller then yields before it hands them over, so that a subscriber's session
    /// (woken by the deliveries) writes before this client's own session writes its
    /// acknowledgements (the task woken last runs first on a tokio worker).
    pub(super) fn deliver_first(&mut self) -> bool {
        let cast = self.run.cast();
        cast && !self.to_session.is_empty()
    }

    /// Casts this read's deliveries and hands the session its packets, taking a read credit
    /// each (so at most [`READ_CREDIT`] wait in its mailbox); waits only when the credits are
    /// not there.
    fn hand_over(&mut self) -> Step<'_> {
        self.run.cast();
        self.unacked = 0;
        if std::mem::take(&mut self.stored) {
            return Ok(Some(Box::pin(async move {
                let durable = self.deps.publisher.store().barrier(Vec::new()).await;
                if let Err(e) = durable {
                    self.not_durable(&e);
                }
                match self.hand_over()? {
                    Some(wait) => wait.await,
                    None => Ok(()),
                }
            })));
        }
        if self.to_session.is_empty() {
            return Ok(None);
        }
        // Cannot overflow u32: at most READ_CREDIT packets are gathered per read.
        let n = self.to_session.len() as u32;
        let taken = match self.credit.try_acquire_many(n) {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        };
        match taken {
            true => self.send_to_session().map(|()| None),
            false => Ok(Some(Box::pin(async move {
                match self.credit.acquire_many(n).await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return Err(Close::SessionGone("read credits closed".into())),
                }
                self.send_to_session()
            }))),
        }
    }

    /// The store failed to keep this read's messages: none of its PUBACKs/PUBRECs is sent
    /// (an MQTT 5 client gets 0x80 instead), so the client sends them again; other packets go.
    fn not_durable(&mut self, error: &crate::store::StoreError) {
        tracing::debug!(client_id = %self.client_id, %error, "not acknowledged: the store failed");
        let v5 = self.level == ProtocolLevel::V5;
        self.to_session.retain_mut(|p| match p {
            ToSession::Reply(Packet::PubAck(ack) | Packet::PubRec(ack)) if v5 => {
                ack.reason = ReasonCode::UNSPECIFIED_ERROR;
                true
            }
            ToSession::Reply(_) => false,
            ToSession::Client(_) => true,
        });
    }

    fn send_to_session(&mut self) -> Result<(), Close> {
        let packets = std::mem::take(&mut self.to_session);
        self.session
            .send_message(SessionMsg::Inbound(self.credit.clone(), packets))
            .map_err(|_| Close::SessionGone("its mailbox is closed".into()))
    }

    /// The end of a read: everything handed over, then, if a subscriber this read published to
    /// is over its high water, no more reading until it is below its low water or
    /// `session.publisher_wait` has passed, after which that subscriber counts as stalled.
    pub(super) fn end_batch(&mut self) -> Step<'_> {
        let Some(pressure) = self.pressure.take() else {
            return self.hand_over();
        };
        let wait = self.deps.publisher_wait;
        let client_id = self.client_id.clone();
        let credits = self.hand_over()?;
        Ok(Some(Box::pin(async move {
            if let Some(credits) = credits {
                credits.await?;
            }
            if tokio::time::timeout(wait, pressure.room()).await.is_err() {
                tracing::warn!(%client_id, ?wait, "a subscriber's session stayed over half its queue: stalled, its queue drops oldest until it catches up");
                pressure.stall();
            }
            Ok(())
        })))
    }
}

/// A PUBACK/PUBREC's MQTT 5 reason: 0x87 when the ACL refused the message, 0x10 when nobody
/// subscribes to it (3.1/3.1.1 encode no reason).
fn acked(mut ack: Ack, allowed: bool, routed: bool) -> Ack {
    ack.reason = match (allowed, routed) {
        (false, _) => ReasonCode::NOT_AUTHORIZED,
        (true, false) => ReasonCode::NO_MATCHING_SUBSCRIBERS,
        (true, true) => ReasonCode::SUCCESS,
    };
    ack
}

/// Awaits what a step left to wait for, if anything.
pub(super) async fn finish(step: Step<'_>) -> Result<(), Close> {
    match step {
        Ok(None) => Ok(()),
        Ok(Some(wait)) => wait.await,
        Err(close) => Err(close),
    }
}
