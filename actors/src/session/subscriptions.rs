//! A session's subscriptions: SUBSCRIBE and UNSUBSCRIBE through the router (the route table's one
//! writer), the ACL check, the MQTT 5 subscription options, and the retained messages a new
//! subscription brings.
//!
//! The route table keeps one QoS per subscriber and filter, which is all a 3.1.1 delivery needs.
//! MQTT 5 options that change a delivery (No Local, Retain As Published, Subscription
//! Identifiers) stay here, in the session's own map: a session that holds any matches each
//! message it is routed against its own filters ([`SessionState::matched`]), so the shared
//! publish path pays nothing for them.

use ractor::rpc::CallResult;
use ractor::RpcReplyPort;
use tokio::time::Instant;

use crate::auth::acl::{Action, Who};
use crate::codec::{QoS, ReasonCode, RetainHandling, SubOptions, SubackCode};
use crate::lazy_map::LazyMap;
use crate::message::Message;
use crate::routing::router::RouterMsg;
use crate::routing::topic::{matches, parse_share};
use crate::session::mqueue::Outgoing;
use crate::session::{SessionHandle, SessionState};
use crate::timeouts;

/// What a SUBSCRIBE was granted.
pub(super) struct Granted {
    /// One SUBACK code per filter, in the request's order.
    pub codes: Vec<SubackCode>,
    /// The filters whose retained messages are to be sent, with their granted QoS.
    pub filters: Vec<(String, QoS)>,
}

/// A filter of a SUBSCRIBE: the filter, its options and the request's Subscription Identifier.
pub(super) type Request = (String, SubOptions, Option<u32>);

/// MQTT 5 Subscription Identifiers by filter, made on first use.
pub(super) type SubIds = LazyMap<String, u32>;

