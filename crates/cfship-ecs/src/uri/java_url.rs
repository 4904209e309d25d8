//! `java.net.URL`, the fallback of `uri_parts` for strings that are not legal URIs: its parser
//! and the checks of its external form.

use super::*;

/// What the getters of `new java.net.URL(s)` return (`host`/`path` are never null there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaUrl<'a> {
    pub protocol: String,
    pub host: Cow<'a, str>,
    pub port: i32,
    pub path: Cow<'a, str>,
    pub query: Option<Cow<'a, str>>,
    pub ref_: Option<Cow<'a, str>>,
    pub user_info: Option<Cow<'a, str>>,
}

/// `new java.net.URL(s)` without a context: the `MalformedURLException` message on failure.
pub fn java_url(spec: &str) -> Result<JavaUrl<'_>, String> {
    let b = spec.as_bytes();
    let mut limit = b.len();
    while limit > 0 && b[limit - 1] <= b' ' {
        limit -= 1;
    }
    let mut start = 0;
    while start < limit && b[start] <= b' ' {
        start += 1;
    }
    if b.len() >= start + 4 && b[start..start + 4].eq_ignore_ascii_case(b"url:") {
        start += 4;
    }
    let a_ref = start < b.len() && b[start] == b'#';
    let mut protocol = None;
    if !a_ref {
        let mut i = start;
        while i < limit && b[i] != b'/' {
            if b[i] == b':' {
                let s = spec[start..i].to_ascii_lowercase();
                if is_valid_protocol(&s) {
                    protocol = Some(s);
                    start = i + 1;
                }
                break;
            }
            i += 1;
        }
    }
    let Some(protocol) = protocol else {
        return Err(format!("no protocol: {spec}"));
    };
    if !matches!(
        protocol.as_str(),
        "http" | "https" | "ftp" | "file" | "jar" | "mailto" | "jrt"
    ) {
        return Err(format!("unknown protocol: {protocol}"));
    }
    let mut ref_ = None;
    if let Some(i) = spec[start..].find('#').map(|i| i + start) {
        ref_ = Some(Cow::Borrowed(&spec[i + 1..limit.max(i + 1)]));
        limit = i;
    }
    let start = start.min(limit);
    let url = match protocol.as_str() {
        // sun.net.www.protocol.mailto.Handler: everything is the "file"; no host, no ref.
        "mailto" => {
            let file = &spec[start..limit];
            if file.chars().all(char::is_whitespace) {
                return Err("No email address".to_string());
            }
            let (path, query) = split_file(file);
            JavaUrl {
                protocol,
                host: Cow::Borrowed(""),
                port: -1,
                path: Cow::Borrowed(path),
                query: query.map(Cow::Borrowed),
                ref_: None,
                user_info: None,
            }
        }
        // sun.net.www.protocol.jar.Handler: `jar:<url>!/<entry>`, the inner URL must parse.
        "jar" => {
            let file = &spec[start..limit];
            if file.len() >= 4 && file.as_bytes()[..4].eq_ignore_ascii_case(b"jar:") {
                return Err("Nested JAR URLs are not supported".to_string());
            }
            let bang = file
                .match_indices("!/")
                .last()
                .map(|(i, _)| i)
                .ok_or_else(|| "no !/ in spec".to_string())?;
            java_url(&file[..bang]).map_err(|e| format!("invalid url: {file} ({e})"))?;
            let (path, query) = split_file(file);
            JavaUrl {
                protocol,
                host: Cow::Borrowed(""),
                port: -1,
                path: Cow::Borrowed(path),
                query: query.map(Cow::Borrowed),
                ref_,
                user_info: None,
            }
        }
        _ => parse_url(spec, protocol, start, limit, ref_)?,
    };
    check_external_form(&url)?;
    Ok(url)
}

/// `URL.set(protocol, host, port, file, ref)` splits the file at the last `?`.
fn split_file(file: &str) -> (&str, Option<&str>) {
    match file.rfind('?') {
        Some(q) => (&file[..q], Some(&file[q + 1..])),
        None => (file, None),
    }
}

