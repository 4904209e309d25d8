//! Properties of the embedded regexes file and of the prefiltered matching.

use cfship_useragent::{Error, UserAgentParser, REGEXES_YAML};

/// Every pattern of the embedded file translates from Java and compiles (`new` fails on the
/// first one that does not), and all three lists are non-empty with the expected sizes of
/// uap-core 0.10.0.
#[test]
fn every_embedded_pattern_compiles() {
    let parser = match UserAgentParser::new() {
        Ok(p) => p,
        Err(e) => panic!("embedded regexes: {e}"),
    };
    let debug = format!("{parser:?}");
    assert!(debug.contains("user_agent_parsers: 323"), "{debug}");
    assert!(debug.contains("os_parsers: 164"), "{debug}");
    assert!(debug.contains("device_parsers: 616"), "{debug}");
}

#[test]
fn embedded_file_carries_the_elasticsearch_header() {
    assert!(REGEXES_YAML.starts_with("# Apache License, Version 2.0"));
    assert!(REGEXES_YAML.contains("\nuser_agent_parsers:\n"));
}

#[test]
fn malformed_files_are_errors_not_panics() {
    assert!(matches!(
        UserAgentParser::from_yaml("a: [b"),
        Err(Error::Yaml(_))
    ));
    assert!(matches!(
        UserAgentParser::from_yaml("- 1"),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        UserAgentParser::from_yaml("foo: 1"),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        UserAgentParser::from_yaml("user_agent_parsers:\n  - family_replacement: 'x'\n"),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        UserAgentParser::from_yaml("user_agent_parsers:\n  - regex: '(?=x)'\n"),
        Err(Error::Unsupported { index: 0, .. })
    ));
    assert!(matches!(
        UserAgentParser::from_yaml("os_parsers:\n  - regex: 'a'\n  - regex: '(a'\n"),
        Err(Error::Regex { index: 1, .. })
    ));
}

/// The replacement rules of Elasticsearch's `UserAgentSubpattern.match`, on a custom file.
#[test]
fn replacement_rules_follow_elasticsearch() {
    let yaml = r#"
user_agent_parsers:
  - regex: '^NoGroup'
  - regex: '^(Opt)?Fall (\d+)'
  - regex: '^Sub(\w+)/(\d+)'
    family_replacement: 'Pre $1 $1 $2'
  - regex: '^Lit/(\d+)'
    family_replacement: 'Lit'
    v1_replacement: '$1'
    v2_replacement: 'two'
  - regex: '^(Empty)/(\d+)\.(\d*)\.(x|)'
  - regex: '^(Five)/(\d)(\d)(\d)(\d)'
  - regex: '(?:Missing)(x)?/'
    family_replacement: 'M$1'
  - regex: '.'
    family_replacement: 'Any'
os_parsers:
  - regex: '(Os) (\d+)'
  - regex: '(NoVer)'
device_parsers:
  - regex: '(dev) (\w+)'
    regex_flag: 'i'
    device_replacement: '$1-$2'
"#;
    let p = UserAgentParser::from_yaml(yaml).expect("custom file");
    let name_ver = |ua: &str| {
        let r = p.parse(ua);
        (r.name.unwrap_or_default(), r.version)
    };
    // A match without a name falls through to the next pattern.
    assert_eq!(name_ver("NoGroup"), ("Any".into(), None));
    assert_eq!(name_ver("Fall 3"), ("Any".into(), None));
    assert_eq!(name_ver("OptFall 3"), ("Opt".into(), Some("3".into())));
    // Only the first `$1` is substituted, `$2` stays literal; versions come from groups 2..
    assert_eq!(name_ver("SubX/7"), ("Pre X $1 $2".into(), Some("7".into())));
    // Version replacements are verbatim.
    assert_eq!(name_ver("Lit/9"), ("Lit".into(), Some("$1.two".into())));
    // Empty groups are kept (dangling dots).
    assert_eq!(
        name_ver("Empty/1..x"),
        ("Empty".into(), Some("1..x".into()))
    );
    assert_eq!(name_ver("Empty/1.."), ("Empty".into(), Some("1..".into())));
    // At most four version parts.
    assert_eq!(
        name_ver("Five/1234"),
        ("Five".into(), Some("1.2.3.4".into()))
    );
    // `$1` with a non-participating group 1 stays literal.
    assert_eq!(name_ver("Missing/"), ("M$1".into(), None));
    assert_eq!(name_ver("Missingx/"), ("Mx".into(), None));
    assert_eq!(name_ver(""), ("Other".into(), None));

    let r = p.parse("Os 5");
    assert_eq!(r.os_name.as_deref(), Some("Os"));
    assert_eq!(r.os_version.as_deref(), Some("5"));
    assert_eq!(r.os_full.as_deref(), Some("Os 5"));
    let r = p.parse("NoVer");
    assert_eq!(r.os_name.as_deref(), Some("NoVer"));
    assert_eq!((r.os_version, r.os_full), (None, None));
    assert_eq!(r.device_name.as_deref(), Some("Other"));
    // Case-insensitive flag; device replacement substitutes `$1` only.
    assert_eq!(p.parse("DEV abc").device_name.as_deref(), Some("DEV-$2"));
}

