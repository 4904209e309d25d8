//! The Elasticsearch backend: one document per cursor in a normal index, written with optimistic
//! concurrency control.
//!
//! * Document `_id` = the cursor key, `_source` = the same envelope as a cursor file plus
//!   `kind: "cursor"`.
//! * `load` reads the document in real time (`GET _doc`, no refresh needed) and remembers its
//!   `_seq_no`/`_primary_term`; `save` writes with `if_seq_no`/`if_primary_term` of the version last
//!   read or written (or `_create` when there was none), so a save over a version this store has not
//!   seen fails with [`StateError::Conflict`] instead of overwriting another writer's cursor.
//! * The index is created by `cfship setup` ([`EsStore::ensure_index`]) with `dynamic: strict` and a
//!   `_meta.format`; `open` refuses a missing index and one whose format is newer than ours.
//!
//! The store's API is blocking (like the file store's): requests run on a small dedicated thread
//! with its own Tokio runtime, so a call works from any context (inside `block_in_place`, from
//! synchronous code, from a current-thread runtime) without nesting runtimes.

use crate::{decode_envelope, validate_key, DecodeError, EnvelopeOut, StateError};
use cfship_elasticsearch::{EsConfig, EsError, Method, RawClient, RawResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::Mutex;

/// Default state index name (a normal name: dot-prefixed names are reserved in Elasticsearch 8).
pub const DEFAULT_INDEX: &str = "cfship-state";

/// Format of the state index (its mapping), in `_meta.format`. A replica refuses an index whose
/// format is newer than this. 1: cursors; 2: + leases (`owner`, `lease_expires_unix_ms`);
/// 3: + per-source reports (`last_success_*`, `last_error*`).
pub const STATE_MAPPING_VERSION: u32 = 3;

/// What [`EsStore::ensure_index`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOutcome {
    Created,
    /// The index existed; its mapping was brought up to date (fields added, never changed).
    Updated {
        from: Option<u32>,
    },
    Unchanged,
}

struct Job {
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
    reply: mpsc::Sender<Result<RawResponse, EsError>>,
}

/// Cursors as documents in an Elasticsearch (or OpenSearch) index.
pub struct EsStore {
    index: String,
    jobs: Mutex<mpsc::Sender<Job>>,
    /// What this store last read or wrote of each key; `None` = read, not found.
    versions: Mutex<HashMap<String, Option<Known>>>,
    /// With leases: this replica's id and the lease TTL.
    lease: Option<(String, std::time::Duration)>,
    /// Serializes this process's writes (cursor saves and lease renewals of one key would
    /// otherwise conflict with each other).
    write_lock: Mutex<()>,
    /// `_meta.format` of the index as [`EsStore::open`] found it.
    format: Option<u32>,
}

/// A document as last read or written.
#[derive(Debug, Clone)]
struct Known {
    seq: u64,
    term: u64,
    source: serde_json::Value,
}

/// Lease fields of a document.
fn lease_of(source: &serde_json::Value) -> (Option<&str>, u64) {
    (
        source.get("owner").and_then(|o| o.as_str()),
        source
            .get("lease_expires_unix_ms")
            .and_then(|v| v.as_u64())
            .unwrap_or(0),
    )
}

/// The `_id` of a replica's heartbeat document: `replica-<id>`, the id's characters outside
/// `[A-Za-z0-9._-]` replaced by `_`.
pub fn heartbeat_key(replica: &str) -> String {
    let id: String = replica
        .chars()
        .take(180)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("replica-{id}")
}

/// A replica's heartbeat as read from the state index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaBeat {
    pub id: String,
    /// Live until then (wall clock, Unix ms).
    pub expires_unix_ms: u64,
    /// When it last wrote its heartbeat.
    pub seen_unix_ms: u64,
}

/// Replicas and leases in the state index ([`EsStore::view`]).
#[derive(Debug, Clone, Default)]
pub struct StateView {
    /// Every heartbeat document (live or expired), sorted by id.
    pub replicas: Vec<ReplicaBeat>,
    /// Each cursor document's lease: `_id` → (owner, expiry), `None` without an owner.
    pub leases: HashMap<String, Option<(String, u64)>>,
}

