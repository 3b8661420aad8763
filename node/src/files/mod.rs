//! Files (docs/protocol.md, "Files"): uploads streamed to disk in sealed chunks, downloads that
//! take chunks from disk or fetch them from peers (several at once, each checked against its
//! address, resumable because every chunk is kept as it arrives), and serving chunks to peers.
//!
//! - [`disk`]: sealed chunks as files under `<data dir>/files`, written atomically.
//! - [`Files`]: upload, the metadata a message carries, download streams, serving.
//!
//! A chunk is addressed by the hash of its sealed bytes, so a node can serve and check chunks it
//! cannot read. The file key travels only inside the message (sealed in private rooms) and is kept
//! sealed under each reader's master key.

pub mod disk;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use chatly_crypto::{file as crypto_file, wrap};
use chatly_protocol::file::{ChunkRequest, ChunkResponse, MAX_HOPS};
use chatly_protocol::{AccountId, FileRef};
use futures::{Stream, StreamExt};
use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;

use crate::accounts::UnlockedKeys;
use crate::events::{EventBus, NodeEvent};
use crate::metrics::Metrics;
use crate::net::{self, Service};
use crate::store::files::{self as rows, FileRow};
use crate::store::messages::PUBLIC_VIEWER;
use crate::store::{Store, StoreError, now_ms};

/// Plaintext bytes per chunk: 400 chunks for a 100 MiB file.
pub const CHUNK_SIZE: u32 = 256 * 1024;
/// Chunks fetched at once for one download.
const PARALLEL_FETCHES: usize = 4;
/// AEAD label of a file key sealed under an account's master key.
const FILE_KEY_LABEL: &str = "chatly/v1/file-key";

