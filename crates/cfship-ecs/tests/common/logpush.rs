//! Helpers shared by the `logpush_<ds>.rs` tests: a transformer with the golden tags, records
//! patched from a base, one call that runs a record through a data stream, and the checks several
//! data streams share (2.x error shape, both input shapes, the hostile-input sweep).

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Document, GeoIp, Options, Transformer};
use serde_json::{json, Value};
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

/// A transformer keeping `event.original` when `tags` hold `preserve_original_event`, with
/// exactly `tags` (e.g. the 2.1.0 configs' `[preserve_original_event]`, or none).
pub fn transformer_with_tags(geo: Option<Arc<GeoIp>>, tags: &[&str]) -> Transformer {
    let opts = Options {
        preserve_original: tags.contains(&"preserve_original_event"),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    Transformer::new(opts, geo).expect("transformer")
}

/// A raw line given as `message`: the document and cfship's [`Document`] (id, first error).
pub fn run_doc(t: &Transformer, ds: Ds, line: &str) -> (Value, Document) {
    let d = logpush::transform(t, ds, Input::Message(line), 0);
    let v = serde_json::from_str(&d.source).expect("document is JSON");
    (v, d)
}

/// Asserts the 2.x error shape: `event.kind: pipeline_error`, the tag `preserve_original_event`,
/// and `error.message` == `want`.
pub fn assert_pipeline_error(doc: &Value, want: &[&str]) {
    assert_eq!(doc["event"]["kind"], "pipeline_error", "{doc}");
    assert!(
        doc["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("preserve_original_event"))),
        "{doc}"
    );
    assert_eq!(errors(doc), want, "{doc}");
}

/// The record with each of its keys in turn replaced by each hostile value, plus non-records.
pub fn hostile_lines(base: &Value) -> Vec<String> {
    let mut lines: Vec<String> = [
        "", "x", "not json", "[]", "[1,2]", "[1,2,3]", "{}", "null", "1", "7", "42", "\"s\"",
        "\"text\"", "{", "{\"a\":",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(o) = base.as_object() {
        for k in o.keys() {
            for bad in [
                json!(true),
                json!({"o": 1}),
                json!({"o": [1]}),
                json!([]),
                json!([null, ""]),
                json!([1, "a"]),
                json!([[1]]),
                json!([[{"A": 1}]]),
                json!(1e300),
                json!(1.5e300),
                json!(1e308),
                json!(-1e300),
                json!(-1),
                json!(-5),
                json!(-7),
                json!(18446744073709551615u64),
                json!(""),
                json!("x"),
                json!("N/A"),
                json!("\u{0}\u{ffff}"),
            ] {
                let mut rec = base.clone();
                rec[k.as_str()] = bad;
                lines.push(rec.to_string());
            }
        }
    }
    lines
}

/// Every line in both input shapes gives one JSON object document (never a panic); a
/// `pipeline_error` document names one of its errors in [`Document::error`], any other document
/// has none; the `_id` is the fingerprint of the line.
pub fn assert_hostile_lines_give_documents(t: &Transformer, ds: Ds, lines: &[String]) {
    assert_hostile_lines_give_documents_and(t, ds, lines, |_, _, _| {});
}

/// [`assert_hostile_lines_give_documents`], then `also(line, document, Document)` on each
/// document of both input shapes (e.g. [`assert_error_list`]).
pub fn assert_hostile_lines_give_documents_and(
    t: &Transformer,
    ds: Ds,
    lines: &[String],
    also: impl Fn(&str, &Value, &Document),
) {
    for line in lines {
        for input in [Input::Message(line), Input::Json(line)] {
            let d = logpush::transform(t, ds, input, 0);
            let v: Value = serde_json::from_str(&d.source)
                .unwrap_or_else(|e| panic!("{line}: invalid document: {e}"));
            also(line, &v, &d);
            assert!(v.is_object(), "{line}");
            assert!(!d.id.is_empty(), "{line}");
            if v["event"]["kind"] == "pipeline_error" {
                let e = errors(&v);
                assert!(!e.is_empty(), "{line}: {v}");
                // The failure that stopped the pipeline (the last message) or, when none did,
                // the first a processor appended (2.x).
                let named = d.error.as_deref().unwrap_or_default();
                assert!(!named.is_empty(), "{line}: {v}");
                assert!(
                    e.iter().any(|m| m == named),
                    "{line}: {named:?} not in {e:?}"
                );
            } else {
                assert!(d.error.is_none(), "{line}: {:?}", d.error);
            }
        }
        let (_, d) = run_doc(t, ds, line);
        assert_eq!(d.id, cfship_ecs::fingerprint::fingerprint_str(line));
    }
}

/// A `pipeline_error` document lists its errors (`error.message` is an array, the 1.x/2.x
/// shape), and [`Document::error`] is set.
pub fn assert_error_list(line: &str, v: &Value, d: &Document) {
    if v["event"]["kind"] == "pipeline_error" {
        assert!(
            v["error"]["message"].is_array() && d.error.is_some(),
            "{line}"
        );
    }
}

/// A `pipeline_error` document names its first error in [`Document::error`].
pub fn assert_first_error_named(line: &str, v: &Value, d: &Document) {
    if v["event"]["kind"] == "pipeline_error" {
        let e = errors(v);
        assert_eq!(d.error.as_deref(), e.first().map(String::as_str), "{line}");
    }
}

/// The same record as `message` and parsed under `json` gives the same document but for
/// `event.original` (Agent's re-encoding).
pub fn assert_both_shapes_agree(t: &Transformer, ds: Ds, rec: &Value) {
    let line = rec.to_string();
    let a = logpush::transform(t, ds, Input::Message(&line), 0);
    let b = logpush::transform(t, ds, Input::Json(&line), 0);
    let mut a: Value = serde_json::from_str(&a.source).expect("JSON");
    let mut b: Value = serde_json::from_str(&b.source).expect("JSON");
    for d in [&mut a, &mut b] {
        d["event"]
            .as_object_mut()
            .expect("the document has an event")
            .remove("original");
    }
    assert_eq!(a, b);
}

/// Arbitrary JSON values, with the strings pipelines react to (times, addresses, zeros, `N/A`).
pub fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,30}".prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "0",
            "N/A",
            "none",
            "unknown",
            "TLSv1.3",
            "tcp",
            "UDP",
            "1,2, 3",
            "::1",
            "::ffff:1.2.3.4",
            "2023-09-19T12:30:00Z",
            "1970-01-01T00:00:00Z",
            "1695126600",
            "1695126600000000000",
            "https://a.example/b?c=d",
            "true",
            "pass",
            "drop",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[A-Za-z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `base` with up to `base.len()` of its keys replaced by arbitrary values or removed.
pub fn mutations(base: Value) -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let keys: Vec<String> = base
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let n = keys.len().max(1);
    prop::collection::vec(
        (prop::sample::select(keys), prop::option::of(json_value())),
        0..n,
    )
    .prop_map(move |changes| {
        let mut rec = base.clone();
        if let Some(o) = rec.as_object_mut() {
            for (k, v) in changes {
                match v {
                    Some(v) => {
                        o.insert(k, v);
                    }
                    None => {
                        o.remove(&k);
                    }
                }
            }
        }
        rec
    })
}

/// One record in both input shapes gives one JSON object document with the data stream's ECS
/// version, a 28-character id, and `event.kind: pipeline_error` whenever the transform reports
/// an error.
pub fn assert_one_document(t: &Transformer, ds: Ds, rec: &Value) {
    let line = rec.to_string();
    for input in [Input::Message(&line), Input::Json(&line)] {
        let d = logpush::transform(t, ds, input, 0);
        let v: Value = serde_json::from_str(&d.source).expect("document is JSON");
        assert!(v.is_object(), "{line}");
        assert_eq!(v["ecs"]["version"], ds.spec().ecs, "{line}");
        assert_eq!(d.id.len(), 28, "{line}");
        if d.error.is_some() {
            assert_eq!(v["event"]["kind"], "pipeline_error", "{line}: {v}");
        }
    }
}
