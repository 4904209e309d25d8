//! cfship-elasticsearch: the Elasticsearch / OpenSearch sink of cfship.
//!
//! * [`ElasticsearchSink::connect`] detects the backend (Elasticsearch 8/9, OpenSearch 2/3, production
//!   X-Pack or minimal test distribution) and which mapping types it supports.
//! * [`ElasticsearchSink::ensure_templates`] installs the composable templates for
//!   `logs-cloudflare.audit-*` / `logs-cloudflare.logpull-*` (types translated where missing).
//! * [`ElasticsearchSink::index`] bulk-indexes with `create` and acknowledges only when every document
//!   is created, a duplicate, or dead-lettered; transient failures are retried forever with backoff.
//! * [`ElasticsearchSink::check`] backs `cfship check`.
#![deny(unreachable_pub)]

mod backend;
mod bulk;
mod config;
mod encoded;
mod error;
mod raw;
mod sink;
mod stats;
mod templates;
mod transport;

use std::time::{Duration, Instant};

pub use backend::{detect_backend, Backend, Distribution, TypeSupport, Version, PROBED_TYPES};
pub use bulk::{classify_item, split_batches, IndexRequest, ItemOutcome};
pub use config::{
    decode_cloud_id, encode_api_key, BatchConfig, DeadLetterConfig, EsAuth, EsConfig, RetryConfig,
    Secret,
};
pub use encoded::{BulkDocs, BulkDocsBuilder, DocRef, ID_LEN};
pub use error::EsError;
pub use raw::{Method, RawClient, RawResponse};
pub use sink::{Ack, CheckResult, ElasticsearchSink};
pub use stats::{SinkStats, LATENCY_BUCKETS};
pub use templates::{
    data_stream_name, expected_types, intended_fields, template_body, translated_fields,
    IndexTemplate, TemplateOutcome, TypeTranslation, MANAGED_BY, TEMPLATE_PRIORITY,
    TEMPLATE_VERSION,
};

/// Accumulates documents into batches bounded by count, bytes and time (see [`BatchConfig`]).
///
/// ```text
/// loop { select! { doc = rx.recv() => if let Some(b) = batcher.push(doc) { sink.index(b).await? },
///                  _ = sleep_until(batcher.deadline()) => sink.index(batcher.take()).await? } }
/// ```
#[derive(Debug)]
pub struct Batcher {
    cfg: BatchConfig,
    buf: Vec<IndexRequest>,
    bytes: usize,
    first_at: Option<Instant>,
}

impl Batcher {
    pub fn new(cfg: BatchConfig) -> Self {
        Batcher {
            cfg,
            buf: Vec::new(),
            bytes: 0,
            first_at: None,
        }
    }

    /// Add a document; returns a full batch when a limit (count or bytes) is reached.
    pub fn push(&mut self, doc: IndexRequest) -> Option<Vec<IndexRequest>> {
        let size = doc.source.len() + doc.index.len() + doc.id.len() + 40;
        if self.buf.is_empty() {
            self.first_at = Some(Instant::now());
        }
        self.bytes += size;
        self.buf.push(doc);
        if self.buf.len() >= self.cfg.max_docs.max(1) || self.bytes >= self.cfg.max_bytes {
            return Some(self.take());
        }
        None
    }

    /// When the oldest buffered document must be flushed (None when empty).
    pub fn deadline(&self) -> Option<Instant> {
        self.first_at.map(|t| t + self.cfg.flush_interval)
    }

    /// Whether the time limit has passed.
    pub fn is_due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    /// Take whatever is buffered.
    pub fn take(&mut self) -> Vec<IndexRequest> {
        self.bytes = 0;
        self.first_at = None;
        std::mem::take(&mut self.buf)
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The configured flush interval.
    pub fn flush_interval(&self) -> Duration {
        self.cfg.flush_interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn doc(n: usize, size: usize) -> IndexRequest {
        IndexRequest {
            index: "i".into(),
            id: n.to_string(),
            source: Bytes::from(vec![b'x'; size]),
        }
    }

    #[test]
    fn batcher_flushes_on_count_bytes_and_time() {
        let mut b = Batcher::new(BatchConfig {
            max_docs: 3,
            max_bytes: 10_000,
            flush_interval: Duration::from_millis(50),
        });
        assert!(b.deadline().is_none());
        assert!(b.push(doc(1, 10)).is_none());
        assert!(b.push(doc(2, 10)).is_none());
        let full = b.push(doc(3, 10)).unwrap();
        assert_eq!(
            full.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["1", "2", "3"]
        );
        assert!(b.is_empty());

        assert!(b.push(doc(4, 6000)).is_none());
        assert_eq!(b.push(doc(5, 6000)).map(|v| v.len()), Some(2));

        assert!(b.push(doc(6, 1)).is_none());
        let d = b.deadline().unwrap();
        assert!(!b.is_due(d - Duration::from_millis(1)));
        assert!(b.is_due(d));
        assert_eq!(b.take().len(), 1);
        assert!(b.deadline().is_none());
    }
}
