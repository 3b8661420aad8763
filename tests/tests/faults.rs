//! Faults a node must survive: a full disk makes posting fail cleanly (507 `storage_full`),
//! loses nothing acknowledged, and works again once there is room (a small tmpfs, so it needs
//! root; elsewhere it says why and skips); a damaged database file is refused at start with a
//! message naming it, and left untouched for recovery; a room change whose commit fails leaves
//! its author free to change the room again.

use std::process::Command;

use chatly_tests::{TestNode, netns};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_fails_cleanly_and_recovers() -> anyhow::Result<()> {
    if !netns::available() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return Ok(());
    }
    let mount = tempfile::tempdir()?;
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(mount.path())
        .status()?;
    anyhow::ensure!(status.success(), "mount tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());

    let mut node = TestNode::start_in(mount.path().join("node"), Vec::new()).await?;
    let alice = node.account("alice", "correct horse").await?;
    let filler = "x".repeat(12 * 1024);
    let mut acked = Vec::new();
    let mut refused = None;
    for n in 0..2000 {
        let text = format!("{n} {filler}");
        let (status, body) = alice
            .post("/api/v1/rooms/public/messages", json!({"text": text}))
            .await?;
        if status == 201 {
            acked.push(text);
        } else {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("the disk never filled");
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["error"]["code"], "storage_full");
    // Posts in flight together while the disk is full: queued behind one another (numbered from
    // memory, committed together). Each is refused with 507, also one refused because a post
    // queued before it failed, or, should it still fit, acknowledged; none is half-stored.
    let burst: Vec<String> = (0..8).map(|n| format!("burst {n} {filler}")).collect();
    let answers = futures::future::join_all(
        burst
            .iter()
            .map(|text| alice.post("/api/v1/rooms/public/messages", json!({"text": text}))),
    )
    .await;
    for (text, answer) in burst.into_iter().zip(answers) {
        let (status, body) = answer?;
        match status {
            201 => acked.push(text),
            507 => assert_eq!(body["error"]["code"], "storage_full", "{body}"),
            _ => panic!("a post while the disk is full: {status} {body}"),
        }
    }
    // Reads still work, and everything acknowledged is there.
    let texts = alice.texts("public").await?;
    assert!(
        acked.iter().all(|t| texts.contains(t)),
        "an acknowledged message is missing"
    );

    // Room again: posting works, and a restart finds everything.
    let status = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(mount.path())
        .status()?;
    anyhow::ensure!(status.success(), "remount");
    alice.say("public", "after the disk had room again").await?;
    node.stop().await;
    node.restart().await?;
    let alice = node.client().log_in("alice", "correct horse").await?;
    let texts = alice.texts("public").await?;
    assert_eq!(texts.len(), acked.len() + 1);
    node.stop().await;
    Ok(())
}

/// A room change is published while its author's lock is held. When its commit fails (here a
/// trigger, added from outside, refuses control envelopes), the node answers with an error and
/// the author can change the room again: nothing waits for the lock the failing request holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_room_change_leaves_its_author_free_to_try_again() -> anyhow::Result<()> {
    use std::time::Duration;
    let mut node = TestNode::start(Vec::new()).await?;
    let alice = node.account("alice", "correct horse").await?;
    let bob = node.account("bob", "battery staple").await?;
    let bob_id = bob.user_id.clone().unwrap_or_default();
    let (status, room) = alice
        .post(
            "/api/v1/rooms",
            json!({"kind": "group", "name": "crew", "members": [bob_id]}),
        )
        .await?;
    assert_eq!(status, 201, "{room}");
    let members = format!(
        "/api/v1/rooms/{}/members/{bob_id}",
        room["id"].as_str().unwrap_or_default()
    );

    let db = rusqlite::Connection::open(node.data_dir().join("chatly.db"))?;
    db.execute_batch(
        "CREATE TRIGGER injected_failure BEFORE INSERT ON envelopes WHEN NEW.kind = 3
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )?;
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), alice.delete(&members))
        .await
        .map_err(|_| anyhow::anyhow!("a failing room change hung"))??;
    assert_eq!(status, 500, "{body}");
    db.execute_batch("DROP TRIGGER injected_failure")?;

    let (status, body) = tokio::time::timeout(Duration::from_secs(10), alice.delete(&members))
        .await
        .map_err(|_| anyhow::anyhow!("the author was locked out of the room"))??;
    assert!(status < 300, "{status} {body}");
    let (_, room) = alice
        .get(&format!(
            "/api/v1/rooms/{}",
            room["id"].as_str().unwrap_or_default()
        ))
        .await?;
    assert_eq!(room["members"].as_array().map(Vec::len), Some(1), "{room}");
    node.stop().await;
    Ok(())
}

