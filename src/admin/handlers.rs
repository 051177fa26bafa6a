//! Admin API handlers for the tree, the figures and the tables: each reads the broker's tables
//! ([`BrokerApi`]) or asks the tree, and answers JSON. Clients and sessions are in `clients` and
//! `sessions`.

use arbor_actors::api::BrokerApi;
use arbor_supervisors::{ExitReason, SupervisorRef, TreeOpts};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiError;

/// The live root supervisor, or 503 while the tree is starting.
pub(super) fn root(broker: &BrokerApi) -> Result<SupervisorRef, ApiError> {
    broker
        .root()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the tree is starting"))
}

/// `GET /api/v1/status`.
pub async fn status(State(broker): State<BrokerApi>) -> Result<Json<Value>, ApiError> {
    let root = root(&broker)?;
    Ok(Json(json!({
        "node": broker.config().node.name,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": broker.uptime().as_secs(),
        "broker_sup": root.status(),
    })))
}

/// Query of `GET /api/v1/tree`.
#[derive(Deserialize)]
pub struct TreeQuery {
    path: Option<String>,
    depth: Option<usize>,
    limit: Option<usize>,
    children: Option<String>,
}

/// `GET /api/v1/tree[?path=P&depth=D&limit=N&children=all]`: the live tree; at `path`, a
/// dynamic supervisor lists its children, and with `children=all` every dynamic supervisor in
/// the view does (at most `limit` each; `children=none` is the default).
pub async fn tree(
    State(broker): State<BrokerApi>,
    Query(q): Query<TreeQuery>,
) -> Result<Json<Value>, ApiError> {
    let all_children = match q.children.as_deref() {
        None | Some("none") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "children=`{other}`: expected `all` or `none`"
            )))
        }
    };
    let root = root(&broker)?;
    let opts = TreeOpts {
        depth: q.depth,
        expand: q.path.is_some(),
        all_children,
        limit: q.limit.unwrap_or(1000),
    };
    let node = match q.path.as_deref() {
        None => root.tree(opts),
        Some(path) => root
            .subtree(path.trim_matches('/'), opts)
            .ok_or_else(|| ApiError::not_found(format!("no actor at `{path}`")))?,
    };
    serde_json::to_value(node)
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// `POST /api/v1/actors/<path>/kill|crash`.
pub async fn actor_action(
    State(broker): State<BrokerApi>,
    Path(rest): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let rest = rest.trim_matches('/');
    if rest == "kill" || rest == "crash" {
        return Err(ApiError::bad_request(format!(
            "the actor path is empty: POST /api/v1/actors/<path>/{rest}"
        )));
    }
    let (path, action) = rest
        .rsplit_once('/')
        .ok_or_else(|| ApiError::bad_request("expected /api/v1/actors/<path>/kill or /crash"))?;
    let root = root(&broker)?;
    let found = root
        .find(path)
        .ok_or_else(|| ApiError::not_found(format!("no live actor at `{path}`")))?;
    let cell = found
        .cell
        .ok_or_else(|| ApiError::not_found(format!("no live actor at `{path}`")))?;
    match action {
        "kill" => {
            tracing::warn!(%path, "killed through the admin API");
            cell.kill();
        }
        "crash" => {
            // An abnormal exit, as if a handler had failed: the supervisor restarts it (even a
            // transient child) and `last_exit` shows this reason.
            tracing::warn!(%path, "crashed through the admin API");
            cell.stop(Some(
                ExitReason::Failed(format!("crashed through the admin API: {path}")).to_reason(),
            ));
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown action `{other}` (kill or crash)"
            )))
        }
    }
    Ok(Json(
        json!({ "path": path, "action": action, "actor_id": cell.get_id().to_string() }),
    ))
}

/// `GET /api/v1/faults`: the active fault plan and how often each rule fired.
pub async fn faults(State(broker): State<BrokerApi>) -> Json<Value> {
    let rules = broker.faults().map(|plan| plan.report()).unwrap_or_default();
    Json(json!({ "rules": rules }))
}

/// `GET /api/v1/stats`: emqttd_stats' gauges and maxima by name (`connections/count`, …).
pub async fn stats(State(broker): State<BrokerApi>) -> Json<Value> {
    Json(json!(broker.stats().stats()))
}

/// `GET /api/v1/store`: the durable store's figures (`arbor ctl store`).
pub async fn store(State(broker): State<BrokerApi>) -> Json<Value> {
    Json(json!(broker.store().info()))
}

/// `GET /api/v1/metrics`: emqttd_metrics' counters by name (`packets/publish/received`, …).
pub async fn metrics(State(broker): State<BrokerApi>) -> Json<Value> {
    Json(json!(broker.stats().report()))
}

/// `GET /api/v1/routes`: every topic filter with its number of subscribers.
pub async fn routes(State(broker): State<BrokerApi>) -> Json<Value> {
    let routes: Vec<Value> = broker
        .routes()
        .filters()
        .into_iter()
        .map(|(topic, subscribers)| json!({ "topic": topic, "subscribers": subscribers }))
        .collect();
    Json(json!({ "routes": routes }))
}

/// `GET /api/v1/listeners`: each listener's bind, acceptors, connections, rules and refusals.
pub async fn listeners(State(broker): State<BrokerApi>) -> Json<Value> {
    let listeners: Vec<_> = broker
        .listeners()
        .iter()
        .map(|listener| listener.info())
        .collect();
    Json(json!({ "listeners": listeners }))
}

/// `?limit=&offset=` of a listing: at most [`Page::MAX_LIMIT`] items, from `offset`. Each
/// listing's query has these two fields beside its filters (serde's `flatten` cannot parse
/// numbers from a query string).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Items wanted ([`Page::DEFAULT_LIMIT`] when not given).
    pub limit: Option<usize>,
    /// Items to skip.
    pub offset: Option<usize>,
}

impl Page {
    /// Items per page when `limit` is not given.
    pub const DEFAULT_LIMIT: usize = 100;
    /// The largest page served; a larger `limit` is cut to it.
    pub const MAX_LIMIT: usize = 1000;

    /// The page of `items` and the envelope fields: `total` (after filtering), `offset`,
    /// `limit`.
    pub fn slice<T>(&self, items: Vec<T>) -> (Vec<T>, Value) {
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT).min(Self::MAX_LIMIT);
        let offset = self.offset.unwrap_or(0);
        let total = items.len();
        let page = items.into_iter().skip(offset).take(limit).collect();
        (page, json!({ "total": total, "offset": offset, "limit": limit }))
    }
}

/// Puts a page's items under `key` in its envelope: `{ total, offset, limit, <key>: [...] }`.
pub fn paged(mut envelope: Value, key: &str, items: Vec<Value>) -> Json<Value> {
    envelope[key] = Value::Array(items);
    Json(envelope)
}
