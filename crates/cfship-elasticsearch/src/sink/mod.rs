//! The sink: one [`ElasticsearchSink`] handle; each concern in its own file.
//!
//! * `connect`: connection check, backend detection and mapping-type probes;
//! * `install`: installing / upgrading the index templates;
//! * `indexer`: `_bulk` indexing of bounded chunks with retries (the `cfship-retry` policy);
//! * `dead_letter`: durable storage of refused documents (index or file);
//! * `check`: `cfship check`.

use std::sync::Arc;

use cfship_retry::{CancellationToken, Retrier};
use tokio::sync::Semaphore;

use crate::backend::Backend;
use crate::config::EsConfig;
use crate::stats::SinkStats;
use crate::transport::Transport;

mod check;
mod connect;
mod dead_letter;
mod indexer;
mod install;

pub use check::CheckResult;
pub use indexer::Ack;

struct Inner {
    cfg: EsConfig,
    transport: Transport,
    backend: Backend,
    permits: Semaphore,
    stats: Arc<SinkStats>,
    /// Cancelled by [`ElasticsearchSink::shutdown`]: every retry wait ends.
    shutdown: CancellationToken,
    dl_file_lock: tokio::sync::Mutex<()>,
    bulk_path: String,
}

/// Elasticsearch / OpenSearch sink. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct ElasticsearchSink {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ElasticsearchSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticsearchSink")
            .field("hosts", &self.inner.transport.host_urls())
            .field("backend", &self.inner.backend.describe())
            .finish()
    }
}

impl ElasticsearchSink {
    /// The detected backend.
    pub fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// The configuration in use.
    pub fn config(&self) -> &EsConfig {
        &self.inner.cfg
    }

    /// `logs-cloudflare.<dataset>-<configured namespace>`.
    pub fn data_stream(&self, dataset: &str) -> String {
        crate::templates::data_stream_name(dataset, &self.inner.cfg.namespace)
    }

    /// Live counters (for metrics).
    pub fn stats(&self) -> Arc<SinkStats> {
        Arc::clone(&self.inner.stats)
    }

    /// Make pending and future retries give up with [`crate::EsError::ShuttingDown`].
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    async fn wait_shutdown(&self) {
        self.inner.shutdown.cancelled().await
    }

    /// The retry loop state of one operation: the configured backoff, forever, until
    /// [`shutdown`](Self::shutdown).
    fn retrier(&self) -> Retrier<'_> {
        Retrier::new(self.inner.cfg.retry.policy()).cancel_on(&self.inner.shutdown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<ElasticsearchSink>();
    }
}
