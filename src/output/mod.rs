//! The outputs: where transformed documents go. Each output owns everything its guarantee needs —
//! Elasticsearch its connection, retries and dead letters; the file its writer, journal and
//! de-duplication — and is chosen and built once, by the wiring (`crate::app::wiring`).
//!
//! The contract (see docs/design.md, "The output contract"): [`Output::write`] returns Ok only once
//! the batch is durable in that output; the pipeline acknowledges a batch to the collector (which
//! then may move its cursor) only when **every** output returned Ok for it; after the last batch of
//! a unit (a Logpull window, an audit page) every output hears [`Output::end_unit`] with the unit's
//! outcome. A unit that failed is replayed with the same records, so an output must tolerate
//! seeing a batch again: Elasticsearch through deterministic `_id`s with `create`, the file through
//! its de-duplication, the demo summary by counting only committed units.

mod error;
mod es;
pub mod file;
mod summary;

pub use error::OutputError;
pub use es::EsOutput;
pub use file::{FileOutput, FileWriter};
pub use summary::{DemoSummary, SummaryOutput};

use cfship_cloudflare::{Unit, UnitOutcome};
use cfship_elasticsearch::BulkDocs;
use futures::future::BoxFuture;

/// One transformed batch of a unit.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The unit the records belong to (source and range).
    pub unit: &'a Unit,
    /// `audit` / `logpull`.
    pub dataset: &'static str,
    /// The documents, in the order of the records, encoded once as bulk lines.
    pub docs: &'a BulkDocs,
}

/// What an output did with a batch (added to the source's counters in `/metrics`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Documents created in Elasticsearch.
    pub indexed: u64,
    /// Documents Elasticsearch already had (same `_id`).
    pub duplicate: u64,
    /// Documents refused for good, written to the dead letter.
    pub dead_lettered: u64,
    /// Lines appended to the file output.
    pub lines: u64,
}

/// A destination of documents.
pub trait Output: Send + Sync + 'static {
    /// Makes `batch` durable in this output; Ok acknowledges it (as far as this output goes).
    /// An error leaves the batch unacknowledged: it is sent again, possibly after parts of it
    /// reached the output.
    fn write<'a>(&'a self, batch: Batch<'a>) -> BoxFuture<'a, Result<Written, OutputError>>;

    /// The unit ended: committed (its cursor is saved right after; it is never replayed) or
    /// aborted (it will be replayed, whole or split). Default: nothing.
    fn end_unit(&self, _unit: &Unit, _outcome: UnitOutcome) {}
}
