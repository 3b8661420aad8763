//! A hostile raw libp2p peer publishes a forged-signature envelope, an oversized one, a duplicate
//! and bundles holding forgeries into node B; nothing of it is stored or relayed to C, the peer's
//! score at B drops, and honest traffic keeps flowing. Honest bundles, by contrast, arrive whole.

use chatly_protocol::{AccountId, Content, Envelope, EnvelopeId, Header, Kind, RoomId};
use chatly_tests::rawpeer::RawPeer;
use chatly_tests::{Client, PATIENCE, TestNode, dir_contains, wait_for};
use serde_json::Value;

const PUBLIC_TOPIC: &str = "chatly/v1/public";

fn forged_envelope(text: &str) -> Vec<u8> {
    let body = Content::Message {
        text: text.into(),
        files: Vec::new(),
        reply_to: None,
    }
    .encode()
    .expect("encode");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let header = Header::plain(
        Kind::Content,
        RoomId::PUBLIC,
        AccountId([42; 32]),
        1,
        EnvelopeId::ZERO,
        now,
    );
    Envelope {
        header,
        body,
        signature: [7; 64],
    }
    .encode()
}

/// Nodes A - B - C in a line (C hears only what B relays), alice on A and carol on C.
async fn line() -> anyhow::Result<(TestNode, TestNode, TestNode, Client, Client)> {
    let b = TestNode::start(Vec::new()).await?;
    let a = TestNode::start(vec![b.addr()]).await?;
    let c = TestNode::start(vec![b.addr()]).await?;
    let alice = a.account("alice", "correct horse").await?;
    let carol = c.account("carol", "purple monkey").await?;
    Ok((a, b, c, alice, carol))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_oversized_and_duplicate_envelopes_go_nowhere() -> anyhow::Result<()> {
    chatly_tests::init_tracing();
    let (a, b, c, alice, carol) = line().await?;
    let honest = alice.say("public", "honest before").await?;
    wait_for("C to receive the honest message", PATIENCE, || async {
        carol
            .texts("public")
            .await
            .ok()?
            .contains(&"honest before".to_string())
            .then_some(())
    })
    .await?;

    let raw = RawPeer::spawn(b.addr(), &[PUBLIC_TOPIC]).await?;
    wait_for("the raw peer to see B subscribed", PATIENCE, || async {
        (raw.subscribers(PUBLIC_TOPIC).await.ok()? > 0).then_some(())
    })
    .await?;

    let forged = forged_envelope("forged by a stranger");
    raw.publish(PUBLIC_TOPIC, forged.clone()).await?;
    let mut oversized = forged_envelope(&"x".repeat(1000));
    oversized.resize(62_000, 0x55); // over MAX_ENVELOPE_LEN, under gossipsub's frame limit
    raw.publish(PUBLIC_TOPIC, oversized).await?;
    let honest_bytes = a.envelope_bytes(honest["id"].as_str().unwrap()).await?;
    raw.publish(PUBLIC_TOPIC, honest_bytes.clone()).await?;
    // A bundle is judged whole: one forged envelope makes it invalid, so it is not relayed.
    let hostile = chatly_protocol::bundle::encode_bundle(&[
        honest_bytes,
        forged_envelope("forged in a bundle"),
    ])?;
    raw.publish(PUBLIC_TOPIC, hostile).await?;
    let mut truncated = chatly_protocol::bundle::encode_bundle(&[
        forged_envelope("forged again, cut"),
        forged_envelope("forged again, cut"),
    ])?;
    truncated.truncate(truncated.len() - 10);
    raw.publish(PUBLIC_TOPIC, truncated).await?;
    for i in 0..5 {
        raw.publish(PUBLIC_TOPIC, forged_envelope(&format!("forged again {i}")))
            .await?;
    }

    // Honest traffic still flows, after the attack.
    alice.say("public", "honest after").await?;
    wait_for(
        "C to receive the message sent after the attack",
        PATIENCE,
        || async {
            carol
                .texts("public")
                .await
                .ok()?
                .contains(&"honest after".to_string())
                .then_some(())
        },
    )
    .await?;

    let bob = b.account("bob", "battery staple").await?;
    let score = wait_for("B to lower the raw peer's score", PATIENCE, || async {
        let (_, node) = bob.get("/api/v1/node").await.ok()?;
        let peers = node["peers"].as_array()?.clone();
        let entry: Option<&Value> = peers
            .iter()
            .find(|p| p["peer_id"] == raw.peer_id.to_string().as_str());
        // Either graylisted and disconnected, or still connected with a negative score.
        match entry {
            None => Some(f64::NEG_INFINITY),
            Some(p) => p["score"].as_f64().filter(|s| *s < 0.0),
        }
    })
    .await?;
    assert!(score < 0.0);

    for (node, client) in [(&b, &bob), (&c, &carol)] {
        let texts = client.texts("public").await?;
        assert_eq!(
            texts
                .iter()
                .filter(|t| t.as_str() == "honest before")
                .count(),
            1,
            "the duplicate is stored once"
        );
        assert!(!texts.iter().any(|t| t.contains("forged")), "{texts:?}");
        node.handle
            .as_ref()
            .unwrap()
            .state
            .store
            .read(|_| Ok(()))
            .await?;
        for forged in [&b"forged by a stranger"[..], b"forged in a bundle"] {
            assert!(
                !dir_contains(node.data_dir(), forged)?,
                "no forged bytes on disk"
            );
        }
    }
    Ok(())
}

/// Delivery times from alice (on A) to carol (on C, reached only through B) of `n` messages
/// tagged `tag`, in ms, sorted.
async fn delivery_times(
    alice: &chatly_tests::Client,
    carol_events: &mut chatly_tests::Events,
    tag: &str,
    n: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    for i in 0..n {
        let text = format!("{tag} {i}");
        let sent = std::time::Instant::now();
        alice.say("public", &text).await?;
        carol_events
            .expect("message.created", PATIENCE, |e| {
                e["message"]["text"] == text.as_str()
            })
            .await?;
        times.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}

/// A peer floods B with garbage and replays every old envelope it can get, as fast as it can,
/// on every topic. Honest messages keep flowing from A through B to C, nothing is stored twice,
/// and B penalises the flooder (graylisted and disconnected, or at least a negative score while
/// the flood is under the threshold). The delivery
/// times of the quiet and the flooded case are printed; the timing itself is a benchmark
/// figure, not an assertion here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_and_replaying_peer_is_penalised_while_honest_traffic_flows()
-> anyhow::Result<()> {
    let b = TestNode::start(Vec::new()).await?;
    let a = TestNode::start_with(vec![b.addr()], |c| c.peer_routing = false).await?;
    let c = TestNode::start_with(vec![b.addr()], |c| c.peer_routing = false).await?;
    let alice = a.account("alice", "correct horse").await?;
    let carol = c.account("carol", "purple monkey").await?;
    carol.wait_users(2, PATIENCE).await?;
    let mut carol_events = carol.events().await?;
    let quiet = delivery_times(&alice, &mut carol_events, "quiet", 30).await?;

    // Everything old the flooder can replay: every envelope A holds.
    let state = a.handle.as_ref().unwrap().state.clone();
    let old: Vec<Vec<u8>> = state
        .store
        .read(chatly::store::envelopes::all_bytes)
        .await?;
    let topics = [
        PUBLIC_TOPIC,
        "chatly/v1/directory",
        "chatly/v1/rooms",
        "chatly/v1/signals",
    ];
    let raw = RawPeer::spawn(b.addr(), &topics).await?;
    wait_for("the flooder to see B subscribed", PATIENCE, || async {
        (raw.subscribers(PUBLIC_TOPIC).await.ok()? > 0).then_some(())
    })
    .await?;
    let raw = std::sync::Arc::new(raw);
    let flooder = {
        let raw = raw.clone();
        tokio::spawn(async move {
            let mut sent = 0usize;
            for round in 0..40 {
                for (i, bytes) in old.iter().enumerate() {
                    let _ = raw.publish(topics[i % topics.len()], bytes.clone()).await;
                    let mut junk = bytes.clone();
                    junk.truncate(junk.len() / 2 + round);
                    let _ = raw.publish(topics[(i + 1) % topics.len()], junk).await;
                    sent += 2;
                }
            }
            sent
        })
    };
    let flooded = delivery_times(&alice, &mut carol_events, "flooded", 30).await?;
    let sent = flooder.await?;

    let bob = b.account("bob", "battery staple").await?;
    let verdict = wait_for("B to penalise the flooder", PATIENCE, || async {
        let (_, node) = bob.get("/api/v1/node").await.ok()?;
        let entry = node["peers"]
            .as_array()?
            .iter()
            .find(|p| p["peer_id"] == raw.peer_id.to_string().as_str())
            .cloned();
        match entry {
            None => Some("disconnected".to_string()),
            Some(p) => p["score"]
                .as_f64()
                .filter(|s| *s < 0.0)
                .map(|s| format!("score {s:.0}")),
        }
    })
    .await?;
    let p99 = |t: &[f64]| t[(t.len() - 1) * 99 / 100];
    eprintln!(
        "flooder sent {sent} messages; B: {verdict}; A→C delivery p99 quiet {:.1} ms, flooded {:.1} ms ({:.2}x)",
        p99(&quiet),
        p99(&flooded),
        p99(&flooded) / p99(&quiet)
    );
    // Nothing was stored twice, and honest messages all arrived once.
    let texts = carol.texts("public").await?;
    for tag in ["quiet", "flooded"] {
        for i in 0..30 {
            let text = format!("{tag} {i}");
            assert_eq!(texts.iter().filter(|t| **t == text).count(), 1, "{text}");
        }
    }
    Ok(())
}

/// A counter's value in a node's `/metrics` text (0 when absent).
async fn metric(node: &TestNode, name: &str) -> anyhow::Result<f64> {
    let (_, metrics) = node.client().get("/metrics").await?;
    let text = metrics.as_str().unwrap_or_default();
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0))
}

