//! cfship-state: a small durable cursor store with two backends.
//!
//! * [`FileStore`] (the default): one versioned JSON file per source (`<dir>/<key>.json`). Every save
//!   writes a temporary file in the same directory, fsyncs it, renames it over the old file (atomic on
//!   POSIX) and fsyncs the directory, so a crash leaves either the old or the new cursor, never a torn
//!   file.
//! * [`EsStore`] (`state.backend: elasticsearch`): one document per source in a normal index (default
//!   `cfship-state`) with a strict mapping, written with optimistic concurrency control
//!   (`if_seq_no`/`if_primary_term`): a save succeeds only over the version this store last read or
//!   wrote, so two writers can never silently overwrite each other's cursor.
//!
//! Both keep the same envelope (`version`, `key`, `saved_at_unix_ms`, `cursor`) and the same rules: a
//! corrupt cursor or one written by a newer cfship (higher format version) is an explicit error, the
//! store never resets a cursor silently. [`CursorStore`] is what the collectors hold.
#![deny(unreachable_pub)]

mod es;
mod file;

pub use es::{
    heartbeat_key, report_key, state_mapping, EsStore, IndexOutcome, ReplicaBeat, SourceReport,
    StateView, DEFAULT_INDEX, STATE_MAPPING_VERSION,
};
pub use file::{FileStore, LOCK_FILE};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Current on-disk format version.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid cursor key {key:?}: use only ASCII letters, digits, '-', '_' and '.' (max 200 chars)")]
    InvalidKey { key: String },
    #[error("cannot read cursor file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write cursor file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cursor file {path} is corrupt ({reason}); refusing to reset it silently: fix or delete the file \
         (deleting restarts collection for this source from its initial lookback)"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "cursor file {path} has format version {found}, this cfship understands up to {supported}; \
         it was written by a newer cfship: upgrade cfship or point it at another state directory"
    )]
    NewerVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("cursor file {path} belongs to key {found:?}, expected {expected:?}")]
    KeyMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(
        "state directory {path} is in use by another cfship process (lock {lock} is held); two \
         processes on one state directory would collect every source twice"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error(
        "cursor document {doc} is corrupt ({reason}); refusing to reset it silently: fix or delete the \
         document (deleting restarts collection for this source from its initial lookback)"
    )]
    DocCorrupt { doc: String, reason: String },
    #[error(
        "{doc} has format version {found}, this cfship understands up to {supported}; it was written \
         by a newer cfship: upgrade this replica (every replica on one state index must run a cfship \
         that understands its format)"
    )]
    DocNewerVersion {
        doc: String,
        found: u32,
        supported: u32,
    },
    #[error("cursor document {doc} belongs to key {found:?}, expected {expected:?}")]
    DocKeyMismatch {
        doc: String,
        found: String,
        expected: String,
    },
    #[error(
        "cursor {key} in {index} was changed by another writer since this cfship read it (version \
         conflict); not overwriting it: another replica owns this source now"
    )]
    Conflict { key: String, index: String },
    #[error(
        "the lease of {key} in {index} is held by replica {owner:?} until {}: this process does \
         not collect that source (its owner does; it is free once that replica stops or hands it over)",
        rfc3339_ms(*expires_unix_ms)
    )]
    LeaseHeld {
        key: String,
        index: String,
        owner: String,
        /// The lease's expiry, Unix ms.
        expires_unix_ms: u64,
    },
    #[error("state index {index}: {message}")]
    Elasticsearch { index: String, message: String },
    #[error("state index {index} unavailable (retried after the interval): {message}")]
    Unavailable { index: String, message: String },
    #[error("cannot serialize cursor for {key}: {source}")]
    Serialize {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StateError {
    /// Elasticsearch unreachable or answering 429/5xx: the caller retries later (the cursor is
    /// unchanged, the unit is collected again; `_id`s make that harmless).
    pub fn is_transient(&self) -> bool {
        matches!(self, StateError::Unavailable { .. })
    }

    /// [`StateError::LeaseHeld`]: the owner and the lease's expiry (Unix ms).
    pub fn lease_held(&self) -> Option<(&str, u64)> {
        match self {
            StateError::LeaseHeld {
                owner,
                expires_unix_ms,
                ..
            } => Some((owner.as_str(), *expires_unix_ms)),
            _ => None,
        }
    }
}

/// Unix ms as an RFC 3339 time (UTC, milliseconds).
fn rfc3339_ms(ms: u64) -> String {
    std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_millis(ms))
        .map(|t| humantime::format_rfc3339_millis(t).to_string())
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// The envelope of a saved cursor (a file, or a document's `_source`). `cursor` is the caller's value.
#[derive(Serialize)]
pub(crate) struct EnvelopeOut<'a, T: Serialize> {
    version: u32,
    key: &'a str,
    saved_at_unix_ms: u128,
    cursor: &'a T,
}

