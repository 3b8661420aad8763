//! A network partition in network namespaces: four hosts on one bridge, cut into two sides of two;
//! both sides keep posting in the public room and in a group spanning the cut; once the cut heals,
//! every node holds the union of all messages in the same order. Needs root (CI runs as root);
//! elsewhere it says why and skips.

use std::time::{Duration, Instant};

use chatly_tests::netns::{self, Lan};
use chatly_tests::{PATIENCE, wait_for};

/// Generous bound for healing: only there to catch hangs.
const HEAL: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn both_sides_of_a_partition_end_with_the_union_in_one_order() -> anyhow::Result<()> {
    if !netns::available() {
        eprintln!("skipped: network namespaces need root and iproute2");
        return Ok(());
    }
    let lan = Lan::create(4)?;
    let data = tempfile::tempdir()?;
    let (processes, users) = lan
        .start_users(
            data.path(),
            &["user1", "user2", "user3", "user4"],
            "split brain",
        )
        .await?;
    for user in &users {
        user.wait_users(4, PATIENCE).await?;
        wait_for("the three other nodes", PATIENCE, || async {
            let (_, node) = user.get("/api/v1/node").await.ok()?;
            (node["peers"].as_array()?.len() == 3).then_some(())
        })
        .await?;
    }
    let others: Vec<String> = users[1..]
        .iter()
        .map(|u| u.user_id.clone().unwrap())
        .collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let group = users[0].create_group("Both sides", &others).await?;
    users[0].say(&group, "before the cut").await?;
    users[0].say("public", "before the cut").await?;
    for user in &users {
        user.wait_text(&group, "before the cut", PATIENCE).await?;
        user.wait_text("public", "before the cut", PATIENCE).await?;
    }

    lan.partition(&[1, 2], &[3, 4], true)?;
    for n in 0..10 {
        for (i, user) in users.iter().enumerate() {
            let side = if i < 2 { "left" } else { "right" };
            user.say("public", &format!("{side} {i} public {n}"))
                .await?;
            user.say(&group, &format!("{side} {i} group {n}")).await?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The cut is real: nothing crossed it.
    for (i, user) in users.iter().enumerate() {
        let other_side = if i < 2 { "right" } else { "left" };
        let texts = user.texts("public").await?;
        assert!(
            !texts.iter().any(|t| t.starts_with(other_side)),
            "user{} saw the other side during the cut",
            i + 1
        );
    }

    let healed = Instant::now();
    lan.partition(&[1, 2], &[3, 4], false)?;
    let union = 1 + 4 * 10;
    for room in ["public", group.as_str()] {
        let mut first: Option<Vec<String>> = None;
        for user in &users {
            let texts = wait_for(&format!("the union in {room}"), HEAL, || async {
                let texts = user.texts(room).await.ok()?;
                (texts.len() == union).then_some(texts)
            })
            .await?;
            match &first {
                None => first = Some(texts),
                Some(first) => assert_eq!(&texts, first, "display order differs in {room}"),
            }
        }
    }
    eprintln!(
        "healed: every node held the union {:?} after the cut healed",
        healed.elapsed()
    );
    drop(processes);
    drop(lan);
    Ok(())
}

/// Lossy links: three hosts each dropping 10 % of their peer-to-peer packets at random, in and
/// out. Everyone posts in the public room and in a group; every node ends with every message,
/// in the same order (TCP retransmits what gossip loses on the wire; sync fetches the rest).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lossy_links_lose_no_message() -> anyhow::Result<()> {
    if !netns::available() {
        eprintln!("skipped: network namespaces need root and iproute2");
        return Ok(());
    }
    let lan = Lan::create(3)?;
    let data = tempfile::tempdir()?;
    let (processes, users) = lan
        .start_users(data.path(), &["user1", "user2", "user3"], "lossy wifi")
        .await?;
    for user in &users {
        user.wait_users(3, PATIENCE).await?;
    }
    let others: Vec<String> = users[1..]
        .iter()
        .map(|u| u.user_id.clone().unwrap())
        .collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let group = users[0].create_group("Lossy", &others).await?;
    users[0].say(&group, "before the loss").await?;
    for user in &users {
        user.wait_text(&group, "before the loss", PATIENCE).await?;
    }
    for i in 1..=3 {
        lan.set_loss(i, 10)?;
    }
    let started = Instant::now();
    for n in 0..15 {
        for (i, user) in users.iter().enumerate() {
            user.say("public", &format!("host {i} public {n}")).await?;
            user.say(&group, &format!("host {i} group {n}")).await?;
        }
    }
    for (room, expected) in [("public", 45), (group.as_str(), 46)] {
        let mut first: Option<Vec<String>> = None;
        for user in &users {
            let texts = wait_for(&format!("all of {room}"), HEAL, || async {
                let texts = user.texts(room).await.ok()?;
                (texts.len() == expected).then_some(texts)
            })
            .await?;
            match &first {
                None => first = Some(texts),
                Some(first) => assert_eq!(&texts, first, "display order differs in {room}"),
            }
        }
    }
    let dropped: u64 = (1..=3).map(|i| lan.dropped(i).unwrap_or(0)).sum();
    eprintln!(
        "10 % loss on every link ({dropped} packets dropped): all 90 messages everywhere, in one order, {:?} after the first post",
        started.elapsed()
    );
    assert!(dropped > 0, "the links really lost packets");
    drop(processes);
    drop(lan);
    Ok(())
}
