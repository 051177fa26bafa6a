//! `sys`: the broker's $SYS publisher (emqttd_sysmon / emqttd_broker's heartbeat).

use std::sync::Arc;

use arbor_supervisors::{ChildSpec, FaultHook};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::broker::Broker;

/// Messages of sys.
pub enum SysMsg {
    /// Time to publish (its own interval timer).
    Tick,
}

/// The sys worker.
pub struct Sys;

/// Its state.
pub struct SysState {
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
        Ok(SysState { fault })
    }

    async fn handle(
        &self,
        _myself: ActorRef<SysMsg>,
        msg: SysMsg,
        state: &mut SysState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            SysMsg::Tick => Ok(()),
        }
    }
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
