//! The `admin` worker: the HTTP admin API under `/api/v1` (emqttd_ctl's commands over HTTP) and
//! Prometheus text at `/metrics`.
//!
//! The worker binds in its start, so a port in use is a start error naming the address, then
//! serves on a task it owns; the task is aborted when the worker's state is dropped (even on
//! kill). Bound to loopback it is open; bound elsewhere, config validation has made sure a token
//! exists and every request must carry `Authorization: Bearer <token>`.
//!
//! Handlers read the broker's shared tables directly (clients, routes, listeners, metrics) and
//! ask a session only for what only it knows (subscriptions, inflight, mqueue), with
//! [`SESSION_TIMEOUT`]. Every error, including a bad query, body or method, is JSON
//! `{ "error": "…" }` with a 4xx/5xx status, so `arbor ctl` can print it as one line.
//!
//! | endpoint | what |
//! |---|---|
//! | `GET status`, `GET tree`, `POST actors/<path>/kill\|crash`, `GET faults` | the tree ([`handlers`]) |
//! | `GET events`, `GET events/stream` (Server-Sent Events) | what the supervisors did ([`events`]) |
//! | `GET stats`, `GET metrics`, `GET routes`, `GET listeners` | figures and tables ([`handlers`]) |
//! | `GET clients`, `GET\|DELETE clients/<id>` | connected clients ([`clients`]) |
//! | `GET sessions`, `GET sessions/<id>` | sessions ([`sessions`]) |
//! | `GET subscriptions`, `GET\|POST subscriptions/<client>`, `DELETE subscriptions/<client>/<filter>` | subscriptions ([`sessions`]) |
//! | `GET /metrics` | Prometheus text ([`prometheus`]) |
//! | `GET /`, `GET /dashboard/<file>` | the dashboard page, served without the token ([`dashboard`]) |

mod access;
mod clients;
mod dashboard;
mod events;
mod handlers;
mod prometheus;
mod sessions;

use std::time::Duration;

use arbor_actors::api::BrokerApi;
use arbor_actors::esockd::listen_error::ListenError;
use arbor_supervisors::{ChildSpec, Slot, StartError, Worker};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use ractor::{ActorProcessingErr, ActorRef};
use serde_json::json;
use tokio::task::JoinHandle;

/// The `admin` child of broker_sup.
pub fn spec(broker: BrokerApi) -> ChildSpec {
    arbor_supervisors::worker::spec::<Admin, _>("admin", move || broker.clone(), Slot::default())
}

/// Messages of the admin worker.
pub enum AdminMsg {
    /// The server task ended (it never should): fail so the supervisor restarts us.
    ServerExited(String),
}

/// The admin worker.
pub struct Admin;

/// Its state: the server task, aborted on drop.
pub struct AdminState {
    server: JoinHandle<()>,
}

impl Drop for AdminState {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Worker for Admin {
    type Msg = AdminMsg;
    type Args = BrokerApi;
    type State = AdminState;

    async fn init(myself: ActorRef<AdminMsg>, broker: BrokerApi) -> Result<AdminState, ActorProcessingErr> {
        let addr = broker.config().admin.bind;
        let socket = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::failed(format!("admin API: {}", ListenError::new(addr, &e))))?;
        let local = socket.local_addr()?;
        broker.set_admin_addr(local);
        let app = router(broker);
        let server = tokio::spawn(async move {
            let result = axum::serve(socket, app).await;
            let reason = match result {
                Ok(()) => "server stopped".to_string(),
                Err(e) => e.to_string(),
            };
            let _ = myself.send_message(AdminMsg::ServerExited(reason));
        });
        tracing::info!(addr = %local, "admin API listening");
        Ok(AdminState { server })
    }

    async fn handle(
        _myself: ActorRef<AdminMsg>,
        msg: AdminMsg,
        _state: &mut AdminState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AdminMsg::ServerExited(reason) => Err(format!("admin server exited: {reason}").into()),
        }
    }
}

/// How long a request waits for a session to answer before it fails with 504.
pub const SESSION_TIMEOUT: Duration = arbor_actors::timeouts::SESSION_CALL;

/// The API's routes.
pub fn router(broker: BrokerApi) -> Router {
    Router::new()
        .route("/api/v1/status", get(handlers::status))
        .route("/api/v1/tree", get(handlers::tree))
        .route("/api/v1/actors/{*rest}", post(handlers::actor_action))
        .route("/api/v1/faults", get(handlers::faults))
        .route("/api/v1/events", get(events::list))
        .route("/api/v1/events/stream", get(events::stream))
        .route("/api/v1/stats", get(handlers::stats))
        .route("/api/v1/store", get(handlers::store))
        .route("/api/v1/metrics", get(handlers::metrics))
        .route("/api/v1/routes", get(handlers::routes))
        .route("/api/v1/listeners", get(handlers::listeners))
        .route(
            "/api/v1/listeners/{name}/rules",
            get(access::rules).post(access::add_rule),
        )
        .route("/api/v1/acl/reload", post(access::reload))
        .route("/api/v1/listeners/reload", post(access::reload_listeners))
        .route("/api/v1/clients", get(clients::list))
        .route("/api/v1/clients/{id}", get(clients::show).delete(clients::kick))
        .route("/api/v1/sessions", get(sessions::list))
        .route("/api/v1/sessions/{id}", get(sessions::show))
        .route("/api/v1/subscriptions", get(sessions::subscriptions))
        .route(
            "/api/v1/subscriptions/{client}",
            get(sessions::client_subscriptions).post(sessions::subscribe),
        )
        .route(
            "/api/v1/subscriptions/{client}/{*filter}",
            delete(sessions::unsubscribe),
        )
        .route("/metrics", get(prometheus::scrape))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        })
        .layer(axum::middleware::from_fn_with_state(
            broker.clone(),
            require_token,
        ))
        // After the token layer: the page's files hold no data; the API it calls needs the token.
        .merge(dashboard::routes())
        .with_state(broker)
}

/// Bearer-token check, active when a token is configured.
async fn require_token(State(broker): State<BrokerApi>, request: Request, next: Next) -> Response {
    if let Some(token) = &broker.config().admin.token {
        let expected = format!("Bearer {}", token.expose());
        let given = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !given
            .is_some_and(|g| arbor_actors::auth::passwd::constant_time_eq(g.as_bytes(), expected.as_bytes()))
        {
            return ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
        }
    }
    next.run(request).await
}

/// A JSON error `{ "error": "…" }` with a status.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with a status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// What the error says.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Unwraps an extractor's result (query string, body, path), or fails with a 400 JSON error
/// naming what was wrong, instead of axum's plain-text rejection.
pub fn accept<T, R: std::fmt::Display>(extracted: Result<T, R>) -> Result<T, ApiError> {
    extracted.map_err(|rejection| ApiError::bad_request(rejection.to_string()))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
