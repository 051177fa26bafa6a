//! What the binary sees of a running broker (emqttd_ctl's view): read handles on every table,
//! and the few operations an operator may ask for.
//!
//! The admin API and `arbor ctl` are built on this. It reads the tables directly (clients,
//! sessions, routes, listeners, figures) and changes nothing behind a table's owner's back:
//! kicking a client stops its connection actor (the sm worker watching it updates the registry),
//! a subscription on a client's behalf is a call to its session, access rules and the ACL have
//! their own handles.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_supervisors::{ExitReason, FaultPlan, SupervisorRef, SupervisorSlot};
use parking_lot::RwLock;
use ractor::ActorRef;

use crate::auth::Access;
use crate::codec::{ProtocolLevel, ReasonCode};
use crate::config::BrokerConfig;
use crate::esockd::table::Listeners;
use crate::observability::metrics::Metrics;
use crate::observability::stats::Stats;
use crate::session::lifecycle::goodbye;
use crate::session::registry::Registry;
use crate::session::sm::SmPool;
use crate::session::{Routes, SessionMsg};
use crate::timeouts;

/// Loads the configuration again, as the binary did at start (for `acl reload` and SIGHUP).
pub type ConfigLoader = Arc<dyn Fn() -> Result<BrokerConfig, String> + Send + Sync>;

/// What [`crate::tree`] builds a [`BrokerApi`] from.
pub(crate) struct Parts {
    pub config: Arc<BrokerConfig>,
    pub started_at: Instant,
    pub stats: Arc<Stats>,
    pub registry: Arc<Registry>,
    pub routes: Arc<Routes>,
    pub pool: SmPool,
    pub access: Access,
    pub listeners: Arc<Listeners>,
    pub faults: Option<Arc<FaultPlan>>,
    pub store: crate::store::Store,
}

/// A running broker as the admin API sees it; cheap to clone.
#[derive(Clone)]
pub struct BrokerApi(Arc<Inner>);

struct Inner {
    parts: Parts,
    root: SupervisorSlot,
    config_loader: RwLock<Option<ConfigLoader>>,
    admin_addr: RwLock<Option<SocketAddr>>,
}

impl BrokerApi {
    pub(crate) fn new(parts: Parts) -> Self {
        Self(Arc::new(Inner {
            parts,
            root: SupervisorSlot::default(),
            config_loader: RwLock::new(None),
            admin_addr: RwLock::new(None),
        }))
    }

    pub(crate) fn set_root(&self, root: SupervisorRef) {
        self.0.root.set(root);
    }

    /// The configuration the broker started with.
    pub fn config(&self) -> &BrokerConfig {
        &self.0.parts.config
    }

    /// Time since the broker started.
    pub fn uptime(&self) -> Duration {
        self.0.parts.started_at.elapsed()
    }

    /// The root supervisor, once the tree has started.
    pub fn root(&self) -> Option<SupervisorRef> {
        self.0.root.get()
    }

    /// The fault plan of this run, if any.
    pub fn faults(&self) -> Option<&Arc<FaultPlan>> {
        self.0.parts.faults.as_ref()
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.parts.stats.metrics
    }

    /// The durable store (disabled with `storage.backend = "memory"`).
    pub fn store(&self) -> &crate::store::Store {
        &self.0.parts.store
    }

    /// The figures, read out under emqttd's names.
    pub fn stats(&self) -> &Stats {
        &self.0.parts.stats
    }

    /// Clients and sessions.
    pub fn registry(&self) -> &Registry {
        &self.0.parts.registry
    }

    /// The route table, to read.
    pub fn routes(&self) -> &Routes {
        &self.0.parts.routes
    }

    /// The listeners' admission tables.
    pub fn listeners(&self) -> &Listeners {
        &self.0.parts.listeners
    }