impl StateView {
    /// Ids of the replicas whose heartbeat has not expired at `now_ms`.
    pub fn live(&self, now_ms: u64) -> Vec<String> {
        self.replicas
            .iter()
            .filter(|r| r.expires_unix_ms > now_ms)
            .map(|r| r.id.clone())
            .collect()
    }
}

impl std::fmt::Debug for EsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EsStore")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// The strict mapping of the state index.
pub fn state_mapping() -> serde_json::Value {
    serde_json::json!({
        "dynamic": "strict",
        "_meta": { "managed_by": "cfship", "format": STATE_MAPPING_VERSION },
        "properties": {
            "kind": { "type": "keyword" },
            "key": { "type": "keyword" },
            "version": { "type": "integer" },
            "saved_at_unix_ms": { "type": "date", "format": "epoch_millis" },
            "cursor": { "type": "object", "enabled": false },
            "owner": { "type": "keyword" },
            "lease_expires_unix_ms": { "type": "date", "format": "epoch_millis" },
            "last_success_unix_ms": { "type": "date", "format": "epoch_millis" },
            "last_success_by": { "type": "keyword" },
            "last_error_unix_ms": { "type": "date", "format": "epoch_millis" },
            "last_error_by": { "type": "keyword" },
            "last_error": { "type": "text", "index": false }
        }
    })
}

/// The `_id` of a source's report document: `report-<cursor key>`.
pub fn report_key(key: &str) -> String {
    format!("report-{key}")
}

/// A source's last success and last error as its owners reported them ([`EsStore::report`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceReport {
    pub last_success_unix_ms: Option<u64>,
    /// The replica that reported it.
    pub last_success_by: Option<String>,
    pub last_error_unix_ms: Option<u64>,
    pub last_error_by: Option<String>,
    /// The error's message (as collected: it names the request and the answer, never a secret).
    pub last_error: Option<String>,
}

