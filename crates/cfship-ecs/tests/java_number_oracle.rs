//! cfship's number conversions against the JDK: `Long.decode` (the `convert` processor's `long`),
//! `Long.parseLong` (UNIX_MS and the Painless timestamp scripts) and `Double.toString` (how
//! Elasticsearch writes a double into a message), on thousands of generated inputs, one JVM.
//! `Double.toString` changed in JDK 19 (shortest decimal); Elasticsearch bundles a newer JDK, so
//! that part runs only on a JDK ≥ 19 (announced with `SKIPPED:` otherwise, failing under CI=true).

mod oracle;

use cfship_ecs::convert::{
    es_convert_long, java_double_to_string, java_long_decode, java_long_decode_msg, java_parse_long,
};
use oracle::{Diffs, Rng};
use serde_json::{json, Value};

const N: usize = 4000;

fn gen_long(r: &mut Rng) -> String {
    let sign = r.pick(&["", "", "", "-", "+", "--", "+-"]);
    let prefix = r.pick(&["", "", "", "0x", "0X", "#", "0", "00", "x", "0b"]);
    let body = match r.below(8) {
        0 => (r.next() % 1000).to_string(),
        1 => r.next().to_string(),
        2 => format!("{:x}", r.next() >> r.below(64)),
        3 => r
            .pick(&[
                "9223372036854775807",
                "9223372036854775808",
                "8000000000000000",
                "7fffffffffffffff",
                "777777777777777777777",
                "1000000000000000000000",
            ])
            .to_string(),
        4 => r
            .pick(&[
                "",
                "1.0",
                "1e3",
                " 1",
                "1 ",
                "١٢٣",
                "۱۲",
                "１２",
                "ＦＦ",
                "ｆ",
                "१२३",
                "12_3",
                "0x",
                "abc",
                "ff",
                "FF",
                "08",
                "09",
                "\u{1d7ce}1",
            ])
            .to_string(),
        5 => (r.next() % 100_000_000_000).to_string(),
        _ => (r.next() % 10_000_000_000_000_000_000).to_string(),
    };
    format!("{sign}{prefix}{body}")
}

fn gen_double(r: &mut Rng) -> f64 {
    match r.below(6) {
        0 => f64::from_bits(r.next()),
        1 => (r.next() % 100_000) as f64 / 1000.0,
        2 => (r.next() % 1_000_000_000) as f64 * 10f64.powi(r.below(40) as i32 - 20),
        3 => *r.pick(&[
            &5e-324,
            &1e23,
            &2e-3,
            &1e7,
            &9999999.0,
            &0.001,
            &1e-3,
            &f64::from_bits(0x44B5_2D02_C7E1_4AF6),
            &1.0,
            &100.0,
            &1e21,
            &123456789012.0,
            &4.35,
            &0.1,
            &(1.0 / 3.0),
            &f64::MAX,
            &f64::MIN_POSITIVE,
        ]),
        4 => -((r.next() % 10_000) as f64) / 7.0,
        _ => (r.next() >> 11) as f64,
    }
}

#[test]
fn number_conversions_match_the_jdk() {
    let Some(jdk) = oracle::jdk() else {
        oracle::skip_or_fail("no JDK found (java/javac on PATH or CFSHIP_ORACLE_JAVA_HOME)");
        return;
    };
    let mut rng = Rng::from_env("number_conversions_match_the_jdk");
    let mut cases: Vec<(&str, String)> = Vec::new();
    for _ in 0..N {
        let s = gen_long(&mut rng);
        cases.push(("decode", s.clone()));
        cases.push(("convertLong", s.clone()));
        cases.push(("parseLong", s));
    }
    let doubles = jdk.feature >= 19;
    if doubles {
        for _ in 0..N {
            let d = gen_double(&mut rng);
            // Rust's shortest round-trip text: exact input for Java's parseDouble.
            cases.push(("double", format!("{d:e}")));
        }
    } else {
        oracle::skip_or_fail(&format!(
            "Double.toString needs a JDK >= 19 (found {}): set CFSHIP_ORACLE_JAVA_HOME",
            jdk.feature
        ));
    }
    let classes = oracle::compile(
        &jdk,
        "number",
        &["OracleJson.java", "NumberOracle.java"],
        None,
    );
    let lines: Vec<Value> = cases.iter().map(|(op, s)| json!([op, s])).collect();
    let answers = oracle::run(&jdk, &classes, None, "NumberOracle", &lines);
    let mut diffs = Diffs::new("Long.decode / Long.parseLong / Double.toString");
    for ((op, s), java) in cases.iter().zip(answers) {
        if *op == "convertLong" {
            let rust = match es_convert_long(s) {
                Ok(v) => json!({"ok": v.to_string()}),
                Err(m) => json!({"err": m}),
            };
            diffs.check(&format!("{op} {s}"), &java, &rust);
            continue;
        }
        if *op == "decode" {
            let rust = match java_long_decode_msg(s) {
                Ok(v) => json!({"ok": v.to_string()}),
                Err(m) => json!({"err": m}),
            };
            assert_eq!(java_long_decode(s).is_some(), rust.get("ok").is_some());
            diffs.check(&format!("{op} {s}"), &java, &rust);
            continue;
        }
        let rust = match *op {
            "parseLong" => java_parse_long(s).map(|v| v.to_string()),
            _ => s.parse::<f64>().ok().map(java_double_to_string),
        };
        let rust = match rust {
            Some(v) => json!({"ok": v}),
            None => json!({"err": "NumberFormatException"}),
        };
        diffs.check(&format!("{op} {s}"), &java, &rust);
    }
    diffs.finish();
}
