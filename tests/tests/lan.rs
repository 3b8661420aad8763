//! LAN discovery across network namespaces: three hosts on one bridge, one `chatly` process in
//! each with mDNS on and no `--peer`; they find each other by themselves and a message crosses.
//! Needs root (CI runs as root); elsewhere it says why and skips.

use std::io::{BufRead, BufReader};
use std::process::Child;

use chatly_tests::netns::{self, Lan};
use chatly_tests::{Client, PATIENCE, wait_for};
use serde_json::json;

struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_on_a_lan_find_each_other_with_mdns_and_chat() -> anyhow::Result<()> {
    if !netns::available() {
        eprintln!("skipped: network namespaces need root and iproute2");
        return Ok(());
    }
    let lan = Lan::create(3)?;
    let data = tempfile::tempdir()?;
    let mut processes = Processes(Vec::new());
    let mut clients = Vec::new();
    for i in 1..=3 {
        let http = format!("{}:7420", lan.host_ip(i));
        let args: Vec<String> = [
            "run",
            "--data-dir",
            &data.path().join(format!("n{i}")).display().to_string(),
            "--http",
            &http,
            "--listen",
            "/ip4/0.0.0.0/tcp/4001",
            "--name",
            &format!("host{i}"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut child = lan.spawn_chatly(i, &args)?;
        let stdout = child.stdout.take().expect("piped");
        processes.0.push(child);
        // The first line is the UI address; the rest is read (and dropped) in the background.
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::task::spawn_blocking(move || {
            let first = lines.next();
            std::thread::spawn(move || for _ in lines {});
            first
        })
        .await?
        .transpose()?
        .unwrap_or_default();
        assert_eq!(first, format!("Chatly UI: http://{http}"));
        clients.push(Client::new(format!("http://{http}"), None));
    }
    let mut users = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let name = ["alice", "bob", "carol"][i];
        wait_for("the node to answer", PATIENCE, || async {
            client.get("/healthz").await.ok().filter(|(s, _)| *s == 200)
        })
        .await?;
        let (status, body) = client
            .post(
                "/api/v1/accounts",
                json!({"username": name, "password": "lan party!"}),
            )
            .await?;
        assert_eq!(status, 201, "{body}");
        users.push(client.log_in(name, "lan party!").await?);
    }
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
