//! Deterministic data of the simulator: every Logpull record and audit event is a pure function of
//! (seed, zone/account, time), so the ground truth can be computed without HTTP.

use std::fmt::Write as _;

pub const NS_PER_SEC: i64 = 1_000_000_000;
pub const NS_PER_MIN: i64 = 60 * NS_PER_SEC;
pub const NS_PER_HOUR: i64 = 3600 * NS_PER_SEC;

/// SplitMix64 finalizer.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

pub fn h3(seed: u64, a: u64, b: u64, c: u64) -> u64 {
    mix(seed ^ mix(a ^ mix(b ^ mix(c))))
}

/// Small deterministic generator for record contents.
pub struct Rng(u64);
impl Rng {
    pub fn new(s: u64) -> Self {
        Rng(s)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    /// One of `xs` with probability proportional to its weight (the second element).
    pub fn pick_weighted<'a, T>(&mut self, xs: &'a [(T, u32)]) -> &'a T {
        let total: u64 = xs.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut n = self.below(total);
        for (x, w) in xs {
            if n < u64::from(*w) {
                return x;
            }
            n -= u64::from(*w);
        }
        &xs[xs.len() - 1].0
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------------
// Logpull

/// Number of records received in unix minute `minute` for a zone.
pub fn records_in_minute(seed: u64, zone: &str, rpm: u32, minute: i64) -> u64 {
    if rpm == 0 {
        return 0;
    }
    let h = h3(seed, fnv(zone), 0x10C0, minute as u64);
    // About 1 minute in 16 is empty (empty windows are normal for Logpull).
    if h.is_multiple_of(16) {
        return 0;
    }
    let u = ((h >> 11) as f64) / (1u64 << 53) as f64;
    ((f64::from(rpm) * (0.5 + u)).round() as u64).max(1)
}

/// Received time (unix ns) and record hash of record `i` of `n` in `minute`.
pub fn record_at(seed: u64, zone: &str, minute: i64, i: u64, n: u64) -> (i64, u64) {
    let h = h3(seed, fnv(zone), minute as u64, i);
    let slot = NS_PER_MIN as u64 / n.max(1);
    let off = i * slot + (h % slot.max(1));
    (minute * NS_PER_MIN + off as i64, h)
}

pub fn ray_id(h: u64) -> String {
    format!("{:016x}", mix(h ^ 0x5241_5949_4400_0000))
}

/// Calls `f(received_ns, record_hash)` for every record of `zone` with received time in
/// `[start_ns, end_ns)`, in time order.
pub fn for_each_record(
    seed: u64,
    zone: &str,
    rpm: u32,
    start_ns: i64,
    end_ns: i64,
    mut f: impl FnMut(i64, u64),
) {
    if end_ns <= start_ns {
        return;
    }
    let first = start_ns.div_euclid(NS_PER_MIN);
    let last = (end_ns - 1).div_euclid(NS_PER_MIN);
    for m in first..=last {
        let n = records_in_minute(seed, zone, rpm, m);
        for i in 0..n {
            let (t, h) = record_at(seed, zone, m, i, n);
            if t >= start_ns && t < end_ns {
                f(t, h);
            }
        }
    }
}

/// Timestamp format of the `timestamps` parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timestamps {
    /// Integer nanoseconds (Cloudflare's default).
    #[default]
    UnixNano,
    /// Integer seconds.
    Unix,
    /// RFC3339 string with second precision.
    Rfc3339,
}

impl Timestamps {
    /// The value of the `timestamps` query parameter.
    pub fn as_param(&self) -> &'static str {
        match self {
            Timestamps::UnixNano => "unixnano",
            Timestamps::Unix => "unix",
            Timestamps::Rfc3339 => "rfc3339",
        }
    }
}

/// (country, ASN, network) and its share of the traffic, roughly as a global site sees it.
const COUNTRIES: &[((&str, u32, &str), u32)] = &[
    (("us", 7922, "Comcast"), 14),
    (("us", 15169, "Google"), 8),
    (("us", 16509, "Amazon"), 8),
    (("de", 3320, "Deutsche Telekom"), 8),
    (("gb", 2856, "BT"), 6),
    (("fr", 3215, "Orange"), 5),
    (("nl", 1136, "KPN"), 3),
    (("se", 3301, "Telia"), 2),
    (("jp", 2516, "KDDI"), 5),
    (("br", 28573, "Claro"), 5),
    (("in", 9829, "BSNL"), 6),
    (("au", 1221, "Telstra"), 2),
    (("ca", 812, "Rogers"), 3),
    (("cn", 4134, "Chinanet"), 5),
    (("ru", 12389, "Rostelecom"), 3),
    (("za", 37457, "Telkom"), 1),
    (("sg", 4657, "StarHub"), 2),
    (("es", 3352, "Telefonica"), 2),
    (("it", 3269, "Telecom Italia"), 2),
    (("pl", 5617, "Orange Polska"), 2),
    (("xx", 0, "unknown"), 1),
    (("t1", 0, "tor"), 1),
];

const HOSTS: &[&str] = &[
    "www.example.com",
    "api.example.com",
    "example.com",
    "static.example.com",
];

