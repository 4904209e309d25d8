//! Elastic's own pipeline tests: every expected document equals cfship's output for the same
//! input line (compared as JSON without `event.ingested`; `null` = no document).

mod common;

use cfship_ecs::{Dataset, Options, Outcome, Transformer};

fn run(dataset: Dataset, input: &str, expected: &str, opts: Options) -> usize {
    let Some(geo) = common::geoip() else { return 0 };
    let t = Transformer::new(opts, Some(geo)).unwrap();
    let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
    let expected = expected["expected"].as_array().unwrap().clone();
    let lines: Vec<&str> = input.split('\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "input lines vs expected documents"
    );
    let mut compared = 0;
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let out = t.transform(dataset, line, 1_700_000_000_000);
        match (out, want) {
            (Outcome::Dropped, serde_json::Value::Null) => {}
            (Outcome::Doc(d), w) if !w.is_null() => {
                assert!(
                    d.error.is_none(),
                    "line {}: unexpected error {:?}",
                    i + 1,
                    d.error
                );
                let got: serde_json::Value = serde_json::from_str(&d.source).unwrap();
                common::assert_same(&format!("{} line {}", dataset.name(), i + 1), &got, w);
            }
            (o, w) => panic!("line {}: got {o:?}, expected {w}", i + 1),
        }
        compared += 1;
    }
    compared
}

#[test]
fn audit_golden_documents_are_identical() {
    let Some(dir) = common::golden_dir() else {
        return;
    };
    let input = std::fs::read_to_string(dir.join("audit/test-audit.log")).unwrap();
    let expected = std::fs::read_to_string(dir.join("audit/test-audit.log-expected.json")).unwrap();
    let opts = Options {
        account_id: Some("abcd1234".into()),
        preserve_original: true,
        set_ingested: true,
        ..Default::default()
    };
    let n = run(Dataset::Audit, &input, &expected, opts);
    if common::geoip_dir().is_some() {
        assert_eq!(n, 48, "47 documents and one dropped page");
    }
}

#[test]
fn logpull_golden_documents_are_identical() {
    let Some(dir) = common::golden_dir() else {
        return;
    };
    let input = std::fs::read_to_string(dir.join("logpull/test-http-json.log")).unwrap();
    let expected =
        std::fs::read_to_string(dir.join("logpull/test-http-json.log-expected.json")).unwrap();
    let opts = Options {
        preserve_original: true,
        ..Default::default()
    };
    let n = run(Dataset::Logpull, &input, &expected, opts);
    if common::geoip_dir().is_some() {
        assert_eq!(n, 4);
    }
}
