//! `$SYS/brokers/<node>/clients/<id>/connected|disconnected`: the notices emqttd publishes when a
//! client connects and when its connection ends (QoS 0, not retained, a JSON payload).
//!
//! The sm workers send them: they see every connect and every connection's end, kills included.
//! Like the rest of `$SYS`, a notice nobody subscribes to is not published at all, so an
//! unwatched `$SYS` tree does not count as dropped messages.

use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{QoS, TopicName};
use crate::message::Message;
use crate::routing::publish::{Inbox, Publisher};

/// Publishes `$SYS/brokers/<node>/clients/<client_id>/<event>` with `payload`, if watched.
/// `+`, `#` and `/` in the client id become `_`, so the topic stays one level per client.
pub fn client_event<S: Inbox>(
    publisher: &Publisher<S>,
    node: &str,
    client_id: &str,
    event: &str,
    payload: serde_json::Value,
) {
    let topic = format!(
        "$SYS/brokers/{node}/clients/{}/{event}",
        client_id.replace(['+', '#', '/'], "_")
    );
    let Ok(topic) = TopicName::new(&topic) else { return };
    if !publisher.watched(&topic) {
        return;
    }
    let body = Bytes::from(payload.to_string());
    let msg = Message::new(topic, body, QoS::AtMostOnce, false, Arc::from(""));
    publisher.publish(Arc::new(msg));
}
