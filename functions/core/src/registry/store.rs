//! Object storage behind one small trait: a local folder (the default) or S3.
//!
//! Only what the registry needs: read, create-if-absent, replace-if-unchanged (compare and
//! swap on an ETag), list. Version files are only ever created; the champion pointer is only
//! ever swapped, so two concurrent writers can never lose an update.

use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::contract::artifact::sha256_hex;
use crate::error::{Error, Result};

/// An object's bytes and its entity tag (content identity for conditional requests).
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Bytes,
    pub etag: String,
}

/// The condition a write must meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Only if nothing is stored under the key (S3 `If-None-Match: *`).
    Create,
    /// Only if the stored object still has this ETag (S3 `If-Match`).
    Update { etag: String },
}

#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// The object under `key`, or `None` if there is none.
    async fn get(&self, key: &str) -> Result<Option<Object>>;
    /// The object under `key` unless its ETag is still `etag` (`Ok(None)`: unchanged).
    /// Missing is an error here: the caller held a version of it.
    async fn get_if_changed(&self, key: &str, etag: &str) -> Result<Option<Object>>;
    /// Write under the condition; returns the new ETag, or [`Error::PreconditionFailed`].
    async fn put(&self, key: &str, bytes: Bytes, mode: PutMode) -> Result<String>;
    /// Every key starting with `prefix` (a folder path ending in `/`), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Where this store is, for messages (`file:///...`, `s3://bucket/prefix`).
    fn location(&self) -> String;
}

/// Write `bytes` under `key` on the condition `mode`; a key found holding exactly these
/// bytes when the condition fails counts as written, with its ETag. A write whose answer
/// was lost (the server stored it, the client saw an error and retried) finds its own
/// bytes, not a rival's: without this check the retry's "already exists" or "changed since
/// read" would fail a write that succeeded. (Pointers and records carry their write time,
/// so two writers never write the same bytes.)
pub async fn put_once(store: &dyn Store, key: &str, bytes: Bytes, mode: PutMode) -> Result<String> {
    match store.put(key, bytes.clone(), mode).await {
        Err(e @ Error::PreconditionFailed { .. }) => match store.get(key).await? {
            Some(found) if found.bytes == bytes => Ok(found.etag),
            _ => Err(e),
        },
        other => other,
    }
}

/// Open the store a URI names: `s3://bucket[/prefix]`, `file:///path`, or a plain path.
pub async fn open(uri: &str) -> Result<Arc<dyn Store>> {
    open_with(uri, &crate::registry::s3::S3Settings::from_env()?).await
}

/// [`open`] with explicit S3 settings.
pub async fn open_with(uri: &str, s3: &crate::registry::s3::S3Settings) -> Result<Arc<dyn Store>> {
    if let Some(rest) = uri.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::store(uri, "no bucket in the URI"));
        }
        return Ok(Arc::new(
            crate::registry::s3::S3Store::new(bucket, prefix, s3).await,
        ));
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    if path.is_empty() {
        return Err(Error::store(uri, "empty path"));
    }
    Ok(Arc::new(LocalStore::new(path)))
}

/// Check a key is a relative '/'-separated path with no empty, `.` or `..` segment.
pub(crate) fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            name: key.chars().take(128).collect(),
            reason: "not a relative object key",
        })
    }
}

