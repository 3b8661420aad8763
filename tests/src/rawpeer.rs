//! A raw libp2p peer that speaks Chatly's topics and sync protocol but follows none of its rules:
//! it publishes whatever bytes a test gives it, and answers sync requests with whatever bytes a
//! test scripted (written to the stream verbatim, length prefix included or not), for
//! adversarial tests.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};

enum Command {
    Publish(String, Vec<u8>, oneshot::Sender<Result<(), String>>),
    Subscribers(String, oneshot::Sender<usize>),
    Received(oneshot::Sender<Vec<Vec<u8>>>),
}

/// Chatly's sync protocol id.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/chatly/sync/2");
/// Chatly's file chunk protocol id.
pub const FILE_PROTOCOL: StreamProtocol = StreamProtocol::new("/chatly/file/1");

/// Reads length-prefixed requests; writes scripted answers verbatim.
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let mut buf = vec![0u8; (u32::from_be_bytes(len) as usize).min(1 << 20)];
        io.read_exact(&mut buf).await?;
        Ok(buf)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        io.take(1 << 20).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&res).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct RawBehaviour {
    /// It claims to be a Chatly node, as an attacker would (nodes drop peers that do not).
    identify: libp2p::identify::Behaviour,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<RawCodec>,
    files: request_response::Behaviour<RawCodec>,
}

/// Frames `payload` the way Chatly's codec does: a u32 big-endian length, then the bytes.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A handle to the raw peer's swarm task.
pub struct RawPeer {
    /// Its PeerId.
    pub peer_id: PeerId,
    commands: mpsc::UnboundedSender<Command>,
    sync_requests: Arc<AtomicUsize>,
    file_requests: Arc<AtomicUsize>,
}

impl RawPeer {
    /// Starts the peer, subscribes to `topics` and dials `addr`. Sync requests get no answer.
    pub async fn spawn(addr: Multiaddr, topics: &[&str]) -> Result<RawPeer> {
        Self::spawn_with_scripts(addr, topics, Vec::new(), None).await
    }

    /// Like [`RawPeer::spawn`], and answers the n-th sync request with `script[n]` (the last
    /// entry once the script runs out), written to the stream as is.
    pub async fn spawn_with_script(
        addr: Multiaddr,
        topics: &[&str],
        script: Vec<Vec<u8>>,
    ) -> Result<RawPeer> {
        Self::spawn_with_scripts(addr, topics, script, None).await
    }

    /// Like [`RawPeer::spawn_with_script`], and answers every file chunk request with
    /// `file_answer` (written as is) when given.
    pub async fn spawn_with_scripts(
        addr: Multiaddr,
        topics: &[&str],
        script: Vec<Vec<u8>>,
        file_answer: Option<Vec<u8>>,
    ) -> Result<RawPeer> {
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
            .with_behaviour(|key| RawBehaviour {
                identify: libp2p::identify::Behaviour::new(libp2p::identify::Config::new(
                    "/chatly/1.0.0".into(),
                    key.public(),
                )),
                gossipsub: gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
                    .expect("gossipsub"),
                sync: request_response::Behaviour::new(
                    [(SYNC_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default(),
                ),
                files: request_response::Behaviour::new(
                    [(FILE_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default(),
                ),
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        for topic in topics {
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&IdentTopic::new(*topic))?;
        }
        swarm.dial(addr).context("dial")?;
        let peer_id = *swarm.local_peer_id();
        let (commands, mut rx) = mpsc::unbounded_channel();
        let sync_requests = Arc::new(AtomicUsize::new(0));
        let counter = sync_requests.clone();
        let file_requests = Arc::new(AtomicUsize::new(0));
        let file_counter = file_requests.clone();
        tokio::spawn(async move {
            let mut received: Vec<Vec<u8>> = Vec::new();
            loop {
                tokio::select! {
                    event = swarm.select_next_some() => {
                        match event {
                            SwarmEvent::ConnectionClosed { cause, .. } => tracing::debug!(?cause, "raw peer connection closed"),
                            SwarmEvent::Behaviour(RawBehaviourEvent::Gossipsub(gossipsub::Event::Message { message, .. })) => received.push(message.data),
                            SwarmEvent::Behaviour(RawBehaviourEvent::Sync(request_response::Event::Message {
                                message: request_response::Message::Request { channel, .. }, ..
                            })) => {
                                let n = counter.fetch_add(1, Ordering::SeqCst);
                                if let Some(answer) = script.get(n).or(script.last()) {
                                    let _ = swarm.behaviour_mut().sync.send_response(channel, answer.clone());
                                }
                            }
                            SwarmEvent::Behaviour(RawBehaviourEvent::Files(request_response::Event::Message {
                                message: request_response::Message::Request { channel, .. }, ..
                            })) => {
                                file_counter.fetch_add(1, Ordering::SeqCst);
                                if let Some(answer) = &file_answer {
                                    let _ = swarm.behaviour_mut().files.send_response(channel, answer.clone());
                                }
                            }
                            _ => {}
                        }
                    }
                    command = rx.recv() => match command {
                        Some(Command::Publish(topic, data, reply)) => {
                            let result = swarm.behaviour_mut().gossipsub.publish(IdentTopic::new(topic), data).map(|_| ()).map_err(|e| e.to_string());
                            let _ = reply.send(result);
                        }
                        Some(Command::Subscribers(topic, reply)) => {
                            let hash = IdentTopic::new(topic).hash();
                            let count = swarm.behaviour().gossipsub.all_peers().filter(|(_, topics)| topics.contains(&&hash)).count();
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
        Ok(RawPeer {
            peer_id,
            commands,
            sync_requests,
            file_requests,
        })
    }

    /// How many file chunk requests this peer has been sent.
    pub fn file_requests(&self) -> usize {
        self.file_requests.load(Ordering::SeqCst)
    }

    /// How many sync requests this peer has been sent.
    pub fn sync_requests(&self) -> usize {
        self.sync_requests.load(Ordering::SeqCst)
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
