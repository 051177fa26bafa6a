//! The `admin` worker: the HTTP admin API under `/api/v1` (emqttd_ctl's commands over HTTP).
//!
//! The worker binds in its start, so a port in use is a start error naming the address, then
//! serves on a task it owns; the task is aborted when the worker's state is dropped (even on
//! kill). Bound to loopback it is open; bound elsewhere, config validation has made sure a token
//! exists and every request must carry `Authorization: Bearer <token>`.

mod handlers;

use std::sync::Arc;

use arbor_actors::broker::Broker;
use arbor_supervisors::{start_fn, ChildSpec, FaultHook, StartCtx, StartError, Started};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::json;
use tokio::task::JoinHandle;

/// The `admin` child of broker_sup.
pub fn spec(broker: Arc<Broker>) -> ChildSpec {
    ChildSpec::worker(
        "admin",
        start_fn(move |ctx: StartCtx| {
            let args = (broker.clone(), ctx.fault.clone());
            async move {
                let (actor, _) = Actor::spawn_linked(None, Admin, args, ctx.supervisor)
                    .await
                    .map_err(StartError::from)?;
                Ok(Some(Started::from(actor)))
            }
        }),
    )
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
    fault: FaultHook,
}

impl Drop for AdminState {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Actor for Admin {
    type Msg = AdminMsg;
    type State = AdminState;
    type Arguments = (Arc<Broker>, FaultHook);

    async fn pre_start(
        &self,
        myself: ActorRef<AdminMsg>,
        (broker, fault): Self::Arguments,
    ) -> Result<AdminState, ActorProcessingErr> {
        let addr = broker.config.admin.bind;
        let socket = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::failed(format!("admin API cannot listen on {addr}: {e}")))?;
        let local = socket.local_addr()?;
        *broker.admin_addr.write() = Some(local);
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
        Ok(AdminState { server, fault })
    }

    async fn handle(
        &self,
        _myself: ActorRef<AdminMsg>,
        msg: AdminMsg,
        state: &mut AdminState,
    ) -> Result<(), ActorProcessingErr> {
        state.fault.check().await?;
        match msg {
            AdminMsg::ServerExited(reason) => Err(format!("admin server exited: {reason}").into()),
        }
    }
}

/// The API's routes.
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/api/v1/status", get(handlers::status))
        .route("/api/v1/tree", get(handlers::tree))
        .route("/api/v1/actors/{*rest}", post(handlers::actor_action))
        .route("/api/v1/faults", get(handlers::faults))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            broker.clone(),
            require_token,
        ))
        .with_state(broker)
}

/// Bearer-token check, active when a token is configured.
async fn require_token(State(broker): State<Arc<Broker>>, request: Request, next: Next) -> Response {
    if let Some(token) = &broker.config.admin.token {
        let expected = format!("Bearer {}", token.expose());
        let given = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
            return ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
        }
    }
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
