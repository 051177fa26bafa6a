//! The session manager pool, `sm_sup/sm/0..N-1` (emqttd_sm with emqttd_cm's client table).
//!
//! A client id is hashed to one `sm/i`, which serialises opening, resuming and discarding the
//! sessions of the ids it owns, and is the one writer of their [`Registry`] entries: it registers
//! a session and its connected client when it opens it, monitors both, and removes each entry
//! when its actor ends, however it ends (emqttd_sm monitors its sessions the same way). It also
//! publishes the `$SYS/brokers/<node>/clients/<id>/connected|disconnected` notices, since it sees
//! every connect and every connection's end, kills included.
//!
//! With a store, sessions come back from it: at boot each worker starts the stored sessions of
//! its share before the listeners open ([`SmMsg::Restore`]), and a persistent session killed
//! while running is restarted by session_sup (transient) from what the store kept, then asks
//! its worker to register it again ([`SmMsg::Adopt`]).
//!
//! The registry is not in the workers: the tree creates it for sm_sup and hands it to each of
//! them at start, so when one crashes and sm_sup restarts the pool (one_for_all) no session is
//! forgotten; each new worker monitors its share of the registry again and drops the entries
//! whose actor ended while it was down.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arbor_supervisors::{spec::start_fn, DynamicChild, ExitReason, Slot, StartError, SupervisorSlot, Worker};
use ractor::{ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::observability::notices;
use crate::routing::publish::Publisher;
use crate::session::registry::{ClientInfo, Entry, Registry};
use crate::session::{Attach, Session, SessionArgs, SessionDeps, SessionHandle, SessionMsg, Start};
use crate::store::SessionImage;
use crate::timeouts;

/// What the sm workers need: built once by the tree for sm_sup.
pub struct SmDeps {
    /// The registry, which the pool writes.
    pub registry: Arc<Registry>,
    /// Where new sessions are started.
    pub session_sup: SupervisorSlot,
    /// What every session is started with.
    pub sessions: Arc<SessionDeps>,
    /// The node name, for `$SYS` topics.
    pub node: String,
    /// Number of workers.
    pub pool_size: usize,
    /// The pool (a restarted session asks its worker to register it).
    pub pool: SmPool,
}

/// The pool: slot `i` holds the live `sm/i`.
#[derive(Clone)]
pub struct SmPool(Arc<[Slot<ActorRef<SmMsg>>]>);

impl SmPool {
    /// A pool of `size` workers (at least one).
    pub fn new(size: usize) -> Self {
        Self((0..size.max(1)).map(|_| Slot::default()).collect())
    }

    /// The slot of `sm/i`.
    pub fn slot(&self, i: usize) -> Slot<ActorRef<SmMsg>> {
        self.0.get(i).cloned().unwrap_or_default()
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the pool is empty (never: it has at least one worker).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The live worker owning `client_id`, if it is running.
    pub fn worker_for(&self, client_id: &str) -> Option<ActorRef<SmMsg>> {
        self.0.get(pool_index(client_id, self.0.len()))?.get()
    }
}

/// The pool index that owns `client_id`.
pub fn pool_index(client_id: &str, pool: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    client_id.hash(&mut h);
    (h.finish() % pool.max(1) as u64) as usize
}

/// A connecting client asking for its session.
pub struct Open {
    /// Client id.
    pub client_id: Arc<str>,
    /// Clean session (3.1.1) or Clean Start (MQTT 5): discard any session the id had.
    pub clean: bool,
    /// The connection, its write half and its will.
    pub attach: Box<Attach>,
    /// What the admin API lists about the client.
    pub client: ClientInfo,
}

/// What opening a session answers: the session and whether it was resumed (CONNACK's
/// session-present flag), or why it could not be opened.
pub type Opened = Result<(ActorRef<SessionMsg>, bool), String>;

/// Messages of an sm worker.
pub enum SmMsg {
    /// Answers with the registry size (a liveness probe for admin and tests).
    Ping(RpcReplyPort<usize>),
    /// Open the session of a connecting client (emqttd_sm:start_session).
    Open(Box<Open>, RpcReplyPort<Opened>),
    /// Start these stored sessions, detached (at boot); replies how many started.
    Restore(Vec<SessionImage>, RpcReplyPort<usize>),
    /// A session restarted from the store after a crash: register it again.
    Adopt(Arc<str>, ActorRef<SessionMsg>),
}

/// What `sm/i` starts with.
pub struct SmArgs {
    /// Its index in the pool.
    pub index: usize,
    /// The pool's handles.
    pub deps: Arc<SmDeps>,
}

/// What an sm worker watches: the actor of a session or of a connected client.
#[derive(Clone, Copy)]
enum Watch {
    Session = 0,
    Conn = 1,
}

/// The key of a watched actor: its (local) pid and what it is, in one word, so the table of
/// what a worker watches costs little per client (ractor's `ActorId` is three words).
fn watch_key(cell: &ActorCell, what: Watch) -> u64 {
    cell.get_id().pid() << 1 | what as u64
}

/// An sm worker.
pub struct Sm;

/// Its state.
pub struct SmState {
    deps: Arc<SmDeps>,
    /// Watched actors ([`watch_key`]) → their client id.
    watching: HashMap<u64, Arc<str>>,
}

impl Worker for Sm {
    type Msg = SmMsg;
    type Args = SmArgs;
    type State = SmState;

    async fn init(myself: ActorRef<SmMsg>, args: SmArgs) -> Result<SmState, ActorProcessingErr> {
        let mut state = SmState {
            deps: args.deps,
            watching: HashMap::new(),
        };
        state.watch_my_share(&myself, args.index);
        Ok(state)
    }

    async fn handle(
        myself: ActorRef<SmMsg>,
        msg: SmMsg,
        state: &mut SmState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SmMsg::Ping(reply) => {
                let _ = reply.send(state.deps.registry.len());
            }
            SmMsg::Open(open, reply) => {
                let opened = Box::pin(state.open(&myself, *open)).await;
                let _ = reply.send(opened);
            }
            SmMsg::Restore(images, reply) => {
                let started = Box::pin(state.restore(&myself, images)).await;
                let _ = reply.send(started);
            }
            SmMsg::Adopt(client_id, session) => state.adopt(&myself, client_id, session),
        }
        Ok(())
    }

    fn exited(
        _myself: ActorRef<SmMsg>,
        event: SupervisionEvent,
        state: &mut SmState,
    ) -> impl std::future::Future<Output = Result<(), ActorProcessingErr>> + Send {
        let ended = match &event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                Some((cell, ExitReason::from_reason(reason.as_deref())))
            }
            SupervisionEvent::ActorFailed(cell, err) => Some((cell, ExitReason::Failed(err.to_string()))),
            _ => None,
        };
        if let Some((cell, reason)) = ended {
            state.ended(cell, &reason);
        }
        std::future::ready(Ok(()))
    }
}