const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/login",
    "/api/v1/users",
    "/api/v1/orders/42",
    "/static/app.4f2a.js",
    "/static/style.css",
    "/images/logo.png",
    "/wp-login.php",
    "/.env",
    "/search",
    "/favicon.ico",
    "/robots.txt",
    "/cart/checkout",
];

const QUERIES: &[&str] = &[
    "",
    "",
    "",
    "?q=shoes&page=2",
    "?id=1%27%20OR%201=1",
    "?utm_source=newsletter",
];

const USER_AGENTS: &[(&str, &str)] = &[
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "desktop"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0", "desktop"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "mobile"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36", "mobile"),
    ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", "tablet"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "desktop"),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "desktop"),
    ("curl/8.5.0", "desktop"),
    ("python-requests/2.32.3", "desktop"),
    ("Go-http-client/2.0", "desktop"),
    ("WordPress/6.6.2; https://example.com", "desktop"),
    ("", "unknown"),
];

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS",
];
const PROTOCOLS: &[&str] = &[
    "HTTP/1.0", "HTTP/1.1", "HTTP/1.1", "HTTP/2", "HTTP/2", "HTTP/2", "HTTP/3",
];
const TLS: &[(&str, &str)] = &[
    ("TLSv1.3", "AEAD-AES128-GCM-SHA256"),
    ("TLSv1.3", "AEAD-CHACHA20-POLY1305-SHA256"),
    ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"),
    ("TLSv1.1", "ECDHE-RSA-AES128-SHA"),
    ("none", "NONE"),
];
const CACHE: &[(&str, u32)] = &[
    ("hit", 35),
    ("miss", 15),
    ("dynamic", 35),
    ("expired", 4),
    ("bypass", 5),
    ("revalidated", 2),
    ("updating", 1),
    ("stale", 1),
    ("unknown", 2),
];
const STATUSES: &[(u16, u32)] = &[
    (200, 620),
    (204, 10),
    (206, 10),
    (301, 25),
    (302, 30),
    (304, 120),
    (400, 10),
    (401, 10),
    (403, 30),
    (404, 60),
    (429, 10),
    (499, 8),
    (500, 8),
    (502, 6),
    (503, 6),
    (520, 4),
    (522, 3),
];
const COLOS: &[(&str, u32)] = &[
    ("FRA", 12),
    ("AMS", 14),
    ("LHR", 20),
    ("CDG", 21),
    ("IAD", 28),
    ("SJC", 30),
    ("NRT", 43),
    ("SIN", 51),
    ("GRU", 77),
    ("SYD", 59),
];
const FW_ACTIONS: &[(&str, u32)] = &[
    ("block", 20),
    ("allow", 10),
    ("challenge", 10),
    ("jschallenge", 5),
    ("managedChallenge", 15),
    ("simulate", 10),
    ("log", 25),
    ("bypass", 5),
];
const FW_SOURCES: &[&str] = &[
    "firewallRules",
    "firewallManaged",
    "firewallCustom",
    "waf",
    "rateLimit",
    "botManagement",
    "securityLevel",
    "l7ddos",
];
const CONTENT_TYPES: &[&str] = &[
    "text/html",
    "application/json",
    "application/javascript",
    "text/css",
    "image/png",
    "image/webp",
    "",
];
/// Engines for human traffic ("Verified Bot" and "Heuristics" are chosen for bots).
const BOT_SRC: &[&str] = &[
    "Not Computed",
    "Machine Learning",
    "Machine Learning",
    "Behavioral Analysis",
    "JS Fingerprinting",
    "Cloudflare Service",
];
const IP_CLASS: &[&str] = &[
    "noRecord",
    "noRecord",
    "noRecord",
    "searchEngine",
    "scan",
    "badHost",
    "monitoringService",
    "allowlist",
    "tor",
    "unknown",
];
const PATHING: &[(&str, &str, &str)] = &[
    ("wl", "macro", "nr"),
    ("wl", "macro", "nr"),
    ("ban", "filter_based_firewall", "captchaNew"),
    ("ban", "filter_based_firewall", "jschlNew"),
    ("ban", "user", "ip"),
    ("chl", "bic", "captchaSucc"),
    ("wl", "filter_based_firewall", "nr"),
];

