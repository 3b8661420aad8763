//! Federation beyond the LAN (issue 9): Kademlia peer routing, circuit relays and their limits,
//! and two sites behind NAT meeting through a relay and punching a hole (network namespaces with
//! iptables MASQUERADE; needs root, otherwise it says why and skips).

use std::time::{Duration, Instant};

use chatly_tests::relayflood::Flood;
use chatly_tests::{Client, PATIENCE, TestNode, nat, wait_for};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde_json::{Value, json};

/// The entry for `peer_id` in a node's `GET /api/v1/node` peers, if connected.
async fn peer_entry(client: &Client, peer_id: &str) -> Option<Value> {
    let (_, node) = client.get("/api/v1/node").await.ok()?;
    node["peers"]
        .as_array()?
        .iter()
        .find(|p| p["peer_id"] == peer_id)
        .cloned()
}

async fn peer_id(client: &Client) -> anyhow::Result<String> {
    let (status, node) = client.get("/api/v1/node").await?;
    anyhow::ensure!(status == 200, "GET /node: {status} {node}");
    Ok(node["peer_id"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kademlia_reaches_a_member_node_nobody_named() -> anyhow::Result<()> {
    // B knows nobody; C knows B; A knows only B. A must find C through B's routing table.
    let b = TestNode::start(vec![]).await?;
    let c = TestNode::start(vec![b.addr()]).await?;
    let (bob_at_b, carol) = (
        b.account("bob", "bob password").await?,
        c.account("carol", "carol password").await?,
    );
    let carol_node = peer_id(&carol).await?;
    wait_for("C connected to B", PATIENCE, || async {
        peer_entry(&bob_at_b, &carol_node).await.map(|_| ())
    })
    .await?;
    let a = TestNode::start(vec![b.addr()]).await?;
    let alice = a.account("alice", "alice password").await?;
    let found = wait_for("A connected to C through Kademlia", PATIENCE, || async {
        peer_entry(&alice, &carol_node).await
    })
    .await?;
    // Whichever of the two dialed first found the other through B's routing table.
    let alice_node = peer_id(&alice).await?;
    let back = peer_entry(&carol, &alice_node).await.unwrap_or_default();
    assert!(
        found["source"] == "kademlia" || back["source"] == "kademlia",
        "A sees C as {found}, C sees A as {back}"
    );

    // With B gone, A and C still talk over the connection routing found.
    drop(bob_at_b);
    let mut b = b;
    b.stop().await;
    alice.wait_users(3, PATIENCE).await?;
    let carol_id = carol.user_id.clone().unwrap();
    let room = alice.direct_with(&carol_id).await?;
    alice.say(&room, "found you without B").await?;
    carol
        .wait_text(&room, "found you without B", PATIENCE)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_under_a_reservation_flood_keeps_serving_its_clients() -> anyhow::Result<()> {
    let relay = TestNode::start_with(vec![], |c| c.relay_server = true).await?;
    let relay_addr = relay.addr();
    let bob_node = TestNode::start(vec![relay_addr.clone()]).await?;
    let bob = bob_node.account("bob", "bob password").await?;
    let relay_id = chatly_tests::relayflood::relay_peer(&relay_addr).map(|p| p.to_string());
    // Bob's node sees a relay and, not known to be public, takes a slot on it.
    wait_for("bob's node to hold a relay slot", PATIENCE, || async {
        let (_, node) = bob.get("/api/v1/node").await.ok()?;
        node["relays"]
            .as_array()?
            .iter()
            .any(|r| r.as_str().map(str::to_string) == relay_id)
            .then_some(())
    })
    .await?;

    let mut flood = Flood::start(relay_addr.clone(), 300);
    let outcome = flood.outcome(Duration::from_secs(60)).await;
    eprintln!("reservation flood: {outcome:?}");
    assert!(
        outcome.refused > 0,
        "the relay's limits refused part of the flood: {outcome:?}"
    );
    assert!(
        outcome.accepted <= chatly::net::behaviour::RELAY_MAX_RESERVATIONS,
        "{outcome:?}"
    );

    // With the flood still holding its slots, a new node reaches Bob through the relay.
    let carol_node = TestNode::start(vec![]).await?;
    let carol = carol_node.account("carol", "carol password").await?;
    let bob_peer = peer_id(&bob).await?;
    let circuit = relay_addr
        .clone()
        .with(Protocol::P2pCircuit)
        .with(Protocol::P2p(bob_peer.parse()?));
    let (status, body) = carol
        .post("/api/v1/node/peers", json!({"addr": circuit.to_string()}))
        .await?;
    assert_eq!(status, 202, "{body}");
    let entry = wait_for("carol connected to bob", PATIENCE, || async {
        peer_entry(&carol, &bob_peer).await
    })
    .await?;
    eprintln!("carol reaches bob over: {}", entry["path"]);
    carol.wait_users(2, PATIENCE).await?;
    bob.wait_users(2, PATIENCE).await?;
    let room = carol.direct_with(bob.user_id.as_deref().unwrap()).await?;
    carol.say(&room, "through a flooded relay").await?;
    bob.wait_text(&room, "through a flooded relay", PATIENCE)
        .await?;

    let (_, metrics) = relay.client().get("/metrics").await?;
    eprintln!(
        "{}",
        metrics
            .as_str()
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("relay"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    let denied = metrics
        .lines()
        .find(|l| l.contains("relay_events") && l.contains("ReservationReqDenied"))
        .unwrap_or_default();
    eprintln!("relay metrics: {denied}");
    assert!(!denied.is_empty(), "the relay counts refused reservations");
    assert!(
        metrics.contains("event=\"CircuitReqAccepted\"}"),
        "the relay carried carol's circuit to bob"
    );
    flood.stop();
    Ok(())
}

/// Two sites behind NAT and a public relay: the sites find each other through the relay, chat,
/// and a direct connection (a hole punched by DCUtR) replaces the relayed one; then the relay is
/// stopped and they keep chatting, which shows the direct path carries the messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sites_behind_nat_meet_through_a_relay_and_punch_through() -> anyhow::Result<()> {
    if !nat::available() {
        eprintln!("skipped: the NAT test needs root, iproute2 and iptables");
        return Ok(());
    }
    let world = nat::NatWorld::create(2)?;
    let data = tempfile::tempdir()?;
    let (mut relay_process, relay) = world
        .start_node(0, data.path(), &["--relay-server".to_string()])
        .await?;
    let operator = sign_up(&relay, "operator").await?;
    let relay_id = peer_id(&operator).await?;
    let relay_addr: Multiaddr =
        format!("/ip4/{}/tcp/4001/p2p/{relay_id}", world.relay_ip()).parse()?;
    let peer_flag = ["--peer".to_string(), relay_addr.to_string()];
    let (_p1, site1) = world.start_node(1, data.path(), &peer_flag).await?;
    let (_p2, site2) = world.start_node(2, data.path(), &peer_flag).await?;
    let alice = sign_up(&site1, "alice").await?;
    let bob = sign_up(&site2, "bob").await?;
    for site in [&alice, &bob] {
        wait_for("a relay slot", PATIENCE, || async {
            let (_, node) = site.get("/api/v1/node").await.ok()?;
            (!node["relays"].as_array()?.is_empty()).then_some(node)
        })
        .await?;
    }
    let (_, node1) = alice.get("/api/v1/node").await?;
    eprintln!(
        "site 1: reachability {}, external {}",
        node1["reachability"], node1["external_addrs"]
    );
    alice.wait_users(3, PATIENCE).await?;
    bob.wait_users(3, PATIENCE).await?;
    // Records follow the relay slot: bob's record names his node's circuit address.
    let bob_id = bob.user_id.clone().unwrap();
    wait_for(
        "bob's record to carry his relayed address",
        PATIENCE,
        || async {
            let (_, users) = alice.get("/api/v1/users").await.ok()?;
            let bob = users
                .as_array()?
                .iter()
                .find(|u| u["id"] == bob_id.as_str())?;
            let addrs = bob["node_addrs"].as_array()?;
            addrs
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.contains("/p2p-circuit")))
                .then_some(())
        },
    )
    .await?;

    // The direct room makes site 1 dial site 2's home node (record addresses: the relay circuit).
    let site2_id = peer_id(&bob).await?;
    let room = alice.direct_with(bob.user_id.as_deref().unwrap()).await?;
    alice.say(&room, "hello across two NATs").await?;
    bob.wait_text(&room, "hello across two NATs", PATIENCE)
        .await?;

    let started = Instant::now();
    let paths_seen = std::sync::Mutex::new(Vec::<String>::new());
    let direct = wait_for(
        "a direct connection between the sites",
        Duration::from_secs(90),
        || async {
            let entry = peer_entry(&alice, &site2_id).await?;
            let path = entry["path"].as_str()?.to_string();
            let mut seen = paths_seen.lock().unwrap();
            if seen.last() != Some(&path) {
                seen.push(path.clone());
            }
            (path == "direct").then_some(entry)
        },
    )
    .await?;
    eprintln!(
        "site 1 → site 2 paths over time: {} (direct after {:.1} s), rtt {} ms",
        paths_seen.lock().unwrap().join(" → "),
        started.elapsed().as_secs_f64(),
        direct["rtt_ms"]
    );

    let (_, metrics) = site1.get("/metrics").await?;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    let telling: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            !l.starts_with('#') && (l.contains("dcutr") || l.contains("connections_established"))
        })
        .collect();
    eprintln!("site 1 connection metrics:\n{}", telling.join("\n"));
    assert!(
        telling
            .iter()
            .any(|l| l.contains("connections_established") && l.contains("p2p-circuit")),
        "site 1 first reached site 2 through the relay"
    );
    assert!(
        telling
            .iter()
            .any(|l| l.contains("DirectConnectionUpgradeSucceeded")),
        "DCUtR upgraded the relayed connection"
    );

    // Without the relay, only the punched hole joins the sites.
    relay_process.0.kill()?;
    let _ = relay_process.0.wait();
    bob.say(&room, "and back, with the relay gone").await?;
    alice
        .wait_text(&room, "and back, with the relay gone", PATIENCE)
        .await?;
    alice.say(&room, "direct path works").await?;
    bob.wait_text(&room, "direct path works", PATIENCE).await?;
    let entry = peer_entry(&alice, &site2_id).await;
    eprintln!(
        "messages after the relay stopped carried by: {}",
        entry
            .as_ref()
            .map_or("none".into(), |e| e["path"].to_string())
    );
    assert_eq!(entry.map(|e| e["path"].clone()), Some(json!("direct")));
    Ok(())
}

async fn sign_up(site: &Client, name: &str) -> anyhow::Result<Client> {
    let password = format!("{name} password");
    let (status, body) = site
        .post(
            "/api/v1/accounts",
            json!({"username": name, "password": password}),
        )
        .await?;
    anyhow::ensure!(status == 201, "sign up: {status} {body}");
    site.log_in(name, &password).await
}
