//! Prometheus metrics: one registry shared by the node's own metrics and libp2p's.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::rooms::Rejection;

/// The node's metrics and the registry that renders them (libp2p registers into it too).
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Envelopes accepted from the network.
    pub messages_in: Counter,
    /// Envelopes published by local accounts.
    pub messages_out: Counter,
    /// Validation verdicts by result (accept / reject / ignore).
    pub validations: Family<Vec<(String, String)>, Counter>,
    /// Open event WebSockets.
    pub websocket_clients: Gauge,
    /// Connected peer nodes.
    pub connected_peers: Gauge,
    /// Sync rounds completed.
    pub sync_rounds: Counter,
    /// Envelopes stored from sync.
    pub sync_envelopes: Counter,
    /// Bytes of envelopes received in sync pages.
    pub sync_bytes: Counter,
    /// Duration of sync rounds that fetched something, seconds.
    pub sync_catchup_seconds: Histogram,
    /// Sync rounds that ended early: peer gone, timeout, malformed answer, invalid envelopes.
    pub sync_failures: Counter,
    /// Local envelopes no peer is known to hold yet.
    pub outbox: Gauge,
    /// File chunks fetched from peers.
    pub file_chunks_fetched: Counter,
    /// From an envelope's author timestamp to its being stored here, for gossip, seconds.
    pub delivery_seconds: Histogram,
    /// Store write transactions, begin to commit, seconds.
    pub store_write_seconds: Histogram,
    /// File chunks from peers that did not match their address.
    pub file_chunks_rejected: Counter,
}

impl Metrics {
    /// Registers the node's metrics in `registry` and keeps it for rendering.
    pub fn new(mut registry: Registry) -> Self {
        let messages_in = Counter::default();
        let messages_out = Counter::default();
        let validations = Family::default();
        let websocket_clients = Gauge::default();
        let connected_peers = Gauge::default();
        let sync_rounds = Counter::default();
        let sync_envelopes = Counter::default();
        let sync_bytes = Counter::default();
        let sync_catchup_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let sync_failures = Counter::default();
        let outbox = Gauge::default();
        let file_chunks_fetched = Counter::default();
        let delivery_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let store_write_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let file_chunks_rejected = Counter::default();
        let chatly = registry.sub_registry_with_prefix("chatly");
        chatly.register(
            "messages_in",
            "Envelopes accepted from the network",
            messages_in.clone(),
        );
        chatly.register(
            "messages_out",
            "Envelopes published by local accounts",
            messages_out.clone(),
        );
        chatly.register(
            "validations",
            "Validation verdicts on received envelopes",
            validations.clone(),
        );
        chatly.register(
            "websocket_clients",
            "Open event WebSockets",
            websocket_clients.clone(),
        );
        chatly.register(
            "connected_peers",
            "Connected peer nodes",
            connected_peers.clone(),
        );
        chatly.register("sync_rounds", "Sync rounds completed", sync_rounds.clone());
        chatly.register(
            "sync_envelopes",
            "Envelopes stored from sync",
            sync_envelopes.clone(),
        );
        chatly.register(
            "sync_bytes",
            "Bytes of envelopes received in sync pages",
            sync_bytes.clone(),
        );
        chatly.register(
            "sync_catchup_seconds",
            "Duration of sync rounds that fetched something",
            sync_catchup_seconds.clone(),
        );
        chatly.register(
            "sync_failures",
            "Sync rounds that ended early (peer gone, timeout, malformed answer, invalid envelopes)",
            sync_failures.clone(),
        );
        chatly.register(
            "delivery_seconds",
            "From an envelope's author timestamp to its being stored here (gossip)",
            delivery_seconds.clone(),
        );
        chatly.register(
            "store_write_seconds",
            "Store write transactions, begin to commit",
            store_write_seconds.clone(),
        );
        chatly.register(
            "file_chunks_fetched",
            "File chunks fetched from peers",
            file_chunks_fetched.clone(),
        );
        chatly.register(
            "file_chunks_rejected",
            "File chunks from peers that did not match their address",
            file_chunks_rejected.clone(),
        );
        chatly.register(
            "outbox",
            "Local envelopes no peer is known to hold yet",
            outbox.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            messages_in,
            messages_out,
            validations,
            websocket_clients,
            connected_peers,
            sync_rounds,
            sync_envelopes,
            sync_bytes,
            sync_catchup_seconds,
            sync_failures,
            file_chunks_fetched,
            file_chunks_rejected,
            delivery_seconds,
            store_write_seconds,
            outbox,
        }
    }

    /// Counts one validation verdict.
    pub fn validation_result(&self, result: &str) {
        self.validations
            .get_or_create(&vec![("result".to_string(), result.to_string())])
            .inc();
    }

    /// Counts a rejection from the stateless checks.
    pub fn validation(&self, rejection: &Rejection) {
        self.validation_result(match rejection {
            Rejection::Invalid(_) => "reject",
            Rejection::Ignored(_) => "ignore",
        });
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
