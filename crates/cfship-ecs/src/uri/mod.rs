//! Elasticsearch's `uri_parts` processor: `new java.net.URI(s)` (RFC 2396 as the JDK implements
//! it: the parser of `java.net.URI`, ported rule by rule, with the decoded path, query, fragment and
//! user info of its getters), falling back to `new java.net.URL(s)` (raw components, absolute URLs
//! of a protocol the JDK has a handler for) when the string is not a legal URI, and the extension
//! taken from the last path segment. `docs/fidelity.md` describes the rules and the Java oracle
//! (`oracles/java/UriOracle.java`) the test suite compares this module with.

use crate::doc::{Obj, Val};
use std::borrow::Cow;

mod java_uri;
mod java_url;

pub use java_uri::{decode, java_uri, JavaUri, UriSyntaxError};
pub use java_url::{java_url, JavaUrl};

/// What `uri_parts` puts under `url.*` (`original` is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UriParts<'a> {
    pub scheme: Option<Cow<'a, str>>,
    pub domain: Option<Cow<'a, str>>,
    pub port: Option<i32>,
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

/// `UriPartsProcessor.apply`.
pub fn uri_parts(s: &str) -> Result<UriParts<'_>, UriError> {
    let mut p = match java_uri(s) {
        Ok(u) => UriParts {
            scheme: u.scheme.map(Cow::Borrowed),
            domain: u.host.map(Cow::Borrowed),
            port: (u.port != -1).then_some(u.port),
            path: u.path.map(|x| decode(x, true)),
            query: u.query.map(|x| decode(x, false)),
            fragment: u.fragment.map(|x| decode(x, false)),
            user_info: u.user_info.map(|x| decode(x, true)),
            ..Default::default()
        },
        Err(_) => {
            let u = java_url(s).map_err(|_| UriError(s.to_string()))?;
            UriParts {
                scheme: Some(Cow::Owned(u.protocol)),
                domain: Some(u.host),
                port: (u.port != -1).then_some(u.port),
                path: Some(u.path),
                query: u.query,
                fragment: u.ref_,
                user_info: u.user_info,
                ..Default::default()
            }
        }
    };
    if let Some(path) = &p.path {
        if let Some(seg_start) = path.rfind('/') {
            let last = &path[seg_start..];
            if let Some(dot) = last.rfind('.') {
                p.extension = Some(Cow::Owned(last[dot + 1..].to_string()));
            }
        }
    }
    if let Some(ui) = &p.user_info {
        if let Some(i) = ui.find(':') {
            p.username = Some(Cow::Owned(ui[..i].to_string()));
            p.password = Some(Cow::Owned(ui[i + 1..].to_string()));
        }
    }
    Ok(p)
}

/// The `url` object `uri_parts` writes: the parts present, and `original` (with `keep_original`).
/// Both pipelines' `uri_parts` steps build it here.
pub fn url_object<'a>(p: UriParts<'_>, original: Option<Val<'a>>) -> Obj<'a> {
    let mut url = Obj::with_capacity(8);
    let own = |c: Cow<'_, str>| Val::Str(Cow::Owned(c.into_owned()));
    if let Some(v) = p.domain {
        url.insert("domain", own(v));
    }
    if let Some(v) = p.extension {
        url.insert("extension", own(v));
    }
    if let Some(v) = p.fragment {
        url.insert("fragment", own(v));
    }
    if let Some(v) = original {
        url.insert("original", v);
    }
    if let Some(v) = p.password {
        url.insert("password", own(v));
    }
    if let Some(v) = p.path {
        url.insert("path", own(v));
    }
    if let Some(v) = p.port {
        url.insert("port", Val::I64(i64::from(v)));
    }
    if let Some(v) = p.query {
        url.insert("query", own(v));
    }
    if let Some(v) = p.scheme {
        url.insert("scheme", own(v));
    }
    if let Some(v) = p.user_info {
        url.insert("user_info", own(v));
    }
    if let Some(v) = p.username {
        url.insert("username", own(v));
    }
    url
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
        for bad in [
            "/a b",
            "/x?a=|",
            "/{x}",
            "/%zz",
            "/a#b#c",
            "/caf\u{7f}",
            "/a[0]",
        ] {
            assert!(uri_parts(bad).is_err(), "{bad}");
        }
        assert_eq!(
            uri_parts("/a b").unwrap_err().to_string(),
            "unable to parse URI [/a b]"
        );
    }

    #[test]
    fn brackets_in_query_and_fragment_are_legal() {
        // Elastic's uri_parts (java.net.URI) accepts `[` `]` in the query and fragment.
        let p = uri_parts("/search.php?filter[name]=x&filter[age]=%3E20#a[1]").unwrap();
        assert_eq!(s(&p.path).as_deref(), Some("/search.php"));
        assert_eq!(s(&p.extension).as_deref(), Some("php"));
        assert_eq!(
            s(&p.query).as_deref(),
            Some("filter[name]=x&filter[age]=>20")
        );
        assert_eq!(s(&p.fragment).as_deref(), Some("a[1]"));
        // The query is decoded even between brackets (getQuery: decode(q, false)).
        let p = uri_parts("/x?a[%41]=1").unwrap();
        assert_eq!(s(&p.query).as_deref(), Some("a[A]=1"));
    }

    #[test]
    fn double_slash_start_reads_an_authority() {
        let p = uri_parts("//cdn.example.com/a/b.js?x=1").unwrap();
        assert_eq!(s(&p.domain).as_deref(), Some("cdn.example.com"));
        assert_eq!(s(&p.path).as_deref(), Some("/a/b.js"));
        assert_eq!(p.scheme, None);
        // `//` then a path: an empty authority is allowed when something follows.
        let p = uri_parts("///etc/passwd").unwrap();
        assert_eq!(p.domain, None);
        assert_eq!(s(&p.path).as_deref(), Some("/etc/passwd"));
        // `//` alone: "Expected authority".
        assert!(uri_parts("//").is_err());
        // A registry-based authority has no host.
        let p = uri_parts("//under_score/x").unwrap();
        assert_eq!(p.domain, None);
        assert_eq!(s(&p.path).as_deref(), Some("/x"));
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

    #[test]
    fn syntax_errors_name_reason_and_index() {
        let e = java_uri("/a b").unwrap_err();
        assert_eq!(e.to_string(), "Illegal character in path at index 2");
        let e = java_uri("/é b").unwrap_err();
        assert_eq!(e.index, 2);
        let e = java_uri(":x").unwrap_err();
        assert_eq!(e.reason, "Expected scheme name");
    }
}
