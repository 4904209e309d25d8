//! Helpers shared by the `logpush_<ds>.rs` tests: a transformer with the golden tags, records
//! patched from a base, and one call that runs a record through a data stream.

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{GeoIp, Options, Transformer};
use serde_json::Value;
use std::sync::Arc;

/// A transformer with `preserve_original_event` and, when `duplicates`,
/// `preserve_duplicate_custom_fields` (the golden configuration when both are set).
pub fn transformer(geo: Option<Arc<GeoIp>>, duplicates: bool) -> Transformer {
    let mut tags = vec!["preserve_original_event".to_string()];
    if duplicates {
        tags.push("preserve_duplicate_custom_fields".to_string());
    }
    let opts = Options {
        preserve_original: true,
        tags,
        ..Default::default()
    };
    Transformer::new(opts, geo).expect("transformer")
}

/// `base` with the keys of `patch` set (a `null` in `patch` removes the key).
pub fn with(base: &Value, patch: Value) -> Value {
    let mut rec = base.clone();
    let obj = rec.as_object_mut().expect("base record is an object");
    for (k, v) in patch.as_object().expect("patch is an object") {
        if v.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
    rec
}

/// The document of a record given as `message`.
pub fn run(t: &Transformer, ds: Ds, rec: &Value) -> Value {
    run_line(t, ds, &rec.to_string())
}

/// The document of a raw line given as `message` (not necessarily JSON).
pub fn run_line(t: &Transformer, ds: Ds, line: &str) -> Value {
    let d = logpush::transform(t, ds, Input::Message(line), 0);
    serde_json::from_str(&d.source).expect("document is JSON")
}

/// The document of a record already parsed under `json` (HTTP endpoint input).
pub fn run_json(t: &Transformer, ds: Ds, rec: &Value) -> Value {
    let line = rec.to_string();
    let d = logpush::transform(t, ds, Input::Json(&line), 0);
    serde_json::from_str(&d.source).expect("document is JSON")
}

/// The error messages of a document (empty when it has none).
pub fn errors(d: &Value) -> Vec<String> {
    match &d["error"]["message"] {
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}
