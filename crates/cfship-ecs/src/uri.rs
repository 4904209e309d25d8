//! Elasticsearch's `uri_parts` processor: `java.net.URI` parsing (RFC 2396, with decoded path,
//! query and fragment), falling back to `java.net.URL` (raw components, absolute URLs only) when
//! the string is not a legal URI, and the extension taken from the last path segment.

use std::borrow::Cow;

/// What `uri_parts` puts under `url.*` (`original` is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UriParts<'a> {
    pub scheme: Option<Cow<'a, str>>,
    pub domain: Option<Cow<'a, str>>,
    pub port: Option<u16>,
    pub path: Option<Cow<'a, str>>,
    pub extension: Option<Cow<'a, str>>,
    pub query: Option<Cow<'a, str>>,
    pub fragment: Option<Cow<'a, str>>,
    pub user_info: Option<Cow<'a, str>>,
    pub username: Option<Cow<'a, str>>,
    pub password: Option<Cow<'a, str>>,
}

/// `unable to parse URI [..]` — the processor's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(pub String);

impl std::fmt::Display for UriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unable to parse URI [{}]", self.0)
    }
}

pub fn uri_parts(s: &str) -> Result<UriParts<'_>, UriError> {
    match parse_java_uri(s) {
        Some(p) => Ok(p),
        None => parse_java_url(s).ok_or_else(|| UriError(s.to_string())),
    }
}

/// Characters allowed unescaped in a URI component besides alphanumerics, `%XX` escapes and
/// non-ASCII "other" characters (RFC 2396 unreserved + reserved, as java.net.URI accepts them).
fn legal_ascii(c: u8, allow_brackets: bool) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'_' | b'-'
                | b'!'
                | b'.'
                | b'~'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b';'
                | b'/'
                | b'?'
                | b':'
                | b'@'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
        )
        || (allow_brackets && matches!(c, b'[' | b']'))
}

/// Validates a component: legal characters and well-formed escapes.
fn check_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if b.len() < i + 3 || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
            continue;
        }
        if c >= 0x80 {
            // Non-ASCII: java.net.URI accepts "other" characters except controls and spaces.
            let ch = match s[i..].chars().next() {
                Some(ch) => ch,
                None => return false,
            };
            if ch.is_control() || ch.is_whitespace() {
                return false;
            }
            i += ch.len_utf8();
            continue;
        }
        if !legal_ascii(c, false) {
            return false;
        }
        i += 1;
    }
    true
}

/// Percent-decodes as java.net.URI does (UTF-8, malformed sequences become U+FFFD).
fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(s).collect();
    match String::from_utf8(bytes) {
        Ok(v) => Cow::Owned(v),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn is_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

/// A server-based host as java.net.URI accepts it: IPv4, `[IPv6]`, or a hostname whose last
/// label starts with a letter. Anything else makes the authority "registry based" (no host).
fn valid_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    if h.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let trimmed = h.strip_suffix('.').unwrap_or(h);
    if trimmed.is_empty() {
        return false;
    }
    let labels: Vec<&str> = trimmed.split('.').collect();
    for l in &labels {
        let b = l.as_bytes();
        if b.is_empty()
            || !b[0].is_ascii_alphanumeric()
            || !b[b.len() - 1].is_ascii_alphanumeric()
            || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        {
            return false;
        }
    }
    labels
        .last()
        .and_then(|l| l.as_bytes().first())
        .is_some_and(|c| c.is_ascii_alphabetic())
}

fn split_user_info<'a>(p: &mut UriParts<'a>, ui: Cow<'a, str>) {
    if let Some(i) = ui.find(':') {
        p.username = Some(Cow::Owned(ui[..i].to_string()));
        p.password = Some(Cow::Owned(ui[i + 1..].to_string()));
    }
    p.user_info = Some(ui);
}

fn set_path<'a>(p: &mut UriParts<'a>, path: Cow<'a, str>) {
    if let Some(seg_start) = path.rfind('/') {
        let last = &path[seg_start..];
        if let Some(dot) = last.rfind('.') {
            p.extension = Some(Cow::Owned(last[dot + 1..].to_string()));
        }
    }
    p.path = Some(path);
}