/// A burst of posts leaves A in gossip bundles (a tap beside A sees them), B unbundles, stores and
/// relays them, and C, which hears only B, gets every message in order, by gossip alone: B
/// fetched none of them by sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_posts_travels_in_bundles_and_arrives_whole() -> anyhow::Result<()> {
    chatly_tests::init_tracing();
    let (a, b, _c, alice, carol) = line().await?;
    alice.say("public", "warm-up").await?;
    carol.wait_text("public", "warm-up", PATIENCE).await?;
    let tap = RawPeer::spawn(a.addr(), &[PUBLIC_TOPIC]).await?;
    wait_for("the tap to see A subscribed", PATIENCE, || async {
        (tap.subscribers(PUBLIC_TOPIC).await.ok()? > 0).then_some(())
    })
    .await?;
    let synced_before = metric(&b, "chatly_sync_envelopes_total").await?;

    let texts: Vec<String> = (0..40).map(|i| format!("burst {i:02}")).collect();
    let posts = texts.iter().map(|text| {
        let alice = alice.clone();
        let text = text.clone();
        tokio::spawn(async move { alice.say("public", &text).await })
    });
    for post in futures::future::join_all(posts).await {
        post??;
    }
    // Alice's own order; C must hold the same.
    let expected = alice.texts("public").await?;
    assert_eq!(
        expected.iter().filter(|t| t.starts_with("burst ")).count(),
        40
    );
    carol.wait_texts("public", &expected, PATIENCE).await?;

    let payloads = tap.received().await?;
    let bundles = payloads
        .iter()
        .filter(|p| p.starts_with(&chatly_protocol::bundle::BUNDLE_MAGIC))
        .count();
    let carried: usize = payloads
        .iter()
        .map(|p| chatly_protocol::bundle::gossip_envelopes(p).map_or(0, |e| e.len()))
        .sum();
    assert!(bundles > 0, "no bundle among {} payloads", payloads.len());
    assert!(carried >= 40, "the tap saw {carried} envelopes");
    assert_eq!(
        metric(&b, "chatly_sync_envelopes_total").await?,
        synced_before,
        "B fetched part of the burst by sync"
    );
    Ok(())
}
