//! A raw libp2p gossipsub peer that speaks Chatly's topics but follows none of its rules: it
//! publishes whatever bytes a test gives it, for adversarial tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

enum Command {
    Publish(String, Vec<u8>, oneshot::Sender<Result<(), String>>),
    Subscribers(String, oneshot::Sender<usize>),
    Received(oneshot::Sender<Vec<Vec<u8>>>),
}

/// A handle to the raw peer's swarm task.
pub struct RawPeer {
    /// Its PeerId.
    pub peer_id: PeerId,
    commands: mpsc::UnboundedSender<Command>,
}

impl RawPeer {
    /// Starts the peer, subscribes to `topics` and dials `addr`.
    pub async fn spawn(addr: Multiaddr, topics: &[&str]) -> Result<RawPeer> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let config = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::None)
            // A fresh id per publish, so the same bytes can be sent again.
            .message_id_fn(|_| {
                gossipsub::MessageId::from(
                    COUNTER
                        .fetch_add(1, Ordering::Relaxed)
                        .to_be_bytes()
                        .to_vec(),
                )
            })
            .max_transmit_size(256 * 1024)
            .heartbeat_interval(Duration::from_millis(200))
            .build()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )?
            .with_behaviour(|_| {
                gossipsub::Behaviour::<
                    gossipsub::IdentityTransform,
                    gossipsub::AllowAllSubscriptionFilter,
                >::new(MessageAuthenticity::Anonymous, config)
                .expect("gossipsub")
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        for topic in topics {
            swarm.behaviour_mut().subscribe(&IdentTopic::new(*topic))?;
        }
        swarm.dial(addr).context("dial")?;
        let peer_id = *swarm.local_peer_id();
        let (commands, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut received: Vec<Vec<u8>> = Vec::new();
            loop {
                tokio::select! {
                    event = swarm.select_next_some() => {
                        match event {
                            SwarmEvent::ConnectionClosed { cause, .. } => tracing::debug!(?cause, "raw peer connection closed"),
                            SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => received.push(message.data),
                            _ => {}
                        }
                    }
                    command = rx.recv() => match command {
                        Some(Command::Publish(topic, data, reply)) => {
                            let result = swarm.behaviour_mut().publish(IdentTopic::new(topic), data).map(|_| ()).map_err(|e| e.to_string());
                            let _ = reply.send(result);
                        }
                        Some(Command::Subscribers(topic, reply)) => {
                            let hash = IdentTopic::new(topic).hash();
                            let count = swarm.behaviour().all_peers().filter(|(_, topics)| topics.contains(&&hash)).count();
                            let _ = reply.send(count);
                        }
                        Some(Command::Received(reply)) => {
                            let _ = reply.send(received.clone());
                        }
                        None => break,
                    },
                }
            }
        });
        Ok(RawPeer { peer_id, commands })
    }

    /// Publishes raw bytes on a topic.
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Publish(topic.into(), data, reply))
            .ok()
            .context("raw peer stopped")?;
        rx.await?.map_err(|e| anyhow::anyhow!("publish: {e}"))
    }

    /// Every gossip payload this peer has received so far (what its neighbours relayed to it).
    pub async fn received(&self) -> Result<Vec<Vec<u8>>> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Received(reply))
            .ok()
            .context("raw peer stopped")?;
        Ok(rx.await?)
    }

    /// How many connected peers are subscribed to `topic`.
    pub async fn subscribers(&self, topic: &str) -> Result<usize> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Subscribers(topic.into(), reply))
            .ok()
            .context("raw peer stopped")?;
        Ok(rx.await?)
    }
}
