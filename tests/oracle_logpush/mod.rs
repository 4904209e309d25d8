//! The Logpush half of the differential oracle: Elastic's `cloudflare_logpush` pipelines, each at
//! the upstream commit of the era cfship implements, against `cfship_ecs::logpush`.
//!
//! Elastic's pipeline files are not in this repository: they are read from
//! `CFSHIP_LOGPUSH_PIPELINES_DIR` (default `../shared/elastic-pipelines/cloudflare_logpush` beside
//! the repository), and `oracles/opensearch-ingest/logpush-pipelines.tsv` names each file with its
//! upstream commit, path and sha256 (the oracle refuses a file whose hash differs). Which data
//! streams are compared is what the manifest lists; docs/oracles.md has the table.
//!
//! The records are generated from Elastic's own pipeline-test inputs (`CFSHIP_GOLDEN_DIR`, the
//! same files the golden tests read): every record starts from one of the data stream's golden
//! lines (realistic field names, types and values), and its fields are then swapped between the
//! golden lines, removed, nulled, emptied, retyped or replaced by hostile values (timestamps in
//! every form, numeric strings, bad and scoped IPs, MaxMind hits and misses, URL corners, unicode,
//! huge numbers); whole lines are sometimes not JSON, cut, a JSON array or a scalar.

use super::{Known, Rng, IPS, URIS, USER_AGENTS};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// One row of `oracles/opensearch-ingest/logpush-pipelines.tsv`.
pub struct Row {
    pub data_stream: String,
    pub file: String,
    pub pipeline_id: String,
}

pub fn manifest_path() -> PathBuf {
    super::repo().join("oracles/opensearch-ingest/logpush-pipelines.tsv")
}

pub fn manifest() -> Vec<Row> {
    let text = std::fs::read_to_string(manifest_path()).expect("read logpush-pipelines.tsv");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 6, "logpush-pipelines.tsv: 6 columns expected: {l}");
            Row {
                data_stream: f[0].to_string(),
                file: f[1].to_string(),
                pipeline_id: f[2].to_string(),
            }
        })
        .collect()
}

/// The manifest's rows of the data streams `CFSHIP_ORACLE_DATASETS` selects (all by default).
pub fn selected_rows() -> Vec<Row> {
    manifest()
        .into_iter()
        .filter(|r| super::selected(&r.data_stream))
        .collect()
}

/// The manifest with only the selected data streams' rows, written into `work` when a selection
/// is set (the oracle installs what its manifest lists), else the manifest itself.
pub fn selected_manifest(work: &std::path::Path) -> PathBuf {
    if super::selection().is_none() {
        return manifest_path();
    }
    let text = std::fs::read_to_string(manifest_path()).expect("read logpush-pipelines.tsv");
    let kept: String = text
        .lines()
        .filter(|l| l.starts_with('#') || l.split('\t').next().is_some_and(super::selected))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = work.join("logpush-pipelines.selected.tsv");
    std::fs::write(&path, kept).expect("write the selected manifest");
    path
}

/// Where Elastic's pipeline files are, if every file the selected rows of the manifest name is
/// there.
pub fn pipelines_dir() -> Result<PathBuf, String> {
    let dir = match std::env::var_os("CFSHIP_LOGPUSH_PIPELINES_DIR") {
        Some(p) => PathBuf::from(p),
        None => super::repo().join("../shared/elastic-pipelines/cloudflare_logpush"),
    };
    let missing: Vec<String> = selected_rows()
        .into_iter()
        .filter(|r| !dir.join(&r.file).is_file())
        .map(|r| r.file)
        .collect();
    if missing.is_empty() {
        Ok(dir)
    } else {
        Err(format!(
            "Elastic's cloudflare_logpush pipeline files are not in {} (set CFSHIP_LOGPUSH_PIPELINES_DIR; \
             missing: {})",
            dir.display(),
            missing.join(", ")
        ))
    }
}

pub fn golden_dir() -> PathBuf {
    match std::env::var_os("CFSHIP_GOLDEN_DIR") {
        Some(p) => PathBuf::from(p),
        None => super::repo().join("../shared/golden"),
    }
    .join("elastic-cloudflare-logpush")
}

/// The data stream's golden input lines that are JSON objects.
fn golden_bases(ds: &str) -> Vec<Map<String, Value>> {
    let dir = golden_dir().join(ds);
    let mut out = Vec::new();
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("golden inputs of {ds} in {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("log"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("golden input");
        for line in text.lines() {
            if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line) {
                out.push(m);
            }
        }
    }
    assert!(!out.is_empty(), "no golden JSON lines for {ds}");
    out
}

