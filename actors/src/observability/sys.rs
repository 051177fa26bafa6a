//! `sys`: the broker's `$SYS` publisher (emqttd_broker's heartbeat and emqttd_sysmon).
//!
//! Every `sys.interval` (60 s) it publishes, retained so a new subscriber sees the latest values:
//! `$SYS/brokers/<node>/version`, `…/uptime`, `…/clients/count`, `…/messages/received`,
//! `…/messages/sent`, then every figure of [`Stats::stats`] under `…/stats/<name>`
//! (`…/stats/connections/count`) and of [`Stats::report`] under `…/metrics/<name>`
//! (`…/metrics/packets/publish/received`), as emqttd_broker does. `$` topics are not matched by
//! `#` or `+` at the first level [MQTT-4.7.2-1], so only clients that ask for `$SYS/…` get them.
//! A topic nobody subscribes to is stored as retained but not routed, so an unwatched `$SYS`
//! tree does not count as dropped messages at every tick.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_supervisors::Worker;
use bytes::Bytes;
use ractor::{ActorProcessingErr, ActorRef};

use crate::codec::{QoS, TopicName};
use crate::message::Message;
use crate::observability::stats::Stats;
use crate::routing::publish::Publisher;
use crate::session::SessionHandle;

/// Messages of sys.
pub enum SysMsg {
    /// Time to publish (its own interval timer).
    Tick,
}

/// What sys starts with.
#[derive(Clone)]
pub struct SysArgs {
    /// The figures it publishes.
    pub stats: Arc<Stats>,
    /// Where it publishes them.
    pub publisher: Publisher<SessionHandle>,
    /// The node name, in every topic.
    pub node: String,
    /// When the broker started, for `uptime`.
    pub started_at: Instant,
    /// `sys.interval`.
    pub interval: Duration,
}

/// The sys worker.
pub struct Sys;

impl Worker for Sys {
    type Msg = SysMsg;
    type Args = SysArgs;
    type State = SysArgs;

    async fn init(myself: ActorRef<SysMsg>, args: SysArgs) -> Result<SysArgs, ActorProcessingErr> {
        myself.send_interval(args.interval, || SysMsg::Tick);
        // Publish once at start too, so the retained values exist from the beginning.
        myself.send_message(SysMsg::Tick)?;
        Ok(args)
    }

    async fn handle(
        _myself: ActorRef<SysMsg>,
        msg: SysMsg,
        state: &mut SysArgs,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SysMsg::Tick => publish_all(state),
        }
        Ok(())
    }
}

fn publish_all(sys: &SysArgs) {
    let m = &sys.stats.metrics;
    let mut values = vec![
        ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        (
            "uptime".to_string(),
            format!("{} seconds", sys.started_at.elapsed().as_secs()),
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
    for (name, value) in sys.stats.stats() {
        values.push((format!("stats/{name}"), value.to_string()));
    }
    for (name, value) in sys.stats.report() {
        values.push((format!("metrics/{name}"), value.to_string()));
    }
    for (name, value) in values {
        let topic = format!("$SYS/brokers/{}/{name}", sys.node);
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
        sys.publisher.retain(&msg);
        if sys.publisher.watched(&msg.topic) {
            sys.publisher.publish(msg);
        }
    }
}
