//! The publish path: from a published message to the inboxes of its subscribers.
//!
//! Publishers do not go through an actor: [`Publisher::publish_into`] reads the route table where
//! the publisher runs (emqttd reads its ETS route table from the publishing process), admits each
//! delivery against the subscriber's [`Load`], and casts it to the subscriber's inbox. Routing
//! knows nothing of sessions: it delivers to any [`Inbox`], which the session room implements.
//!
//! A publisher's burst to one subscriber is one mailbox message ([`Run`]), not one per PUBLISH:
//! consecutive deliveries to the same inbox are held and cast together when the target changes
//! or the caller ends its batch. Order per subscriber is kept either way.
//!
//! A QoS 1/2 delivery to a durable inbox (a persistent session, with a store) is stored first:
//! its insert goes to the store ([`crate::store`]) before the delivery is cast, and
//! [`Routed::stored`] tells the caller to wait for the store before it acknowledges.

use std::sync::Arc;

use arbor_supervisors::Slot;
use ractor::ActorRef;

use bytes::Bytes;

use crate::codec::QoS;
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::routing::load::{Admit, Load};
use crate::routing::retainer::RetainerMsg;
use crate::routing::trie::{RouteTable, Subscriber};
use crate::store::{MessageRecord, Op, Store, Table};
use crate::timeouts;

/// One delivery: the message, the QoS of the subscription that matched, and the sequence number
/// under which it is stored for its inbox (0: not stored).
pub type Delivery = (Arc<Message>, QoS, u64);

/// Deliveries cast to one inbox: one message or a publisher's burst, in order.
pub enum Deliveries {
    /// One message.
    One(Arc<Message>, QoS, u64),
    /// Several, in publish order.
    Many(Vec<Delivery>),
}

