//! Chatly node library: everything behind the `chatly` binary, so tests start real nodes
//! in-process with [`NodeHandle::spawn`].
//!
//! Dependencies point one way: `api -> rooms/accounts -> {net, store, presence} -> {protocol, crypto}`.
//!
//! - [`config`]: command line and environment.
//! - [`node`]: assembling and stopping a node.
//! - [`net`]: the libp2p swarm behind a handle; LAN discovery.
//! - [`store`]: SQLite with one writer thread.
//! - [`accounts`]: sign-up, login, sessions, unlocked keys.
//! - [`rooms`]: the validation pipeline, ingest, publishing.
//! - [`presence`]: who is online, as a plain state machine.
//! - [`priority`]: scheduling for threads that need not run the moment they are woken.
//! - [`clock`]: the network's time, for a node whose clock is wrong (a plain state machine).
//! - [`search`]: full-text search (public on disk, private in memory).
//! - [`spread`]: random phases and gaps for periodic work, so nodes started together stay apart.
//! - [`signals`]: presence heartbeats, typing notices and read receipts over the mesh.
//! - [`events`]: the live event bus.
//! - [`files`]: file upload, chunk transfer between nodes, download streams.
//! - [`api`]: HTTP, WebSocket, web UI assets, local web security.
//! - [`metrics`]: Prometheus metrics.
//! - [`testnet`]: N meshed nodes on one machine.
//! - [`bench`]: `chatly bench`, benchmarks with same-run baselines.

pub mod accounts;
pub mod api;
pub mod bench;
pub mod clock;
pub mod config;
pub mod events;
pub mod files;
pub mod metrics;
pub mod net;
pub mod node;
pub mod presence;
pub mod priority;
pub mod rooms;
pub mod search;
pub mod signals;
pub mod spread;
pub mod store;
pub mod testnet;

pub use config::Config;
pub use node::{NodeHandle, NodeState};
