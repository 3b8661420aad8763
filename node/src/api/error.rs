//! The HTTP error type: a status, a stable snake_case code and a plain message
//! (`{"error": {"code", "message"}}`); causes of server errors are logged, never sent.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::accounts::AccountError;
use crate::rooms::RoomError;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "log in first")
    }

    /// 500, logging the cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on this node; see its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_disk_full() {
            return ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "the node's disk is full: nothing was saved; free some space and try again",
            );
        }
        ApiError::internal(e)
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let message = e.to_string();
        match e {
            AccountError::UsernameTaken => {
                ApiError::new(StatusCode::CONFLICT, "username_taken", message)
            }
            AccountError::BadUsername => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_username", message)
            }
            AccountError::BadPassword => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_password", message)
            }
            AccountError::BadDisplayName => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_display_name",
                message,
            ),
            AccountError::BadCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", message)
            }
            AccountError::RateLimited(wait) => ApiError {
                retry_after: Some(wait),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            },
            AccountError::Unauthorized => ApiError::unauthorized(),
            AccountError::Store(e) => e.into(),
            AccountError::Keys(e) => ApiError::internal(e),
        }
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::Rejected(why) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_message",
                format!("{why:?}"),
            ),
            RoomError::Conflict => ApiError::new(StatusCode::CONFLICT, "conflict", "try again"),
            RoomError::Forbidden(why) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", why),
            RoomError::Store(e) => e.into(),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        match e {
            R::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            ),
            R::JsonDataError(e) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_json", e.body_text())
            }
            other => ApiError::bad_request("bad_json", other.body_text()),
        }
    }
}
