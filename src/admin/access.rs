//! Admission and access control at run time: a listener's access rules (esockd's `allow`/`deny`)
//! and reloading the password file and ACL.

use std::sync::Arc;

use arbor_actors::api::BrokerApi;
use arbor_actors::esockd::access::AccessRule;
use arbor_actors::esockd::table::ListenerTable;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiError;

/// A listener by config name (`tcp`) or id (`mqtt:tcp:0.0.0.0:1883`).
fn listener(broker: &BrokerApi, name: &str) -> Result<Arc<ListenerTable>, ApiError> {
    broker
        .listeners()
        .find(name)
        .ok_or_else(|| ApiError::not_found(format!("no listener `{name}`")))
}

/// `GET /api/v1/listeners/<listener>/rules`.
pub async fn rules(
    State(broker): State<BrokerApi>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let l = listener(&broker, &name)?;
    Ok(Json(json!({ "listener": l.id(), "rules": l.rules() })))
}

/// Body of `POST /api/v1/listeners/<listener>/rules`.
#[derive(Deserialize)]
pub struct NewRule {
    rule: String,
}

/// `POST /api/v1/listeners/<listener>/rules` with `{"rule": "deny 10.0.0.0/8"}`: the rule goes in
/// front, so it is checked first; it applies to new connections at once.
pub async fn add_rule(
    State(broker): State<BrokerApi>,
    Path(name): Path<String>,
    Json(body): Json<NewRule>,
) -> Result<Json<Value>, ApiError> {
    let l = listener(&broker, &name)?;
    let rule: AccessRule = body
        .rule
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{e}")))?;
    tracing::info!(listener = %l.id(), %rule, "access rule added");
    l.add_rule(rule);
    Ok(Json(json!({ "listener": l.id(), "rules": l.rules() })))
}

/// `POST /api/v1/listeners/reload`: re-reads every TLS listener's certificate and key files; on
/// error (422) that listener keeps its old ones.
pub async fn reload_listeners(State(broker): State<BrokerApi>) -> Result<Json<Value>, ApiError> {
    let reloaded = broker
        .reload_listeners()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(Json(json!({ "reloaded": reloaded })))
}

/// `POST /api/v1/acl/reload`: re-reads the config, password file and ACL; on error (422) the old
/// rules stay.
pub async fn reload(State(broker): State<BrokerApi>) -> Result<Json<Value>, ApiError> {
    broker
        .reload_access()
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(Json(json!({ "reloaded": true })))
}