fn parse_java_uri(s: &str) -> Option<UriParts<'_>> {
    let mut p = UriParts::default();
    // Fragment: everything after the first '#'; a second '#' is illegal.
    let (rest, frag) = match s.find('#') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(f) = frag {
        if !check_component(f) {
            return None;
        }
        p.fragment = Some(decode(f));
    }
    if rest.is_empty() && frag.is_none() {
        // `new URI("")` is a valid empty relative reference with an empty path.
        p.path = Some(Cow::Borrowed(""));
        return Some(p);
    }
    // Scheme: a prefix before ':' that precedes any '/', '?'.
    let mut hier = rest;
    if let Some(colon) = rest.find(':') {
        let before = &rest[..colon];
        if !before.contains(['/', '?']) {
            if !is_scheme(before) {
                return None; // "Illegal character in scheme name" / "Expected scheme name"
            }
            p.scheme = Some(Cow::Borrowed(before));
            hier = &rest[colon + 1..];
            if !hier.starts_with('/') {
                // Opaque URI (mailto:x): no path, no query, no host.
                if hier.is_empty() || !check_component(hier) {
                    return None;
                }
                return Some(p);
            }
        }
    }
    let (hier, query) = match hier.find('?') {
        Some(i) => (&hier[..i], Some(&hier[i + 1..])),
        None => (hier, None),
    };
    if let Some(q) = query {
        if !check_component(q) {
            return None;
        }
        p.query = Some(decode(q));
    }
    let path = if let Some(after) = hier.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        let b = authority.as_bytes();
        if !authority.is_empty() {
            let brackets_ok = b
                .iter()
                .all(|c| *c >= 0x80 || legal_ascii(*c, true) || *c == b'%');
            if !brackets_ok {
                return None;
            }
            let (ui, hostport) = match authority.rfind('@') {
                Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
                None => (None, authority),
            };
            let (host, port) = match hostport.rfind(':') {
                Some(i) if !hostport[i..].contains(']') => {
                    (&hostport[..i], Some(&hostport[i + 1..]))
                }
                _ => (hostport, None),
            };
            let port_ok = port.is_none_or(|pt| pt.bytes().all(|c| c.is_ascii_digit()));
            if valid_host(host) && port_ok {
                p.domain = Some(Cow::Borrowed(host));
                if let Some(pt) = port.filter(|pt| !pt.is_empty()) {
                    p.port = Some(pt.parse().ok()?);
                }
                if let Some(ui) = ui {
                    if !check_component(ui) {
                        return None;
                    }
                    split_user_info(&mut p, decode(ui));
                }
            } else if !check_component(authority) {
                return None;
            }
        } else if p.scheme.is_some() && after.is_empty() && query.is_none() {
            // "http://" → java.net.URI: "Expected authority".
            return None;
        }
        &after[end..]
    } else {
        hier
    };
    if !check_component(path) {
        return None;
    }
    set_path(&mut p, decode(path));
    Some(p)
}