    /// Whether every sm worker is running (the broker can open sessions).
    pub fn sm_running(&self) -> bool {
        let pool = &self.0.parts.pool;
        (0..pool.len()).all(|i| {
            pool.slot(i)
                .get()
                .is_some_and(|sm| arbor_supervisors::worker::alive(&sm.get_cell()))
        })
    }

    /// The session of `client_id`, if it has one.
    pub fn session(&self, client_id: &str) -> Option<ActorRef<SessionMsg>> {
        Some(self.registry().get(client_id)?.session)
    }

    /// Closes the connection of `client_id` (a persistent session stays and queues); false if
    /// the client is not connected.
    pub fn kick(&self, client_id: &str) -> bool {
        let Some(client) = self.registry().client(client_id) else {
            return false;
        };
        let why = ExitReason::Shutdown(Some("kicked by an operator".into()));
        let session = (client.protocol_level == ProtocolLevel::V5 as u8)
            .then(|| self.session(client_id))
            .flatten();
        match session {
            // An MQTT 5 client hears why first (0x98), from its session.
            Some(session) => {
                tokio::spawn(async move {
                    let reason = ReasonCode::ADMINISTRATIVE_ACTION;
                    goodbye(&session, client.conn.get_id(), reason).await;
                    client.conn.stop(Some(why.to_reason()));
                });
            }
            None => client.conn.stop(Some(why.to_reason())),
        }
        true
    }

    /// Has every connected MQTT 5 client told `reason` in a DISCONNECT (by its session, the
    /// socket's one writer), waiting at most [`timeouts::SESSION_CALL`] in all. 3.1/3.1.1
    /// clients have no server DISCONNECT and hear nothing.
    pub async fn goodbye_all(&self, reason: ReasonCode) {
        let calls = self
            .registry()
            .clients()
            .into_iter()
            .filter(|(_, client)| client.protocol_level == ProtocolLevel::V5 as u8)
            .filter_map(|(id, client)| Some((self.session(&id)?, client.conn.get_id())))
            .map(|(session, conn)| async move { goodbye(&session, conn, reason).await });
        let all = futures_util::future::join_all(calls);
        let _ = tokio::time::timeout(timeouts::SESSION_CALL, all).await;
    }

    /// Remembers how to load the configuration again.
    pub fn set_config_loader(&self, loader: ConfigLoader) {
        *self.0.config_loader.write() = Some(loader);
    }

    /// Reads the configuration again (file and environment, as at start) and reloads the
    /// password file and ACL it names; on any error the old rules stay and the error says why.
    pub fn reload_access(&self) -> Result<(), String> {
        let loader = self.0.config_loader.read().clone();
        let config = match loader {
            Some(load) => load()?,
            None => (*self.0.parts.config).clone(),
        };
        self.0.parts.access.reload(&config)
    }

    /// The access rules in force now: passwords, ACL and enhanced-authentication methods.
    pub fn access(&self) -> Arc<crate::auth::AccessControl> {
        self.0.parts.access.current()
    }

    /// Reads every TLS listener's certificate and key files again; the ids reloaded. New
    /// connections handshake with the new ones, connections up stay. A listener whose files
    /// fail keeps its old ones, and the error names it.
    pub fn reload_listeners(&self) -> Result<Vec<String>, String> {
        let mut reloaded = Vec::new();
        let mut errors = Vec::new();
        for table in self.0.parts.listeners.iter().filter(|t| t.kind().uses_tls()) {
            match table.reload_tls() {
                Ok(()) => reloaded.push(table.id().to_string()),
                Err(e) => errors.push(e.to_string()),
            }
        }
        if errors.is_empty() {
            tracing::info!(listeners = ?reloaded, "TLS certificates reloaded");
            Ok(reloaded)
        } else {
            Err(errors.join("; "))
        }
    }

    /// Where the admin API listens, once it does.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        *self.0.admin_addr.read()
    }

    /// Records where the admin API listens.
    pub fn set_admin_addr(&self, addr: SocketAddr) {
        *self.0.admin_addr.write() = Some(addr);
    }
}
