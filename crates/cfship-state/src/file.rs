//! The file backend: one versioned JSON file per key in a directory.

use crate::{decode_envelope, validate_key, EnvelopeOut, StateError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Durable cursor store: one small JSON file per key in a directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    tmp_counter: AtomicU64,
    /// Held for the store's lifetime by [`FileStore::open_exclusive`].
    _lock: Option<File>,
}

/// Name of the lock file used by [`FileStore::open_exclusive`].
pub const LOCK_FILE: &str = ".cfship.lock";

/// Temp files older than this are leftovers of a crash and are removed by `open`.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(600);

impl FileStore {
    /// Opens (creating if needed) the state directory.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StateError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|source| StateError::Dir {
            path: dir.clone(),
            source,
        })?;
        let meta = fs::metadata(&dir).map_err(|source| StateError::Dir {
            path: dir.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(StateError::Dir {
                path: dir,
                source: std::io::Error::other("not a directory"),
            });
        }
        remove_stale_temp_files(&dir);
        Ok(Self {
            dir,
            tmp_counter: AtomicU64::new(0),
            _lock: None,
        })
    }

    /// Like [`FileStore::open`], and takes an exclusive lock on `<dir>/.cfship.lock` for the store's
    /// lifetime (released on drop, and by the OS when the process dies), so a second process using the
    /// same state directory fails fast with [`StateError::Locked`].
    pub fn open_exclusive(dir: impl AsRef<Path>) -> Result<Self, StateError> {
        let mut store = Self::open(dir)?;
        let lock = store.dir.join(LOCK_FILE);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|source| StateError::Dir {
                path: lock.clone(),
                source,
            })?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked {
                    path: store.dir.clone(),
                    lock,
                })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StateError::Dir { path: lock, source })
            }
        }
        store._lock = Some(f);
        Ok(store)
    }

    /// The directory this store writes to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the file holding `key` (after validating the key).
    pub fn path_for(&self, key: &str) -> Result<PathBuf, StateError> {
        validate_key(key)?;
        Ok(self.dir.join(format!("{key}.json")))
    }

    /// Loads the cursor of `key`; `Ok(None)` when no cursor was saved yet.
    pub fn load<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        Ok(self.load_saved(key)?.map(|s| s.cursor))
    }

    /// [`Self::load`] with the time of the save.
    pub fn load_saved<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<crate::Saved<T>>, StateError> {
        let path = self.path_for(key)?;
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let raw: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            crate::DecodeError::Corrupt(format!("not JSON: {e}")).file(path.clone(), key)
        })?;
        let value = decode_envelope(raw, key).map_err(|e| e.file(path.clone(), key))?;
        Ok(Some(value))
    }

    /// Saves the cursor of `key` durably (write temp, fsync, rename, fsync dir).
    pub fn save<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        let path = self.path_for(key)?;
        let env = EnvelopeOut::new(key, value);
        let mut body = serde_json::to_vec_pretty(&env).map_err(|source| StateError::Serialize {
            key: key.to_string(),
            source,
        })?;
        body.push(b'\n');
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".{key}.json.tmp.{}.{n}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &path)?;
            // fsync the directory so the rename itself is durable.
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|source| {
            let _ = fs::remove_file(&tmp);
            StateError::Write {
                path: path.clone(),
                source,
            }
        })
    }
}

