//! Logpull records: how many arrive in each minute, when, and what each one contains. A record is a
//! pure function of (seed, zone, minute, index), so ground truth needs no HTTP.

use super::json::{hex, push_str, push_strs, push_ts, VecWriter};
use super::rng::{fnv, h3, mix, Rng};
use super::tables::*;
use super::NS_PER_MIN;
use std::fmt::Write as _;

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

/// The RayID of the record with hash `h`.
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

/// The simulator's reading of the Logpull `timestamps` parameter (`unixnano`, `unix`, `rfc3339`).
/// The simulator parses the query itself, independently of the client, so a client that sends a
/// wrong value is caught.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimestampFormat {
    /// Integer nanoseconds (Cloudflare's default).
    #[default]
    UnixNano,
    /// Integer seconds.
    Unix,
    /// RFC3339 string with second precision.
    Rfc3339,
}

impl TimestampFormat {
    /// Parses the query value (`None` when the parameter is absent: the default).
    pub fn from_param(v: Option<&str>) -> Option<Self> {
        match v {
            None | Some("unixnano") => Some(TimestampFormat::UnixNano),
            Some("unix") => Some(TimestampFormat::Unix),
            Some("rfc3339") => Some(TimestampFormat::Rfc3339),
            Some(_) => None,
        }
    }
}

/// Every value of one record, drawn once in a fixed order (the order is part of the output: changing
/// it changes every simulated record).
struct Drawn {
    h: u64,
    country: (&'static str, u32, &'static str),
    ua: &'static str,
    device: &'static str,
    is_bot: bool,
    ip: String,
    host: &'static str,
    path: &'static str,
    query: &'static str,
    method: &'static str,
    proto: &'static str,
    tls: &'static str,
    cipher: &'static str,
    status: u16,
    cache: &'static str,
    colo: &'static str,
    colo_id: u32,
    fw: bool,
    fw_actions: Vec<&'static str>,
    fw_sources: Vec<&'static str>,
    fw_rules: Vec<String>,
    pop: &'static str,
    psrc: &'static str,
    pstat: &'static str,
    edge_bytes: u64,
    origin_status: u64,
    start_ns: i64,
    end_ns: i64,
    rid: String,
    bot_score: u64,
    ja3: String,
    zone_num: u64,
}

impl Drawn {
    fn new(zone: &str, recv_ns: i64, h: u64) -> Self {
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
        let (pop, psrc, pstat) = if fw_actions.first() == Some(&"block") {
            ("ban", "filter_based_firewall", "nr")
        } else {
            *r.pick(PATHING)
        };
        let edge_bytes = 200 + r.below(200_000);
        let origin_status = if cache == "hit" { 0 } else { u64::from(status) };
        let start_ns = recv_ns - (1 + r.below(3000)) as i64 * 1_000_000;
        let end_ns = start_ns + (1 + r.below(900)) as i64 * 1_000_000;
        let rid = ray_id(h);
        let bot_score = if is_bot {
            1 + r.below(29)
        } else {
            30 + r.below(70)
        };
        let mut ja3 = String::new();
        hex(&mut ja3, &mut r, 32);
        let zone_num = fnv(zone) % 900_000_000 + 100_000_000;
        Drawn {
            h,
            ua,
            device,
            is_bot,
            ip,
            host,
            path,
            query,
            method,
            proto,
            tls,
            cipher,
            status,
            cache,
            colo,
            colo_id,
            fw,
            fw_actions,
            fw_sources,
            fw_rules,
            pop,
            psrc,
            pstat,
            edge_bytes,
            origin_status,
            start_ns,
            end_ns,
            rid,
            bot_score,
            ja3,
            zone_num,
            country,
        }
    }
}

/// Writes one Logpull record (JSON object, no newline) with the requested fields.
pub fn write_record(
    out: &mut Vec<u8>,
    zone: &str,
    recv_ns: i64,
    h: u64,
    fields: &[&str],
    ts: TimestampFormat,
) {
    let d = Drawn::new(zone, recv_ns, h);
    out.push(b'{');
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, f);
        out.push(b':');
        write_value(out, f, &d, ts);
    }
    out.push(b'}');
}

