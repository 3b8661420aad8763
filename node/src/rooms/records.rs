//! Keeps local accounts' records pointing at this node: when the node's dialable addresses
//! change (a relay slot granted or lost, a new listen port), every unlocked account publishes a
//! record with the new addresses, so first contacts elsewhere can still dial its home node.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Rooms;

/// How often the node's addresses are compared with the ones last published.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Runs until shutdown.
pub async fn run_address_keeper(rooms: Arc<Rooms>, shutdown: CancellationToken) {
    let mut published = rooms.home_addrs().await;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let current = rooms.home_addrs().await;
        if current == published {
            continue;
        }
        tracing::info!(addrs = ?current, "this node's addresses changed; updating account records");
        published = current;
        for keys in rooms.vault.all() {
            if let Err(e) = rooms.refresh_record(&keys).await {
                tracing::warn!(error = %e, "could not re-publish an account record");
            }
        }
    }
}
