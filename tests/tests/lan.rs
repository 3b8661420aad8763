//! LAN discovery across network namespaces: three hosts on one bridge, one `chatly` process in
//! each with mDNS on and no `--peer`; they find each other by themselves and a message crosses.
//! Needs root (CI runs as root); elsewhere it says why and skips.

use chatly_tests::netns::{self, Lan};
use chatly_tests::{PATIENCE, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_on_a_lan_find_each_other_with_mdns_and_chat() -> anyhow::Result<()> {
    if !netns::available() {
        eprintln!("skipped: network namespaces need root and iproute2");
        return Ok(());
    }
    let lan = Lan::create(3)?;
    let data = tempfile::tempdir()?;
    let (processes, users) = lan
        .start_users(data.path(), &["alice", "bob", "carol"], "lan party!")
        .await?;
    // No --peer anywhere: every link exists because mDNS found it, and the node page says so.
    for user in &users {
        wait_for(
            "each node to find the two others on the LAN",
            PATIENCE,
            || async {
                let (_, node) = user.get("/api/v1/node").await.ok()?;
                let peers = node["peers"].as_array()?;
                (peers.len() == 2 && peers.iter().all(|p| p["source"] == "mdns")).then_some(())
            },
        )
        .await?;
    }

    users[0].say("public", "hello over the LAN").await?;
    for user in &users[1..] {
        wait_for("the message to cross the LAN", PATIENCE, || async {
            user.texts("public")
                .await
                .ok()?
                .contains(&"hello over the LAN".to_string())
                .then_some(())
        })
        .await?;
    }
    drop(processes);
    drop(lan);
    Ok(())
}
