//! [`Client`]: the HTTP API as a logged-in (or anonymous) client of one node.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::{Events, TestNode, wait_for};

/// The HTTP API, as one client.
#[derive(Clone)]
pub struct Client {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Bearer token once logged in.
    pub token: Option<String>,
    /// The logged-in user's id.
    pub user_id: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of the node at `base`.
    pub fn new(base: String, token: Option<String>) -> Self {
        Self {
            base,
            token,
            user_id: None,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value)> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, body))
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// POST JSON to a path.
    pub async fn post(&self, path: &str, body: Value) -> Result<(u16, Value)> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// DELETE a path.
    pub async fn delete(&self, path: &str) -> Result<(u16, Value)> {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// Logs in; returns a client carrying the token.
    pub async fn log_in(&self, username: &str, password: &str) -> Result<Client> {
        let (status, body) = self
            .post(
                "/api/v1/sessions",
                json!({"username": username, "password": password}),
            )
            .await?;
        anyhow::ensure!(status == 200, "log in {username}: {status} {body}");
        let mut client = Client::new(self.base.clone(), body["token"].as_str().map(String::from));
        client.user_id = body["user"]["id"].as_str().map(String::from);
        Ok(client)
    }

    /// Posts a message; returns it.
    pub async fn say(&self, room: &str, text: &str) -> Result<Value> {
        let (status, body) = self
            .post(
                &format!("/api/v1/rooms/{room}/messages"),
                json!({"text": text}),
            )
            .await?;
        anyhow::ensure!(status == 201, "post: {status} {body}");
        Ok(body)
    }

    /// All messages of a room, oldest first (follows `has_more` pages).
    pub async fn history(&self, room: &str) -> Result<Vec<Value>> {
        let mut all: Vec<Value> = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let path = match &before {
                Some(id) => format!("/api/v1/rooms/{room}/messages?limit=200&before={id}"),
                None => format!("/api/v1/rooms/{room}/messages?limit=200"),
            };
            let (status, body) = self.get(&path).await?;
            anyhow::ensure!(status == 200, "history: {status} {body}");
            let page = body["messages"].as_array().cloned().unwrap_or_default();
            before = page
                .first()
                .and_then(|m| m["id"].as_str())
                .map(String::from);
            let more = body["has_more"].as_bool().unwrap_or(false);
            let mut merged = page;
            merged.extend(all);
            all = merged;
            if !more || before.is_none() {
                return Ok(all);
            }
        }
    }

    /// Texts of a room's history.
    pub async fn texts(&self, room: &str) -> Result<Vec<String>> {
        Ok(self
            .history(room)
            .await?
            .iter()
            .filter_map(|m| m["text"].as_str().map(String::from))
            .collect())
    }

    /// Opens the event WebSocket.
    pub async fn events(&self) -> Result<Events> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!(
            "{}/api/v1/events",
            self.base.replacen("http://", "ws://", 1)
        );
        let mut request = url.into_client_request()?;
        if let Some(token) = &self.token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Events { socket })
    }
}

impl Client {
    /// The same session, talking to `node` (after a restart its port changed).
    pub fn clone_for(&self, node: &TestNode) -> Client {
        let mut client = node.client();
        client.token = self.token.clone();
        client.user_id = self.user_id.clone();
        client
    }
}

impl Client {
    /// PATCH JSON to a path.
    pub async fn patch_json(&self, path: &str, body: Value) -> Result<(u16, Value)> {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(&body))
            .await
    }
}

impl Client {
    /// Waits until the room's texts are exactly `expected`, in order (polling every 250 ms, since
    /// a long history is several requests); on timeout says how far it got.
    pub async fn wait_texts(&self, room: &str, expected: &[String], bound: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let texts = self.texts(room).await.unwrap_or_default();
            if texts == expected {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let missing = expected.iter().filter(|t| !texts.contains(t)).count();
                bail!(
                    "{room}: after {bound:?} {} of {} texts, {missing} missing, order {}",
                    texts.len(),
                    expected.len(),
                    if missing == 0 { "differs" } else { "unchecked" }
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the room holds `text`.
    pub async fn wait_text(&self, room: &str, text: &str, bound: Duration) -> Result<()> {
        wait_for(&format!("{text:?} in {room}"), bound, || async {
            self.texts(room)
                .await
                .ok()?
                .iter()
                .any(|t| t == text)
                .then_some(())
        })
        .await
    }

    /// Creates a group with `members` (user ids); returns its id.
    pub async fn create_group(&self, name: &str, members: &[&str]) -> Result<String> {
        let (status, room) = self
            .post(
                "/api/v1/rooms",
                json!({"kind": "group", "name": name, "members": members}),
            )
            .await?;
        anyhow::ensure!(status == 201, "create group: {status} {room}");
        Ok(room["id"].as_str().context("room id")?.to_string())
    }

    /// Opens (or finds) the direct room with `user`; returns its id.
    pub async fn direct_with(&self, user: &str) -> Result<String> {
        let (status, room) = self
            .post("/api/v1/rooms", json!({"kind": "direct", "user_id": user}))
            .await?;
        anyhow::ensure!(status == 200 || status == 201, "direct: {status} {room}");
        Ok(room["id"].as_str().context("room id")?.to_string())
    }

    /// Waits until this client sees `n` accounts.
    pub async fn wait_users(&self, n: usize, bound: Duration) -> Result<()> {
        wait_for(&format!("{n} accounts"), bound, || async {
            let (_, users) = self.get("/api/v1/users").await.ok()?;
            (users.as_array()?.len() == n).then_some(())
        })
        .await
    }
}

impl Client {
    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Uploads `bytes` as a file; returns the status and the answer.
    pub async fn upload(&self, name: &str, mime: &str, bytes: Vec<u8>) -> Result<(u16, Value)> {
        let request = self
            .http
            .post(format!("{}/api/v1/files", self.base))
            .query(&[("name", name)])
            .header("content-type", mime)
            .body(bytes);
        self.send(request).await
    }

    /// Downloads a file: status, headers and body. With `stop_after`, reads only that many bytes
    /// and drops the connection (an interrupted download).
    pub async fn download(
        &self,
        id: &str,
        stop_after: Option<usize>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>)> {
        let mut response = self
            .authed(self.http.get(format!("{}/api/v1/files/{id}", self.base)))
            .send()
            .await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            if stop_after.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
        Ok((status, headers, body))
    }
}
