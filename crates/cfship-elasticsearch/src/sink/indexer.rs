//! Bulk indexing: bounded chunks sent with `create`, retried (the `cfship-retry` policy, until
//! shutdown) until every document is created, a duplicate, or dead-lettered.

use std::sync::atomic::Ordering;
use std::time::Instant;

use cfship_retry::Retrier;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::dead_letter::Dead;
use super::ElasticsearchSink;
use crate::bulk::{classify_item, parse_bulk_response, split_batches, IndexRequest, ItemOutcome};
use crate::encoded::BulkDocs;
use crate::EsError;

/// What one [`ElasticsearchSink::index`] call achieved; every document is in exactly one counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    pub created: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
}

impl Ack {
    fn add(&mut self, o: Ack) {
        self.created += o.created;
        self.duplicates += o.duplicates;
        self.dead_lettered += o.dead_lettered;
    }
    /// Documents handled.
    pub fn total(&self) -> u64 {
        self.created + self.duplicates + self.dead_lettered
    }
}

impl ElasticsearchSink {
    /// Index `docs`. Returns when every document is created, a duplicate, or dead-lettered; retries
    /// transient failures forever (until [`shutdown`](Self::shutdown)).
    pub async fn index(&self, docs: Vec<IndexRequest>) -> Result<Ack, EsError> {
        self.index_docs(BulkDocs::from(docs)).await
    }