impl SessionState {
    /// Subscribes to each filter in order. With `check_acl` (a client's own SUBSCRIBE), a filter
    /// the ACL denies gets 0x87 (0x80 on 3.1.1) and is not routed [MQTT-3.9.3-1]; the admin API
    /// subscribes on an operator's authority. A feature the configuration turns off gets its
    /// MQTT 5 code (0x9E shared, 0xA1 identifiers, 0xA2 wildcards); a filter the router refuses
    /// gets 0x80. The QoS granted is at most `mqtt.max_qos`.
    pub(super) async fn subscribe(&mut self, filters: Vec<Request>, check_acl: bool) -> Granted {
        let mut granted = Granted {
            codes: Vec::with_capacity(filters.len()),
            filters: Vec::new(),
        };
        for (filter, mut options, id) in filters {
            if let Some(refused) = self.refusal(&filter, &options, id, check_acl) {
                granted.codes.push(SubackCode::Failure(refused));
                continue;
            }
            options.qos = options.qos.min(self.max_qos());
            if !self.route(&filter, options.qos).await {
                granted.codes.push(SubackCode::FAILURE);
                continue;
            }
            let old = self.reg.subscriptions.insert(filter.clone(), options.to_byte());
            match id {
                Some(id) => self.sub_ids.insert(filter.clone(), id),
                None => self.sub_ids.remove(&filter),
            };
            self.note_options();
            granted.codes.push(SubackCode::Success(options.qos));
            // [MQTT-3.3.1-9..11]: retained messages by Retain Handling.
            let send = match options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => old.is_none(),
                RetainHandling::DoNotSend => false,
            };
            if send {
                granted.filters.push((filter, options.qos));
            }
        }
        self.save();
        granted
    }

    /// Why `filter` is refused, if it is.
    fn refusal(
        &self,
        filter: &str,
        options: &SubOptions,
        id: Option<u32>,
        check_acl: bool,
    ) -> Option<ReasonCode> {
        let mqtt = &self.deps.mqtt;
        let shared = parse_share(filter);
        if shared.is_some() && !mqtt.shared_subscription {
            return Some(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED);
        }
        if shared.is_some() && options.no_local {
            // [MQTT-3.8.3-4]: No Local on a shared subscription is a protocol error.
            return Some(ReasonCode::PROTOCOL_ERROR);
        }
        if id.is_some() && !mqtt.subscription_identifiers {
            return Some(ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED);
        }
        let inner = shared.map_or(filter, |(_, f)| f);
        if !mqtt.wildcard_subscription && (inner.contains('+') || inner.contains('#')) {
            return Some(ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED);
        }
        if check_acl && !self.may_subscribe(filter) {
            return Some(ReasonCode::NOT_AUTHORIZED);
        }
        None
    }

    /// Whether any subscription has an option that changes a delivery.
    pub(super) fn note_options(&mut self) {
        self.with_options = !self.sub_ids.is_empty()
            || self.reg.subscriptions.values().any(|&b| {
                let o = SubOptions::from_byte(b);
                o.no_local || o.retain_as_published
            });
    }

    /// `mqtt.max_qos` as a QoS.
    pub(super) fn max_qos(&self) -> QoS {
        QoS::from_u8(self.deps.mqtt.max_qos).unwrap_or(QoS::ExactlyOnce)
    }

    fn may_subscribe(&self, filter: &str) -> bool {
        let Some(conn) = &self.conn else { return false };
        let who = Who {
            client_id: &self.reg.handle.client_id,
            username: conn.identity.username.as_deref(),
            ip: conn.identity.ip,
        };
        self.deps
            .access
            .current()
            .allowed(&who, Action::Subscribe, filter)
    }

    /// Sends the retained messages matching newly granted `filters` [MQTT-3.3.1-6], with
    /// RETAIN set [MQTT-3.3.1-8]; a shared subscription gets none [MQTT-4.8.2-...].
    pub(super) fn send_retained(&mut self, filters: Vec<(String, QoS)>) {
        let mut retained = Vec::new();
        let now = Instant::now();
        for (filter, qos) in filters.iter().filter(|(f, _)| parse_share(f).is_none()) {
            retained.clear();
            self.deps.retained.matching(filter, &mut retained);
            for (_, msg) in retained.drain(..) {
                if msg.expired(now) {
                    continue;
                }
                let qos = msg.qos.min(*qos);
                let sub_ids = self.sub_ids.get(filter).map(|&id| Box::from([id]));
                self.deliver(Outgoing {
                    msg,
                    qos,
                    retain: true,
                    sub_ids,
                    seq: 0,
                });
            }
        }
    }

    /// A routed message as this session delivers it, by its own subscriptions' MQTT 5 options:
    /// the highest QoS of the matching subscriptions, RETAIN kept if one of them is Retain As
    /// Published [MQTT-3.3.1-12], the identifiers of all of them [MQTT-3.3.4-3]; none when every
    /// match is No Local and the message is this client's own [MQTT-3.8.3-3].
    pub(super) fn matched(&self, msg: std::sync::Arc<Message>) -> Option<Outgoing> {
        let own = *msg.from == *self.reg.handle.client_id;
        let mut best: Option<QoS> = None;
        let mut retain = false;
        let mut ids = Vec::new();
        for (filter, &byte) in &self.reg.subscriptions {
            let options = SubOptions::from_byte(byte);
            let inner = parse_share(filter).map_or(filter.as_str(), |(_, f)| f);
            if !matches(inner, &msg.topic) || (own && options.no_local) {
                continue;
            }
            best = best.max(Some(options.qos));
            retain |= options.retain_as_published && msg.retain;
            ids.extend(self.sub_ids.get(filter).copied());
        }
        let qos = msg.qos.min(best?);
        Some(Outgoing {
            qos,
            retain,
            sub_ids: (!ids.is_empty()).then(|| ids.into_boxed_slice()),
            msg,
            seq: 0,
        })
    }

    /// Asks the router to route `filter` to this session; false if refused or unreachable.
    pub(super) async fn route(&self, filter: &str, qos: QoS) -> bool {
        let routed = self
            .ask_router(|reply| RouterMsg::Subscribe {
                filter: filter.to_string(),
                subscriber: self.reg.handle.clone(),
                qos: qos.as_u8(),
                reply,
            })
            .await;
        matches!(routed, Some(Ok(())))
    }

    /// Removes each filter's subscription and its route; per filter, whether it existed
    /// (MQTT 5 UNSUBACK: 0x00 or 0x11 [MQTT-3.11.3-1]).
    pub(super) async fn unsubscribe(&mut self, filters: Vec<String>) -> Vec<ReasonCode> {
        let mut reasons = Vec::with_capacity(filters.len());
        for filter in filters {
            let old = self.reg.subscriptions.remove(&filter);
            self.sub_ids.remove(&filter);
            self.note_options();
            reasons.push(match old {
                Some(_) => ReasonCode::SUCCESS,
                None => ReasonCode::NO_SUBSCRIPTION_EXISTED,
            });
            let key = self.reg.handle.client_id.clone();
            self.ask_router(|reply| RouterMsg::Unsubscribe(filter.clone(), key.clone(), reply))
                .await;
        }
        self.save();
        reasons
    }

    /// Calls the router, waiting for it while it restarts (the route table's one writer is
    /// briefly absent then), for at most [`timeouts::ROUTER_CALL`].
    async fn ask_router<T: Send + 'static>(
        &self,
        msg: impl Fn(RpcReplyPort<T>) -> RouterMsg<SessionHandle>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeouts::ROUTER_CALL;
        loop {
            if let Some(router) = self.deps.router.get() {
                let left = deadline.saturating_duration_since(Instant::now());
                match router.call(&msg, Some(left)).await {
                    Ok(CallResult::Success(answer)) => return Some(answer),
                    Ok(CallResult::Timeout) => return None,
                    Ok(CallResult::SenderError) | Err(_) => {}
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(timeouts::RESTART_POLL).await;
        }
    }
}