// sun.net.util.IPAddressUtil masks (default "early URL parsing").
const IP_L_NON_PRINTABLE: u64 = 0xffff_ffff;
const IP_H_NON_PRINTABLE: u64 = 0x8000_0000_0000_0000;
const IP_L_EXCLUDE: u64 = 0x8400_8008_ffff_ffff;
const IP_H_EXCLUDE: u64 = 0x8000_0000_3800_0001;
const IP_L_EXCLUDED_DELIMS: u64 = 0x5000_0005_0000_0000;
const IP_H_UNWISE: u64 = 0x3800_0001_7800_0000;
const IP_L_SLASH: u64 = 0x8000_0000_0000;
const IP_L_COLON: u64 = 0x400_0000_0000_0000;
const IP_H_IPV6_DELIMS: u64 = 0x2800_0000;
const IP_H_BACKSLASH: u64 = 0x1000_0000;
const IP_L_FRAGMENT: u64 = 0x8_0000_0000;
const IP_L_QUERY: u64 = 0x8000_0000_0000_0000;
const IP_OTHERS: [u16; 17] = [
    8263, 8264, 8265, 8448, 8449, 8453, 8454, 10868, 65109, 65110, 65119, 65131, 65283, 65295,
    65306, 65311, 65312,
];

/// `IPAddressUtil.scan(s, low, high[, others])`: is there a char in the masks (or in `others`)?
fn ip_scan(s: &str, lo: u64, hi: u64, others: bool) -> bool {
    s.encode_utf16().any(|c| {
        if c < 64 {
            (1u64 << c) & lo != 0
        } else if c < 128 {
            (1u64 << (c - 64)) & hi != 0
        } else {
            others && IP_OTHERS.contains(&c)
        }
    })
}

/// `IPAddressUtil.checkExternalForm` (run by `new URL` for the JDK's own protocol handlers).
fn check_external_form(u: &JavaUrl<'_>) -> Result<(), String> {
    if let Some(ui) = &u.user_info {
        if ip_scan(ui, IP_L_EXCLUDE & !IP_L_COLON, IP_H_EXCLUDE, false) {
            return Err(format!("Illegal character found in user-info: {ui}"));
        }
    }
    let host = u.host.as_ref();
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let (addr, scope) = match inner.find('%') {
            Some(i) => (&inner[..i], Some(&inner[i..])),
            None => (inner, None),
        };
        if !is_ipv6_literal(addr, scope) {
            return Err("Unrecognized IPv6 address format".to_string());
        }
        if let Some(sc) = scope {
            if ip_scan(
                sc,
                IP_L_NON_PRINTABLE | IP_L_SLASH | IP_L_FRAGMENT | IP_L_QUERY,
                IP_H_NON_PRINTABLE | IP_H_IPV6_DELIMS | IP_H_BACKSLASH,
                false,
            ) {
                return Err(format!(
                    "Illegal character found in IPv6 scoped address: {sc}"
                ));
            }
        }
        return Ok(());
    }
    if ip_scan(
        host,
        IP_L_EXCLUDE | IP_L_NON_PRINTABLE | IP_L_SLASH | IP_L_EXCLUDED_DELIMS,
        IP_H_EXCLUDE | IP_H_NON_PRINTABLE | IP_H_UNWISE,
        true,
    ) {
        return Err(format!("Illegal character found in host: {host}"));
    }
    Ok(())
}

/// `IPAddressUtil.isIPv6LiteralAddress` of the text between the brackets.
fn is_ipv6_literal(addr: &str, scope: Option<&str>) -> bool {
    if scope == Some("%") {
        return false;
    }
    addr.parse::<std::net::Ipv6Addr>().is_ok()
}

fn is_valid_protocol(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'))
}

