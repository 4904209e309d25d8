//! Expected values are Elasticsearch's own output: Elastic's cloudflare pipeline golden files,
//! and the assertions of Elasticsearch's `UserAgentProcessorTests` / yaml REST tests.

use std::sync::{Arc, OnceLock};

use cfship_useragent::{CachedParser, Details, UserAgent, UserAgentParser, VersionedName};

fn parser() -> &'static UserAgentParser {
    static PARSER: OnceLock<Arc<UserAgentParser>> = OnceLock::new();
    PARSER.get_or_init(|| match UserAgentParser::shared() {
        Ok(p) => p,
        Err(e) => panic!("embedded regexes must load: {e}"),
    })
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// `(name, version, os (name, version, full), device)`.
fn expect(
    name: &str,
    version: Option<&str>,
    os: Option<(&str, Option<&str>, Option<&str>)>,
    device: &str,
) -> UserAgent {
    UserAgent {
        name: s(name),
        version: version.map(str::to_owned),
        os_name: os.map(|o| o.0.to_owned()),
        os_version: os.and_then(|o| o.1.map(str::to_owned)),
        os_full: os.and_then(|o| o.2.map(str::to_owned)),
        device_name: s(device),
    }
}

#[test]
fn golden_cloudflare_wordpress_bot() {
    assert_eq!(
        parser().parse("WordPress/5.2.2;https://cf-analytics.com"),
        expect("WordPress", Some("5.2.2"), None, "Spider")
    );
}

#[test]
fn golden_cloudflare_chrome_without_spaces_emits_literal_dollar_one() {
    let ua = "Mozilla/5.0(WindowsNT10.0;Win64;x64)AppleWebKit/537.36(KHTML,likeGecko)Chrome/91.0.4472.124Safari/537.36";
    assert_eq!(
        parser().parse(ua),
        expect(
            "Chrome",
            Some("91.0.4472.124"),
            Some(("Windows", Some("$1"), Some("Windows $1"))),
            "Other"
        )
    );
}

/// Every document of the golden Logpull file, against its expected `user_agent` object.
/// Reads `shared/golden` beside the project when present (it is not part of the repository).
#[test]
fn golden_logpull_file_when_available() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/golden/elastic-cloudflare/logpull/test-http-json.log-expected.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("golden file not found at {}, skipping", path.display());
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(&text).expect("golden JSON");
    let mut checked = 0;
    for event in doc["expected"].as_array().expect("expected array") {
        let ua = &event["user_agent"];
        let Some(original) = ua["original"].as_str() else {
            continue;
        };
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let want = UserAgent {
            name: text(&ua["name"]),
            version: text(&ua["version"]),
            os_name: text(&ua["os"]["name"]),
            os_version: text(&ua["os"]["version"]),
            os_full: text(&ua["os"]["full"]),
            device_name: text(&ua["device"]["name"]),
        };
        assert_eq!(parser().parse(original), want, "{original}");
        checked += 1;
    }
    assert!(checked > 0, "no user_agent object in {}", path.display());
}

#[test]
fn es_common_browser_mac_chrome() {
    let ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_2) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/33.0.1750.149 Safari/537.36";
    assert_eq!(
        parser().parse(ua),
        expect(
            "Chrome",
            Some("33.0.1750.149"),
            Some(("Mac OS X", Some("10.9.2"), Some("Mac OS X 10.9.2"))),
            "Mac"
        )
    );
}

#[test]
fn es_windows_10_chrome() {
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.141 Safari/537.36";
    assert_eq!(
        parser().parse(ua),
        expect(
            "Chrome",
            Some("87.0.4280.141"),
            Some(("Windows", Some("10"), Some("Windows 10"))),
            "Other"
        )
    );
}

