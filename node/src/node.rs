//! Assembling a node: key, store, network, services, HTTP server; and shutting it down.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use libp2p::{Multiaddr, PeerId, identity::Keypair};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::config::Config;
use crate::events::EventBus;
use crate::files::Files;
use crate::metrics::Metrics;
use crate::presence::Presence;
use crate::rooms::Rooms;
use crate::signals::Signals;
use crate::store::{Store, StoreError};
use crate::{api, net, rooms};

/// Longest a shutdown waits for the store to close.
const STORE_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Everything the HTTP API needs, shared by its handlers.
pub struct NodeState {
    /// Configuration the node started with.
    pub config: Config,
    /// The store.
    pub store: Store,
    /// The network.
    pub net: net::Handle,
    /// Accounts and sessions.
    pub accounts: Accounts,
    /// Publishing and ingest.
    pub rooms: Arc<Rooms>,
    /// Live events.
    pub bus: EventBus,
    /// Who is online.
    pub presence: Arc<Mutex<Presence>>,
    /// Presence heartbeats, typing notices and read receipts.
    pub signals: Arc<Signals>,
    /// File storage and transfer.
    pub files: Arc<Files>,
    /// Full-text search.
    pub search: crate::search::Search,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// Host header values this node answers to.
    pub hosts: Vec<String>,
    /// New message frames, rendered once for every event socket that shows them alike.
    pub frames: crate::api::ws::FrameCache,
    /// Cancelled when the node shuts down: event sockets close, so nothing holds the store.
    pub shutdown: CancellationToken,
}

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Data directory or key file problem.
    #[error("{0}")]
    Io(String),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network.
    #[error(transparent)]
    Net(#[from] net::NetError),
}

