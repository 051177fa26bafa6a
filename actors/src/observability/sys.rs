//! `sys`: the broker's `$SYS` publisher (emqttd_broker's heartbeat and emqttd_sysmon).
//!
//! Every `sys.interval` (60 s) it publishes, retained so a new subscriber sees the latest values:
//! `$SYS/brokers/<node>/version`, `…/uptime`, `…/clients/count`, `…/messages/received`,
//! `…/messages/sent`, then every figure of [`crate::observability::metrics::stats`] under `…/stats/<name>`
//! (`…/stats/connections/count`) and of [`crate::observability::metrics::report`] under `…/metrics/<name>`
//! (`…/metrics/packets/publish/received`), as emqttd_broker does. `$` topics are not matched by
//! `#` or `+` at the first level [MQTT-4.7.2-1], so only clients that ask for `$SYS/…` get them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arbor_supervisors::{ChildSpec, FaultHook};
use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::broker::Broker;
use crate::codec::{QoS, TopicName};
use crate::message::Message;
use crate::routing::retainer::RetainerMsg;

/// Messages of sys.
pub enum SysMsg {
    /// Time to publish (its own interval timer).
    Tick,
}

/// The sys worker.
pub struct Sys;

/// Its state.
pub struct SysState {
    broker: Arc<Broker>,
    fault: FaultHook,
}

impl Actor for Sys {
    type Msg = SysMsg;
    type State = SysState;
    type Arguments = (Arc<Broker>, FaultHook);

    async fn pre_start(
        &self,
        myself: ActorRef<SysMsg>,
        (broker, fault): Self::Arguments,
    ) -> Result<SysState, ActorProcessingErr> {
        myself.send_interval(broker.config.sys.interval, || SysMsg::Tick);
        // Publish once at start too, so the retained values exist from the beginning.
        myself.send_message(SysMsg::Tick)?;
        Ok(SysState { broker, fault })
    }

    async fn handle(
        &self,
        _myself: ActorRef<SysMsg>,
        msg: SysMsg,
        state: &mut SysState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            SysMsg::Tick => state.publish_all(),
        }
        Ok(())
    }
}

impl SysState {
    fn publish_all(&self) {
        let b = &self.broker;
        let m = &b.metrics;
        let mut values = vec![
            ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
            (
                "uptime".to_string(),
                format!("{} seconds", b.started_at.elapsed().as_secs()),
            ),
            (
                "clients/count".to_string(),
                m.connections.load(Ordering::Relaxed).to_string(),
            ),
            (
                "messages/received".to_string(),
                m.messages_received.load(Ordering::Relaxed).to_string(),
            ),
            (
                "messages/sent".to_string(),
                m.messages_sent.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, value) in crate::observability::metrics::stats(b) {
            values.push((format!("stats/{name}"), value.to_string()));
        }
        for (name, value) in crate::observability::metrics::report(b) {
            values.push((format!("metrics/{name}"), value.to_string()));
        }
        let retainer = b.retainer.read().clone();
        for (name, value) in values {
            let topic = format!("$SYS/brokers/{}/{name}", b.config.node.name);
            let Ok(topic) = TopicName::new(&topic) else {
                tracing::warn!(%topic, "node name makes an invalid $SYS topic");
                continue;
            };
            let msg = Arc::new(Message::new(
                topic,
                Bytes::from(value),
                QoS::AtMostOnce,
                true,
                Arc::from(""),
            ));
            if let Some(retainer) = &retainer {
                let _ = retainer.send_message(RetainerMsg::Retain(msg.clone(), None));
            }
            publish_if_watched(b, msg);
        }
    }
}

/// Routes a `$SYS` message only when someone subscribes to it, so an unwatched `$SYS` tree
/// is not counted in `messages/dropped` at every tick and every connect.
fn publish_if_watched(broker: &Broker, msg: Arc<Message>) {
    let mut subscribers = Vec::new();
    broker.routes.route(&msg.topic, &mut subscribers);
    if !subscribers.is_empty() {
        crate::routing::router::publish(broker, msg);
    }
}

/// Publishes `$SYS/brokers/<node>/clients/<id>/connected|disconnected` with a JSON payload,
/// as emqttd does (QoS 0, not retained).
pub fn client_event(broker: &Broker, client_id: &str, event: &str, payload: serde_json::Value) {
    let topic = format!(
        "$SYS/brokers/{}/clients/{}/{event}",
        broker.config.node.name,
        client_id.replace(['+', '#', '/'], "_")
    );
    let Ok(topic) = TopicName::new(&topic) else { return };
    let body = Bytes::from(payload.to_string());
    let msg = Arc::new(Message::new(topic, body, QoS::AtMostOnce, false, Arc::from("")));
    publish_if_watched(broker, msg);
}

/// The `sys` child of broker_sup.
pub fn spec(broker: Arc<Broker>) -> ChildSpec {
    crate::worker::spec(
        "sys",
        || Sys,
        move |ctx| (broker.clone(), ctx.fault.clone()),
        |_| {},
    )
}
