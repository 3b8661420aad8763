//! Foundation: three real nodes in-process; accounts, the public room, live events, restarts.

use std::time::Duration;

use chatly_tests::{PATIENCE, TestNode, dir_contains, mesh, wait_for};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_posted_on_a_reaches_b_and_c_with_its_author() -> anyhow::Result<()> {
    chatly_tests::init_tracing();
    let nodes = mesh(3).await?;
    let alice = nodes[0].account("alice", "correct horse").await?;
    let bob = nodes[1].account("bob", "battery staple").await?;
    let carol = nodes[2].account("carol", "purple monkey").await?;

    // Every node lists every account, with its home node and fingerprint.
    for client in [&alice, &bob, &carol] {
        wait_for("all three accounts", PATIENCE, || async {
            let (_, users) = client.get("/api/v1/users").await.ok()?;
            (users.as_array()?.len() == 3).then_some(())
        })
        .await?;
    }
    let (_, users) = bob.get("/api/v1/users").await?;
    let alice_entry = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice_entry["id"], alice.user_id.clone().unwrap().as_str());
    assert_eq!(
        alice_entry["node_id"],
        nodes[0].handle.as_ref().unwrap().peer_id.to_string()
    );
    assert_eq!(
        alice_entry["fingerprint"].as_str().unwrap().len(),
        71,
        "60 digits in 12 groups"
    );

    let mut bob_events = bob.events().await?;
    let mut carol_events = carol.events().await?;
    let sent = alice.say("public", "hello from A <b>not bold</b>").await?;
    assert_eq!(sent["author"], alice.user_id.clone().unwrap().as_str());
    assert_eq!(sent["room_id"], "public");

    for events in [&mut bob_events, &mut carol_events] {
        let event = events
            .expect("message.created", PATIENCE, |e| {
                e["message"]["id"] == sent["id"]
            })
            .await?;
        assert_eq!(event["message"]["text"], "hello from A <b>not bold</b>");
        assert_eq!(event["message"]["author"], sent["author"]);
    }
    for client in [&bob, &carol] {
        let history = client.history("public").await?;
        let got = history
            .iter()
            .find(|m| m["id"] == sent["id"])
            .expect("in history");
        assert_eq!(got["author"], sent["author"]);
        assert_eq!(got["sent_at"], sent["sent_at"]);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_keeps_accounts_and_history_and_its_user_logs_in_again()
-> anyhow::Result<()> {
    let mut node = TestNode::start(Vec::new()).await?;
    let alice = node.account("alice", "correct horse").await?;
    for i in 0..120 {
        alice.say("public", &format!("message {i}")).await?;
    }
    let before = alice.texts("public").await?;
    node.stop().await;
    node.restart().await?;

    // The token of a remembered-or-not session still works after a restart: the master key is
    // wrapped under the token, so the node can unlock the account again without the password.
    let (status, _) = alice.clone_for(&node).get("/api/v1/me").await?;
    assert_eq!(status, 200);
    let again = node.client().log_in("alice", "correct horse").await?;
    assert_eq!(again.texts("public").await?, before);
    assert_eq!(before.len(), 120);
    assert_eq!(before.first().map(String::as_str), Some("message 0"));
    again.say("public", "after restart").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_password_fails_and_the_keys_stay_wrapped() -> anyhow::Result<()> {
    let node = TestNode::start(Vec::new()).await?;
    let client = node.client();
    let (status, body) = client
        .post(
            "/api/v1/accounts",
            json!({"username": "alice", "password": "correct horse"}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    let user_id = body["user"]["id"].as_str().unwrap().to_string();

    let (status, body) = client
        .post(
            "/api/v1/sessions",
            json!({"username": "alice", "password": "wrong horse"}),
        )
        .await?;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "bad_credentials");
    let state = &node.handle.as_ref().unwrap().state;
    let id = chatly_protocol::AccountId::from_hex(&user_id)?;
    assert!(
        state.accounts.unlocked(&id).is_none(),
        "a failed login unlocks nothing"
    );

    // Log in to learn the secret key, log out, and check it is nowhere on disk in the clear.
    let alice = client.log_in("alice", "correct horse").await?;
    let secret = state
        .accounts
        .unlocked(&id)
        .expect("unlocked after login")
        .identity
        .to_bytes();
    let (status, _) = alice.delete("/api/v1/sessions/current").await?;
    assert_eq!(status, 204);
    assert!(
        state.accounts.unlocked(&id).is_none(),
        "keys leave memory at logout"
    );
    let (status, _) = alice.get("/api/v1/me").await?;
    assert_eq!(status, 401, "the token stops working at logout");
    assert!(
        !dir_contains(node.data_dir(), &secret[..])?,
        "the identity key is never stored unwrapped"
    );

    // Two sessions, both used (the node remembers checked sessions): logging out one ends that
    // one only, though the account's keys stay unlocked for the other.
    let laptop = client.log_in("alice", "correct horse").await?;
    let phone = client.log_in("alice", "correct horse").await?;
    for session in [&laptop, &phone] {
        assert_eq!(session.get("/api/v1/me").await?.0, 200);
    }
    let (status, _) = laptop.delete("/api/v1/sessions/current").await?;
    assert_eq!(status, 204);
    assert_eq!(
        laptop.get("/api/v1/me").await?.0,
        401,
        "a logged-out session stops working while another keeps the keys unlocked"
    );
    assert_eq!(phone.get("/api/v1/me").await?.0, 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_up_rules_and_errors_follow_the_contract() -> anyhow::Result<()> {
    let node = TestNode::start(Vec::new()).await?;
    let client = node.client();
    let cases = [
        (json!({"username": "Al", "password": "long enough"}), 422),
        (json!({"username": "ALICE", "password": "long enough"}), 422),
        (json!({"username": "alice", "password": "short"}), 422),
        (json!({"username": "alice", "password": "long enough"}), 201),
        (json!({"username": "alice", "password": "another one"}), 409),
    ];
    for (body, expected) in cases {
        let (status, answer) = client.post("/api/v1/accounts", body.clone()).await?;
        assert_eq!(status, expected, "{body} -> {answer}");
        if status >= 400 {
            assert!(answer["error"]["code"].is_string() && answer["error"]["message"].is_string());
        }
    }
    let (status, _) = client.get("/api/v1/rooms").await?;
    assert_eq!(status, 401, "routes need a session");
    let alice = client.log_in("alice", "long enough").await?;
    let (status, body) = alice
        .post(
            "/api/v1/rooms/public/messages",
            json!({"text": "x".repeat(16 * 1024 + 1)}),
        )
        .await?;
    assert_eq!(status, 413, "{body}");
    let (status, rooms) = alice.get("/api/v1/rooms").await?;
    assert_eq!(status, 200);
    assert_eq!(rooms[0]["id"], "public");
    assert_eq!(rooms[0]["encrypted"], false);
    let (status, _) = alice
        .get("/api/v1/rooms/0123456789abcdef0123456789abcdef")
        .await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_joins_later_learns_every_account() -> anyhow::Result<()> {
    let a = TestNode::start(Vec::new()).await?;
    let alice = a.account("alice", "correct horse").await?;
    let b = TestNode::start(vec![a.addr()]).await?;
    let bob = b.account("bob", "battery staple").await?;
    wait_for("bob's node to list alice", PATIENCE, || async {
        let (_, users) = bob.get("/api/v1/users").await.ok()?;
        users
            .as_array()?
            .iter()
            .any(|u| u["username"] == "alice")
            .then_some(())
    })
    .await?;
    wait_for("alice's node to list bob", PATIENCE, || async {
        let (_, users) = alice.get("/api/v1/users").await.ok()?;
        users
            .as_array()?
            .iter()
            .any(|u| u["username"] == "bob")
            .then_some(())
    })
    .await?;
    let _ = Duration::ZERO;
    Ok(())
}
