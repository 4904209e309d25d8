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
///
/// The `_into` forms append the document's compact JSON to a caller's buffer (the spool's line,
/// a bulk body) and return its `_id` and error; the [`Doc`] forms wrap them.
pub trait RecordTransform: Send + Sync + 'static {
    /// The index (data stream) the documents of `ds` go to.
    fn index(&self, ds: &DataStream) -> String;

    /// Transforms one record (`raw` is the record's text, which may be invalid JSON: the result
    /// is then a `pipeline_error` document), appending the document to `out`. `now_ms` is the
    /// ingest time.
    fn transform_into(
        &self,
        ds: &DataStream,
        raw: &str,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> cfship_ecs::DocInfo;

    /// The document for input that cannot reach the transform (not UTF-8, over the record size
    /// limit): a `pipeline_error` document keeping what was read, appended to `out`.
    fn error_document_into(
        &self,
        ds: &DataStream,
        original: &str,
        reason: &str,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> cfship_ecs::DocInfo;

    /// [`transform_into`](Self::transform_into) as a [`Doc`].
    fn transform(&self, ds: &DataStream, raw: &str, now_ms: i64) -> Doc {
        let mut out = Vec::with_capacity(raw.len() * 2 + 256);
        let info = self.transform_into(ds, raw, now_ms, &mut out);
        doc_of(self.index(ds), info, out)
    }

    /// [`error_document_into`](Self::error_document_into) as a [`Doc`].
    fn error_document(&self, ds: &DataStream, original: &str, reason: &str, now_ms: i64) -> Doc {
        let mut out = Vec::with_capacity(original.len() * 2 + 256);
        let info = self.error_document_into(ds, original, reason, now_ms, &mut out);
        doc_of(self.index(ds), info, out)
    }
}

fn doc_of(index: String, info: cfship_ecs::DocInfo, source: Vec<u8>) -> Doc {
    Doc {
        index,
        id: info.id.as_str().to_string(),
        // The writers append whole UTF-8 sequences only.
        source: String::from_utf8(source)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        error: info.error,
    }
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

fn write_value(out: &mut Vec<u8>, m: serde_json::Map<String, serde_json::Value>) {
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &serde_json::Value::Object(m));
}

impl RecordTransform for RawTransform {
    fn index(&self, ds: &DataStream) -> String {
        ds.index(&self.namespace)
    }

    fn transform_into(
        &self,
        ds: &DataStream,
        raw: &str,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> cfship_ecs::DocInfo {
        match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(v @ serde_json::Value::Object(_)) => {
                let mut m = self.base(ds, raw, now_ms);
                m.insert("json".into(), v);
                write_value(out, m);
                cfship_ecs::DocInfo {
                    id: cfship_ecs::fingerprint::fingerprint_id(raw),
                    error: None,
                }
            }
            Ok(_) => self.error_document_into(ds, raw, "record is not a JSON object", now_ms, out),
            Err(e) => self.error_document_into(ds, raw, &format!("invalid JSON: {e}"), now_ms, out),
        }
    }

    fn error_document_into(
        &self,
        ds: &DataStream,
        original: &str,
        reason: &str,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> cfship_ecs::DocInfo {
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
        write_value(out, m);
        cfship_ecs::DocInfo {
            id: cfship_ecs::fingerprint::fingerprint_id(original),
            error: Some(reason.to_string()),
        }
    }
}

/// How the record reaches Elastic's pipeline, which decides `event.original` and the `_id`
/// (see `cfship_ecs::logpush::Input`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Elastic Agent's http_endpoint input: the record parsed under `json` (the HTTPS destination).
    Http,
    /// Elastic Agent's bucket inputs: the record text as `message` (the bucket reader).
    Bucket,
}

/// The ECS transform of `cfship-ecs` (Elastic's `cloudflare_logpush` pipelines) for the data
/// streams it implements; the others are kept verbatim by [`RawTransform`] until they are.
/// Tags are Elastic Agent's defaults per data stream: `forwarded`, `cloudflare_logpush-<ds>`.
pub struct EcsTransform {
    per_ds:
        std::collections::HashMap<&'static str, (cfship_ecs::logpush::Ds, cfship_ecs::Transformer)>,
    shape: Shape,
    raw: RawTransform,
}

impl EcsTransform {
    /// `base` supplies GeoIP, the user-agent parser and the options (namespace is set here).
    pub fn new(base: &cfship_ecs::Transformer, namespace: &str, shape: Shape) -> Self {
        let mut per_ds = std::collections::HashMap::new();
        for &ds in cfship_ecs::logpush::Ds::ALL {
            let mut opts = base.options().clone();
            opts.namespace = Some(namespace.to_string());
            let mut tags = vec![
                "forwarded".to_string(),
                format!("cloudflare_logpush-{}", ds.name()),
            ];
            for t in &base.options().tags {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            opts.tags = tags;
            per_ds.insert(ds.name(), (ds, base.with_options(opts)));
        }
        EcsTransform {
            per_ds,
            shape,
            raw: RawTransform::new(namespace),
        }
    }

    /// Whether `ds` has its ECS mapping (otherwise documents keep the record under `json`).
    pub fn implements(&self, ds: &DataStream) -> bool {
        self.per_ds.contains_key(ds.name)
    }
}

impl RecordTransform for EcsTransform {
    fn index(&self, ds: &DataStream) -> String {
        ds.index(&self.raw.namespace)
    }

    fn transform_into(
        &self,
        ds: &DataStream,
        raw: &str,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> cfship_ecs::DocInfo {
        use cfship_ecs::logpush::{transform_into, transform_parsed_into, Input, Parsed};
        let Some((d, t)) = self.per_ds.get(ds.name) else {
            return self.raw.transform_into(ds, raw, now_ms, out);
        };
        if self.shape == Shape::Bucket {
            return transform_into(t, *d, Input::Message(raw), now_ms, out);
        }
        // Agent's http_endpoint input cannot put a non-object under `json` (it refuses the whole
        // body); here the record alone becomes an error document.
        if !raw.trim_start().starts_with('{') {
            return self.raw.error_document_into(
                ds,
                raw,
                "record is not a JSON object",
                now_ms,
                out,
            );
        }
        // One parse serves both the input's check and the pipeline's `json` processor.
        let parsed = Parsed::parse(raw);
        if parsed.error().is_some() {
            // The pipeline's parse is stricter than the input's (lone surrogates in escapes):
            // what the input accepts still goes through the pipeline, which fails it.
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(raw) {
                return self.raw.error_document_into(
                    ds,
                    raw,
                    &format!("invalid JSON: {e}"),
                    now_ms,
                    out,
                );
            }
        }
        transform_parsed_into(t, *d, Input::Json(raw), parsed, now_ms, out)
    }

    fn error_document_into(
        &self,
        ds: &DataStream,
        original: &str,
        reason: &str,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> cfship_ecs::DocInfo {
        self.raw
            .error_document_into(ds, original, reason, now_ms, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::find;

    #[test]
    fn ecs_for_implemented_streams_raw_otherwise_ids_stable() {
        let base = cfship_ecs::Transformer::new(cfship_ecs::Options::default(), None)
            .expect("transformer");
        let t = EcsTransform::new(&base, "default", Shape::Http);
        let fw = find("firewall_event").expect("ds");
        assert!(t.implements(fw));
        let rec = r#"{"Action":"block","ClientIP":"192.0.2.1","Datetime":"2026-12-01T00:00:00Z","RayID":"abc","Source":"firewallrules"}"#;
        let a = t.transform(fw, rec, 0);
        let b = t.transform(fw, rec, 5);
        assert_eq!(a.id, b.id, "the _id does not depend on the ingest time");
        assert_eq!(a.index, "logs-cloudflare_logpush.firewall_event-default");
        let v: serde_json::Value = serde_json::from_str(&a.source).expect("json");
        assert_eq!(
            v["data_stream"]["dataset"],
            "cloudflare_logpush.firewall_event"
        );
        assert!(
            v["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == "cloudflare_logpush-firewall_event")),
            "{v}"
        );
        let bad = t.transform(fw, "{\"Action\":", 0);
        assert!(bad.error.is_some());
        assert!(bad.source.contains("pipeline_error"));
        // a stream without its mapping yet keeps the record
        let unimplemented = crate::DATA_STREAMS.iter().find(|d| !t.implements(d));
        if let Some(ds) = unimplemented {
            let d = t.transform(ds, "{\"a\":1}", 0);
            assert!(d.source.contains("\"json\":{\"a\":1}"), "{}", d.source);
        }
    }

    /// The http_endpoint shape parses each record once: valid records give the pipeline's
    /// document, JSON the input refuses its error document, and JSON only the pipeline's stricter
    /// parse refuses (a lone surrogate) the pipeline's failure document — for every data stream,
    /// those that ignore `json` failures included.
    #[test]
    fn one_parse_gives_the_documents_of_the_input_check_and_the_pipeline() {
        let base = cfship_ecs::Transformer::new(cfship_ecs::Options::default(), None)
            .expect("transformer");
        let t = EcsTransform::new(&base, "default", Shape::Http);
        let records = [
            r#"{"ClientIP":"192.0.2.1","RayID":"abc","Datetime":"2026-12-01T00:00:00Z"}"#,
            r#"{"ClientIP":"192.0.2.1","#,
            r#"{"a":1} trailing"#,
            r#"{"a":"\ud800"}"#,
        ];
        for ds in crate::DATA_STREAMS.iter().filter(|d| t.implements(d)) {
            let (d, tr) = t.per_ds.get(ds.name).expect("implemented");
            for raw in records {
                let got = t.transform(ds, raw, 7);
                let want = match serde_json::from_str::<serde::de::IgnoredAny>(raw) {
                    Err(e) => t
                        .raw
                        .error_document(ds, raw, &format!("invalid JSON: {e}"), 7),
                    Ok(_) => {
                        let doc = cfship_ecs::logpush::transform(
                            tr,
                            *d,
                            cfship_ecs::logpush::Input::Json(raw),
                            7,
                        );
                        Doc {
                            index: ds.index("default"),
                            id: doc.id,
                            source: doc.source,
                            error: doc.error,
                        }
                    }
                };
                assert_eq!(got, want, "{} {raw}", ds.name);
            }
        }
    }
}
