//! Sealed chunks on disk: `<dir>/<first two hex digits>/<address in hex>`, written to a temporary
//! name, synced and renamed, so a crash never leaves a half-written chunk under its address.

use std::path::{Path, PathBuf};

/// The chunk directory.
#[derive(Debug)]
pub struct ChunkDir {
    dir: PathBuf,
}

impl ChunkDir {
    /// Opens (creating) the directory and clears temporaries a crash left behind.
    pub fn open(dir: &Path) -> std::io::Result<ChunkDir> {
        std::fs::create_dir_all(dir.join("tmp"))?;
        for entry in std::fs::read_dir(dir.join("tmp"))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(ChunkDir {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, hash: &[u8; 32]) -> PathBuf {
        let name = hex::encode(hash);
        self.dir.join(&name[..2]).join(name)
    }

    /// Writes a chunk under its address (a no-op when it is there). `durable` syncs it to disk
    /// first: for uploads, whose chunks exist nowhere else; a fetched chunk can be fetched again.
    pub async fn write(
        &self,
        hash: &[u8; 32],
        sealed: &[u8],
        durable: bool,
    ) -> std::io::Result<()> {
        let path = self.path(hash);
        if tokio::fs::try_exists(&path).await? {
            return Ok(());
        }
        let tmp = self.dir.join("tmp").join(format!(
            "{}.{}",
            hex::encode(hash),
            hex::encode(chatly_crypto::random_bytes::<8>())
        ));
        let bytes = sealed.to_vec();
        let target = path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            if durable {
                file.sync_data()?;
            }
            std::fs::rename(&tmp, &target)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// A chunk's bytes, if held and intact (one damaged by a crash or the disk is removed, so
    /// it is fetched again).
    pub async fn read(&self, hash: &[u8; 32]) -> std::io::Result<Option<Vec<u8>>> {
        let path = self.path(hash);
        match tokio::fs::read(&path).await {
            Ok(bytes) if chatly_crypto::file::chunk_hash(&bytes) == *hash => Ok(Some(bytes)),
            Ok(_) => {
                tracing::warn!(chunk = %hex::encode(hash), "a damaged chunk on disk was removed");
                let _ = tokio::fs::remove_file(&path).await;
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes chunks (an upload that failed).
    pub async fn remove_all(&self, hashes: &[[u8; 32]]) {
        for hash in hashes {
            let _ = tokio::fs::remove_file(self.path(hash)).await;
        }
    }

    /// How many chunks are on disk (for tests of cleanup).
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name() != "tmp" && e.path().is_dir())
            .map(|e| std::fs::read_dir(e.path()).map(|d| d.count()).unwrap_or(0))
            .sum()
    }
}