/// Fields the simulator knows (Elastic's default list + more current Logpull fields).
pub const KNOWN_FIELDS: &[&str] = &[
    "Action",
    "BotDetectionTags",
    "BotScore",
    "BotScoreSrc",
    "BotTags",
    "CacheCacheStatus",
    "CacheReserveUsed",
    "CacheResponseBytes",
    "CacheResponseStatus",
    "CacheTieredFill",
    "ClientASN",
    "ClientCity",
    "ClientCountry",
    "ClientDeviceType",
    "ClientIP",
    "ClientIPClass",
    "ClientLatitude",
    "ClientLongitude",
    "ClientRegionCode",
    "ClientRequestBytes",
    "ClientRequestHost",
    "ClientRequestMethod",
    "ClientRequestPath",
    "ClientRequestProtocol",
    "ClientRequestReferer",
    "ClientRequestScheme",
    "ClientRequestSource",
    "ClientRequestURI",
    "ClientRequestUserAgent",
    "ClientSSLCipher",
    "ClientSSLProtocol",
    "ClientSrcPort",
    "ClientTCPRTTMs",
    "ClientXRequestedWith",
    "EdgeColoCode",
    "EdgeColoID",
    "EdgeEndTimestamp",
    "EdgePathingOp",
    "EdgePathingSrc",
    "EdgePathingStatus",
    "EdgeRateLimitAction",
    "EdgeRateLimitID",
    "EdgeRequestHost",
    "EdgeResponseBodyBytes",
    "EdgeResponseBytes",
    "EdgeResponseCompressionRatio",
    "EdgeResponseContentType",
    "EdgeResponseStatus",
    "EdgeServerIP",
    "EdgeStartTimestamp",
    "EdgeTimeToFirstByteMs",
    "FirewallMatchesActions",
    "FirewallMatchesRuleIDs",
    "FirewallMatchesSources",
    "JA3Hash",
    "JA4",
    "OriginIP",
    "OriginResponseBytes",
    "OriginResponseDurationMs",
    "OriginResponseHTTPExpires",
    "OriginResponseHTTPLastModified",
    "OriginResponseStatus",
    "OriginResponseTime",
    "OriginSSLProtocol",
    "ParentRayID",
    "RayID",
    "SecurityAction",
    "SecurityActions",
    "SecurityLevel",
    "SecurityRuleDescription",
    "SecurityRuleID",
    "SecurityRuleIDs",
    "SecuritySources",
    "WAFAction",
    "WAFAttackScore",
    "WAFFlags",
    "WAFMatchedVar",
    "WAFProfile",
    "WAFRCEAttackScore",
    "WAFRuleID",
    "WAFRuleMessage",
    "WAFSQLiAttackScore",
    "WAFXSSAttackScore",
    "WorkerCPUTime",
    "WorkerStatus",
    "WorkerSubrequest",
    "WorkerSubrequestCount",
    "WorkerWallTimeUs",
    "ZoneID",
    "ZoneName",
];

/// Fields that need Bot Management (403 when the zone does not have it).
pub const BOT_FIELDS: &[&str] = &[
    "BotScore",
    "BotScoreSrc",
    "BotTags",
    "BotDetectionTags",
    "JA3Hash",
    "JA4",
];

/// Cloudflare's default field set when `fields` is omitted.
pub const DEFAULT_FIELDS: &[&str] = &[
    "ClientIP",
    "ClientRequestHost",
    "ClientRequestMethod",
    "ClientRequestURI",
    "EdgeEndTimestamp",
    "EdgeResponseBytes",
    "EdgeResponseStatus",
    "EdgeStartTimestamp",
    "RayID",
];

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => {
                let _ = write!(VecWriter(out), "\\u{:04x}", b);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

struct VecWriter<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn push_ts(out: &mut Vec<u8>, ns: i64, ts: Timestamps) {
    match ts {
        Timestamps::UnixNano => {
            let _ = write!(VecWriter(out), "{ns}");
        }
        Timestamps::Unix => {
            let _ = write!(VecWriter(out), "{}", ns.div_euclid(NS_PER_SEC));
        }
        Timestamps::Rfc3339 => {
            let s = chrono::DateTime::from_timestamp(ns.div_euclid(NS_PER_SEC), 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            push_str(out, &s);
        }
    }
}

fn push_strs(out: &mut Vec<u8>, xs: &[&str]) {
    out.push(b'[');
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, x);
    }
    out.push(b']');
}

fn hex(out: &mut String, rng: &mut Rng, n: usize) {
    while out.len() < n {
        let _ = write!(out, "{:016x}", rng.next_u64());
    }
    out.truncate(n);
}