/// The literal prefilter must never change the answer: compare with a brute-force scan of the
/// same patterns (file order, first match with a name wins) over a varied corpus.
#[test]
fn prefilter_agrees_with_sequential_scan() {
    let parser = UserAgentParser::shared().expect("regexes");
    let brute = BruteForce::new();
    let mut corpus: Vec<String> = CORPUS.iter().map(|s| (*s).to_owned()).collect();
    // Mix fragments so that many patterns' literals occur in unusual combinations.
    for (i, a) in CORPUS.iter().enumerate() {
        let b = CORPUS[(i * 7 + 3) % CORPUS.len()];
        corpus.push(format!("{}{}", &a[..a.len() / 2], &b[b.len() / 2..]));
        corpus.push(a.to_lowercase());
        corpus.push(a.to_uppercase());
    }
    for ua in &corpus {
        let d = parser.parse_details(ua);
        assert_eq!(
            d.user_agent.map(|v| v.name),
            brute.first("ua", ua),
            "ua of {ua:?}"
        );
        assert_eq!(d.os.map(|v| v.name), brute.first("os", ua), "os of {ua:?}");
        assert_eq!(
            d.device.map(|v| v.name),
            brute.first("device", ua),
            "device of {ua:?}"
        );
    }
}

/// Independent sequential implementation over single-pattern parsers built from the same file.
struct BruteForce {
    lists: Vec<(&'static str, Vec<UserAgentParser>)>,
}

impl BruteForce {
    fn new() -> Self {
        let doc = yaml_entries();
        let lists = doc
            .into_iter()
            .map(|(section, entries)| {
                let parsers = entries
                    .into_iter()
                    .map(|entry| {
                        let yaml = format!("{}:\n{entry}", section_key(section));
                        UserAgentParser::from_yaml(&yaml).expect("single pattern")
                    })
                    .collect();
                (section, parsers)
            })
            .collect();
        Self { lists }
    }

    fn first(&self, section: &str, ua: &str) -> Option<String> {
        let (_, parsers) = self.lists.iter().find(|(s, _)| *s == section)?;
        parsers.iter().find_map(|p| {
            let d = p.parse_details(ua);
            match section {
                "ua" => d.user_agent,
                "os" => d.os,
                _ => d.device,
            }
            .map(|v| v.name)
        })
    }
}

fn section_key(section: &str) -> &'static str {
    match section {
        "ua" => "user_agent_parsers",
        "os" => "os_parsers",
        _ => "device_parsers",
    }
}