#[test]
fn es_uncommon_device_xoom() {
    let ua = "Mozilla/5.0 (Linux; U; Android 3.0; en-us; Xoom Build/HRI39) AppleWebKit/525.10+ (KHTML, like Gecko) Version/3.0.4 Mobile Safari/523.12.2";
    assert_eq!(
        parser().parse(ua),
        expect(
            "Android",
            Some("3.0"),
            Some(("Android", Some("3.0"), Some("Android 3.0"))),
            "Motorola Xoom"
        )
    );
}

#[test]
fn es_spider_without_version() {
    let ua = "Mozilla/5.0 (compatible; EasouSpider; +http://www.easou.com/search/spider.html)";
    assert_eq!(
        parser().parse(ua),
        expect("EasouSpider", None, None, "Spider")
    );
}

#[test]
fn es_tablet_ipad_safari() {
    let ua = "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1";
    assert_eq!(
        parser().parse(ua),
        expect(
            "Mobile Safari",
            Some("12.1"),
            Some(("iOS", Some("12.2"), Some("iOS 12.2"))),
            "iPad"
        )
    );
}

#[test]
fn es_unknown_string_is_other() {
    assert_eq!(
        parser().parse("Something I made up v42.0.1"),
        expect("Other", None, None, "Other")
    );
}

/// Elasticsearch's `UserAgentProcessorTests.testFirefoxVersion` asserts `128.0` since the fix of
/// elastic/elasticsearch#116950 (PR #117213, 8.16/8.17). Before it, which is the 8.10/8.11 era
/// this crate follows, the processor joined the empty third group and emitted `128.0.` (the
/// issue's reported output).
#[test]
fn es_firefox_on_windows_pre_8_16_trailing_dot() {
    let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
    assert_eq!(
        parser().parse(ua),
        expect(
            "Firefox",
            Some("128.0."),
            Some(("Windows", Some("10"), Some("Windows 10"))),
            "Other"
        )
    );
}

/// Elasticsearch 8.13 answer quoted in elastic/elasticsearch#108906 (the version comes from the
/// generic bot matcher, hence the odd `0.11.`: group 4 took part with an empty match).
#[test]
fn es_java_client_quirky_version() {
    assert_eq!(
        parser().parse("Java/17.0.11"),
        expect("Java", Some("0.11."), None, "Spider")
    );
}

#[test]
fn empty_and_garbage_strings_are_other() {
    for ua in [
        "",
        " ",
        "\u{0}\u{1}\u{2}",
        "%%%%",
        "ü¨ø†¥π",
        "(((((",
        ";;;;;",
    ] {
        let got = parser().parse(ua);
        assert_eq!(got.name.as_deref(), Some("Other"), "{ua:?}");
        assert_eq!(got.device_name.as_deref(), Some("Other"), "{ua:?}");
        assert_eq!(got.os_name, None, "{ua:?}");
        assert_eq!(got.version, None, "{ua:?}");
    }
}

#[test]
fn very_long_string_is_parsed() {
    let prefix = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.141 Safari/537.36 ";
    let ua = format!("{prefix}{}", "x (y; z) ".repeat(20_000));
    let got = parser().parse(&ua);
    assert_eq!(got.name.as_deref(), Some("Chrome"));
    assert_eq!(got.os_full.as_deref(), Some("Windows 10"));
}

#[test]
fn cached_parser_returns_the_uncached_result_and_bounds_its_size() {
    let cached = CachedParser::new(UserAgentParser::shared().expect("regexes"), 64);
    let ua = "WordPress/5.2.2;https://cf-analytics.com";
    let first = cached.parse(ua);
    let second = cached.parse(ua);
    assert_eq!(*first, parser().parse(ua));
    assert!(
        Arc::ptr_eq(&first, &second),
        "second lookup must come from the cache"
    );
    for i in 0..1000 {
        let ua = format!("agent-{i}/1.0");
        assert_eq!(*cached.parse(&ua), parser().parse(&ua));
    }
    assert!(
        cached.len() <= 64 + 64 / 2,
        "cache holds {} entries",
        cached.len()
    );

    // Strings above the length limit are parsed but not cached.
    let long = format!(
        "WordPress/5.2.2;{}",
        "a".repeat(cfship_useragent::MAX_CACHED_LEN)
    );
    let a = cached.parse(&long);
    let b = cached.parse(&long);
    assert_eq!(*a, *b);
    assert!(!Arc::ptr_eq(&a, &b));

    let uncached = CachedParser::new(UserAgentParser::shared().expect("regexes"), 0);
    assert_eq!(*uncached.parse(ua), parser().parse(ua));
    assert!(uncached.is_empty());
}