impl SmState {
    /// After a (re)start: monitors the sessions and connections of the client ids this worker
    /// owns, and forgets those that ended while no worker watched them.
    fn watch_my_share(&mut self, myself: &ActorRef<SmMsg>, index: usize) {
        let pool = self.deps.pool_size;
        for (client_id, entry) in self.deps.registry.select(|id| pool_index(id, pool) == index) {
            // Monitor first, then look: an actor that ends after the look is reported.
            self.watch(
                myself,
                entry.session.get_cell(),
                Watch::Session,
                client_id.clone(),
            );
            if !entry.alive() {
                self.ended(&entry.session.get_cell(), &ExitReason::Normal);
            }
            if let Some(client) = entry.client {
                self.watch(myself, client.conn.clone(), Watch::Conn, client_id);
                if !arbor_supervisors::worker::alive(&client.conn) {
                    self.ended(&client.conn, &ExitReason::Killed);
                }
            }
        }
    }

    fn watch(&mut self, myself: &ActorRef<SmMsg>, cell: ActorCell, what: Watch, client_id: Arc<str>) {
        self.watching.insert(watch_key(&cell, what), client_id);
        myself.get_cell().monitor(cell);
    }

    /// A watched actor ended: its registry entry goes, and a connection's end is announced.
    fn ended(&mut self, cell: &ActorCell, reason: &ExitReason) {
        if let Some(client_id) = self.watching.remove(&watch_key(cell, Watch::Session)) {
            self.deps.registry.remove_session(&client_id, cell);
        }
        if let Some(client_id) = self.watching.remove(&watch_key(cell, Watch::Conn)) {
            self.deps.registry.remove_client(&client_id, cell);
            let reason = match reason {
                ExitReason::Shutdown(Some(detail)) => detail.clone(),
                other => other.to_string(),
            };
            let notice = serde_json::json!({
                "clientid": &*client_id,
                "reason": reason,
                "ts": crate::message::unix_now(),
            });
            self.notice(&client_id, "disconnected", notice);
        }
    }

