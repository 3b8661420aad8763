//! File transfer: a file of N MiB fetched by a node that has none of it, from one holder and from
//! three holders at once. Measured from the first request to the last plaintext byte.
//!
//! Baseline, same run: the holder itself reads and decrypts the same file from its own disk
//! through the same download stream, so the ratio is what fetching over the network adds.

use std::time::Instant;

use bytes::Bytes;
use chatly_protocol::AccountId;
use futures::StreamExt;

use super::nodes::BenchNode;
use super::{Figure, Scenario};
use crate::store::files::{self as rows, FileRow};
use crate::store::messages::PUBLIC_VIEWER;

const BASELINE: &str = "files: the holder reading and decrypting the same file from its own disk";

/// Reads a whole download stream; returns the bytes read.
async fn drain(node: &BenchNode, row: FileRow) -> anyhow::Result<u64> {
    let key: [u8; 32] = row
        .key
        .clone()
        .try_into()
        .map_err(|_| anyhow::anyhow!("bad key"))?;
    let mut stream = Box::pin(node.handle.state.files.stream(AccountId([0; 32]), row, key));
    let mut read = 0u64;
    while let Some(chunk) = stream.next().await {
        read += chunk?.len() as u64;
    }
    Ok(read)
}

/// Makes `node` know the public file `file` (as a message in the public room would).
async fn learn(node: &BenchNode, file: &chatly_protocol::FileRef) -> anyhow::Result<FileRow> {
    let file = file.clone();
    let id = file.id;
    node.handle
        .state
        .store
        .write(move |txn| crate::files::record_refs(txn, PUBLIC_VIEWER, &[file], None))
        .await?;
    node.handle
        .state
        .store
        .read(move |c| rows::get(c, &[PUBLIC_VIEWER], &id))
        .await?
        .ok_or_else(|| anyhow::anyhow!("the file row is missing"))
}

/// Runs the scenario.
pub async fn run(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let mib: usize = if quick { 2 } else { 64 };
    let size = mib * 1024 * 1024;
    let holder = BenchNode::start(Vec::new()).await?;
    let keys = holder.account("holder").await?;
    let body = futures::stream::iter(
        (0..size / (64 * 1024))
            .map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![(i % 251) as u8; 64 * 1024]))),
    );
    let uploaded = holder
        .handle
        .state
        .files
        .upload(
            &keys,
            "bench.bin".into(),
            "application/octet-stream".into(),
            body,
        )
        .await?;
    let file = holder
        .handle
        .state
        .files
        .file_ref(&keys, uploaded.id)
        .await?;
    let own = learn(&holder, &file).await?;
    let started = Instant::now();
    anyhow::ensure!(
        drain(&holder, own).await? == size as u64,
        "short local read"
    );
    let baseline = started.elapsed().as_secs_f64();

    let mut holders = vec![holder];
    let mut figures = Vec::new();
    for count in [1usize, 3] {
        while holders.len() < count {
            let peers = holders.iter().map(BenchNode::addr).collect();
            let extra = BenchNode::start(peers).await?;
            wait_peers(&extra, holders.len()).await?;
            let row = learn(&extra, &file).await?;
            drain(&extra, row).await?;
            holders.push(extra);
        }
        let target = BenchNode::start(holders.iter().map(BenchNode::addr).collect()).await?;
        wait_peers(&target, count).await?;
        let row = learn(&target, &file).await?;
        let started = Instant::now();
        anyhow::ensure!(drain(&target, row).await? == size as u64, "short download");
        let took = started.elapsed().as_secs_f64();
        target.stop().await;
        let rate = mib as f64 / took;
        figures.push(Figure {
            scenario: Scenario::Files,
            case: format!(
                "{mib} MiB from {count} holder{}",
                if count == 1 { "" } else { "s" }
            ),
            value: rate,
            unit: "MiB/s",
            baseline: Some(mib as f64 / baseline),
            baseline_is: BASELINE,
            detail: format!("{took:.2} s; local read {baseline:.2} s"),
            target: None,
        });
    }
    for node in holders {
        node.stop().await;
    }
    Ok(figures)
}

async fn wait_peers(node: &BenchNode, n: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    while node.handle.state.net.peers().await?.len() < n {
        anyhow::ensure!(started.elapsed().as_secs() < 30, "peers did not connect");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}
