//! Community ID v1 flow hashes (<https://github.com/corelight/community-id-spec>) as
//! Elasticsearch's `community_id` ingest processor computes them: SHA-1 over the seed, the two
//! addresses, the protocol number, a zero byte and the two ports (ICMP: type and code, or the
//! type and its counterpart), the lower (address, port) end first; `1:` + base64.
//!
//! Inputs mirror the processor's: addresses must be strings; the protocol is `network.iana_number`
//! when present, else `network.transport` (a name such as `tcp`, case-insensitive, or a number);
//! ports are numbers or numeric strings, a missing one counts as 0.

use crate::convert::java_type;
use crate::doc::Val;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// The flow fields of a document (`None` = absent or null).
#[derive(Debug, Default, Clone, Copy)]
pub struct FlowFields<'v, 'a> {
    pub source_ip: Option<&'v Val<'a>>,
    pub destination_ip: Option<&'v Val<'a>>,
    pub iana_number: Option<&'v Val<'a>>,
    pub transport: Option<&'v Val<'a>>,
    pub source_port: Option<&'v Val<'a>>,
    pub destination_port: Option<&'v Val<'a>>,
    pub icmp_type: Option<&'v Val<'a>>,
    pub icmp_code: Option<&'v Val<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ports,
    Icmp,
    Icmp6,
    Other,
}

/// `Transport.fromObject`: the protocol number and whether the flow has ports.
fn transport(v: &Val<'_>) -> Result<(u8, Kind), String> {
    let from_number = |n: i64| -> Result<(u8, Kind), String> {
        if !(0..255).contains(&n) {
            return Err(format!("invalid transport protocol number [{n}]"));
        }
        let kind = match n {
            6 | 17 | 132 => Kind::Ports,
            1 => Kind::Icmp,
            58 => Kind::Icmp6,
            _ => Kind::Other,
        };
        Ok((n as u8, kind))
    };
    match v {
        Val::I64(_) | Val::U64(_) | Val::F64(_) => from_number(int_value(v)),
        Val::Str(s) => {
            let n = match s.to_lowercase().as_str() {
                "icmp" => Some(1),
                "igmp" => Some(2),
                "tcp" => Some(6),
                "udp" => Some(17),
                "gre" => Some(47),
                "ipv6-icmp" | "icmpv6" => Some(58),
                "eigrp" => Some(88),
                "ospf" => Some(89),
                "pim" => Some(103),
                "sctp" => Some(132),
                _ => None,
            };
            match n {
                Some(n) => from_number(n),
                None => match s.parse::<i32>() {
                    Ok(n) => from_number(i64::from(n)),
                    Err(_) => Err(format!(
                        "could not convert string [{s}] to transport protocol"
                    )),
                },
            }
        }
        other => Err(format!(
            "could not convert value of type [{}] to transport protocol",
            java_type(other)
        )),
    }
}

/// Java's `Number.intValue()` (a narrowing cast: doubles truncate and saturate, longs wrap).
fn int_value(v: &Val<'_>) -> i64 {
    match v {
        Val::I64(i) => i64::from(*i as i32),
        Val::U64(u) => i64::from(*u as i32),
        Val::F64(f) => i64::from(*f as i32),
        _ => 0,
    }
}

/// `parseIntFromObjectOrString`: null → 0, numbers → `intValue()`, strings → `Integer.parseInt`.
fn parse_int(v: Option<&Val<'_>>, what: &str) -> Result<i64, String> {
    match v {
        None => Ok(0),
        Some(n @ (Val::I64(_) | Val::U64(_) | Val::F64(_))) => Ok(int_value(n)),
        Some(Val::Str(s)) => crate::convert::java_parse_long(s)
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| format!("unable to parse {what} [{s}]")),
        Some(other) => Err(format!(
            "unable to parse {what} [{}]",
            other.to_display_string()
        )),
    }
}

fn address(v: &Val<'_>, field: &str) -> Result<Vec<u8>, String> {
    let Val::Str(s) = v else {
        return Err(format!(
            "field [{field}] of type [{}] cannot be cast to [java.lang.String]",
            java_type(v)
        ));
    };
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("'{s}' is not an IP string literal."))?;
    // Java's InetAddress turns IPv4-mapped IPv6 addresses into IPv4 ones.
    Ok(match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => a.octets().to_vec(),
        },
    })
}

