//! Cost: what a node process takes. `chatly run` processes (this very binary) on loopback: time
//! from spawn to a `/healthz` answer, resident memory and CPU of an idle node, and of each node of
//! a 10-node mesh while one of them takes a steady stream of posts.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::client::Http;
use super::{Figure, Scenario};

/// A `chatly run` child process, killed on drop.
struct Process {
    child: Child,
    http: SocketAddr,
    /// Its first listen address, as it printed it (with `/p2p/<peer id>`).
    listen: String,
    _dir: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a node process dialing `peer`; returns it and its start-up time (to `/healthz`).
async fn spawn(peer: Option<String>) -> anyhow::Result<(Process, Duration)> {
    let dir = tempfile::Builder::new().prefix("chatly-cost-").tempdir()?;
    let started = Instant::now();
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["run", "--data-dir"])
        .arg(dir.path())
        .args([
            "--http",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(peer) = peer {
        command.args(["--peer", &peer]);
    }
    let mut child = command.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (ui, listen) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut ui = None;
        let mut listen = None;
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Chatly UI: http://") {
                ui = Some(url.to_string());
            }
            if let Some(addr) = line.strip_prefix("Listening on: ") {
                listen = Some(addr.to_string());
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        (ui, listen)
    })
    .await?;
    let http: SocketAddr = ui.ok_or_else(|| anyhow::anyhow!("no UI line"))?.parse()?;
    let mut client = Http::new(http, String::new());
    loop {
        if let Ok((200, _)) = client
            .request("GET", "/healthz", &serde_json::Value::Null)
            .await
        {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the node never answered"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ready = started.elapsed();
    let process = Process {
        child,
        http,
        listen: listen.ok_or_else(|| anyhow::anyhow!("no listen line"))?,
        _dir: dir,
    };
    Ok((process, ready))
}

/// Resident memory of a process, MiB.
pub(super) fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time used by a process so far, seconds.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some((user + system) / ticks)
        })
        .unwrap_or(f64::NAN)
}

/// CPU use of each process over `window`, percent of one core.
async fn cpu_percent(pids: &[u32], window: Duration) -> Vec<f64> {
    let before: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
    tokio::time::sleep(window).await;
    pids.iter()
        .zip(before)
        .map(|(p, b)| 100.0 * (cpu_seconds(*p) - b) / window.as_secs_f64())
        .collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn figure(case: &str, value: f64, unit: &'static str, detail: String) -> Figure {
    Figure {
        scenario: Scenario::Cost,
        case: case.into(),
        value,
        unit,
        baseline: None,
        baseline_is: "",
        detail,
        target: None,
    }
}

/// Runs the scenario.
pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let (mesh_size, window) = if quick {
        (3, Duration::from_secs(1))
    } else {
        (10, Duration::from_secs(5))
    };
    let mut figures = Vec::new();
    let mut ready = Vec::new();
    for _ in 0..3 {
        let (process, took) = spawn(None).await?;
        ready.push(took.as_secs_f64() * 1000.0);
        drop(process);
    }
    ready.sort_by(f64::total_cmp);
    figures.push(
        figure(
            "start-up to ready",
            ready[1],
            "ms",
            "median of 3, spawn to the first /healthz answer".into(),
        )
        .held_to("under 300 ms", |f| f.value < 300.0),
    );

    let (idle, _) = spawn(None).await?;
    tokio::time::sleep(window).await;
    let pid = idle.child.id();
    let cpu = cpu_percent(&[pid], window).await;
    figures.push(
        figure(
            "idle node, resident memory",
            rss_mib(pid),
            "MiB",
            "no peers, no accounts".into(),
        )
        .held_to("under 30 MiB", |f| f.value < 30.0),
    );
    figures.push(figure(
        "idle node, CPU",
        cpu[0],
        "% of a core",
        format!("over {window:?}"),
    ));
    drop(idle);

    // The mesh: every node dials the first, whose address comes from its own stdout.
    let mut nodes = Vec::new();
    let (hub, _) = spawn(None).await?;
    let hub_addr = hub.listen.clone();
    nodes.push(hub);
    for _ in 1..mesh_size {
        nodes.push(spawn(Some(hub_addr.clone())).await?.0);
    }
    let mut poster = Http::new(nodes[0].http, String::new());
    let (status, body) = poster
        .request(
            "POST",
            "/api/v1/accounts",
            &json!({"username": "load", "password": "benchmark password"}),
        )
        .await?;
    anyhow::ensure!(status == 201, "sign up: {status} {body}");
    let (_, session) = poster
        .request(
            "POST",
            "/api/v1/sessions",
            &json!({"username": "load", "password": "benchmark password"}),
        )
        .await?;
    let token = session["token"].as_str().unwrap_or_default().to_string();
    let mut poster = Http::new(nodes[0].http, token);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pids: Vec<u32> = nodes.iter().map(|n| n.child.id()).collect();
    let load = tokio::spawn(async move {
        let started = Instant::now();
        let mut sent = 0u32;
        while started.elapsed() < window + Duration::from_millis(500) {
            let _ = poster
                .request(
                    "POST",
                    "/api/v1/rooms/public/messages",
                    &json!({"text": format!("load {sent}")}),
                )
                .await;
            sent += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sent
    });
    let cpu = cpu_percent(&pids, window).await;
    let sent = load.await?;
    let rss: Vec<f64> = pids.iter().map(|p| rss_mib(*p)).collect();
    let detail = format!(
        "{mesh_size} processes, one taking ~{:.0} posts/s; mean, max {:.1}",
        f64::from(sent) / (window.as_secs_f64() + 0.5),
        rss.iter().copied().fold(0.0, f64::max)
    );
    figures.push(figure(
        &format!("{mesh_size}-node mesh under load, resident memory per node"),
        mean(&rss),
        "MiB",
        detail,
    ));
    figures.push(figure(
        &format!("{mesh_size}-node mesh under load, CPU per node"),
        mean(&cpu),
        "% of a core",
        format!("mean; the posting node {:.1}%", cpu[0]),
    ));
    drop(nodes);
    Ok(figures)
}