/// Writes one Logpull record (JSON object, no newline) with the requested fields.
pub fn write_record(
    out: &mut Vec<u8>,
    zone: &str,
    recv_ns: i64,
    h: u64,
    fields: &[&str],
    ts: Timestamps,
) {
    let mut r = Rng::new(h);
    let country = *r.pick_weighted(COUNTRIES);
    let (ua, device) = *r.pick(USER_AGENTS);
    let is_bot = ua.contains("bot")
        || ua.starts_with("curl")
        || ua.starts_with("python")
        || ua.starts_with("Go-");
    let ipv6 = r.chance(0.3);
    let ip = if ipv6 {
        format!(
            "2a02:{:x}:{:x}:{:x}::{:x}",
            r.below(0xffff),
            r.below(0xffff),
            r.below(0xffff),
            r.below(0xffff)
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            [89u64, 81, 175, 216, 2, 67, 185, 203][r.below(8) as usize],
            r.below(256),
            r.below(256),
            1 + r.below(254)
        )
    };
    let host = *r.pick(HOSTS);
    let path = *r.pick(PATHS);
    let query = *r.pick(QUERIES);
    let method = *r.pick(METHODS);
    let proto = *r.pick(PROTOCOLS);
    let (tls, cipher) = if proto == "HTTP/1.0" {
        ("none", "NONE")
    } else {
        *r.pick(TLS)
    };
    let status = *r.pick_weighted(STATUSES);
    let cache = *r.pick_weighted(CACHE);
    let (colo, colo_id) = *r.pick(COLOS);
    let fw = r.chance(0.25);
    let fw_n = if fw { 1 + r.below(2) as usize } else { 0 };
    let mut fw_actions = Vec::new();
    let mut fw_sources = Vec::new();
    let mut fw_rules = Vec::new();
    for _ in 0..fw_n {
        fw_actions.push(*r.pick_weighted(FW_ACTIONS));
        fw_sources.push(*r.pick(FW_SOURCES));
        let mut s = String::new();
        hex(&mut s, &mut r, 32);
        fw_rules.push(s);
    }
    let fw_rule_refs: Vec<&str> = fw_rules.iter().map(String::as_str).collect();
    let (pop, psrc, pstat) = if fw_actions.first() == Some(&"block") {
        ("ban", "filter_based_firewall", "nr")
    } else {
        *r.pick(PATHING)
    };
    let edge_bytes = 200 + r.below(200_000);
    let origin_status = if cache == "hit" { 0 } else { u64::from(status) };
    let start_ns = recv_ns - (1 + r.below(3000)) as i64 * 1_000_000;
    let end_ns = start_ns + (1 + r.below(900)) as i64 * 1_000_000;
    let mut rid = String::new();
    let _ = write!(rid, "{}", ray_id(h));
    let bot_score = if is_bot {
        1 + r.below(29)
    } else {
        30 + r.below(70)
    };
    let mut ja3 = String::new();
    hex(&mut ja3, &mut r, 32);
    let zone_num = fnv(zone) % 900_000_000 + 100_000_000;

    out.push(b'{');
    let mut first = true;
    for f in fields {
        if !first {
            out.push(b',');
        }
        first = false;
        push_str(out, f);
        out.push(b':');
        match *f {
            "Action" => push_str(out, ""),
            "BotScore" => {
                let _ = write!(VecWriter(&mut *out), "{bot_score}");
            }
            "BotScoreSrc" => push_str(
                out,
                if ua.contains("Googlebot") || ua.contains("bingbot") {
                    "Verified Bot"
                } else if is_bot {
                    ["Heuristics", "Machine Learning"][(h % 2) as usize]
                } else {
                    BOT_SRC[(h % BOT_SRC.len() as u64) as usize]
                },
            ),
            "BotTags" | "BotDetectionTags" => {
                if is_bot {
                    push_strs(out, &["api"])
                } else {
                    push_strs(out, &[])
                }
            }
            "CacheCacheStatus" => push_str(out, cache),
            "CacheReserveUsed" => out.extend_from_slice(b"false"),
            "CacheResponseBytes" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{}",
                    if cache == "hit" { edge_bytes } else { 0 }
                );
            }
            "CacheResponseStatus" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{}",
                    if cache == "hit" { u64::from(status) } else { 0 }
                );
            }
            "CacheTieredFill" => {
                out.extend_from_slice(if cache == "miss" { b"true" } else { b"false" })
            }
            "ClientASN" => {
                let _ = write!(VecWriter(&mut *out), "{}", country.1);
            }
            "ClientCity" => push_str(out, ""),
            "ClientCountry" => push_str(out, country.0),
            "ClientDeviceType" => push_str(out, device),
            "ClientIP" => push_str(out, &ip),
            "ClientIPClass" => push_str(out, IP_CLASS[(h % IP_CLASS.len() as u64) as usize]),
            "ClientLatitude" | "ClientLongitude" => push_str(out, "0.000000"),
            "ClientRegionCode" => push_str(out, ""),
            "ClientRequestBytes" => {
                let _ = write!(VecWriter(&mut *out), "{}", 300 + (h % 5000));
            }
            "ClientRequestHost" => push_str(out, host),
            "ClientRequestMethod" => push_str(out, method),
            "ClientRequestPath" => push_str(out, path),
            "ClientRequestProtocol" => push_str(out, proto),
            "ClientRequestReferer" => push_str(
                out,
                if h.is_multiple_of(3) {
                    ""
                } else {
                    "https://www.example.com/"
                },
            ),
            "ClientRequestScheme" => push_str(out, if tls == "none" { "http" } else { "https" }),
            "ClientRequestSource" => push_str(out, "eyeball"),
            "ClientRequestURI" => {
                let uri = format!("{path}{query}");
                push_str(out, &uri)
            }
            "ClientRequestUserAgent" => push_str(out, ua),
            "ClientSSLCipher" => push_str(out, cipher),
            "ClientSSLProtocol" => push_str(out, tls),
            "ClientSrcPort" => {
                let _ = write!(VecWriter(&mut *out), "{}", 1024 + (h >> 20) % 64000);
            }
            "ClientTCPRTTMs" => {
                let _ = write!(VecWriter(&mut *out), "{}", 5 + (h >> 8) % 200);
            }
            "ClientXRequestedWith" => push_str(
                out,
                if h.is_multiple_of(7) {
                    "XMLHttpRequest"
                } else {
                    ""
                },
            ),
            "EdgeColoCode" => push_str(out, colo),
            "EdgeColoID" => {
                let _ = write!(VecWriter(&mut *out), "{colo_id}");
            }
            "EdgeEndTimestamp" => push_ts(out, end_ns, ts),
            "EdgePathingOp" => push_str(out, pop),
            "EdgePathingSrc" => push_str(out, psrc),
            "EdgePathingStatus" => push_str(out, pstat),
            "EdgeRateLimitAction" => push_str(out, if status == 429 { "block" } else { "" }),
            "EdgeRateLimitID" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{}",
                    if status == 429 {
                        7_700_000 + h % 1000
                    } else {
                        0
                    }
                );
            }
            "EdgeRequestHost" => push_str(out, host),
            "EdgeResponseBodyBytes" => {
                let _ = write!(VecWriter(&mut *out), "{}", edge_bytes.saturating_sub(180));
            }
            "EdgeResponseBytes" => {
                let _ = write!(VecWriter(&mut *out), "{edge_bytes}");
            }
            "EdgeResponseCompressionRatio" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{:.2}",
                    1.0 + (h % 300) as f64 / 100.0
                );
            }
            "EdgeResponseContentType" => push_str(
                out,
                CONTENT_TYPES[(h % CONTENT_TYPES.len() as u64) as usize],
            ),
            "EdgeResponseStatus" => {
                let _ = write!(VecWriter(&mut *out), "{status}");
            }
            "EdgeServerIP" => push_str(
                out,
                if h.is_multiple_of(2) {
                    ""
                } else {
                    "104.16.0.1"
                },
            ),
            "EdgeStartTimestamp" => push_ts(out, start_ns, ts),
            "EdgeTimeToFirstByteMs" => {
                let _ = write!(VecWriter(&mut *out), "{}", (end_ns - start_ns) / 1_000_000);
            }
            "FirewallMatchesActions" | "SecurityActions" => push_strs(out, &fw_actions),
            "FirewallMatchesRuleIDs" | "SecurityRuleIDs" => push_strs(out, &fw_rule_refs),
            "FirewallMatchesSources" | "SecuritySources" => push_strs(out, &fw_sources),
            "SecurityAction" => push_str(out, fw_actions.first().copied().unwrap_or("")),
            "SecurityRuleID" => push_str(out, fw_rule_refs.first().copied().unwrap_or("")),
            "SecurityRuleDescription" => {
                push_str(out, if fw { "Block known bad bots" } else { "" })
            }
            "JA3Hash" => push_str(out, &ja3),
            "JA4" => push_str(
                out,
                if tls == "none" {
                    ""
                } else {
                    "t13d1516h2_8daaf6152771_b0da82dd1658"
                },
            ),
            "OriginIP" => push_str(out, if origin_status == 0 { "" } else { "192.0.2.10" }),
            "OriginResponseBytes" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{}",
                    if origin_status == 0 { 0 } else { edge_bytes }
                );
            }
            "OriginResponseDurationMs" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{}",
                    if origin_status == 0 { 0 } else { 5 + h % 800 }
                );
            }
            "OriginResponseHTTPExpires" => push_str(out, ""),
            "OriginResponseHTTPLastModified" => push_str(
                out,
                if h.is_multiple_of(4) {
                    "Tue, 12 Nov 2024 08:30:00 GMT"
                } else {
                    ""
                },
            ),
            "OriginResponseStatus" => {
                let _ = write!(VecWriter(&mut *out), "{origin_status}");
            }
            "OriginResponseTime" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{}",
                    if origin_status == 0 {
                        0
                    } else {
                        (5 + h % 800) * 1_000_000
                    }
                );
            }
            "OriginSSLProtocol" => push_str(
                out,
                if origin_status == 0 {
                    "unknown"
                } else {
                    "TLSv1.3"
                },
            ),
            "ParentRayID" => push_str(out, "00"),
            "RayID" => push_str(out, &rid),
            "SecurityLevel" => push_str(out, "med"),
            "WAFAction" => push_str(
                out,
                if fw_actions.first() == Some(&"block") {
                    "drop"
                } else {
                    "unknown"
                },
            ),
            "WAFAttackScore" | "WAFRCEAttackScore" | "WAFSQLiAttackScore" | "WAFXSSAttackScore" => {
                let _ = write!(VecWriter(&mut *out), "{}", 1 + (h >> 3) % 99);
            }
            "WAFFlags" => push_str(
                out,
                if fw_actions.contains(&"simulate") {
                    "1"
                } else {
                    "0"
                },
            ),
            "WAFMatchedVar" => push_str(out, ""),
            "WAFProfile" => push_str(out, "unknown"),
            "WAFRuleID" | "WAFRuleMessage" => push_str(out, ""),
            "WorkerCPUTime" | "WorkerWallTimeUs" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{}",
                    if h.is_multiple_of(5) {
                        100 + h % 5000
                    } else {
                        0
                    }
                );
            }
            "WorkerStatus" => push_str(out, if h.is_multiple_of(5) { "ok" } else { "unknown" }),
            "WorkerSubrequest" => out.extend_from_slice(b"false"),
            "WorkerSubrequestCount" => {
                let _ = write!(
                    VecWriter(&mut *out),
                    "{}",
                    if h.is_multiple_of(5) { h % 4 } else { 0 }
                );
            }
            "ZoneID" => {
                let _ = write!(VecWriter(&mut *out), "{zone_num}");
            }
            "ZoneName" => push_str(out, "example.com"),
            _ => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
}

