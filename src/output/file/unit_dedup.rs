//! Which documents the file output already holds, per unit (window or audit sweep), for runs whose
//! units of one source are in flight in parallel (`backfill`, `demo`).
//!
//! A unit that failed after writing part of its records is replayed — whole, or split into
//! sub-ranges after repeated stream failures — so its hashes stay until committed units cover its
//! whole range; a committed unit is never replayed, so its hashes go at once. Memory is therefore
//! bounded by the units in flight, not by the length of the run.

use cfship_cloudflare::Unit;
use std::collections::{HashMap, HashSet};

/// `[start, end)` of a unit, in nanoseconds.
type Range = (i64, i64);

#[derive(Default)]
struct Entry {
    hashes: HashSet<u64>,
    /// The unit was aborted and will be replayed (possibly as sub-ranges).
    aborted: bool,
    /// Nanoseconds of the range committed since by units inside it.
    covered: i64,
}

#[derive(Default)]
pub(super) struct UnitDedup {
    sources: HashMap<String, HashMap<Range, Entry>>,
}

fn range(unit: &Unit) -> Range {
    let ns = |t: chrono::DateTime<chrono::Utc>| {
        t.timestamp_nanos_opt()
            .unwrap_or_else(|| t.timestamp().saturating_mul(1_000_000_000))
    };
    (ns(unit.start), ns(unit.end))
}

fn contains(outer: Range, inner: Range) -> bool {
    outer.0 <= inner.0 && inner.1 <= outer.1
}

impl UnitDedup {
    /// True when a document with this id hash was already written for this unit's range (by this
    /// unit, or by an aborted unit that contained it).
    pub(super) fn seen(&self, unit: &Unit, h: u64) -> bool {
        let r = range(unit);
        self.sources
            .get(&unit.source.state_key())
            .is_some_and(|units| {
                units
                    .iter()
                    .any(|(k, e)| contains(*k, r) && e.hashes.contains(&h))
            })
    }

    /// Remembers documents written for `unit`.
    pub(super) fn written(&mut self, unit: &Unit, hashes: impl IntoIterator<Item = u64>) {
        self.sources
            .entry(unit.source.state_key())
            .or_default()
            .entry(range(unit))
            .or_default()
            .hashes
            .extend(hashes);
    }

    /// The unit is done for good: forget it, and count its range as covered in every aborted unit
    /// that contained it (forgotten once fully covered).
    pub(super) fn committed(&mut self, unit: &Unit) {
        let key = unit.source.state_key();
        let r = range(unit);
        let Some(units) = self.sources.get_mut(&key) else {
            return;
        };
        units.remove(&r);
        units.retain(|k, e| {
            if e.aborted && contains(*k, r) {
                e.covered += r.1 - r.0;
                // A committed unit that ends where the aborted one ended is its replay's last
                // part (an audit sweep resumed at its saved cursor: what lies before was
                // committed page by page; Logpull windows are replayed whole here): done.
                if k.1 == r.1 {
                    e.covered = k.1 - k.0;
                }
            }
            !(e.aborted && e.covered >= k.1 - k.0)
        });
        if units.is_empty() {
            self.sources.remove(&key);
        }
    }

    /// Part of the unit is committed (an audit page, never replayed by this unit): its own
    /// hashes go; those of aborted units containing it stay until their replay is committed.
    pub(super) fn progress(&mut self, unit: &Unit) {
        if let Some(e) = self
            .sources
            .get_mut(&unit.source.state_key())
            .and_then(|units| units.get_mut(&range(unit)))
        {
            if !e.aborted {
                e.hashes.clear();
            }
        }
    }

    /// The unit failed after delivering and will be replayed: keep what it wrote.
    pub(super) fn aborted(&mut self, unit: &Unit) {
        if let Some(e) = self
            .sources
            .get_mut(&unit.source.state_key())
            .and_then(|units| units.get_mut(&range(unit)))
        {
            e.aborted = true;
            e.covered = 0;
        }
    }

    /// Id hashes remembered in all.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.sources
            .values()
            .flat_map(|u| u.values())
            .map(|e| e.hashes.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cfship_cloudflare::SourceId;
    use chrono::{TimeZone, Utc};

    fn unit(zone: &str, start_min: i64, end_min: i64) -> Unit {
        let t = |m: i64| Utc.timestamp_opt(1_700_000_000 + m * 60, 0).unwrap();
        Unit {
            source: SourceId::Logpull {
                zone_id: zone.into(),
            },
            format: cfship_cloudflare::RecordFormat::Logpull,
            start: t(start_min),
            end: t(end_min),
        }
    }

    #[test]
    fn committed_units_are_forgotten_at_once() {
        let mut d = UnitDedup::default();
        for i in 0..100 {
            let u = unit("z", i * 60, (i + 1) * 60);
            d.written(&u, [i as u64, 1000 + i as u64]);
            assert!(d.seen(&u, i as u64));
            d.committed(&u);
        }
        assert_eq!(d.len(), 0, "memory does not grow with the run");
    }

    #[test]
    fn units_in_parallel_and_sources_are_separate() {
        let mut d = UnitDedup::default();
        let (a, b, other) = (unit("z", 0, 60), unit("z", 60, 120), unit("y", 0, 60));
        d.written(&a, [1]);
        assert!(d.seen(&a, 1));
        assert!(!d.seen(&b, 1));
        assert!(!d.seen(&other, 1));
    }

    #[test]
    fn an_aborted_unit_dedups_its_replay_whole_or_split_until_covered() {
        let mut d = UnitDedup::default();
        let whole = unit("z", 0, 60);
        d.written(&whole, [1, 2, 3]);
        d.aborted(&whole);
        // replayed whole: same range, same entry
        assert!(d.seen(&whole, 2));
        // replayed as halves: each half sees what the whole wrote
        let (h1, h2) = (unit("z", 0, 30), unit("z", 30, 60));
        assert!(d.seen(&h1, 1) && d.seen(&h2, 3));
        d.written(&h1, [4]);
        d.committed(&h1);
        assert!(d.seen(&h2, 1), "kept until the whole range is committed");
        assert!(!d.seen(&unit("z", 60, 90), 1));
        d.written(&h2, [5]);
        d.committed(&h2);
        assert_eq!(d.len(), 0);
        // an aborted retry of the same range that then commits forgets it too
        d.written(&whole, [7]);
        d.aborted(&whole);
        d.committed(&whole);
        assert_eq!(d.len(), 0);
    }
}
