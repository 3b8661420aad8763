//! `POST /api/v1/files` (streamed upload) and `GET /api/v1/files/{id}` (streamed download,
//! fetched from peers when not held here).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::Auth;
use super::error::ApiError;
use crate::NodeState;
use crate::files::FileError;
use chatly_protocol::{FileRef, MAX_FILE_NAME_LEN, MAX_MIME_LEN};

/// Types shown inline; everything else is a download. No SVG: it can carry script.
const INLINE: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
];

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::TooLarge(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                e.to_string(),
            ),
            FileError::NotFound => ApiError::not_found("no such file"),
            FileError::Unavailable => {
                ApiError::new(StatusCode::NOT_FOUND, "file_unavailable", e.to_string())
            }
            FileError::Upload(_) => ApiError::bad_request("upload_failed", e.to_string()),
            FileError::Store(e) => e.into(),
            FileError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "the node's disk is full: the file was not kept; free some space and try again",
            ),
            FileError::Io(e) => ApiError::internal(format!("file storage: {e}")),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

/// A file name safe to store and offer: no path separators or control characters, at most 255
/// bytes (cut at a character boundary), never empty.
fn clean_name(name: Option<String>) -> String {
    let cleaned: String = name
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut end = cleaned.len().min(MAX_FILE_NAME_LEN);
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    match &cleaned[..end] {
        "" | "." | ".." => "file".to_string(),
        name => name.to_string(),
    }
}

/// The declared type if it looks like one (`type/subtype`, printable), else unknown.
fn clean_mime(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| {
            v.len() <= MAX_MIME_LEN
                && v.split_once('/')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                && v.chars().all(|c| c.is_ascii_graphic())
        })
        .unwrap_or_else(|| "application/octet-stream".into())
}

/// POST /api/v1/files?name=NAME: the raw body, streamed to disk. 201 `{id, name, size, mime}`;
/// 413 over the limit, with nothing left behind.
pub async fn upload(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > state.files.limit) {
        return Err(FileError::TooLarge(state.files.limit).into());
    }
    let mime = clean_mime(request.headers().get(header::CONTENT_TYPE));
    let name = clean_name(query.name);
    let body = request.into_body().into_data_stream();
    let row = state.files.upload(&session.keys, name, mime, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": hex::encode(row.id),
            "name": row.name,
            "size": row.size,
            "mime": row.mime,
        })),
    ))
}

/// GET /api/v1/files/{id}: the bytes, streamed as they are fetched. Images inline, all else as an
/// attachment, always `nosniff`; 404 when unknown or when no reachable node has it.
pub async fn download(
    State(state): State<Arc<NodeState>>,
    Auth(session): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: [u8; 32] = hex::decode(&id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::not_found("no such file"))?;
    let (row, key) = state.files.open(&session.keys, id).await?;
    if let Some(first) = row.hashes.first() {
        // Fail with a 404 before the 200 when nothing of it can be had.
        state.files.chunk(*first).await?;
    }
    let inline = INLINE.contains(&row.mime.as_str());
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        percent_encode(&row.name)
    );
    let content_type = if inline {
        row.mime.clone()
    } else {
        "application/octet-stream".to_string()
    };
    let size = row.size;
    let stream = state.files.stream(session.user, row, key);
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, &content_type);
    set(header::CONTENT_LENGTH, &size.to_string());
    set(header::CONTENT_DISPOSITION, &disposition);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CACHE_CONTROL,
        "private, max-age=31536000, immutable",
    );
    Ok(response)
}

/// RFC 5987 percent-encoding of a file name.
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The references a new message carries for `ids`: 422 for an id the caller cannot attach.
pub async fn refs_for(
    state: &NodeState,
    session: &crate::accounts::Session,
    ids: &[String],
) -> Result<Vec<FileRef>, ApiError> {
    let mut refs = Vec::with_capacity(ids.len());
    for id in ids {
        let bad = || {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_file",
                format!("{id} is not a file you uploaded or received"),
            )
        };
        let id: [u8; 32] = hex::decode(id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        refs.push(
            state
                .files
                .file_ref(&session.keys, id)
                .await
                .map_err(|e| match e {
                    FileError::NotFound => bad(),
                    other => other.into(),
                })?,
        );
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(
            clean_name(Some("../../etc/passwd".into())),
            ".._.._etc_passwd"
        );
        assert_eq!(clean_name(Some("a\u{0}b\nc".into())), "a_b_c");
        assert_eq!(clean_name(None), "file");
        assert_eq!(clean_name(Some("..".into())), "file");
        let long = "é".repeat(200);
        assert!(clean_name(Some(long)).len() <= MAX_FILE_NAME_LEN);
    }

    #[test]
    fn mime_types_are_checked() {
        let v = HeaderValue::from_static("Image/PNG; charset=x");
        assert_eq!(clean_mime(Some(&v)), "image/png");
        let bad = HeaderValue::from_static("text");
        assert_eq!(clean_mime(Some(&bad)), "application/octet-stream");
        assert_eq!(clean_mime(None), "application/octet-stream");
    }
}
