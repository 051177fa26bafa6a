//! `sessions` and `subscriptions` (emqttd_ctl's `sessions list|show` and
//! `subscriptions list|show|add|del`).
//!
//! Only a session knows its subscriptions, inflight window and queue, so these ask it
//! (`SessionMsg::Info`) with [`SESSION_TIMEOUT`]; a listing asks the sessions of one page at
//! once, never the whole registry. Sessions are listed and looked up in the session registry. Adding a subscription goes through the
//! session as a SUBSCRIBE would, so the route is made and retained messages are sent.

use arbor_actors::api::BrokerApi;
use arbor_actors::codec::{QoS, SubackCode};
use arbor_actors::session::{SessionInfo, SessionMsg};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::handlers::{paged, Page};
use super::{accept, ApiError, SESSION_TIMEOUT};

/// Why a session gave no answer.
enum Unanswered {
    /// It ended before answering (or had already).
    Ended,
    /// It did not answer within [`SESSION_TIMEOUT`].
    Timeout,
}

impl Unanswered {
    fn into_error(self, client_id: &str) -> ApiError {
        match self {
            Unanswered::Ended => ApiError::not_found(format!("no session for client `{client_id}`")),
            Unanswered::Timeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the session of `{client_id}` did not answer within {}s",
                    SESSION_TIMEOUT.as_secs()
                ),
            ),
        }
    }
}

async fn call<T: Send + 'static>(
    session: &ActorRef<SessionMsg>,
    msg: impl FnOnce(RpcReplyPort<T>) -> SessionMsg,
) -> Result<T, Unanswered> {
    match session.call(msg, Some(SESSION_TIMEOUT)).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err(Unanswered::Timeout),
        Ok(CallResult::SenderError) | Err(_) => Err(Unanswered::Ended),
    }
}

/// Asks `client_id`'s session and waits at most [`SESSION_TIMEOUT`]: 404 if it has ended, 504
/// if it is too slow.
pub(super) async fn ask<T: Send + 'static>(
    session: &ActorRef<SessionMsg>,
    client_id: &str,
    msg: impl FnOnce(RpcReplyPort<T>) -> SessionMsg,
) -> Result<T, ApiError> {
    call(session, msg).await.map_err(|e| e.into_error(client_id))
}

fn session_of(broker: &BrokerApi, client_id: &str) -> Result<ActorRef<SessionMsg>, ApiError> {
    broker
        .session(client_id)
        .ok_or_else(|| ApiError::not_found(format!("no session for client `{client_id}`")))
}