/// Removes `.<key>.json.tmp.*` files left by a crash between write and rename (older than 10 min, so a
/// concurrent writer's fresh temp file is never touched).
fn remove_stale_temp_files(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.contains(".json.tmp.")) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_TMP);
        if old {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FORMAT_VERSION;
    use serde::Deserialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Cur {
        when: String,
        ids: Vec<String>,
    }

    fn cur() -> Cur {
        Cur {
            when: "2026-11-25T04:00:00.123456Z".into(),
            ids: vec!["a".into(), "b".into()],
        }
    }

    #[test]
    fn missing_key_is_none_and_roundtrip_works() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path().join("nested/state")).unwrap();
        assert_eq!(store.load::<Cur>("audit-acc1").unwrap(), None);
        store.save("audit-acc1", &cur()).unwrap();
        assert_eq!(store.load::<Cur>("audit-acc1").unwrap(), Some(cur()));
        // Overwrite.
        let mut c2 = cur();
        c2.ids.push("c".into());
        store.save("audit-acc1", &c2).unwrap();
        assert_eq!(store.load::<Cur>("audit-acc1").unwrap(), Some(c2));
        // A fresh store over the same dir sees the same data (durability across restarts).
        let again = FileStore::open(dir.path().join("nested/state")).unwrap();
        assert_eq!(
            again.load::<Cur>("audit-acc1").unwrap().unwrap().ids.len(),
            3
        );
        // No temp files left behind.
        let names: Vec<String> = fs::read_dir(dir.path().join("nested/state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["audit-acc1.json".to_string()]);
    }

    #[test]
    fn file_is_versioned_json() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        store.save("logpull-z1", &cur()).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("logpull-z1.json")).unwrap()).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["key"], "logpull-z1");
        assert_eq!(v["cursor"]["ids"][1], "b");
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        fs::write(
            dir.path().join("z.json"),
            b"{\"version\":1,\"key\":\"z\",\"cur",
        )
        .unwrap();
        let err = store.load::<Cur>("z").unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("refusing to reset"), "{err}");
        // The file is left untouched.
        assert!(fs::read(dir.path().join("z.json"))
            .unwrap()
            .ends_with(b"cur"));

        fs::write(dir.path().join("y.json"), b"{\"key\":\"y\",\"cursor\":{}}").unwrap();
        assert!(matches!(
            store.load::<Cur>("y").unwrap_err(),
            StateError::Corrupt { .. }
        ));
        // Valid envelope, wrong cursor shape.
        fs::write(
            dir.path().join("x.json"),
            b"{\"version\":1,\"key\":\"x\",\"cursor\":{\"when\":5}}",
        )
        .unwrap();
        assert!(matches!(
            store.load::<Cur>("x").unwrap_err(),
            StateError::Corrupt { .. }
        ));
        // Empty file (e.g. a crash on a filesystem without atomic rename).
        fs::write(dir.path().join("w.json"), b"").unwrap();
        assert!(matches!(
            store.load::<Cur>("w").unwrap_err(),
            StateError::Corrupt { .. }
        ));
    }

    #[test]
    fn newer_version_is_an_explicit_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        fs::write(
            dir.path().join("k.json"),
            b"{\"version\":2,\"key\":\"k\",\"cursor\":{\"totally\":\"different\"}}",
        )
        .unwrap();
        let err = store.load::<Cur>("k").unwrap_err();
        match &err {
            StateError::NewerVersion {
                found, supported, ..
            } => {
                assert_eq!(*found, 2);
                assert_eq!(*supported, FORMAT_VERSION);
            }
            other => panic!("expected NewerVersion, got {other}"),
        }
        assert!(err.to_string().contains("newer cfship"));
    }

    #[test]
    fn key_mismatch_and_invalid_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        store.save("a", &cur()).unwrap();
        fs::copy(dir.path().join("a.json"), dir.path().join("b.json")).unwrap();
        assert!(matches!(
            store.load::<Cur>("b").unwrap_err(),
            StateError::KeyMismatch { .. }
        ));
        for bad in ["", "../x", "a/b", ".hidden", "sp ace"] {
            assert!(
                matches!(
                    store.save(bad, &cur()).unwrap_err(),
                    StateError::InvalidKey { .. }
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn exclusive_open_refuses_a_second_user() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileStore::open_exclusive(dir.path()).unwrap();
        let err = FileStore::open_exclusive(dir.path()).unwrap_err();
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        // Non-exclusive readers (e.g. `cfship check`) still work.
        a.save("k", &cur()).unwrap();
        assert!(FileStore::open(dir.path())
            .unwrap()
            .load::<Cur>("k")
            .unwrap()
            .is_some());
        drop(a);
        FileStore::open_exclusive(dir.path()).unwrap();
    }

    #[test]
    fn stale_temp_files_are_removed_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".k.json.tmp.123.0");
        let fresh = dir.path().join(".k.json.tmp.456.0");
        fs::write(&stale, b"{").unwrap();
        fs::write(&fresh, b"{").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        FileStore::open(dir.path()).unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn open_on_a_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("file");
        fs::write(&f, b"x").unwrap();
        assert!(matches!(
            FileStore::open(&f).unwrap_err(),
            StateError::Dir { .. }
        ));
    }
}
