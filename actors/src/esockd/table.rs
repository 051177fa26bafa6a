//! A listener's admission table, owned by its `listener_sup`, and the set of all of them.
//!
//! The tree creates one [`ListenerTable`] per configured listener and hands it to that
//! listener's subtree: the listener records its bound address, admission counts what it admits
//! and refuses, and the admin API changes the access rules at run time (esockd's `allow`/`deny`).
//! It outlives every worker of the subtree, so a listener restart keeps its rules and counts.
//! Each admitted connection holds a [`ConnectionPermit`], its slot under `max_connections`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arbor_supervisors::SupervisorSlot;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ListenerConfig;
use crate::esockd::access::AccessRule;
use crate::esockd::rate_limit::TokenBucket;
use crate::esockd::tls::{LoadedTls, TlsError};
use crate::esockd::transport::Kind;
use crate::observability::metrics::Metrics;

/// The admission table of one listener; see the module docs.
pub struct ListenerTable {
    id: String,
    name: String,
    config: ListenerConfig,
    access: RwLock<Vec<AccessRule>>,
    max_connections: AtomicUsize,
    /// Live connections (exact: decremented by the permit each connection owns).
    current: AtomicUsize,
    shutdown_counts: Mutex<BTreeMap<String, u64>>,
    accepted: AtomicU64,
    local_addr: RwLock<Option<SocketAddr>>,
    bound: watch::Sender<Option<SocketAddr>>,
    /// The live connection_sup, where admitted connections start.
    pub(crate) connection_sup: SupervisorSlot,
    /// The live acceptor_sup, where the listener starts its acceptors.
    pub(crate) acceptor_sup: SupervisorSlot,
    /// The socket of the last listener incarnation: a new one waits for it to close.
    pub(super) last_socket: Mutex<std::sync::Weak<TcpListener>>,
    /// The TLS options in force (kinds `tls` and `wss`), swapped whole by a reload.
    tls: RwLock<Option<LoadedTls>>,
}

/// A listener whose TLS options cannot be used: names the listener's key and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listeners.{name}.tls: {error}")]
pub struct ListenerTlsError {
    /// The listener's config name.
    pub name: String,
    /// What is wrong.
    pub error: TlsError,
}

impl ListenerTable {
    /// The table of listener `name`; a TLS listener's certificates are read here.
    pub fn new(name: &str, config: &ListenerConfig) -> Result<Arc<Self>, ListenerTlsError> {
        let tls = load_tls(name, config)?;
        Ok(Arc::new(Self {
            id: format!("mqtt:{}:{}", config.kind, config.bind),
            name: name.to_string(),
            max_connections: AtomicUsize::new(config.max_connections),
            access: RwLock::new(config.access.clone()),
            config: config.clone(),
            current: AtomicUsize::new(0),
            shutdown_counts: Mutex::new(BTreeMap::new()),
            accepted: AtomicU64::new(0),
            local_addr: RwLock::new(None),
            bound: watch::channel(None).0,
            connection_sup: SupervisorSlot::default(),
            acceptor_sup: SupervisorSlot::default(),
            last_socket: Mutex::new(std::sync::Weak::new()),
            tls: RwLock::new(tls),
        }))
    }

    /// What it speaks.
    pub fn kind(&self) -> Kind {
        self.config.kind
    }

    /// The TLS options new connections handshake with.
    pub fn tls(&self) -> Option<LoadedTls> {
        self.tls.read().clone()
    }

    /// Reads the certificate and key files again (`ctl listeners reload`, SIGHUP): new
    /// connections use them, connections up keep theirs. On error the old ones stay.
    pub fn reload_tls(&self) -> Result<(), ListenerTlsError> {
        if let Some(loaded) = load_tls(&self.name, &self.config)? {
            *self.tls.write() = Some(loaded);
        }
        Ok(())
    }

    /// `mqtt:<kind>:<configured bind>`, the listener_sup's id suffix.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The configuration name (`tcp`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its configuration at start.
    pub fn config(&self) -> &ListenerConfig {
        &self.config
    }

    /// A fresh token bucket for one connection, if the listener has a rate limit.
    pub fn rate_limit(&self) -> Option<TokenBucket> {
        self.config.rate_limit.as_ref().map(TokenBucket::new)
    }

    /// The rules, first match first.
    pub fn rules(&self) -> Vec<String> {
        self.access.read().iter().map(ToString::to_string).collect()
    }

    /// Whether the rules let `ip` in (first match wins, no match allows).
    pub(super) fn admits(&self, ip: std::net::IpAddr) -> bool {
        crate::esockd::access::check(&self.access.read(), ip) == crate::esockd::access::Access::Allow
    }

