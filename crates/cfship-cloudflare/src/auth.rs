//! Credentials. Secrets never show up in `Debug`/`Display` output.

use std::fmt;

/// A secret string (API token or global API key). `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret value; only for putting it into a request header.
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

/// How to authenticate to the Cloudflare API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <token>` (API token, preferred).
    Token(Secret),
    /// `X-Auth-Email` + `X-Auth-Key` (legacy global API key).
    Key { email: String, key: Secret },
}

impl Auth {
    pub fn token(t: impl Into<String>) -> Self {
        Auth::Token(Secret::new(t))
    }
    pub fn key(email: impl Into<String>, key: impl Into<String>) -> Self {
        Auth::Key {
            email: email.into(),
            key: Secret::new(key),
        }
    }
    /// Short description for logs: never contains the secret.
    pub fn describe(&self) -> String {
        match self {
            Auth::Token(_) => "API token".to_string(),
            Auth::Key { email, .. } => format!("global API key of {email}"),
        }
    }
    pub(crate) fn apply(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Token(t) => rb.bearer_auth(t.expose()),
            Auth::Key { email, key } => rb
                .header("X-Auth-Email", email)
                .header("X-Auth-Key", key.expose()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn secrets_are_redacted() {
        let a = Auth::token("sekrit-token-123");
        assert!(!format!("{a:?}").contains("sekrit"));
        let k = Auth::key("me@example.com", "globalkey999");
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("globalkey999"));
        assert!(dbg.contains("[redacted]"));
        assert_eq!(format!("{}", Secret::new("x")), "[redacted]");
        assert!(!k.describe().contains("globalkey999"));
    }
}