// ---------------------------------------------------------------------------------------------
// Audit

/// One simulated audit event (the source of both the v1 and the v2 representation).
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub when_us: i64,
    pub h: u64,
    pub kind: usize,
}

/// (action type v1, v2 action type, v2 description, resource type, product, is a view)
pub const AUDIT_KINDS: &[(&str, &str, &str, &str, &str, bool)] = &[
    ("login", "login", "Login", "account", "dash", false),
    (
        "token_create",
        "create",
        "Create API token",
        "account",
        "api_tokens",
        false,
    ),
    (
        "token_revoke",
        "delete",
        "Revoke API token",
        "account",
        "api_tokens",
        false,
    ),
    (
        "token_roll",
        "update",
        "Roll API token",
        "account",
        "api_tokens",
        false,
    ),
    (
        "API_key_view",
        "view",
        "View global API key",
        "user",
        "api_keys",
        true,
    ),
    (
        "rotate_API_key",
        "update",
        "Rotate global API key",
        "account",
        "api_keys",
        false,
    ),
    (
        "API_key_created",
        "create",
        "Create global API key",
        "api_key",
        "api_keys",
        false,
    ),
    (
        "rec_add",
        "create",
        "Create DNS record",
        "DNS_record",
        "dns_records",
        false,
    ),
    (
        "rec_set",
        "update",
        "Update DNS record",
        "DNS_record",
        "dns_records",
        false,
    ),
    (
        "rec_del",
        "delete",
        "Delete DNS record",
        "DNS_record",
        "dns_records",
        false,
    ),
    ("purge", "create", "Purge cache", "zone", "cache", false),
    (
        "tls_settings_deployed",
        "update",
        "Deploy TLS settings",
        "zone",
        "ssl",
        false,
    ),
    ("delete", "delete", "Delete zone", "zone", "zones", false),
    ("add", "create", "Add member", "member", "members", false),
    (
        "set",
        "update",
        "Change zone setting",
        "zone",
        "zone_settings",
        false,
    ),
    (
        "logpush_job_create",
        "create",
        "Create Logpush job",
        "logpush_job",
        "logpush",
        false,
    ),
];