/// The value of field `f` (`null` for a field the generator does not fill).
fn write_value(out: &mut Vec<u8>, f: &str, d: &Drawn, ts: TimestampFormat) {
    match f {
        "Action" => push_str(out, ""),
        "BotScore" => {
            let _ = write!(VecWriter(&mut *out), "{}", d.bot_score);
        }
        "BotScoreSrc" => push_str(
            out,
            if d.ua.contains("Googlebot") || d.ua.contains("bingbot") {
                "Verified Bot"
            } else if d.is_bot {
                ["Heuristics", "Machine Learning"][(d.h % 2) as usize]
            } else {
                BOT_SRC[(d.h % BOT_SRC.len() as u64) as usize]
            },
        ),
        "BotTags" | "BotDetectionTags" => {
            if d.is_bot {
                push_strs(out, &["api"])
            } else {
                push_strs::<&str>(out, &[])
            }
        }
        "CacheCacheStatus" => push_str(out, d.cache),
        "CacheReserveUsed" => out.extend_from_slice(b"false"),
        "CacheResponseBytes" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{}",
                if d.cache == "hit" { d.edge_bytes } else { 0 }
            );
        }
        "CacheResponseStatus" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{}",
                if d.cache == "hit" {
                    u64::from(d.status)
                } else {
                    0
                }
            );
        }
        "CacheTieredFill" => {
            out.extend_from_slice(if d.cache == "miss" { b"true" } else { b"false" })
        }
        "ClientASN" => {
            let _ = write!(VecWriter(&mut *out), "{}", d.country.1);
        }
        "ClientCity" => push_str(out, ""),
        "ClientCountry" => push_str(out, d.country.0),
        "ClientDeviceType" => push_str(out, d.device),
        "ClientIP" => push_str(out, &d.ip),
        "ClientIPClass" => push_str(out, IP_CLASS[(d.h % IP_CLASS.len() as u64) as usize]),
        "ClientLatitude" | "ClientLongitude" => push_str(out, "0.000000"),
        "ClientRegionCode" => push_str(out, ""),
        "ClientRequestBytes" => {
            let _ = write!(VecWriter(&mut *out), "{}", 300 + (d.h % 5000));
        }
        "ClientRequestHost" => push_str(out, d.host),
        "ClientRequestMethod" => push_str(out, d.method),
        "ClientRequestPath" => push_str(out, d.path),
        "ClientRequestProtocol" => push_str(out, d.proto),
        "ClientRequestReferer" => push_str(
            out,
            if d.h.is_multiple_of(3) {
                ""
            } else {
                "https://www.example.com/"
            },
        ),
        "ClientRequestScheme" => push_str(out, if d.tls == "none" { "http" } else { "https" }),
        "ClientRequestSource" => push_str(out, "eyeball"),
        "ClientRequestURI" => {
            let uri = format!("{}{}", d.path, d.query);
            push_str(out, &uri)
        }
        "ClientRequestUserAgent" => push_str(out, d.ua),
        "ClientSSLCipher" => push_str(out, d.cipher),
        "ClientSSLProtocol" => push_str(out, d.tls),
        "ClientSrcPort" => {
            let _ = write!(VecWriter(&mut *out), "{}", 1024 + (d.h >> 20) % 64000);
        }
        "ClientTCPRTTMs" => {
            let _ = write!(VecWriter(&mut *out), "{}", 5 + (d.h >> 8) % 200);
        }
        "ClientXRequestedWith" => push_str(
            out,
            if d.h.is_multiple_of(7) {
                "XMLHttpRequest"
            } else {
                ""
            },
        ),
        "EdgeColoCode" => push_str(out, d.colo),
        "EdgeColoID" => {
            let _ = write!(VecWriter(&mut *out), "{}", d.colo_id);
        }
        "EdgeEndTimestamp" => push_ts(out, d.end_ns, ts),
        "EdgePathingOp" => push_str(out, d.pop),
        "EdgePathingSrc" => push_str(out, d.psrc),
        "EdgePathingStatus" => push_str(out, d.pstat),
        "EdgeRateLimitAction" => push_str(out, if d.status == 429 { "block" } else { "" }),
        "EdgeRateLimitID" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{}",
                if d.status == 429 {
                    7_700_000 + d.h % 1000
                } else {
                    0
                }
            );
        }
        "EdgeRequestHost" => push_str(out, d.host),
        "EdgeResponseBodyBytes" => {
            let _ = write!(VecWriter(&mut *out), "{}", d.edge_bytes.saturating_sub(180));
        }
        "EdgeResponseBytes" => {
            let _ = write!(VecWriter(&mut *out), "{}", d.edge_bytes);
        }
        "EdgeResponseCompressionRatio" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{:.2}",
                1.0 + (d.h % 300) as f64 / 100.0
            );
        }
        "EdgeResponseContentType" => push_str(
            out,
            CONTENT_TYPES[(d.h % CONTENT_TYPES.len() as u64) as usize],
        ),
        "EdgeResponseStatus" => {
            let _ = write!(VecWriter(&mut *out), "{}", d.status);
        }
        "EdgeServerIP" => push_str(
            out,
            if d.h.is_multiple_of(2) {
                ""
            } else {
                "104.16.0.1"
            },
        ),
        "EdgeStartTimestamp" => push_ts(out, d.start_ns, ts),
        "EdgeTimeToFirstByteMs" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{}",
                (d.end_ns - d.start_ns) / 1_000_000
            );
        }
        "FirewallMatchesActions" | "SecurityActions" => push_strs(out, &d.fw_actions),
        "FirewallMatchesRuleIDs" | "SecurityRuleIDs" => push_strs(out, &d.fw_rules),
        "FirewallMatchesSources" | "SecuritySources" => push_strs(out, &d.fw_sources),
        "SecurityAction" => push_str(out, d.fw_actions.first().copied().unwrap_or("")),
        "SecurityRuleID" => push_str(out, d.fw_rules.first().map(String::as_str).unwrap_or("")),
        "SecurityRuleDescription" => push_str(out, if d.fw { "Block known bad bots" } else { "" }),
        "JA3Hash" => push_str(out, &d.ja3),
        "JA4" => push_str(
            out,
            if d.tls == "none" {
                ""
            } else {
                "t13d1516h2_8daaf6152771_b0da82dd1658"
            },
        ),
        "OriginIP" => push_str(
            out,
            if d.origin_status == 0 {
                ""
            } else {
                "192.0.2.10"
            },
        ),
        "OriginResponseBytes" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{}",
                if d.origin_status == 0 {
                    0
                } else {
                    d.edge_bytes
                }
            );
        }
        "OriginResponseDurationMs" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{}",
                if d.origin_status == 0 {
                    0
                } else {
                    5 + d.h % 800
                }
            );
        }
        "OriginResponseHTTPExpires" => push_str(out, ""),
        "OriginResponseHTTPLastModified" => push_str(
            out,
            if d.h.is_multiple_of(4) {
                "Tue, 12 Nov 2024 08:30:00 GMT"
            } else {
                ""
            },
        ),
        "OriginResponseStatus" => {
            let _ = write!(VecWriter(&mut *out), "{}", d.origin_status);
        }
        "OriginResponseTime" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{}",
                if d.origin_status == 0 {
                    0
                } else {
                    (5 + d.h % 800) * 1_000_000
                }
            );
        }
        "OriginSSLProtocol" => push_str(
            out,
            if d.origin_status == 0 {
                "unknown"
            } else {
                "TLSv1.3"
            },
        ),
        "ParentRayID" => push_str(out, "00"),
        "RayID" => push_str(out, &d.rid),
        "SecurityLevel" => push_str(out, "med"),
        "WAFAction" => push_str(
            out,
            if d.fw_actions.first() == Some(&"block") {
                "drop"
            } else {
                "unknown"
            },
        ),
        "WAFAttackScore" | "WAFRCEAttackScore" | "WAFSQLiAttackScore" | "WAFXSSAttackScore" => {
            let _ = write!(VecWriter(&mut *out), "{}", 1 + (d.h >> 3) % 99);
        }
        "WAFFlags" => push_str(
            out,
            if d.fw_actions.contains(&"simulate") {
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
                if d.h.is_multiple_of(5) {
                    100 + d.h % 5000
                } else {
                    0
                }
            );
        }
        "WorkerStatus" => push_str(
            out,
            if d.h.is_multiple_of(5) {
                "ok"
            } else {
                "unknown"
            },
        ),
        "WorkerSubrequest" => out.extend_from_slice(b"false"),
        "WorkerSubrequestCount" => {
            let _ = write!(
                VecWriter(&mut *out),
                "{}",
                if d.h.is_multiple_of(5) { d.h % 4 } else { 0 }
            );
        }
        "ZoneID" => {
            let _ = write!(VecWriter(&mut *out), "{}", d.zone_num);
        }
        "ZoneName" => push_str(out, "example.com"),
        _ => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{NS_PER_HOUR, NS_PER_SEC};

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
            for ts in [
                TimestampFormat::UnixNano,
                TimestampFormat::Unix,
                TimestampFormat::Rfc3339,
            ] {
                let mut out = Vec::new();
                write_record(&mut out, "z1", *t, *h, &fields, ts);
                let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(v["RayID"].as_str().unwrap().len(), 16);
                match ts {
                    TimestampFormat::UnixNano => {
                        assert!(v["EdgeStartTimestamp"].as_i64().unwrap() > 1_000_000_000_000)
                    }
                    TimestampFormat::Unix => {
                        assert!(v["EdgeStartTimestamp"].as_i64().unwrap() < 10_000_000_000)
                    }
                    TimestampFormat::Rfc3339 => {
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
}