impl<'a, T: Serialize> EnvelopeOut<'a, T> {
    pub(crate) fn new(key: &'a str, cursor: &'a T) -> Self {
        EnvelopeOut {
            version: FORMAT_VERSION,
            key,
            saved_at_unix_ms: now_unix_ms(),
            cursor,
        }
    }
}

pub(crate) fn now_unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

#[derive(Deserialize)]
struct EnvelopeIn {
    version: u32,
    key: String,
    #[serde(default)]
    saved_at_unix_ms: Option<u64>,
    cursor: serde_json::Value,
}

pub(crate) fn validate_key(key: &str) -> Result<(), StateError> {
    let ok = !key.is_empty()
        && key.len() <= 200
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidKey {
            key: key.to_string(),
        })
    }
}

/// Why a saved envelope was refused (turned into the backend's error by the caller).
#[derive(Debug)]
pub(crate) enum DecodeError {
    Corrupt(String),
    Newer(u32),
    KeyMismatch(String),
}

impl DecodeError {
    pub(crate) fn file(self, path: PathBuf, key: &str) -> StateError {
        match self {
            DecodeError::Corrupt(reason) => StateError::Corrupt { path, reason },
            DecodeError::Newer(found) => StateError::NewerVersion {
                path,
                found,
                supported: FORMAT_VERSION,
            },
            DecodeError::KeyMismatch(found) => StateError::KeyMismatch {
                path,
                found,
                expected: key.to_string(),
            },
        }
    }
    pub(crate) fn doc(self, doc: String, key: &str) -> StateError {
        match self {
            DecodeError::Corrupt(reason) => StateError::DocCorrupt { doc, reason },
            DecodeError::Newer(found) => StateError::DocNewerVersion {
                doc: format!("cursor document {doc}"),
                found,
                supported: FORMAT_VERSION,
            },
            DecodeError::KeyMismatch(found) => StateError::DocKeyMismatch {
                doc,
                found,
                expected: key.to_string(),
            },
        }
    }
}

/// Checks a saved envelope and returns its cursor: the version first (so a newer format is reported
/// as such, not as "corrupt"), then the envelope, the key and the cursor's shape.
pub(crate) fn decode_envelope<T: DeserializeOwned>(
    raw: serde_json::Value,
    key: &str,
) -> Result<Saved<T>, DecodeError> {
    let version = raw
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| DecodeError::Corrupt("missing numeric \"version\"".into()))?;
    if version > u64::from(FORMAT_VERSION) {
        return Err(DecodeError::Newer(
            u32::try_from(version).unwrap_or(u32::MAX),
        ));
    }
    let env: EnvelopeIn = serde_json::from_value(raw)
        .map_err(|e| DecodeError::Corrupt(format!("bad envelope: {e}")))?;
    if env.version == 0 {
        return Err(DecodeError::Corrupt(
            "version 0 is not a valid format version".into(),
        ));
    }
    if env.key != key {
        return Err(DecodeError::KeyMismatch(env.key));
    }
    let cursor = serde_json::from_value(env.cursor).map_err(|e| {
        DecodeError::Corrupt(format!("cursor does not match the expected shape: {e}"))
    })?;
    Ok(Saved {
        cursor,
        saved_at_unix_ms: env.saved_at_unix_ms,
        owner: None,
        lease_expires_unix_ms: None,
    })
}

