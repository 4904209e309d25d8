//! The file output: ECS NDJSON, exactly once.
//!
//! It owns its writer ([`FileWriter`]), its journal and its de-duplication, in one of two modes
//! chosen when it is built:
//!
//! * [`FileOutput::per_source`] (`run`): units of a source run one at a time. The ids written since
//!   the source's last committed unit are remembered; with the journal they survive a crash, so a
//!   replayed unit never writes a line twice, even after SIGKILL.
//! * [`FileOutput::per_unit`] (`backfill`, `demo`): several units of one source run in parallel and
//!   no cursor is kept. Ids are remembered per unit in flight (`unit_dedup`), so a failed window
//!   replayed whole or in halves writes nothing twice, and memory is bounded by the units in flight.

mod dedup;
mod journal;
mod unit_dedup;
mod writer;

pub use journal::Recovered;
pub use writer::FileWriter;

use super::{Batch, Output, OutputError, Written};
use crate::sync::lock;
use cfship_cloudflare::{Unit, UnitOutcome};
use dedup::{unwritten, SourceDedup};
use futures::future::BoxFuture;
use std::path::Path;
use std::sync::Mutex;
use unit_dedup::UnitDedup;

enum Dedup {
    PerSource { ids: SourceDedup, journaled: bool },
    PerUnit(Mutex<UnitDedup>),
}

/// The file output (see the module docs).
pub struct FileOutput {
    writer: FileWriter,
    dedup: Dedup,
}

impl FileOutput {
    /// For `run`: one unit per source at a time. With `journal`, exactly-once across crashes (what
    /// a previous process wrote for units it did not commit is recovered here).
    pub fn per_source(path: &Path, journal: Option<&Path>) -> Result<Self, OutputError> {
        let writer = FileWriter::new(path);
        let (writer, ids, journaled) = match journal {
            Some(j) => {
                let (writer, recovered) = writer.with_journal(j)?;
                let n: usize = recovered.values().map(|s| s.len()).sum();
                if n > 0 {
                    tracing::info!(documents = n, "file output: documents of uncommitted units already written; they are not written again");
                }
                (writer, SourceDedup::recovered(recovered), true)
            }
            None => (writer, SourceDedup::default(), false),
        };
        Ok(FileOutput {
            writer,
            dedup: Dedup::PerSource { ids, journaled },
        })
    }

    /// For `backfill` and `demo`: units of one source in parallel, no journal (a crash repeats at
    /// most the lines of the units in flight; there is no cursor to resume from anyway).
    pub fn per_unit(path: &Path) -> Self {
        FileOutput {
            writer: FileWriter::new(path),
            dedup: Dedup::PerUnit(Mutex::default()),
        }
    }

    /// The writer (file paths).
    pub fn writer(&self) -> &FileWriter {
        &self.writer
    }

    /// Id hashes remembered in all (bounded memory is part of the contract).
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        match &self.dedup {
            Dedup::PerSource { ids, .. } => ids.len(),
            Dedup::PerUnit(u) => lock(u).len(),
        }
    }

    async fn write_per_source(
        &self,
        ids: &SourceDedup,
        journaled: bool,
        batch: Batch<'_>,
    ) -> Result<Written, OutputError> {
        let key = batch.unit.source.state_key();
        if ids.start(&key) {
            if let Err(e) = self.writer.forget(&key) {
                tracing::warn!(error = %e, "file output journal not trimmed (harmless, retried next commit)");
            }
        }
        let (lines, hashes) = ids.pick(&key, batch.docs);
        let n = lines.len() as u64;
        let intent = journaled.then(|| (key.clone(), hashes.clone()));
        self.writer.write(batch.dataset, lines, intent).await?;
        ids.written(key, hashes);
        Ok(Written {
            lines: n,
            ..Written::default()
        })
    }

    async fn write_per_unit(
        &self,
        units: &Mutex<UnitDedup>,
        batch: Batch<'_>,
    ) -> Result<Written, OutputError> {
        let (lines, hashes) = {
            let units = lock(units);
            unwritten(batch.docs, |h| units.seen(batch.unit, h))
        };
        let n = lines.len() as u64;
        self.writer.write(batch.dataset, lines, None).await?;
        lock(units).written(batch.unit, hashes);
        Ok(Written {
            lines: n,
            ..Written::default()
        })
    }
}

impl FileOutput {
    /// At a clean end of `run` (every collector of `keys` returned, so each committed unit's cursor
    /// is saved): drops the journal entries of those sources whose last unit was committed. A clean
    /// exit so leaves an empty journal, and the next start recovers nothing; the entries of a unit
    /// that failed after writing stay for its replay. Returns the sources cleared.
    pub fn settle(&self, keys: &[String]) -> usize {
        let Dedup::PerSource { ids, .. } = &self.dedup else {
            return 0;
        };
        let mut n = 0;
        for key in keys {
            if ids.settled(key) {
                match self.writer.forget(key) {
                    Ok(()) => {
                        ids.forget(key);
                        n += 1;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "file output journal not trimmed (harmless: the next start recovers and trims it)")
                    }
                }
            }
        }
        n
    }
}

impl Output for FileOutput {
    fn write<'a>(&'a self, batch: Batch<'a>) -> BoxFuture<'a, Result<Written, OutputError>> {
        Box::pin(async move {
            match &self.dedup {
                Dedup::PerSource { ids, journaled } => {
                    self.write_per_source(ids, *journaled, batch).await
                }
                Dedup::PerUnit(units) => self.write_per_unit(units, batch).await,
            }
        })
    }

    fn end_unit(&self, unit: &Unit, outcome: UnitOutcome) {
        match (&self.dedup, outcome) {
            (Dedup::PerSource { ids, .. }, UnitOutcome::Committed) => {
                ids.committed(unit.source.state_key(), unit.end)
            }
            (Dedup::PerSource { ids, .. }, UnitOutcome::Progress) => {
                ids.progress(unit.source.state_key())
            }
            (Dedup::PerSource { ids, .. }, UnitOutcome::Aborted) => {
                ids.aborted(unit.source.state_key(), unit.end)
            }
            (Dedup::PerUnit(u), UnitOutcome::Committed) => lock(u).committed(unit),
            (Dedup::PerUnit(u), UnitOutcome::Progress) => lock(u).progress(unit),
            (Dedup::PerUnit(u), UnitOutcome::Aborted) => lock(u).aborted(unit),
        }
    }
}
