//! Signed prekey rotation: a rotated account publishes its new prekey, and a key delivery sealed
//! to its previous prekey while it was logged out still opens after the rotation.

use std::time::Duration;

use chatly_protocol::AccountId;
use chatly_tests::{PATIENCE, TestNode, wait_for};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_to_a_replaced_prekey_still_open() -> anyhow::Result<()> {
    let a = TestNode::start(Vec::new()).await?;
    // Every unlock on B rotates the prekey (the default is a week).
    let b =
        TestNode::start_with(vec![a.addr()], |c| c.limits.prekey_max_age = Duration::ZERO).await?;
    let alice = a.account("alice", "correct horse").await?;
    let bob = b.account("bob", "battery staple").await?; // first login: rotation 1
    let bob_id = AccountId::from_hex(bob.user_id.as_deref().unwrap_or_default())?;
    let a_state = a.handle.as_ref().unwrap().state.clone();
    let b_state = b.handle.as_ref().unwrap().state.clone();
    let prekey_at_a = || {
        let store = a_state.store.clone();
        async move {
            store
                .read(move |c| chatly::store::users::get(c, &bob_id.0))
                .await
                .ok()
                .flatten()
                .map(|u| u.prekey_public)
        }
    };
    let first = wait_for(
        "alice's node to learn bob's rotated prekey",
        PATIENCE,
        || async {
            let seen = prekey_at_a().await?;
            let current = b_state.accounts.unlocked(&bob_id)?.prekey.public();
            (seen == current).then_some(seen)
        },
    )
    .await?;
    let (status, _) = bob.delete("/api/v1/sessions/current").await?;
    assert_eq!(status, 204);

    // While bob is logged out, alice seals her chain to the prekey she knows, and speaks.
    let (status, room) = alice
        .post(
            "/api/v1/rooms",
            json!({"kind": "group", "name": "Rotation", "members": [bob_id.to_hex()]}),
        )
        .await?;
    assert_eq!(status, 201, "{room}");
    let room_id = room["id"].as_str().unwrap().to_string();
    alice.say(&room_id, "sealed to your old prekey").await?;
    wait_for("bob's node to hold alice's envelopes", PATIENCE, || async {
        let room = chatly_protocol::RoomId::from_api(&room_id).ok()?;
        let n = b_state
            .store
            .read(move |c| chatly::store::envelopes::count_in_room(c, &room.0))
            .await
            .ok()?;
        (n >= 4).then_some(())
    })
    .await?;

    // bob logs in again: the prekey rotates, the old one is kept, the delivery opens.
    let bob = b.client().log_in("bob", "battery staple").await?;
    let keys = b_state.accounts.unlocked(&bob_id).expect("unlocked");
    assert_ne!(keys.prekey.public(), first, "rotated at login");
    assert!(
        keys.prekey_for(&first).is_some(),
        "the previous prekey is kept"
    );
    wait_for(
        "bob to read the message sealed to his old prekey",
        PATIENCE,
        || async {
            bob.texts(&room_id)
                .await
                .ok()?
                .iter()
                .any(|t| t == "sealed to your old prekey")
                .then_some(())
        },
    )
    .await?;
    let now = keys.prekey.public();
    wait_for("the new prekey to reach alice's node", PATIENCE, || async {
        (prekey_at_a().await? == now).then_some(())
    })
    .await?;
    Ok(())
}
