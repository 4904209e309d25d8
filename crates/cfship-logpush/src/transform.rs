//! What the receiver needs from the transform: one raw record of a data stream in, one document
//! (index, deterministic `_id`, source) out. The binary plugs the ECS transform in; the crate ships
//! [`RawTransform`], which keeps the record verbatim (used by tests, benches and until a data
//! stream has an ECS mapping).

use crate::datasets::DataStream;

/// One document ready for the spool / Elasticsearch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub index: String,
    /// Deterministic: the same record always gets the same `_id`, so a re-delivered batch
    /// produces `409 version_conflict` (a duplicate), never a second document.
    pub id: String,
    /// One line of compact JSON.
    pub source: String,
    /// `Some(reason)` for a `pipeline_error` document.
    pub error: Option<String>,
}

/// The transform entry point: a data stream and the exact text of one record.
pub trait RecordTransform: Send + Sync + 'static {
    /// Transforms one record (`raw` is the record's text, which may be invalid JSON: the result
    /// is then a `pipeline_error` document). `now_ms` is the ingest time.
    fn transform(&self, ds: &DataStream, raw: &str, now_ms: i64) -> Doc;

    /// The document for input that cannot reach the transform (not UTF-8, over the record size
    /// limit): a `pipeline_error` document keeping what was read.
    fn error_document(&self, ds: &DataStream, original: &str, reason: &str, now_ms: i64) -> Doc;
}

/// Keeps each record as it came: `event.original`, the parsed object under `json` (what Elastic
/// Agent's http_endpoint input hands its pipeline), `data_stream.*`, `@timestamp` = ingest time,
/// `_id` = the fingerprint of the record text. A record that is not a JSON object becomes a
/// `pipeline_error` document.
#[derive(Debug, Clone)]
pub struct RawTransform {
    pub namespace: String,
}

impl RawTransform {
    pub fn new(namespace: impl Into<String>) -> Self {
        RawTransform {
            namespace: namespace.into(),
        }
    }

    fn base(
        &self,
        ds: &DataStream,
        original: &str,
        now_ms: i64,
    ) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::{json, Value};
        let mut m = serde_json::Map::new();
        m.insert(
            "@timestamp".into(),
            Value::String(cfship_ecs::time::Instant::utc(now_ms).format()),
        );
        m.insert(
            "data_stream".into(),
            json!({"type": "logs", "dataset": format!("cloudflare_logpush.{}", ds.name), "namespace": self.namespace}),
        );
        m.insert("event".into(), json!({"original": original}));
        m
    }
}

impl RecordTransform for RawTransform {
    fn transform(&self, ds: &DataStream, raw: &str, now_ms: i64) -> Doc {
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(v @ serde_json::Value::Object(_)) => {
                let mut m = self.base(ds, raw, now_ms);
                m.insert("json".into(), v);
                Doc {
                    index: ds.index(&self.namespace),
                    id: cfship_ecs::fingerprint::fingerprint_str(raw),
                    source: serde_json::Value::Object(m).to_string(),
                    error: None,
                }
            }
            Ok(_) => self.error_document(ds, raw, "record is not a JSON object", now_ms),
            Err(e) => self.error_document(ds, raw, &format!("invalid JSON: {e}"), now_ms),
        }
    }

    fn error_document(&self, ds: &DataStream, original: &str, reason: &str, now_ms: i64) -> Doc {
        use serde_json::{json, Value};
        let mut m = self.base(ds, original, now_ms);
        m.insert(
            "event".into(),
            json!({"original": original, "kind": "pipeline_error"}),
        );
        m.insert("error".into(), json!({ "message": [reason] }));
        m.insert(
            "tags".into(),
            Value::Array(vec![Value::String(
                cfship_ecs::PRESERVE_ORIGINAL_TAG.into(),
            )]),
        );
        Doc {
            index: ds.index(&self.namespace),
            id: cfship_ecs::fingerprint::fingerprint_str(original),
            source: Value::Object(m).to_string(),
            error: Some(reason.to_string()),
        }
    }
}
