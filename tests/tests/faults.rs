//! Faults a node must survive: a full disk makes posting fail cleanly (507 `storage_full`),
//! loses nothing acknowledged, and works again once there is room. The disk-full test mounts a
//! small tmpfs, so it needs root (CI runs as root); elsewhere it says why and skips.

use std::process::Command;

use chatly_tests::{TestNode, netns};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_fails_cleanly_and_recovers() -> anyhow::Result<()> {
    if !netns::available() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return Ok(());
    }
    let mount = tempfile::tempdir()?;
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(mount.path())
        .status()?;
    anyhow::ensure!(status.success(), "mount tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());

    let mut node = TestNode::start_in(mount.path().join("node"), Vec::new()).await?;
    let alice = node.account("alice", "correct horse").await?;
    let filler = "x".repeat(12 * 1024);
    let mut acked = Vec::new();
    let mut refused = None;
    for n in 0..2000 {
        let text = format!("{n} {filler}");
        let (status, body) = alice
            .post("/api/v1/rooms/public/messages", json!({"text": text}))
            .await?;
        if status == 201 {
            acked.push(text);
        } else {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("the disk never filled");
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["code"], "storage_full");
    // Reads still work, and everything acknowledged is there.
    let texts = alice.texts("public").await?;
    assert!(
        acked.iter().all(|t| texts.contains(t)),
        "an acknowledged message is missing"
    );

    // Room again: posting works, and a restart finds everything.
    let status = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(mount.path())
        .status()?;
    anyhow::ensure!(status.success(), "remount");
    alice.say("public", "after the disk had room again").await?;
    node.stop().await;
    node.restart().await?;
    let alice = node.client().log_in("alice", "correct horse").await?;
    let texts = alice.texts("public").await?;
    assert_eq!(texts.len(), acked.len() + 1);
    node.stop().await;
    Ok(())
}
