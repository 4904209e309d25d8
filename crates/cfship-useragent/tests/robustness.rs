//! Arbitrary input never panics and always yields Elasticsearch's mandatory fields.

use std::sync::OnceLock;

use cfship_useragent::{CachedParser, UserAgentParser};
use proptest::prelude::*;

fn parser() -> &'static CachedParser {
    static PARSER: OnceLock<CachedParser> = OnceLock::new();
    PARSER.get_or_init(|| CachedParser::new(UserAgentParser::shared().expect("regexes"), 256))
}

/// Pieces of real user agents, so generated strings reach deep into the pattern lists.
const FRAGMENTS: &[&str] = &[
    "Mozilla/5.0 ",
    "(Windows NT 10.0; Win64; x64) ",
    "AppleWebKit/537.36 ",
    "(KHTML, like Gecko) ",
    "Chrome/",
    "Safari/",
    "Firefox/",
    "Version/",
    "Mobile ",
    "Android ",
    "iPhone OS ",
    "CPU OS ",
    "like Mac OS X",
    "Build/",
    "bot",
    "Spider",
    "crawler",
    "CFNetwork/",
    "Darwin/",
    "MSIE ",
    "Trident/",
    "OPR/",
    "Edge/",
    "SM-",
    "HTC ",
    "Nokia",
    "; wv)",
    "Linux; U; ",
    "rv:",
    "Gecko/",
    "$1",
    "\\",
    "(",
    ")",
    ";",
    "/",
    ".",
    "_",
    " ",
    "\n",
    "\r",
    "\u{85}",
    "\u{2028}",
    "é",
    "日本",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_unicode_never_panics(s in any::<String>()) {
        let ua = parser().parse(&s);
        prop_assert!(ua.name.is_some());
        prop_assert!(ua.device_name.is_some());
        // os.full exists exactly when os.version does, and is "name version".
        match (&ua.os_name, &ua.os_version, &ua.os_full) {
            (Some(n), Some(v), Some(f)) => prop_assert_eq!(f, &format!("{n} {v}")),
            (_, None, None) => {}
            other => prop_assert!(false, "inconsistent os fields {:?}", other),
        }
    }

    #[test]
    fn arbitrary_bytes_lossily_decoded_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let s = String::from_utf8_lossy(&bytes);
        let ua = parser().parse(&s);
        prop_assert!(ua.name.is_some());
    }

    #[test]
    fn fragment_soup_never_panics_and_cache_is_transparent(
        parts in proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
                "[0-9]{1,4}(\\.[0-9]{1,4}){0,3}",
            ],
            0..24,
        )
    ) {
        let s: String = parts.concat();
        let cached = parser().parse(&s);
        prop_assert_eq!(&*cached, &parser().parser().parse(&s));
    }
}
