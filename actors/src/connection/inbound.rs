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

use std::net::IpAddr;
use std::sync::Arc;

use ractor::rpc::CallResult;
use ractor::ActorRef;
use tokio::sync::Semaphore;

use crate::auth::acl::{Action, Who};
use crate::codec::{Ack, Packet, Publish, QoS};
use crate::connection::{Attached, Close, ConnectionDeps, READ_CREDIT};
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::routing::load::Load;
use crate::routing::publish::Run;
use crate::session::{Inbound as ToSession, Qos2, SessionHandle, SessionMsg};
use crate::timeouts;

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
}

impl Inbound {
    pub(super) fn new(attached: Attached, deps: Arc<ConnectionDeps>, ip: IpAddr) -> Self {
        Self {
            client_id: attached.client_id,
            session: attached.session,
            username: attached.username,
            ip,
            deps,
            credit: Arc::new(Semaphore::new(READ_CREDIT)),
            run: Run::default(),
            to_session: Vec::new(),
            pressure: None,
        }
    }

    /// Handles one packet from the client.
    pub(super) async fn packet(&mut self, packet: Packet) -> Result<(), Close> {
        match packet {
            Packet::Publish(publish) => self.publish(publish).await,
            Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => {
                self.to_session.push(ToSession::Client(packet));
                Ok(())
            }
            Packet::Disconnect(_) => {
                self.end_batch().await?;
                // A call, not a cast: the session must drop the will before it hears that the
                // connection ended [MQTT-3.1.2-10].
                let _ = self
                    .session
                    .call(SessionMsg::Disconnect, Some(timeouts::READER_CALL))
                    .await;
                Err(Close::Disconnected)
            }
            Packet::Connect(_) => Err(Close::Protocol("second CONNECT [MQTT-3.1.0-2]".into())),
            other => Err(Close::Protocol(format!(
                "{:?} is not a packet a client sends",
                other.packet_type()
            ))),
        }
    }

    async fn publish(&mut self, publish: Publish) -> Result<(), Close> {
        Metrics::add(&self.deps.metrics.messages_received, 1);
        let allowed = self.may_publish(&publish.topic);
        let (qos, pkid) = (publish.qos, publish.pkid);
        let msg = Arc::new(Message::new(
            publish.topic,
            publish.payload,
            publish.qos,
            publish.retain,
            self.client_id.clone(),
        ));
        match (qos, pkid) {
            (QoS::AtMostOnce, _) => {
                if allowed {
                    self.dispatch(msg, false).await;
                }
            }
            (QoS::AtLeastOnce, Some(pkid)) => {
                if allowed {
                    self.dispatch(msg, true).await;
                }
                self.to_session
                    .push(ToSession::Reply(Packet::PubAck(Ack::new(pkid))));
            }
            (QoS::ExactlyOnce, Some(pkid)) => {
                self.hand_over().await?;
                let call = self
                    .session
                    .call(|r| SessionMsg::Qos2Received(pkid, r), Some(timeouts::READER_CALL));
                let qos2 = match call.await {
                    Ok(CallResult::Success(qos2)) => qos2,
                    Ok(CallResult::Timeout) => {
                        return Err(Close::SessionGone("did not answer in time".into()))
                    }
                    _ => return Err(Close::SessionGone("ended before answering".into())),
                };
                if qos2 == Qos2::New && allowed {
                    self.dispatch(msg, true).await;
                }
                self.to_session
                    .push(ToSession::Reply(Packet::PubRec(Ack::new(pkid))));
            }
            (_, None) => return Err(Close::Protocol("QoS > 0 PUBLISH without packet id".into())),
        }
        if !allowed {
            Metrics::add(&self.deps.metrics.messages_dropped, 1);
        }
        Ok(())
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

    /// Stores a retained message (waiting for the store when the publisher will get an ack, so
    /// a subscriber that follows the ack finds it) and routes the message.
    async fn dispatch(&mut self, msg: Arc<Message>, ack_follows: bool) {
        let publisher = &self.deps.publisher;
        if msg.retain {
            if ack_follows {
                publisher.retain_and_wait(&msg).await;
            } else {
                publisher.retain(&msg);
            }
        }
        if let Some(load) = publisher.publish_into(msg, &mut self.run).pressure {
            self.pressure.get_or_insert(load);
        }
    }

    /// Casts this read's deliveries and hands the session its packets (taking a read credit
    /// each, so at most [`READ_CREDIT`] wait in its mailbox).
    async fn hand_over(&mut self) -> Result<(), Close> {
        self.run.cast();
        if self.to_session.is_empty() {
            return Ok(());
        }
        // Cannot overflow u32: at most READ_CREDIT packets are gathered per read.
        let n = self.to_session.len() as u32;
        match self.credit.acquire_many(n).await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(Close::SessionGone("read credits closed".into())),
        }
        let packets = std::mem::take(&mut self.to_session);
        self.session
            .send_message(SessionMsg::Inbound(self.credit.clone(), packets))
            .map_err(|_| Close::SessionGone("its mailbox is closed".into()))
    }

    /// The end of a read: everything handed over, then, if a subscriber this read published to
    /// is over its high water, no more reading until it is below its low water or
    /// `session.publisher_wait` has passed, after which that subscriber counts as stalled.
    pub(super) async fn end_batch(&mut self) -> Result<(), Close> {
        self.hand_over().await?;
        if let Some(load) = self.pressure.take() {
            let wait = self.deps.publisher_wait;
            if tokio::time::timeout(wait, load.room()).await.is_err() {
                tracing::warn!(client_id = %self.client_id, ?wait, "a subscriber's session stayed over half its queue: stalled, its queue drops oldest until it catches up");
                load.stall();
            }
        }
        Ok(())
    }
}
