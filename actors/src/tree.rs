//! The broker's supervision tree: the only module that knows its shape, and where each table
//! that outlives a worker is created and handed to the subtree that owns it.
//!
//! ```text
//! broker_sup            one_for_all, 0 in 1 → the process exits       [emqttd_sup]
//! ├─ metrics            counters' maxima                              [emqttd_metrics]
//! ├─ router_sup         one_for_all                                   [emqttd_pubsub_sup]
//! │  ├─ router          the one writer of the route table             [emqttd_router]
//! │  └─ retainer        the one writer of retained messages           [emqttd_retainer]
//! ├─ sm_sup             one_for_all                                   [emqttd_sm_sup]
//! │  └─ sm/0..N-1       the one writer of the session registry        [emqttd_sm]
//! ├─ session_sup        simple_one_for_one, temporary (transient with a store), shutdown 5000
//! │  └─ session/<client id>                                           [emqttd_session_sup]
//! ├─ restorer           brings stored sessions back before the listeners open
//! ├─ sys                $SYS publisher                                [emqttd_sysmon]
//! ├─ admin              HTTP admin API (given by the binary)          [emqttd_ctl]
//! └─ listeners_sup      one_for_one                                   [esockd_sup]
//!    └─ listener_sup/mqtt:<kind>:<addr> rest_for_one                  [esockd_listener_sup]
//!       ├─ connection_sup  simple_one_for_one, temporary, brutal_kill [esockd_connection_sup]
//!       │  └─ connection/<peer>
//!       ├─ acceptor_sup    simple_one_for_one, transient              [esockd_acceptor_sup]
//!       │  └─ acceptor/0..N-1
//!       └─ listener        owns the bound socket                      [esockd_listener]
//! ```
//! Start order is list order, so listeners open last, once everything they feed is up, and close
//! first on shutdown: no new connection arrives while the rest stops.
//!
//! The store ([`crate::store`]) is opened by the caller, before the tree: what it held fills the
//! retained table here and comes back as sessions through `restorer`.
//!
//! Tables (the ETS heir pattern): the route table and the retained messages belong to
//! `router_sup`, the session registry to `sm_sup`, each listener's admission table to its
//! `listener_sup`. Each is created here, once per broker, and captured by the spec of the
//! supervisor that owns it, so it outlives every worker below (a crashed router finds its routes
//! again). Writers get it through their start arguments; everyone else gets a read handle, and
//! the compiler keeps it so: the writing methods are visible only inside the owner's room.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_supervisors::{worker, Slot};
use arbor_supervisors::{
    ChildKind, ChildSpec, ExitReason, FaultHook, Restart, RootHandle, Shutdown, StartError, Strategy,
    SupFlags, SupervisorRef, SupervisorSlot, SupervisorSpec, Template, TreeNode, TreeOpts,
};

use crate::api::{BrokerApi, Parts};
use crate::auth::Access;
use crate::codec::ReasonCode;
use crate::config::{BrokerConfig, IntensityConfig};
use crate::connection::ConnectionDeps;
use crate::esockd::listener::{Listener, ListenerArgs};
use crate::esockd::table::{ListenerTable, Listeners};
use crate::observability::metrics::Metrics;
use crate::observability::stats::{MetricsWorker, Stats};
use crate::observability::sys::{Sys, SysArgs};
use crate::routing::publish::Publisher;
use crate::routing::retainer::{self, Retained, Retainer};
use crate::routing::router::Router;
use crate::session::restorer::{Restorer, RestorerArgs};
use crate::session::sm::{Sm, SmArgs, SmDeps, SmPool};
use crate::session::{Routes, SessionDeps, SessionHandle};
use crate::store::{Recovered, Store};

/// The root's path.
pub const ROOT: &str = "broker_sup";

/// A session's shutdown: time to write what it has buffered.
const SESSION_SHUTDOWN: Duration = Duration::from_millis(5000);

/// A running broker.
pub struct BrokerHandle {
    /// The root of the tree.
    pub root: RootHandle,
    /// What the binary and the tests see of it.
    pub api: BrokerApi,
}

/// Builds what the binary adds to the tree (the admin worker).
pub type ExtraChildren = Box<dyn FnOnce(BrokerApi) -> Vec<ChildSpec> + Send>;

