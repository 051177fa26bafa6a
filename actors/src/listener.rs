//! One listener: `listener_sup/mqtt:tcp:<addr>` and the `listener` worker that owns the bound
//! socket (esockd_listener_sup + esockd_listener).
//!
//! listener_sup is rest_for_one over `connection_sup`, `acceptor_sup`, `listener`, as esockd's:
//! a crashed connection_sup takes the acceptors and the listener with it, a crashed listener
//! restarts alone. The listener binds in its start (a bind failure is a start error naming the
//! address, so the broker does not start), then starts the acceptors with the socket. Acceptors
//! hold the socket too, so a new listener first stops any acceptors left from its previous
//! incarnation, then binds the same address again (the port it got, when configured with 0).
//!
//! [`ListenerShared`] is the table owned by listener_sup: access rules, `max_connections`, the
//! live connection count and refusal counters, the bound address, and the live handles of its
//! two sibling supervisors. It is changed at run time by the admin API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{
    start_fn, ChildKind, ChildSpec, DynamicChild, FaultHook, Restart, Shutdown, StartCtx, StartError,
    Started, Strategy, SupFlags, SupervisorSlot, SupervisorSpec, Template,
};
use parking_lot::{Mutex, RwLock};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde::Serialize;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::acceptor;
use crate::access::AccessRule;
use crate::broker::Broker;
use crate::config::ListenerConfig;

/// The admission table of one listener, owned by its listener_sup.
pub struct ListenerShared {
    /// `mqtt:tcp:<configured bind>`, the listener_sup's id suffix.
    pub id: String,
    /// The configuration name (`tcp`).
    pub name: String,
    /// Its configuration at start.
    pub config: ListenerConfig,
    /// Access rules, first match wins; changed at run time.
    pub access: RwLock<Vec<AccessRule>>,
    /// Most connections at once; changed at run time.
    pub max_connections: AtomicUsize,
    /// Live connections (exact: decremented by a guard each connection owns).
    pub current: AtomicUsize,
    /// Refusals and closes by reason.
    pub shutdown_counts: Mutex<BTreeMap<String, u64>>,
    /// Accepted sockets, ever.
    pub accepted: AtomicU64,
    /// The bound address once the listener has started.
    pub local_addr: RwLock<Option<SocketAddr>>,
    /// Sends each newly bound address (tests wait on it after a listener restart).
    pub bound: watch::Sender<Option<SocketAddr>>,
    /// The live connection_sup.
    pub connection_sup: SupervisorSlot,
    /// The live acceptor_sup.
    pub acceptor_sup: SupervisorSlot,
    /// The socket of the last listener incarnation: a new one waits for it to close.
    last_socket: Mutex<std::sync::Weak<TcpListener>>,
}

impl ListenerShared {
    fn new(name: &str, config: &ListenerConfig) -> Arc<Self> {
        Arc::new(Self {
            id: format!("mqtt:tcp:{}", config.bind),
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
        })
    }

    /// Counts a refusal or close under `reason`.
    pub fn count(&self, reason: &str) {
        *self.shutdown_counts.lock().entry(reason.to_string()).or_default() += 1;
    }

    /// Adds a rule in front of the others (esockd's `allow`/`deny` at run time: the newest rule
    /// is checked first, so `deny 10.0.0.0/8` takes effect over a trailing `allow all`).
    pub fn add_rule(&self, rule: AccessRule) {
        self.access.write().insert(0, rule);
    }

    /// The rules, first match first.
    pub fn rules(&self) -> Vec<String> {
        self.access.read().iter().map(ToString::to_string).collect()
    }