/// Runs `chatly run` on `dir` until it exits (a refused start) or prints its UI line (then it
/// is killed); returns the exit status and what it wrote to stderr.
fn start_once(dir: &std::path::Path) -> anyhow::Result<(Option<i32>, String)> {
    use std::io::Read;
    let mut child = chatly_tests::process::loopback_command(dir)?
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            let mut err = String::new();
            child
                .stderr
                .take()
                .expect("stderr is piped")
                .read_to_string(&mut err)?;
            return Ok((status.code(), err));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    Ok((None, String::new()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_damaged_database_is_refused_at_start_with_a_clear_message() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("node");
    let mut node = TestNode::start_in(dir.clone(), Vec::new()).await?;
    let alice = node.account("alice", "correct horse").await?;
    for n in 0..300 {
        alice
            .say("public", &format!("message {n} {}", "y".repeat(200)))
            .await?;
    }
    // `stop` returns once the store has closed the database: the files no longer change.
    node.stop().await;
    let db = dir.join("chatly.db");
    let wal = dir.join("chatly.db-wal");
    let pristine = std::fs::read(&db)?;
    let pristine_wal = std::fs::read(&wal).ok();
    let page = 4096;
    anyhow::ensure!(
        pristine.len() > 8 * page,
        "a database of {} bytes",
        pristine.len()
    );

    // Garbage over pages in the middle of the file (a bad sector, a half-copied backup).
    let mut damaged = pristine.clone();
    let middle = (pristine.len() / page / 2) * page;
    for (i, b) in damaged[middle..middle + 2 * page].iter_mut().enumerate() {
        *b = (i * 7 + 13) as u8;
    }
    std::fs::write(&db, &damaged)?;
    let (code, stderr) = start_once(&dir)?;
    eprintln!("damaged pages: exit {code:?}: {}", stderr.trim());
    assert!(code.is_some_and(|c| c != 0), "the node refused to start");
    assert!(stderr.contains("damaged"), "a clear message: {stderr}");
    assert!(stderr.contains("chatly.db"), "naming the file: {stderr}");
    assert_eq!(
        std::fs::read(&db)?,
        damaged,
        "the damaged file is left as it was, for recovery"
    );

    // A file that is not a database at all.
    std::fs::write(
        &db,
        b"this is not an SQLite database, it is a shopping list".repeat(100),
    )?;
    let (code, stderr) = start_once(&dir)?;
    eprintln!("not a database: exit {code:?}: {}", stderr.trim());
    assert!(code.is_some_and(|c| c != 0));
    assert!(
        stderr.contains("damaged or not a Chatly database"),
        "{stderr}"
    );

    // The pristine copy put back (with its WAL): everything is there again.
    std::fs::write(&db, &pristine)?;
    if let Some(pristine_wal) = &pristine_wal {
        std::fs::write(&wal, pristine_wal)?;
    }
    node.restart().await?;
    let alice = node.client().log_in("alice", "correct horse").await?;
    assert_eq!(alice.texts("public").await?.len(), 300);
    node.stop().await;
    Ok(())
}

/// libfaketime (Debian `faketime`), preloaded into a process to shift its wall clock.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Starts `chatly run` on loopback under libfaketime, its wall clock shifted by `offset` (e.g.
/// "+4m", "-3h"; the monotonic clock is left alone), dialing `peer`. The library is preloaded
/// into chatly itself (not through the `faketime` wrapper), so killing the process kills the node.
async fn start_skewed(
    dir: &std::path::Path,
    offset: &str,
    peer: Option<&libp2p::Multiaddr>,
) -> anyhow::Result<(chatly_tests::process::Process, chatly_tests::Client)> {
    let mut command = chatly_tests::process::loopback_command(dir)?;
    command
        .env("LD_PRELOAD", LIBFAKETIME)
        .env("FAKETIME", offset)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    if let Some(peer) = peer {
        command.args(["--peer", &peer.to_string()]);
    }
    chatly_tests::process::attach(command.spawn()?).await
}

/// Nodes whose clocks disagree: one 4 minutes ahead, one 3 hours behind. The slow node would
/// refuse everything from the others as "from the future" by its own clock; it adopts the
/// network's time from their heartbeats (crate::clock), so public and group messages reach
/// everyone, in one order everywhere, and everyone sees everyone online.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_with_skewed_clocks_still_agree() -> anyhow::Result<()> {
    if !std::path::Path::new(LIBFAKETIME).exists() {
        eprintln!("skipped: the clock skew test needs libfaketime (Debian: faketime)");
        return Ok(());
    }
    let temp = tempfile::tempdir()?;
    let hub = TestNode::start(Vec::new()).await?;
    let alice = hub.account("alice", "right on time").await?;
    let (_ahead_p, ahead) =
        start_skewed(&temp.path().join("ahead"), "+4m", Some(&hub.addr())).await?;
    let (_behind_p, behind) =
        start_skewed(&temp.path().join("behind"), "-3h", Some(&hub.addr())).await?;
    let mut users = vec![alice];
    for (client, name) in [(&ahead, "bob"), (&behind, "carol")] {
        let (status, body) = client
            .post(
                "/api/v1/accounts",
                json!({"username": name, "password": "skewed clock"}),
            )
            .await?;
        anyhow::ensure!(status == 201, "{body}");
        users.push(client.log_in(name, "skewed clock").await?);
    }
    // Heartbeats (an open event socket) are what tell a node the network's time.
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(user.events().await?);
    }
    for user in &users {
        user.wait_users(3, chatly_tests::PATIENCE).await?;
    }
    let ids: Vec<String> = users.iter().map(|u| u.user_id.clone().unwrap()).collect();
    let group = users[1]
        .create_group("Time zones", &[&ids[0], &ids[2]])
        .await?;
    for round in 0..3 {
        for (i, user) in users.iter().enumerate() {
            user.say("public", &format!("user {i} round {round}"))
                .await?;
            user.say(&group, &format!("user {i} group {round}")).await?;
        }
    }
    for room in ["public", group.as_str()] {
        let mut first: Option<Vec<String>> = None;
        for user in &users {
            let texts = chatly_tests::wait_for(
                &format!("all 9 in {room}"),
                chatly_tests::PATIENCE,
                || async {
                    let texts = user.texts(room).await.ok()?;
                    (texts.len() == 9).then_some(texts)
                },
            )
            .await?;
            match &first {
                None => first = Some(texts),
                Some(first) => assert_eq!(&texts, first, "order differs in {room}"),
            }
        }
    }
    // Everyone online everywhere: heartbeats are fresh by the network's time.
    for user in &users {
        chatly_tests::wait_for("everyone online", chatly_tests::PATIENCE, || async {
            let (_, presence) = user.get("/api/v1/presence").await.ok()?;
            (presence["online_count"] == 3).then_some(())
        })
        .await?;
    }
    drop(sockets);
    Ok(())
}
