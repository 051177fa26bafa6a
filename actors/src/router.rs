//! `router_sup/router`: the one writer of the route table (emqttd_router).
//!
//! Publishers read the table directly (no actor hop); subscribe and unsubscribe go through this
//! actor so writes are serialised. The table belongs to router_sup's spec, so it survives a
//! router crash.

use std::sync::Arc;

use arbor_supervisors::{ChildSpec, FaultHook, Strategy, SupFlags, SupervisorSpec};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::broker::Broker;

/// Messages of the router.
pub enum RouterMsg {
    /// A liveness probe.
    Ping(RpcReplyPort<()>),
}

/// The router worker.
pub struct Router;

impl Actor for Router {
    type Msg = RouterMsg;
    type State = FaultHook;
    type Arguments = FaultHook;

    async fn pre_start(
        &self,
        _myself: ActorRef<RouterMsg>,
        fault: FaultHook,
    ) -> Result<FaultHook, ActorProcessingErr> {
        Ok(fault)
    }

    async fn handle(
        &self,
        _myself: ActorRef<RouterMsg>,
        msg: RouterMsg,
        fault: &mut FaultHook,
    ) -> Result<(), ActorProcessingErr> {
        fault.check().await?;
        match msg {
            RouterMsg::Ping(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

/// `router_sup`: one_for_all over the router and the retainer.
pub fn router_sup_spec(broker: Arc<Broker>) -> ChildSpec {
    ChildSpec::supervisor("router_sup", move || {
        let slot = broker.router.clone();
        let router = crate::worker::spec(
            "router",
            || Router,
            |ctx| ctx.fault.clone(),
            move |r| *slot.write() = Some(r),
        );
        let retainer = crate::retainer::spec(broker.clone());
        let i = &broker.config.supervisors.router_sup;
        SupervisorSpec::new(
            SupFlags::new(Strategy::OneForAll, i.max_restarts, i.max_seconds),
            vec![router, retainer],
        )
    })
}
