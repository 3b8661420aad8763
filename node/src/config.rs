//! Command-line and environment configuration: one clap struct per subcommand.
//!
//! Every flag reads an environment variable too (`CHATLY_*`), and tests build [`Config`] directly
//! with port 0 and a temporary directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use libp2p::Multiaddr;

/// Chatly: a federated peer-to-peer chat node.
#[derive(Debug, Parser)]
#[command(name = "chatly", version, about)]
pub struct Cli {
    /// What to do; without a subcommand, `run`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `run`, accepted without the subcommand too.
    #[command(flatten)]
    pub run: RunArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node (the default).
    Run(RunArgs),
    /// Start N meshed nodes on this machine and print every UI address.
    Testnet(TestnetArgs),
    /// Run benchmarks on this machine: a table on stdout, the figures as JSON.
    Bench(crate::bench::BenchArgs),
}

/// Flags of `chatly run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Where the node keeps its key, database and files (default: $XDG_DATA_HOME/chatly).
    #[arg(long, env = "CHATLY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the web UI and HTTP API; port 0 picks a free port.
    #[arg(long, env = "CHATLY_HTTP", default_value = "127.0.0.1:7420")]
    pub http: SocketAddr,
    /// Peer-to-peer listen address (repeatable; comma-separated in the environment variable).
    #[arg(long, env = "CHATLY_LISTEN", value_delimiter = ',')]
    pub listen: Vec<Multiaddr>,
    /// A node to dial at start and redial when the link drops (repeatable).
    #[arg(long, env = "CHATLY_PEER", value_delimiter = ',')]
    pub peer: Vec<Multiaddr>,
    /// Turn off LAN discovery (mDNS).
    #[arg(long, env = "CHATLY_NO_MDNS")]
    pub no_mdns: bool,
    /// Also listen on QUIC (UDP) beside TCP.
    #[arg(long, env = "CHATLY_QUIC")]
    pub quic: bool,
    /// A name for this node, shown to people on the node page and announced on the LAN.
    #[arg(long, env = "CHATLY_NAME")]
    pub name: Option<String>,
    /// Extra host names the HTTP API answers to (beside 127.0.0.1, localhost and [::1]).
    #[arg(long, env = "CHATLY_ALLOWED_HOST", value_delimiter = ',')]
    pub allowed_host: Vec<String>,
    /// Offer circuit relay v2 to other nodes (for an always-on node with a public address).
    #[arg(long, env = "CHATLY_RELAY_SERVER")]
    pub relay_server: bool,
    /// An address others can reach this node at, e.g. a public IP or DNS name behind a
    /// forwarded port (repeatable). A relay server advertises its non-loopback listen
    /// addresses when none is given.
    #[arg(long, env = "CHATLY_EXTERNAL_ADDR", value_delimiter = ',')]
    pub external_addr: Vec<Multiaddr>,
    /// Dial only `--peer` addresses, LAN finds and addresses given at run time: no nodes found
    /// through Kademlia or named in account records.
    #[arg(long, env = "CHATLY_NO_PEER_ROUTING")]
    pub no_peer_routing: bool,
}

/// Flags of `chatly testnet`.
#[derive(Debug, Clone, Args)]
pub struct TestnetArgs {
    /// How many nodes to start.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// HTTP port of the first node; the others count up from it.
    #[arg(long, env = "CHATLY_BASE_PORT", default_value_t = 7420)]
    pub base_port: u16,
    /// Parent directory of the nodes' data dirs (default: a new temporary directory).
    #[arg(long, env = "CHATLY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Default presence heartbeat: a node that vanishes without a goodbye is offline everywhere
/// within 10 s.
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(5);

/// Everything a node needs to start; built from [`RunArgs`] or directly by tests.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory: node key, SQLite database, files.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http: SocketAddr,
    /// libp2p listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Nodes dialed at start and redialed with backoff.
    pub peers: Vec<Multiaddr>,
    /// LAN discovery on or off.
    pub mdns: bool,
    /// Node name for the node page and mDNS.
    pub name: Option<String>,
    /// Extra Host header values accepted by the HTTP API.
    pub allowed_hosts: Vec<String>,
    /// Protocol and abuse limits.
    pub limits: Limits,
    /// Gossipsub heartbeat; short in tests so meshes form quickly.
    pub heartbeat: Duration,
    /// How often an online account's home node announces it; others time it out after two.
    pub presence_interval: Duration,
    /// Offer circuit relay v2 to others.
    pub relay_server: bool,
    /// Addresses this node declares reachable from outside.
    pub external_addrs: Vec<Multiaddr>,
    /// Dial nodes found through Kademlia and account records.
    pub peer_routing: bool,
}

