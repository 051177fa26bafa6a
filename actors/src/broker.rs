//! The broker's shared context: the tables that outlive worker restarts and the slots where
//! singleton workers publish their live reference.
//!
//! emqttd keeps its tables in ETS, owned by a supervisor so that a worker's crash loses nothing
//! (the heir pattern). Here a table is an `Arc` created once per broker start and handed to the
//! supervisor specs that build its writers (`router_sup` for routes and retained messages,
//! `sm_sup` for the session registry, `listener_sup` for admission state). A table's lifetime is
//! the broker's: it outlives the worker that writes it and the supervisor above that worker.
//!
//! Singleton workers publish their current `ActorRef` in a slot here on every (re)start instead of
//! registering a global ractor name: tests run many brokers in one process, and ractor's
//! registry is process-wide.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arbor_supervisors::SupervisorSlot;
use parking_lot::RwLock;
use ractor::ActorRef;

use crate::config::BrokerConfig;
use crate::esockd::listener::ListenerShared;
use crate::message::Message;
use crate::observability::metrics::Metrics;
use crate::routing::retained::RetainedStore;
use crate::routing::retainer::RetainerMsg;
use crate::routing::router::{RouterMsg, Routes};
use crate::session::sm::{Registry, SmMsg};

/// The retained messages' store.
pub type Retained = RetainedStore<Arc<Message>>;

/// Loads the configuration again, as the binary did at start.
pub type ConfigLoader = Arc<dyn Fn() -> Result<BrokerConfig, String> + Send + Sync>;

/// A slot holding the live reference of a singleton worker.
pub type Slot<T> = Arc<RwLock<Option<T>>>;

/// A connected client, for lookups by client id (admin, kick).
#[derive(Clone)]
pub struct ClientEntry {
    /// Its connection actor.
    pub conn: ActorRef<crate::connection::ConnectionMsg>,
    /// The connection's path in the tree.
    pub path: String,
    /// Peer address.
    pub peer: std::net::SocketAddr,
    /// When CONNECT was accepted.
    pub connected_at: std::time::SystemTime,
    /// Clean session flag.
    pub clean: bool,
    /// Keepalive in seconds.
    pub keepalive: u16,
    /// Protocol level (3 for MQTT 3.1, 4 for 3.1.1).
    pub protocol_level: u8,
    /// User name given in CONNECT.
    pub username: Option<String>,
    /// Its session.
    pub session: ActorRef<crate::session::SessionMsg>,
}

/// Everything shared across one running broker.
pub struct Broker {
    /// The configuration it was started with.
    pub config: Arc<BrokerConfig>,
    /// Counters and gauges (emqttd_metrics / emqttd_stats).
    pub metrics: Arc<Metrics>,
    /// When the broker started, for `uptime`.
    pub started_at: Instant,
    /// Each listener's admission state and live supervisors, by listener id
    /// (`mqtt:tcp:0.0.0.0:1883`).
    pub listeners: RwLock<BTreeMap<String, Arc<ListenerShared>>>,
    /// The session registry (client id → session), owned by `sm_sup`.
    pub registry: Arc<Registry>,
    /// The sm pool, index `i` holding `sm/i`.
    pub sm_pool: RwLock<Vec<Option<ActorRef<SmMsg>>>>,
    /// Routes: filter → sessions, owned by router_sup, written by the router.
    pub routes: Arc<Routes>,
    /// Retained messages, owned by router_sup, written by the retainer.
    pub retained: Arc<Retained>,
    /// The router.
    pub router: Slot<ActorRef<RouterMsg>>,
    /// The retainer.
    pub retainer: Slot<ActorRef<RetainerMsg>>,
    /// The session supervisor.
    pub session_sup: SupervisorSlot,
    /// The root supervisor, once the tree has started.
    pub root: SupervisorSlot,
    /// Connected clients: client id → its connection (emqttd's client table).
    pub clients: RwLock<std::collections::HashMap<Arc<str>, ClientEntry>>,
    /// Who may connect, publish and subscribe; swapped whole on reload.
    pub access: RwLock<Arc<crate::auth::AccessControl>>,
    /// Re-reads the configuration (the binary's loader, for `acl reload` and SIGHUP).
    pub config_loader: RwLock<Option<ConfigLoader>>,
    /// The fault plan of this run, if any.
    pub faults: RwLock<Option<Arc<arbor_supervisors::FaultPlan>>>,
    /// Where the admin API listens, once it does.
    pub admin_addr: RwLock<Option<std::net::SocketAddr>>,
}

impl Broker {
    /// A fresh context for `config`.
    pub fn new(config: BrokerConfig) -> Arc<Self> {
        let pool = config.sm.workers();
        Arc::new(Self {
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            started_at: Instant::now(),
            listeners: RwLock::new(BTreeMap::new()),
            registry: Arc::new(Registry::default()),
            sm_pool: RwLock::new(vec![None; pool]),
            routes: Arc::new(Routes::new()),
            retained: Arc::new(Retained::new()),
            router: Slot::default(),
            retainer: Slot::default(),
            session_sup: SupervisorSlot::default(),
            root: SupervisorSlot::default(),
            clients: RwLock::new(std::collections::HashMap::new()),
            access: RwLock::new(Arc::new(crate::auth::AccessControl::allow_all())),
            config_loader: RwLock::new(None),
            faults: RwLock::new(None),
            admin_addr: RwLock::new(None),
        })
    }

    /// The listener state for `id`.
    pub fn listener(&self, id: &str) -> Option<Arc<ListenerShared>> {
        self.listeners.read().get(id).cloned()
    }
}
