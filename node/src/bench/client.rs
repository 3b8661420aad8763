//! Minimal clients for benchmarks: HTTP/1.1 with keep-alive over one TCP connection (enough for the
//! node's JSON API) and the event WebSocket. Measuring through the real API means measuring what a
//! person's browser waits for.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection to a node's API, with a bearer token.
pub struct Http {
    addr: SocketAddr,
    token: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    /// A client of the node at `addr` (connects on first use).
    pub fn new(addr: SocketAddr, token: String) -> Self {
        Self {
            addr,
            token,
            conn: None,
        }
    }

    /// Sends one request with a JSON body; returns the status and the parsed body.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let (status, body) = self.request_raw(method, path, body).await?;
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or(Value::Null)
        };
        Ok((status, value))
    }

    /// Like [`Http::request`], but the body is returned as it came: a client that only needs the
    /// status (a throughput poster) does not spend the machine's CPU, which the nodes it measures
    /// share, on parsing it.
    pub async fn request_raw(
        &mut self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let body = body.to_string();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            self.token,
            body.len()
        );
        for attempt in 0..2 {
            if self.conn.is_none() {
                let stream = TcpStream::connect(self.addr).await?;
                stream.set_nodelay(true)?;
                self.conn = Some(BufReader::new(stream));
            }
            let conn = self.conn.as_mut().context("connected")?;
            let request = [head.as_bytes(), body.as_bytes()].concat();
            let sent = async {
                conn.get_mut().write_all(&request).await?;
                read_response(conn).await
            }
            .await;
            match sent {
                Ok(answer) => return Ok(answer),
                // The server may have closed an idle keep-alive connection: reconnect once.
                Err(e) if attempt == 0 => {
                    tracing::debug!(error = %e, "reconnecting");
                    self.conn = None;
                }
                Err(e) => return Err(e),
            }
        }
        bail!("unreachable")
    }
}

async fn read_response(conn: &mut BufReader<TcpStream>) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        bail!("connection closed");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("status line")?;
    let mut length = 0usize;
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse()?;
        }
    }
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await?;
    Ok((status, body))
}

/// The event WebSocket of one account.
pub struct Events {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
}

impl Events {
    /// Opens it.
    pub async fn open(addr: SocketAddr, token: &str) -> anyhow::Result<Events> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{addr}/api/v1/events").into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        // tungstenite zeroes its read buffer before every read: 8 KiB, not 128, when a load
        // bench runs hundreds of these beside the node.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8192);
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        Ok(Events { socket })
    }

    /// The next frame's JSON (text frames only).
    pub async fn next(&mut self) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.next_text().await?)?)
    }

    /// The next text frame, unparsed (a load client counting frames need not parse them).
    pub async fn next_text(&mut self) -> anyhow::Result<String> {
        loop {
            let frame = self.socket.next().await.context("the socket closed")??;
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                return Ok(text.to_string());
            }
        }
    }
}
