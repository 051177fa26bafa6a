//! `router_sup/retainer`: the one writer of retained messages (emqttd_retainer).
//!
//! Readers (a session sending retained messages on subscribe) read the table directly. A
//! retained PUBLISH with an empty payload deletes the topic's message [MQTT-3.3.1-10, -11].
//! With a store, each change is sent to it before the table changes and before the retainer
//! answers, so a publisher that waits for the store after the answer waits for this write too.

use std::sync::Arc;

use arbor_supervisors::Worker;
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::message::Message;
use crate::routing::retained::RetainedStore;
use crate::store::{MessageRecord, Op, Store, Table};

/// The retained messages' store: topic → its last retained message.
pub type Retained = RetainedStore<Arc<Message>>;

/// Messages of the retainer.
pub enum RetainerMsg {
    /// Store (or, with an empty payload, delete) the topic's retained message; replies when done
    /// if a port is given, so a QoS 1/2 publisher's ack follows the store.
    Retain(Arc<Message>, Option<RpcReplyPort<()>>),
}

/// The retainer worker.
pub struct Retainer;

/// The retainer's table and the store it keeps in step.
pub type RetainerArgs = (Arc<Retained>, Store);

impl Worker for Retainer {
    type Msg = RetainerMsg;
    type Args = RetainerArgs;
    type State = RetainerArgs;

    async fn init(
        _myself: ActorRef<RetainerMsg>,
        args: RetainerArgs,
    ) -> Result<RetainerArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        _myself: ActorRef<RetainerMsg>,
        msg: RetainerMsg,
        (table, store): &mut RetainerArgs,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RetainerMsg::Retain(msg, reply) => {
                let topic = msg.topic.clone();
                // `$SYS` topics describe the running broker: they are not kept across restarts.
                if store.enabled() && !topic.starts_with("$SYS/") {
                    let key = bytes::Bytes::copy_from_slice(topic.as_bytes());
                    let op = match msg.payload.is_empty() {
                        true => Op::Delete(Table::Retained, key),
                        false => Op::Put(Table::Retained, key, MessageRecord::encode(&msg, msg.qos)),
                    };
                    store.send(vec![op]);
                }
                let value = (!msg.payload.is_empty()).then_some(msg);
                table.put(&topic, value);
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
        }
        Ok(())
    }
}

/// Fills the table with the retained messages the store held at boot (before anyone reads it).
pub fn restore(table: &Retained, messages: Vec<Arc<Message>>) {
    for msg in messages {
        let topic = msg.topic.clone();
        table.put(&topic, Some(msg));
    }
}