impl Deliveries {
    /// How many messages.
    pub fn len(&self) -> usize {
        match self {
            Deliveries::One(..) => 1,
            Deliveries::Many(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A subscriber the publish path can deliver to.
pub trait Inbox: Subscriber {
    /// Its load, which each delivery is admitted against.
    fn load(&self) -> &Arc<Load>;
    /// Casts deliveries to it; false when it is gone.
    fn deliver(&self, deliveries: Deliveries) -> bool;
    /// Whether `other` is the same inbox (one run per inbox).
    fn same_inbox(&self, other: &Self) -> bool;
    /// The key under which its QoS 1/2 deliveries are stored, if it is durable.
    fn durable_key(&self) -> Option<&str>;
}

/// Where a publish went.
#[derive(Debug, Default)]
pub struct Routed {
    /// Inboxes it was cast to.
    pub delivered: usize,
    /// An inbox over its high water: the publisher should pause until it has room.
    pub pressure: Option<Arc<Load>>,
    /// Stored for a durable inbox: the publisher's acknowledgement waits for the store.
    pub stored: bool,
}

/// Deliveries held while they go to one inbox (see the module docs), and the scratch buffer of
/// route lookups, kept so that routing allocates nothing per message.
pub struct Run<S: Inbox> {
    to: Option<S>,
    msgs: Vec<Delivery>,
    matches: Vec<(S, u8)>,
    /// A message's admitted deliveries, held until its inserts are sent to the store.
    admitted: Vec<(S, QoS, u64)>,
}

impl<S: Inbox> Default for Run<S> {
    fn default() -> Self {
        Self {
            to: None,
            msgs: Vec::new(),
            matches: Vec::new(),
            admitted: Vec::new(),
        }
    }
}

impl<S: Inbox> Run<S> {
    fn push(&mut self, to: S, msg: Arc<Message>, qos: QoS, seq: u64) {
        if !self.to.as_ref().is_some_and(|held| held.same_inbox(&to)) {
            self.cast();
            self.to = Some(to);
        }
        self.msgs.push((msg, qos, seq));
    }

    /// Casts what is held; true if there was something.
    pub fn cast(&mut self) -> bool {
        let Some(to) = self.to.take() else { return false };
        let n = self.msgs.len();
        let deliveries = match self.msgs.pop() {
            None => return false,
            Some((msg, qos, seq)) if n == 1 => Deliveries::One(msg, qos, seq),
            Some(last) => {
                self.msgs.push(last);
                Deliveries::Many(std::mem::take(&mut self.msgs))
            }
        };
        if !to.deliver(deliveries) {
            to.load().uncast(n);
        }
        true
    }
}

/// The publish path's handles: the route table (read only), the retainer and the counters.
pub struct Publisher<S: Subscriber> {
    routes: Arc<RouteTable<S>>,
    retainer: Slot<ActorRef<RetainerMsg>>,
    metrics: Arc<Metrics>,
    store: Store,
}

impl<S: Subscriber> Clone for Publisher<S> {
    fn clone(&self) -> Self {
        Self {
            routes: self.routes.clone(),
            retainer: self.retainer.clone(),
            metrics: self.metrics.clone(),
            store: self.store.clone(),
        }
    }
}

impl<S: Inbox> Publisher<S> {
    /// The publish path over `routes`, storing retained messages through `retainer` and
    /// deliveries to durable inboxes in `store`.
    pub fn new(
        routes: Arc<RouteTable<S>>,
        retainer: Slot<ActorRef<RetainerMsg>>,
        metrics: Arc<Metrics>,
        store: Store,
    ) -> Self {
        Self {
            routes,
            retainer,
            metrics,
            store,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The route table, to read.
    pub fn routes(&self) -> &RouteTable<S> {
        &self.routes
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Routes `msg` to every matching inbox (see [`Publisher::publish_into`]) and casts at once:
    /// for the broker's own messages (wills, `$SYS`), which come one at a time.
    pub fn publish(&self, msg: Arc<Message>) -> Routed {
        let mut run = Run::default();
        let routed = self.publish_into(msg, &mut run);
        run.cast();
        routed
    }

    /// Routes `msg` to every matching inbox, each admitted against its load ([`crate::routing::load`]):
    /// to an inbox the publisher can still hold back it goes, and one over its high water is
    /// returned so the publisher can pause; a stalled one drops QoS 0 at its door, counted. The
    /// deliveries go through `run`, which the caller casts. A retained message is stored first,
    /// by the caller ([`Publisher::retain`]).
    pub fn publish_into(&self, msg: Arc<Message>, run: &mut Run<S>) -> Routed {
        let mut matches = std::mem::take(&mut run.matches);
        self.routes.route(&msg.topic, &mut matches);
        let m = &self.metrics;
        if matches.is_empty() {
            Metrics::add(&m.messages_dropped, 1);
        }
        let mut routed = Routed::default();
        let mut admitted = std::mem::take(&mut run.admitted);
        let mut ops = Vec::new();
        let mut record: Option<(QoS, Bytes)> = None;
        for (inbox, sub_qos) in matches.drain(..) {
            let qos = QoS::from_u8(sub_qos).unwrap_or(QoS::AtMostOnce);
            let effective = msg.qos.min(qos);
            match inbox.load().admit(effective.as_u8()) {
                Admit::Drop => {
                    m.mqueue_drop();
                    continue;
                }
                Admit::Pressure if routed.pressure.is_none() => routed.pressure = Some(inbox.load().clone()),
                Admit::Pressure | Admit::Yes => {}
            }
            routed.delivered += 1;
            let mut seq = 0;
            // QoS 0 is never stored: its inbox is not even asked.
            let durable = (effective != QoS::AtMostOnce)
                .then(|| inbox.durable_key())
                .flatten();
            if let Some(key) = durable {
                seq = self.store.next_seq();
                let value = match &record {
                    Some((q, bytes)) if *q == qos => bytes.clone(),
                    _ => record.insert((qos, MessageRecord::encode(&msg, qos))).1.clone(),
                };
                ops.push(Op::Insert(
                    Table::Messages,
                    crate::store::keys::message(key, seq),
                    value,
                ));
            }
            admitted.push((inbox, qos, seq));
        }
        // Stored before any of them is cast, so a subscriber's acknowledgement (a delete)
        // reaches the store after the insert.
        routed.stored = !ops.is_empty();
        self.store.send(ops);
        for (inbox, qos, seq) in admitted.drain(..) {
            run.push(inbox, msg.clone(), qos, seq);
        }
        run.admitted = admitted;
        run.matches = matches;
        routed
    }

    /// Whether anyone subscribes to `topic` (the `$SYS` publisher skips unwatched topics, so
    /// they do not count as dropped messages).
    pub fn watched(&self, topic: &str) -> bool {
        let mut found = Vec::new();
        self.routes.route(topic, &mut found);
        !found.is_empty()
    }

    /// Stores (or, with an empty payload, deletes) `msg` as its topic's retained message
    /// through the retainer, without waiting.
    pub fn retain(&self, msg: &Arc<Message>) {
        if let Some(retainer) = self.retainer.get() {
            let _ = retainer.send_message(RetainerMsg::Retain(msg.clone(), None));
        }
    }

    /// As [`Publisher::retain`], and returns once the store is done, so that a subscriber who
    /// follows the publisher's acknowledgement finds it; a retainer that is restarting is not
    /// waited for longer than [`timeouts::RETAINER_CALL`].
    pub async fn retain_and_wait(&self, msg: &Arc<Message>) {
        let Some(retainer) = self.retainer.get() else {
            return;
        };
        let m = msg.clone();
        let call = retainer.call(|r| RetainerMsg::Retain(m, Some(r)), Some(timeouts::RETAINER_CALL));
        let _ = call.await;
    }
}
