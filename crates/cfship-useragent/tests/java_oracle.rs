//! Differential test against a real Java `user_agent` processor.
//!
//! `tests/fixtures/java_oracle.jsonl` was recorded by `scripts/es_oracle.py` from an OpenSearch
//! node (Elasticsearch 7.10 fork with the same processor code as Elasticsearch 8.10/8.11) running
//! the *embedded* regexes file as a custom `regex_file`: it checks the Java→Rust regex
//! translation, the prefiltered first-match search and the replacement/joining rules on real
//! user agents (uap-core's test corpus) plus edge cases. Set `CFSHIP_UA_ORACLE_FILE` to compare a
//! larger recording as well.

use cfship_useragent::{UserAgent, UserAgentParser};

fn compare(path: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let parser = UserAgentParser::shared().expect("regexes");
    let mut mismatches = Vec::new();
    let mut count = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let rec: serde_json::Value = serde_json::from_str(line).expect("fixture line is JSON");
        let text = |key: &str| rec[key].as_str().map(str::to_owned);
        let ua = rec["ua"].as_str().expect("ua");
        let want = UserAgent {
            name: text("name"),
            version: text("version"),
            os_name: text("os_name"),
            os_version: text("os_version"),
            os_full: text("os_full"),
            device_name: text("device"),
        };
        let got = parser.parse(ua);
        if got != want {
            mismatches.push(format!("{ua:?}\n  java: {want:?}\n  rust: {got:?}"));
        }
        count += 1;
    }
    assert!(
        mismatches.is_empty(),
        "{} of {count} user agents differ from the Java processor:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    count
}

#[test]
fn recorded_java_outputs_are_reproduced() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/java_oracle.jsonl");
    let n = compare(&path);
    assert!(n >= 1000, "fixture unexpectedly small: {n}");
}

#[test]
fn larger_recording_from_env_is_reproduced() {
    let Ok(path) = std::env::var("CFSHIP_UA_ORACLE_FILE") else {
        return;
    };
    compare(std::path::Path::new(&path));
}
