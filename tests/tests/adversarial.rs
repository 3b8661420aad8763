//! A hostile raw libp2p peer publishes a forged-signature envelope, an oversized one and a
//! duplicate into node B; nothing of it is stored or relayed to C, the peer's score at B drops,
//! and honest traffic keeps flowing.

use chatly_protocol::{AccountId, Content, Envelope, EnvelopeId, Header, Kind, RoomId};
use chatly_tests::rawpeer::RawPeer;
use chatly_tests::{PATIENCE, TestNode, dir_contains, wait_for};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_oversized_and_duplicate_envelopes_go_nowhere() -> anyhow::Result<()> {
    chatly_tests::init_tracing();
    // A - B - C: C hears only what B relays.
    let b = TestNode::start(Vec::new()).await?;
    let a = TestNode::start(vec![b.addr()]).await?;
    let c = TestNode::start(vec![b.addr()]).await?;
    let alice = a.account("alice", "correct horse").await?;
    let carol = c.account("carol", "purple monkey").await?;
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
    let honest_id = EnvelopeId::from_hex(honest["id"].as_str().unwrap())?;
    let state = a.handle.as_ref().unwrap().state.clone();
    let honest_bytes = state
        .store
        .read(move |c| chatly::store::envelopes::bytes(c, &honest_id.0))
        .await?
        .expect("held");
    raw.publish(PUBLIC_TOPIC, honest_bytes).await?;
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
        assert!(
            !dir_contains(node.data_dir(), b"forged by a stranger")?,
            "no forged bytes on disk"
        );
    }
    Ok(())
}
