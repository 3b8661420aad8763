//! Search across rooms: prefix words, best match first, scoped to one room, only rooms the caller
//! is in, edits found by their new words, deletions gone, and no private plaintext on disk.

use chatly_tests::{CATCH_UP, PATIENCE, dir_contains, mesh};
use serde_json::{Value, json};

fn texts(result: &Value) -> Vec<String> {
    result["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["text"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_finds_what_the_caller_may_read_best_first() -> anyhow::Result<()> {
    let nodes = mesh(2).await?;
    let alice = nodes[0].account("alice", "correct horse").await?;
    let bob = nodes[1].account("bob", "battery staple").await?;
    let carol = nodes[1].account("carol", "purple monkey").await?;
    for client in [&alice, &bob, &carol] {
        client.wait_users(3, PATIENCE).await?;
    }
    let bob_id = bob.user_id.clone().unwrap();
    alice.say("public", "the harbour opens at nine").await?;
    alice
        .say("public", "harbour harbour harbour: the harbour festival")
        .await?;
    alice.say("public", "nothing to see here").await?;
    let group = alice.create_group("Sailing", &[&bob_id]).await?;
    alice
        .say(&group, "secret harbourmaster password is zebracorn")
        .await?;
    bob.wait_text(
        &group,
        "secret harbourmaster password is zebracorn",
        CATCH_UP,
    )
    .await?;
    bob.wait_text("public", "nothing to see here", CATCH_UP)
        .await?;

    let (status, found) = bob.get("/api/v1/search?q=harb").await?;
    assert_eq!(status, 200, "{found}");
    let found = texts(&found);
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(
        found[0], "harbour harbour harbour: the harbour festival",
        "best first"
    );
    assert!(found.contains(&"secret harbourmaster password is zebracorn".to_string()));

    // Scoped to the group; and carol, not in it, never sees it.
    let (_, scoped) = bob
        .get(&format!("/api/v1/search?q=harbour&room_id={group}"))
        .await?;
    assert_eq!(
        texts(&scoped),
        vec!["secret harbourmaster password is zebracorn"]
    );
    let (_, carols) = carol.get("/api/v1/search?q=zebracorn").await?;
    assert!(texts(&carols).is_empty(), "{carols}");
    let (status, _) = carol
        .get(&format!("/api/v1/search?q=harbour&room_id={group}"))
        .await?;
    assert_eq!(status, 404);
    // The private index is in memory only: the word is nowhere on bob's node's disk.
    assert!(!dir_contains(nodes[1].data_dir(), b"zebracorn")?);

    // Edits are found by their new words; deletions disappear.
    let (_, list) = bob.get("/api/v1/search?q=nothing").await?;
    let id = list["messages"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = alice
        .patch_json(
            &format!("/api/v1/rooms/public/messages/{id}"),
            json!({"text": "lighthouse tours sold out"}),
        )
        .await?;
    assert_eq!(status, 200);
    chatly_tests::wait_for("the edit to be searchable at bob's", CATCH_UP, || async {
        let (_, r) = bob.get("/api/v1/search?q=lighth").await.ok()?;
        (texts(&r) == vec!["lighthouse tours sold out"]).then_some(())
    })
    .await?;
    let (status, _) = alice
        .delete(&format!("/api/v1/rooms/public/messages/{id}"))
        .await?;
    assert_eq!(status, 204);
    chatly_tests::wait_for("the deletion to leave the results", CATCH_UP, || async {
        let (_, r) = bob.get("/api/v1/search?q=lighthouse").await.ok()?;
        texts(&r).is_empty().then_some(())
    })
    .await?;
    let (status, empty) = bob.get("/api/v1/search?q=%20%3F").await?;
    assert_eq!((status, texts(&empty).len()), (200, 0));
    Ok(())
}
