//! # cfship-secret — one type for every credential
//!
//! Cloudflare API tokens and keys, Elasticsearch passwords, API keys, bearer tokens and header
//! values are all [`Secret`]s: `Debug` and `Display` print `[redacted]`, so a secret cannot reach a
//! log line, an error message or a `{:?}` of a configuration by accident. The value comes out only
//! through [`Secret::expose`], where a client puts it into a request header.
#![deny(unreachable_pub)]

use serde::Deserialize;
use std::fmt;

/// A secret string. `Debug` and `Display` print `[redacted]`; deserializes from a plain string.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself: only for building a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_only_exposed() {
        let s: Secret = serde_json::from_str("\"tok-123\"").unwrap();
        assert_eq!(
            format!("{s:?} {s} {:?}", Some(&s)),
            "[redacted] [redacted] Some([redacted])"
        );
        assert_eq!(s.expose(), "tok-123");
        assert_eq!(s, Secret::from("tok-123"));
        assert_eq!(Secret::default().expose(), "");
    }
}
