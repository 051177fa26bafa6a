//! Boots a whole broker in-process, every listener and the admin API on 127.0.0.1:0, and offers
//! the waits the tests need. Each test gets its own broker.

#![allow(dead_code)]

pub mod certs;
pub mod child;
pub mod client;
pub mod interop;
pub mod raw;

use std::net::SocketAddr;
use std::time::Duration;

use arbor::cli::{CtlArgs, CtlCommand};
use arbor_actors::config::BrokerConfig;
use arbor_actors::tree::BrokerHandle;
use arbor_supervisors::{FaultHook, TreeNode, TreeOpts};

/// A running test broker.
pub struct TestBroker {
    pub handle: BrokerHandle,
    pub mqtt: SocketAddr,
    pub admin: String,
}

/// The defaults with every socket on an ephemeral loopback port and a small pool.
pub fn test_config() -> BrokerConfig {
    let mut config = BrokerConfig::defaults();
    let listener = config.listeners.get_mut("tcp").expect("default listener");
    listener.bind = "127.0.0.1:0".parse().expect("addr");
    listener.acceptors = 4;
    config.admin.bind = "127.0.0.1:0".parse().expect("addr");
    config.sm.pool_size = 4;
    // In memory: each test's broker is its own; the store's tests set a directory of their own.
    config.storage.backend = arbor_actors::config::StorageBackend::Memory;
    config
}

impl TestBroker {
    /// Waits (polling the route table: an external client reports no SUBACK) until some
    /// session subscribed to `filter`.
    pub async fn subscribed(&self, filter: &str) {
        eventually(&format!("a subscription to {filter}"), || {
            self.handle
                .api
                .routes()
                .filters()
                .iter()
                .any(|(f, _)| f == filter)
        })
        .await;
    }

    pub async fn start() -> Self {
        Self::with_config(test_config()).await
    }

    pub async fn with_config(config: BrokerConfig) -> Self {
        let handle = arbor::boot::start(config, FaultHook::none())
            .await
            .expect("broker starts");
        Self::from_handle(handle)
    }

    /// Wraps a broker started some other way (with a fault plan, say).
    pub fn from_handle(handle: BrokerHandle) -> Self {
        let mqtt = handle.listener_addr("tcp").expect("listener bound");
        let admin = format!("http://{}", handle.api.admin_addr().expect("admin bound"));
        Self { handle, mqtt, admin }
    }

    /// The tree as the admin API serves it.
    pub fn tree(&self) -> TreeNode {
        self.handle.tree(TreeOpts::default())
    }

    /// The node at `path` (relative to broker_sup), from the live tree.
    pub fn node(&self, path: &str) -> TreeNode {
        let full = format!("broker_sup/{path}");
        self.handle
            .root()
            .subtree(
                &full,
                TreeOpts {
                    expand: true,
                    ..TreeOpts::default()
                },
            )
            .unwrap_or_else(|| panic!("no node {full}"))
    }

    /// The tcp listener's admission table.
    pub fn listener(&self) -> std::sync::Arc<arbor_actors::esockd::table::ListenerTable> {
        self.handle.api.listeners().find("tcp").expect("the tcp listener")
    }

    /// The path of the tcp listener's listener_sup.
    pub fn listener_sup(&self) -> String {
        format!("listeners_sup/listener_sup/{}", self.listener().id())
    }

    /// Runs an `arbor ctl` command against this broker.
    pub async fn ctl(&self, command: CtlCommand) -> anyhow::Result<String> {
        arbor::ctl::run(&CtlArgs {
            admin: self.admin.clone(),
            command,
        })
        .await
    }

    /// Kills the actor at `path` (relative to broker_sup) through the admin API.
    pub async fn kill(&self, path: &str) {
        self.ctl(CtlCommand::Kill {
            path: format!("broker_sup/{path}"),
        })
        .await
        .expect("kill accepted");
    }

    /// Waits until the MQTT listener is bound again after a restart; returns its address.
    pub async fn listener_rebound(&self) -> SocketAddr {
        let shared = self.listener();
        eventually("listener running again", || {
            self.node(&format!("{}/listener", self.listener_sup())).status == "running"
        })
        .await;
        shared.local_addr().expect("bound")
    }
}

/// Polls `cond` every 10 ms for up to 10 s; the fallback where no event exists to wait on.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let ok = tokio::time::timeout(Duration::from_secs(10), async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "timed out waiting for: {what}");
}

impl TestBroker {
    /// What the session of `client_id` reports (as `ctl sessions show`), if it exists.
    pub async fn session_info(&self, client_id: &str) -> Option<arbor_actors::session::SessionInfo> {
        let session = self.handle.api.session(client_id)?;
        ractor::call!(session, arbor_actors::session::SessionMsg::Info).ok()
    }

    /// Polls the session of `client_id` (every 10 ms, up to 10 s) until `cond` holds: the
    /// fallback where the session's state changes with no event a client could see (a detach).
    pub async fn session_until(
        &self,
        client_id: &str,
        what: &str,
        mut cond: impl FnMut(&arbor_actors::session::SessionInfo) -> bool,
    ) -> arbor_actors::session::SessionInfo {
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(info) = self.session_info(client_id).await {
                    if cond(&info) {
                        return info;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out waiting for session {client_id}: {what}"))
    }
}