    /// Adds a rule in front of the others (esockd's `allow`/`deny` at run time: the newest rule
    /// is checked first, so `deny 10.0.0.0/8` takes effect over a trailing `allow all`).
    pub fn add_rule(&self, rule: AccessRule) {
        self.access.write().insert(0, rule);
    }

    /// Most connections at once.
    pub fn max_connections(&self) -> usize {
        self.max_connections.load(Ordering::Relaxed)
    }

    /// Counts a refusal or close under `reason`.
    pub(super) fn count(&self, reason: &str) {
        *self.shutdown_counts.lock().entry(reason.to_string()).or_default() += 1;
    }

    /// Counts an accepted socket.
    pub(super) fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Accepted sockets, ever.
    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Refusals and closes by reason.
    pub fn shutdown_counts(&self) -> BTreeMap<String, u64> {
        self.shutdown_counts.lock().clone()
    }

    /// The bound address, if bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.local_addr.read()
    }

    /// Records the address a new listener incarnation bound, and tells who waits for it.
    pub(super) fn set_bound(&self, addr: SocketAddr) {
        *self.local_addr.write() = Some(addr);
        self.bound.send_replace(Some(addr));
    }

    /// Each newly bound address (tests wait on it after a listener restart).
    pub fn bound(&self) -> watch::Receiver<Option<SocketAddr>> {
        self.bound.subscribe()
    }

    /// A summary for `ctl listeners`.
    pub fn info(&self) -> ListenerInfo {
        ListenerInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind(),
            bind: self.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            acceptors: self.config.acceptors,
            current_connections: self.current.load(Ordering::Relaxed),
            max_connections: self.max_connections(),
            access: self.rules(),
            shutdown_counts: self.shutdown_counts(),
        }
    }
}

/// What `ctl listeners` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerInfo {
    /// Listener id.
    pub id: String,
    /// Config name.
    pub name: String,
    /// What it speaks.
    pub kind: Kind,
    /// Bound address.
    pub bind: String,
    /// Acceptor pool size.
    pub acceptors: usize,
    /// Live connections.
    pub current_connections: usize,
    /// Limit.
    pub max_connections: usize,
    /// Rules.
    pub access: Vec<String>,
    /// Refusals and closes by reason.
    pub shutdown_counts: BTreeMap<String, u64>,
}

/// Reads listener `name`'s TLS options, if its kind uses TLS.
fn load_tls(name: &str, config: &ListenerConfig) -> Result<Option<LoadedTls>, ListenerTlsError> {
    let (true, Some(tls)) = (config.kind.uses_tls(), &config.tls) else {
        return Ok(None);
    };
    tls.load(config.kind.alpn())
        .map(Some)
        .map_err(|error| ListenerTlsError {
            name: name.to_string(),
            error,
        })
}

/// A slot under `max_connections`, held by a connection for its whole life.
pub struct ConnectionPermit {
    table: Arc<ListenerTable>,
    metrics: Arc<Metrics>,
}

impl ConnectionPermit {
    /// Takes a slot if the listener is under its limit.
    pub(super) fn acquire(table: &Arc<ListenerTable>, metrics: &Arc<Metrics>) -> Option<Self> {
        let max = table.max_connections();
        table
            .current
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Metrics::gauge_up(&metrics.connections, &metrics.connections_max);
        Some(Self {
            table: table.clone(),
            metrics: metrics.clone(),
        })
    }

    /// The listener this connection came through.
    pub fn listener(&self) -> &Arc<ListenerTable> {
        &self.table
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.table.current.fetch_sub(1, Ordering::AcqRel);
        Metrics::gauge_down(&self.metrics.connections);
    }
}

/// Every listener's table, by listener id; fixed when the tree is built.
#[derive(Default)]
pub struct Listeners(BTreeMap<String, Arc<ListenerTable>>);

impl Listeners {
    /// A table for each configured listener; fails on the first whose TLS files cannot be used.
    pub fn new(config: &BTreeMap<String, ListenerConfig>) -> Result<Self, ListenerTlsError> {
        let mut tables = BTreeMap::new();
        for (name, c) in config {
            let table = ListenerTable::new(name, c)?;
            tables.insert(table.id.clone(), table);
        }
        Ok(Self(tables))
    }

    /// The listener with this config name (`tcp`) or id (`mqtt:tcp:0.0.0.0:1883`).
    pub fn find(&self, name_or_id: &str) -> Option<Arc<ListenerTable>> {
        self.0
            .values()
            .find(|l| l.name == name_or_id || l.id == name_or_id)
            .cloned()
    }

    /// Every listener, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ListenerTable>> {
        self.0.values()
    }
}
