//! A session's subscriptions: SUBSCRIBE and UNSUBSCRIBE through the router (the route table's one
//! writer), the ACL check, and the retained messages a new subscription brings.

use ractor::rpc::CallResult;
use ractor::RpcReplyPort;
use tokio::time::Instant;

use crate::auth::acl::{Action, Who};
use crate::codec::{QoS, SubackCode};
use crate::routing::router::RouterMsg;
use crate::routing::topic::parse_share;
use crate::session::mqueue::Outgoing;
use crate::session::{SessionHandle, SessionState};
use crate::timeouts;

/// What a SUBSCRIBE was granted.
pub(super) struct Granted {
    /// One SUBACK code per filter, in the request's order.
    pub codes: Vec<SubackCode>,
    /// The filters now subscribed, with their QoS, for the retained messages.
    pub filters: Vec<(String, QoS)>,
}

impl SessionState {
    /// Subscribes to each filter in order. With `check_acl` (a client's own SUBSCRIBE), a filter
    /// the ACL denies gets 0x80 and is not routed [MQTT-3.9.3-1]; the admin API subscribes on an
    /// operator's authority. A filter the router refuses gets 0x80 too.
    pub(super) async fn subscribe(&mut self, filters: Vec<(String, QoS)>, check_acl: bool) -> Granted {
        let mut granted = Granted {
            codes: Vec::with_capacity(filters.len()),
            filters: Vec::new(),
        };
        for (filter, qos) in filters {
            if (check_acl && !self.may_subscribe(&filter)) || !self.route(&filter, qos).await {
                granted.codes.push(SubackCode::FAILURE);
                continue;
            }
            self.reg.subscriptions.insert(filter.clone(), qos);
            granted.codes.push(SubackCode::Success(qos));
            granted.filters.push((filter, qos));
        }
        granted
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

    /// Sends the retained messages matching newly granted `filters` [MQTT-3.3.1-6]; a shared
    /// subscription gets none.
    pub(super) fn send_retained(&mut self, filters: Vec<(String, QoS)>) {
        let mut retained = Vec::new();
        for (filter, qos) in filters.iter().filter(|(f, _)| parse_share(f).is_none()) {
            retained.clear();
            self.deps.retained.matching(filter, &mut retained);
            for (_, msg) in retained.drain(..) {
                let qos = msg.qos.min(*qos);
                self.deliver(Outgoing {
                    msg,
                    qos,
                    retain: true,
                });
            }
        }
    }

    /// Asks the router to route `filter` to this session; false if refused or unreachable.
    async fn route(&self, filter: &str, qos: QoS) -> bool {
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

    /// Removes each filter's subscription and its route.
    pub(super) async fn unsubscribe(&mut self, filters: Vec<String>) {
        for filter in filters {
            self.reg.subscriptions.remove(&filter);
            let key = self.reg.handle.client_id.clone();
            self.ask_router(|reply| RouterMsg::Unsubscribe(filter.clone(), key.clone(), reply))
                .await;
        }
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
