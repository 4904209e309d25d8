//! The transform stage of the pipeline: one `Transformer` per source (its tags and account id),
//! run on the blocking pool, at most `workers` batches at once (backpressure: a collector waits in
//! `deliver` until its batch is handled).

use super::{PipelineError, PipelineOptions};
use crate::config::TransformSection;
use crate::metrics::source_labels;
use crate::sync::{lock, now_ms};
use bytes::Bytes;
use cfship_cloudflare::{RecordFormat, SinkError, SourceId};
use cfship_ecs::canonical::Numbers;
use cfship_ecs::{Dataset, Options, Transformer};
use cfship_elasticsearch::{BulkDocs, BulkDocsBuilder};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// One transformed batch.
pub(super) struct Transformed {
    /// The documents, encoded once as bulk lines.
    pub(super) docs: BulkDocs,
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
        format: RecordFormat,
        records: Vec<Bytes>,
    ) -> Result<Transformed, SinkError> {
        let _permit = self
            .workers
            .acquire()
            .await
            .map_err(|_| SinkError::fatal("transform pool closed"))?;
        let t = self.transformer(source);
        let ds = match format {
            RecordFormat::AuditV1 | RecordFormat::AuditV2 => Dataset::Audit,
            RecordFormat::Logpull => Dataset::Logpull,
            // The modern field list is the Logpush http_requests record: Elastic's
            // cloudflare_logpush http_request pipeline maps it (docs/fidelity.md).
            RecordFormat::LogpullModern => Dataset::Logpush(cfship_ecs::logpush::Ds::HttpRequest),
        };
        let index = ds.data_stream(&self.namespace);
        let now = now_ms();
        tokio::task::spawn_blocking(move || {
            let bytes: usize = records.iter().map(|r| r.len()).sum();
            // Each document goes straight into the batch's bulk body, after its action line.
            let mut docs = BulkDocsBuilder::with_capacity(records.len(), bytes * 2 + 4096);
            let mut out = Transformed {
                docs: BulkDocs::default(),
                pipeline_errors: 0,
                first_error: None,
                dropped: 0,
            };
            for raw in records {
                let info = match std::str::from_utf8(&raw) {
                    // Bytes that are not UTF-8 are never silently "repaired" into a normal
                    // document: they become a pipeline_error document keeping what was read.
                    Err(e) => {
                        let d = t.error_document(
                            ds,
                            &String::from_utf8_lossy(&raw),
                            &format!("record is not valid UTF-8: {e}"),
                            now,
                        );
                        docs.push_parts(&index, &d.id, d.source.as_bytes());
                        Some(d.error)
                    }
                    // Audit Logs v2 records are mapped onto the v1 record the pipeline reads; one
                    // that cannot be is an error document naming the reason, the record kept.
                    Ok(text) if format == RecordFormat::AuditV2 => {
                        match cfship_ecs::audit_v2::to_v1(text) {
                            Ok(v1) => docs.push_with(&index, |buf| {
                                t.transform_collected_into(ds, &v1, now, buf)
                                    .map(|i| (i.id, i.error))
                            }),
                            Err(e) => {
                                let d = t.error_document(ds, text, &e.to_string(), now);
                                docs.push_parts(&index, &d.id, d.source.as_bytes());
                                Some(d.error)
                            }
                        }
                    }
                    Ok(text) => docs.push_with(&index, |buf| {
                        t.transform_collected_into(ds, text, now, buf)
                            .map(|i| (i.id, i.error))
                    }),
                };
                match info {
                    Some(error) => {
                        if let Some(e) = error {
                            out.pipeline_errors += 1;
                            if out.first_error.is_none() {
                                out.first_error = Some(e);
                            }
                        }
                    }
                    None => out.dropped += 1,
                }
            }
            out.docs = docs.finish();
            out
        })
        .await
        .map_err(|e| SinkError::retryable(format!("transform task failed: {e}")))
    }
}

#[cfg(test)]
mod audit_v2_tests {
    use super::Transform;
    use crate::pipeline::PipelineOptions;
    use bytes::Bytes;
    use cfship_cloudflare::{RecordFormat, SourceId};

    /// The unit says what its records are: a v2 unit's records are mapped (no probe of the
    /// record), a v1 unit's are not, and a v2 record that cannot be mapped is an error document
    /// that names the reason.
    #[tokio::test]
    async fn v2_units_are_mapped_to_the_v1_document() {
        let v2 = br#"{"id":"0b1c2d3e-v2","account":{"id":"acc","name":"Acme"},"action":{"description":"Create token","result":"success","time":"2026-03-01T10:00:00.123456Z","type":"token_create"},"actor":{"context":"dash","email":"ops@example.net","id":"u1","ip_address":"198.51.100.9","type":"user"},"resource":{"id":"r1","type":"account"},"zone":{}}"#;
        let t = Transform::new(PipelineOptions::default()).unwrap();
        let src = SourceId::Audit {
            account_id: "acc".into(),
        };
        let out = t
            .batch(
                &src,
                RecordFormat::AuditV2,
                vec![Bytes::from_static(v2), Bytes::from_static(br#"{"id":"x"}"#)],
            )
            .await
            .unwrap();
        assert_eq!(out.docs.len(), 2);
        assert_eq!(out.pipeline_errors, 1);
        let doc: serde_json::Value =
            serde_json::from_slice(out.docs.get(0).unwrap().source()).unwrap();
        assert!(doc["error"].is_null(), "{doc}");
        assert_eq!(doc["event"]["action"], "token_create");
        assert_eq!(doc["event"]["outcome"], "success");
        assert_eq!(doc["event"]["provider"], "UI");
        assert_eq!(doc["@timestamp"], "2026-03-01T10:00:00.123Z");
        assert_eq!(doc["source"]["ip"], "198.51.100.9");
        assert_eq!(doc["event"]["id"], "0b1c2d3e-v2");
        let bad: serde_json::Value =
            serde_json::from_slice(out.docs.get(1).unwrap().source()).unwrap();
        assert_eq!(bad["event"]["kind"], "pipeline_error");
        assert_eq!(
            bad["error"]["message"],
            serde_json::json!(["audit v2 record has no action.time"])
        );
        assert_eq!(bad["event"]["original"], r#"{"id":"x"}"#);
        // The same v2 record in a v1 unit is read as v1 (no v1 `when`): not mapped.
        let v1 = t
            .batch(&src, RecordFormat::AuditV1, vec![Bytes::from_static(v2)])
            .await
            .unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(v1.docs.get(0).unwrap().source()).unwrap();
        assert_ne!(doc["event"]["provider"], "UI", "{doc}");
    }
}
