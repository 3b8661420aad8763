//! The node page, dialing peers, health and metrics.

use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use libp2p::Multiaddr;
use serde::Deserialize;
use serde_json::json;

use super::ApiJson;
use super::auth::Auth;
use super::error::ApiError;
use crate::NodeState;
use crate::net::PeerSource;

/// GET /api/v1/node
pub async fn node(
    State(state): State<Arc<NodeState>>,
    _auth: Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    let peers = state.net.peers().await.map_err(ApiError::internal)?;
    let listen: Vec<String> = state
        .net
        .listen_addrs()
        .await
        .map_err(ApiError::internal)?
        .iter()
        .map(|a| a.to_string())
        .collect();
    let status = state.net.status().await.map_err(ApiError::internal)?;
    Ok(Json(json!({
        "peer_id": state.net.peer_id().to_string(),
        "version": env!("CARGO_PKG_VERSION"),
        "name": state.config.name,
        "http_addr": state.http_addr.to_string(),
        "listen_addrs": listen,
        "external_addrs": status.external_addrs,
        "reachability": status.reachability,
        "relays": status.relays,
        "relay_server": status.relay_server,
        "peers": peers,
    })))
}

#[derive(Debug, Deserialize)]
pub struct Dial {
    addr: String,
}

/// POST /api/v1/node/peers
pub async fn dial(
    State(state): State<Arc<NodeState>>,
    _auth: Auth,
    ApiJson(body): ApiJson<Dial>,
) -> Result<StatusCode, ApiError> {
    let addr = Multiaddr::from_str(body.addr.trim()).map_err(|e| {
        ApiError::bad_request(
            "bad_address",
            format!("not a multiaddr ({e}); for example /ip4/192.168.1.20/tcp/4001"),
        )
    })?;
    state
        .net
        .dial(addr, PeerSource::Dialed)
        .await
        .map_err(|e| ApiError::bad_request("dial_failed", e.to_string()))?;
    Ok(StatusCode::ACCEPTED)
}

/// GET /healthz
pub async fn healthz() -> &'static str {
    "ok"
}

/// GET /metrics
pub async fn metrics(State(state): State<Arc<NodeState>>) -> impl IntoResponse {
    let body = state.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}
