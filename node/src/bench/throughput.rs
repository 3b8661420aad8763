//! Throughput: one account posts as fast as the API accepts (16 requests in flight) into a room
//! shared with accounts on the other nodes; every message must reach them all (zero loss). Public
//! room and encrypted group, on 2 nodes, 4 nodes and a 10-node mesh (6 in a quick run). Baseline, same
//! run: bare gossipsub (the same network layer, 200-byte payloads) publishing from one node to
//! the same number of others.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use super::bare;
use super::client::Http;
use super::latency::Room;
use super::{Figure, Scenario};

const BASELINE: &str = "throughput: bare gossipsub, 200-byte payloads from one node to as many others, same network layer";
const IN_FLIGHT: usize = 16;

/// Posts `count` messages with `IN_FLIGHT` clients; returns (accept seconds, deliver seconds,
/// lost, CPU seconds of the whole process, nodes and clients, from first post to last delivery).
async fn chatly(n: usize, count: usize, group: bool) -> anyhow::Result<(f64, f64, usize, f64)> {
    let mut room = Room::new(n, group).await?;
    let cpu_start = super::cost::cpu_seconds(std::process::id());
    let addr = room.nodes[0].handle.http_addr;
    let path = format!("/api/v1/rooms/{}/messages", room.room);
    let started = Instant::now();
    let mut posters = Vec::new();
    for worker in 0..IN_FLIGHT {
        let (path, token) = (path.clone(), room.token.clone());
        posters.push(tokio::spawn(async move {
            let mut http = Http::new(addr, token);
            for i in (worker..count).step_by(IN_FLIGHT) {
                let (status, body) = http
                    .request("POST", &path, &json!({"text": format!("load {i}")}))
                    .await?;
                anyhow::ensure!(status == 201, "post: {status} {body}");
            }
            Ok(())
        }));
    }
    for poster in posters {
        poster.await??;
    }
    let accepted = started.elapsed().as_secs_f64();
    let mut seen: Vec<HashSet<String>> = vec![HashSet::new(); n - 1];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen.iter().any(|s| s.len() < count) {
        match tokio::time::timeout_at(deadline, room.arrivals.recv()).await {
            Ok(Some((i, text, _))) if text.starts_with("load ") => {
                seen[i].insert(text);
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let delivered = started.elapsed().as_secs_f64();
    let cpu = super::cost::cpu_seconds(std::process::id()) - cpu_start;
    let lost = seen.iter().map(|s| count - s.len()).max().unwrap_or(count);
    room.stop().await;
    Ok((accepted, delivered, lost, cpu))
}

/// Publishes `count` bare payloads on an `n`-node mesh; returns (publish seconds, deliver
/// seconds, lost).
async fn bare_gossip(n: usize, count: usize) -> anyhow::Result<(f64, f64, usize)> {
    let nodes = bare::mesh(n).await?;
    let started = Instant::now();
    for seq in 0..count as u32 {
        nodes[0].publish(2, seq).await?;
    }
    let published = started.elapsed().as_secs_f64();
    let mut lost = 0;
    for node in &nodes[1..] {
        let mut rx = node.received.lock().await;
        let mut got = HashSet::new();
        while got.len() < count {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some((data, _))) => {
                    if let Some((2, seq)) = bare::seq_of(&data) {
                        got.insert(seq);
                    }
                }
                _ => break,
            }
        }
        lost = lost.max(count - got.len());
    }
    let delivered = started.elapsed().as_secs_f64();
    for node in &nodes {
        node.stop();
    }
    Ok((published, delivered, lost))
}

/// Runs the scenario.
pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let count = if quick { 100 } else { 3000 };
    let mesh = if quick { 6 } else { 10 };
    let mut figures = Vec::new();
    // 2 nodes: the encrypted target; 4: one node and 3 others; the mesh: its
    // half-of-bare target.
    for n in [2, 4, mesh] {
        let (b_pub, b_del, b_lost) = bare_gossip(n, count).await?;
        // The 4-node cases keep their first names.
        let nodes = if n == 4 {
            String::new()
        } else {
            format!("{n} nodes, ")
        };
        for group in [false, true] {
            let (accepted, delivered, lost, cpu) = chatly(n, count, group).await?;
            let kind = if group {
                "encrypted group"
            } else {
                "public room"
            };
            figures.push(Figure {
                scenario: Scenario::Throughput,
                case: format!("{nodes}{kind}, accepted by one node"),
                value: count as f64 / accepted,
                unit: "msg/s",
                baseline: Some(count as f64 / b_pub),
                baseline_is: BASELINE,
                detail: format!(
                    "{count} messages, {IN_FLIGHT} requests in flight, each committed before its 201"
                ),
            });
            figures.push(Figure {
                scenario: Scenario::Throughput,
                case: format!(
                    "{nodes}{kind}, delivered to {}",
                    match n - 1 {
                        1 => "the other node".to_string(),
                        others => format!("{others} nodes"),
                    }
                ),
                value: count as f64 / delivered,
                unit: "msg/s",
                baseline: Some(count as f64 / b_del),
                baseline_is: BASELINE,
                detail: format!(
                    "lost: {lost} (bare gossipsub lost {b_lost}); CPU {:.0} µs per message, all {n} nodes and the clients together, {:.0} % of the 2 cores busy",
                    cpu / count as f64 * 1e6,
                    cpu / delivered / 2.0 * 100.0
                ),
            });
        }
    }
    Ok(figures)
}
