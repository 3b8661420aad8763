//! Load on one node (issue 8): 200 event WebSockets open while 20 accounts together offer 1,000
//! posts a second to the public room for a minute, each post over the HTTP API. Reports the rate
//! accepted (baseline: the rate offered), errors, post latency, whether every socket received
//! every message, and memory growth after warm-up. Node and clients share this process, so the
//! RSS figure includes the 200 clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::{Events, Http};
use super::nodes::BenchNode;
use super::{Figure, Scenario};

const POSTERS: usize = 20;
const SOCKETS: usize = 200;
const OFFERED_PER_SEC: f64 = 1000.0;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the load for `seconds`; returns the figures.
pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let (seconds, sockets) = if quick { (3.0, 20) } else { (60.0, SOCKETS) };
    let node = BenchNode::start(Vec::new()).await?;
    let addr = node.handle.http_addr;
    let mut tokens = Vec::new();
    for i in 0..POSTERS {
        tokens.push(node.login(&format!("load{i}")).await?.1);
    }

    // The sockets count every message.created they receive.
    let received: Arc<Vec<AtomicU64>> = Arc::new((0..sockets).map(|_| AtomicU64::new(0)).collect());
    let mut listeners = Vec::new();
    for s in 0..sockets {
        let mut events = Events::open(addr, &tokens[s % POSTERS]).await?;
        let received = received.clone();
        listeners.push(tokio::spawn(async move {
            // Counted by a substring test, not parsed: the 200 clients share the node's 2 cores.
            while let Ok(frame) = events.next_text().await {
                if frame.contains(r#""type":"message.created""#) {
                    received[s].fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    let rss_start = super::cost::rss_mib(std::process::id());
    let per_poster = Duration::from_secs_f64(POSTERS as f64 / OFFERED_PER_SEC);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    // RSS is sampled six times over the run: growth is judged from the first sample after
    // warm-up (a sixth of the run) on, and the series shows whether it levels off.
    let rss_samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut posters = Vec::new();
    for (p, token) in tokens.into_iter().enumerate() {
        let rss_samples = rss_samples.clone();
        posters.push(tokio::spawn(async move {
            let mut http = Http::new(addr, token);
            let (mut latencies, mut errors, mut n) = (Vec::new(), 0usize, 0u64);
            let mut next = Instant::now();
            while next < deadline {
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                if p == 0 {
                    let mut samples = rss_samples.lock().unwrap_or_else(|e| e.into_inner());
                    let due = started
                        + Duration::from_secs_f64(seconds * (samples.len() + 1) as f64 / 6.0);
                    if Instant::now() >= due {
                        samples.push(super::cost::rss_mib(std::process::id()));
                    }
                }
                let sent = Instant::now();
                let answer = http
                    .request(
                        "POST",
                        "/api/v1/rooms/public/messages",
                        &json!({"text": format!("load {p} {n}")}),
                    )
                    .await;
                match answer {
                    Ok((201, _)) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                    _ => errors += 1,
                }
                n += 1;
                next += per_poster;
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0usize);
    for poster in posters {
        let (l, e) = poster.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = latencies.len() as u64;
    // Let the last events reach the sockets.
    let settle = Instant::now() + Duration::from_secs(10);
    while Instant::now() < settle
        && received
            .iter()
            .any(|r| r.load(Ordering::Relaxed) < accepted)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_end = super::cost::rss_mib(std::process::id());
    let rss_samples = rss_samples
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let rss_warm = rss_samples.first().copied().unwrap_or(rss_start);
    let series: Vec<String> = rss_samples.iter().map(|r| format!("{r:.0}")).collect();
    let fewest = received
        .iter()
        .map(|r| r.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    for listener in listeners {
        listener.abort();
    }
    node.stop().await;

    latencies.sort_by(f64::total_cmp);
    let case = format!(
        "{sockets} WebSockets, {OFFERED_PER_SEC:.0} posts/s offered by {POSTERS} accounts for {seconds:.0} s"
    );
    let figure =
        |case: String, value: f64, unit: &'static str, baseline: Option<f64>, detail: String| {
            Figure {
                scenario: Scenario::Load,
                case,
                value,
                unit,
                baseline,
                baseline_is: "load: the rate offered",
                detail,
                target: None,
            }
        };
    Ok(vec![
        figure(
            format!("{case}: accepted"),
            accepted as f64 / elapsed,
            "msg/s",
            Some(OFFERED_PER_SEC),
            format!("{accepted} accepted, {errors} errors"),
        ),
        figure(
            format!("{case}: post latency p99"),
            percentile(&latencies, 0.99),
            "ms",
            None,
            format!(
                "p50 {:.1} ms, max {:.1} ms",
                percentile(&latencies, 0.5),
                latencies.last().copied().unwrap_or(0.0)
            ),
        ),
        figure(
            format!("{case}: messages every socket received"),
            fewest as f64,
            "msg",
            None,
            format!("of {accepted} accepted (the socket that received fewest)"),
        ),
        figure(
            format!("{case}: memory growth after warm-up"),
            (rss_end - rss_warm).max(0.0),
            "MiB",
            None,
            format!(
                "RSS {rss_start:.0} MiB with sockets open, then every sixth of the run {} MiB, {rss_end:.0} MiB at the end (node and clients in one process)",
                series.join(" / ")
            ),
        ),
    ])
}
