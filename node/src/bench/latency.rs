//! Latency: a message posted through the HTTP API on node A until `message.created` arrives on
//! the event WebSocket of an account on every other node; 2 nodes and a 10-node mesh, public room
//! and encrypted group. Baseline, same run: a 200-byte payload published on one bare gossipsub
//! node (the same network layer, nothing on top) until it arrives at every other one. The cases
//! and the baseline take turns, in rounds (see [`ROUNDS`]).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

use super::bare::{self, BareNode};
use super::client::{Events, Http};
use super::nodes::{self, BenchNode};
use super::{Figure, Scenario};

/// The pause between one sample's arrival everywhere and the next post (and the same for the
/// baseline's payloads).
const PACE: Duration = Duration::from_millis(10);

const BASELINE: &str = "latency: the same network layer (transport, Noise, Yamux, gossipsub settings) with 200-byte payloads and nothing on top";

/// Sorted samples in milliseconds → (p50, p99, max).
pub fn percentiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    if ms.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    (at(0.5), at(0.99), ms[ms.len() - 1])
}

/// What a listener reads of an event frame: the rest is skipped, not parsed into a tree (the
/// listeners share the machine's CPU with the nodes they measure).
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    message: Option<Message>,
}

/// A new message's text, the one field a listener needs of it.
#[derive(serde::Deserialize)]
struct Message {
    text: Option<String>,
}

/// Listens on each account's socket and reports (text, when) of every new message.
pub async fn listen(sockets: Vec<Events>) -> mpsc::UnboundedReceiver<(usize, String, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    for (i, mut socket) in sockets.into_iter().enumerate() {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(frame) = socket.next_text().await {
                if let Ok(Frame {
                    kind,
                    message: Some(Message { text: Some(text) }),
                }) = serde_json::from_str(&frame)
                    && kind == "message.created"
                {
                    let _ = tx.send((i, text, Instant::now()));
                }
            }
        });
    }
    rx
}

/// Waits until every listener saw `text`; returns each one's delay from `sent`.
pub(super) async fn arrivals(
    rx: &mut mpsc::UnboundedReceiver<(usize, String, Instant)>,
    listeners: usize,
    text: &str,
    sent: Instant,
) -> anyhow::Result<Vec<f64>> {
    let mut seen = vec![None; listeners];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen.iter().any(Option::is_none) {
        let (i, got, at) = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .map_err(|_| anyhow::anyhow!("{text:?} did not reach every node"))?
            .ok_or_else(|| anyhow::anyhow!("listeners stopped"))?;
        if got == text && seen[i].is_none() {
            seen[i] = Some(at.duration_since(sent).as_secs_f64() * 1000.0);
        }
    }
    Ok(seen.into_iter().flatten().collect())
}

/// A mesh of `n` Chatly nodes with one account each: the author's HTTP client (node 0), the
/// others' event sockets, and every account id.
pub struct Room {
    /// The nodes.
    pub nodes: Vec<BenchNode>,
    /// The author's API client.
    pub author: Http,
    /// The author's bearer token (for more clients).
    pub token: String,
    /// The other accounts' sockets, merged.
    pub arrivals: mpsc::UnboundedReceiver<(usize, String, Instant)>,
    /// Where to post: "public" or a group id.
    pub room: String,
}

impl Room {
    /// Builds it; `group` makes an encrypted group of all the accounts.
    pub async fn new(n: usize, group: bool) -> anyhow::Result<Room> {
        let nodes = nodes::mesh(n).await?;
        let mut tokens = Vec::new();
        let mut ids = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let (keys, token) = node.login(&format!("user{i}")).await?;
            ids.push(keys.account_id().to_hex());
            tokens.push(token);
        }
        for node in &nodes {
            node.wait_users(n).await?;
        }
        let mut author = Http::new(nodes[0].handle.http_addr, tokens[0].clone());
        let mut sockets = Vec::new();
        for (node, token) in nodes.iter().zip(&tokens).skip(1) {
            sockets.push(Events::open(node.handle.http_addr, token).await?);
        }
        let room = if group {
            let (status, room) = author
                .request(
                    "POST",
                    "/api/v1/rooms",
                    &json!({"kind": "group", "name": "bench", "members": ids[1..]}),
                )
                .await?;
            anyhow::ensure!(status == 201, "group: {status} {room}");
            room["id"].as_str().unwrap_or_default().to_string()
        } else {
            "public".to_string()
        };
        let arrivals = listen(sockets).await;
        let mut this = Room {
            nodes,
            author,
            token: tokens[0].clone(),
            arrivals,
            room,
        };
        // Warm up: key deliveries, gossipsub mesh, connections in the HTTP client. Paced as the
        // samples are: a post within `net::publish::HOLD` of the last payload waits out the
        // rest of it, so the first sample would pay for the last warm-up.
        for i in 0..3 {
            this.send_and_wait(&format!("warm-up {i}")).await?;
            tokio::time::sleep(PACE).await;
        }
        Ok(this)
    }

    /// Posts `text` on the first node; returns when it reached the others (ms after the post
    /// was sent), and when the 201 came back (ms).
    pub async fn send_and_wait(&mut self, text: &str) -> anyhow::Result<(Vec<f64>, f64)> {
        let sent = Instant::now();
        let path = format!("/api/v1/rooms/{}/messages", self.room);
        let (status, body) = self
            .author
            .request("POST", &path, &json!({"text": text}))
            .await?;
        let acknowledged = sent.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(status == 201, "post: {status} {body}");
        let arrived = arrivals(&mut self.arrivals, self.nodes.len() - 1, text, sent).await?;
        Ok((arrived, acknowledged))
    }

    /// Stops every node.
    pub async fn stop(self) {
        for node in self.nodes {
            node.stop().await;
        }
    }
}

