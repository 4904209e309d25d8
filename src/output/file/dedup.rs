//! De-duplication of the file output for `run`, where the units of one source run one at a time:
//! the ids written since the source's last committed unit are remembered (and, with the journal,
//! recovered after a crash), and forgotten once the next unit of the source starts after a commit.

use super::journal::Recovered;
use crate::sync::lock;
use bytes::Bytes;
use cfship_elasticsearch::BulkDocs;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

fn id_hash(id: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The lines of `docs` the file does not hold yet (not `written`, and each id once per batch), with
/// the hashes of their ids.
pub(super) fn unwritten(docs: &BulkDocs, written: impl Fn(u64) -> bool) -> (Vec<Bytes>, Vec<u64>) {
    let mut batch_seen = HashSet::new();
    docs.iter()
        .filter_map(|d| {
            let h = id_hash(&d.id());
            let dup = written(h) || !batch_seen.insert(h);
            (!dup).then(|| (d.source_bytes(), h))
        })
        .unzip()
}

/// Ids written per source (state key) since its last committed unit.
#[derive(Default)]
pub(super) struct SourceDedup {
    written: Mutex<HashMap<String, HashSet<u64>>>,
    /// Sources whose unit was committed: their cursor is saved before their next delivery, which
    /// then forgets the hashes (and journal entries) of the committed unit.
    committed: Mutex<HashSet<String>>,
    /// Per source, the end of a unit that was aborted and is not yet covered by committed units:
    /// after repeated stream failures the daemon replays a window as smaller windows, and what the
    /// aborted window wrote must stay known until the last of them is committed.
    aborted_until: Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>,
}

impl SourceDedup {
    /// Starts from what the journal recovered. The recovered documents belong to a unit that
    /// was cut by a crash: they are held like an aborted unit's, until the source's next unit is
    /// committed whole (its replay starts at the saved cursor and covers the cut unit's records;
    /// the pages of an audit sweep, [`SourceDedup::progress`], are not enough: they page
    /// differently from the cut sweep).
    pub(super) fn recovered(r: Recovered) -> Self {
        let held = r
            .keys()
            .map(|k| (k.clone(), chrono::DateTime::<chrono::Utc>::MIN_UTC))
            .collect();
        SourceDedup {
            written: Mutex::new(r),
            committed: Mutex::default(),
            aborted_until: Mutex::new(held),
        }
    }

    /// Before writing for `key`: true when its previous unit was committed (its ids were forgotten
    /// here; the caller drops its journal entries).
    pub(super) fn start(&self, key: &str) -> bool {
        if lock(&self.committed).remove(key) {
            lock(&self.written).remove(key);
            true
        } else {
            false
        }
    }

    /// The lines of `docs` the file does not hold yet for `key`, with their id hashes.
    pub(super) fn pick(&self, key: &str, docs: &BulkDocs) -> (Vec<Bytes>, Vec<u64>) {
        let written = lock(&self.written);
        let seen = written.get(key);
        unwritten(docs, |h| seen.is_some_and(|s| s.contains(&h)))
    }

    pub(super) fn written(&self, key: String, hashes: Vec<u64>) {
        lock(&self.written).entry(key).or_default().extend(hashes);
    }

    /// The unit of `key` ending at `end` is committed; its cursor is saved right after, so its
    /// records are never replayed once the next delivery of this source starts — unless it is only
    /// the first part of an aborted unit's replay, whose ids are then kept until `end` reaches it.
    pub(super) fn committed(&self, key: String, end: chrono::DateTime<chrono::Utc>) {
        let mut aborted = lock(&self.aborted_until);
        if let Some(until) = aborted.get(&key) {
            if end < *until {
                return;
            }
            aborted.remove(&key);
        }
        lock(&self.committed).insert(key);
    }

    /// Part of the current unit of `key` is committed (an audit page, its cursor saved). Its
    /// documents are forgotten at the next delivery — unless an aborted or crashed unit's records
    /// are still waiting for their replay, which only the unit's end guarantees to have passed.
    pub(super) fn progress(&self, key: String) {
        if !lock(&self.aborted_until).contains_key(&key) {
            lock(&self.committed).insert(key);
        }
    }

    /// The unit of `key` ending at `end` failed after writing (or its cursor could not be saved)
    /// and will be replayed: what it wrote is kept, even if a commit was reported before.
    pub(super) fn aborted(&self, key: String, end: chrono::DateTime<chrono::Utc>) {
        lock(&self.committed).remove(&key);
        let mut aborted = lock(&self.aborted_until);
        let until = aborted.entry(key).or_insert(end);
        if end > *until {
            *until = end;
        }
    }

    /// Whether the last unit of `key` was committed (and no aborted unit waits for its replay).
    pub(super) fn settled(&self, key: &str) -> bool {
        lock(&self.committed).contains(key) && !lock(&self.aborted_until).contains_key(key)
    }

    /// Forgets `key` entirely (its last unit committed, its cursor saved).
    pub(super) fn forget(&self, key: &str) {
        lock(&self.committed).remove(key);
        lock(&self.written).remove(key);
    }

    /// Id hashes remembered in all.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        lock(&self.written).values().map(|s| s.len()).sum()
    }
}
