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

use arbor_supervisors::{ChildSpec, FaultHook, Strategy, SupFlags, SupervisorSpec};
use parking_lot::RwLock;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::broker::Broker;

/// One registered session.
#[derive(Clone)]
pub struct SessionEntry {
    /// The session actor's cell.
    pub session: ractor::ActorCell,
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

/// The pool index that owns `client_id`.
pub fn pool_index(client_id: &str, pool: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    client_id.hash(&mut h);
    (h.finish() % pool.max(1) as u64) as usize
}

/// Messages of an sm worker.
pub enum SmMsg {
    /// Answers with the registry size (a liveness probe for admin and tests).
    Ping(RpcReplyPort<usize>),
}

/// An sm worker.
pub struct Sm;

/// Its state.
pub struct SmState {
    registry: Arc<Registry>,
    fault: FaultHook,
}

impl Actor for Sm {
    type Msg = SmMsg;
    type State = SmState;
    type Arguments = (Arc<Registry>, FaultHook);

    async fn pre_start(
        &self,
        _myself: ActorRef<SmMsg>,
        (registry, fault): Self::Arguments,
    ) -> Result<SmState, ActorProcessingErr> {
        Ok(SmState { registry, fault })
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
        }
        Ok(())
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
                    move |ctx| (args_broker.registry.clone(), ctx.fault.clone()),
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