#[test]
fn default_cached_parsers_share_one_compiled_parser() {
    let a = CachedParser::with_default_regexes().expect("regexes");
    let b = CachedParser::with_default_regexes().expect("regexes");
    assert!(std::ptr::eq(a.parser(), b.parser()));
    let shared = UserAgentParser::shared().expect("regexes");
    assert!(std::ptr::eq(a.parser(), &*shared));
    // Separate caches.
    a.parse("curl/7.68.0");
    assert_eq!((a.len(), b.len()), (1, 0));
}

#[test]
fn cached_parser_is_usable_from_many_threads() {
    let cached = Arc::new(CachedParser::new(
        UserAgentParser::shared().expect("regexes"),
        128,
    ));
    let agents = [
        "WordPress/5.2.2;https://cf-analytics.com",
        "Something I made up v42.0.1",
        "Java/17.0.11",
    ];
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let cached = Arc::clone(&cached);
            std::thread::spawn(move || {
                for i in 0..200 {
                    let ua = agents[(i + t) % agents.len()];
                    assert_eq!(*cached.parse(ua), parser().parse(ua));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(cached.len(), agents.len());
}

#[test]
fn details_expose_raw_match_parts() {
    let d: Details = parser().parse_details("WordPress/5.2.2;https://cf-analytics.com");
    assert_eq!(
        d.user_agent,
        Some(VersionedName {
            name: "WordPress".into(),
            major: s("5"),
            minor: s("2"),
            patch: s("2"),
            build: None,
        })
    );
    assert_eq!(d.os, None);
    assert_eq!(d.device.map(|v| v.name).as_deref(), Some("Spider"));
}

/// Common agents, with the values the Java processor (OpenSearch 3.6.0 running this crate's
/// regexes file, see `tests/fixtures/README.md`) emitted for them.
#[test]
fn common_agents_as_recorded_from_the_java_processor() {
    let cases: &[(&str, UserAgent)] = &[
        ("curl/7.68.0", expect("curl", Some("7.68.0"), None, "Other")),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            expect("Googlebot", Some("2.1"), None, "Spider"),
        ),
        (
            "python-requests/2.31.0",
            expect("Python Requests", Some("2.31"), None, "Other"),
        ),
        (
            // Linux without a version: os.name only, no os.version / os.full.
            "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
            expect("Firefox", Some("115.0."), Some(("Linux", None, None)), "Other"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            expect("Mobile Safari", Some("17.1"), Some(("iOS", Some("17.1"), Some("iOS 17.1"))), "iPhone"),
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
            expect("Safari", Some("17.1"), Some(("Mac OS X", Some("10.15.7"), Some("Mac OS X 10.15.7"))), "Mac"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            expect("Edge", Some("120.0.2210.91"), Some(("Windows", Some("10"), Some("Windows 10"))), "Other"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.163 Mobile Safari/537.36",
            expect("Chrome Mobile", Some("119.0.6045.163"), Some(("Android", Some("13"), Some("Android 13"))), "Samsung SM-S918B"),
        ),
        // Java's `$` also matches before a final line terminator.
        ("ESPN APP\n", expect("ESPN", None, None, "Other")),
        ("", expect("Other", None, None, "Other")),
    ];
    for (ua, want) in cases {
        assert_eq!(&parser().parse(ua), want, "{ua:?}");
    }
}
