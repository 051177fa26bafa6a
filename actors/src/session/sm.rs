//! The session manager pool, `sm_sup/sm/0..N-1` (emqttd_sm), and the session registry that
//! sm_sup owns.
//!
//! A client id is hashed to one `sm/i`, which serialises opening, resuming and discarding
//! sessions for the ids it owns. The registry (client id → session) is not in the workers: it is
//! handed to each of them at start, so when one crashes and sm_sup restarts the pool
//! (one_for_all) no session is forgotten.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use arbor_supervisors::{ChildSpec, FaultHook, Strategy, SupFlags, SupervisorSpec};
use parking_lot::RwLock;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::broker::Broker;
use crate::connection::ConnHandle;
use crate::session::{SessionArgs, SessionMsg};

/// One registered session.
#[derive(Clone)]
pub struct SessionEntry {
    /// The session actor.
    pub session: ActorRef<SessionMsg>,
    /// Whether it was opened with clean session.
    pub clean: bool,
}

impl SessionEntry {
    fn alive(&self) -> bool {
        matches!(
            self.session.get_status(),
            ractor::ActorStatus::Running | ractor::ActorStatus::Starting
        )
    }
}

/// client id → session, shared by the pool, owned by sm_sup.
#[derive(Default)]
pub struct Registry {
    sessions: RwLock<HashMap<Arc<str>, SessionEntry>>,
}

impl Registry {
    /// The session of `client_id`.
    pub fn get(&self, client_id: &str) -> Option<SessionEntry> {
        self.sessions.read().get(client_id).cloned()
    }

    /// Registers (or replaces) the session of `client_id`.
    pub fn insert(&self, client_id: Arc<str>, entry: SessionEntry) -> Option<SessionEntry> {
        self.sessions.write().insert(client_id, entry)
    }

    /// Removes `client_id` if it still maps to `session`.
    pub fn remove_if(&self, client_id: &str, session: &ractor::ActorCell) -> bool {
        let mut sessions = self.sessions.write();
        if sessions
            .get(client_id)
            .is_some_and(|e| e.session.get_id() == session.get_id())
        {
            sessions.remove(client_id);
            true
        } else {
            false
        }
    }

    /// Registered sessions.
    pub fn len(&self) -> usize {
        self.sessions.read().len()
    }

    /// Whether no session is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The live sm worker owning `client_id`.
pub fn worker_for(broker: &Broker, client_id: &str) -> Option<ActorRef<SmMsg>> {
    let pool = broker.sm_pool.read();
    pool.get(pool_index(client_id, pool.len())).cloned().flatten()
}

/// The pool index that owns `client_id`.
pub fn pool_index(client_id: &str, pool: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    client_id.hash(&mut h);
    (h.finish() % pool.max(1) as u64) as usize
}

/// What opening a session answers: the session and whether it was resumed (CONNACK's
/// session-present flag).
pub type Opened = Result<(ActorRef<SessionMsg>, bool), String>;

/// Messages of an sm worker.
pub enum SmMsg {
    /// Answers with the registry size (a liveness probe for admin and tests).
    Ping(RpcReplyPort<usize>),
    /// Open the session of a connecting client (emqttd_sm:start_session).
    Open {
        /// Client id.
        client_id: Arc<str>,
        /// Clean session flag.
        clean: bool,
        /// The connecting connection.
        conn: ConnHandle,
        /// The session and session-present.
        reply: RpcReplyPort<Opened>,
    },
}

/// An sm worker.
pub struct Sm;

/// Its state.
pub struct SmState {
    broker: Arc<Broker>,
    registry: Arc<Registry>,
    fault: FaultHook,
}

impl Actor for Sm {
    type Msg = SmMsg;
    type State = SmState;
    type Arguments = (Arc<Broker>, FaultHook);

    async fn pre_start(
        &self,
        _myself: ActorRef<SmMsg>,
        (broker, fault): Self::Arguments,
    ) -> Result<SmState, ActorProcessingErr> {
        Ok(SmState {
            registry: broker.registry.clone(),
            broker,
            fault,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<SmMsg>,
        msg: SmMsg,
        state: &mut SmState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            SmMsg::Ping(reply) => {
                let _ = reply.send(state.registry.len());
            }
            SmMsg::Open {
                client_id,
                clean,
                conn,
                reply,
            } => {
                let opened = state.open(client_id, clean, conn).await;
                let _ = reply.send(opened);
            }
        }
        Ok(())
    }
}

/// How long sm waits for an old session to be discarded or taken over.
const SESSION_CALL: Duration = Duration::from_secs(5);

impl SmState {
    /// Clean session: discard any old session and start a new one [MQTT-3.1.2-6]. Persistent:
    /// resume the old one, which kicks its previous connection (takeover) [MQTT-3.1.2-4], or
    /// start one.
    async fn open(&mut self, client_id: Arc<str>, clean: bool, conn: ConnHandle) -> Opened {
        if let Some(old) = self.registry.get(&client_id).filter(SessionEntry::alive) {
            if !clean && !old.clean {
                let resumed = old
                    .session
                    .call(|r| SessionMsg::Attach(conn.clone(), r), Some(SESSION_CALL))
                    .await;
                if matches!(resumed, Ok(ractor::rpc::CallResult::Success(()))) {
                    return Ok((old.session, true));
                }
            }
            tracing::info!(%client_id, "conflict: discarding the previous session");
            let _ = old.session.call(SessionMsg::Discard, Some(SESSION_CALL)).await;
            let _ = old.session.get_cell().wait(Some(SESSION_CALL)).await;
        }
        let args = SessionArgs {
            broker: self.broker.clone(),
            client_id: client_id.clone(),
            clean,
            conn,
            fault: FaultHook::none(),
        };
        let session = crate::session::start(&self.broker, args)
            .await
            .map_err(|e| e.to_string())?;
        self.registry.insert(
            client_id,
            SessionEntry {
                session: session.clone(),
                clean,
            },
        );
        Ok((session, false))
    }
}

/// `sm_sup`: one_for_all over the pool.
pub fn sm_sup_spec(broker: Arc<Broker>) -> ChildSpec {
    ChildSpec::supervisor("sm_sup", move || {
        let size = broker.sm_pool.read().len();
        let children = (0..size)
            .map(|i| {
                let args_broker = broker.clone();
                let publish_broker = broker.clone();
                crate::worker::spec(
                    format!("sm/{i}"),
                    || Sm,
                    move |ctx| (args_broker.clone(), ctx.fault.clone()),
                    move |sm| {
                        if let Some(slot) = publish_broker.sm_pool.write().get_mut(i) {
                            *slot = Some(sm);
                        }
                    },
                )
            })
            .collect();
        let i = &broker.config.supervisors.sm_sup;
        SupervisorSpec::new(
            SupFlags::new(Strategy::OneForAll, i.max_restarts, i.max_seconds),
            children,
        )
    })
}
