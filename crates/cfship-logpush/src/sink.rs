//! Where spooled documents go: Elasticsearch in the daemon, anything that acknowledges in tests.

use cfship_elasticsearch::{BulkDocs, ElasticsearchSink};
use futures::future::BoxFuture;

/// Indexes a chunk of documents (encoded as bulk lines once, see [`BulkDocs`]); `Ok` only when every document is safe (created, a duplicate,
/// or dead-lettered). An `Err` leaves the documents in the spool; they are sent again later.
pub trait DocSink: Send + Sync + 'static {
    fn index(&self, docs: BulkDocs) -> BoxFuture<'_, Result<(), String>>;
}

impl DocSink for ElasticsearchSink {
    fn index(&self, docs: BulkDocs) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            ElasticsearchSink::index_docs(self, docs)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