/// Elastic's pipeline-test pairs of the data stream: each input line (`*.log`, top level of its
/// golden directory) with the document its `*.log-expected.json` holds for it.
pub fn golden_pairs(ds: &str) -> Vec<(String, Value)> {
    let dir = golden_dir().join(ds);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("golden inputs of {ds} in {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("log"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("golden input");
        let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
        let exp_path = PathBuf::from(format!("{}-expected.json", f.display()));
        let exp: Value = serde_json::from_str(
            &std::fs::read_to_string(&exp_path)
                .unwrap_or_else(|e| panic!("{}: {e}", exp_path.display())),
        )
        .expect("golden expected JSON");
        let docs = exp["expected"].as_array().expect("an `expected` array");
        assert_eq!(
            lines.len(),
            docs.len(),
            "{}: one document per line",
            f.display()
        );
        out.extend(
            lines
                .iter()
                .map(|l| l.to_string())
                .zip(docs.iter().cloned()),
        );
    }
    out
}

fn is_time_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    ["timestamp", "datetime", "createdat", "when", "time", "date"]
        .iter()
        .any(|t| k.ends_with(t))
        || k.contains("timestamp")
}

fn looks_like_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// A timestamp in one of the forms Cloudflare sends (and a few it does not).
fn timestamp(rng: &mut Rng) -> Value {
    let ms: i64 = 1_690_000_000_000 + rng.below(200 * 86_400_000) as i64;
    let dt = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    match rng.below(16) {
        0 => json!(dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        1 => json!(dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
        2 => json!(format!("{}123Z", dt.format("%Y-%m-%dT%H:%M:%S%.3f"))),
        3 => json!(dt.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()),
        4 => json!(dt.format("%Y-%m-%dT%H:%M:%S+09:30").to_string()),
        5 => json!(dt.format("%Y-%m-%dT%H:%M:%S-0500").to_string()),
        6 => json!(ms / 1000),
        7 => json!(ms),
        8 => json!(ms as i128 * 1_000_000 + 123_456),
        9 => json!((ms / 1000).to_string()),
        10 => json!(ms.to_string()),
        11 => json!((ms as i128 * 1_000_000).to_string()),
        12 => json!(0),
        13 => json!(dt.format("%Y-%m-%d %H:%M:%S").to_string()),
        14 => json!("not a date"),
        _ => json!(ms as f64 / 1000.0),
    }
}

/// A value of another type, or an edge of the same type.
fn hostile(rng: &mut Rng, key: &str, v: &Value) -> Value {
    if is_time_key(key) && rng.chance(0.7) {
        return timestamp(rng);
    }
    match v {
        Value::Bool(b) => {
            let xs = [
                json!(!b),
                json!("true"),
                json!("false"),
                json!(1),
                json!(""),
            ];
            rng.pick(&xs).clone()
        }
        Value::Number(_) => {
            let xs = [
                json!(0),
                json!(-1),
                json!(1.5),
                json!("443"),
                json!("12abc"),
                json!(""),
                json!(1e300),
                json!(9_223_372_036_854_775_807i64),
                json!(true),
                json!([1, 2]),
            ];
            rng.pick(&xs).clone()
        }
        Value::String(s) if looks_like_ip(s) => {
            let bad = [
                json!("fe80::1%eth0"),
                json!("unknown"),
                json!("300.1.2.3"),
                json!(""),
                json!(7),
                json!(["10.1.2.3", "89.160.20.129", "81.2.69.142"]),
                json!(["89.160.20.129", 7]),
            ];
            if rng.chance(0.8) {
                json!(rng.pick(IPS))
            } else {
                rng.pick(&bad).clone()
            }
        }
        Value::String(s)
            if s.contains("://") || key.to_ascii_lowercase().contains("url") || key == "URI" =>
        {
            let u = *rng.pick(URIS);
            if u.contains("://") || rng.chance(0.3) {
                json!(u)
            } else {
                json!(format!("https://example.com{u}"))
            }
        }
        Value::String(_) if key.to_ascii_lowercase().contains("useragent") => {
            json!(rng.pick(USER_AGENTS))
        }
        Value::String(s) => {
            let xs = [
                json!(""),
                json!(" "),
                json!("ünïcödé ☃ 日本"),
                json!(s.to_uppercase()),
                json!(format!("{s}{s}")),
                json!("null"),
                json!(42),
                json!(["a", "b"]),
                json!({"nested": s}),
                json!("line\nbreak\t\"quoted\""),
            ];
            rng.pick(&xs).clone()
        }
        Value::Array(a) => {
            let xs = [
                json!([]),
                json!([null]),
                json!(["a", 1, true]),
                json!([[1]]),
                json!("scalar"),
                json!([{"k": "v"}, {}]),
                json!(a.iter().rev().cloned().collect::<Vec<_>>()),
            ];
            rng.pick(&xs).clone()
        }
        Value::Object(_) => {
            let xs = [
                json!({}),
                json!({"a": null}),
                json!("string"),
                json!([1]),
                json!({"x": {"y": [1, "z"]}}),
            ];
            rng.pick(&xs).clone()
        }
        Value::Null => json!("was null"),
    }
}

/// How often a record takes a field that its golden line lacks from another golden line.
fn foreign_key_chance(ds: &str) -> f64 {
    match ds {
        // Each golden line is one test type (HTTP or traceroute), and both types write
        // `source.geo.*`/`destination.*`: a record with fields of both fails its renames
        // ("already exists"), so mixing them often would leave the success path untested.
        "dex_application_tests" => 0.02,
        _ => 0.3,
    }
}

/// `n` records of data stream `ds`, seeded.
pub fn records(ds: &str, n: usize, rng: &mut Rng) -> Vec<String> {
    let bases = golden_bases(ds);
    let keys: Vec<String> = {
        let mut k: Vec<String> = bases.iter().flat_map(|b| b.keys().cloned()).collect();
        k.sort();
        k.dedup();
        k
    };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let base = rng.pick(&bases).clone();
        let whole = Value::Object(base.clone()).to_string();
        // Whole lines that are not one JSON object.
        if rng.chance(0.03) {
            let cut = whole
                .char_indices()
                .map(|(i, _)| i)
                .nth(rng.below(whole.chars().count() as u64) as usize);
            let lines = [
                "not json at all".to_string(),
                format!("[{whole}]"),
                "[1,2]".to_string(),
                "42".to_string(),
                "\"a string\"".to_string(),
                "{}".to_string(),
                whole[..cut.unwrap_or(0)].to_string(),
            ];
            out.push(rng.pick(&lines).clone());
            continue;
        }
        let mut rec = Map::new();
        for k in &keys {
            let v = match base.get(k) {
                Some(v) => v.clone(),
                None => match bases.iter().find_map(|b| b.get(k)) {
                    Some(v) if rng.chance(foreign_key_chance(ds)) => v.clone(),
                    _ => continue,
                },
            };
            let v = match rng.below(100) {
                0..=6 => continue, // missing
                7..=9 => Value::Null,
                10..=29 => {
                    // the same key's value in another golden line
                    match rng.pick(&bases).get(k) {
                        Some(x) => x.clone(),
                        None => v,
                    }
                }
                30..=49 => hostile(rng, k, &v),
                _ => v,
            };
            rec.insert(k.clone(), v);
        }
        if rng.chance(0.02) {
            rec.insert("UnknownNewField".into(), json!("x"));
        }
        out.push(Value::Object(rec).to_string());
    }
    out
}

/// The tags Elastic's pipeline-test configuration of the era sets (docs/oracles.md).
pub fn tags(ds: &str) -> Vec<String> {
    let mut t = vec!["preserve_original_event".to_string()];
    if !ds.starts_with("dex_") {
        t.push("preserve_duplicate_custom_fields".to_string());
    }
    t
}

/// Every difference cfship has with Elastic's `cloudflare_logpush` pipelines as the oracle runs
/// them. Exact, as [`super::KNOWN`]: each must still occur, nothing else may differ.
pub const KNOWN: &[Known] = &[
    Known {
        name: "error-document-raw-json (cfship decision)",
        reason: "error documents never carry the parsed record (`json.*`) or the pipeline's scratch fields (`_tmp.*`, e.g. email_security_alerts' parsed links): event.original holds the record",
        applies: |d| {
            (d.field.starts_with("json.") || d.field == "json" || d.field.starts_with("_tmp."))
                && d.cfship.is_none()
                && d.is_error_doc()
        },
    },
    Known {
        name: "error-document-cleaned (cfship decision)",
        reason: "Elastic's error documents skip the final null/empty clean-up (on_failure runs instead); cfship cleans every document",
        applies: |d| d.is_error_doc() && d.oracle.and_then(super::cleaned).as_ref() == d.cfship,
    },
    Known {
        name: "scoped-ipv6-literal (unverified)",
        reason: "the 7.10 fork's InetAddresses accepts `fe80::1%eth0`; cfship rejects it",
        applies: |d| d.record.contains("%eth0"),
    },
    Known {
        name: "json-not-an-object (cfship gap)",
        reason: "a line that is JSON but not an object (array, string, number): Elasticsearch's json processor stores it under `json` and a later processor fails on it (the first `if: ctx.json?.X` condition: `Illegal list shortcut value [X].`, `dynamic getter [java.lang.String, X] not found`); cfship fails the json processor, or (json with ignore_failure) goes on without `json`",
        applies: |d| {
            serde_json::from_str::<Value>(d.record).is_ok_and(|v| !v.is_object())
                && (is_json_failure(d.cfship_error())
                    || d.oracle_error().contains("Illegal list shortcut value [")
                    || d.oracle_error().contains("dynamic getter [java."))
        },
    },
    Known {
        name: "json-parse-message (cfship decision)",
        reason: "a line that is not JSON: cfship words the parser error itself (Jackson's text is not reproduced)",
        applies: |d| {
            d.field == "error.message"
                && is_json_failure(d.cfship_error())
                && split_error(d.cfship_error()).0 == split_error(d.oracle_error()).0
        },
    },
    Known {
        name: ERROR_PAIRS[0].0,
        reason: "convert type ip: Elasticsearch 8 casts the value to String and calls InetAddresses.forString (`'x' is not an IP string literal.`, a non-string the JVM's ClassCastException text; cfship, from Elasticsearch's ConvertProcessor source); OpenSearch 2.14+ says `[x] is not a valid ipv4/ipv6 address` for both",
        applies: |d| error_pairs_known(d, 0),
    },
    Known {
        name: ERROR_PAIRS[1].0,
        reason: "a date no format accepts, ISO8601 first: Elasticsearch 8's own ISO parser says `Failed to parse with all enclosed parsers` (cfship), the 7.10 fork java.time's `Text '…' could not be parsed`",
        applies: |d| error_pairs_known(d, 1),
    },
    Known {
        name: ERROR_PAIRS[2].0,
        reason: "a double passed to a Painless `long` parameter (http_request's timestamp script): Elasticsearch 8's Def.defTolongImplicit says `cannot implicitly cast def [double] to long` (cfship), the 7.10 fork `Cannot cast java.lang.Double to java.lang.Long`",
        applies: |d| error_pairs_known(d, 2),
    },
    Known {
        name: ERROR_PAIRS[3].0,
        reason: "a Java class of the ingest node named in a message (`ConditionalProcessor.UnmodifiableIngestList`, the read-only list a processor's `if` sees): org.elasticsearch.* in Elasticsearch (cfship), org.opensearch.* in the fork",
        applies: |d| error_pairs_known(d, 3),
    },
    Known {
        name: ERROR_PAIRS[4].0,
        reason: "a field read on null in Painless (email_security_alerts' `a.Name` of a null attachment): Elasticsearch 8 says `cannot access method/field [Name] from a null def reference` (cfship), the 7.10 fork the JVM's NullPointerException text",
        applies: |d| error_pairs_known(d, 4),
    },
    Known {
        name: "pattern-offset-vs-timezone (7.10 vs 8.x)",
        reason: "a time with an offset without colon (`-0500`), read by the `yyyy-MM-dd'T'HH:mm:ssZ` format of a `date` with `timezone: UTC`: cfship applies the parsed offset, the 7.10 fork's DateFormatters.from takes the processor's timezone instead (not verified against Elasticsearch 8)",
        applies: |d| {
            is_date_target(d.field) && offset_without_colon(d.record)
        },
    },
    Known {
        name: "unix-ms-near-epoch (7.10 vs 8.x)",
        reason: "UNIX_MS of a small or negative count (`-1000`, `1000`, after the to-milli script): cfship reads epoch milliseconds (Elasticsearch 8's Long.parseLong + Instant.ofEpochMilli, 1969/1970), the 7.10 fork fails UNIX_MS and ISO8601 reads the digits as a year (1000-01-01; not verified against Elasticsearch 8)",
        applies: |d| {
            let year = |v: Option<&Value>| {
                v.and_then(Value::as_str)
                    .and_then(|s| s.get(..4))
                    .and_then(|y| y.parse::<u32>().ok())
            };
            is_date_target(d.field)
                && matches!(year(d.cfship), Some(1969 | 1970))
                && year(d.oracle).is_some_and(|y| y < 1900)
        },
    },
];

/// Whether the record holds a time like `2023-09-06T17:25:14-0500"` (offset without a colon).
fn offset_without_colon(record: &str) -> bool {
    let d = |c: u8| c.is_ascii_digit();
    record.as_bytes().windows(15).any(|w| {
        w[0] == b'T'
            && d(w[1])
            && d(w[2])
            && w[3] == b':'
            && d(w[4])
            && d(w[5])
            && w[6] == b':'
            && d(w[7])
            && d(w[8])
            && (w[9] == b'-' || w[9] == b'+')
            && w[10..14].iter().all(|c| d(*c))
            && w[14] == b'"'
    })
}

/// Whether the field is a `date` processor's target (`@timestamp` and the data streams' copies).
fn is_date_target(field: &str) -> bool {
    field == "@timestamp"
        || [
            ".timestamp",
            ".start_time",
            ".end_time",
            ".datetime",
            ".time_end",
        ]
        .iter()
        .any(|s| field.ends_with(s))
}

/// A `json` processor's failure, in either error style (`Processor "json"` / `Processor json`;
/// http_request's conditional `json` is `conditional` with the json processor's tag).
fn is_json_failure(e: &str) -> bool {
    e.contains("Processor \"json\"")
        || e.starts_with("Processor 'json'")
        || e.starts_with("Processor json ")
        || e.starts_with("Processor conditional with tag json_event_original")
}

/// An error message split into the processor part and the message (both error styles).
fn split_error(e: &str) -> (&str, &str) {
    for (sep, quote) in [
        ("failed with message: ", ' '),
        ("failed with message \"", '"'),
        ("failed with message '", '\''),
    ] {
        if let Some(i) = e.find(sep) {
            let m = &e[i + sep.len()..];
            return (
                &e[..i],
                if quote == ' ' {
                    m
                } else {
                    m.strip_suffix(quote).unwrap_or(m)
                },
            );
        }
    }
    ("", e)
}

/// Message pairs (cfship, Elastic's pipeline on the fork) that differ for a named reason; each
/// entry of [`KNOWN`] that uses one is named after it.
/// A named test on one (cfship, fork) message pair.
type ErrorPair = (&'static str, fn(&str, &str) -> bool);

const ERROR_PAIRS: &[ErrorPair] = &[
    (
        "convert-ip-message (OpenSearch 2.14+ vs Elasticsearch 8)",
        |c, o| {
            o.ends_with("] is not a valid ipv4/ipv6 address")
                && o.starts_with('[')
                && (c
                    == format!(
                        "'{}' is not an IP string literal.",
                        &o[1..o.len() - "] is not a valid ipv4/ipv6 address".len()]
                    )
                    || (c.starts_with("class java.")
                        && c.contains(" cannot be cast to class java.lang.String (")))
        },
    ),
    ("iso8601-failure-text (7.10 vs 8.x)", |c, o| {
        c == "Failed to parse with all enclosed parsers"
            && o.starts_with("Text '")
            && o.contains("' could not be parsed")
    }),
    ("painless-def-to-long-text (7.10 vs 8.x)", |c, o| {
        c.starts_with("cannot implicitly cast def [")
            && c.ends_with("] to long")
            && o.starts_with("Cannot cast java.lang.")
            && o.ends_with(" to java.lang.Long")
    }),
    ("fork-package-name (OpenSearch rename)", |c, o| {
        c.contains("org.elasticsearch.") && c.replace("org.elasticsearch.", "org.opensearch.") == o
    }),
    ("painless-null-receiver-text (7.10 vs 8.x)", |c, o| {
        c.starts_with("cannot access method/field [")
            && c.ends_with("] from a null def reference")
            && o.starts_with("Cannot invoke \"")
            && o.ends_with("because \"receiver\" is null")
    }),
];

fn error_list(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// `error.message` lists of the same processors whose differing messages are all pairs of
/// [`ERROR_PAIRS`], at least one of them of entry `own` (a document with several kinds counts
/// under the first kind it has).
fn error_pairs_known(d: &super::Diff, own: usize) -> bool {
    if d.field != "error.message" {
        return false;
    }
    let (c, o) = (error_list(d.cfship), error_list(d.oracle));
    if c.len() != o.len() {
        return false;
    }
    let mut first_kind = None;
    for (c, o) in c.iter().zip(&o) {
        if c == o {
            continue;
        }
        let ((cp, cm), (op, om)) = (split_error(c), split_error(o));
        if cp != op {
            return false;
        }
        match ERROR_PAIRS.iter().position(|(_, pair)| pair(cm, om)) {
            Some(k) => {
                first_kind.get_or_insert(k);
            }
            None => return false,
        }
    }
    first_kind == Some(own)
}