/// A running node.
pub struct NodeHandle {
    /// This node's PeerId.
    pub peer_id: PeerId,
    /// The bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound libp2p listen addresses, as they change.
    pub listen_addrs: watch::Receiver<Vec<Multiaddr>>,
    /// Shared state (for in-process tests and the testnet).
    pub state: Arc<NodeState>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl NodeHandle {
    /// Starts a node.
    pub async fn spawn(config: Config) -> Result<NodeHandle, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            StartError::Io(format!(
                "cannot create the data dir {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let keypair = load_or_create_key(&config.data_dir.join("node.key"))?;
        let node_key = node_identity(&keypair)?;
        let store = Store::open(&config.data_dir.join("chatly.db"))?;
        let shutdown = CancellationToken::new();
        let mut registry = prometheus_client::registry::Registry::default();
        let net_config = net::NetConfig {
            listen: config.listen.clone(),
            static_peers: config.peers.clone(),
            mdns: config.mdns,
            name: config.name.clone(),
            heartbeat: config.heartbeat,
            relay_server: config.relay_server,
            external_addrs: config.external_addrs.clone(),
            peer_routing: config.peer_routing,
        };
        let network = net::spawn(keypair, net_config, &mut registry, shutdown.clone()).await?;
        let metrics = Arc::new(Metrics::new(registry));
        store.observe_writes(metrics.store_write_seconds.clone());
        let bus = EventBus::default();
        let vault = Arc::new(crate::accounts::Vault::default());
        let rooms = Arc::new(Rooms::new(
            store.clone(),
            network.handle.clone(),
            bus.clone(),
            metrics.clone(),
            node_key,
            vault.clone(),
        ));
        tokio::spawn(rooms::opener::run_opener(rooms.clone(), shutdown.clone()));
        tokio::spawn(rooms::records::run_address_keeper(
            rooms.clone(),
            shutdown.clone(),
        ));
        let presence = Arc::new(Mutex::new(Presence::default()));
        let signals = Arc::new(Signals::new(
            rooms.clone(),
            presence.clone(),
            config.presence_interval,
        ));
        let files = Arc::new(
            Files::new(
                store.clone(),
                network.handle.clone(),
                bus.clone(),
                metrics.clone(),
                &config.data_dir,
                config.limits.file_max,
            )
            .map_err(|e| StartError::Io(format!("cannot open the file store: {e}")))?,
        );
        let (signal_tx, signal_rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(crate::signals::run_signals(signals.clone(), signal_rx));
        tokio::spawn(rooms::run_ingest(
            network.events,
            rooms.clone(),
            signal_tx,
            files.clone(),
            (
                config.limits.author_rate_per_sec,
                config.limits.author_burst,
            ),
        ));
        tokio::spawn(rooms::sync::run_periodic(rooms.clone(), shutdown.clone()));
        tokio::spawn(rooms::outbox::run_outbox(rooms.clone(), shutdown.clone()));
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .map_err(|e| {
                StartError::Io(format!("cannot listen for HTTP on {}: {e}", config.http))
            })?;
        let http_addr = listener
            .local_addr()
            .map_err(|e| StartError::Io(e.to_string()))?;
        let state = Arc::new(NodeState {
            hosts: api::security::allowed_hosts(&config, http_addr),
            accounts: Accounts::new(store.clone(), config.limits.clone(), vault),
            config,
            net: network.handle.clone(),
            rooms,
            bus,
            presence,
            signals,
            files,
            search: crate::search::Search::new(store.clone()),
            store,
            metrics,
            http_addr,
            frames: Default::default(),
            shutdown: shutdown.clone(),
        });
        let server = tokio::spawn(api::serve(listener, state.clone(), shutdown.clone()));
        Ok(NodeHandle {
            peer_id: network.handle.peer_id(),
            http_addr,
            listen_addrs: network.listen_addrs,
            state,
            shutdown,
            server,
        })
    }

    /// Waits until the node listens on at least one address and returns them all.
    pub async fn wait_listening(&mut self) -> Vec<Multiaddr> {
        let _ = self.listen_addrs.wait_for(|a| !a.is_empty()).await;
        self.listen_addrs.borrow().clone()
    }

    /// The UI address a person opens.
    pub fn ui_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stops accepting work, lets in-flight requests finish, stops the network, and waits (up to
    /// `STORE_CLOSE_WAIT`) until the store has closed its database, so the data dir is free.
    pub async fn shutdown(self) {
        self.state.signals.goodbye().await;
        self.shutdown.cancel();
        let _ = self.server.await;
        // The data dir is free once the store writer has closed its connection: after the
        // background tasks, which hold the store, have ended.
        let closed = self.state.store.closed();
        drop(self.state);
        if tokio::time::timeout(STORE_CLOSE_WAIT, closed)
            .await
            .is_err()
        {
            tracing::warn!("the store was still open {STORE_CLOSE_WAIT:?} after shutdown");
        }
    }
}

fn load_or_create_key(path: &Path) -> Result<Keypair, StartError> {
    match std::fs::read(path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| {
            StartError::Io(format!("the node key {} is damaged: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair
                .to_protobuf_encoding()
                .map_err(|e| StartError::Io(format!("cannot encode the node key: {e}")))?;
            write_private(path, &bytes).map_err(|e| {
                StartError::Io(format!("cannot write the node key {}: {e}", path.display()))
            })?;
            Ok(keypair)
        }
        Err(e) => Err(StartError::Io(format!(
            "cannot read the node key {}: {e}",
            path.display()
        ))),
    }
}

/// Writes a secret file readable by its owner only (mode 0600), atomically.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The node key as a Chatly signing key (it co-signs account records).
fn node_identity(keypair: &Keypair) -> Result<chatly_crypto::IdentityKey, StartError> {
    let ed = keypair
        .clone()
        .try_into_ed25519()
        .map_err(|_| StartError::Io("the node key is not an ed25519 key".into()))?;
    let bytes = ed.to_bytes();
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&bytes[..32]);
    let key = chatly_crypto::IdentityKey::from_bytes(&secret);
    zeroize::Zeroize::zeroize(&mut secret);
    Ok(key)
}