/// Events of one account in hour `hour` (unix hour index), sorted by time. Some events share the exact
/// same `when` (as Cloudflare's `rotate_API_key` + `API_key_created` pairs do).
pub fn audit_events_in_hour(seed: u64, account: &str, per_hour: u32, hour: i64) -> Vec<AuditEvent> {
    if per_hour == 0 {
        return Vec::new();
    }
    let base = h3(seed, fnv(account), 0xA0D1, hour as u64);
    let n = (u64::from(per_hour) / 2 + base % (u64::from(per_hour) + 1)).max(1);
    let mut v = Vec::with_capacity(n as usize);
    let mut i = 0u64;
    while i < n {
        let h = h3(seed, fnv(account), hour as u64, i);
        let mut when_us = hour * 3_600_000_000 + (h % 3_600_000_000) as i64;
        // Every 5th event is emitted at whole seconds (Cloudflare shows both forms).
        if h.is_multiple_of(5) {
            when_us -= when_us % 1_000_000;
        }
        let kind = ((h >> 17) % AUDIT_KINDS.len() as u64) as usize;
        v.push(AuditEvent { when_us, h, kind });
        // Every 4th event gets a twin at the same instant.
        if h.is_multiple_of(4) && i + 1 < n {
            let h2 = h3(seed, fnv(account), hour as u64, i + 1);
            v.push(AuditEvent {
                when_us,
                h: h2,
                kind: ((h2 >> 17) % AUDIT_KINDS.len() as u64) as usize,
            });
            i += 1;
        }
        i += 1;
    }
    v.sort_by(|a, b| a.when_us.cmp(&b.when_us).then(a.h.cmp(&b.h)));
    v
}

/// All events with `since_us <= when < before_us`, ascending.
pub fn audit_events(
    seed: u64,
    account: &str,
    per_hour: u32,
    since_us: i64,
    before_us: i64,
) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    if before_us <= since_us {
        return out;
    }
    let first = since_us.div_euclid(3_600_000_000);
    let last = (before_us - 1).div_euclid(3_600_000_000);
    for hour in first..=last {
        for e in audit_events_in_hour(seed, account, per_hour, hour) {
            if e.when_us >= since_us && e.when_us < before_us {
                out.push(e);
            }
        }
    }
    out
}

