//! Credentials. Secrets never show up in `Debug`/`Display` output.

pub use cfship_secret::Secret;

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
