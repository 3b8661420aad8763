//! Accounts, sessions, the caller's profile, people and presence.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::ApiJson;
use super::auth::{self, Auth};
use super::error::ApiError;
use super::types::UserJson;
use crate::NodeState;
use crate::accounts::AccountError;
use crate::rooms::Profile;
use crate::store::users::UserRow;
use chatly_protocol::{AccountId, MAX_BIO_CHARS, MAX_DISPLAY_NAME_CHARS};

#[derive(Debug, Deserialize)]
pub struct SignUp {
    username: String,
    password: String,
    display_name: Option<String>,
}

/// POST /api/v1/accounts
pub async fn sign_up(
    State(state): State<Arc<NodeState>>,
    ApiJson(body): ApiJson<SignUp>,
) -> Result<Response, ApiError> {
    let display_name = body
        .display_name
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| body.username.clone());
    if display_name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(AccountError::BadDisplayName.into());
    }
    let keys = state
        .accounts
        .sign_up(&body.username, &body.password)
        .await?;
    let profile = Profile {
        username: body.username,
        display_name,
        bio: String::new(),
        avatar: None,
        node_addrs: Vec::new(),
    };
    let row = state.rooms.publish_profile(&keys, &profile).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user_json(&state, &row)})),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct LogIn {
    username: String,
    password: String,
    #[serde(default)]
    remember_me: bool,
}

/// POST /api/v1/sessions
pub async fn log_in(
    State(state): State<Arc<NodeState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LogIn>,
) -> Result<Response, ApiError> {
    let login = state
        .accounts
        .log_in(
            &body.username,
            &body.password,
            body.remember_me,
            &client.ip().to_string(),
        )
        .await?;
    let user = state
        .rooms
        .user(login.session.user)
        .await?
        .ok_or_else(|| ApiError::internal("a local account has no directory entry"))?;
    let cookie = auth::set_cookie(&login.token, login.persistent.then_some(login.ttl));
    let body = json!({"token": login.token, "user": user_json(&state, &user)});
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// DELETE /api/v1/sessions/current
pub async fn log_out(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
) -> Result<Response, ApiError> {
    state.accounts.log_out(&session).await?;
    state.search.forget(&session.user);
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, auth::clear_cookie())],
    )
        .into_response())
}

/// GET /api/v1/me
pub async fn me(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
) -> Result<Json<UserJson>, ApiError> {
    let user = state
        .rooms
        .user(session.user)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    Ok(Json(user_json(&state, &user)))
}

#[derive(Debug, Deserialize)]
pub struct ProfilePatch {
    display_name: Option<String>,
    bio: Option<String>,
    /// Absent: unchanged; `null`: removed; a file id: that image.
    #[serde(default, deserialize_with = "present")]
    avatar: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Largest profile picture.
const MAX_AVATAR_BYTES: u64 = 10 * 1024 * 1024;

/// PATCH /api/v1/me
pub async fn update_me(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> Result<Json<UserJson>, ApiError> {
    let current = state
        .rooms
        .user(session.user)
        .await?
        .ok_or_else(|| ApiError::not_found("no such account"))?;
    let display_name = patch
        .display_name
        .map(|d| d.trim().to_string())
        .unwrap_or(current.display_name);
    if display_name.is_empty() || display_name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_display_name",
            "a display name is 1 to 64 characters",
        ));
    }
    let bio = patch.bio.unwrap_or(current.bio);
    if bio.chars().count() > MAX_BIO_CHARS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_bio",
            "a bio is at most 280 characters",
        ));
    }
    let avatar = match patch.avatar {
        None => match current.avatar.as_deref().and_then(|a| hex::decode(a).ok()) {
            Some(id) => {
                let id: [u8; 32] = id.try_into().unwrap_or([0; 32]);
                state
                    .store
                    .read(move |c| {
                        crate::store::files::get(c, &[crate::store::messages::PUBLIC_VIEWER], &id)
                    })
                    .await?
                    .and_then(|row| row.public_ref())
            }
            None => None,
        },
        Some(None) => None,
        Some(Some(id)) => {
            let file = super::files::refs_for(&state, &session, &[id])
                .await?
                .pop()
                .ok_or_else(|| ApiError::not_found("no such file"))?;
            if !file.mime.starts_with("image/") || file.mime == "image/svg+xml" {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_avatar",
                    "a profile picture is a PNG, JPEG, GIF or WebP image",
                ));
            }
            if file.size > MAX_AVATAR_BYTES {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "avatar_too_large",
                    "a profile picture is at most 10 MiB",
                ));
            }
            Some(file)
        }
    };
    let profile = Profile {
        username: current.username,
        display_name,
        bio,
        avatar,
        node_addrs: Vec::new(),
    };
    let row = state.rooms.publish_profile(&session.keys, &profile).await?;
    Ok(Json(user_json(&state, &row)))
}

/// GET /api/v1/users
pub async fn users(
    State(state): State<Arc<NodeState>>,
    _auth: Auth,
) -> Result<Json<Vec<UserJson>>, ApiError> {
    let rows = state.store.read(crate::store::users::all).await?;
    let presence = state.presence.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Json(
        rows.iter()
            .map(|row| UserJson::new(row, &presence))
            .collect(),
    ))
}

/// GET /api/v1/presence
pub async fn presence(State(state): State<Arc<NodeState>>, _auth: Auth) -> Json<serde_json::Value> {
    let online: Vec<String> = state
        .presence
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .online()
        .iter()
        .map(|id: &AccountId| hex::encode(id.0))
        .collect();
    Json(json!({"online_count": online.len(), "online": online}))
}

/// A directory row as `User`.
pub fn user_json(state: &NodeState, row: &UserRow) -> UserJson {
    UserJson::new(
        row,
        &state.presence.lock().unwrap_or_else(|e| e.into_inner()),
    )
}