/// Errors of file handling.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The upload is over the node's limit.
    #[error("files may be at most {0} bytes")]
    TooLarge(u64),
    /// Unknown here, or not readable by this account.
    #[error("no such file")]
    NotFound,
    /// A chunk is neither here nor on any reachable peer.
    #[error("no reachable node has this file (or all of it) right now")]
    Unavailable,
    /// The upload stream failed.
    #[error("the upload broke off: {0}")]
    Upload(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The disk failed.
    #[error("file storage: {0}")]
    Io(#[from] std::io::Error),
}

/// File storage and transfer for one node.
pub struct Files {
    store: Store,
    net: net::Handle,
    bus: EventBus,
    metrics: Arc<Metrics>,
    disk: disk::ChunkDir,
    /// Largest upload, bytes.
    pub limit: u64,
    next_peer: AtomicUsize,
}

impl Files {
    /// File storage under `data_dir/files`, with uploads up to `limit` bytes.
    pub fn new(
        store: Store,
        net: net::Handle,
        bus: EventBus,
        metrics: Arc<Metrics>,
        data_dir: &Path,
        limit: u64,
    ) -> std::io::Result<Self> {
        Ok(Self {
            store,
            net,
            bus,
            metrics,
            disk: disk::ChunkDir::open(&data_dir.join("files"))?,
            limit,
            next_peer: AtomicUsize::new(0),
        })
    }

    /// Streams an upload to disk in sealed chunks under a fresh key; nothing of it stays behind
    /// when it fails (over the limit, broken off). Returns what the uploader may now attach.
    pub async fn upload<S, E>(
        &self,
        keys: &UnlockedKeys,
        name: String,
        mime: String,
        mut body: S,
    ) -> Result<FileRow, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let key: [u8; 32] = chatly_crypto::random_bytes();
        let mut hashes = Vec::new();
        let mut size = 0u64;
        let written = async {
            let mut buffer = Vec::with_capacity(CHUNK_SIZE as usize);
            while let Some(data) = body.next().await {
                let data = data.map_err(|e| FileError::Upload(e.to_string()))?;
                size += data.len() as u64;
                if size > self.limit {
                    return Err(FileError::TooLarge(self.limit));
                }
                buffer.extend_from_slice(&data);
                while buffer.len() >= CHUNK_SIZE as usize {
                    let rest = buffer.split_off(CHUNK_SIZE as usize);
                    let chunk = std::mem::replace(&mut buffer, rest);
                    hashes.push(self.put(&key, hashes.len() as u32, chunk).await?);
                }
            }
            if !buffer.is_empty() {
                hashes.push(self.put(&key, hashes.len() as u32, buffer).await?);
            }
            Ok(())
        }
        .await;
        if let Err(e) = written {
            self.disk.remove_all(&hashes).await;
            return Err(e);
        }
        let row = FileRow {
            viewer: keys.account_id().0,
            id: crypto_file::file_id(size, CHUNK_SIZE, &hashes),
            name,
            size,
            mime,
            chunk_size: CHUNK_SIZE,
            hashes,
            key: wrap::seal(keys.master.expose(), FILE_KEY_LABEL, &key),
        };
        let stored = row.clone();
        self.store
            .write(move |txn| {
                let now = now_ms();
                for hash in &stored.hashes {
                    rows::add_chunk(txn, hash, 0, now)?;
                }
                rows::insert(txn, &stored, now)
            })
            .await?;
        Ok(row)
    }

    /// Seals and writes one chunk; returns its address.
    async fn put(&self, key: &[u8; 32], index: u32, plain: Vec<u8>) -> Result<[u8; 32], FileError> {
        let key = *key;
        let sealed =
            tokio::task::spawn_blocking(move || crypto_file::seal_chunk(&key, index, &plain))
                .await
                .map_err(|e| FileError::Upload(e.to_string()))?;
        let hash = crypto_file::chunk_hash(&sealed);
        self.disk.write(&hash, &sealed, true).await?;
        Ok(hash)
    }

    /// What `keys`' account may read of file `id`, with the file key.
    pub async fn open(
        &self,
        keys: &UnlockedKeys,
        id: [u8; 32],
    ) -> Result<(FileRow, [u8; 32]), FileError> {
        let viewers = [keys.account_id().0, PUBLIC_VIEWER];
        let row = self
            .store
            .read(move |c| rows::get(c, &viewers, &id))
            .await?
            .ok_or(FileError::NotFound)?;
        let key = if row.viewer == PUBLIC_VIEWER {
            row.key.clone()
        } else {
            wrap::open(keys.master.expose(), FILE_KEY_LABEL, &row.key)
                .map_err(|_| FileError::NotFound)?
                .to_vec()
        };
        let key: [u8; 32] = key.try_into().map_err(|_| FileError::NotFound)?;
        Ok((row, key))
    }

    /// The reference a message carries for a file the account may read.
    pub async fn file_ref(&self, keys: &UnlockedKeys, id: [u8; 32]) -> Result<FileRef, FileError> {
        let (row, key) = self.open(keys, id).await?;
        Ok(FileRef {
            id: row.id,
            name: row.name,
            size: row.size,
            mime: row.mime,
            key,
            chunk_size: row.chunk_size,
            chunk_hashes: row.hashes,
        })
    }

    /// A sealed chunk, from disk or from the first peer that has it (checked against its
    /// address; a peer that sends anything else is skipped and counted). Peers may fetch it
    /// one hop further on our behalf, so a reader reaches a holder through a relay.
    pub async fn chunk(&self, hash: [u8; 32]) -> Result<(Vec<u8>, bool), FileError> {
        if let Some(sealed) = self.disk.read(&hash).await? {
            return Ok((sealed, false));
        }
        self.fetch(hash, MAX_HOPS, None)
            .await
            .map(|sealed| (sealed, true))
    }

    /// Asks connected peers (but `except`) for a chunk, in rotation; keeps what matches.
    async fn fetch(
        &self,
        hash: [u8; 32],
        hops: u8,
        except: Option<PeerId>,
    ) -> Result<Vec<u8>, FileError> {
        let peers = self.net.peers().await.unwrap_or_default();
        let start = self.next_peer.fetch_add(1, Ordering::Relaxed);
        let request = ChunkRequest { hash, hops }.encode();
        for i in 0..peers.len() {
            let Ok(peer) = peers[(start + i) % peers.len()].peer_id.parse::<PeerId>() else {
                continue;
            };
            if Some(peer) == except {
                continue;
            }
            let Ok(answer) = self
                .net
                .request(Service::Files, peer, request.clone())
                .await
            else {
                continue;
            };
            match ChunkResponse::decode(&answer) {
                Ok(ChunkResponse::Here(sealed)) if crypto_file::chunk_hash(&sealed) == hash => {
                    // The disk is the record of what is held: no store write (and commit) per
                    // chunk, which would halve the transfer rate.
                    self.disk.write(&hash, &sealed, false).await?;
                    self.metrics.file_chunks_fetched.inc();
                    return Ok(sealed);
                }
                Ok(ChunkResponse::NotHeld) => {}
                _ => {
                    self.metrics.file_chunks_rejected.inc();
                    tracing::warn!(%peer, "a peer sent a chunk that does not match its address");
                }
            }
        }
        Err(FileError::Unavailable)
    }

    /// The plaintext of a file, chunk by chunk in order, fetching what is missing (several at
    /// once) and telling `viewer`'s clients how far it got.
    pub fn stream(
        self: &Arc<Self>,
        viewer: AccountId,
        row: FileRow,
        key: [u8; 32],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let files = self.clone();
        let total = row.size;
        let chunk_size = u64::from(row.chunk_size);
        let (id, hashes) = (row.id, row.hashes);
        futures::stream::iter(hashes.into_iter().enumerate())
            .map(move |(index, hash)| {
                let files = files.clone();
                async move {
                    let (sealed, fetched) =
                        files.chunk(hash).await.map_err(std::io::Error::other)?;
                    if fetched {
                        let done = ((index as u64 + 1) * chunk_size).min(total);
                        files.bus.publish(NodeEvent::FileProgress {
                            viewer,
                            file: id,
                            done,
                            total,
                        });
                    }
                    let plain = crypto_file::open_chunk(&key, index as u32, &sealed)
                        .map_err(std::io::Error::other)?;
                    Ok(Bytes::from(plain))
                }
            })
            .buffered(PARALLEL_FETCHES)
    }

    /// Answers a peer's chunk request from disk.
    pub async fn serve(&self, peer: PeerId, data: Vec<u8>, channel: ResponseChannel<Vec<u8>>) {
        let Ok(request) = ChunkRequest::decode(&data) else {
            tracing::debug!(%peer, "malformed chunk request");
            return;
        };
        let answer = match self.disk.read(&request.hash).await {
            Ok(Some(sealed)) => ChunkResponse::Here(sealed),
            // Not here: fetch it for the requester from our other peers. The chunk is sealed, so
            // relaying (and keeping a copy) reveals nothing to this node.
            _ if request.hops > 0 => {
                match self.fetch(request.hash, request.hops - 1, Some(peer)).await {
                    Ok(sealed) => ChunkResponse::Here(sealed),
                    Err(_) => ChunkResponse::NotHeld,
                }
            }
            _ => ChunkResponse::NotHeld,
        };
        if let Ok(bytes) = answer.encode() {
            self.net.respond(Service::Files, channel, bytes);
        }
    }
}

/// The rows a message's files give `viewer`: the key plain for the public room, sealed under
/// the viewer's master key otherwise. Called inside the transaction that stores the message.
pub fn record_refs(
    txn: &rusqlite::Connection,
    viewer: [u8; 32],
    refs: &[FileRef],
    master: Option<&[u8; 32]>,
) -> Result<(), StoreError> {
    for file in refs {
        if crypto_file::file_id(file.size, file.chunk_size, &file.chunk_hashes) != file.id {
            continue; // a reference that does not name its own chunks: nothing to fetch
        }
        let key = match master {
            Some(master) => wrap::seal(master, FILE_KEY_LABEL, &file.key),
            None => file.key.to_vec(),
        };
        let row = FileRow {
            viewer,
            id: file.id,
            name: file.name.clone(),
            size: file.size,
            mime: file.mime.clone(),
            chunk_size: file.chunk_size,
            hashes: file.chunk_hashes.clone(),
            key,
        };
        rows::insert(txn, &row, now_ms())?;
    }
    Ok(())
}
