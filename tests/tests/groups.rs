//! End-to-end encrypted group and direct rooms across four nodes: alice@A, bob@B, carol@C and a
//! relay D in no room, in a star around D (every message between members crosses D). A raw peer
//! hangs off C and records every gossip payload C relays.

use std::time::Duration;

use chatly_protocol::{AccountId, EnvelopeId, Header, Kind, RoomId};
use chatly_tests::rawpeer::RawPeer;
use chatly_tests::{Client, PATIENCE, TestNode, dir_contains, wait_for};

use serde_json::{Value, json};

async fn room_ids(client: &Client) -> Vec<String> {
    let (_, rooms) = client.get("/api/v1/rooms").await.unwrap_or_default();
    rooms
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn unique(tag: &str) -> String {
    format!(
        "{tag}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn groups_and_direct_rooms_are_end_to_end_encrypted() -> anyhow::Result<()> {
    let logs = chatly_tests::LogCapture::install();
    let d = TestNode::start(Vec::new()).await?;
    let a = TestNode::start(vec![d.addr()]).await?;
    let b = TestNode::start(vec![d.addr()]).await?;
    let c = TestNode::start(vec![d.addr()]).await?;
    let tap = RawPeer::spawn(c.addr(), &["chatly/v1/rooms"]).await?;
    let alice = a.account("alice", "correct horse").await?;
    let bob = b.account("bob", "battery staple").await?;
    let carol = c.account("carol", "purple monkey").await?;
    for client in [&alice, &bob, &carol] {
        wait_for("every account everywhere", PATIENCE, || async {
            let (_, users) = client.get("/api/v1/users").await.ok()?;
            (users.as_array()?.len() == 3).then_some(())
        })
        .await?;
    }
    let bob_id = bob.user_id.clone().unwrap();
    let alice_id = alice.user_id.clone().unwrap();
    let carol_id = carol.user_id.clone().unwrap();

    // alice creates a group with bob; bob reads alice's message.
    let (status, room) = alice
        .post(
            "/api/v1/rooms",
            json!({"kind": "group", "name": "Plans", "members": [bob_id]}),
        )
        .await?;
    assert_eq!(status, 201, "{room}");
    assert_eq!(room["encrypted"], true);
    assert_eq!(room["admins"], json!([alice_id]));
    let room_id = room["id"].as_str().unwrap().to_string();
    wait_for("bob to see the group", PATIENCE, || async {
        room_ids(&bob).await.contains(&room_id).then_some(())
    })
    .await?;
    let mut bob_events = bob.events().await?;
    let mut alice_events = alice.events().await?;
    let secret = unique("secret plan");
    let posted = alice.say(&room_id, &secret).await?;
    // The author's own sockets get the post with its delivery state, as its 201 has it.
    let own = alice_events
        .expect("message.created", PATIENCE, |e| {
            e["message"]["id"] == posted["id"]
        })
        .await?;
    assert_eq!(own["message"]["text"], secret.as_str(), "{own}");
    assert!(
        matches!(
            own["message"]["delivery"]["state"].as_str(),
            Some("queued" | "sent")
        ),
        "{own}"
    );
    bob.wait_text(&room_id, &secret, PATIENCE).await?;
    let (_, bob_room) = bob.get(&format!("/api/v1/rooms/{room_id}")).await?;
    assert_eq!(
        bob_room["name"], "Plans",
        "the name reaches members, sealed"
    );

    // Nothing readable anywhere else: not on carol's disk, not on the relay's, not in what C relayed.
    let relayed = tap.received().await?;
    assert!(!relayed.is_empty(), "the tap saw C relay group traffic");
    assert!(!logs.is_empty(), "the nodes' debug logs are captured");
    assert!(
        !logs.contains(secret.as_bytes()) && !logs.contains(b"Plans"),
        "plaintext in a node's logs"
    );
    for payload in &relayed {
        assert!(
            !payload
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "plaintext in relayed gossip"
        );
        assert!(
            !payload.windows(5).any(|w| w == b"Plans"),
            "the group name in relayed gossip"
        );
    }
    for node in [&c, &d] {
        assert!(
            !dir_contains(node.data_dir(), secret.as_bytes())?,
            "plaintext on a non-member's disk"
        );
        assert!(
            !dir_contains(node.data_dir(), b"Plans")?,
            "the group name on a non-member's disk"
        );
    }
    assert!(
        !dir_contains(a.data_dir(), secret.as_bytes())?,
        "even members keep text sealed at rest"
    );
    let (_, c_rooms) = carol.get(&format!("/api/v1/rooms/{room_id}")).await?;
    assert_eq!(c_rooms["error"]["code"], "not_found");

    // bob is not an admin.
    let (status, body) = bob
        .patch_json(
            &format!("/api/v1/rooms/{room_id}"),
            json!({"name": "Mine now"}),
        )
        .await?;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("not_admin"))
    );
    let (status, body) = bob
        .delete(&format!("/api/v1/rooms/{room_id}/members/{alice_id}"))
        .await?;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("not_admin"))
    );

    // alice removes bob: nothing alice sends afterwards opens for bob, and bob can no longer post.
    let (status, after_removal) = alice
        .delete(&format!("/api/v1/rooms/{room_id}/members/{bob_id}"))
        .await?;
    assert_eq!(status, 200, "{after_removal}");
    assert_eq!(after_removal["members"], json!([alice_id]));
    wait_for("bob's node to apply the removal", PATIENCE, || async {
        (!room_ids(&bob).await.contains(&room_id)).then_some(())
    })
    .await?;
    let late = unique("after removal");
    alice.say(&room_id, &late).await?;
    let (status, _) = bob
        .post(
            &format!("/api/v1/rooms/{room_id}/messages"),
            json!({"text": "still here?"}),
        )
        .await?;
    assert_eq!(status, 403);

    // A sealed envelope bob's node signs anyway is rejected everywhere.
    let b_state = b.handle.as_ref().unwrap().state.clone();
    let bob_account = AccountId::from_hex(&bob_id)?;
    let room = RoomId::from_api(&room_id)?;
    let head = b_state
        .store
        .read(move |c| chatly::store::envelopes::head(c, &room.0, &bob_account.0))
        .await?
        .unwrap_or((0, [0; 32]));
    let keys = b_state.accounts.unlocked(&bob_account).unwrap();
    let mut header = Header::plain(
        Kind::Sealed,
        room,
        bob_account,
        head.0 + 1,
        EnvelopeId(head.1),
        chatly::store::now_ms(),
    );
    header.key_suite = 1;
    let forged = chatly::rooms::seal::seal(&keys.identity, header, vec![1; 64]).unwrap();
    b_state
        .net
        .publish(chatly::net::Topic::Rooms, forged.bytes.clone())
        .await
        .ok();
    // carol joins after this; her message below crossing proves the mesh delivered everything sent before.
    let (status, _) = alice
        .post(
            &format!("/api/v1/rooms/{room_id}/members"),
            json!({"user_id": carol_id}),
        )
        .await?;
    assert_eq!(status, 200);
    wait_for("carol to see the group", PATIENCE, || async {
        room_ids(&carol).await.contains(&room_id).then_some(())
    })
    .await?;
    let for_carol = unique("welcome carol");
    alice.say(&room_id, &for_carol).await?;
    carol.wait_text(&room_id, &for_carol, PATIENCE).await?;
    let carol_texts = carol.texts(&room_id).await?;
    assert!(
        !carol_texts.contains(&secret) && !carol_texts.contains(&late),
        "carol reads from her join on only: {carol_texts:?}"
    );
    for node in [&a, &c, &d] {
        let id = forged.id;
        let held = node
            .handle
            .as_ref()
            .unwrap()
            .state
            .store
            .read(move |c| chatly::store::envelopes::contains(c, &id.0))
            .await?;
        assert!(
            !held,
            "bob's envelope after his removal was accepted somewhere"
        );
    }
    let bob_texts = bob.texts(&room_id).await.unwrap_or_default();
    assert!(
        !bob_texts.contains(&late) && !bob_texts.contains(&for_carol),
        "bob read after his removal"
    );
    let seen = bob_events.drain(Duration::from_millis(300)).await;
    assert!(
        seen.iter().all(|e| e["message"]["text"] != late.as_str()),
        "bob's WebSocket got a message after removal"
    );
    assert!(!dir_contains(b.data_dir(), late.as_bytes())?);

    // A direct room: the same id from both sides; bob's node never sees the text.
    let (status, direct) = alice
        .post(
            "/api/v1/rooms",
            json!({"kind": "direct", "user_id": carol_id}),
        )
        .await?;
    assert_eq!(status, 201, "{direct}");
    let direct_id = direct["id"].as_str().unwrap().to_string();
    wait_for("carol to see the direct room", PATIENCE, || async {
        room_ids(&carol).await.contains(&direct_id).then_some(())
    })
    .await?;
    let (status, same) = carol
        .post(
            "/api/v1/rooms",
            json!({"kind": "direct", "user_id": alice_id}),
        )
        .await?;
    assert_eq!(
        (status, same["id"].clone()),
        (200, Value::String(direct_id.clone()))
    );
    assert_eq!(same["kind"], "direct");
    let whisper = unique("just between us");
    alice.say(&direct_id, &whisper).await?;
    carol.wait_text(&direct_id, &whisper, PATIENCE).await?;
    for node in [&b, &d] {
        assert!(
            !dir_contains(node.data_dir(), whisper.as_bytes())?,
            "direct text on another node"
        );
    }
    Ok(())
}
