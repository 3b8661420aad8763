//! The HTTP API and web UI server (docs/api.md).
//!
//! - [`security`]: Host and Origin checks and security headers on every request.
//! - [`auth`]: session cookie or bearer token.
//! - [`accounts`], [`rooms`], [`messages`], [`node_routes`]: the route handlers.
//! - [`ws`]: the live event WebSocket.
//! - [`assets`]: the embedded web UI.
//! - [`types`]: JSON shapes; [`error`]: the error answer.
//!
//! The API never touches the swarm: it talks to the services in [`crate::NodeState`].

pub mod accounts;
pub mod assets;
pub mod auth;
pub mod error;
pub mod files;
pub mod message_ops;
pub mod messages;
pub mod node_routes;
pub mod room_changes;
pub mod rooms;
pub mod search;
pub mod security;
pub mod signals;
pub mod types;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::routing::{delete, get, patch, post};
use axum::{Router, middleware};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::NodeState;
use error::ApiError;

/// A JSON body whose rejections answer in the API's error shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// The router with every route and middleware.
pub fn router(state: Arc<NodeState>) -> Router {
    let api = Router::new()
        .route("/accounts", post(accounts::sign_up))
        .route("/sessions", post(accounts::log_in))
        .route("/sessions/current", delete(accounts::log_out))
        .route("/me", get(accounts::me).patch(accounts::update_me))
        .route("/users", get(accounts::users))
        .route("/presence", get(accounts::presence))
        .route("/rooms", get(rooms::list).post(room_changes::create))
        .route("/rooms/{id}", get(rooms::get).patch(room_changes::update))
        .route("/rooms/{id}/members", post(room_changes::add_member))
        .route(
            "/rooms/{id}/members/{user_id}",
            delete(room_changes::remove_member),
        )
        .route("/rooms/{id}/admins", post(room_changes::add_admin))
        .route(
            "/rooms/{id}/messages",
            get(messages::list).post(messages::post),
        )
        .route(
            "/rooms/{id}/messages/{mid}",
            patch(message_ops::edit).delete(message_ops::delete),
        )
        .route(
            "/rooms/{id}/messages/{mid}/reactions",
            post(message_ops::react),
        )
        .route("/search", get(search::search))
        .route("/files", post(files::upload))
        .route("/files/{id}", get(files::download))
        .route("/rooms/{id}/typing", post(signals::typing))
        .route("/rooms/{id}/read", post(signals::read))
        .route("/node", get(node_routes::node))
        .route("/node/peers", post(node_routes::dial))
        .route("/events", get(ws::events))
        .layer(DefaultBodyLimit::max(state.config.limits.json_body));
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(node_routes::healthz))
        .route("/metrics", get(node_routes::metrics))
        .fallback(assets::serve)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}

/// Serves HTTP until `shutdown`, then lets in-flight requests finish (bounded).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<NodeState>,
    shutdown: CancellationToken,
) {
    use axum::serve::ListenerExt;
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Chat is small writes: without TCP_NODELAY, Nagle's algorithm and delayed ACKs hold a
    // WebSocket frame or a short answer back by up to 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let graceful =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    // WebSockets never end by themselves: give requests a moment, then stop.
    tokio::select! {
        result = graceful => {
            if let Err(e) = result {
                tracing::error!(error = %e, "HTTP server failed");
            }
        }
        _ = async { shutdown.cancelled().await; tokio::time::sleep(Duration::from_secs(5)).await } => {}
    }
}
