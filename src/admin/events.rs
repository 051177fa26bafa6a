//! `events`: the supervisors' event stream over HTTP, as recent JSON and as Server-Sent Events.
//!
//! The engine keeps the tree's events (see `arbor_supervisors::events`); this module only serves
//! them, from the root supervisor's handle, so it needs nothing else of the broker.
//!
//! - `GET /api/v1/events[?since=<seq>&path=<prefix>&limit=<n>]`: the kept events numbered after
//!   `since`, under `path` (whole segments), the last `limit` of them (default and most
//!   [`MAX_LIMIT`]), oldest first: `{ "events": [...], "last_seq": N, "capacity": C }`.
//!   `last_seq` is the newest event's number whether or not it matched, so a client can resume
//!   from it.
//! - `GET /api/v1/events/stream[?since=<seq>&path=<prefix>]`: `text/event-stream`. First an
//!   `event: ready` message with `{"last_seq": N, "capacity": C}`, then the kept events after
//!   `since` (or after the standard `Last-Event-ID` header a reconnecting client sends; with
//!   neither, none), then every new one as it happens. A `since` past `last_seq` comes from an
//!   earlier run of the broker (numbering starts again at 1 with each run): it gets every kept
//!   event, and `ready` tells it to expect smaller numbers. Each event is one SSE
//!   message whose `id` is its sequence number and whose `data` is the event's JSON. A client
//!   too slow to keep up loses the oldest events and gets an `event: lagged` message with
//!   `{"missed": n}`, then the stream goes on: it can fetch what it missed from
//!   `GET /api/v1/events?since=`. A comment every [`KEEP_ALIVE`] keeps proxies from closing an
//!   idle stream.
//!
//! Both take the same bearer token as the rest of the API, in the `Authorization` header only
//! (a browser's `EventSource` cannot send one, which is why the dashboard reads the stream with
//! `fetch`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arbor_actors::api::BrokerApi;
use arbor_supervisors::{Event, Events};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::Json;
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::handlers::root;
use super::{accept, ApiError};

/// Most events one `GET /api/v1/events` returns.
pub const MAX_LIMIT: usize = 10_000;

/// How often an idle stream sends a comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Query of both endpoints.
#[derive(Debug, Deserialize)]
pub struct EventQuery {
    /// Only events numbered after this.
    since: Option<u64>,
    /// Only events whose path is this or below it.
    path: Option<String>,
    /// At most this many, the newest (list only).
    limit: Option<usize>,
}

impl EventQuery {
    fn wants(&self, event: &Event) -> bool {
        self.path.as_deref().is_none_or(|prefix| event.is_under(prefix))
    }
}

/// The tree's event log, or 503 while the tree is starting.
fn events(broker: &BrokerApi) -> Result<Events, ApiError> {
    Ok(root(broker)?.events().clone())
}

fn internal(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

/// `GET /api/v1/events`.
pub async fn list(
    State(broker): State<BrokerApi>,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = accept(query)?;
    let log = events(&broker)?;
    let last_seq = log.last_seq();
    let mut kept: Vec<Arc<Event>> = log.since(q.since.unwrap_or(0));
    kept.retain(|e| q.wants(e));
    let limit = q.limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let skip = kept.len().saturating_sub(limit);
    let items = kept
        .iter()
        .skip(skip)
        .map(|e| serde_json::to_value(&**e).map_err(internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({
        "events": items,
        "last_seq": last_seq,
        "capacity": log.capacity(),
    })))
}

/// `GET /api/v1/events/stream`.
pub async fn stream(
    State(broker): State<BrokerApi>,
    headers: HeaderMap,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<sse::Event, Infallible>>>, ApiError> {
    let Query(q) = accept(query)?;
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let log = events(&broker)?;
    let last_seq = log.last_seq();
    let after = q.since.or(last_event_id).unwrap_or(last_seq);
    let after = if after > last_seq { 0 } else { after };
    let subscription = log.subscribe(after);
    let q = Arc::new(q);
    let ready = sse::Event::default()
        .event("ready")
        .data(json!({ "last_seq": last_seq, "capacity": log.capacity() }).to_string());
    let backlog: Vec<sse::Event> = std::iter::once(ready)
        .chain(
            subscription
                .backlog
                .iter()
                .filter(|e| q.wants(e))
                .filter_map(|e| message(e)),
        )
        .collect();
    let live = stream::unfold((subscription.live, q), |(mut live, q)| async move {
        loop {
            match live.recv().await {
                Ok(event) if q.wants(&event) => {
                    if let Some(message) = message(&event) {
                        return Some((message, (live, q)));
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    let notice = sse::Event::default()
                        .event("lagged")
                        .data(json!({ "missed": missed }).to_string());
                    return Some((notice, (live, q)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let all = stream::iter(backlog).chain(live).map(Ok);
    Ok(Sse::new(all).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// One event as an SSE message: `id` its number, `data` its JSON.
fn message(event: &Event) -> Option<sse::Event> {
    let data = serde_json::to_string(event).ok()?;
    Some(sse::Event::default().id(event.seq.to_string()).data(data))
}
