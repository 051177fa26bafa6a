//! `router_sup/retainer`: the one writer of retained messages (emqttd_retainer).
//!
//! Readers (a session sending retained messages on subscribe) read the store directly. A
//! retained PUBLISH with an empty payload deletes the topic's message [MQTT-3.3.1-10, -11].

use std::sync::Arc;

use arbor_supervisors::{ChildSpec, FaultHook};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::broker::{Broker, Retained};
use crate::message::Message;

/// Messages of the retainer.
pub enum RetainerMsg {
    /// Store (or, with an empty payload, delete) the topic's retained message; replies when done
    /// if a port is given, so a QoS 1/2 publisher's ack follows the store.
    Retain(Arc<Message>, Option<RpcReplyPort<()>>),
}

/// The retainer worker.
pub struct Retainer;

/// Its state.
pub struct RetainerState {
    store: Arc<Retained>,
    fault: FaultHook,
}

impl Actor for Retainer {
    type Msg = RetainerMsg;
    type State = RetainerState;
    type Arguments = (Arc<Retained>, FaultHook);

    async fn pre_start(
        &self,
        _myself: ActorRef<RetainerMsg>,
        (store, fault): Self::Arguments,
    ) -> Result<RetainerState, ActorProcessingErr> {
        Ok(RetainerState { store, fault })
    }

    async fn handle(
        &self,
        _myself: ActorRef<RetainerMsg>,
        msg: RetainerMsg,
        state: &mut RetainerState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            RetainerMsg::Retain(msg, reply) => {
                let topic = msg.topic.clone();
                let value = (!msg.payload.is_empty()).then_some(msg);
                state.store.put(&topic, value);
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
        }
        Ok(())
    }
}

/// The `retainer` child of router_sup.
pub fn spec(broker: Arc<Broker>) -> ChildSpec {
    let slot = broker.retainer.clone();
    crate::worker::spec(
        "retainer",
        || Retainer,
        move |ctx| (broker.retained.clone(), ctx.fault.clone()),
        move |r| *slot.write() = Some(r),
    )
}
