//! Catch-up: a fresh node that missed N public messages starts, dials one or several peers that
//! hold them, and syncs until it holds all N. Measured from the node's start (opening its store,
//! listening, connecting) to the last envelope stored.
//!
//! Baseline, same run: a node with no network validates (signature, structure) and stores the same
//! envelopes in pages of sync's size. The ratio is what sync's network round trips, page framing
//! and request scheduling cost on top of the work any node must do.

use std::time::{Duration, Instant};

use chatly_protocol::RoomId;
use chatly_protocol::sync::{MAX_PAGE_ENVELOPES, SeqRange};

use super::nodes::{BenchNode, check_all, public_messages};
use super::{Figure, Scenario};

const BASELINE: &str = "catchup: the same envelopes validated and stored by a node with no network, in sync-sized pages";

/// Runs the scenario.
pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let sizes: &[usize] = if quick {
        &[300]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let peer_counts: &[usize] = if quick { &[1, 2] } else { &[1, 3] };
    let max_peers = peer_counts.iter().copied().max().unwrap_or(1);
    let mut sources: Vec<BenchNode> = Vec::new();
    for _ in 0..max_peers {
        let peers = sources.iter().map(BenchNode::addr).collect();
        sources.push(BenchNode::start(peers).await?);
    }
    let keys = sources[0].account("bench").await?;
    let author = keys.account_id();
    for source in &sources {
        source
            .wait_held(RoomId::DIRECTORY, author, 1, Duration::from_secs(30))
            .await?;
    }
    let record = sources[0]
        .envelopes(RoomId::DIRECTORY, author, SeqRange { lo: 1, hi: 1 })
        .await?;
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let messages = public_messages(keys, largest).await?;
    let mut figures = Vec::new();
    let mut seeded = 0;
    for &n in sizes {
        for source in &sources {
            source.store(&messages[seeded..n], 1000).await?;
        }
        seeded = n;

        let local = BenchNode::start(Vec::new()).await?;
        local.store(&check_all(record.clone()).await?, 1).await?;
        let raw: Vec<Vec<u8>> = messages[..n]
            .iter()
            .map(|c| c.verified.bytes.clone())
            .collect();
        let bytes: usize = raw.iter().map(Vec::len).sum();
        let started = Instant::now();
        for page in raw.chunks(MAX_PAGE_ENVELOPES) {
            local
                .store(&check_all(page.to_vec()).await?, page.len())
                .await?;
        }
        let baseline = started.elapsed().as_secs_f64();
        local.stop().await;

        for &k in peer_counts {
            let started = Instant::now();
            let target =
                BenchNode::start(sources[..k].iter().map(BenchNode::addr).collect()).await?;
            target
                .wait_held(RoomId::PUBLIC, author, n as u64, Duration::from_secs(900))
                .await?;
            let took = started.elapsed().as_secs_f64();
            let fetched = target.handle.state.metrics.sync_bytes.get();
            target.stop().await;
            let figure = Figure {
                scenario: Scenario::Catchup,
                case: format!(
                    "{n} messages from {k} peer{}",
                    if k == 1 { "" } else { "s" }
                ),
                value: took,
                unit: "s",
                baseline: Some(baseline),
                baseline_is: BASELINE,
                detail: format!(
                    "{:.0} envelopes/s; {:.1} MiB of envelopes, {:.1} MiB received",
                    n as f64 / took,
                    bytes as f64 / (1 << 20) as f64,
                    fetched as f64 / (1 << 20) as f64
                ),
                target: None,
            };
            // Issue 7: 10,000 missed messages caught up in under 5 s.
            figures.push(if n == 10_000 {
                figure.held_to("under 5 s", |f| f.value < 5.0)
            } else {
                figure
            });
        }
    }
    for source in sources {
        source.stop().await;
    }
    Ok(figures)
}