/// The sessions of `ids`, asked all at once: one entry per session still alive, in `ids`'
/// order; a session that does not answer in time is `{ client_id, error }`.
async fn infos(broker: &BrokerApi, ids: Vec<String>) -> Vec<Result<SessionInfo, Value>> {
    let mut asks = JoinSet::new();
    for (index, id) in ids.into_iter().enumerate() {
        let Some(session) = broker.session(&id) else {
            continue;
        };
        asks.spawn(async move { (index, call(&session, SessionMsg::Info).await, id) });
    }
    let mut answers = Vec::new();
    while let Some(joined) = asks.join_next().await {
        match joined {
            Ok((index, Ok(info), _)) => answers.push((index, Ok(info))),
            Ok((index, Err(Unanswered::Timeout), id)) => {
                let error = Unanswered::Timeout.into_error(&id).message().to_string();
                answers.push((index, Err(json!({ "client_id": id, "error": error }))));
            }
            // Ended meanwhile, or the ask panicked: not listed.
            Ok((_, Err(Unanswered::Ended), _)) | Err(_) => {}
        }
    }
    answers.sort_by_key(|(index, _)| *index);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

fn subscriptions_json(info: &SessionInfo) -> Value {
    info.subscriptions
        .iter()
        .map(|(topic, qos)| json!({ "topic": topic, "qos": qos }))
        .collect()
}

/// A session as the API shows it: [`SessionInfo`] with subscriptions as `{ topic, qos }`.
fn session_json(info: &SessionInfo) -> Value {
    let mut session = serde_json::to_value(info).unwrap_or_else(|_| json!({}));
    session["subscriptions"] = subscriptions_json(info);
    session
}

/// Query of `GET /api/v1/sessions` and `GET /api/v1/subscriptions`.
#[derive(Debug, Deserialize)]
pub struct SessionQuery {
    limit: Option<usize>,
    offset: Option<usize>,
    /// Client ids starting with this.
    client_id: Option<String>,
}

/// The page of session ids `q` selects, and its envelope.
fn select(broker: &BrokerApi, q: &SessionQuery) -> (Vec<String>, Value) {
    let mut ids: Vec<String> = broker
        .registry()
        .session_ids()
        .iter()
        .map(|id| id.to_string())
        .collect();
    if let Some(prefix) = &q.client_id {
        ids.retain(|id| id.starts_with(prefix.as_str()));
    }
    let page = Page {
        limit: q.limit,
        offset: q.offset,
    };
    page.slice(ids)
}

/// `GET /api/v1/sessions[?limit=&offset=&client_id=<prefix>]`: sessions sorted by client id,
/// `{ total, offset, limit, sessions: [...] }`.
pub async fn list(
    State(broker): State<BrokerApi>,
    query: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = accept(query)?;
    let (ids, envelope) = select(&broker, &q);
    let sessions = infos(&broker, ids)
        .await
        .into_iter()
        .map(|answer| answer.map_or_else(|error| error, |info| session_json(&info)))
        .collect();
    Ok(paged(envelope, "sessions", sessions))
}

/// `GET /api/v1/sessions/<id>`: subscriptions with QoS, inflight, mqueue length and drops,
/// awaiting PUBREL, creation time, expiry.
pub async fn show(
    State(broker): State<BrokerApi>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = accept(id)?;
    let session = session_of(&broker, &id)?;
    let info = ask(&session, &id, SessionMsg::Info).await?;
    Ok(Json(session_json(&info)))
}

/// `GET /api/v1/subscriptions[?limit=&offset=&client_id=<prefix>]`: each session's
/// subscriptions, `{ total, offset, limit, subscriptions: [{ client_id, subscriptions }] }`.
pub async fn subscriptions(
    State(broker): State<BrokerApi>,
    query: Result<Query<SessionQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = accept(query)?;
    let (ids, envelope) = select(&broker, &q);
    let items = infos(&broker, ids)
        .await
        .into_iter()
        .map(|answer| {
            answer.map_or_else(
                |error| error,
                |info| json!({ "client_id": info.client_id, "subscriptions": subscriptions_json(&info) }),
            )
        })
        .collect();
    Ok(paged(envelope, "subscriptions", items))
}

/// `GET /api/v1/subscriptions/<client>`: `{ client_id, subscriptions: [{ topic, qos }] }`.
pub async fn client_subscriptions(
    State(broker): State<BrokerApi>,
    client: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(client) = accept(client)?;
    let session = session_of(&broker, &client)?;
    let info = ask(&session, &client, SessionMsg::Info).await?;
    Ok(Json(
        json!({ "client_id": client, "subscriptions": subscriptions_json(&info) }),
    ))
}

/// Body of `POST /api/v1/subscriptions/<client>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeBody {
    /// The topic filter.
    topic: String,
    /// The QoS asked for: 0, 1 or 2.
    qos: u8,
}

/// `POST /api/v1/subscriptions/<client>` with `{ "topic": "...", "qos": 1 }`: subscribes the
/// client's session as its own SUBSCRIBE would (the route is made, retained messages follow);
/// answers the QoS granted.
pub async fn subscribe(
    State(broker): State<BrokerApi>,
    client: Result<Path<String>, PathRejection>,
    body: Result<Json<SubscribeBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(client) = accept(client)?;
    let Json(body) = accept(body)?;
    let qos = QoS::from_u8(body.qos)
        .ok_or_else(|| ApiError::bad_request(format!("qos must be 0, 1 or 2, not {}", body.qos)))?;
    arbor_actors::codec::topic_rules::validate_subscription(&body.topic)
        .map_err(|e| ApiError::bad_request(format!("invalid topic filter `{}`: {e}", body.topic)))?;
    let session = session_of(&broker, &client)?;
    let topic = body.topic;
    let filters = vec![(topic.clone(), qos)];
    let codes = ask(&session, &client, |reply| {
        SessionMsg::Subscribe(Box::new(filters), reply)
    })
    .await?;
    match codes.first() {
        Some(SubackCode::Success(granted)) => {
            tracing::info!(client_id = %client, %topic, "subscribed through the admin API");
            Ok(Json(
                json!({ "client_id": client, "topic": topic, "qos": granted.as_u8() }),
            ))
        }
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the broker refused to subscribe `{client}` to `{topic}`"),
        )),
    }
}

/// `DELETE /api/v1/subscriptions/<client>/<filter>` (the filter percent-encoded, or its
/// levels as path segments): removes one subscription; 404 if the client has none to it.
pub async fn unsubscribe(
    State(broker): State<BrokerApi>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path((client, topic)) = accept(path)?;
    let session = session_of(&broker, &client)?;
    let info = ask(&session, &client, SessionMsg::Info).await?;
    if !info.subscriptions.iter().any(|(filter, _)| *filter == topic) {
        return Err(ApiError::not_found(format!(
            "client `{client}` has no subscription to `{topic}`"
        )));
    }
    let filters = vec![topic.clone()];
    ask(&session, &client, |reply| {
        SessionMsg::Unsubscribe(Box::new(filters), reply)
    })
    .await?;
    tracing::info!(client_id = %client, %topic, "unsubscribed through the admin API");
    Ok(Json(
        json!({ "client_id": client, "topic": topic, "unsubscribed": true }),
    ))
}
