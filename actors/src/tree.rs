//! The broker's supervision tree: the only file that knows its shape (DESIGN.md §2).
//!
//! ```text
//! broker_sup            one_for_all, 0 in 1 → the process exits       [emqttd_sup]
//! ├─ metrics            counters, gauges                              [emqttd_metrics]
//! ├─ router_sup         one_for_all: router, retainer                 [emqttd_pubsub_sup]
//! ├─ sm_sup             one_for_all: sm/0..N-1                        [emqttd_sm_sup]
//! ├─ session_sup        simple_one_for_one, temporary, shutdown 5000  [emqttd_session_sup]
//! ├─ sys                $SYS publisher                                [emqttd_sysmon]
//! ├─ admin              HTTP admin API (given by the binary)          [emqttd_ctl]
//! └─ listeners_sup      one_for_one: listener_sup per listener        [esockd_sup]
//! ```
//! Start order is list order, so listeners open last, once everything they feed is up, and close
//! first on shutdown: no new connection arrives while the rest stops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{
    ChildKind, ChildSpec, ExitReason, FaultHook, Restart, RootHandle, Shutdown, StartError, Strategy,
    SupFlags, SupervisorRef, SupervisorSpec, Template, TreeNode, TreeOpts,
};

use crate::broker::Broker;
use crate::config::BrokerConfig;

/// The root's path.
pub const ROOT: &str = "broker_sup";

/// A running broker.
pub struct BrokerHandle {
    /// The root of the tree.
    pub root: RootHandle,
    /// The shared context.
    pub broker: Arc<Broker>,
}

/// Builds what the binary adds to the tree (the admin worker), given the broker's context.
pub type ExtraChildren = Box<dyn FnOnce(Arc<Broker>) -> Vec<ChildSpec> + Send>;

/// Starts the whole tree. A listener that cannot bind, or any other child that cannot start,
/// fails the start with an error naming the path down to it.
pub async fn start(
    config: BrokerConfig,
    extra: ExtraChildren,
    fault: FaultHook,
) -> Result<BrokerHandle, StartError> {
    let access = crate::auth::AccessControl::load(&config).map_err(StartError::Failed)?;
    let broker = Broker::new(config);
    *broker.access.write() = Arc::new(access);
    *broker.faults.write() = fault.plan().cloned();
    let spec = broker_sup_spec(broker.clone(), extra(broker.clone()));
    let root = RootHandle::start(ROOT, spec, fault).await?;
    *broker.root.write() = Some(root.supervisor().clone());
    Ok(BrokerHandle { root, broker })
}

fn broker_sup_spec(broker: Arc<Broker>, extra: Vec<ChildSpec>) -> SupervisorSpec {
    let sups = &broker.config.supervisors;
    let mut children = vec![
        crate::observability::metrics::spec(broker.clone()),
        crate::routing::router::router_sup_spec(broker.clone()),
        crate::session::sm::sm_sup_spec(broker.clone()),
        session_sup_spec(&broker),
        crate::observability::sys::spec(broker.clone()),
    ];
    children.extend(extra);
    children.push(listeners_sup_spec(broker.clone()));
    let i = &sups.broker_sup;
    SupervisorSpec::new(
        SupFlags::new(Strategy::OneForAll, i.max_restarts, i.max_seconds),
        children,
    )
}

fn session_sup_spec(broker: &Arc<Broker>) -> ChildSpec {
    let i = broker.config.supervisors.session_sup.clone();
    let template = Template {
        restart: Restart::Temporary,
        shutdown: Shutdown::Timeout(Duration::from_millis(5000)),
        kind: ChildKind::Worker,
    };
    ChildSpec::supervisor_in("session_sup", broker.session_sup.clone(), move || {
        SupervisorSpec::simple(i.max_restarts, i.max_seconds, template)
    })
}

fn listeners_sup_spec(broker: Arc<Broker>) -> ChildSpec {
    let listeners: Vec<ChildSpec> = broker
        .config
        .listeners
        .iter()
        .map(|(name, config)| crate::esockd::listener::listener_sup_spec(broker.clone(), name, config))
        .collect();
    let i = broker.config.supervisors.listeners_sup.clone();
    ChildSpec::supervisor("listeners_sup", move || {
        SupervisorSpec::new(
            SupFlags::new(Strategy::OneForOne, i.max_restarts, i.max_seconds),
            listeners.clone(),
        )
    })
}

impl BrokerHandle {
    /// The root supervisor.
    pub fn root(&self) -> &SupervisorRef {
        self.root.supervisor()
    }

    /// The bound address of the listener configured as `name` (`tcp`).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        let listeners = self.broker.listeners.read();
        listeners
            .values()
            .find(|l| l.name == name)
            .and_then(|l| l.local_addr())
    }

    /// The tree view.
    pub fn tree(&self, opts: TreeOpts) -> TreeNode {
        self.root().tree(opts)
    }

    /// Stops the tree in reverse start order and waits for it.
    pub async fn shutdown(&self) -> ExitReason {
        self.root.shutdown().await
    }
}
