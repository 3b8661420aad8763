//! A flooding peer (issue 8): delivery time of honest messages from A through B to C, quiet and
//! while a hostile peer attached to B publishes as fast as it can: truncated envelopes (invalid:
//! penalised) and replays of every envelope A holds (duplicates: dropped unpunished) on the
//! public topic. Baseline: the quiet case, same run; the ratio is the figure (target: p99
//! within 2x). The flooder is the node's own network layer with nothing on top, so it speaks
//! identify and gossipsub like a Chatly node.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::bare::BareNode;
use super::client::{Events, Http};
use super::latency::{arrivals, listen, percentiles};
use super::nodes::BenchNode;
use super::{Figure, Scenario};
use crate::net::Topic;

const BASELINE: &str = "abuse: the same three nodes, quiet, same run";

/// How long a warm-up post may take to reach C before the next is sent, and how many are sent
/// at most.
const WARM_UP_WAIT: Duration = Duration::from_secs(2);
const WARM_UP_MAX: usize = 40;

/// Runs it; returns the figures.
pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let messages = if quick { 20 } else { 200 };
    // A - B - C, fixed: C hears A only through B, where the flooder is.
    let b = BenchNode::start_routed(Vec::new(), false).await?;
    let a = BenchNode::start_routed(vec![b.addr()], false).await?;
    let c = BenchNode::start_routed(vec![b.addr()], false).await?;
    let (_, alice) = a.login("alice").await?;
    let (_, carol) = c.login("carol").await?;
    a.wait_users(2).await?;
    c.wait_users(2).await?;
    let mut author = Http::new(a.handle.http_addr, alice);
    let mut rx = listen(vec![Events::open(c.handle.http_addr, &carol).await?]).await;
    // Posts `text` on A and waits at most `wait` for it at C: its delay, or `None` if it did not
    // come by then.
    let mut post = async |text: &str, wait: Duration| -> anyhow::Result<Option<f64>> {
        let sent = Instant::now();
        let (status, body) = author
            .request(
                "POST",
                "/api/v1/rooms/public/messages",
                &json!({"text": text}),
            )
            .await?;
        anyhow::ensure!(status == 201, "post: {status} {body}");
        match tokio::time::timeout(wait, arrivals(&mut rx, 1, text, sent)).await {
            Ok(times) => Ok(times?.first().copied()),
            Err(_) => Ok(None),
        }
    };
    // Until B has grafted C into its gossipsub mesh, B relays A's posts to nobody, and C gets
    // them only by sync, when a later post shows the gap: warm up until posts come through.
    let mut in_a_row = 0;
    for i in 0.. {
        anyhow::ensure!(i < WARM_UP_MAX, "posts from A did not come through B to C");
        let arrived = post(&format!("warm-up {i}"), WARM_UP_WAIT).await?;
        in_a_row = if arrived.is_some() { in_a_row + 1 } else { 0 };
        if in_a_row == 5 {
            break;
        }
    }
    let mut send = async |tag: &str, n: usize| -> anyhow::Result<Vec<f64>> {
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let text = format!("{tag} {i}");
            let delay = post(&text, Duration::from_secs(30)).await?;
            times.push(delay.ok_or_else(|| anyhow::anyhow!("{text:?} did not reach C"))?);
        }
        Ok(times)
    };
    let quiet = send("quiet", messages).await?;

    let replays: Vec<Vec<u8>> = a
        .handle
        .state
        .store
        .read(crate::store::envelopes::all_bytes)
        .await?;
    let flooder = BareNode::start(vec![b.addr()]).await?;
    let sent = Arc::new(AtomicU64::new(0));
    let flood = {
        let (handle, sent) = (flooder.handle.clone(), sent.clone());
        tokio::spawn(async move {
            for round in 0usize.. {
                for bytes in &replays {
                    let mut junk = bytes.clone();
                    junk.truncate(junk.len() / 2 + round % 16);
                    for data in [bytes.clone(), junk] {
                        let _ = handle.publish(Topic::Public, data).await;
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let flooded = send("flooded", messages).await?;
    flood.abort();
    let flooder_id = flooder.handle.peer_id().to_string();
    let verdict = match b
        .handle
        .state
        .net
        .peers()
        .await?
        .iter()
        .find(|p| p.peer_id == flooder_id)
    {
        None => "the flooder was disconnected by B".to_string(),
        Some(p) => format!("the flooder's score at B: {:.0}", p.score),
    };
    let sent = sent.load(Ordering::Relaxed);
    flooder.stop();
    for node in [a, b, c] {
        node.stop().await;
    }

    let (q50, q99, _) = percentiles(quiet);
    let (f50, f99, fmax) = percentiles(flooded);
    let detail = format!(
        "{messages} messages each; {sent} hostile messages during the flood; {verdict}; flood max {fmax:.1} ms"
    );
    let figure = |case: &str, value: f64, baseline: f64| Figure {
        scenario: Scenario::Abuse,
        case: case.into(),
        value,
        unit: "ms",
        baseline: Some(baseline),
        baseline_is: BASELINE,
        detail: detail.clone(),
        target: None,
    };
    Ok(vec![
        figure("A to C through B under a flood, p50", f50, q50),
        figure("A to C through B under a flood, p99", f99, q99),
    ])
}