/// `URLStreamHandler.parseURL` for a URL without context.
fn parse_url<'a>(
    spec: &'a str,
    protocol: String,
    mut start: usize,
    mut limit: usize,
    ref_: Option<Cow<'a, str>>,
) -> Result<JavaUrl<'a>, String> {
    let b = spec.as_bytes();
    let mut query = None;
    let mut host: Option<&'a str> = None;
    let mut port: i32 = -1;
    let mut user_info = None;
    let mut authority: Option<&'a str> = None;
    let mut path: Option<&'a str> = None;
    let mut spec_end = b.len();
    if start < limit {
        if let Some(q) = spec.find('?') {
            if q < limit {
                query = Some(Cow::Borrowed(&spec[q + 1..limit]));
                limit = q;
                spec_end = q;
            }
        }
    }
    let unc = start + 4 <= limit && &b[start..start + 4] == b"////";
    if !unc && start + 2 <= limit && b[start] == b'/' && b[start + 1] == b'/' {
        start += 2;
        let mut i = spec[start..spec_end].find('/').map(|i| i + start);
        if i.is_none_or(|i| i > limit) {
            i = spec[start..spec_end].find('?').map(|i| i + start);
            if i.is_none_or(|i| i > limit) {
                i = Some(limit);
            }
        }
        let i = i.unwrap_or(limit);
        let auth = &spec[start..i];
        authority = Some(auth);
        host = Some(auth);
        if let Some(ind) = auth.find('@') {
            if Some(ind) != auth.rfind('@') {
                user_info = None;
                host = None;
            } else {
                user_info = Some(Cow::Borrowed(&auth[..ind]));
                host = Some(&auth[ind + 1..]);
            }
        }
        match host {
            Some(h) if h.starts_with('[') => match h.find(']') {
                Some(ind) if ind > 2 => {
                    let inner = &h[1..ind];
                    let (addr, scope) = match inner.find('%') {
                        Some(i) => (&inner[..i], Some(&inner[i..])),
                        None => (inner, None),
                    };
                    if !is_ipv6_literal(addr, scope) {
                        return Err(format!("Invalid host: {}", &h[..ind + 1]));
                    }
                    let rest = &h[ind + 1..];
                    host = Some(&h[..ind + 1]);
                    if !rest.is_empty() {
                        let Some(pt) = rest.strip_prefix(':') else {
                            return Err(format!("Invalid authority field: {auth}"));
                        };
                        if !pt.is_empty() {
                            port = java_parse_int(pt)
                                .ok_or_else(|| format!("For input string: \"{pt}\""))?;
                        }
                    }
                }
                _ => return Err(format!("Invalid authority field: {auth}")),
            },
            Some(h) => {
                if let Some(ind) = h.find(':') {
                    let pt = &h[ind + 1..];
                    if !pt.is_empty() {
                        port = java_parse_int(pt)
                            .ok_or_else(|| format!("For input string: \"{pt}\""))?;
                    }
                    host = Some(&h[..ind]);
                }
            }
            None => host = Some(""),
        }
        if port < -1 {
            return Err(format!("Invalid port number :{port}"));
        }
        start = i;
        if !auth.is_empty() {
            path = Some("");
        }
    }
    let host = host.unwrap_or("");
    let mut owned_path: Option<String> = None;
    if start < limit {
        let spec_str = &spec[start..limit];
        if b[start] == b'/' {
            path = Some(spec_str);
        } else {
            // No context: `path` is "" or null here.
            owned_path = Some(if authority.is_some() {
                format!("/{spec_str}")
            } else {
                spec_str.to_string()
            });
        }
    }
    let path: Cow<'a, str> = match owned_path {
        Some(p) => Cow::Owned(p),
        None => Cow::Borrowed(path.unwrap_or("")),
    };
    if host.contains(['[', ']']) && !host.starts_with('[') {
        // IPAddressUtil.checkExternalForm rejects brackets outside an IPv6 literal.
        return Err(format!("Invalid host: {host}"));
    }
    Ok(JavaUrl {
        protocol,
        host: Cow::Borrowed(host),
        port,
        path,
        query,
        ref_,
        user_info,
    })
}

/// `Integer.parseInt(s, 10)`.
fn java_parse_int(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let digits = match b.first() {
        Some(b'-' | b'+') => &b[1..],
        _ => b,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse().ok()
}
