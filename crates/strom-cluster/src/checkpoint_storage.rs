//! Checkpoint storage (`state.checkpoints.dir`) through `object_store`: a local directory
//! (a path or a `file://` URL) or `memory://` (tests). Layout of one job:
//!
//! ```text
//! <dir>/<job id>/chk-<id>/<vertex id>-<subtask>.state   one task's snapshots (encode_task_state)
//! <dir>/<job id>/chk-<id>/_metadata                     CheckpointMetadata as JSON, written last
//! ```
//!
//! A checkpoint directory is self-contained: its metadata names its state files relative to
//! itself, so a savepoint is a copy of one. Calls block the calling thread; the I/O runs on a
//! small runtime of its own, so they work from any thread.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::{Arc, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("checkpoint storage '{url}': {message}")]
    Config { url: String, message: String },
    #[error("{location}: {message}")]
    Io { location: String, message: String },
    #[error("{location} does not exist")]
    NotFound { location: String },
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("checkpoint-io")
            .enable_all()
            .build()
            .expect("the checkpoint I/O runtime starts")
    })
}

/// Runs `f` on the storage runtime and waits for it (from any thread, async or not). The
/// high-availability job store runs its etcd calls here too.
pub(crate) fn block<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv().expect("the checkpoint I/O task ends")
}

/// One storage location: a store and a base path in it.
#[derive(Clone)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
    base: Path,
    /// How locations are shown to users (a local path, or the URL).
    display: String,
}

impl std::fmt::Debug for CheckpointStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointStorage({})", self.display)
    }
}

/// Stores of `memory://` URLs, shared in this process by name.
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<parking_lot::Mutex<std::collections::HashMap<String, Arc<InMemory>>>> =
        OnceLock::new();
    let mut m = STORES.get_or_init(Default::default).lock();
    m.entry(name.to_string())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone()
}

impl CheckpointStorage {
    /// Opens `url`: a local path (created if missing), `file:///path` or `memory://name`.
    pub fn open(url: &str) -> Result<Self, StorageError> {
        let err = |message: String| StorageError::Config {
            url: url.to_string(),
            message,
        };
        if let Some(name) = url.strip_prefix("memory://") {
            return Ok(Self {
                store: memory_store(name),
                base: Path::default(),
                display: url.trim_end_matches('/').to_string(),
            });
        }
        let local = match url.split_once("://") {
            None => url,
            Some(("file", rest)) => rest,
            Some((scheme, _)) => {
                return Err(err(format!(
                    "the '{scheme}' scheme is not supported by this build; use a local directory, \
                     a file:// URL or a shared file system mounted on every TaskManager"
                )))
            }
        };
        let path = std::path::Path::new(local);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| err(e.to_string()))?
                .join(path)
        };
        std::fs::create_dir_all(&path)
            .map_err(|e| err(format!("cannot create {}: {e}", path.display())))?;
        let fs = LocalFileSystem::new_with_prefix(&path).map_err(|e| err(e.to_string()))?;
        Ok(Self {
            store: Arc::new(fs),
            base: Path::default(),
            display: path.display().to_string(),
        })
    }

    /// The same store, below `rel` (e.g. a job's or a checkpoint's directory).
    pub fn child(&self, rel: &str) -> Self {
        Self {
            store: self.store.clone(),
            base: self.path(rel),
            display: format!("{}/{}", self.display, rel.trim_matches('/')),
        }
    }

    fn path(&self, rel: &str) -> Path {
        let mut p = self.base.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.clone().join(part);
        }
        p
    }

    /// Where `rel` is, as users see it.
    pub fn location(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.display.clone()
        } else {
            format!("{}/{}", self.display, rel.trim_matches('/'))
        }
    }

    /// Writes `rel` (whole, atomically for local files).
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let (store, path) = (self.store.clone(), self.path(rel));
        block(async move { store.put(&path, PutPayload::from(Bytes::from(bytes))).await })
            .map(|_| ())
            .map_err(|e| StorageError::Io {
                location: self.location(rel),
                message: e.to_string(),
            })
    }

    pub fn get(&self, rel: &str) -> Result<Vec<u8>, StorageError> {
        let (store, path) = (self.store.clone(), self.path(rel));
        let r = block(async move {
            let r = store.get(&path).await?;
            r.bytes().await
        });
        match r {
            Ok(b) => Ok(b.to_vec()),
            Err(object_store::Error::NotFound { .. }) => Err(StorageError::NotFound {
                location: self.location(rel),
            }),
            Err(e) => Err(StorageError::Io {
                location: self.location(rel),
                message: e.to_string(),
            }),
        }
    }

    /// Names directly below `rel` (files and directories).
    pub fn list(&self, rel: &str) -> Result<Vec<String>, StorageError> {
        let (store, path) = (self.store.clone(), self.path(rel));
        let r = block(async move { store.list_with_delimiter(Some(&path)).await });
        let r = r.map_err(|e| StorageError::Io {
            location: self.location(rel),
            message: e.to_string(),
        })?;
        let mut names: Vec<String> = r
            .common_prefixes
            .iter()
            .chain(r.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Deletes the file `rel`; errors are logged only.
    pub fn delete(&self, rel: &str) {
        let (store, path) = (self.store.clone(), self.path(rel));
        if let Err(e) = block(async move { store.delete(&path).await }) {
            tracing::warn!("cannot delete {}: {e}", self.location(rel));
        }
    }

    /// Deletes everything below `rel` (a discarded checkpoint); errors are logged only.
    pub fn delete_all(&self, rel: &str) {
        let (store, path) = (self.store.clone(), self.path(rel));
        let r: Result<(), object_store::Error> = block(async move {
            let files: Vec<_> = store.list(Some(&path)).try_collect().await?;
            for f in files {
                store.delete(&f.location).await?;
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::warn!("cannot delete {}: {e}", self.location(rel));
        }
        // local directories stay behind empty: remove them
        let dir = std::path::Path::new(&self.display).join(rel);
        if dir.is_dir() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_memory_round_trip() {
        let dir = std::env::temp_dir().join(format!("strom-storage-{}", rand::random::<u64>()));
        for url in [dir.display().to_string(), "memory://storage-test".into()] {
            let s = CheckpointStorage::open(&url).unwrap().child("job");
            s.put("chk-1/a.state", b"hello".to_vec()).unwrap();
            s.put("chk-1/_metadata", b"{}".to_vec()).unwrap();
            assert_eq!(s.get("chk-1/a.state").unwrap(), b"hello");
            assert_eq!(s.list("").unwrap(), vec!["chk-1"]);
            assert_eq!(s.list("chk-1").unwrap(), vec!["_metadata", "a.state"]);
            let missing = s.get("chk-2/_metadata").unwrap_err().to_string();
            assert!(missing.contains("chk-2/_metadata") && missing.contains("does not exist"));
            s.delete_all("chk-1");
            assert!(s.list("").unwrap().is_empty(), "{url}");
        }
        let _ = std::fs::remove_dir_all(dir);
        let e = CheckpointStorage::open("s3://bucket/x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("'s3' scheme is not supported"), "{e}");
    }
}