/// Starts the whole tree. A listener that cannot bind, or any other child that cannot start,
/// fails the start with an error naming the path down to it.
pub async fn start(
    config: BrokerConfig,
    (store, recovered): (Store, Recovered),
    extra: ExtraChildren,
    fault: FaultHook,
) -> Result<BrokerHandle, StartError> {
    let access = Access::load(&config).map_err(StartError::Failed)?;
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    // router_sup's tables, and where its workers publish their live references.
    let routes = Arc::new(Routes::new());
    let retained = Arc::new(Retained::new());
    retainer::restore(&retained, recovered.retained);
    let router = Slot::default();
    let retainer = Slot::default();
    let publisher = Publisher::new(routes.clone(), retainer.clone(), metrics.clone(), store.clone());
    // sm_sup's table.
    let pool = SmPool::new(config.sm.workers());
    let sessions_slot = SupervisorSlot::default();
    let sm = Arc::new(SmDeps {
        registry: Arc::default(),
        session_sup: sessions_slot.clone(),
        sessions: Arc::new(SessionDeps {
            config: config.session.clone(),
            mqtt: config.mqtt.clone(),
            metrics: metrics.clone(),
            router: router.clone(),
            retained: retained.clone(),
            publisher: publisher.clone(),
            access: access.clone(),
        }),
        node: config.node.name.clone(),
        pool_size: pool.len(),
        pool: pool.clone(),
    });
    let restorer = RestorerArgs {
        images: Arc::new(parking_lot::Mutex::new(Some(recovered.sessions))),
        pool: pool.clone(),
    };
    // Each listener_sup's table.
    let listeners = Arc::new(Listeners::new(&config.listeners).map_err(StartError::failed)?);
    let connections = Arc::new(ConnectionDeps {
        mqtt: config.mqtt.clone(),
        publisher_wait: config.session.publisher_wait,
        session_expiry_max: config.session.expiry_interval,
        metrics: metrics.clone(),
        access: access.clone(),
        publisher: publisher.clone(),
        sm: pool.clone(),
    });
    let stats = Arc::new(Stats {
        metrics,
        routes: routes.clone(),
        retained: retained.clone(),
        listeners: listeners.clone(),
    });
    let started_at = Instant::now();
    let api = BrokerApi::new(Parts {
        config: config.clone(),
        started_at,
        stats: stats.clone(),
        registry: sm.registry.clone(),
        routes: routes.clone(),
        pool: pool.clone(),
        access,
        listeners: listeners.clone(),
        faults: fault.plan().cloned(),
        store: store.clone(),
    });
    let sups = &config.supervisors;
    let sys = SysArgs {
        stats: stats.clone(),
        publisher,
        node: config.node.name.clone(),
        started_at,
        interval: config.sys.interval,
    };
    let mut children = vec![
        worker::spec::<MetricsWorker, _>("metrics", move || stats.clone(), Slot::default()),
        router_sup(
            &sups.router_sup,
            routes,
            retained,
            router,
            retainer,
            store.clone(),
        ),
        sm_sup(&sups.sm_sup, sm, pool),
        session_sup(&sups.session_sup, sessions_slot, store.enabled()),
        worker::spec::<Restorer, _>("restorer", move || restorer.clone(), Slot::default()),
        worker::spec::<Sys, _>("sys", move || sys.clone(), Slot::default()),
    ];
    children.extend(extra(api.clone()));
    children.push(listeners_sup(&config, listeners, connections));
    let spec = SupervisorSpec::new(flags(Strategy::OneForAll, &sups.broker_sup), children);
    let root = RootHandle::start(ROOT, spec, fault).await?;
    api.set_root(root.supervisor().clone());
    Ok(BrokerHandle { root, api })
}

fn flags(strategy: Strategy, intensity: &IntensityConfig) -> SupFlags {
    SupFlags::new(strategy, intensity.max_restarts, intensity.max_seconds)
}

/// `router_sup`: one_for_all over the router and the retainer, owner of the route table and the
/// retained messages.
fn router_sup(
    intensity: &IntensityConfig,
    routes: Arc<Routes>,
    retained: Arc<Retained>,
    router: Slot<ractor::ActorRef<crate::routing::router::RouterMsg<SessionHandle>>>,
    retainer: Slot<ractor::ActorRef<crate::routing::retainer::RetainerMsg>>,
    store: Store,
) -> ChildSpec {
    let flags = flags(Strategy::OneForAll, intensity);
    ChildSpec::supervisor("router_sup", move || {
        let routes = routes.clone();
        let retained = (retained.clone(), store.clone());
        SupervisorSpec::new(
            flags,
            vec![
                worker::spec::<Router<SessionHandle>, _>("router", move || routes.clone(), router.clone()),
                worker::spec::<Retainer, _>("retainer", move || retained.clone(), retainer.clone()),
            ],
        )
    })
}

