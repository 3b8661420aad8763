//! Encrypted file sharing across nodes: a 20 MiB file posted in a group arrives byte-identical;
//! a non-member node cannot get it and holds no plaintext; an interrupted download resumes
//! instead of restarting; a peer that sends corrupted chunks is skipped; an upload over the limit
//! is refused with 413 and leaves nothing behind.

use std::time::Duration;

use chatly_protocol::file::ChunkResponse;
use chatly_tests::rawpeer::RawPeer;
use chatly_tests::{CATCH_UP, Client, PATIENCE, TestNode, dir_contains, mesh};
use serde_json::json;

/// Deterministic pseudo-random bytes (xorshift), so a failure can be reproduced.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn metric(client: &Client, name: &str) -> f64 {
    let (_, text) = client.get("/metrics").await.unwrap_or_default();
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn chunk_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("files"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name() != "tmp" && e.path().is_dir())
        .map(|e| std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_file_arrives_whole_for_members_and_nowhere_else() -> anyhow::Result<()> {
    let nodes = mesh(4).await?;
    let alice = nodes[0].account("alice", "correct horse").await?;
    let bob = nodes[1].account("bob", "battery staple").await?;
    let carol = nodes[2].account("carol", "purple monkey").await?;
    let dave = nodes[3].account("dave", "not invited").await?;
    for client in [&alice, &bob, &carol, &dave] {
        client.wait_users(4, PATIENCE).await?;
    }
    let bob_id = bob.user_id.clone().unwrap();
    let carol_id = carol.user_id.clone().unwrap();
    let group = alice.create_group("Data", &[&bob_id, &carol_id]).await?;

    let data = noise(20 * 1024 * 1024, 0x5eed);
    let (status, file) = alice
        .upload(
            "measurements 2026.bin",
            "application/octet-stream",
            data.clone(),
        )
        .await?;
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["size"], data.len());
    assert_eq!(file["name"], "measurements 2026.bin");
    let id = file["id"].as_str().unwrap().to_string();
    let (status, message) = alice
        .post(
            &format!("/api/v1/rooms/{group}/messages"),
            json!({"text": "the dataset", "files": [id]}),
        )
        .await?;
    assert_eq!(status, 201, "{message}");
    assert_eq!(message["files"][0]["id"], id.as_str());
    assert_eq!(message["files"][0]["size"], data.len());

    bob.wait_text(&group, "the dataset", CATCH_UP).await?;
    let (status, headers, body) = bob.download(&id, None).await?;
    assert_eq!(status, 200);
    assert!(body == data, "bob's copy differs ({} bytes)", body.len());
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()?
            .starts_with("attachment")
    );

    // dave's node relays and may even hold chunks, but dave has no key and the node no plaintext.
    let (status, _, _) = dave.download(&id, None).await?;
    assert_eq!(status, 404);
    for at in [0, data.len() / 2, data.len() - 64] {
        assert!(!dir_contains(nodes[3].data_dir(), &data[at..at + 64])?);
    }

    // carol's download is cut off after 5 MiB; the next one fetches only what is missing.
    carol.wait_text(&group, "the dataset", CATCH_UP).await?;
    let (status, _, partial) = carol.download(&id, Some(5 * 1024 * 1024)).await?;
    assert_eq!(status, 200);
    assert!(partial.len() < data.len());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = chunk_files(nodes[2].data_dir());
    assert!(held > 0 && held < 80, "{held} of 80 chunks after the cut");
    // A peer that answers every chunk request with garbage joins carol's node.
    let garbage = ChunkResponse::Here(vec![0xEE; 4096]).encode()?;
    let evil = RawPeer::spawn_with_scripts(
        nodes[2].addr(),
        &[],
        Vec::new(),
        Some([&(garbage.len() as u32).to_be_bytes()[..], &garbage].concat()),
    )
    .await?;
    chatly_tests::wait_for("the bad peer to connect", PATIENCE, || async {
        let (_, node) = carol.get("/api/v1/node").await.ok()?;
        (node["peers"].as_array()?.len() == 4).then_some(())
    })
    .await?;
    let before = metric(&carol, "chatly_file_chunks_fetched_total").await;
    let (status, _, whole) = carol.download(&id, None).await?;
    assert_eq!(status, 200);
    assert!(
        whole == data,
        "carol's copy differs ({} bytes)",
        whole.len()
    );
    let fetched = metric(&carol, "chatly_file_chunks_fetched_total").await - before;
    assert_eq!(
        fetched,
        (80 - held) as f64,
        "only the missing chunks are fetched: resumed, not restarted"
    );
    assert!(evil.file_requests() > 0, "the bad peer was asked");
    assert!(metric(&carol, "chatly_file_chunks_rejected_total").await >= 1.0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_over_the_limit_is_refused_and_leaves_nothing() -> anyhow::Result<()> {
    let node = TestNode::start_with(Vec::new(), |c| c.limits.file_max = 1024 * 1024).await?;
    let alice = node.account("alice", "correct horse").await?;
    let before = chunk_files(node.data_dir());
    let (status, body) = alice
        .upload(
            "big.bin",
            "application/octet-stream",
            noise(2 * 1024 * 1024, 1),
        )
        .await?;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "file_too_large");
    // Without a length up front, the limit is found mid-stream: still nothing left behind.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|i| Ok(noise(256 * 1024, i + 2))).collect();
    let streamed = reqwest::Client::new()
        .post(format!("{}/api/v1/files?name=stream.bin", alice.base))
        .bearer_auth(alice.token.clone().unwrap())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await;
    if let Ok(response) = streamed {
        assert_eq!(response.status().as_u16(), 413);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(chunk_files(node.data_dir()), before, "chunks left behind");
    let (status, small) = alice
        .upload("small.txt", "text/plain", b"fits".to_vec())
        .await?;
    assert_eq!(status, 201, "{small}");
    let (status, headers, body) = alice.download(small["id"].as_str().unwrap(), None).await?;
    assert_eq!((status, body.as_slice()), (200, &b"fits"[..]));
    assert!(
        headers["content-disposition"]
            .to_str()?
            .starts_with("attachment"),
        "text is not shown inline"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_name_and_avatar_reach_every_node() -> anyhow::Result<()> {
    let nodes = mesh(3).await?;
    let alice = nodes[0].account("alice", "correct horse").await?;
    let bob = nodes[1].account("bob", "battery staple").await?;
    let carol = nodes[2].account("carol", "purple monkey").await?;
    for client in [&alice, &bob, &carol] {
        client.wait_users(3, PATIENCE).await?;
    }
    let alice_id = alice.user_id.clone().unwrap();
    let mut bob_events = bob.events().await?;
    let picture = noise(300 * 1024, 7);
    let (status, file) = alice.upload("me.png", "image/png", picture.clone()).await?;
    assert_eq!(status, 201, "{file}");
    let avatar = file["id"].as_str().unwrap().to_string();
    let (status, text) = alice
        .upload("notes.txt", "text/plain", b"hi".to_vec())
        .await?;
    assert_eq!(status, 201);
    let (status, body) = alice
        .patch_json("/api/v1/me", json!({"avatar": text["id"]}))
        .await?;
    assert_eq!(status, 422, "{body}");
    let (status, me) = alice
        .patch_json(
            "/api/v1/me",
            json!({"display_name": "Alice Liddell", "bio": "down the hole", "avatar": avatar}),
        )
        .await?;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["avatar"], avatar.as_str());
    let updated = bob_events
        .expect("user.updated", CATCH_UP, |e| {
            e["user"]["id"] == alice_id.as_str() && e["user"]["avatar"] == avatar.as_str()
        })
        .await?;
    assert_eq!(updated["user"]["display_name"], "Alice Liddell");
    assert_eq!(updated["user"]["bio"], "down the hole");
    chatly_tests::wait_for("the new profile at carol's", CATCH_UP, || async {
        let (_, users) = carol.get("/api/v1/users").await.ok()?;
        users
            .as_array()?
            .iter()
            .any(|u| {
                u["id"] == alice_id.as_str()
                    && u["avatar"] == avatar.as_str()
                    && u["display_name"] == "Alice Liddell"
            })
            .then_some(())
    })
    .await?;
    let (status, headers, body) = carol.download(&avatar, None).await?;
    assert_eq!(status, 200);
    assert!(body == picture, "carol's copy of the avatar differs");
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["content-disposition"]
            .to_str()?
            .starts_with("inline")
    );

    // A later change that does not name the avatar keeps it; null removes it everywhere.
    let (_, me) = alice
        .patch_json("/api/v1/me", json!({"bio": "back again"}))
        .await?;
    assert_eq!(me["avatar"], avatar.as_str());
    let (_, me) = alice
        .patch_json("/api/v1/me", json!({"avatar": null}))
        .await?;
    assert!(me["avatar"].is_null(), "{me}");
    bob_events
        .expect("user.updated", CATCH_UP, |e| {
            e["user"]["id"] == alice_id.as_str() && e["user"]["avatar"].is_null()
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_between_members_carries_chunks_it_cannot_read() -> anyhow::Result<()> {
    // A star: alice's node and carol's node reach each other only through dave's (no peer
    // routing, or Kademlia would join them directly).
    let d = TestNode::start(Vec::new()).await?;
    let a = TestNode::start_with(vec![d.addr()], |c| c.peer_routing = false).await?;
    let c = TestNode::start_with(vec![d.addr()], |c| c.peer_routing = false).await?;
    let alice = a.account("alice", "correct horse").await?;
    let carol = c.account("carol", "purple monkey").await?;
    let dave = d.account("dave", "in the middle").await?;
    for client in [&alice, &carol, &dave] {
        client.wait_users(3, PATIENCE).await?;
    }
    let carol_id = carol.user_id.clone().unwrap();
    let group = alice.create_group("Just us", &[&carol_id]).await?;
    let data = noise(4 * 1024 * 1024 + 123, 99);
    let (status, file) = alice
        .upload("private.bin", "application/octet-stream", data.clone())
        .await?;
    assert_eq!(status, 201, "{file}");
    let id = file["id"].as_str().unwrap().to_string();
    let (status, _) = alice
        .post(
            &format!("/api/v1/rooms/{group}/messages"),
            json!({"text": "through dave", "files": [id]}),
        )
        .await?;
    assert_eq!(status, 201);
    carol.wait_text(&group, "through dave", CATCH_UP).await?;
    let mut carol_events = carol.events().await?;
    let (status, _, body) = carol.download(&id, None).await?;
    let progress = carol_events
        .expect("file.progress", PATIENCE, |e| {
            e["file_id"] == id.as_str() && e["done"] == e["total"]
        })
        .await?;
    assert_eq!(progress["total"], data.len());
    assert_eq!(status, 200);
    assert!(body == data, "carol's copy differs ({} bytes)", body.len());
    assert!(
        chunk_files(d.data_dir()) >= 17,
        "dave's node relayed (and keeps) the sealed chunks"
    );
    for at in [0, data.len() / 3, data.len() - 64] {
        assert!(!dir_contains(d.data_dir(), &data[at..at + 64])?);
    }
    let (status, _, _) = dave.download(&id, None).await?;
    assert_eq!(status, 404, "dave has no key");
    Ok(())
}
