//! Errors of the Cloudflare client and collectors.

use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// One `{code, message}` item of a Cloudflare envelope's `errors`/`messages`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ApiMessage {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub error_chain: Vec<ApiMessage>,
}

impl fmt::Display for ApiMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code {}: {}", self.code, self.message)?;
        for c in &self.error_chain {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

fn join(msgs: &[ApiMessage]) -> String {
    if msgs.is_empty() {
        return "no error details in the response".to_string();
    }
    msgs.iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// What went wrong with a Logpull stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamFailure {
    /// The body ended with Cloudflare's non-JSON error trailer (e.g. `Error streaming data`).
    ErrorTrailer(String),
    /// The body ended in the middle of an object or of the gzip stream.
    Truncated(String),
    /// Non-JSON garbage or an object that does not parse.
    Invalid(String),
    /// No bytes for longer than the idle timeout.
    IdleTimeout(Duration),
    /// Transport error while reading the body.
    Transport(String),
}

impl fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamFailure::ErrorTrailer(t) => {
                write!(f, "response ended with Cloudflare's error trailer {t:?}")
            }
            StreamFailure::Truncated(r) => write!(f, "response was cut short: {r}"),
            StreamFailure::Invalid(r) => write!(f, "invalid data in response: {r}"),
            StreamFailure::IdleTimeout(d) => write!(f, "no data received for {d:?}"),
            StreamFailure::Transport(r) => write!(f, "connection error while reading: {r}"),
        }
    }
}

/// Where in a Logpull body a failure happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamPosition {
    /// Bytes of the (decompressed) body scanned.
    pub offset: u64,
    /// Complete objects before the failure.
    pub objects: u64,
}

impl fmt::Display for StreamPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at byte {} of the body, after {} objects",
            self.offset, self.objects
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CfError {
    #[error("invalid configuration: {0}")]
    Config(String),

    /// One setting of a collector configuration breaks its rule; `key` is the setting's name in
    /// its configuration section (`sample`, `per_page`…), so a caller can point at the line.
    #[error("invalid configuration: {section} {key} {reason}")]
    Setting {
        section: &'static str,
        key: &'static str,
        reason: String,
    },

    /// Cloudflare answered with a non-2xx status or `success:false`.
    #[error(
        "{context}: Cloudflare answered HTTP {status}: {}{}{}",
        join(errors),
        ray_suffix(cf_ray),
        hint_suffix(hint)
    )]
    Api {
        context: String,
        status: u16,
        errors: Vec<ApiMessage>,
        cf_ray: Option<String>,
        hint: Option<String>,
        /// Seconds from `Retry-After` (429).
        retry_after: Option<u64>,
    },

    /// The request could not be sent or the response not read (connect, TLS, timeout, reset).
    #[error("{context}: request failed: {reason}")]
    Transport { context: String, reason: String },

    /// A Logpull response that started fine but did not end cleanly.
    #[error("{context}: {failure} ({at}); the window is discarded and retried whole")]
    Stream {
        context: String,
        failure: StreamFailure,
        /// How far the body got when it failed.
        at: StreamPosition,
    },

    /// An enveloped response that could not be decoded.
    #[error("{context}: unexpected response body: {reason}")]
    Decode { context: String, reason: String },

    /// Logpull answered 204 / the retention flag is off: Cloudflare keeps no logs for the zone.
    #[error(
        "zone {zone}: Logpull log retention is off, Cloudflare keeps no logs for this zone; enable it with \
         POST /zones/{zone}/logs/control/retention/flag {{\"flag\":true}} (needs Logs: Write); logs exist \
         only from that moment on"
    )]
    RetentionDisabled { zone: String },

    #[error("{context}: gave up after {attempts} attempts; last error: {last}")]
    RetriesExhausted {
        context: String,
        attempts: u32,
        last: Box<CfError>,
    },

    #[error("cursor store: {0}")]
    State(#[from] cfship_state::StateError),

    #[error("{context}: {source}")]
    Sink {
        context: String,
        #[source]
        source: crate::sink::SinkError,
    },

    #[error("cancelled")]
    Cancelled,
}

fn ray_suffix(r: &Option<String>) -> String {
    match r {
        Some(r) => format!(" [cf-ray {r}]"),
        None => String::new(),
    }
}
fn hint_suffix(h: &Option<String>) -> String {
    match h {
        Some(h) => format!(" — {h}"),
        None => String::new(),
    }
}

impl CfError {
    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            CfError::Api { status, .. } => {
                *status == 429 || *status >= 500 || *status == 408 || self.is_logpull_too_late()
            }
            CfError::Transport { .. } | CfError::Stream { .. } => true,
            CfError::Decode { .. } => true,
            CfError::Sink { source, .. } => source.retryable,
            CfError::State(e) => e.is_transient(),
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            CfError::Api { status, .. } => Some(*status),
            CfError::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// All Cloudflare error codes carried by this error.
    pub fn codes(&self) -> Vec<i64> {
        match self {
            CfError::Api { errors, .. } => errors.iter().map(|e| e.code).collect(),
            CfError::RetriesExhausted { last, .. } => last.codes(),
            _ => Vec::new(),
        }
    }

