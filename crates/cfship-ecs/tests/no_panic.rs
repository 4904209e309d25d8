//! Property tests: no input — arbitrary bytes, arbitrary JSON, Cloudflare records with arbitrary
//! field values — panics the splitter or the transform, and every record yields a valid document.

use cfship_ecs::{Dataset, Options, Outcome, Transformer};
use cfship_ndjson::{Mode, Reader};
use proptest::prelude::*;
use std::sync::OnceLock;

fn transformers() -> &'static [Transformer; 2] {
    static T: OnceLock<[Transformer; 2]> = OnceLock::new();
    T.get_or_init(|| {
        let t = Transformer::new(
            Options {
                preserve_original: true,
                ..Default::default()
            },
            None,
        )
        .unwrap();
        let fixed = t.with_options(Options {
            fix_upstream_bugs: true,
            namespace: Some("x".into()),
            ..Default::default()
        });
        [t, fixed]
    })
}

fn check(raw: &str) {
    for t in transformers() {
        for ds in [Dataset::Audit, Dataset::Logpull] {
            match t.transform(ds, raw, 0) {
                Outcome::Dropped => assert_eq!(ds, Dataset::Audit),
                Outcome::Doc(d) => {
                    let v: serde_json::Value =
                        serde_json::from_str(&d.source).expect("valid JSON document");
                    assert!(v.is_object());
                    assert_eq!(d.id.len(), 28);
                    assert!(v.get("@timestamp").is_some() || d.error.is_none());
                }
            }
        }
    }
}

const FIELDS: &[&str] = &[
    "EdgeStartTimestamp",
    "EdgeEndTimestamp",
    "ClientSSLProtocol",
    "ClientSSLCipher",
    "ClientRequestURI",
    "ClientRequestHost",
    "ClientRequestPath",
    "ClientRequestUserAgent",
    "EdgeServerIP",
    "BotScore",
    "CacheResponseBytes",
    "CacheResponseStatus",
    "EdgeResponseBytes",
    "EdgeRequestHost",
    "ClientIP",
    "ClientCountry",
    "ClientASN",
    "ClientSrcPort",
    "OriginIP",
    "FirewallMatchesActions",
    "ClientRequestProtocol",
    "OriginResponseHTTPExpires",
    "OriginResponseStatus",
    "EdgeResponseStatus",
    "ClientRequestBytes",
    "when",
    "action",
    "actor",
    "id",
    "interface",
    "metadata",
    "newValue",
    "newValueJson",
    "oldValue",
    "oldValueJson",
    "owner",
    "resource",
    "result",
];

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("none"),
            Just("TLSv1.3"),
            Just(""),
            Just("null"),
            Just("2021-07-08T14:02:38Z"),
            Just("1625752958812000000"),
            Just("::1"),
            Just("/a.b/c?d#e"),
            Just("HTTP/2"),
            Just("block"),
            Just("login"),
            Just("user")
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn cloudflare_record() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..24).prop_map(|fields| {
        let mut m = serde_json::Map::new();
        for (k, v) in fields {
            m.insert(k.to_string(), v);
        }
        serde_json::Value::Object(m).to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,300}") {
        check(&s);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_splitter(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut total = 0usize;
        let mut items = Reader::new(bytes.as_slice(), Mode::Lenient, 64);
        while let Some(item) = items.next() {
            let item = item.unwrap();
            total += item.bytes.len();
            check(&String::from_utf8_lossy(item.bytes));
        }
        prop_assert!(total <= bytes.len());
    }

    #[test]
    fn cloudflare_shaped_records_never_panic(rec in cloudflare_record()) {
        check(&rec);
    }
}
