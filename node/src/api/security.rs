//! The local web UI is an attack surface: any page the person visits can make the browser send
//! requests to 127.0.0.1. This middleware enforces an exact Host allow-list (DNS rebinding), the
//! node's own Origin on every request that carries one and on every unsafe request authenticated
//! by cookie (CSRF), and sets the security headers on every answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::NodeState;
use crate::config::Config;

/// The page's Content-Security-Policy: only our own scripts and styles, no inline code.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Host header values a node listening on `http_addr` answers to (worked out once, at start:
/// [`NodeState::hosts`]).
pub fn allowed_hosts(config: &Config, http_addr: SocketAddr) -> Vec<String> {
    let port = http_addr.port();
    let mut hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    if !http_addr.ip().is_unspecified() {
        hosts.push(http_addr.to_string());
    }
    for host in &config.allowed_hosts {
        hosts.push(if host.contains(':') && !host.starts_with('[') {
            host.clone()
        } else {
            format!("{host}:{port}")
        });
    }
    hosts
}

fn origin_allowed(origin: &str, hosts: &[String]) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|host| hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
}

/// Rejects foreign Host and Origin headers, then adds the security headers to every answer,
/// refusals included.
pub async fn guard(State(state): State<Arc<NodeState>>, request: Request, next: Next) -> Response {
    let mut response = match refusal(&state, request.headers(), request.method()) {
        Some(refused) => refused.into_response(),
        None => next.run(request).await,
    };
    let h = response.headers_mut();
    // Room for the six at once, rather than growing the map as they go in.
    h.reserve(6);
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Why a request is refused before it reaches a handler, if it is.
fn refusal(state: &NodeState, headers: &HeaderMap, method: &Method) -> Option<ApiError> {
    let hosts = &state.hosts;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Some(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_host",
            "this node does not answer to that host name",
        ));
    }
    match headers.get(header::ORIGIN) {
        Some(origin) if !origin_allowed(origin.to_str().unwrap_or(""), hosts) => {
            Some(ApiError::new(
                StatusCode::FORBIDDEN,
                "bad_origin",
                "requests from other sites are refused",
            ))
        }
        None if is_unsafe(method) && uses_cookie_auth(headers) => Some(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_origin",
            "a browser request without Origin is refused",
        )),
        _ => None,
    }
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn uses_cookie_auth(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).is_none() && super::auth::session_cookie(headers).is_some()
}