/// A loaded cursor with the time it was saved (absent in files of old cfships).
#[derive(Debug, Clone, PartialEq)]
pub struct Saved<T> {
    pub cursor: T,
    pub saved_at_unix_ms: Option<u64>,
    /// Elasticsearch with leases: the replica holding the source's lease, and until when.
    pub owner: Option<String>,
    pub lease_expires_unix_ms: Option<u64>,
}

/// The cursor store the collectors hold: a [`FileStore`] or an [`EsStore`].
#[derive(Debug)]
pub struct CursorStore {
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    File(FileStore),
    Es(EsStore),
}

impl From<FileStore> for CursorStore {
    fn from(f: FileStore) -> Self {
        CursorStore {
            backend: Backend::File(f),
        }
    }
}

impl From<EsStore> for CursorStore {
    fn from(e: EsStore) -> Self {
        CursorStore {
            backend: Backend::Es(e),
        }
    }
}

impl CursorStore {
    /// A file store over `dir` (see [`FileStore::open`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StateError> {
        Ok(FileStore::open(dir)?.into())
    }

    /// An exclusive file store over `dir` (see [`FileStore::open_exclusive`]).
    pub fn open_exclusive(dir: impl AsRef<Path>) -> Result<Self, StateError> {
        Ok(FileStore::open_exclusive(dir)?.into())
    }

    /// The state directory of a file store.
    pub fn dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::File(f) => Some(f.dir()),
            Backend::Es(_) => None,
        }
    }

    /// Where cursors live, for messages: the directory or `elasticsearch index <name>`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::File(f) => format!("state dir {}", f.dir().display()),
            Backend::Es(e) => format!("elasticsearch index {}", e.index()),
        }
    }

    /// Loads the cursor of `key`; `Ok(None)` when no cursor was saved yet. Blocks (file I/O or one
    /// Elasticsearch request): async callers run it in `block_in_place`.
    pub fn load<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        Ok(self.load_saved(key)?.map(|s| s.cursor))
    }

    /// [`CursorStore::load`] with the time of the save (for `cfship status`).
    pub fn load_saved<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<Saved<T>>, StateError> {
        match &self.backend {
            Backend::File(f) => f.load_saved(key),
            Backend::Es(e) => e.load_saved(key),
        }
    }

    /// The Elasticsearch backend (heartbeats and the replica view).
    pub fn es(&self) -> Option<&EsStore> {
        match &self.backend {
            Backend::File(_) => None,
            Backend::Es(e) => Some(e),
        }
    }

    /// Takes the lease of `key` (Elasticsearch with leases; always `Ok(true)` otherwise).
    pub fn try_acquire(&self, key: &str) -> Result<bool, StateError> {
        match &self.backend {
            Backend::File(_) => Ok(true),
            Backend::Es(e) => e.try_acquire(key),
        }
    }

    /// Renews the lease of `key` ([`StateError::Conflict`] when lost).
    pub fn renew(&self, key: &str) -> Result<(), StateError> {
        match &self.backend {
            Backend::File(_) => Ok(()),
            Backend::Es(e) => e.renew(key),
        }
    }

    /// [`StateError::LeaseHeld`] when another replica holds an unexpired lease of `key` (the
    /// document read afresh), `Ok(())` when it is free, expired or ours (Elasticsearch with leases;
    /// always `Ok(())` otherwise).
    pub fn check_lease_free(&self, key: &str) -> Result<(), StateError> {
        match &self.backend {
            Backend::File(_) => Ok(()),
            Backend::Es(e) => e.check_lease_free(key),
        }
    }

    /// Gives the lease of `key` up.
    pub fn release(&self, key: &str) {
        if let Backend::Es(e) = &self.backend {
            e.release(key)
        }
    }

    /// Saves the cursor of `key` durably. On Elasticsearch the write is conditional on the version
    /// this store last read or wrote ([`StateError::Conflict`] otherwise).
    pub fn save<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        match &self.backend {
            Backend::File(f) => f.save(key, value),
            Backend::Es(e) => e.save(key, value),
        }
    }
}
