//! The multi-node test harness: real nodes in-process (temp dirs, port 0), an HTTP client per
//! node, a WebSocket event client, and `wait_for` instead of sleeps.
//!
//! - [`TestNode`]: one node, restartable on the same data dir.
//! - [`Client`]: the HTTP API as a logged-in (or anonymous) client.
//! - [`Events`]: the live event WebSocket.
//! - [`wait_for`]: poll a condition until it holds or a generous bound passes.
//! - [`netns`]: network namespaces joined by a bridge, for LAN tests (root only).

pub mod nat;
pub mod netns;
pub mod process;
pub mod rawpeer;
pub mod relayflood;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chatly::{Config, NodeHandle};
use futures::StreamExt;
use libp2p::Multiaddr;
use serde_json::{Value, json};

/// Bound for things that normally take milliseconds: only there to catch hangs.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node running in this process.
pub struct TestNode {
    /// The running node (None while stopped).
    pub handle: Option<NodeHandle>,
    /// Its data directory (kept across restarts).
    pub dir: PathBuf,
    /// Addresses it dials at start.
    pub peers: Vec<Multiaddr>,
    /// Changes to the default test config, applied at every (re)start.
    pub tweak: fn(&mut Config),
    _temp: Option<tempfile::TempDir>,
}

impl TestNode {
    /// Starts a node in a new temporary directory, dialing `peers`.
    pub async fn start(peers: Vec<Multiaddr>) -> Result<TestNode> {
        Self::start_with(peers, |_| {}).await
    }

    /// Starts a node whose config `tweak` adjusts (at every restart too).
    pub async fn start_with(peers: Vec<Multiaddr>, tweak: fn(&mut Config)) -> Result<TestNode> {
        let temp = tempfile::Builder::new().prefix("chatly-test-").tempdir()?;
        let dir = temp.path().to_path_buf();
        let mut node = TestNode {
            handle: None,
            dir,
            peers,
            tweak,
            _temp: Some(temp),
        };
        node.restart().await?;
        Ok(node)
    }

    /// Starts a node whose data lives in `dir` (kept after the node is dropped).
    pub async fn start_in(dir: PathBuf, peers: Vec<Multiaddr>) -> Result<TestNode> {
        let mut node = TestNode {
            handle: None,
            dir,
            peers,
            tweak: |_| {},
            _temp: None,
        };
        node.restart().await?;
        Ok(node)
    }

    /// Starts (or starts again) the node on its data dir.
    pub async fn restart(&mut self) -> Result<()> {
        anyhow::ensure!(self.handle.is_none(), "the node is running");
        let mut config = Config::local(self.dir.clone());
        config.peers = self.peers.clone();
        (self.tweak)(&mut config);
        let mut handle = NodeHandle::spawn(config).await.context("node start")?;
        handle.wait_listening().await;
        self.handle = Some(handle);
        Ok(())
    }

    /// Stops the node gracefully, keeping its data dir.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }

    fn running(&self) -> &NodeHandle {
        self.handle.as_ref().expect("the node is stopped")
    }

    /// Its first listen address (with `/p2p/<peer id>`).
    pub fn addr(&self) -> Multiaddr {
        self.running()
            .listen_addrs
            .borrow()
            .first()
            .cloned()
            .expect("listening")
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// An anonymous API client.
    pub fn client(&self) -> Client {
        Client::new(format!("http://{}", self.running().http_addr), None)
    }

    /// Signs up and logs in; returns the logged-in client.
    pub async fn account(&self, username: &str, password: &str) -> Result<Client> {
        let client = self.client();
        let (status, body) = client
            .post(
                "/api/v1/accounts",
                json!({"username": username, "password": password}),
            )
            .await?;
        anyhow::ensure!(status == 201, "sign up {username}: {status} {body}");
        client.log_in(username, password).await
    }
}

/// Starts `n` nodes, each dialing the ones before it, and waits until each sees the others.
pub async fn mesh(n: usize) -> Result<Vec<TestNode>> {
    let mut nodes: Vec<TestNode> = Vec::new();
    for _ in 0..n {
        let peers = nodes.iter().map(TestNode::addr).collect();
        nodes.push(TestNode::start(peers).await?);
    }
    for node in &nodes {
        let net = node.running().state.net.clone();
        wait_for("the mesh to connect", PATIENCE, || {
            let net = net.clone();
            async move { (net.peers().await.ok()?.len() >= n - 1).then_some(()) }
        })
        .await?;
    }
    Ok(nodes)
}

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

/// The live event WebSocket of one client.
pub struct Events {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Events {
    /// The next event of `kind` that satisfies `matches`, within `timeout`.
    pub async fn expect(
        &mut self,
        kind: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .with_context(|| format!("no {kind} event within {timeout:?}"))?
                .context("the event socket closed")??;
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                let event: Value = serde_json::from_str(&text)?;
                if event["type"] == kind && matches(&event) {
                    return Ok(event);
                }
            }
        }
    }

    /// Every event that arrives within `window`.
    pub async fn drain(&mut self, window: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, self.socket.next()).await
        {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame
                && let Ok(event) = serde_json::from_str(&text)
            {
                out.push(event);
            }
        }
        out
    }
}

/// Does any file under `dir` contain `needle`?
pub fn dir_contains(dir: &Path, needle: &[u8]) -> Result<bool> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if dir_contains(&path, needle)? {
                return Ok(true);
            }
        } else if std::fs::read(&path)?
            .windows(needle.len())
            .any(|w| w == needle)
        {
            return Ok(true);
        }
    }
    Ok(false)
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

/// Everything every in-process node logs at debug level, captured for inspection.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Installs the capture as this test process's subscriber (chatly at debug, the rest at info).
    pub fn install() -> LogCapture {
        let capture = LogCapture::default();
        let writer = capture.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("chatly=debug,info"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        capture
    }

    /// Whether the captured log contains `needle`.
    pub fn contains(&self, needle: &[u8]) -> bool {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        log.windows(needle.len()).any(|w| w == needle)
    }

    /// Bytes captured so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bound for catching up large backlogs: only there to catch hangs.
pub const CATCH_UP: Duration = Duration::from_secs(60);

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

/// The people most multi-node tests start with: alice, bob and carol, one on each of the first
/// three nodes, once every node knows all three.
pub async fn alice_bob_carol(nodes: &[TestNode]) -> Result<(Client, Client, Client)> {
    let alice = nodes[0].account("alice", "correct horse").await?;
    let bob = nodes[1].account("bob", "battery staple").await?;
    let carol = nodes[2].account("carol", "purple monkey").await?;
    for client in [&alice, &bob, &carol] {
        client.wait_users(3, PATIENCE).await?;
    }
    Ok((alice, bob, carol))
}
