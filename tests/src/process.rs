//! `chatly` as a child process: started on loopback (or in a namespace, by netns), its first
//! stdout line read for the UI address, the rest drained, and killed (SIGKILL) on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, Result};
use libp2p::Multiaddr;

use crate::Client;

/// A running `chatly` process, killed with SIGKILL when dropped (no goodbye, like a crash).
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line a process printed (the rest is read and dropped in the background so it
/// never blocks on a full pipe).
pub async fn first_line(stdout: ChildStdout) -> Result<String> {
    let first = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        std::thread::spawn(move || for _ in lines {});
        first
    })
    .await?
    .transpose()?
    .unwrap_or_default();
    Ok(first)
}

/// Takes a started process's stdout and returns the process and a client of its UI address.
pub async fn attach(mut child: Child) -> Result<(Process, Client)> {
    let stdout = child.stdout.take().context("stdout not piped")?;
    let process = Process(child);
    let first = first_line(stdout).await?;
    let url = first
        .strip_prefix("Chatly UI: ")
        .with_context(|| format!("unexpected first line {first:?}"))?;
    Ok((process, Client::new(url.to_string(), None)))
}

/// `chatly run` on `dir`, on loopback with free ports and no mDNS (stdout and stderr left to
/// the caller).
pub fn loopback_command(dir: &Path) -> Result<Command> {
    let mut command = Command::new(crate::netns::chatly_bin()?);
    command.args(["run", "--data-dir"]).arg(dir).args([
        "--http",
        "127.0.0.1:0",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--no-mdns",
    ]);
    Ok(command)
}

/// Runs `chatly run` on `dir`, on loopback with free ports and no mDNS, dialing `peer`.
pub async fn spawn(dir: &Path, peer: Option<&Multiaddr>) -> Result<(Process, Client)> {
    let mut command = loopback_command(dir)?;
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    if let Some(peer) = peer {
        command.args(["--peer", &peer.to_string()]);
    }
    attach(command.spawn().context("starting chatly")?).await
}