/// Tunable limits, with the defaults documented in docs/api.md.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body accepted by the API.
    pub json_body: usize,
    /// Failed logins allowed per minute per account and per client address.
    pub failed_logins_per_minute: usize,
    /// Envelopes per second one author may publish on the live gossip path (sustained).
    pub author_rate_per_sec: f64,
    /// Burst allowance of the per-author rate limit.
    pub author_burst: f64,
    /// How long a browser-session login stays valid without "remember me".
    pub session_ttl: Duration,
    /// How long a "remember me" login stays valid.
    pub remembered_session_ttl: Duration,
    /// Age at which an account's signed prekey is replaced (checked when the account unlocks).
    pub prekey_max_age: Duration,
    /// Largest file upload, bytes (413 above).
    pub file_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            json_body: 64 * 1024,
            failed_logins_per_minute: 5,
            author_rate_per_sec: 100.0,
            author_burst: 1000.0,
            session_ttl: Duration::from_secs(24 * 3600),
            remembered_session_ttl: Duration::from_secs(30 * 24 * 3600),
            prekey_max_age: Duration::from_secs(7 * 24 * 3600),
            file_max: 100 * 1024 * 1024,
        }
    }
}

impl Config {
    /// A config for `chatly run` from its flags.
    pub fn from_run_args(args: RunArgs) -> Self {
        let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
        let mut listen = args.listen;
        if listen.is_empty() {
            listen.push(
                "/ip4/0.0.0.0/tcp/0"
                    .parse()
                    .expect("valid literal multiaddr"),
            );
        }
        if args.quic && !listen.iter().any(is_quic) {
            listen.push(
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .expect("valid literal multiaddr"),
            );
        }
        Self {
            data_dir,
            http: args.http,
            listen,
            peers: args.peer,
            mdns: !args.no_mdns,
            name: args.name,
            allowed_hosts: args.allowed_host,
            limits: Limits::default(),
            heartbeat: Duration::from_secs(1),
            presence_interval: PRESENCE_INTERVAL,
            relay_server: args.relay_server,
            external_addrs: args.external_addr,
            peer_routing: !args.no_peer_routing,
        }
    }

    /// A config for tests and the testnet: loopback only, free ports, no mDNS.
    pub fn local(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            http: "127.0.0.1:0".parse().expect("valid literal socket address"),
            listen: vec![
                "/ip4/127.0.0.1/tcp/0"
                    .parse()
                    .expect("valid literal multiaddr"),
            ],
            peers: Vec::new(),
            mdns: false,
            name: None,
            allowed_hosts: Vec::new(),
            limits: Limits::default(),
            heartbeat: Duration::from_millis(500),
            presence_interval: PRESENCE_INTERVAL,
            relay_server: false,
            external_addrs: Vec::new(),
            peer_routing: true,
        }
    }
}

fn is_quic(addr: &Multiaddr) -> bool {
    addr.iter()
        .any(|p| matches!(p, libp2p::multiaddr::Protocol::QuicV1))
}

/// `$XDG_DATA_HOME/chatly`, else `~/.local/share/chatly`, else `./chatly-data`.
fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("chatly");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/share/chatly");
    }
    PathBuf::from("chatly-data")
}