    fn notice(&self, client_id: &str, event: &str, payload: serde_json::Value) {
        let publisher: &Publisher<SessionHandle> = &self.deps.sessions.publisher;
        notices::client_event(publisher, &self.deps.node, client_id, event, payload);
    }

    /// Clean session: discard any old session and start a new one [MQTT-3.1.2-6]. Persistent:
    /// resume the old one, which closes its previous connection (takeover) [MQTT-3.1.2-4], or
    /// start one. Either way the session gets the connection's write half and writes CONNACK.
    async fn open(&mut self, myself: &ActorRef<SmMsg>, open: Open) -> Opened {
        let Open {
            client_id,
            clean,
            mut attach,
            client,
        } = open;
        let conn = attach.conn.clone();
        // What the registry remembers: whether the session ends with its connection (3.1.1
        // clean session; MQTT 5 Session Expiry Interval 0), not the Clean Start flag.
        let ends_with_connection = attach.expiry.is_zero();
        let (session, present) = match self.deps.registry.get(&client_id).filter(Entry::alive) {
            Some(old) if !clean && !old.clean => {
                attach.session_present = true;
                let call = old
                    .session
                    .call(|r| SessionMsg::Attach(attach, r), Some(timeouts::SESSION_CALL));
                match call.await {
                    Ok(ractor::rpc::CallResult::Success(())) => (old.session, true),
                    _ => return Err("the session to resume ended while resuming it".into()),
                }
            }
            old => {
                if let Some(old) = old {
                    tracing::info!(%client_id, "conflict: discarding the previous session");
                    let _ = old
                        .session
                        .call(SessionMsg::Discard, Some(timeouts::SESSION_CALL))
                        .await;
                    let _ = old.session.get_cell().wait(Some(timeouts::SESSION_CALL)).await;
                }
                attach.session_present = false;
                let start = Start::Attach(attach);
                (self.start_session(client_id.clone(), clean, start).await?, false)
            }
        };
        self.watch(myself, session.get_cell(), Watch::Session, client_id.clone());
        self.watch(myself, conn, Watch::Conn, client_id.clone());
        let notice = serde_json::json!({
            "clientid": &*client_id,
            "username": client.username,
            "ipaddress": client.peer.ip().to_string(),
            "clean_session": clean,
            "protocol": client.protocol_level,
            "connack": 0,
            "ts": crate::message::unix_now(),
        });
        self.deps.registry.insert(
            client_id.clone(),
            Entry {
                session: session.clone(),
                clean: ends_with_connection,
                client: Some(Arc::new(client)),
            },
        );
        self.notice(&client_id, "connected", notice);
        Ok((session, present))
    }