/// `sm_sup`: one_for_all over the pool, owner of the session registry.
fn sm_sup(intensity: &IntensityConfig, deps: Arc<SmDeps>, pool: SmPool) -> ChildSpec {
    let flags = flags(Strategy::OneForAll, intensity);
    ChildSpec::supervisor("sm_sup", move || {
        let children = (0..pool.len())
            .map(|index| {
                let deps = deps.clone();
                worker::spec::<Sm, _>(
                    format!("sm/{index}"),
                    move || SmArgs {
                        index,
                        deps: deps.clone(),
                    },
                    pool.slot(index),
                )
            })
            .collect();
        SupervisorSpec::new(flags, children)
    })
}

/// `session_sup`: simple_one_for_one over the sessions, started by the sm workers: temporary,
/// or with a store transient (a killed session is restarted from what the store kept).
fn session_sup(intensity: &IntensityConfig, slot: SupervisorSlot, stored: bool) -> ChildSpec {
    let (max_restarts, max_seconds) = (intensity.max_restarts, intensity.max_seconds);
    let template = Template {
        restart: if stored {
            Restart::Transient
        } else {
            Restart::Temporary
        },
        shutdown: Shutdown::Timeout(SESSION_SHUTDOWN),
        kind: ChildKind::Worker,
    };
    ChildSpec::supervisor_in("session_sup", slot, move || {
        SupervisorSpec::simple(max_restarts, max_seconds, template)
    })
}

/// `listeners_sup`: one_for_one over a `listener_sup` per listener.
fn listeners_sup(config: &BrokerConfig, listeners: Arc<Listeners>, deps: Arc<ConnectionDeps>) -> ChildSpec {
    let children: Vec<ChildSpec> = listeners
        .iter()
        .map(|table| listener_sup(config, table.clone(), deps.clone()))
        .collect();
    let flags = flags(Strategy::OneForOne, &config.supervisors.listeners_sup);
    ChildSpec::supervisor("listeners_sup", move || {
        SupervisorSpec::new(flags, children.clone())
    })
}

/// `listener_sup/mqtt:<kind>:<addr>`: rest_for_one over connection_sup, acceptor_sup and the
/// listener, as esockd's; owner of the listener's admission table.
fn listener_sup(config: &BrokerConfig, table: Arc<ListenerTable>, deps: Arc<ConnectionDeps>) -> ChildSpec {
    let sups = &config.supervisors;
    let flags = flags(Strategy::RestForOne, &sups.listener_sup);
    let (cs, asup) = (sups.connection_sup.clone(), sups.acceptor_sup.clone());
    ChildSpec::supervisor(format!("listener_sup/{}", table.id()), move || {
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
        let listener = worker::spec::<Listener, _>(
            "listener",
            {
                let (table, deps) = (table.clone(), deps.clone());
                move || ListenerArgs {
                    deps: deps.clone(),
                    table: table.clone(),
                }
            },
            Slot::default(),
        );
        let children = vec![
            ChildSpec::supervisor_in("connection_sup", table.connection_sup.clone(), {
                let (r, s) = (cs.max_restarts, cs.max_seconds);
                move || SupervisorSpec::simple(r, s, connections)
            }),
            ChildSpec::supervisor_in("acceptor_sup", table.acceptor_sup.clone(), {
                let (r, s) = (asup.max_restarts, asup.max_seconds);
                move || SupervisorSpec::simple(r, s, acceptors)
            }),
            listener,
        ];
        SupervisorSpec::new(flags, children)
    })
}

impl BrokerHandle {
    /// The root supervisor.
    pub fn root(&self) -> &SupervisorRef {
        self.root.supervisor()
    }

    /// The bound address of the listener configured as `name` (`tcp`).
    pub fn listener_addr(&self, name: &str) -> Option<std::net::SocketAddr> {
        self.api.listeners().find(name)?.local_addr()
    }

    /// The tree view.
    pub fn tree(&self, opts: TreeOpts) -> TreeNode {
        self.root().tree(opts)
    }

    /// Stops the tree in reverse start order and waits for it.
    pub async fn shutdown(&self) -> ExitReason {
        // MQTT 5 clients hear why first (DISCONNECT 0x8B), written by their sessions before the
        // listeners, and so the connections, stop.
        self.api.goodbye_all(ReasonCode::SERVER_SHUTTING_DOWN).await;
        self.root.shutdown().await
    }
}