/// A folder as object store. ETags are content sha256; conditional writes are made atomic
/// with a hard link (create) and an exclusive lock plus rename (update).
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn io(&self, what: &str, e: std::io::Error) -> Error {
        Error::store(self.location(), format!("{what}: {e}"))
    }

    /// Write `bytes` to a fresh hidden file beside `target`, flushed to disk.
    fn write_temp(&self, target: &Path, bytes: &[u8]) -> Result<PathBuf> {
        let dir = target.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| self.io(&dir.display().to_string(), e))?;
        let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("obj");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
        let mut f = std::fs::File::create_new(&tmp).map_err(|e| self.io("create temp", e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| self.io("write temp", e))?;
        Ok(tmp)
    }

    fn read(&self, path: &Path) -> Result<Option<Object>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(Object {
                etag: sha256_hex(&b),
                bytes: Bytes::from(b),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path.display().to_string(), e)),
        }
    }

    fn put_sync(&self, key: &str, bytes: &[u8], mode: &PutMode) -> Result<String> {
        let target = self.path(key)?;
        let etag = sha256_hex(bytes);
        match mode {
            PutMode::Create => {
                let tmp = self.write_temp(&target, bytes)?;
                // link() refuses an existing target: the create is atomic and never overwrites.
                let linked = std::fs::hard_link(&tmp, &target);
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => Ok(etag),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Err(Error::PreconditionFailed {
                            key: key.to_owned(),
                            reason: "already exists",
                        })
                    }
                    Err(e) => Err(self.io("link", e)),
                }
            }
            PutMode::Update { etag: expected } => {
                let dir = target.parent().unwrap_or(&self.root);
                std::fs::create_dir_all(dir).map_err(|e| self.io("create folder", e))?;
                let lock_path = dir.join(format!(
                    ".{}.lock",
                    target.file_name().and_then(|n| n.to_str()).unwrap_or("obj")
                ));
                let lock = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|e| self.io("open lock", e))?;
                // Held until `lock` drops: compare and rename happen as one step for every
                // writer on this machine.
                lock.lock().map_err(|e| self.io("lock", e))?;
                let current = self.read(&target)?;
                match current {
                    Some(obj) if obj.etag == *expected => {}
                    Some(_) => {
                        return Err(Error::PreconditionFailed {
                            key: key.to_owned(),
                            reason: "changed since it was read",
                        });
                    }
                    None => {
                        return Err(Error::PreconditionFailed {
                            key: key.to_owned(),
                            reason: "does not exist",
                        });
                    }
                }
                let tmp = self.write_temp(&target, bytes)?;
                std::fs::rename(&tmp, &target).map_err(|e| self.io("rename", e))?;
                Ok(etag)
            }
        }
    }

    fn list_sync(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let start = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(prefix.trim_end_matches('/'))?
        };
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(&dir.display().to_string(), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| self.io("read folder", e))?;
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue; // temp and lock files
                }
                let path = entry.path();
                if entry.file_type().map_err(|e| self.io("stat", e))?.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    let key = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    out.push(key);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[async_trait]
impl Store for LocalStore {
    async fn get(&self, key: &str) -> Result<Option<Object>> {
        let (this, path) = (self.clone(), self.path(key)?);
        blocking(move || this.read(&path)).await
    }

    async fn get_if_changed(&self, key: &str, etag: &str) -> Result<Option<Object>> {
        match self.get(key).await? {
            Some(obj) if obj.etag == etag => Ok(None),
            Some(obj) => Ok(Some(obj)),
            None => Err(Error::not_found(format!("{}/{key}", self.location()))),
        }
    }

    async fn put(&self, key: &str, bytes: Bytes, mode: PutMode) -> Result<String> {
        let (this, key) = (self.clone(), key.to_owned());
        blocking(move || this.put_sync(&key, &bytes, &mode)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let (this, prefix) = (self.clone(), prefix.to_owned());
        blocking(move || this.list_sync(&prefix)).await
    }

    fn location(&self) -> String {
        let abs = std::path::absolute(&self.root).unwrap_or_else(|_| self.root.clone());
        format!("file://{}", abs.display())
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::store("local", format!("I/O task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creating_the_same_bytes_again_succeeds_and_other_bytes_fail() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let once =
            |b: &'static [u8]| put_once(&store, "a/b", Bytes::from_static(b), PutMode::Create);
        once(b"first").await.unwrap();
        once(b"first").await.unwrap();
        assert!(matches!(
            once(b"other").await,
            Err(Error::PreconditionFailed { .. })
        ));
        assert_eq!(
            &store.get("a/b").await.unwrap().unwrap().bytes[..],
            b"first"
        );
    }

    #[tokio::test]
    async fn create_never_overwrites_and_update_compares() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let e1 = store
            .put("p/a.json", Bytes::from_static(b"1"), PutMode::Create)
            .await
            .unwrap();
        let again = store
            .put("p/a.json", Bytes::from_static(b"2"), PutMode::Create)
            .await;
        assert!(matches!(again, Err(Error::PreconditionFailed { .. })));
        let stale = PutMode::Update {
            etag: "nope".into(),
        };
        assert!(
            store
                .put("p/a.json", Bytes::from_static(b"3"), stale)
                .await
                .is_err()
        );
        let e2 = store
            .put(
                "p/a.json",
                Bytes::from_static(b"4"),
                PutMode::Update { etag: e1 },
            )
            .await
            .unwrap();
        let obj = store.get("p/a.json").await.unwrap().unwrap();
        assert_eq!(
            (&obj.bytes[..], obj.etag.as_str()),
            (&b"4"[..], e2.as_str())
        );
        assert_eq!(store.list("p/").await.unwrap(), ["p/a.json"]);
        assert!(store.get("p/none").await.unwrap().is_none());
        assert!(store.get("../etc/passwd").await.is_err());
    }
}
