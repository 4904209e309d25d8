//! Dead letters: refused documents stored durably, in the dead-letter index or the file.

use std::path::Path;
use std::sync::atomic::Ordering;

use cfship_retry::{retry, Decision};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;

use super::indexer::pause;
use super::ElasticsearchSink;
use crate::bulk::{now_rfc3339, parse_bulk_response, IndexRequest};
use crate::encoded::BulkDocsBuilder;
use crate::EsError;

/// A refused document on its way to the dead letter.
pub(super) struct Dead {
    pub(super) req: IndexRequest,
    pub(super) status: u16,
    pub(super) error: Value,
}

impl ElasticsearchSink {
    /// Durably store refused documents; returns how many.
    pub(super) async fn dead_letter(&self, dead: Vec<Dead>) -> Result<u64, EsError> {
        let n = dead.len() as u64;
        for d in &dead {
            let error_type = d.error.get("type").and_then(|v| v.as_str()).unwrap_or("");
            let reason = d.error.get("reason").and_then(|v| v.as_str()).unwrap_or("");
            tracing::warn!(index = %d.req.index, id = %d.req.id, status = d.status, error_type, reason,
                "document refused; writing it to the dead letter");
        }
        let records: Vec<Value> = dead
            .into_iter()
            .map(|d| {
                let document = serde_json::from_slice::<Value>(&d.req.source)
                    .ok()
                    .and_then(|v| serde_json::to_string(&v).ok())
                    .unwrap_or_else(|| String::from_utf8_lossy(&d.req.source).into_owned());
                json!({
                    "@timestamp": now_rfc3339(),
                    "index": d.req.index,
                    "id": d.req.id,
                    "status": d.status,
                    "error": d.error,
                    "document": document,
                })
            })
            .collect();
        let to_file = match self.inner.cfg.dead_letter.index.clone() {
            Some(index) => self.dead_letter_index(&index, records).await?,
            None => records,
        };
        if !to_file.is_empty() {
            let path = self.inner.cfg.dead_letter.path.display();
            retry(
                self.inner.cfg.retry.policy(),
                Some(&self.inner.shutdown),
                || self.write_dead_letter_file(&to_file),
                |e| {
                    tracing::error!(error = %e, path = %path, "cannot write the dead-letter file; will retry");
                    Decision::Backoff
                },
                |_| {},
            )
            .await
            .map_err(|_| EsError::ShuttingDown)?;
        }
        self.inner
            .stats
            .items_dead_lettered
            .fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    /// Index dead letters; returns those that must go to the file instead.
    async fn dead_letter_index(
        &self,
        index: &str,
        records: Vec<Value>,
    ) -> Result<Vec<Value>, EsError> {
        let mut prepared = Vec::new();
        let mut fallback = Vec::new();
        let mut items = BulkDocsBuilder::new().with_op("index");
        for r in records {
            let Ok(src) = serde_json::to_vec(&r) else {
                fallback.push(r);
                continue;
            };
            let refused = items.refused_len();
            items.push_parts(index, "", &src);
            if items.refused_len() > refused {
                fallback.push(r);
            } else {
                prepared.push(r);
            }
        }
        let items = items.finish();
        let mut retrier = self.retrier();
        loop {
            let (body, _) = items.body(self.inner.cfg.compression_level);
            let res = self
                .inner
                .transport
                .send(
                    Method::POST,
                    "/_bulk?filter_path=items.*.status,items.*.error",
                    Some((
                        body,
                        "application/x-ndjson",
                        self.inner.cfg.compression_level > 0,
                    )),
                )
                .await;
            match res {
                Ok(r) if r.ok() => match parse_bulk_response(&r.body) {
                    Ok(results) if results.len() == prepared.len() => {
                        for (rec, res) in prepared.into_iter().zip(results) {
                            if !(200..300).contains(&res.status) {
                                fallback.push(rec);
                            }
                        }
                        return Ok(fallback);
                    }
                    _ => {}
                },
                Ok(r) if r.status == 400 || r.status == 413 => {
                    fallback.extend(prepared);
                    return Ok(fallback);
                }
                Ok(r) => tracing::warn!(
                    status = r.status,
                    "dead-letter index request failed; will retry"
                ),
                Err(e) => {
                    tracing::warn!(error = %e.message, "dead-letter index request failed; will retry")
                }
            }
            pause(&mut retrier).await?;
        }
    }

    async fn write_dead_letter_file(&self, records: &[Value]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        let _guard = self.inner.dl_file_lock.lock().await;
        let path: &Path = &self.inner.cfg.dead_letter.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        f.write_all(&buf).await?;
        f.sync_data().await?;
        Ok(())
    }
}