    /// Starts stored sessions, detached, and registers them (boot, before the listeners).
    async fn restore(&mut self, myself: &ActorRef<SmMsg>, images: Vec<SessionImage>) -> usize {
        let mut started = 0;
        for image in images {
            let client_id = image.client_id.clone();
            match self
                .start_session(client_id.clone(), false, Start::Restore(Box::new(image)))
                .await
            {
                Ok(session) => {
                    self.register(myself, client_id, session);
                    started += 1;
                }
                Err(e) => tracing::error!(%client_id, error = %e, "a stored session could not be started"),
            }
        }
        started
    }

    /// A session restarted from the store: registered again, unless a client opened a new one
    /// for its id meanwhile (then the restarted one stops, leaving the store to the other).
    fn adopt(&mut self, myself: &ActorRef<SmMsg>, client_id: Arc<str>, session: ActorRef<SessionMsg>) {
        if let Some(other) = self.deps.registry.get(&client_id).filter(Entry::alive) {
            if other.session.get_id() != session.get_id() {
                tracing::info!(%client_id, "a restarted session was superseded by a new one");
                let why = ExitReason::Shutdown(Some("superseded".into())).to_reason();
                session.get_cell().stop(Some(why));
                return;
            }
        }
        self.register(myself, client_id, session);
    }

    fn register(&mut self, myself: &ActorRef<SmMsg>, client_id: Arc<str>, session: ActorRef<SessionMsg>) {
        self.watch(myself, session.get_cell(), Watch::Session, client_id.clone());
        let entry = Entry {
            session,
            clean: false,
            client: None,
        };
        self.deps.registry.insert(client_id, entry);
    }

    async fn start_session(
        &self,
        client_id: Arc<str>,
        clean: bool,
        start: Start,
    ) -> Result<ActorRef<SessionMsg>, String> {
        let sup = self
            .deps
            .session_sup
            .get()
            .ok_or_else(|| "session_sup is not running".to_string())?;
        let id = format!("session/{}", arbor_supervisors::path::encode_segment(&client_id));
        let args = SessionArgs {
            deps: self.deps.sessions.clone(),
            client_id,
            clean,
            start,
        };
        let child = match self.deps.sessions.publisher.store().enabled() {
            true => DynamicChild::repeat(id, restartable(args, self.deps.pool.clone())),
            false => DynamicChild::once(id, move |ctx| {
                arbor_supervisors::worker::start::<Session>(ctx, args)
            }),
        };
        let cell = sup
            .start_child(child)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "session ignored".to_string())?;
        Ok(cell.into())
    }
}

/// A session's start for session_sup when there is a store (transient: restarted after a
/// crash): first with `args`, afterwards from what the store kept of it (nothing kept, as for
/// a clean session: not restarted), asking its sm worker to register it again.
fn restartable(args: SessionArgs, pool: SmPool) -> arbor_supervisors::spec::StartFn {
    let (deps, client_id) = (args.deps.clone(), args.client_id.clone());
    let first = parking_lot::Mutex::new(Some(args));
    start_fn(move |ctx| {
        let first = first.lock().take();
        let (deps, client_id, pool) = (deps.clone(), client_id.clone(), pool.clone());
        async move {
            let restarted = first.is_none();
            let args = match first {
                Some(args) => args,
                None => {
                    let image = deps.publisher.store().load(client_id.clone()).await;
                    let Some(image) = image.map_err(StartError::failed)? else {
                        return Ok(None);
                    };
                    tracing::info!(%client_id, queued = image.messages.len(), "session restarted from the store");
                    let start = Start::Restore(Box::new(image));
                    SessionArgs {
                        deps,
                        client_id: client_id.clone(),
                        clean: false,
                        start,
                    }
                }
            };
            let started = arbor_supervisors::worker::start::<Session>(ctx, args).await?;
            if let (true, Some(started), Some(sm)) = (restarted, &started, pool.worker_for(&client_id)) {
                let _ = sm.send_message(SmMsg::Adopt(client_id, started.cell.clone().into()));
            }
            Ok(started)
        }
    })
}