fn valid_index(index: &str) -> bool {
    !index.is_empty()
        && index.len() <= 255
        && !index.starts_with(['.', '-', '_', '+'])
        && index
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl EsStore {
    /// A store over `index` without checking the cluster (for `setup`, which creates the index).
    pub fn connect(cfg: &EsConfig, index: &str) -> Result<EsStore, StateError> {
        if !valid_index(index) {
            return Err(StateError::Elasticsearch {
                index: index.to_string(),
                message:
                    "invalid index name: use lowercase letters, digits, '-' and '_', not starting \
                          with '-' or '_' (names starting with '.' are reserved)"
                        .into(),
            });
        }
        let client = RawClient::new(cfg).map_err(|e| StateError::Elasticsearch {
            index: index.to_string(),
            message: e.to_string(),
        })?;
        let (tx, rx) = mpsc::channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StateError::Elasticsearch {
                index: index.to_string(),
                message: format!("cannot start the state client's runtime: {e}"),
            })?;
        std::thread::Builder::new()
            .name("cfship-state-es".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let r = rt.block_on(client.request(job.method, &job.path, job.body.as_ref()));
                    let _ = job.reply.send(r);
                }
            })
            .map_err(|e| StateError::Elasticsearch {
                index: index.to_string(),
                message: format!("cannot start the state client's thread: {e}"),
            })?;
        Ok(EsStore {
            index: index.to_string(),
            jobs: Mutex::new(tx),
            versions: Mutex::new(HashMap::new()),
            lease: None,
            write_lock: Mutex::new(()),
            format: None,
        })
    }

    /// A store over an existing state index: fails when the index is missing (run `cfship setup`)
    /// or was set up by a newer cfship.
    pub fn open(cfg: &EsConfig, index: &str) -> Result<EsStore, StateError> {
        let s = EsStore::connect(cfg, index)?;
        match s.installed_format()? {
            None => Err(s.err(
                "the state index does not exist: run `cfship setup --config FILE` first (it creates it \
                 with its strict mapping)",
            )),
            Some(f) if f > STATE_MAPPING_VERSION => Err(StateError::DocNewerVersion {
                doc: format!("state index {}", s.index),
                found: f,
                supported: STATE_MAPPING_VERSION,
            }),
            Some(f) => Ok(EsStore {
                format: Some(f),
                ..s
            }),
        }
    }

    /// The index's mapping format as [`EsStore::open`] found it (`None` for [`EsStore::connect`]).
    /// Below [`STATE_MAPPING_VERSION`], `cfship setup` has not migrated it yet.
    pub fn format(&self) -> Option<u32> {
        self.format
    }

    pub fn index(&self) -> &str {
        &self.index
    }

    fn err(&self, message: impl Into<String>) -> StateError {
        StateError::Elasticsearch {
            index: self.index.clone(),
            message: message.into(),
        }
    }

    fn call(
        &self,
        method: Method,
        path: String,
        body: Option<serde_json::Value>,
    ) -> Result<RawResponse, StateError> {
        let (reply, rx) = mpsc::channel();
        let sent = self
            .jobs
            .lock()
            .map_err(|_| self.err("state client poisoned"))?
            .send(Job {
                method,
                path,
                body,
                reply,
            });
        if sent.is_err() {
            return Err(self.err("the state client's thread has stopped"));
        }
        rx.recv()
            .map_err(|_| self.err("the state client's thread has stopped"))?
            .map_err(|e| StateError::Unavailable {
                index: self.index.clone(),
                message: e.to_string(),
            })
    }

    fn http_err(&self, what: &str, r: &RawResponse) -> StateError {
        let mut body = r.body.to_string();
        if body.len() > 500 {
            let mut cut = 500;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            body.push('…');
        }
        let message = format!("{what}: HTTP {} from {}: {body}", r.status, r.url);
        if r.status == 429 || r.status >= 500 {
            StateError::Unavailable {
                index: self.index.clone(),
                message,
            }
        } else {
            self.err(message)
        }
    }

    /// `_meta.format` of the installed index: `None` when the index does not exist, `Some(0)` when
    /// it exists without one (not created by cfship).
    pub fn installed_format(&self) -> Result<Option<u32>, StateError> {
        let r = self.call(Method::GET, format!("{}/_mapping", self.index), None)?;
        if r.status == 404 {
            return Ok(None);
        }
        if !r.ok() {
            return Err(self.http_err("reading the mapping", &r));
        }
        // the answer is keyed by the concrete index name (an alias may point elsewhere)
        let m = r
            .body
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.get("mappings"));
        Ok(Some(
            m.and_then(|m| m.pointer("/_meta/format"))
                .and_then(|v| v.as_u64())
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX))
                .unwrap_or(0),
        ))
    }

    /// Creates the index with its strict mapping, or brings an existing one's mapping up to date
    /// (new fields added; a field of another type is an error from Elasticsearch). An index set up
    /// by a newer cfship is left alone ([`StateError::DocNewerVersion`]).
    pub fn ensure_index(&self) -> Result<IndexOutcome, StateError> {
        let installed = self.installed_format()?;
        match installed {
            None => {
                let body = serde_json::json!({
                    "settings": { "index": { "number_of_shards": 1, "auto_expand_replicas": "0-1" } },
                    "mappings": state_mapping(),
                });
                let r = self.call(Method::PUT, self.index.clone(), Some(body))?;
                if r.ok() {
                    return Ok(IndexOutcome::Created);
                }
                let raced = r.status == 400
                    && r.body.pointer("/error/type").and_then(|t| t.as_str())
                        == Some("resource_already_exists_exception");
                if !raced {
                    return Err(self.http_err("creating the state index", &r));
                }
                // another `setup` created it at the same instant: check it like an existing one
                self.ensure_index()
            }
            Some(f) if f > STATE_MAPPING_VERSION => Err(StateError::DocNewerVersion {
                doc: format!("state index {}", self.index),
                found: f,
                supported: STATE_MAPPING_VERSION,
            }),
            Some(f) if f == STATE_MAPPING_VERSION => Ok(IndexOutcome::Unchanged),
            Some(f) => {
                let r = self.call(
                    Method::PUT,
                    format!("{}/_mapping", self.index),
                    Some(state_mapping()),
                )?;
                if !r.ok() {
                    return Err(self.http_err("updating the state index mapping", &r));
                }
                Ok(IndexOutcome::Updated {
                    from: (f > 0).then_some(f),
                })
            }
        }
    }

    fn doc_name(&self, key: &str) -> String {
        format!("{}/_doc/{key}", self.index)
    }

    /// Loads the cursor of `key` (real-time get) and remembers its version for the next save.
    pub fn load<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StateError> {
        Ok(self.load_saved(key)?.map(|s| s.cursor))
    }

    /// [`Self::load`] with the time of the save.
    pub fn load_saved<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<crate::Saved<T>>, StateError> {
        validate_key(key)?;
        let r = self.call(Method::GET, self.doc_name(key), None)?;
        let found = r.body.get("found").and_then(|f| f.as_bool());
        if r.status == 404 && found == Some(false) {
            self.remember(key, None);
            return Ok(None);
        }
        if r.status == 404 {
            return Err(self.http_err(
                "the state index is missing (run `cfship setup --config FILE`)",
                &r,
            ));
        }
        if !r.ok() || found != Some(true) {
            return Err(self.http_err(&format!("reading cursor {key}"), &r));
        }
        let (Some(seq), Some(term)) = (
            r.body.get("_seq_no").and_then(|v| v.as_u64()),
            r.body.get("_primary_term").and_then(|v| v.as_u64()),
        ) else {
            return Err(self.http_err("answer without _seq_no/_primary_term", &r));
        };
        let doc = self.doc_name(key);
        let Some(source) = r.body.get("_source").cloned() else {
            return Err(DecodeError::Corrupt("no _source".into()).doc(doc, key));
        };
        let known = Known {
            seq,
            term,
            source: source.clone(),
        };
        // a lease taken before the first cursor: a document without `cursor` but with an owner
        if source.get("cursor").is_none() && lease_of(&source).0.is_some() {
            self.remember_read(key, known);
            return Ok(None);
        }
        // remembered only when valid: a refused document is never overwritten by this store
        let (owner, expires) = lease_of(&source);
        let (owner, expires) = (owner.map(str::to_string), owner.map(|_| expires));
        let mut value: crate::Saved<T> =
            decode_envelope(source, key).map_err(|e| e.doc(doc, key))?;
        value.owner = owner;
        value.lease_expires_unix_ms = expires;
        self.remember_read(key, known);
        Ok(Some(value))
    }

    fn remember(&self, key: &str, v: Option<Known>) {
        if let Ok(mut m) = self.versions.lock() {
            m.insert(key.to_string(), v);
        }
    }

    /// Remembers a version read, unless this store already knows a newer one: a read answered
    /// before a concurrent write of this process (a lease renewal) must not make the next save
    /// conditional on the older version (it would fail as a conflict with ourselves).
    fn remember_read(&self, key: &str, v: Known) {
        if let Ok(mut m) = self.versions.lock() {
            let newer = m
                .get(key)
                .and_then(|k| k.as_ref())
                .is_some_and(|k| (k.term, k.seq) > (v.term, v.seq));
            if !newer {
                m.insert(key.to_string(), Some(v));
            }
        }
    }

    fn known(&self, key: &str) -> Option<Known> {
        self.versions
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
            .flatten()
    }

    fn conflict(&self, key: &str) -> StateError {
        if let Ok(mut m) = self.versions.lock() {
            m.remove(key);
        }
        StateError::Conflict {
            key: key.to_string(),
            index: self.index.clone(),
        }
    }

    /// With leases: every write of this store names this replica as the owner, and a cursor save
    /// or renewal is refused unless the document as last read or written is ours.
    pub fn with_lease(mut self, owner: impl Into<String>, ttl: std::time::Duration) -> Self {
        self.lease = Some((owner.into(), ttl));
        self
    }

    /// Writes `source` conditionally on `known` (or `_create`), and remembers the result.
    fn write(
        &self,
        key: &str,
        known: Option<&Known>,
        source: serde_json::Value,
    ) -> Result<(), StateError> {
        let path = match known {
            Some(k) => format!(
                "{}/_doc/{key}?if_seq_no={}&if_primary_term={}",
                self.index, k.seq, k.term
            ),
            None => format!("{}/_create/{key}", self.index),
        };
        let r = self.call(Method::PUT, path, Some(source.clone()))?;
        if r.status == 409 {
            return Err(self.conflict(key));
        }
        if !r.ok() {
            return Err(self.http_err(&format!("writing {key}"), &r));
        }
        match (
            r.body.get("_seq_no").and_then(|v| v.as_u64()),
            r.body.get("_primary_term").and_then(|v| v.as_u64()),
        ) {
            (Some(seq), Some(term)) => {
                self.remember(key, Some(Known { seq, term, source }));
                Ok(())
            }
            _ => Err(self.http_err("answer without _seq_no/_primary_term", &r)),
        }
    }

    fn stamp_lease(&self, source: &mut serde_json::Value, expires: u64) {
        if let (Some((owner, _)), Some(o)) = (&self.lease, source.as_object_mut()) {
            o.insert("owner".into(), owner.clone().into());
            o.insert("lease_expires_unix_ms".into(), expires.into());
        }
    }

    fn lease_expiry(&self) -> u64 {
        let ttl = self.lease.as_ref().map(|(_, t)| t.as_millis()).unwrap_or(0);
        u64::try_from(crate::now_unix_ms() + ttl).unwrap_or(u64::MAX)
    }

    fn is_ours(&self, k: &Known) -> bool {
        match &self.lease {
            None => true,
            Some((me, _)) => lease_of(&k.source).0 == Some(me.as_str()),
        }
    }

    /// Takes the lease of `key` when it is free, expired or already ours: `Ok(true)` when this
    /// replica holds it now. The take-over is a conditional write, so exactly one replica wins.
    pub fn try_acquire(&self, key: &str) -> Result<bool, StateError> {
        validate_key(key)?;
        let Some((me, _)) = &self.lease else {
            return Ok(true);
        };
        let _w = self
            .write_lock
            .lock()
            .map_err(|_| self.err("write lock poisoned"))?;
        // read the current document (this also refreshes `known`)
        // a corrupt or newer-format document is an error here too: never taken over blindly
        self.load_saved::<serde_json::Value>(key)?;
        let known = self.known(key);
        let now = u64::try_from(crate::now_unix_ms()).unwrap_or(u64::MAX);
        let mut source = match &known {
            None => serde_json::json!({
                "version": crate::FORMAT_VERSION, "key": key, "kind": "cursor",
                "saved_at_unix_ms": now,
            }),
            Some(k) => {
                let (owner, expires) = lease_of(&k.source);
                if owner.is_some_and(|o| o != me) && expires > now {
                    return Ok(false);
                }
                k.source.clone()
            }
        };
        self.stamp_lease(&mut source, self.lease_expiry());
        match self.write(key, known.as_ref(), source) {
            Ok(()) => Ok(true),
            Err(StateError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// [`StateError::LeaseHeld`] naming the owner when another replica holds an unexpired lease of
    /// `key` (the document read afresh); `Ok(())` when it is free, expired or ours.
    pub fn check_lease_free(&self, key: &str) -> Result<(), StateError> {
        validate_key(key)?;
        let Some((me, _)) = &self.lease else {
            return Ok(());
        };
        self.load_saved::<serde_json::Value>(key)?;
        let Some(k) = self.known(key) else {
            return Ok(());
        };
        let (owner, expires) = lease_of(&k.source);
        let now = u64::try_from(crate::now_unix_ms()).unwrap_or(u64::MAX);
        match owner {
            Some(o) if o != me && expires > now => Err(StateError::LeaseHeld {
                key: key.to_string(),
                index: self.index.clone(),
                owner: o.to_string(),
                expires_unix_ms: expires,
            }),
            _ => Ok(()),
        }
    }

    /// Extends this replica's lease of `key`; [`StateError::Conflict`] when it was lost.
    pub fn renew(&self, key: &str) -> Result<(), StateError> {
        let _w = self
            .write_lock
            .lock()
            .map_err(|_| self.err("write lock poisoned"))?;
        let Some(k) = self.known(key).filter(|k| self.is_ours(k)) else {
            return Err(self.conflict(key));
        };
        let mut source = k.source.clone();
        self.stamp_lease(&mut source, self.lease_expiry());
        self.write(key, Some(&k), source)
    }

    /// Gives the lease of `key` up (expired at once) so another replica takes over without
    /// waiting; errors are ignored (the lease then just expires).
    pub fn release(&self, key: &str) {
        let Ok(_w) = self.write_lock.lock() else {
            return;
        };
        if let Some(k) = self.known(key).filter(|k| self.is_ours(k)) {
            let mut source = k.source.clone();
            self.stamp_lease(&mut source, 0);
            let _ = self.write(key, Some(&k), source);
        }
    }

    /// Saves the cursor of `key`, conditional on the version last read or written by this store:
    /// `_create` when the key was read as absent (or never read), `if_seq_no`/`if_primary_term`
    /// otherwise. A concurrent change is [`StateError::Conflict`], never an overwrite.
    pub fn save<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StateError> {
        validate_key(key)?;
        let env = EnvelopeOut::new(key, value);
        let mut body = serde_json::to_value(&env).map_err(|source| StateError::Serialize {
            key: key.to_string(),
            source,
        })?;
        if let Some(o) = body.as_object_mut() {
            o.insert("kind".into(), "cursor".into());
        }
        let _w = self
            .write_lock
            .lock()
            .map_err(|_| self.err("write lock poisoned"))?;
        let known = self.known(key);
        if self.lease.is_some() {
            // fencing: only over a document that names this replica as its owner
            let Some(k) = known.filter(|k| self.is_ours(k)) else {
                return Err(self.conflict(key));
            };
            self.stamp_lease(&mut body, self.lease_expiry());
            return self.write(key, Some(&k), body);
        }
        self.write(key, known.as_ref(), body)
    }

    /// This replica's id (a store with leases).
    pub fn replica_id(&self) -> Option<&str> {
        self.lease.as_ref().map(|(id, _)| id.as_str())
    }

    /// Writes this replica's heartbeat document (`replica-<id>`, `kind: "replica"`, `owner` = the
    /// id, `lease_expires_unix_ms` = now + TTL): the replica counts as live until then. Only its own
    /// replica writes a heartbeat document, so the write is unconditional.
    pub fn heartbeat(&self) -> Result<(), StateError> {
        let Some((me, _)) = &self.lease else {
            return Ok(());
        };
        let key = heartbeat_key(me);
        let now = u64::try_from(crate::now_unix_ms()).unwrap_or(u64::MAX);
        let body = serde_json::json!({
            "kind": "replica", "key": key, "version": crate::FORMAT_VERSION, "owner": me,
            "saved_at_unix_ms": now, "lease_expires_unix_ms": self.lease_expiry(),
        });
        let r = self.call(Method::PUT, self.doc_name(&key), Some(body))?;
        if !r.ok() {
            return Err(self.http_err("writing the heartbeat", &r));
        }
        Ok(())
    }

    /// Deletes this replica's heartbeat (SIGTERM): the others count it gone at once.
    pub fn unregister(&self) {
        if let Some((me, _)) = &self.lease {
            let _ = self.call(Method::DELETE, self.doc_name(&heartbeat_key(me)), None);
        }
    }

    /// The replicas and leases as the state index shows them now (a search: near real time, up to
    /// the index's refresh interval behind).
    pub fn view(&self) -> Result<StateView, StateError> {
        let body = serde_json::json!({
            "size": 10000,
            "query": { "terms": { "kind": ["replica", "cursor"] } },
            "_source": ["kind", "key", "owner", "lease_expires_unix_ms", "saved_at_unix_ms"],
        });
        let r = self.call(Method::POST, format!("{}/_search", self.index), Some(body))?;
        if !r.ok() {
            return Err(self.http_err("reading the replicas and leases", &r));
        }
        let mut v = StateView::default();
        let hits = r
            .body
            .pointer("/hits/hits")
            .and_then(|h| h.as_array())
            .cloned()
            .unwrap_or_default();
        for h in hits {
            let (Some(id), Some(src)) = (h.get("_id").and_then(|i| i.as_str()), h.get("_source"))
            else {
                continue;
            };
            let (owner, expires) = lease_of(src);
            match src.get("kind").and_then(|k| k.as_str()) {
                Some("replica") => {
                    if let Some(o) = owner {
                        v.replicas.push(ReplicaBeat {
                            id: o.to_string(),
                            expires_unix_ms: expires,
                            seen_unix_ms: src
                                .get("saved_at_unix_ms")
                                .and_then(|s| s.as_u64())
                                .unwrap_or(0),
                        });
                    }
                }
                _ => {
                    v.leases
                        .insert(id.to_string(), owner.map(|o| (o.to_string(), expires)));
                }
            }
        }
        v.replicas.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }

    /// Merges this replica's news of source `key` into its report document (`report-<key>`,
    /// `kind: "report"`; a partial update, created when absent): a last success and/or a last error
    /// (Unix ms, message). Fields not given keep what an earlier owner reported. Unconditional:
    /// only the lease holder reports (right after renewing its lease), and a report moves no cursor.
    pub fn report(
        &self,
        key: &str,
        success_unix_ms: Option<u64>,
        error: Option<(u64, &str)>,
    ) -> Result<(), StateError> {
        validate_key(key)?;
        if success_unix_ms.is_none() && error.is_none() {
            return Ok(());
        }
        let id = report_key(key);
        let by = self.replica_id().unwrap_or("cfship").to_string();
        let mut doc = serde_json::json!({
            "kind": "report", "key": key, "version": crate::FORMAT_VERSION,
            "saved_at_unix_ms": u64::try_from(crate::now_unix_ms()).unwrap_or(u64::MAX),
        });
        if let Some(t) = success_unix_ms {
            doc["last_success_unix_ms"] = t.into();
            doc["last_success_by"] = by.clone().into();
        }
        if let Some((t, msg)) = error {
            doc["last_error_unix_ms"] = t.into();
            doc["last_error_by"] = by.into();
            doc["last_error"] = msg.into();
        }
        let r = self.call(
            Method::POST,
            format!("{}/_update/{id}", self.index),
            Some(serde_json::json!({ "doc": doc, "doc_as_upsert": true })),
        )?;
        if !r.ok() {
            return Err(self.http_err(&format!("writing the report of {key}"), &r));
        }
        Ok(())
    }

    /// The report document of source `key`, `None` when no owner reported anything yet.
    pub fn load_report(&self, key: &str) -> Result<Option<SourceReport>, StateError> {
        validate_key(key)?;
        let r = self.call(Method::GET, self.doc_name(&report_key(key)), None)?;
        if r.status == 404 && r.body.get("found").and_then(|f| f.as_bool()) == Some(false) {
            return Ok(None);
        }
        if !r.ok() {
            return Err(self.http_err(&format!("reading the report of {key}"), &r));
        }
        let src = r.body.get("_source").cloned().unwrap_or_default();
        let n = |f: &str| src.get(f).and_then(|v| v.as_u64());
        let s = |f: &str| src.get(f).and_then(|v| v.as_str()).map(str::to_string);
        Ok(Some(SourceReport {
            last_success_unix_ms: n("last_success_unix_ms"),
            last_success_by: s("last_success_by"),
            last_error_unix_ms: n("last_error_unix_ms"),
            last_error_by: s("last_error_by"),
            last_error: s("last_error"),
        }))
    }

    /// Raw access for tests and `cfship status`: `GET <index>/<path>`-style requests.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<RawResponse, StateError> {
        self.call(method, format!("{}/{path}", self.index), body)
    }
}