pub fn audit_id_v1(e: &AuditEvent) -> String {
    let a = mix(e.h ^ 0x1D);
    let b = mix(e.h ^ 0x2D);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        (a & 0x0fff) | 0x5000,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

pub fn audit_id_v2(e: &AuditEvent) -> String {
    audit_id_v1(e).replace('-', "")
}

pub fn format_when(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let base = chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default();
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:06}Z")
    }
}

fn account_user(account: &str, seed: u64) -> (String, String) {
    let mut r = Rng::new(h3(seed, fnv(account), 0xB0B, 0));
    let mut id = String::new();
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    for _ in 0..32 {
        id.push(ALNUM[r.below(ALNUM.len() as u64) as usize] as char);
    }
    (id, "user@example.com".to_string())
}

/// The v1 record (`/accounts/{id}/audit_logs` result element).
pub fn audit_v1_json(seed: u64, account: &str, e: &AuditEvent) -> serde_json::Value {
    use serde_json::json;
    let (atype, _, _, rtype, _, _) = AUDIT_KINDS[e.kind];
    let mut r = Rng::new(e.h);
    let (user_id, email) = account_user(account, seed);
    let owner = format!(
        "{:032x}",
        u128::from(mix(fnv(account))) << 64 | u128::from(mix(fnv(account) ^ 1))
    );
    let owner: String = owner.chars().take(32).collect();
    let system = atype == "tls_settings_deployed" || (atype == "purge" && r.chance(0.3));
    let ip = if r.chance(0.5) {
        format!("89.160.20.{}", 100 + r.below(100))
    } else {
        format!("2a02:cf40:{:x}::{:x}", r.below(0xffff), r.below(0xffff))
    };
    let actor = if system {
        json!({"id": "1", "type": "system"})
    } else {
        json!({"email": email, "id": user_id, "ip": ip, "type": "user"})
    };
    let interface = if system {
        ""
    } else {
        *r.pick(&["", "UI", "API"])
    };
    let zone_id = format!(
        "{:016x}{:016x}",
        mix(fnv(account) ^ 7),
        mix(fnv(account) ^ 8)
    );
    let mut tag = String::new();
    hex(&mut tag, &mut r, 32);
    let rec_id = format!("{}", 10_715_065_000u64 + r.below(1000));
    let dns = json!({"content": format!("89.160.20.{}", r.below(255)), "id": tag.clone(), "name": "www.example.com",
        "proxied": true, "ttl": 1, "type": "A", "zone_id": zone_id.clone(), "zone_name": "example.com"});
    let (metadata, new_value, old_value, new_json, old_json, resource_id) = match atype {
        "token_create" => (
            json!({"token_name": "logs read", "token_tag": tag}),
            "",
            "",
            None,
            None,
            user_id.clone(),
        ),
        "token_revoke" => (
            json!({"new_token_status": "deleted", "old_token_status": "active", "token_name": "logs read", "token_tag": tag}),
            "",
            "",
            None,
            None,
            user_id.clone(),
        ),
        "token_roll" => (
            json!({"token_name": "logs read", "token_tag": tag}),
            "",
            "",
            None,
            None,
            user_id.clone(),
        ),
        "rec_add" => (
            json!({"zone_name": "example.com"}),
            "",
            "",
            Some(dns),
            None,
            rec_id,
        ),
        "rec_set" => (
            json!({"zone_name": "example.com"}),
            "",
            "",
            Some(dns.clone()),
            Some(dns),
            rec_id,
        ),
        "rec_del" => (
            json!({"zone_name": "example.com"}),
            "null",
            "null",
            None,
            Some(dns),
            rec_id,
        ),
        "purge" | "delete" => (
            json!({"zone_name": "example.com"}),
            "",
            "",
            None,
            None,
            zone_id.clone(),
        ),
        "tls_settings_deployed" => (
            json!({"zone_name": "example.com"}),
            "",
            "",
            Some(
                json!({"ciphers": "", "early_hints": "Default", "http_2": "Enabled", "min_tls_version": "TLSv1.2",
                "quic": "Default", "session_tickets": "Enabled", "tls_13": "Default", "zero_rtt": "Default"}),
            ),
            None,
            zone_id.clone(),
        ),
        "set" => (
            json!({"zone_name": "example.com", "setting": "security_level"}),
            "high",
            "medium",
            None,
            None,
            zone_id.clone(),
        ),
        "add" => (
            json!({}),
            "",
            "",
            Some(json!({"email": "new.member@example.com", "roles": ["Administrator Read Only"]})),
            None,
            tag.clone(),
        ),
        "API_key_created" => (json!({}), "", "", None, None, tag.clone()),
        _ => (json!({}), "", "", None, None, user_id.clone()),
    };
    let result = !r.chance(0.05);
    let mut action = json!({"result": result, "type": atype});
    if atype == "rotate_API_key" {
        action["info"] = json!(format!("key digest: {tag}{tag}"));
    }
    let mut v = json!({
        "action": action,
        "actor": actor,
        "id": audit_id_v1(e),
        "interface": interface,
        "metadata": metadata,
        "newValue": new_value,
        "oldValue": old_value,
        "owner": {"id": owner},
        "resource": {"id": resource_id, "type": rtype},
        "when": format_when(e.when_us),
    });
    if let Some(n) = new_json {
        v["newValueJson"] = n;
    }
    if let Some(o) = old_json {
        v["oldValueJson"] = o;
    }
    v
}

