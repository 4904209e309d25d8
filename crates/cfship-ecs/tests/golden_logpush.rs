//! Elastic's `cloudflare_logpush` pipeline tests: for every implemented data stream, every
//! expected document equals cfship's output for the same input line — once with the line as
//! `message` (what the pipeline test sends) and once with the record already parsed under `json`
//! (Elastic Agent's HTTP endpoint input; then `event.original` is Agent's re-encoding of the
//! record, keys sorted).
//!
//! Input files are split on `\n` and an empty last line is not a record, so whether a
//! reconstructed input ends with a newline does not matter.

mod common;

use cfship_ecs::logpush::{self, Ds, Input};
use cfship_ecs::{Options, Transformer};
use std::path::PathBuf;

fn logpush_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("CFSHIP_GOLDEN_DIR") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden"),
    };
    let dir = base.join("elastic-cloudflare-logpush");
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!("Logpush golden data not found at {}", dir.display());
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}: required under CI=true");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The tags the pipeline-test configs of the era give every document (golden README).
fn golden_tags(ds: Ds) -> Vec<String> {
    let mut tags = vec!["preserve_original_event".to_string()];
    if !ds.spec().version.starts_with("2.1") {
        tags.push("preserve_duplicate_custom_fields".to_string());
    }
    tags
}

/// `(input, expected)` of a data stream's golden pair (`dir` = its folder).
fn pair(dir: &std::path::Path) -> (String, serde_json::Value) {
    let mut log = None;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) == Some("log") {
            log = Some(p);
        }
    }
    let log = log.unwrap_or_else(|| panic!("no .log in {}", dir.display()));
    let input = std::fs::read_to_string(&log).unwrap();
    let exp = std::fs::read_to_string(format!("{}-expected.json", log.display())).unwrap();
    (input, serde_json::from_str(&exp).unwrap())
}

fn check(ds: Ds, sub: &str, t: &Transformer) -> usize {
    let Some(root) = logpush_dir() else { return 0 };
    let (input, expected) = pair(&root.join(ds.name()).join(sub));
    let expected = expected["expected"].as_array().unwrap().clone();
    let lines: Vec<&str> = input.split('\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "{}: lines vs documents",
        ds.name()
    );
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let ctx = format!("{} line {}", ds.name(), i + 1);
        let d = logpush::transform(t, ds, Input::Message(line), 0);
        let got: serde_json::Value = serde_json::from_str(&d.source).unwrap();
        common::assert_same(&ctx, &got, want);
        assert!(d.error.is_none(), "{ctx}: {:?}", d.error);

        // The same record parsed under `json`: event.original is Agent's re-encoding.
        let d = logpush::transform(t, ds, Input::Json(line), 0);
        let got: serde_json::Value = serde_json::from_str(&d.source).unwrap();
        let mut want = want.clone();
        want["event"]["original"] =
            serde_json::Value::String(cfship_ecs::canonical::go_json(line).unwrap());
        common::assert_same(&format!("{ctx} (json input)"), &got, &want);
    }
    lines.len()
}

fn transformer(ds: Ds) -> Option<Transformer> {
    let geo = common::geoip()?;
    let opts = Options {
        preserve_original: true,
        tags: golden_tags(ds),
        ..Default::default()
    };
    Some(Transformer::new(opts, Some(geo)).unwrap())
}

#[test]
fn every_implemented_data_stream_matches_its_golden_documents() {
    let mut total = 0;
    for &ds in Ds::ALL.iter().filter(|d| d.is_elastic()) {
        let Some(t) = transformer(ds) else { return };
        let n = check(ds, "", &t);
        assert!(
            logpush_dir().is_none() || n > 0,
            "{}: no documents",
            ds.name()
        );
        total += n;
    }
    eprintln!("{total} golden documents compared");
}

#[test]
fn json_input_without_the_preserve_tag_has_no_event_original() {
    let Some(root) = logpush_dir() else { return };
    let Some(geo) = common::geoip() else { return };
    let t = Transformer::new(Options::default(), Some(geo)).unwrap();
    for &ds in Ds::ALL.iter().filter(|d| d.is_elastic()) {
        let (input, _) = pair(&root.join(ds.name()));
        for line in input.split('\n').filter(|l| !l.is_empty()) {
            let d = logpush::transform(&t, ds, Input::Json(line), 0);
            let got: serde_json::Value = serde_json::from_str(&d.source).unwrap();
            assert!(got["event"].get("original").is_none(), "{}", ds.name());
            assert!(got.get("tags").is_none(), "{}", ds.name());
            // The copies are removed without preserve_duplicate_custom_fields.
            let custom = &got["cloudflare_logpush"][ds.name()];
            assert!(custom.get("timestamp").is_none(), "{}: {custom}", ds.name());
            // Same record, same _id, whichever shape and tags.
            let with_tags = transformer(ds).unwrap();
            let d2 = logpush::transform(&with_tags, ds, Input::Json(line), 0);
            assert_eq!(d.id, d2.id);
        }
    }
}

/// No `cloudflare_logpush` pipeline sets a fingerprint, so `_id` is the fingerprint of the record
/// (`event.original`: the line as received, or Agent's re-encoding for `json` input): a replay of
/// the same records — another run, another transformer, other tags — gives the same `_id`s, and
/// different records different ones; so do records the pipeline fails on.
#[test]
fn replays_give_the_same_ids() {
    let Some(root) = logpush_dir() else { return };
    let Some(t1) = transformer(Ds::ALL[0]) else {
        return;
    };
    let plain = Transformer::new(Options::default(), common::geoip()).unwrap();
    for &ds in Ds::ALL.iter().filter(|d| d.is_elastic()) {
        let (input, _) = pair(&root.join(ds.name()));
        let mut lines: Vec<&str> = input.split('\n').filter(|l| !l.is_empty()).collect();
        lines.push("not json at all");
        lines.push("[1,2]");
        let mut seen = std::collections::HashSet::new();
        for line in &lines {
            let a = logpush::transform(&t1, ds, Input::Message(line), 0);
            let b = logpush::transform(&plain, ds, Input::Message(line), 1_700_000_000_000);
            assert_eq!(a.id, b.id, "{}: {line}", ds.name());
            assert_eq!(a.id, cfship_ecs::fingerprint::fingerprint_str(line));
            let j1 = logpush::transform(&t1, ds, Input::Json(line), 0);
            let j2 = logpush::transform(&plain, ds, Input::Json(line), 5);
            assert_eq!(j1.id, j2.id, "{} (json): {line}", ds.name());
            assert!(seen.insert(a.id), "{}: two records, one _id", ds.name());
        }
    }
}
