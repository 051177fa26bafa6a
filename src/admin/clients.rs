//! `clients`: the connected clients (emqttd_ctl's `clients list|show|kick`).
//!
//! The list reads the broker's client table only, so it is cheap at any size; `show` also asks
//! the client's session for what only the session knows (inflight, mqueue, subscriptions). A kick
//! closes the connection as a takeover would: a persistent session stays and waits for the
//! client to come back.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arbor_actors::api::BrokerApi;
use arbor_actors::session::registry::ClientInfo;
use arbor_actors::session::SessionMsg;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::handlers::{paged, Page};
use super::sessions::ask;
use super::{accept, ApiError};

/// Query of `GET /api/v1/clients`; every filter given must match.
#[derive(Debug, Deserialize)]
pub struct ClientQuery {
    limit: Option<usize>,
    offset: Option<usize>,
    /// Client ids starting with this.
    client_id: Option<String>,
    /// Exactly this user name.
    username: Option<String>,
    /// Peer addresses (`ip:port`) starting with this, e.g. `127.0.0.1` or `10.1.`.
    peer: Option<String>,
}

impl ClientQuery {
    fn matches(&self, id: &str, entry: &ClientInfo) -> bool {
        self.client_id.as_deref().is_none_or(|p| id.starts_with(p))
            && self
                .username
                .as_deref()
                .is_none_or(|u| entry.username.as_deref() == Some(u))
            && self
                .peer
                .as_deref()
                .is_none_or(|p| entry.peer.to_string().starts_with(p))
    }
}

/// Seconds since the Unix epoch (0 for a time before it).
pub(super) fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn client_json(id: &str, entry: &ClientInfo) -> Value {
    json!({
        "client_id": id,
        "username": entry.username,
        "peer": entry.peer.to_string(),
        "protocol_level": entry.protocol_level,
        "keepalive": entry.keepalive,
        "clean_session": entry.clean,
        "session_expiry": entry.session_expiry,
        "receive_maximum": entry.receive_maximum,
        "topic_alias_maximum": entry.topic_alias_maximum,
        "connected_at": unix_secs(entry.connected_at),
        "path": &*entry.path,
    })
}

fn lookup(broker: &BrokerApi, id: &str) -> Result<Arc<ClientInfo>, ApiError> {
    broker
        .registry()
        .client(id)
        .ok_or_else(|| ApiError::not_found(format!("no connected client `{id}`")))
}

/// `GET /api/v1/clients[?limit=&offset=&client_id=<prefix>&username=&peer=<prefix>]`: connected
/// clients sorted by client id, `{ total, offset, limit, clients: [...] }`.
pub async fn list(
    State(broker): State<BrokerApi>,
    query: Result<Query<ClientQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = accept(query)?;
    let mut clients = broker.registry().clients();
    clients.retain(|(id, entry)| q.matches(id, entry));
    let page = Page {
        limit: q.limit,
        offset: q.offset,
    };
    let (clients, envelope) = page.slice(clients);
    let items = clients.iter().map(|(id, entry)| client_json(id, entry)).collect();
    Ok(paged(envelope, "clients", items))
}

/// `GET /api/v1/clients/<id>`: the client, with its session's inflight, mqueue and
/// subscription count.
pub async fn show(
    State(broker): State<BrokerApi>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = accept(id)?;
    let entry = lookup(&broker, &id)?;
    let session = broker
        .session(&id)
        .ok_or_else(|| ApiError::not_found(format!("no connected client `{id}`")))?;
    let info = ask(&session, &id, SessionMsg::Info).await?;
    let mut client = client_json(&id, &entry);
    client["inflight"] = json!(info.inflight);
    client["max_inflight"] = json!(info.max_inflight);
    client["mqueue_len"] = json!(info.mqueue_len);
    client["mqueue_dropped"] = json!(info.mqueue_dropped);
    client["awaiting_rel"] = json!(info.awaiting_rel);
    client["subscriptions"] = json!(info.subscriptions.len());
    Ok(Json(client))
}

/// `DELETE /api/v1/clients/<id>`: closes the client's connection; a persistent session stays.
pub async fn kick(
    State(broker): State<BrokerApi>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = accept(id)?;
    let entry = lookup(&broker, &id)?;
    tracing::info!(client_id = %id, path = %entry.path, "client kicked through the admin API");
    if !broker.kick(&id) {
        return Err(ApiError::not_found(format!("no connected client `{id}`")));
    }
    Ok(Json(json!({ "client_id": id, "kicked": true })))
}
