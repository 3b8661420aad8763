//! Edits, deletions and reactions across nodes, in the public room and an encrypted group: they
//! reach every node (live, and by sync to one that was off), only the author edits, the author or
//! an admin deletes, and a reaction toggles. A reaction that reaches a node before its message
//! shows in that message's live frame.

use chatly_tests::rawpeer::RawPeer;
use chatly_tests::{CATCH_UP, Client, PATIENCE, TestNode, mesh, wait_for};
use serde_json::{Value, json};

async fn message(client: &Client, room: &str, id: &str) -> Option<Value> {
    client
        .history(room)
        .await
        .ok()?
        .into_iter()
        .find(|m| m["id"] == id)
}

async fn wait_message(
    client: &Client,
    room: &str,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    wait_for(what, CATCH_UP, || async {
        message(client, room, id).await.filter(|m| check(m))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_deletions_and_reactions_reach_every_node() -> anyhow::Result<()> {
    let mut nodes = mesh(3).await?;
    let (alice, bob, carol) = chatly_tests::alice_bob_carol(&nodes).await?;
    let bob_id = bob.user_id.clone().unwrap();
    let carol_id = carol.user_id.clone().unwrap();
    let mut bob_events = bob.events().await?;

    // Public room: a reaction toggles, an edit reaches bob, only the author edits or deletes.
    let posted = alice.say("public", "lunch at noon?").await?;
    let id = posted["id"].as_str().unwrap().to_string();
    bob.wait_text("public", "lunch at noon?", PATIENCE).await?;
    let path = format!("/api/v1/rooms/public/messages/{id}");
    let (status, reacted) = bob
        .post(&format!("{path}/reactions"), json!({"emoji": "👍"}))
        .await?;
    assert_eq!(status, 200, "{reacted}");
    assert_eq!(reacted["reactions"]["👍"], json!([bob_id]));
    wait_message(&alice, "public", &id, "bob's reaction at alice's", |m| {
        m["reactions"]["👍"] == json!([bob_id])
    })
    .await?;
    let (_, unreacted) = bob
        .post(&format!("{path}/reactions"), json!({"emoji": "👍"}))
        .await?;
    assert_eq!(
        unreacted["reactions"],
        json!({}),
        "a second reaction toggles it off"
    );
    let (status, _) = bob.patch_json(&path, json!({"text": "hijacked"})).await?;
    assert_eq!(status, 403);
    let (status, _) = bob.delete(&path).await?;
    assert_eq!(status, 403);
    let (status, edited) = alice
        .patch_json(&path, json!({"text": "lunch at one?"}))
        .await?;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["text"], "lunch at one?");
    assert!(edited["edited_at"].is_string());
    let updated = bob_events
        .expect("message.updated", PATIENCE, |e| {
            e["message"]["id"] == id.as_str() && e["message"]["text"] == "lunch at one?"
        })
        .await?;
    assert!(updated["message"]["edited_at"].is_string());

    // Carol's node is off while alice deletes her message: it learns by sync.
    nodes[2].stop().await;
    let (status, _) = alice.delete(&path).await?;
    assert_eq!(status, 204);
    bob_events
        .expect("message.deleted", PATIENCE, |e| {
            e["message_id"] == id.as_str() && e["room_id"] == "public"
        })
        .await?;
    nodes[2].restart().await?;
    let carol = nodes[2].client().log_in("carol", "purple monkey").await?;
    let gone = wait_message(&carol, "public", &id, "the deletion at carol's", |m| {
        m["deleted"] == true
    })
    .await?;
    assert_eq!(gone["text"], "");
    let (status, _) = alice.patch_json(&path, json!({"text": "back"})).await?;
    assert_eq!(status, 409, "a deleted message stays deleted");

    // An encrypted group: the admin deletes a member's message; reactions and edits are sealed.
    let group = alice.create_group("Team", &[&bob_id, &carol_id]).await?;
    let bobs = bob.say(&group, "my draft").await?;
    let bobs_id = bobs["id"].as_str().unwrap().to_string();
    carol.wait_text(&group, "my draft", CATCH_UP).await?;
    let group_path = format!("/api/v1/rooms/{group}/messages/{bobs_id}");
    let (status, _) = carol
        .post(&format!("{group_path}/reactions"), json!({"emoji": "🎉"}))
        .await?;
    assert_eq!(status, 200);
    wait_message(&bob, &group, &bobs_id, "carol's reaction at bob's", |m| {
        m["reactions"]["🎉"] == json!([carol_id])
    })
    .await?;
    let (status, _) = bob
        .patch_json(&group_path, json!({"text": "my final text"}))
        .await?;
    assert_eq!(status, 200);
    wait_message(&carol, &group, &bobs_id, "bob's edit at carol's", |m| {
        m["text"] == "my final text"
    })
    .await?;
    let (status, _) = carol.delete(&group_path).await?;
    assert_eq!(status, 403, "carol is neither the author nor an admin");
    let (status, _) = alice.delete(&group_path).await?;
    assert_eq!(status, 204, "alice is an admin");
    wait_message(
        &carol,
        &group,
        &bobs_id,
        "the admin's deletion at carol's",
        |m| m["deleted"] == true && m["text"] == "",
    )
    .await?;
    let (status, body) = bob
        .post(&format!("{group_path}/reactions"), json!({"emoji": ""}))
        .await?;
    assert!(status == 422 || status == 409, "{status} {body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reaction_that_arrives_before_its_message_shows_in_its_live_frame() -> anyhow::Result<()>
{
    // Alice's node is alone: bob's node hears her envelopes only from a raw peer, in the order
    // the test chooses.
    let a = TestNode::start(Vec::new()).await?;
    let b = TestNode::start(Vec::new()).await?;
    let alice = a.account("alice", "correct horse").await?;
    let alice_id = alice.user_id.clone().unwrap();
    let posted = alice.say("public", "early birds").await?;
    let id = posted["id"].as_str().unwrap().to_string();
    let (status, reacted) = alice
        .post(
            &format!("/api/v1/rooms/public/messages/{id}/reactions"),
            json!({"emoji": "🐦"}),
        )
        .await?;
    assert_eq!(status, 200, "{reacted}");
    let state = a.handle.as_ref().unwrap().state.clone();
    let reaction = state
        .store
        .read(|c| {
            let mut stmt = c.prepare("SELECT id FROM message_ops")?;
            let ids = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            Ok(ids.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    assert_eq!(reaction.len(), 1);
    let reaction = a.envelope_bytes(&hex::encode(&reaction[0])).await?;
    let message = a.envelope_bytes(&id).await?;

    let bob = b.account("bob", "battery staple").await?;
    let mut bob_events = bob.events().await?;
    let raw = RawPeer::spawn(b.addr(), &["chatly/v1/public"]).await?;
    wait_for("the raw peer to see B subscribed", PATIENCE, || async {
        (raw.subscribers("chatly/v1/public").await.ok()? > 0).then_some(())
    })
    .await?;
    raw.publish("chatly/v1/public", reaction).await?;
    let b_state = b.handle.as_ref().unwrap().state.clone();
    wait_for("B to store the reaction", PATIENCE, || async {
        let n: i64 = b_state
            .store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM message_ops", [], |r| r.get(0))?))
            .await
            .ok()?;
        (n == 1).then_some(())
    })
    .await?;
    raw.publish("chatly/v1/public", message).await?;
    let created = bob_events
        .expect("message.created", PATIENCE, |e| {
            e["message"]["id"] == id.as_str()
        })
        .await?;
    assert_eq!(
        created["message"]["reactions"]["🐦"],
        json!([alice_id]),
        "{created}"
    );
    Ok(())
}
