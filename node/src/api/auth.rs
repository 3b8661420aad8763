//! Authentication: the session cookie or `Authorization: Bearer TOKEN`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};

use super::error::ApiError;
use crate::NodeState;
use crate::accounts::Session;

/// Name of the session cookie.
pub const COOKIE: &str = "chatly_session";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth(pub Session);

impl FromRequestParts<Arc<NodeState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<NodeState>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)
            .or_else(|| session_cookie(&parts.headers))
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Auth(state.accounts.authenticate(&token).await?))
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// A `Set-Cookie` value for a new session: HttpOnly, SameSite=Strict; persistent only when asked.
pub fn set_cookie(token: &str, max_age: Option<std::time::Duration>) -> String {
    let mut cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    cookie
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}