    /// Index documents already encoded as bulk lines (see [`BulkDocsBuilder`](crate::BulkDocsBuilder)):
    /// each request is a slice of their bytes, a partial retry re-slices them (nothing is encoded
    /// again). Returns as [`index`](Self::index) does.
    pub async fn index_docs(&self, mut docs: BulkDocs) -> Result<Ack, EsError> {
        let mut ack = Ack::default();
        let refused: Vec<Dead> = docs
            .take_refused()
            .into_iter()
            .map(|(req, why)| Dead {
                req,
                status: 0,
                error: json!({"type": "cfship_invalid_source", "reason": why}),
            })
            .collect();
        if !refused.is_empty() {
            ack.dead_lettered += self.dead_letter(refused).await?;
        }
        if docs.is_empty() {
            return Ok(ack);
        }
        let batch = &self.inner.cfg.batch;
        let ranges = split_batches(&docs.wire_lens(), batch.max_docs, batch.max_bytes);
        if ranges.len() <= 1 {
            ack.add(self.run_chunk(docs).await?);
            return Ok(ack);
        }
        let mut set = JoinSet::new();
        for r in ranges {
            let chunk = docs.slice(r);
            let me = self.clone();
            set.spawn(async move { me.run_chunk(chunk).await });
        }
        drop(docs);
        let mut first_err = None;
        while let Some(res) = set.join_next().await {
            match res {
                Ok(Ok(a)) => ack.add(a),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(join) => {
                    first_err.get_or_insert(EsError::Protocol {
                        url: "-".into(),
                        message: format!("bulk task failed: {join}"),
                    });
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(ack),
        }
    }

    /// Send one bounded chunk until every item is done.
    async fn run_chunk(&self, items: BulkDocs) -> Result<Ack, EsError> {
        let mut ack = Ack::default();
        let mut pending = items;
        let mut retrier = self.retrier();
        let stats = &self.inner.stats;
        while !pending.is_empty() {
            let (body, raw_len) = pending.body(self.inner.cfg.compression_level);
            let resp = {
                let permit = tokio::select! {
                    p = self.inner.permits.acquire() => p.map_err(|_| EsError::ShuttingDown)?,
                    _ = self.wait_shutdown() => return Err(EsError::ShuttingDown),
                };
                stats.in_flight.fetch_add(1, Ordering::Relaxed);
                stats
                    .bytes_sent
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                stats
                    .bytes_uncompressed
                    .fetch_add(raw_len as u64, Ordering::Relaxed);
                let started = Instant::now();
                let send = self.inner.transport.send(
                    Method::POST,
                    &self.inner.bulk_path,
                    Some((
                        body,
                        "application/x-ndjson",
                        self.inner.cfg.compression_level > 0,
                    )),
                );
                let r = tokio::select! {
                    r = send => Some(r),
                    _ = self.wait_shutdown() => None,
                };
                stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
                stats.observe_latency(started.elapsed());
                r.ok_or(EsError::ShuttingDown)?
            };
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    stats
                        .bulk_requests_transport_error
                        .fetch_add(1, Ordering::Relaxed);
                    if loud(retrier.failures()) {
                        tracing::warn!(url = %e.url, error = %e.message, docs = pending.len(), attempt = retrier.failures(),
                            "bulk request failed; will retry");
                    } else {
                        tracing::debug!(url = %e.url, error = %e.message, docs = pending.len(), attempt = retrier.failures(),
                            "bulk request failed; will retry");
                    }
                    pause(&mut retrier).await?;
                    stats.request_retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            stats.record_status(resp.status);
            let refused_body =
                resp.status == 413 || (resp.status == 400 && body_refusal(&resp.body));
            match resp.status {
                200..=299 => {}
                400 | 413 if refused_body && pending.len() > 1 => {
                    // The request as a whole was refused (too large, or one item broke the body):
                    // halve it and handle each half on its own.
                    tracing::warn!(
                        status = resp.status,
                        docs = pending.len(),
                        "bulk request refused; splitting it"
                    );
                    let (first, second) = pending.split_at(pending.len() / 2);
                    drop(pending);
                    ack.add(Box::pin(self.run_chunk(first)).await?);
                    ack.add(Box::pin(self.run_chunk(second)).await?);
                    return Ok(ack);
                }
                400 | 413 if refused_body => {
                    let error =
                        json!({"type": format!("http_{}", resp.status), "reason": resp.excerpt()});
                    let dead = pending
                        .iter()
                        .map(|p| Dead {
                            req: p.to_request(),
                            status: resp.status,
                            error: error.clone(),
                        })
                        .collect();
                    ack.dead_lettered += self.dead_letter(dead).await?;
                    return Ok(ack);
                }
                status => {
                    if loud(retrier.failures()) {
                        tracing::warn!(status, url = %resp.url, body = %resp.excerpt(), docs = pending.len(),
                            attempt = retrier.failures(), "bulk request not accepted; will retry");
                    } else {
                        tracing::debug!(
                            status,
                            docs = pending.len(),
                            attempt = retrier.failures(),
                            "bulk request not accepted; will retry"
                        );
                    }
                    pause(&mut retrier).await?;
                    stats.request_retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            let results = match parse_bulk_response(&resp.body) {
                Ok(r) if r.len() == pending.len() => r,
                Ok(r) => {
                    tracing::warn!(
                        expected = pending.len(),
                        got = r.len(),
                        "bulk response item count mismatch; retrying the batch"
                    );
                    pause(&mut retrier).await?;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unparsable bulk response; retrying the batch");
                    pause(&mut retrier).await?;
                    continue;
                }
            };
            let mut retry = Vec::new();
            let mut dead = Vec::new();
            let mut round = Ack::default();
            let mut retry_reason = None;
            for (i, (p, r)) in pending.iter().zip(results).enumerate() {
                match classify_item(r.status, r.error_type()) {
                    ItemOutcome::Created => round.created += 1,
                    ItemOutcome::Duplicate => round.duplicates += 1,
                    ItemOutcome::Retry => {
                        if retry_reason.is_none() {
                            retry_reason =
                                Some((r.status, r.error_type().unwrap_or("").to_string()));
                        }
                        retry.push(i);
                    }
                    ItemOutcome::DeadLetter => dead.push(Dead {
                        req: p.to_request(),
                        status: r.status,
                        error: r.error.unwrap_or(Value::Null),
                    }),
                }
            }
            stats
                .items_created
                .fetch_add(round.created, Ordering::Relaxed);
            stats
                .items_duplicate
                .fetch_add(round.duplicates, Ordering::Relaxed);
            ack.add(round);
            if !dead.is_empty() {
                ack.dead_lettered += self.dead_letter(dead).await?;
            }
            // the documents to send again: the same bytes, re-sliced
            pending = pending.pick(&retry);
            if !pending.is_empty() {
                stats
                    .item_retries
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                if let Some((status, ty)) = retry_reason.filter(|_| loud(retrier.failures())) {
                    tracing::warn!(status, error_type = %ty, docs = pending.len(), attempt = retrier.failures(),
                        "bulk items not accepted; will retry them");
                }
                pause(&mut retrier).await?;
            }
        }
        Ok(ack)
    }
}

/// Whether a whole-request 400 is about the body (so splitting / dead-lettering helps) rather than
/// something a retry or an operator fixes (a proxy, a bad parameter…).
fn body_refusal(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    [
        "parse_exception",
        "x_content_parse_exception",
        "json_parse_exception",
        "action_request_validation_exception",
        "illegal_argument_exception",
    ]
    .iter()
    .any(|t| text.contains(t))
}

/// Waits before the next round of a retry loop; `ShuttingDown` once [`ElasticsearchSink::shutdown`]
/// was called.
pub(super) async fn pause(retrier: &mut Retrier<'_>) -> Result<(), EsError> {
    retrier.pause().await.map_err(|_| EsError::ShuttingDown)
}

/// Warn on the first retry and every tenth, not on each (a busy cluster would flood the log).
fn loud(attempt: u32) -> bool {
    attempt.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_request_400_kinds() {
        assert!(body_refusal(
            br#"{"error":{"type":"x_content_parse_exception","reason":"[1:2] Unexpected character"},"status":400}"#
        ));
        assert!(!body_refusal(
            b"<html><body>400 Bad Request (proxy)</body></html>"
        ));
    }
}
