//! The Elasticsearch / OpenSearch output: `_bulk` `create` with deterministic `_id`s, so a replayed
//! batch only produces duplicates (counted, not written twice). Retries, backpressure and dead
//! letters live in `cfship-elasticsearch`'s sink.

use super::{Batch, Output, OutputError, Written};
use cfship_elasticsearch::{ElasticsearchSink, EsError};
use futures::future::BoxFuture;

pub struct EsOutput {
    sink: ElasticsearchSink,
}

impl EsOutput {
    pub fn new(sink: ElasticsearchSink) -> Self {
        EsOutput { sink }
    }

    /// The connected sink (shared handle: stats, shutdown on a second signal).
    pub fn sink(&self) -> &ElasticsearchSink {
        &self.sink
    }
}

impl Output for EsOutput {
    fn write<'a>(&'a self, batch: Batch<'a>) -> BoxFuture<'a, Result<Written, OutputError>> {
        Box::pin(async move {
            // shares the batch's bytes: nothing is copied or encoded again
            match self.sink.index_docs(batch.docs.clone()).await {
                Ok(ack) => Ok(Written {
                    indexed: ack.created,
                    duplicate: ack.duplicates,
                    dead_lettered: ack.dead_lettered,
                    lines: 0,
                }),
                Err(EsError::ShuttingDown) => Err(OutputError::EsShuttingDown),
                Err(e) => Err(OutputError::Es(e)),
            }
        })
    }
}