async fn bare_latency(n: usize, samples: usize) -> anyhow::Result<Vec<f64>> {
    let nodes: Vec<BareNode> = bare::mesh(n).await?;
    let mut delays = Vec::new();
    for seq in 0..(samples + 3) as u32 {
        let sent = Instant::now();
        nodes[0].publish(1, seq).await?;
        for node in &nodes[1..] {
            let mut rx = node.received.lock().await;
            loop {
                let (data, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .map_err(|_| anyhow::anyhow!("a bare payload was lost"))?
                    .ok_or_else(|| anyhow::anyhow!("bare node stopped"))?;
                if bare::seq_of(&data) == Some((1, seq)) {
                    if seq >= 3 {
                        delays.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(PACE).await;
    }
    for node in &nodes {
        node.stop();
    }
    Ok(delays)
}

/// Rounds each latency case is measured in. A round takes every case in turn, bare gossipsub
/// included, each on a mesh of its own started for it, with the order rotated from round to
/// round: the cases and their baseline share the same moments of a shared machine, so a slow
/// minute does not land on one side of a ratio only.
const ROUNDS: usize = 4;

/// One case of a round: bare gossipsub, or Chatly's public room (`false`) or encrypted group.
#[derive(Clone, Copy)]
enum Case {
    Bare,
    Chatly { group: bool },
}

/// Each case's samples, pooled over the rounds: delays in ms, and the 201's for Chatly.
#[derive(Default)]
struct Pooled {
    delays: Vec<f64>,
    acks: Vec<f64>,
}

/// `samples` Chatly posts on a fresh `n`-node room: each arrival's delay, and each 201's.
async fn chatly_latency(n: usize, group: bool, samples: usize) -> anyhow::Result<Pooled> {
    let mut room = Room::new(n, group).await?;
    let mut pooled = Pooled::default();
    for i in 0..samples {
        let (arrived, acknowledged) = room.send_and_wait(&format!("latency sample {i}")).await?;
        pooled.delays.extend(arrived);
        pooled.acks.push(acknowledged);
        tokio::time::sleep(PACE).await;
    }
    room.stop().await;
    Ok(pooled)
}

/// Runs the scenario.
pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let (rounds, per_round) = if quick { (1, 10) } else { (ROUNDS, 100) };
    let cases = [
        Case::Bare,
        Case::Chatly { group: false },
        Case::Chatly { group: true },
    ];
    let mut figures = Vec::new();
    for n in [2usize, 10] {
        let mut pooled: Vec<Pooled> = cases.iter().map(|_| Pooled::default()).collect();
        for round in 0..rounds {
            for at in super::turns(round, cases.len()) {
                let got = match cases[at] {
                    Case::Bare => Pooled {
                        delays: bare_latency(n, per_round).await?,
                        acks: Vec::new(),
                    },
                    Case::Chatly { group } => chatly_latency(n, group, per_round).await?,
                };
                pooled[at].delays.extend(got.delays);
                pooled[at].acks.extend(got.acks);
            }
        }
        // In the order of `cases`: the baseline, then the public room and the group.
        let mut pooled = pooled.into_iter();
        let bare = pooled.next().unwrap_or_default();
        let (b50, b99, bmax) = percentiles(bare.delays);
        for (group, samples) in [false, true].into_iter().zip(pooled) {
            let (p50, p99, max) = percentiles(samples.delays);
            let (ack50, ack99, _) = percentiles(samples.acks);
            let kind = if group {
                "encrypted group"
            } else {
                "public room"
            };
            for (what, value, baseline) in
                [("p50", p50, b50), ("p99", p99, b99), ("max", max, bmax)]
            {
                let figure = Figure {
                    scenario: Scenario::Latency,
                    case: format!("{n} nodes, {kind}, {what}"),
                    value,
                    unit: "ms",
                    baseline: Some(baseline),
                    baseline_is: BASELINE,
                    detail: format!(
                        "{} messages in {rounds} rounds alternating with the baseline, every other node; the 201 came back after p50 {ack50:.2} / p99 {ack99:.2} ms",
                        rounds * per_round
                    ),
                    target: None,
                };
                // Issue 7's latency targets, for the public room and the encrypted group alike.
                figures.push(match (n, what) {
                    (2, "p50") => figure.held_to("under 2 ms and within 4x", |f| {
                        f.value < 2.0 && f.ratio().is_some_and(|r| r <= 4.0)
                    }),
                    (2, "p99") => figure.held_to("under 10 ms", |f| f.value < 10.0),
                    (10, "p99") => {
                        figure.held_to("within 3x", |f| f.ratio().is_some_and(|r| r <= 3.0))
                    }
                    _ => figure,
                });
            }
        }
    }
    Ok(figures)
}
