//! Where spooled documents go: Elasticsearch in the daemon, anything that acknowledges in tests.

use cfship_elasticsearch::{ElasticsearchSink, IndexRequest};
use futures::future::BoxFuture;

/// Indexes a chunk of documents; `Ok` only when every document is safe (created, a duplicate,
/// or dead-lettered). An `Err` leaves the documents in the spool; they are sent again later.
pub trait DocSink: Send + Sync + 'static {
    fn index(&self, docs: Vec<IndexRequest>) -> BoxFuture<'_, Result<(), String>>;
}

impl DocSink for ElasticsearchSink {
    fn index(&self, docs: Vec<IndexRequest>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            ElasticsearchSink::index(self, docs)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
