//! The transform stage of the pipeline: one `Transformer` per source (its tags and account id),
//! run on the blocking pool, at most `workers` batches at once (backpressure: a collector waits in
//! `deliver` until its batch is handled).

use super::{PipelineError, PipelineOptions};
use crate::config::TransformSection;
use crate::metrics::source_labels;
use crate::sync::{lock, now_ms};
use bytes::Bytes;
use cfship_cloudflare::{SinkError, SourceId};
use cfship_ecs::canonical::Numbers;
use cfship_ecs::{Dataset, Options, Outcome, Transformer};
use cfship_elasticsearch::IndexRequest;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// One transformed batch.
pub(super) struct Transformed {
    pub(super) docs: Vec<IndexRequest>,
    pub(super) pipeline_errors: u64,
    /// The message of the batch's first pipeline error.
    pub(super) first_error: Option<String>,
    pub(super) dropped: u64,
}

pub(super) struct Transform {
    namespace: String,
    base: Transformer,
    transformers: Mutex<HashMap<SourceId, Arc<Transformer>>>,
    transform: TransformSection,
    logpull_fields: Option<Arc<BTreeSet<String>>>,
    workers: Semaphore,
}

impl Transform {
    pub(super) fn new(opts: PipelineOptions) -> Result<Self, PipelineError> {
        let base = Transformer::new(Options::default(), opts.geoip)?;
        let workers = if opts.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            opts.workers
        };
        Ok(Transform {
            namespace: opts.namespace,
            base,
            transformers: Mutex::new(HashMap::new()),
            transform: opts.transform,
            logpull_fields: opts.logpull_fields,
            workers: Semaphore::new(workers.max(1)),
        })
    }

    fn transformer(&self, source: &SourceId) -> Arc<Transformer> {
        let mut m = lock(&self.transformers);
        if let Some(t) = m.get(source) {
            return t.clone();
        }
        let (ds, id) = source_labels(source);
        let mut tags = vec!["forwarded".to_string(), format!("cloudflare-{ds}")];
        for t in &self.transform.tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let opts = Options {
            account_id: matches!(source, SourceId::Audit { .. }).then(|| id.to_string()),
            preserve_original: self.transform.preserve_original_event,
            tags,
            fix_upstream_bugs: self.transform.fix_upstream_bugs,
            namespace: Some(self.namespace.clone()),
            set_ingested: true,
            numbers: Numbers::agent_if(self.transform.agent_numbers),
            logpull_requested: match source {
                SourceId::Logpull { .. } => self.logpull_fields.clone(),
                SourceId::Audit { .. } => None,
            },
        };
        let t = Arc::new(self.base.with_options(opts));
        m.insert(source.clone(), t.clone());
        t
    }

    pub(super) async fn batch(
        &self,
        source: &SourceId,
        records: Vec<Bytes>,
    ) -> Result<Transformed, SinkError> {
        let _permit = self
            .workers
            .acquire()
            .await
            .map_err(|_| SinkError::fatal("transform pool closed"))?;
        let t = self.transformer(source);
        let ds = match source {
            SourceId::Audit { .. } => Dataset::Audit,
            SourceId::Logpull { .. } => Dataset::Logpull,
        };
        let index = ds.data_stream(&self.namespace);
        let now = now_ms();
        tokio::task::spawn_blocking(move || {
            let mut out = Transformed {
                docs: Vec::with_capacity(records.len()),
                pipeline_errors: 0,
                first_error: None,
                dropped: 0,
            };
            for raw in records {
                // Audit Logs v2 records are mapped onto the v1 shape the pipeline reads.
                let raw = if ds == Dataset::Audit && is_audit_v2(&raw) {
                    cfship_cloudflare::v2_to_v1(&raw).unwrap_or(raw)
                } else {
                    raw
                };
                // Bytes that are not UTF-8 are never silently "repaired" into a normal document:
                // they become a pipeline_error document keeping what was read.
                let outcome = match std::str::from_utf8(&raw) {
                    Err(e) => Outcome::Doc(t.error_document(
                        ds,
                        &String::from_utf8_lossy(&raw),
                        &format!("record is not valid UTF-8: {e}"),
                        now,
                    )),
                    Ok(text) => t.transform_collected(ds, text, now),
                };
                match outcome {
                    Outcome::Doc(d) => {
                        if let Some(e) = &d.error {
                            out.pipeline_errors += 1;
                            if out.first_error.is_none() {
                                out.first_error = Some(e.clone());
                            }
                        }
                        out.docs.push(IndexRequest {
                            index: index.clone(),
                            id: d.id,
                            source: Bytes::from(d.source),
                        });
                    }
                    Outcome::Dropped => out.dropped += 1,
                }
            }
            out
        })
        .await
        .map_err(|e| SinkError::retryable(format!("transform task failed: {e}")))
    }
}

/// An Audit Logs v2 record: `action.time` and no top-level `when` (v1's timestamp).
fn is_audit_v2(raw: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        when: Option<serde::de::IgnoredAny>,
        action: Option<ProbeAction>,
    }
    #[derive(serde::Deserialize)]
    struct ProbeAction {
        time: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Probe>(raw) {
        Ok(p) => p.when.is_none() && p.action.is_some_and(|a| a.time.is_some()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod audit_v2_tests {
    use super::is_audit_v2;
    use cfship_ecs::{Dataset, Options, Outcome, Transformer};

    #[test]
    fn v2_records_are_detected_and_mapped_to_the_v1_document() {
        let v2 = br#"{"id":"0b1c2d3e-v2","account":{"id":"acc","name":"Acme"},"action":{"description":"Create token","result":"success","time":"2026-03-01T10:00:00.123456Z","type":"token_create"},"actor":{"context":"dash","email":"ops@example.net","id":"u1","ip_address":"198.51.100.9","type":"user"},"resource":{"id":"r1","type":"account"},"zone":{}}"#;
        let v1 =
            br#"{"action":{"result":true,"type":"login"},"id":"x","when":"2026-03-01T10:00:00Z"}"#;
        assert!(is_audit_v2(v2));
        assert!(!is_audit_v2(v1));
        assert!(!is_audit_v2(b"not json"));
        let mapped = cfship_cloudflare::v2_to_v1(v2).unwrap();
        let t = Transformer::new(Options::default(), None).unwrap();
        let Outcome::Doc(d) = t.transform(Dataset::Audit, std::str::from_utf8(&mapped).unwrap(), 0)
        else {
            panic!("dropped")
        };
        assert!(d.error.is_none(), "{:?}", d.error);
        let doc: serde_json::Value = serde_json::from_str(&d.source).unwrap();
        assert_eq!(doc["event"]["action"], "token_create");
        assert_eq!(doc["event"]["outcome"], "success");
        assert_eq!(doc["event"]["provider"], "UI");
        assert_eq!(doc["@timestamp"], "2026-03-01T10:00:00.123Z");
        assert_eq!(doc["source"]["ip"], "198.51.100.9");
        assert_eq!(doc["event"]["id"], "0b1c2d3e-v2");
    }
}
