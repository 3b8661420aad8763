//! Nothing lost: a node that was off catches up every room kind in order; a message reaches a
//! node that is never online together with its author through one that is (store-and-forward);
//! a node that missed a removal converges; and the sender sees a message go from queued to held.

use std::time::{Duration, Instant};

use chatly_tests::{CATCH_UP, PATIENCE, TestNode, dir_contains, mesh, wait_for};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_was_off_catches_up_a_thousand_messages_in_order() -> anyhow::Result<()> {
    let mut nodes = mesh(3).await?;
    let (alice, bob, carol) = chatly_tests::alice_bob_carol(&nodes).await?;
    let bob_id = bob.user_id.clone().unwrap();
    let carol_id = carol.user_id.clone().unwrap();
    let group = alice.create_group("Backlog", &[&bob_id, &carol_id]).await?;
    let direct = alice.direct_with(&carol_id).await?;
    let rooms = ["public".to_string(), group, direct];
    let mut expected: Vec<Vec<String>> = vec![Vec::new(); 3];
    for (i, room) in rooms.iter().enumerate() {
        let text = format!("before {i}");
        alice.say(room, &text).await?;
        carol.wait_text(room, &text, PATIENCE).await?;
        expected[i].push(text);
    }

    nodes[2].stop().await;
    for n in 0..1000 {
        let text = format!("missed {n}");
        alice.say(&rooms[n % 3], &text).await?;
        expected[n % 3].push(text);
    }

    let restarted = Instant::now();
    nodes[2].restart().await?;
    let carol = nodes[2].client().log_in("carol", "purple monkey").await?;
    for (room, texts) in rooms.iter().zip(&expected) {
        carol.wait_texts(room, texts, CATCH_UP).await?;
    }
    eprintln!(
        "carol's node caught up 1000 messages in {:?}",
        restarted.elapsed()
    );
    // Same order on the author's node, and on bob's for the rooms he is in.
    for (room, texts) in rooms.iter().zip(&expected) {
        assert_eq!(&alice.texts(room).await?, texts);
    }
    for (room, texts) in rooms.iter().zip(&expected).take(2) {
        bob.wait_texts(room, texts, CATCH_UP).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_reaches_a_node_never_online_with_its_author() -> anyhow::Result<()> {
    let b = TestNode::start(Vec::new()).await?;
    let bob = b.account("bob", "battery staple").await?;
    let mut a = TestNode::start(vec![b.addr()]).await?;
    a.account("alice", "correct horse").await?;
    bob.wait_users(2, PATIENCE).await?;
    a.stop().await;

    // carol signs up while alice's node is off; her account record reaches alice through B.
    let mut c = TestNode::start(vec![b.addr()]).await?;
    let carol = c.account("carol", "purple monkey").await?;
    carol.wait_users(3, PATIENCE).await?;
    let carol_id = carol.user_id.clone().unwrap();
    c.stop().await;

    a.restart().await?;
    let alice = a.client().log_in("alice", "correct horse").await?;
    alice.wait_users(3, PATIENCE).await?;
    let bob_id = bob.user_id.clone().unwrap();
    let group = alice.create_group("Relay", &[&bob_id, &carol_id]).await?;
    alice.say("public", "to everyone, via bob").await?;
    alice.say(&group, "to the group, via bob").await?;
    bob.wait_text(&group, "to the group, via bob", PATIENCE)
        .await?;
    bob.wait_text("public", "to everyone, via bob", PATIENCE)
        .await?;
    // B holding alice's envelopes is what the outbox waits for.
    wait_for(
        "alice's node to see B hold her messages",
        PATIENCE,
        || async {
            let history = alice.history(&group).await.ok()?;
            let last = history.last()?;
            (last["delivery"]["state"] == "held").then_some(())
        },
    )
    .await?;
    a.stop().await;

    c.restart().await?;
    let carol = c.client().log_in("carol", "purple monkey").await?;
    carol
        .wait_text("public", "to everyone, via bob", CATCH_UP)
        .await?;
    carol
        .wait_text(&group, "to the group, via bob", CATCH_UP)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_removed_while_offline_converges_and_reads_nothing_after() -> anyhow::Result<()> {
    let mut nodes = mesh(3).await?;
    let (alice, bob, carol) = chatly_tests::alice_bob_carol(&nodes).await?;
    let bob_id = bob.user_id.clone().unwrap();
    let carol_id = carol.user_id.clone().unwrap();
    let group = alice
        .create_group("Shrinking", &[&bob_id, &carol_id])
        .await?;
    alice.say(&group, "while carol is in").await?;
    carol
        .wait_text(&group, "while carol is in", PATIENCE)
        .await?;

    nodes[2].stop().await;
    let (status, body) = alice
        .delete(&format!("/api/v1/rooms/{group}/members/{carol_id}"))
        .await?;
    assert_eq!(status, 200, "{body}");
    let secret = "said after carol left the room";
    alice.say(&group, secret).await?;
    bob.wait_text(&group, secret, PATIENCE).await?;

    nodes[2].restart().await?;
    let carol = nodes[2].client().log_in("carol", "purple monkey").await?;
    wait_for(
        "carol's node to learn she was removed",
        CATCH_UP,
        || async {
            let (_, rooms) = carol.get("/api/v1/rooms").await.ok()?;
            let listed = rooms.as_array()?.iter().any(|r| r["id"] == group.as_str());
            (!listed).then_some(())
        },
    )
    .await?;
    let (status, _) = carol
        .get(&format!("/api/v1/rooms/{group}/messages"))
        .await?;
    assert!(status == 403 || status == 404, "status {status}");
    // Every node that still hosts a member agrees on the membership.
    let members = |room: Value| -> Vec<String> {
        let mut ids: Vec<String> = room["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().or(m["id"].as_str()).map(String::from))
            .collect();
        ids.sort();
        ids
    };
    let (_, at_alice) = alice.get(&format!("/api/v1/rooms/{group}")).await?;
    let (_, at_bob) = bob.get(&format!("/api/v1/rooms/{group}")).await?;
    assert_eq!(members(at_alice.clone()), members(at_bob));
    assert!(!members(at_alice).contains(&carol_id));
    // Give sync a moment more, then check carol's node never saw the plaintext.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!dir_contains(nodes[2].data_dir(), secret.as_bytes())?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_sent_alone_is_queued_then_held_once_a_peer_appears() -> anyhow::Result<()> {
    let a = TestNode::start(Vec::new()).await?;
    let alice = a.account("alice", "correct horse").await?;
    let mut events = alice.events().await?;
    let message = alice.say("public", "anyone out there?").await?;
    assert_eq!(message["delivery"]["state"], "queued", "{message}");
    let id = message["id"].as_str().unwrap().to_string();
    let own = events
        .expect("message.created", PATIENCE, |e| {
            e["message"]["id"] == id.as_str()
        })
        .await?;
    assert_eq!(own["message"]["delivery"]["state"], "queued", "{own}");

    let b = TestNode::start(vec![a.addr()]).await?;
    let held = events
        .expect("message.delivery", PATIENCE, |e| {
            e["message_id"] == id.as_str() && e["delivery"]["state"] == "held"
        })
        .await?;
    assert_eq!(held["delivery"]["peers"], 1, "{held}");
    assert_eq!(held["room_id"], "public");
    let history = alice.history("public").await?;
    assert_eq!(history[0]["delivery"]["state"], "held");
    let bob = b.account("bob", "battery staple").await?;
    bob.wait_text("public", "anyone out there?", PATIENCE)
        .await?;
    // Delivery state is the author's business: other people's messages carry none.
    let seen_by_bob = bob.history("public").await?;
    assert!(seen_by_bob[0].get("delivery").is_none_or(Value::is_null));
    Ok(())
}
