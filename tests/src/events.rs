//! [`Events`]: the live event WebSocket of one client.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::Value;

/// The live event WebSocket of one client.
pub struct Events {
    pub(crate) socket: tokio_tungstenite::WebSocketStream<
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