/// java.net.URL fallback: only absolute URLs with a scheme; components are not decoded and
/// characters that are illegal in a URI (spaces, `|`, `{`…) are accepted.
fn parse_java_url(s: &str) -> Option<UriParts<'_>> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    if !is_scheme(scheme) {
        return None;
    }
    // Only the protocols a JVM has handlers for.
    let lower = scheme.to_ascii_lowercase();
    if !matches!(
        lower.as_str(),
        "http" | "https" | "ftp" | "file" | "jar" | "mailto"
    ) {
        return None;
    }
    let mut p = UriParts {
        scheme: Some(Cow::Owned(lower)),
        ..Default::default()
    };
    let rest = &s[colon + 1..];
    let (rest, frag) = match rest.find('#') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    p.fragment = frag.map(Cow::Borrowed);
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    p.query = query.map(Cow::Borrowed);
    let path = if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        let (ui, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = match hostport.rfind(':') {
            Some(i) if !hostport[i..].contains(']') => (&hostport[..i], Some(&hostport[i + 1..])),
            _ => (hostport, None),
        };
        if let Some(pt) = port.filter(|pt| !pt.is_empty()) {
            p.port = Some(pt.parse().ok()?);
        }
        p.domain = Some(Cow::Borrowed(host));
        if let Some(ui) = ui {
            split_user_info(&mut p, Cow::Borrowed(ui));
        }
        &after[end..]
    } else {
        rest
    };
    set_path(&mut p, Cow::Borrowed(path));
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &Option<Cow<'_, str>>) -> Option<String> {
        v.as_ref().map(|x| x.to_string())
    }

    #[test]
    fn relative_path_with_query() {
        let p = uri_parts("/wp-cron.php?doing_wp_cron=1564759748.3962020874023437500000").unwrap();
        assert_eq!(s(&p.path).as_deref(), Some("/wp-cron.php"));
        assert_eq!(s(&p.extension).as_deref(), Some("php"));
        assert_eq!(
            s(&p.query).as_deref(),
            Some("doing_wp_cron=1564759748.3962020874023437500000")
        );
        assert_eq!(p.domain, None);
        assert_eq!(p.scheme, None);
    }

    #[test]
    fn extension_only_from_last_segment() {
        let p = uri_parts("/40865/bundles/8.0.0/securitySolution.chunk.9.js").unwrap();
        assert_eq!(s(&p.extension).as_deref(), Some("js"));
        let p = uri_parts("/v1.2/users").unwrap();
        assert_eq!(p.extension, None);
        let p = uri_parts("/s/eqldemo/security/account").unwrap();
        assert_eq!(p.extension, None);
    }

    #[test]
    fn fragment_and_decoding() {
        let p = uri_parts("/a%20b/c.html?x=%C3%A9#sec%201").unwrap();
        assert_eq!(s(&p.path).as_deref(), Some("/a b/c.html"));
        assert_eq!(s(&p.query).as_deref(), Some("x=é"));
        assert_eq!(s(&p.fragment).as_deref(), Some("sec 1"));
        assert_eq!(s(&p.extension).as_deref(), Some("html"));
    }

    #[test]
    fn absolute_uri_with_everything() {
        let p = uri_parts("https://user:pw@www.example.com:8443/a/b.tar.gz?q=1#top").unwrap();
        assert_eq!(s(&p.scheme).as_deref(), Some("https"));
        assert_eq!(s(&p.domain).as_deref(), Some("www.example.com"));
        assert_eq!(p.port, Some(8443));
        assert_eq!(s(&p.path).as_deref(), Some("/a/b.tar.gz"));
        assert_eq!(s(&p.extension).as_deref(), Some("gz"));
        assert_eq!(s(&p.user_info).as_deref(), Some("user:pw"));
        assert_eq!(s(&p.username).as_deref(), Some("user"));
        assert_eq!(s(&p.password).as_deref(), Some("pw"));
        assert_eq!(s(&p.fragment).as_deref(), Some("top"));
    }

    #[test]
    fn illegal_characters_fail_for_relative_references() {
        for bad in ["/a b", "/x?a=|", "/{x}", "/%zz", "/a#b#c", "/caf\u{7f}"] {
            assert!(uri_parts(bad).is_err(), "{bad}");
        }
        assert_eq!(
            uri_parts("/a b").unwrap_err().to_string(),
            "unable to parse URI [/a b]"
        );
    }

    #[test]
    fn url_fallback_keeps_raw_components() {
        let p = uri_parts("http://example.com/a b?c=d e").unwrap();
        assert_eq!(s(&p.domain).as_deref(), Some("example.com"));
        assert_eq!(s(&p.path).as_deref(), Some("/a b"));
        assert_eq!(s(&p.query).as_deref(), Some("c=d e"));
    }

    #[test]
    fn non_ascii_and_registry_authority() {
        let p = uri_parts("/ünïcode/файл.txt").unwrap();
        assert_eq!(s(&p.extension).as_deref(), Some("txt"));
        let p = uri_parts("http://under_score/x").unwrap();
        assert_eq!(p.domain, None);
        assert_eq!(s(&p.path).as_deref(), Some("/x"));
        let p = uri_parts("http://[::1]:80/").unwrap();
        assert_eq!(s(&p.domain).as_deref(), Some("[::1]"));
        assert_eq!(p.port, Some(80));
    }
}
