//! `router_sup/retainer`: the one writer of retained messages (emqttd_retainer).
//!
//! Readers (a session sending retained messages on subscribe) read the store directly. A
//! retained PUBLISH with an empty payload deletes the topic's message [MQTT-3.3.1-10, -11].

use std::sync::Arc;

use arbor_supervisors::Worker;
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::message::Message;
use crate::routing::retained::RetainedStore;

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

impl Worker for Retainer {
    type Msg = RetainerMsg;
    type Args = Arc<Retained>;
    type State = Arc<Retained>;

    async fn init(
        _myself: ActorRef<RetainerMsg>,
        store: Arc<Retained>,
    ) -> Result<Arc<Retained>, ActorProcessingErr> {
        Ok(store)
    }

    async fn handle(
        _myself: ActorRef<RetainerMsg>,
        msg: RetainerMsg,
        store: &mut Arc<Retained>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RetainerMsg::Retain(msg, reply) => {
                let topic = msg.topic.clone();
                let value = (!msg.payload.is_empty()).then_some(msg);
                store.put(&topic, value);
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
        }
        Ok(())
    }
}