    /// The bound address, if bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.local_addr.read()
    }

    /// A summary for `ctl listeners`.
    pub fn info(&self) -> ListenerInfo {
        ListenerInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            bind: self.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            acceptors: self.config.acceptors,
            current_connections: self.current.load(Ordering::Relaxed),
            max_connections: self.max_connections.load(Ordering::Relaxed),
            access: self.access.read().iter().map(ToString::to_string).collect(),
            shutdown_counts: self.shutdown_counts.lock().clone(),
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

/// The `listener_sup/mqtt:tcp:<addr>` child of listeners_sup, with its admission table.
pub fn listener_sup_spec(broker: Arc<Broker>, name: &str, config: &ListenerConfig) -> ChildSpec {
    let shared = ListenerShared::new(name, config);
    broker.listeners.write().insert(shared.id.clone(), shared.clone());
    let intensity = broker.config.supervisors.listener_sup.clone();
    let id = format!("listener_sup/{}", shared.id);
    ChildSpec::supervisor(id, move || {
        let sups = &broker.config.supervisors;
        let connections = Template {
            restart: Restart::Temporary,
            shutdown: Shutdown::BrutalKill,
            kind: ChildKind::Worker,
        };
        let acceptors = Template {
            restart: Restart::Transient,
            shutdown: Shutdown::BrutalKill,
            kind: ChildKind::Worker,
        };
        let (cs, asup) = (&sups.connection_sup, &sups.acceptor_sup);
        let children = vec![
            ChildSpec::supervisor_in("connection_sup", shared.connection_sup.clone(), {
                let (r, s) = (cs.max_restarts, cs.max_seconds);
                move || SupervisorSpec::simple(r, s, connections)
            }),
            ChildSpec::supervisor_in("acceptor_sup", shared.acceptor_sup.clone(), {
                let (r, s) = (asup.max_restarts, asup.max_seconds);
                move || SupervisorSpec::simple(r, s, acceptors)
            }),
            listener_spec(broker.clone(), shared.clone()),
        ];
        let flags = SupFlags::new(
            Strategy::RestForOne,
            intensity.max_restarts,
            intensity.max_seconds,
        );
        SupervisorSpec::new(flags, children)
    })
}

/// Messages of the listener worker: it only owns the socket, so it needs none but the fault
/// hook's turn (a ping lets `ctl crash` reach its handler).
pub enum ListenerMsg {
    /// Does nothing but run the handler (and so the fault hook).
    Ping,
}

/// The listener worker.
pub struct Listener;

/// Its state: the socket, and the token whose drop tells its acceptors to exit.
pub struct ListenerState {
    _socket: Arc<TcpListener>,
    _alive: watch::Sender<()>,
    fault: FaultHook,
}

fn listener_spec(broker: Arc<Broker>, shared: Arc<ListenerShared>) -> ChildSpec {
    ChildSpec::worker(
        "listener",
        start_fn(move |ctx: StartCtx| {
            let args = (broker.clone(), shared.clone(), ctx.fault.clone());
            async move {
                let (actor, _) = Actor::spawn_linked(None, Listener, args, ctx.supervisor).await?;
                Ok(Some(Started::from(actor)))
            }
        }),
    )
}

impl Actor for Listener {
    type Msg = ListenerMsg;
    type State = ListenerState;
    type Arguments = (Arc<Broker>, Arc<ListenerShared>, FaultHook);

    async fn pre_start(
        &self,
        _myself: ActorRef<ListenerMsg>,
        (broker, shared, fault): Self::Arguments,
    ) -> Result<ListenerState, ActorProcessingErr> {
        let acceptor_sup = shared
            .acceptor_sup
            .read()
            .clone()
            .ok_or_else(|| StartError::failed("acceptor_sup is not running"))?;
        // Acceptors of a previous incarnation still hold the old socket: stop them first.
        for child in acceptor_sup.which_children() {
            if let Some(cell) = child.cell {
                let _ = acceptor_sup.terminate_actor(cell.get_id()).await;
            }
        }
        // The last acceptor's end may still be in flight; wait (briefly) for the old socket.
        let old = shared.last_socket.lock().clone();
        let waited = std::time::Instant::now();
        while old.strong_count() > 0 && waited.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let rebinding = shared.local_addr();
        let addr = rebinding.unwrap_or(shared.config.bind);
        let socket = Arc::new(bind(addr, rebinding.is_some()).await?);
        *shared.last_socket.lock() = Arc::downgrade(&socket);
        let local = socket
            .local_addr()
            .map_err(|e| StartError::failed(format!("bind {addr}: {e}")))?;
        *shared.local_addr.write() = Some(local);
        let (alive, _) = watch::channel(());
        for index in 0..shared.config.acceptors {
            let start = acceptor::start(broker.clone(), shared.clone(), socket.clone(), alive.subscribe());
            acceptor_sup
                .start_child(DynamicChild::repeat(format!("acceptor/{index}"), start))
                .await?;
        }
        shared.bound.send_replace(Some(local));
        tracing::info!(listener = %shared.id, addr = %local, acceptors = shared.config.acceptors, "listening");
        Ok(ListenerState {
            _socket: socket,
            _alive: alive,
            fault,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ListenerMsg>,
        msg: ListenerMsg,
        state: &mut ListenerState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            ListenerMsg::Ping => Ok(()),
        }
    }
}

/// Binds with SO_REUSEADDR and a deep backlog. A rebind right after a restart may find the old
/// socket not yet closed by an acceptor's task, so then `AddrInUse` is retried briefly.
async fn bind(addr: SocketAddr, rebinding: bool) -> Result<TcpListener, StartError> {
    let mut attempts = 0;
    loop {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| StartError::failed(format!("bind {addr}: {e}")))?;
        let bound = socket
            .set_reuseaddr(true)
            .and_then(|()| socket.bind(addr))
            .and_then(|()| socket.listen(1024));
        match bound {
            Ok(listener) => return Ok(listener),
            Err(e) if rebinding && e.kind() == std::io::ErrorKind::AddrInUse && attempts < 40 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => {
                return Err(StartError::failed(crate::listen_error::ListenError::new(
                    addr, &e,
                )))
            }
        }
    }
}