    fn api_text(&self) -> String {
        match self {
            CfError::Api { errors, .. } => errors
                .iter()
                .map(|e| e.message.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        }
    }

    /// 400 "too late": the window's end is too close to now (server clock ahead); wait and retry.
    pub fn is_logpull_too_late(&self) -> bool {
        matches!(self, CfError::Api { status: 400, .. }) && self.api_text().contains("too late")
    }

    /// 400 "too early": the window's start is older than the server's retention limit.
    pub fn is_logpull_too_early(&self) -> bool {
        matches!(self, CfError::Api { status: 400, .. }) && self.api_text().contains("too early")
    }
}

/// A hint what to fix for a Cloudflare error status / code.
pub(crate) fn hint_for(status: u16, errors: &[ApiMessage], what: &str) -> Option<String> {
    let codes: Vec<i64> = errors.iter().map(|e| e.code).collect();
    let text = errors
        .iter()
        .map(|e| e.message.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    if codes.contains(&10000) || codes.contains(&1000) || codes.contains(&6003) || status == 401 {
        return Some(format!(
            "check the credentials: the API token (Authorization: Bearer) or the X-Auth-Email + X-Auth-Key \
             pair is wrong, expired or revoked; {what}"
        ));
    }
    if status == 403 {
        if text.contains("field") {
            return Some(
                "remove the named fields from `fields` (or disable bot_fields): they need a Cloudflare \
                 product (e.g. Bot Management) the zone does not have"
                    .to_string(),
            );
        }
        return Some(format!(
            "the credentials are valid but lack permission: {what}"
        ));
    }
    if status == 429 {
        return Some(
            "rate limited by Cloudflare (1200 requests / 5 min per user, Logpull 15/min per zone): lower \
             requests_per_5min or the number of sources sharing these credentials"
                .to_string(),
        );
    }
    if status == 400 && text.contains("field") {
        return Some(
            "fix the `fields` list: every name must exist in GET /zones/{zone}/logs/received/fields".to_string(),
        );
    }
    if status == 400 && text.contains("too early") {
        return Some("the window starts before Logpull's retention limit (168h)".to_string());
    }
    if status == 400 && text.contains("too late") {
        return Some("the window ends too close to now; the server clock may be ahead".to_string());
    }
    if status == 404 {
        return Some("check the zone / account id".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_quotes_codes_chain_ray_and_hint() {
        let errors: Vec<ApiMessage> = serde_json::from_str(
            r#"[{"code":6003,"message":"Invalid request headers","error_chain":[{"code":6111,"message":"Invalid format for Authorization header"}]}]"#,
        )
        .unwrap();
        let hint = hint_for(400, &errors, "x");
        let e = CfError::Api {
            context: "zone z window [a, b)".into(),
            status: 400,
            errors,
            cf_ray: Some("8f1e2d3c4b5a6978-FRA".into()),
            hint,
            retry_after: None,
        };
        let s = e.to_string();
        assert!(s.starts_with("zone z window [a, b): Cloudflare answered HTTP 400: code 6003: Invalid request headers (code 6111: Invalid format for Authorization header)"), "{s}");
        assert!(
            s.contains("[cf-ray 8f1e2d3c4b5a6978-FRA]") && s.contains("check the credentials"),
            "{s}"
        );
        assert!(!e.is_retryable());
        assert_eq!(e.codes(), vec![6003]);
    }

    #[test]
    fn classification() {
        let api = |status: u16, msg: &str| CfError::Api {
            context: String::new(),
            status,
            errors: vec![ApiMessage {
                code: 1002,
                message: msg.into(),
                error_chain: vec![],
            }],
            cf_ray: None,
            hint: None,
            retry_after: None,
        };
        assert!(api(429, "x").is_retryable());
        assert!(api(502, "x").is_retryable());
        assert!(api(408, "x").is_retryable());
        assert!(!api(403, "Authentication error").is_retryable());
        let late = api(400, "bad query: error parsing time: invalid time range: too late: logs newer than 1m0s are not available");
        assert!(late.is_logpull_too_late() && late.is_retryable() && !late.is_logpull_too_early());
        let early = api(400, "bad query: error parsing time: invalid time range: too early: logs older than 168h0m0s are not available");
        assert!(early.is_logpull_too_early() && !early.is_retryable());
        assert!(hint_for(
            403,
            &[ApiMessage {
                code: 1002,
                message: "fields not allowed: BotScore".into(),
                error_chain: vec![]
            }],
            ""
        )
        .unwrap()
        .contains("Bot Management"));
        let exhausted = CfError::RetriesExhausted {
            context: "c".into(),
            attempts: 3,
            last: Box::new(api(503, "x")),
        };
        assert_eq!(exhausted.status(), Some(503));
    }
}
