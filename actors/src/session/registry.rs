//! The session registry, owned by `sm_sup`: client id → its session and, while one is
//! connected, its connection (emqttd's session table and client table, `emqttd_sm` +
//! `emqttd_cm`, in one).
//!
//! The tree creates it for `sm_sup` and hands it to every incarnation of the `sm/i` workers, so
//! when one crashes and sm_sup restarts the pool (one_for_all) no session is forgotten. Reading is
//! public (the admin API lists clients and sessions); writing is visible to the session room
//! only, and the sm workers are its one writer: they register a session when they open it and
//! monitor both the session and the connection, removing each entry when its actor ends, however
//! it ends (a kill included).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::RwLock;
use ractor::{ActorCell, ActorRef};

use crate::session::SessionMsg;

/// A connected client, as the admin API lists it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// Its connection actor (stopping it closes the connection).
    pub conn: ActorCell,
    /// The connection's path in the tree.
    pub path: Arc<str>,
    /// Peer address.
    pub peer: SocketAddr,
    /// When CONNECT was accepted.
    pub connected_at: SystemTime,
    /// Clean session flag.
    pub clean: bool,
    /// Keepalive in seconds.
    pub keepalive: u16,
    /// Protocol level (3 for MQTT 3.1, 4 for 3.1.1, 5 for MQTT 5).
    pub protocol_level: u8,
    /// Seconds the session outlives the connection (0: it ends with it).
    pub session_expiry: u64,
    /// The client's Receive Maximum (65535 when it sent none).
    pub receive_maximum: u16,
    /// The client's Topic Alias Maximum (0: none).
    pub topic_alias_maximum: u16,
    /// User name given in CONNECT.
    pub username: Option<String>,
}

/// One client id's entry.
#[derive(Clone)]
pub struct Entry {
    /// The session actor.
    pub session: ActorRef<SessionMsg>,
    /// Whether it ends with its connection (3.1.1 clean session, or MQTT 5 Session Expiry
    /// Interval 0): such a session is never resumed.
    pub clean: bool,
    /// The connected client, if one is.
    pub client: Option<Arc<ClientInfo>>,
}

impl Entry {
    /// Whether its session actor is running.
    pub fn alive(&self) -> bool {
        arbor_supervisors::worker::alive(&self.session.get_cell())
    }
}

/// client id → entry; see the module docs.
#[derive(Default)]
pub struct Registry {
    entries: RwLock<HashMap<Arc<str>, Entry>>,
}

impl Registry {
    /// The entry of `client_id`.
    pub fn get(&self, client_id: &str) -> Option<Entry> {
        self.entries.read().get(client_id).cloned()
    }

    /// Registered sessions.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// Whether no session is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every client id with a session, sorted.
    pub fn session_ids(&self) -> Vec<Arc<str>> {
        let mut ids: Vec<Arc<str>> = self.entries.read().keys().cloned().collect();
        ids.sort_unstable();
        ids
    }

    /// Every connected client, sorted by client id.
    pub fn clients(&self) -> Vec<(Arc<str>, Arc<ClientInfo>)> {
        let mut clients: Vec<(Arc<str>, Arc<ClientInfo>)> = self
            .entries
            .read()
            .iter()
            .filter_map(|(id, e)| Some((id.clone(), e.client.clone()?)))
            .collect();
        clients.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        clients
    }

    /// The connected client of `client_id`, if connected.
    pub fn client(&self, client_id: &str) -> Option<Arc<ClientInfo>> {
        self.entries.read().get(client_id)?.client.clone()
    }

    /// The client ids `pick` selects, with their entries (an sm worker re-reading its share of
    /// the table after a restart).
    pub(super) fn select(&self, pick: impl Fn(&str) -> bool) -> Vec<(Arc<str>, Entry)> {
        self.entries
            .read()
            .iter()
            .filter(|(id, _)| pick(id))
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect()
    }

    /// Registers (or replaces) the session of `client_id`.
    pub(super) fn insert(&self, client_id: Arc<str>, entry: Entry) {
        self.entries.write().insert(client_id, entry);
    }

    /// Removes `client_id` if its session is still `session`; true if removed.
    pub(super) fn remove_session(&self, client_id: &str, session: &ActorCell) -> bool {
        let mut entries = self.entries.write();
        let ours = entries
            .get(client_id)
            .is_some_and(|e| e.session.get_id() == session.get_id());
        if ours {
            entries.remove(client_id);
        }
        ours
    }

    /// Forgets the connected client of `client_id` if it is still `conn`; returns it if so.
    pub(super) fn remove_client(&self, client_id: &str, conn: &ActorCell) -> Option<Arc<ClientInfo>> {
        let mut entries = self.entries.write();
        let entry = entries.get_mut(client_id)?;
        if entry.client.as_ref()?.conn.get_id() != conn.get_id() {
            return None;
        }
        entry.client.take()
    }
}