/// The ICMP type that answers `t` (`IcmpType.codeEquivalent`), if `t` is one half of a pair.
fn icmp_equivalent(t: i64, v6: bool) -> Option<i64> {
    if v6 {
        match t {
            128 => Some(129),
            129 => Some(128),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            130 => Some(131),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    } else {
        match t {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            10 => Some(9),
            9 => Some(10),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    }
}

/// Java's `(byte)(n >> 8), (byte) n` of `toUint16`, which rejects values outside 0..=65535.
fn uint16(n: i64) -> Result<[u8; 2], String> {
    if !(0..=65535).contains(&n) {
        return Err(format!("number [{n}] must be a value between 0 and 65535"));
    }
    Ok([(n >> 8) as u8, n as u8])
}

/// The processor's result: `Ok(None)` when an address or the protocol is missing (the
/// processor's `ignore_missing: true` default), `Err` with Elasticsearch's message otherwise.
pub fn community_id(f: &FlowFields<'_, '_>, seed: u16) -> Result<Option<String>, String> {
    let (Some(src), Some(dst)) = (f.source_ip, f.destination_ip) else {
        return Ok(None);
    };
    let src = address(src, "source.ip")?;
    let dst = address(dst, "destination.ip")?;
    let Some(proto) = f.iana_number.or(f.transport) else {
        return Ok(None);
    };
    let (number, kind) = transport(proto)?;
    let (mut sport, mut dport) = (0i64, 0i64);
    let mut one_way = false;
    match kind {
        Kind::Ports => {
            sport = parse_int(f.source_port, "source port")?;
            if !(0..=65535).contains(&sport) {
                return Err(format!("invalid source port [{}]", show(f.source_port)));
            }
            dport = parse_int(f.destination_port, "destination port")?;
            if !(0..=65535).contains(&dport) {
                return Err(format!(
                    "invalid destination port [{}]",
                    show(f.destination_port)
                ));
            }
        }
        Kind::Icmp | Kind::Icmp6 => {
            let t = parse_int(f.icmp_type, "icmp type")?;
            let c = parse_int(f.icmp_code, "icmp code")?;
            let eq = icmp_equivalent(t, kind == Kind::Icmp6);
            one_way = eq.is_none();
            sport = t;
            dport = eq.unwrap_or(c);
        }
        Kind::Other => {}
    }
    // BigInteger(1, bytes) comparison: a shorter (IPv4) address is the smaller number unless
    // the longer one has leading zero bytes, so compare as unsigned big-endian numbers.
    let order = cmp_unsigned(&src, &dst);
    let ordered =
        order == std::cmp::Ordering::Less || (order == std::cmp::Ordering::Equal && sport < dport);
    let keep = ordered || (matches!(kind, Kind::Icmp | Kind::Icmp6) && one_way);
    let mut buf = Vec::with_capacity(2 + 32 + 2 + 4);
    buf.extend_from_slice(&seed.to_be_bytes());
    let (a, b) = if keep { (&src, &dst) } else { (&dst, &src) };
    buf.extend_from_slice(a);
    buf.extend_from_slice(b);
    buf.push(number);
    buf.push(0);
    if kind != Kind::Other {
        let (p, q) = if keep { (sport, dport) } else { (dport, sport) };
        buf.extend_from_slice(&uint16(p)?);
        buf.extend_from_slice(&uint16(q)?);
    }
    let digest = Sha1::digest(&buf);
    Ok(Some(format!(
        "1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )))
}

fn show(v: Option<&Val<'_>>) -> String {
    v.map_or_else(|| "null".to_string(), Val::to_display_string)
}

fn cmp_unsigned(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let strip = |x: &[u8]| {
        let i = x.iter().position(|&b| b != 0).unwrap_or(x.len());
        x[i..].to_vec()
    };
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn s(x: &'static str) -> Val<'static> {
        Val::Str(Cow::Borrowed(x))
    }

    #[test]
    fn spec_examples() {
        // The Community ID spec's baseline: 128.232.110.120:34855 → 66.35.250.204:80 tcp.
        let (a, b, t) = (s("128.232.110.120"), s("66.35.250.204"), s("tcp"));
        let (p, q) = (Val::I64(34855), Val::I64(80));
        let f = FlowFields {
            source_ip: Some(&a),
            destination_ip: Some(&b),
            transport: Some(&t),
            source_port: Some(&p),
            destination_port: Some(&q),
            ..Default::default()
        };
        assert_eq!(
            community_id(&f, 0).unwrap().as_deref(),
            Some("1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
        );
        // Reversed direction, same id.
        let r = FlowFields {
            source_ip: Some(&b),
            destination_ip: Some(&a),
            transport: Some(&t),
            source_port: Some(&q),
            destination_port: Some(&p),
            ..Default::default()
        };
        assert_eq!(community_id(&r, 0).unwrap(), community_id(&f, 0).unwrap());
        // Elasticsearch's documentation example.
        let (c, d, u) = (s("123.124.125.126"), s("55.56.57.58"), s("TCP"));
        let (m, n) = (Val::I64(12345), Val::I64(80));
        let e = FlowFields {
            source_ip: Some(&c),
            destination_ip: Some(&d),
            transport: Some(&u),
            source_port: Some(&m),
            destination_port: Some(&n),
            ..Default::default()
        };
        assert_eq!(
            community_id(&e, 0).unwrap().as_deref(),
            Some("1:9qr9Z1LViXcNwtLVOHZ3CL8MlyM=")
        );
        // Seed 1 differs.
        assert_ne!(community_id(&f, 1).unwrap(), community_id(&f, 0).unwrap());
    }

    #[test]
    fn missing_and_bad_inputs() {
        let a = s("10.0.0.1");
        let f = FlowFields {
            source_ip: Some(&a),
            ..Default::default()
        };
        assert_eq!(community_id(&f, 0), Ok(None));
        let t = s("carrier-pigeon");
        let g = FlowFields {
            source_ip: Some(&a),
            destination_ip: Some(&a),
            transport: Some(&t),
            ..Default::default()
        };
        assert_eq!(
            community_id(&g, 0),
            Err("could not convert string [carrier-pigeon] to transport protocol".into())
        );
        let bad = s("10.0.0.999");
        let h = FlowFields {
            source_ip: Some(&bad),
            destination_ip: Some(&a),
            ..Default::default()
        };
        assert!(community_id(&h, 0).is_err());
        let tcp = s("TCP");
        let big = Val::I64(70000);
        let i = FlowFields {
            source_ip: Some(&a),
            destination_ip: Some(&a),
            transport: Some(&tcp),
            source_port: Some(&big),
            ..Default::default()
        };
        assert_eq!(
            community_id(&i, 0),
            Err("invalid source port [70000]".into())
        );
    }
}