/// Splits the embedded file into its list entries (each `  - regex:` item with its keys).
fn yaml_entries() -> Vec<(&'static str, Vec<String>)> {
    let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
    for line in REGEXES_YAML.lines() {
        match line {
            "user_agent_parsers:" => out.push(("ua", Vec::new())),
            "os_parsers:" => out.push(("os", Vec::new())),
            "device_parsers:" => out.push(("device", Vec::new())),
            _ => {
                let Some((_, entries)) = out.last_mut() else {
                    continue;
                };
                let trimmed = line.trim_start();
                if trimmed.starts_with('#') || trimmed.is_empty() {
                    continue;
                }
                if trimmed.starts_with("- ") {
                    entries.push(format!("{line}\n"));
                } else if let Some(last) = entries.last_mut() {
                    last.push_str(line);
                    last.push('\n');
                }
            }
        }
    }
    out
}

const CORPUS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.141 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/83.0.4103.97 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 8.0.0; SM-G960F Build/R16NW) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/62.0.3202.84 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/69.0.3497.105 Mobile/15E148 Safari/605.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 7.0; Pixel C Build/NRD90M; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/52.0.2743.98 Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 8172.45.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.64 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_2) AppleWebKit/601.3.9 (KHTML, like Gecko) Version/9.0.2 Safari/601.3.9",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:15.0) Gecko/20100101 Firefox/15.0.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 5.1; Trident/4.0)",
    "Opera/9.80 (Windows NT 6.0) Presto/2.12.388 Version/12.14",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Twitterbot/1.0",
    "curl/7.68.0",
    "Wget/1.13.4 (linux-gnu)",
    "python-requests/2.25.1",
    "Go-http-client/1.1",
    "okhttp/4.9.0",
    "Apache-HttpClient/4.5.13 (Java/11.0.10)",
    "Java/17.0.11",
    "WordPress/5.2.2;https://cf-analytics.com",
    "Mozilla/5.0(WindowsNT10.0;Win64;x64)AppleWebKit/537.36(KHTML,likeGecko)Chrome/91.0.4472.124Safari/537.36",
    "Mozilla/5.0 (Linux; U; Android 3.0; en-us; Xoom Build/HRI39) AppleWebKit/525.10+ (KHTML, like Gecko) Version/3.0.4 Mobile Safari/523.12.2",
    "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; EasouSpider; +http://www.easou.com/search/spider.html)",
    "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.101 Mobile Safari/537.36 EdgA/45.12.4.5121",
    "Mozilla/5.0 (Linux; Android 11; SAMSUNG SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/14.0 Chrome/87.0.4280.141 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; Redmi Note 8 Pro) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.3987.99 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2272.96 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (PlayStation 4 5.55) AppleWebKit/601.2 (KHTML, like Gecko)",
    "Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/601.6 (KHTML, like Gecko) NF/4.0.0.5.10 NintendoBrowser/5.1.0.13343",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 2.3) AppleWebKit/538.1 (KHTML, like Gecko) SamsungBrowser/1.0 TV Safari/538.1",
    "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
    "Mozilla/5.0 (BlackBerry; U; BlackBerry 9900; en) AppleWebKit/534.11+ (KHTML, like Gecko) Version/7.1.0.346 Mobile Safari/534.11+",
    "Dalvik/2.1.0 (Linux; U; Android 9; SM-J530F Build/PPR1.180610.011)",
    "Slack-ImgProxy (+https://api.slack.com/robots)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.124 Safari/537.36 OPR/77.0.4054.254",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:109.0) Gecko/20100101 Firefox/119.0",
    "Podcasts/1410.53 CFNetwork/1120 Darwin/19.0.0",
    "AppleCoreMedia/1.0.0.17E262 (iPhone; U; CPU OS 13_4_1 like Mac OS X; en_us)",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)",
    "Mozilla/5.0 (X11; Linux armv7l) AppleWebKit/537.36 (KHTML, like Gecko) Raspbian Chromium/78.0.3904.108 Chrome/78.0.3904.108 Safari/537.36",
    "Something I made up v42.0.1",
    "",
];
