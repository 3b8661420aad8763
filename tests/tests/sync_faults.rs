//! Faults around sync: a node process killed with SIGKILL while a client posts loses no
//! acknowledged message, and a node whose peers answer sync with garbage, truncated frames,
//! enormous lengths, forged envelopes and endless "more" stays healthy and completes from an
//! honest peer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chatly_protocol::sync::{AuthorRanges, Response, RoomHeads, RoomStatus, SeqRange};
use chatly_protocol::{AccountId, Content, Envelope, EnvelopeId, Header, Kind, RoomId};
use chatly_tests::rawpeer::{RawPeer, frame};
use chatly_tests::{CATCH_UP, PATIENCE, TestNode, process, wait_for};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_write_keeps_every_acknowledged_message() -> anyhow::Result<()> {
    let b = TestNode::start(Vec::new()).await?;
    let watcher = b.account("watcher", "keeps an eye").await?;
    let data = tempfile::tempdir()?;
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..3u64 {
        let (process, anonymous) = process::spawn(data.path(), Some(&b.addr())).await?;
        if round == 0 {
            let (status, body) = anonymous
                .post(
                    "/api/v1/accounts",
                    json!({"username": "dave", "password": "crash test dummy"}),
                )
                .await?;
            assert_eq!(status, 201, "{body}");
        }
        let dave = anonymous.log_in("dave", "crash test dummy").await?;
        // Two clients post as fast as answers come until the process dies under them.
        let posters: Vec<_> = (0..2)
            .map(|poster| {
                let dave = dave.clone();
                let acked = acked.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        let text = format!("round {round} poster {poster} message {n}");
                        match dave.say("public", &text).await {
                            Ok(_) => acked.lock().unwrap().push(text),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(400 + 350 * round)).await;
        drop(process); // SIGKILL, wherever it is
        for poster in posters {
            poster.await?;
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 30,
        "only {} posts were acknowledged",
        acked.len()
    );
    eprintln!("{} posts acknowledged across three kills", acked.len());

    // Start-up after the kills needs no manual step; nothing acknowledged is missing.
    let (_process, anonymous) = process::spawn(data.path(), Some(&b.addr())).await?;
    let dave = anonymous.log_in("dave", "crash test dummy").await?;
    let texts = dave.texts("public").await?;
    let missing: Vec<_> = acked.iter().filter(|t| !texts.contains(t)).collect();
    assert!(missing.is_empty(), "lost after kill -9: {missing:?}");
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), texts.len(), "duplicates after restart");
    wait_for(
        "every acknowledged message on the peer",
        CATCH_UP,
        || async {
            let seen = watcher.texts("public").await.ok()?;
            acked.iter().all(|t| seen.contains(t)).then_some(())
        },
    )
    .await?;
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// An envelope claiming to be `author`'s `seq`-th public message, with a signature it never made.
fn forged(author: AccountId, seq: u64) -> Vec<u8> {
    let body = Content::Message {
        text: format!("forged {seq}"),
        files: Vec::new(),
        reply_to: None,
    }
    .encode()
    .expect("encode");
    let prev = if seq == 1 {
        EnvelopeId::ZERO
    } else {
        EnvelopeId([9; 32])
    };
    let header = Header::plain(Kind::Content, RoomId::PUBLIC, author, seq, prev, now_ms());
    Envelope {
        header,
        body,
        signature: [7; 64],
    }
    .encode()
}

/// "I hold `author`'s public messages 1 to a million."
fn boastful_heads(author: AccountId) -> Vec<u8> {
    frame(
        &Response::Heads(vec![RoomHeads {
            room: RoomId::PUBLIC,
            status: RoomStatus::Differs(vec![AuthorRanges {
                author,
                ranges: vec![SeqRange {
                    lo: 1,
                    hi: 1_000_000,
                }],
            }]),
        }])
        .encode()
        .expect("encode"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_sync_answers_are_rejected_and_an_honest_peer_completes() -> anyhow::Result<()> {
    let b = TestNode::start(Vec::new()).await?;
    let alice = b.account("alice", "correct horse").await?;
    let author = AccountId::from_hex(alice.user_id.as_deref().unwrap())?;
    let mut expected = Vec::new();
    for n in 0..40 {
        let text = format!("honest {n}");
        alice.say("public", &text).await?;
        expected.push(text);
    }

    let c = TestNode::start(Vec::new()).await?;
    let carol = c.account("carol", "purple monkey").await?;
    let mut truncated_page = Response::Page {
        more: false,
        envelopes: vec![forged(author, 1)],
    }
    .encode()?;
    truncated_page.truncate(truncated_page.len() / 2);
    let mut cut_envelope = forged(author, 2);
    cut_envelope.truncate(60);
    let forged_page = Response::Page {
        more: true,
        envelopes: (1..=5)
            .map(|seq| forged(author, seq))
            .chain([cut_envelope, vec![0xAB; 300]])
            .collect(),
    }
    .encode()?;
    let endless = Response::Page {
        more: true,
        envelopes: Vec::new(),
    }
    .encode()?;
    let scripts: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("garbage", vec![frame(&[0x5A; 4096])]),
        (
            "an enormous length",
            vec![vec![0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]],
        ),
        (
            "a cut-off frame",
            vec![[&100_000u32.to_be_bytes()[..], &[1; 50]].concat()],
        ),
        (
            "a truncated page",
            vec![boastful_heads(author), frame(&truncated_page)],
        ),
        (
            "forged envelopes",
            vec![boastful_heads(author), frame(&forged_page)],
        ),
        (
            "endless more",
            vec![boastful_heads(author), frame(&endless)],
        ),
    ];
    let mut hostile = Vec::new();
    for (what, script) in scripts {
        let rounds = script.len();
        let peer = RawPeer::spawn_with_script(c.addr(), &[], script).await?;
        hostile.push((what, rounds, peer));
    }
    for (what, rounds, peer) in &hostile {
        wait_for(
            &format!("C to ask the peer sending {what}"),
            PATIENCE,
            || async { (peer.sync_requests() >= *rounds).then_some(()) },
        )
        .await?;
    }
    // Healthy: still answering, still holding nothing forged.
    let (status, _) = carol.get("/healthz").await?;
    assert_eq!(status, 200);
    assert!(carol.texts("public").await?.is_empty());

    let (status, body) = carol
        .post("/api/v1/node/peers", json!({"addr": b.addr().to_string()}))
        .await?;
    assert_eq!(status, 202, "{body}");
    carol.wait_texts("public", &expected, CATCH_UP).await?;
    assert!(
        !carol
            .texts("public")
            .await?
            .iter()
            .any(|t| t.starts_with("forged")),
        "a forged envelope was stored"
    );
    let (_, metrics) = carol.get("/metrics").await?;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("chatly_sync_failures_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(failures >= 5.0, "{failures} failed rounds recorded");
    Ok(())
}

/// A post whose number is reserved goes to the network while its commit is in flight
/// (docs/protocol.md, "Crash safety"). Here alice's commit of such a post fails (a trigger,
/// added from outside, refuses sealed envelopes): she is told it failed, and bob's node may
/// already hold it. Her next post must use neither its number (bob's node would refuse an
/// equivocation) nor its chain key (bob's node deleted that key when it opened the first). After
/// a restart, numbering skips past the reservation, and a peer holding everything but the
/// skipped number counts as holding all of alice's envelopes (her delivery state reaches "held").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_published_before_a_failed_commit_uses_no_number_or_key_again() -> anyhow::Result<()>
{
    let b = TestNode::start(Vec::new()).await?;
    let bob = b.account("bob", "battery staple").await?;
    let mut a = TestNode::start(vec![b.addr()]).await?;
    let alice = a.account("alice", "correct horse").await?;
    bob.wait_users(2, PATIENCE).await?;
    alice.wait_users(2, PATIENCE).await?;
    let bob_id = bob.user_id.clone().unwrap_or_default();
    let group = alice.create_group("crew", &[&bob_id]).await?;
    alice.say(&group, "first").await?;
    bob.wait_text(&group, "first", PATIENCE).await?;

    let db = rusqlite::Connection::open(a.data_dir().join("chatly.db"))?;
    db.execute_batch(
        "CREATE TRIGGER injected_failure BEFORE INSERT ON envelopes WHEN NEW.kind = 4
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )?;
    let (status, body) = alice
        .post(
            &format!("/api/v1/rooms/{group}/messages"),
            json!({"text": "maybe sent"}),
        )
        .await?;
    assert_eq!(status, 500, "{body}");
    db.execute_batch("DROP TRIGGER injected_failure")?;
    // Published while its commit ran: bob's node has it, and opened it.
    bob.wait_text(&group, "maybe sent", PATIENCE).await?;

    alice.say(&group, "after the failure").await?;
    bob.wait_text(&group, "after the failure", PATIENCE).await?;
    assert_eq!(
        bob.texts(&group).await?,
        ["first", "maybe sent", "after the failure"],
        "bob's view of the group"
    );

    a.stop().await;
    a.restart().await?;
    let alice = a.client().log_in("alice", "correct horse").await?;
    alice.say(&group, "after the restart").await?;
    alice.say("public", "public, after the restart").await?;
    bob.wait_text(&group, "after the restart", PATIENCE).await?;
    bob.wait_text("public", "public, after the restart", PATIENCE)
        .await?;
    for room in [group.as_str(), "public"] {
        wait_for(
            "bob's node to hold all of alice's posts",
            PATIENCE,
            || async {
                let history = alice.history(room).await.ok()?;
                let last = history.last()?;
                (last["delivery"]["state"] == "held").then_some(())
            },
        )
        .await?;
    }
    Ok(())
}
