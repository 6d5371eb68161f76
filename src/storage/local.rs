//! The local-directory object store: the embedded default when no bucket is configured.
//!
//! An object `a/b.json` is the file `ROOT/a/b.json`. A write goes to a hidden temporary file
//! in the same directory, is synced, then hard-linked to its name: the link fails if the name
//! exists, so an object is never overwritten and never seen half-written. The generation and
//! content type live in a hidden sidecar `ROOT/a/.b.json.meta`. Names whose parts start with
//! `.` are hidden from listings (and refused as object names).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{check_name, ObjectInfo, ObjectStore, PutOutcome, StorageError, StorageErrorKind};

#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
    location: String,
}

/// What GCS keeps as object metadata and a file system does not.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    generation: i64,
    content_type: String,
}

impl LocalStore {
    /// Uses `path` (made absolute, created if missing) as the root.
    pub async fn open(path: &Path) -> Result<Self, StorageError> {
        let given = path.display().to_string();
        let fail = |e: io::Error| {
            StorageError::new(
                "open",
                &given,
                "",
                io_kind(&e),
                format!("cannot create: {e}"),
            )
        };
        let root = std::path::absolute(path).map_err(fail)?;
        let to_create = root.clone();
        blocking(move || fs::create_dir_all(&to_create))
            .await
            .map_err(fail)?;
        let location = root.display().to_string();
        Ok(Self { root, location })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn error(&self, op: &'static str, name: &str, e: &io::Error) -> StorageError {
        StorageError::new(op, &self.location, name, io_kind(e), e.to_string())
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    async fn put_new(
        &self,
        name: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<PutOutcome, StorageError> {
        check_name("put", &self.location, name)?;
        let path = self.root.join(name);
        let content_type = content_type.to_string();
        blocking(move || create_new(&path, &body, content_type))
            .await
            .map_err(|e| self.error("put", name, &e))
    }

    async fn get(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        check_name("get", &self.location, name)?;
        let path = self.root.join(name);
        blocking(move || {
            if path.is_dir() {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such object"));
            }
            fs::read(&path)
        })
        .await
        .map_err(|e| self.error("get", name, &e))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StorageError> {
        // The directory part must be a plain relative path; the last part may be partial.
        let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        if !dir.is_empty() {
            check_name("list", &self.location, dir)?;
        }
        let start = self.root.join(dir);
        let (dir, prefix_owned) = (dir.to_string(), prefix.to_string());
        blocking(move || {
            let mut found = Vec::new();
            if start.is_dir() {
                walk(&start, &dir, &prefix_owned, &mut found)?;
            }
            found.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(found)
        })
        .await
        .map_err(|e| self.error("list", prefix, &e))
    }

    async fn health(&self) -> Result<(), StorageError> {
        let probe = self.root.join(format!(".health-{}", unique_suffix()));
        blocking(move || {
            fs::write(&probe, b"ok")?;
            fs::remove_file(&probe)
        })
        .await
        .map_err(|e| self.error("health", "", &e))
    }
}

/// Write to a temporary file, then link it into place unless the name is taken.
fn create_new(path: &Path, body: &[u8], content_type: String) -> io::Result<PutOutcome> {
    let dir = path.parent().expect("an object path has a parent");
    let file_name = path
        .file_name()
        .expect("a checked name has a last part")
        .to_string_lossy()
        .into_owned();
    fs::create_dir_all(dir)?;
    if path.exists() {
        return Ok(PutOutcome::AlreadyExists);
    }
    let temp = dir.join(format!(".{file_name}.tmp-{}", unique_suffix()));
    let linked = write_synced(&temp, body).and_then(|()| fs::hard_link(&temp, path));
    let _ = fs::remove_file(&temp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(PutOutcome::AlreadyExists),
        Err(e) => return Err(e),
    }
    // Only the writer whose link won gets here, so the sidecar is never contested.
    let generation = next_generation();
    let sidecar = serde_json::to_vec(&Sidecar {
        generation,
        content_type,
    })
    .map_err(io::Error::other)?;
    let meta_temp = dir.join(format!(".{file_name}.meta.tmp-{}", unique_suffix()));
    write_synced(&meta_temp, &sidecar)?;
    fs::rename(&meta_temp, sidecar_path(path))?;
    // Make the new names durable; a directory that cannot be synced is not worth failing on.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(PutOutcome::Created { generation })
}

fn write_synced(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(body)?;
    f.sync_all()
}

fn sidecar_path(path: &Path) -> PathBuf {
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{file_name}.meta"))
}

/// Collects the files under `dir_path` (the name `dir_name`) whose names start with `prefix`.
fn walk(
    dir_path: &Path,
    dir_name: &str,
    prefix: &str,
    found: &mut Vec<ObjectInfo>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir_path)? {
        let entry = entry?;
        let part = entry.file_name().to_string_lossy().into_owned();
        if part.starts_with('.') {
            continue;
        }
        let name = if dir_name.is_empty() {
            part
        } else {
            format!("{dir_name}/{part}")
        };
        let meta = entry.metadata()?;
        if meta.is_dir() {
            // Only descend where names under it can still match.
            if prefix.starts_with(&format!("{name}/")) || name.starts_with(prefix) {
                walk(&entry.path(), &name, prefix, found)?;
            }
        } else if meta.is_file() && name.starts_with(prefix) {
            found.push(info(&entry.path(), name, &meta));
        }
    }
    Ok(())
}

fn info(path: &Path, name: String, meta: &fs::Metadata) -> ObjectInfo {
    let modified = meta.modified().ok();
    let sidecar: Option<Sidecar> = fs::read(sidecar_path(path))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let (generation, content_type) = match sidecar {
        Some(s) => (s.generation, Some(s.content_type)),
        // A file put there by hand: its modification time stands in for a generation.
        None => (modified.map(nanos).unwrap_or(0), None),
    };
    ObjectInfo {
        name,
        size: meta.len(),
        generation,
        updated: modified.map(DateTime::<Utc>::from),
        content_type,
    }
}

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Nanoseconds since the epoch, strictly increasing within the process.
fn next_generation() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = nanos(SystemTime::now());
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .expect("the update closure always returns Some");
    now.max(previous + 1)
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn io_kind(e: &io::Error) -> StorageErrorKind {
    match e.kind() {
        io::ErrorKind::NotFound => StorageErrorKind::NotFound,
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            StorageErrorKind::Denied
        }
        io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory => StorageErrorKind::Invalid,
        _ => StorageErrorKind::Unavailable,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(io::Error::other(format!("storage task failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leaves_no_temporary_files_and_hides_its_sidecars() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        let name = "bettingpros/events/2026-01-14/20260114_180512.json";
        store
            .put_new(name, b"{}".to_vec(), "application/json")
            .await
            .unwrap();
        store
            .put_new(name, b"[]".to_vec(), "application/json")
            .await
            .unwrap();
        let day = dir.path().join("bettingpros/events/2026-01-14");
        let mut files: Vec<String> = fs::read_dir(&day)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [".20260114_180512.json.meta", "20260114_180512.json"]
        );
        let listed = store.list("").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].name, name);
    }

    #[tokio::test]
    async fn a_file_put_there_by_hand_is_listed_with_its_mtime_as_generation() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).await.unwrap();
        fs::create_dir_all(dir.path().join("a")).unwrap();
        fs::write(dir.path().join("a/x.json"), b"{}").unwrap();
        let listed = store.list("a/").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].generation > 0);
        assert_eq!(listed[0].content_type, None);
        assert_eq!(store.get("a/x.json").await.unwrap(), b"{}");
    }

    #[tokio::test]
    async fn a_relative_root_is_made_absolute() {
        let store = LocalStore::open(Path::new("target/local-store-test"))
            .await
            .unwrap();
        assert!(Path::new(&store.location()).is_absolute());
        assert!(store
            .url("a/b.json")
            .ends_with("target/local-store-test/a/b.json"));
        store.health().await.unwrap();
    }

    #[test]
    fn generations_strictly_increase() {
        let a = next_generation();
        let b = next_generation();
        assert!(b > a);
    }
}