/// The v2 record (`/accounts/{id}/logs/audit` result element).
pub fn audit_v2_json(seed: u64, account: &str, e: &AuditEvent) -> serde_json::Value {
    use serde_json::json;
    let v1 = audit_v1_json(seed, account, e);
    let (_, v2type, desc, rtype, product, _) = AUDIT_KINDS[e.kind];
    let actor_type = if v1["actor"]["type"] == "system" {
        "system"
    } else {
        "user"
    };
    let context = match v1["interface"].as_str() {
        Some("UI") => "dash",
        Some("API") => "api_token",
        _ => "api_key",
    };
    let mut actor = json!({
        "id": v1["actor"]["id"], "email": v1["actor"].get("email").cloned().unwrap_or(json!("")),
        "ip_address": v1["actor"].get("ip").cloned().unwrap_or(json!("")),
        "type": actor_type, "context": context,
    });
    if context == "api_token" {
        actor["token_id"] = json!(format!("{:032x}", mix(e.h ^ 99)));
        actor["token_name"] = json!("automation");
    }
    let ok = v1["action"]["result"].as_bool().unwrap_or(true);
    let zone_id = format!(
        "{:016x}{:016x}",
        mix(fnv(account) ^ 7),
        mix(fnv(account) ^ 8)
    );
    json!({
        "id": audit_id_v2(e),
        "account": {"id": account, "name": "Example Account"},
        "action": {"description": desc, "result": if ok {"success"} else {"failure"}, "time": v1["when"], "type": v2type},
        "actor": actor,
        "raw": {"cf_ray_id": ray_id(e.h), "method": match v2type {"create" => "POST", "update" => "PATCH", "delete" => "DELETE", _ => "GET"},
            "status_code": if ok {200} else {403}, "uri": format!("/client/v4/accounts/{account}/{product}"),
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"},
        "resource": {"id": v1["resource"]["id"], "product": product, "type": rtype,
            "scope": if rtype == "zone" || rtype == "DNS_record" {"zones"} else {"accounts"},
            "request": v1.get("newValueJson").cloned().unwrap_or(json!({})),
            "response": {"success": ok}},
        "zone": {"id": if rtype == "zone" || rtype == "DNS_record" { json!(zone_id) } else { json!("") },
                 "name": if rtype == "zone" || rtype == "DNS_record" { "example.com" } else { "" }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_deterministic_and_valid_json() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let fields: Vec<&str> = KNOWN_FIELDS.to_vec();
        let t0 = 1_764_000_000 * NS_PER_SEC;
        for_each_record(7, "z1", 50, t0, t0 + NS_PER_HOUR, |t, h| {
            a.push((t, h));
        });
        for_each_record(7, "z1", 50, t0, t0 + NS_PER_HOUR, |t, h| {
            b.push((t, h));
        });
        assert_eq!(a, b);
        assert!(a.len() > 1000 && a.len() < 5000, "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
        for (t, h) in a.iter().take(300) {
            for ts in [Timestamps::UnixNano, Timestamps::Unix, Timestamps::Rfc3339] {
                let mut out = Vec::new();
                write_record(&mut out, "z1", *t, *h, &fields, ts);
                let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(v["RayID"].as_str().unwrap().len(), 16);
                match ts {
                    Timestamps::UnixNano => {
                        assert!(v["EdgeStartTimestamp"].as_i64().unwrap() > 1_000_000_000_000)
                    }
                    Timestamps::Unix => {
                        assert!(v["EdgeStartTimestamp"].as_i64().unwrap() < 10_000_000_000)
                    }
                    Timestamps::Rfc3339 => {
                        assert!(v["EdgeStartTimestamp"].as_str().unwrap().ends_with('Z'))
                    }
                }
            }
        }
        // Splitting a range gives the same records as the whole.
        let mut parts = Vec::new();
        for_each_record(7, "z1", 50, t0, t0 + NS_PER_HOUR / 3, |t, h| {
            parts.push((t, h))
        });
        for_each_record(
            7,
            "z1",
            50,
            t0 + NS_PER_HOUR / 3,
            t0 + NS_PER_HOUR,
            |t, h| parts.push((t, h)),
        );
        assert_eq!(parts, a);
    }

    #[test]
    fn audit_events_have_twins_and_unique_ids() {
        let ev = audit_events(1, "acc", 40, 0, 10 * 3_600_000_000);
        let ids: std::collections::HashSet<String> = ev.iter().map(audit_id_v1).collect();
        assert_eq!(ids.len(), ev.len());
        assert!(ev.windows(2).any(|w| w[0].when_us == w[1].when_us));
        let v = audit_v1_json(1, "acc", &ev[0]);
        assert!(v["when"].as_str().unwrap().ends_with('Z'));
        let v2 = audit_v2_json(1, "acc", &ev[0]);
        assert_eq!(v2["id"].as_str().unwrap().len(), 32);
    }
}
