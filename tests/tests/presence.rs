//! Presence, typing and read receipts across nodes: everyone agrees on who is online; a node that
//! stops cleanly takes its accounts offline at once, one killed with SIGKILL after two heartbeat
//! intervals; typing and receipts reach the other member of a group and never a non-member;
//! unread counts survive a restart.

use std::time::Duration;

use chatly_tests::{Client, Events, PATIENCE, TestNode, process, wait_for};
use serde_json::{Value, json};

fn fast_presence(config: &mut chatly::Config) {
    config.presence_interval = Duration::from_secs(1);
}

async fn online_count(client: &Client) -> Option<u64> {
    let (status, body) = client.get("/api/v1/presence").await.ok()?;
    (status == 200).then(|| body["online_count"].as_u64())?
}

async fn wait_online(clients: &[&Client], n: u64) -> anyhow::Result<()> {
    for client in clients {
        wait_for(&format!("{n} online"), PATIENCE, || async {
            (online_count(client).await? == n).then_some(())
        })
        .await?;
    }
    Ok(())
}

async fn expect_presence(events: &mut Events, user: &str, online: bool) -> anyhow::Result<()> {
    events
        .expect("presence", PATIENCE, |e| {
            e["user_id"] == user && e["online"] == online
        })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn everyone_agrees_who_is_online_and_signals_reach_members_only() -> anyhow::Result<()> {
    let a = TestNode::start_with(Vec::new(), fast_presence).await?;
    let mut b = TestNode::start_with(vec![a.addr()], fast_presence).await?;
    let mut c = TestNode::start_with(vec![a.addr(), b.addr()], fast_presence).await?;
    let alice = a.account("alice", "correct horse").await?;
    let bob = b.account("bob", "battery staple").await?;
    let carol = c.account("carol", "purple monkey").await?;
    for client in [&alice, &bob, &carol] {
        client.wait_users(3, PATIENCE).await?;
    }
    let mut alice_events = alice.events().await?;
    let mut bob_events = bob.events().await?;
    let mut carol_events = carol.events().await?;
    wait_online(&[&alice, &bob, &carol], 3).await?;
    let (_, users) = alice.get("/api/v1/users").await?;
    let carol_id = carol.user_id.clone().unwrap();
    let carol_seen = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == carol_id.as_str())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(carol_seen["online"], true, "{carol_seen}");

    // A group of alice and bob: carol is not in it.
    let bob_id = bob.user_id.clone().unwrap();
    let alice_id = alice.user_id.clone().unwrap();
    let group = alice.create_group("Two of us", &[&bob_id]).await?;
    let hello = alice.say(&group, "psst").await?;
    bob.wait_text(&group, "psst", PATIENCE).await?;

    let (status, _) = alice
        .post(&format!("/api/v1/rooms/{group}/typing"), json!({}))
        .await?;
    assert_eq!(status, 204);
    let typing = bob_events
        .expect("typing", PATIENCE, |e| e["room_id"] == group.as_str())
        .await?;
    assert_eq!(typing["user_id"], alice_id.as_str());
    let (status, _) = bob
        .post(
            &format!("/api/v1/rooms/{group}/read"),
            json!({"message_id": hello["id"]}),
        )
        .await?;
    assert_eq!(status, 204);
    let receipt = alice_events
        .expect("receipt", PATIENCE, |e| e["room_id"] == group.as_str())
        .await?;
    assert_eq!(receipt["user_id"], bob_id.as_str());
    assert_eq!(receipt["message_id"], hello["id"]);
    // In the public room everyone hears typing, carol included.
    bob.post("/api/v1/rooms/public/typing", json!({})).await?;
    carol_events
        .expect("typing", PATIENCE, |e| e["room_id"] == "public")
        .await?;
    let heard = carol_events.drain(Duration::from_secs(2)).await;
    assert!(
        !heard
            .iter()
            .any(|e| (e["type"] == "typing" || e["type"] == "receipt")
                && e["room_id"] == group.as_str()),
        "a non-member heard the group's signals: {heard:?}"
    );
    // Bad input: a message that is not in the room.
    let (status, _) = bob
        .post(
            &format!("/api/v1/rooms/{group}/read"),
            json!({"message_id": "00".repeat(32)}),
        )
        .await?;
    assert_eq!(status, 404);

    // Unread counts: alice posts twice more; bob has two unread, and still after a restart.
    alice.say(&group, "one").await?;
    alice.say(&group, "two").await?;
    bob.wait_text(&group, "two", PATIENCE).await?;
    let unread = |client: Client, room: String| async move {
        let (_, room) = client.get(&format!("/api/v1/rooms/{room}")).await.ok()?;
        room["unread"].as_u64()
    };
    assert_eq!(unread(bob.clone(), group.clone()).await, Some(2));
    drop(bob_events);
    b.stop().await;
    expect_presence(&mut alice_events, &bob_id, false).await?;
    b.restart().await?;
    let bob = b.client().log_in("bob", "battery staple").await?;
    assert_eq!(unread(bob.clone(), group.clone()).await, Some(2));

    // A clean stop: carol is offline everywhere at once (her node says goodbye).
    drop(carol_events);
    c.stop().await;
    expect_presence(&mut alice_events, &carol_id, false).await?;
    wait_online(&[&alice], 1).await?;

    // A node killed with SIGKILL says nothing: its account times out after two heartbeats.
    let data = tempfile::tempdir()?;
    let (killed, anonymous) = process::spawn(data.path(), Some(&a.addr())).await?;
    anonymous
        .post(
            "/api/v1/accounts",
            json!({"username": "dave", "password": "pulls the plug"}),
        )
        .await?;
    let dave = anonymous.log_in("dave", "pulls the plug").await?;
    let dave_id = dave.user_id.clone().unwrap();
    let _dave_events = dave.events().await?;
    expect_presence(&mut alice_events, &dave_id, true).await?;
    drop(killed);
    // Default interval 5 s: offline within two intervals of the last heartbeat.
    expect_presence(&mut alice_events, &dave_id, false).await?;
    Ok(())
}
