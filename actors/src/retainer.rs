//! `router_sup/retainer`: the writer of retained messages (emqttd_retainer).

use std::sync::Arc;

use arbor_supervisors::{ChildSpec, FaultHook};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::broker::Broker;

/// Messages of the retainer.
pub enum RetainerMsg {
    /// A liveness probe.
    Ping(RpcReplyPort<()>),
}

/// The retainer worker.
pub struct Retainer;

impl Actor for Retainer {
    type Msg = RetainerMsg;
    type State = FaultHook;
    type Arguments = FaultHook;

    async fn pre_start(
        &self,
        _myself: ActorRef<RetainerMsg>,
        fault: FaultHook,
    ) -> Result<FaultHook, ActorProcessingErr> {
        Ok(fault)
    }

    async fn handle(
        &self,
        _myself: ActorRef<RetainerMsg>,
        msg: RetainerMsg,
        fault: &mut FaultHook,
    ) -> Result<(), ActorProcessingErr> {
        fault.check().await?;
        match msg {
            RetainerMsg::Ping(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

/// The `retainer` child of router_sup.
pub fn spec(_broker: Arc<Broker>) -> ChildSpec {
    crate::worker::spec("retainer", || Retainer, |ctx| ctx.fault.clone(), |_| {})
}
