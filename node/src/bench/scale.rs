//! Scale: a 50-node mesh in this process, each node dialing three earlier ones (not a full mesh:
//! gossip carries it). Time to converge: from the first start until every node holds every
//! node's account record. Delivery: one account posts, every other node's event bus sees it.
//! Baseline, same run: bare gossipsub in the same topology.

use std::time::{Duration, Instant};

use chatly_protocol::Content;
use libp2p::Multiaddr;

use super::bare::{self, BareNode};
use super::latency::percentiles;
use super::nodes::BenchNode;
use super::{Figure, Scenario};
use crate::events::NodeEvent;

const BASELINE: &str = "scale: bare gossipsub, same topology and payload pattern";

/// Three earlier nodes for node `i` to dial (a deterministic spread).
fn targets(i: usize) -> Vec<usize> {
    let mut out: Vec<usize> = [i / 2, i.saturating_sub(1), (i * 7) % i.max(1)]
        .into_iter()
        .filter(|t| *t < i)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

async fn bare_delivery(n: usize, samples: u32) -> anyhow::Result<Vec<f64>> {
    let mut nodes: Vec<BareNode> = Vec::new();
    for i in 0..n {
        let peers: Vec<Multiaddr> = targets(i)
            .into_iter()
            .map(|t| nodes[t].addr.clone())
            .collect();
        nodes.push(BareNode::start(peers).await?);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut delays = Vec::new();
    for seq in 0..samples {
        let sent = Instant::now();
        nodes[0].publish(3, seq).await?;
        for node in &nodes[1..] {
            let mut rx = node.received.lock().await;
            loop {
                match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                    Ok(Some((data, at))) if bare::seq_of(&data) == Some((3, seq)) => {
                        delays.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                        break;
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }
    }
    for node in &nodes {
        node.stop();
    }
    Ok(delays)
}

/// Runs the scenario.
pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let n = if quick { 6 } else { 50 };
    let samples = if quick { 3 } else { 20 };
    let started = Instant::now();
    let mut nodes: Vec<BenchNode> = Vec::new();
    for i in 0..n {
        let peers = targets(i).into_iter().map(|t| nodes[t].addr()).collect();
        // The baseline's topology: each node dials up to 3 earlier ones and nothing else (with
        // Kademlia, 50 in-process nodes would each hold up to 16 connections on 2 cores).
        let node = BenchNode::start_routed(peers, false).await?;
        node.account(&format!("member{i}")).await?;
        nodes.push(node);
    }
    for node in &nodes {
        node.wait_users(n).await?;
    }
    let converged = started.elapsed().as_secs_f64();
    let (keys, _) = nodes[0].login("speaker").await?;
    for node in &nodes {
        node.wait_users(n + 1).await?;
    }
    let mut buses: Vec<_> = nodes[1..]
        .iter()
        .map(|n| n.handle.state.bus.subscribe())
        .collect();
    let mut delays = Vec::new();
    for i in 0..samples {
        let text = format!("to all {i}");
        let sent = Instant::now();
        nodes[0]
            .handle
            .state
            .rooms
            .post_public(
                &keys,
                Content::Message {
                    text: text.clone(),
                    files: Vec::new(),
                    reply_to: None,
                },
            )
            .await?;
        for bus in &mut buses {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                match tokio::time::timeout_at(deadline, bus.recv()).await {
                    Ok(Ok(NodeEvent::MessageCreated { row, .. })) if row.text == text => {
                        delays.push(sent.elapsed().as_secs_f64() * 1000.0);
                        break;
                    }
                    Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                    _ => anyhow::bail!("{text:?} did not reach every node"),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for node in nodes {
        node.stop().await;
    }
    let (p50, p99, max) = percentiles(delays);
    let (b50, b99, bmax) = percentiles(bare_delivery(n, samples).await?);
    let detail = format!("{n} nodes, each dialing up to 3 earlier ones; {samples} messages");
    let mut figures = vec![Figure {
        scenario: Scenario::Scale,
        case: format!("{n}-node mesh, time to converge"),
        value: converged,
        unit: "s",
        baseline: None,
        baseline_is: "",
        detail: "start of the first node until every node holds every account record".into(),
        target: None,
    }];
    for (what, value, baseline) in [("p50", p50, b50), ("p99", p99, b99), ("max", max, bmax)] {
        figures.push(Figure {
            scenario: Scenario::Scale,
            case: format!("{n}-node mesh, delivery {what}"),
            value,
            unit: "ms",
            baseline: Some(baseline),
            baseline_is: BASELINE,
            detail: detail.clone(),
            target: None,
        });
    }
    Ok(figures)
}
