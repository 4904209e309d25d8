//! The Cloudflare API client: envelope parsing, errors with hints, shared rate limiter, retries with
//! exponential backoff + jitter, Retry-After, connect / response / idle-body timeouts.

use crate::auth::Auth;
use crate::error::{hint_for, ApiMessage, CfError};
use crate::logpull_stream::LogpullStream;
use crate::ratelimit::{RateLimiter, RateLimits};
use crate::stats::CollectorStats;
use cfship_retry::{retry, Backoff, Decision, Jitter, Policy, Retrying, Stop};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use url::Url;

/// Default API base URL.
pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";

/// Retry policy for one request (or one Logpull window).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total (first try included). 0 is treated as 1.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The [`cfship_retry::Policy`] of these settings: exponential from `initial_backoff`, capped at
    /// `max_backoff`, with equal jitter (half fixed, half random: a rate-limited API always gets at
    /// least half the wait), at most `max_attempts` attempts.
    pub fn policy(&self) -> Policy {
        Policy::limited(
            Backoff::new(self.initial_backoff, self.max_backoff, Jitter::Equal),
            self.max_attempts,
        )
    }
}

/// How a failed Cloudflare request (or Logpull window, audit sweep) is retried: not at all when
/// retrying cannot help, at once after a 429 (the shared limiter already pauses every request for
/// `Retry-After`), else after the backoff.
pub(crate) fn decide(e: &CfError) -> Decision {
    if !e.is_retryable() {
        Decision::GiveUp
    } else if e.status() == Some(429) {
        Decision::After(Duration::ZERO)
    } else {
        Decision::Backoff
    }
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Base URL including `/client/v4`.
    pub api_url: Url,
    pub connect_timeout: Duration,
    /// Time to wait for the response headers.
    pub response_timeout: Duration,
    /// Longest pause between two body chunks before the body counts as stalled.
    pub idle_body_timeout: Duration,
    pub retry: RetryPolicy,
    pub requests_per_5min: u32,
    pub logpull_requests_per_min: u32,
    pub logpull_requests_per_min_per_zone: u32,
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            api_url: Url::parse(DEFAULT_API_URL).unwrap_or_else(|_| unreachable_url()),
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(120),
            idle_body_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            requests_per_5min: 1200,
            logpull_requests_per_min: 180,
            logpull_requests_per_min_per_zone: 15,
            user_agent: format!("cfship/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

#[allow(clippy::unwrap_used)]
fn unreachable_url() -> Url {
    // DEFAULT_API_URL is a constant valid URL; this is never reached.
    Url::parse("https://api.cloudflare.com/client/v4").unwrap()
}

impl ClientConfig {
    pub fn with_api_url(api_url: &str) -> Result<Self, CfError> {
        let api_url = Url::parse(api_url)
            .map_err(|e| CfError::Config(format!("api_url {api_url:?} is not a URL: {e}")))?;
        Ok(ClientConfig {
            api_url,
            ..Default::default()
        })
    }
}

struct Inner {
    cfg: ClientConfig,
    http: reqwest::Client,
    limiter: RateLimiter,
    stats: Arc<CollectorStats>,
}

/// Cloudflare API client. Cheap to clone; clones share the HTTP pool, the rate limiter and the stats.
#[derive(Clone)]
pub struct CloudflareClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CloudflareClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareClient")
            .field("api_url", &self.inner.cfg.api_url.as_str())
            .finish()
    }
}

/// Result of `verify_token`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct TokenStatus {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub expires_on: Option<String>,
}

/// A decoded Cloudflare envelope whose `result` is kept raw.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
    #[serde(default)]
    pub messages: Vec<ApiMessage>,
    #[serde(default)]
    pub result: Option<Box<RawValue>>,
    #[serde(default)]
    pub result_info: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ApiMessage>,
    #[serde(default)]
    message: Option<String>,
}

impl CloudflareClient {
    pub fn new(cfg: ClientConfig) -> Result<Self, CfError> {
        if !matches!(cfg.api_url.scheme(), "http" | "https") {
            return Err(CfError::Config(format!(
                "api_url must be http(s), got {}",
                cfg.api_url
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .user_agent(cfg.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CfError::Config(format!("cannot build HTTP client: {e}")))?;
        let limiter = RateLimiter::new(RateLimits {
            requests_per_5min: cfg.requests_per_5min,
            logpull_per_min: cfg.logpull_requests_per_min,
            logpull_per_min_per_zone: cfg.logpull_requests_per_min_per_zone,
        });
        Ok(CloudflareClient {
            inner: Arc::new(Inner {
                cfg,
                http,
                limiter,
                stats: CollectorStats::new(),
            }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// The process-wide counters (requests by status, retries, failures, per-source progress).
    pub fn stats(&self) -> Arc<CollectorStats> {
        self.inner.stats.clone()
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// `{api_url}/{path}` (path without leading slash, segments already safe).
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, CfError> {
        let mut base = self.inner.cfg.api_url.clone();
        {
            let mut segs = base
                .path_segments_mut()
                .map_err(|_| CfError::Config("api_url cannot be a base URL".into()))?;
            segs.pop_if_empty();
            for s in path.split('/').filter(|s| !s.is_empty()) {
                segs.push(s);
            }
        }
        if !query.is_empty() {
            let mut q = base.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(base)
    }

    async fn send_once(
        &self,
        auth: &Auth,
        url: &Url,
        zone_limit: Option<&str>,
        gzip: bool,
        context: &str,
    ) -> Result<reqwest::Response, CfError> {
        let waited = self.inner.limiter.acquire(zone_limit).await;
        let st = &self.inner.stats;
        st.rate_limit_wait_ms
            .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
        st.requests_total.fetch_add(1, Ordering::Relaxed);
        let mut rb = self
            .inner
            .http
            .get(url.clone())
            .header("Accept", "application/json");
        if gzip {
            rb = rb.header("Accept-Encoding", "gzip");
        }
        rb = auth.apply(rb);
        let resp = match tokio::time::timeout(self.inner.cfg.response_timeout, rb.send()).await {
            Err(_) => {
                st.transport_errors.fetch_add(1, Ordering::Relaxed);
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: format!("no response within {:?}", self.inner.cfg.response_timeout),
                });
            }
            Ok(Err(e)) => {
                st.transport_errors.fetch_add(1, Ordering::Relaxed);
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: describe_reqwest(&e),
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        st.count_status(status);
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self.error_from_response(resp, context).await)
    }

    async fn error_from_response(&self, resp: reqwest::Response, context: &str) -> CfError {
        let status = resp.status().as_u16();
        let cf_ray = resp
            .headers()
            .get("cf-ray")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if status == 429 {
            let d = Duration::from_secs(retry_after.unwrap_or(60));
            self.inner.limiter.pause_for(d);
        }
        // Read at most 64 KiB of an error body.
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(self.inner.cfg.idle_body_timeout, stream.try_next()).await
        {
            let room = 65536usize.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= 65536 {
                break;
            }
        }
        let mut errors = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) => {
                let mut e = b.errors;
                if e.is_empty() {
                    if let Some(m) = b.message {
                        e.push(ApiMessage {
                            code: 0,
                            message: m,
                            error_chain: vec![],
                        });
                    }
                }
                e
            }
            Err(_) => Vec::new(),
        };
        if errors.is_empty() {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            if !text.is_empty() {
                errors.push(ApiMessage {
                    code: 0,
                    message: text.chars().take(300).collect(),
                    error_chain: vec![],
                });
            }
        }
        let hint = hint_for(status, &errors, &permission_hint(context));
        CfError::Api {
            context: context.to_string(),
            status,
            errors,
            cf_ray,
            hint,
            retry_after,
        }
    }

    /// Runs `f` with the retry policy (backoff + jitter; a 429 waits for Retry-After via the limiter).
    async fn retrying<T, F, Fut>(&self, context: &str, f: F) -> Result<T, CfError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CfError>>,
    {
        let stats = &self.inner.stats;
        let classify = |e: &CfError| {
            stats.failed_requests.fetch_add(1, Ordering::Relaxed);
            decide(e)
        };
        let on_retry = |r: &Retrying<'_, CfError>| {
            tracing::warn!(context, attempt = r.attempt, wait = ?r.wait, error = %r.error, "Cloudflare request failed, retrying");
            stats.retries.fetch_add(1, Ordering::Relaxed);
        };
        match retry(self.inner.cfg.retry.policy(), None, f, classify, on_retry).await {
            Ok(v) => Ok(v),
            Err(Stop::Exhausted { attempts, error }) => {
                tracing::error!(context, attempts, error = %error, "Cloudflare request failed, giving up");
                Err(CfError::RetriesExhausted {
                    context: context.to_string(),
                    attempts,
                    last: Box::new(error),
                })
            }
            Err(stop) => {
                let e = stop.into_error();
                // the error is returned: whoever made the request reports it (once)
                tracing::debug!(context, error = %e, "Cloudflare request failed (not retryable)");
                Err(e)
            }
        }
    }

    /// GET an enveloped endpoint with retries. `success:false` is an error.
    pub async fn get_envelope(
        &self,
        auth: &Auth,
        path: &str,
        query: &[(&str, String)],
        context: &str,
    ) -> Result<Envelope, CfError> {
        let url = self.url(path, query)?;
        self.retrying(context, || self.get_envelope_once(auth, &url, context))
            .await
    }

    /// `GET /zones/{zone}/logs/received/fields`: every field name Logpull accepts for the zone (for
    /// validating `fields` in `cfship check`). The answer is a bare `{name: description}` object.
    pub async fn logpull_fields(&self, auth: &Auth, zone: &str) -> Result<Vec<String>, CfError> {
        let ctx = format!("zone {zone}: list Logpull fields");
        let url = self.url(&format!("zones/{zone}/logs/received/fields"), &[])?;
        let body = self
            .retrying(&ctx, || async {
                let resp = self.send_once(auth, &url, None, true, &ctx).await?;
                read_body_limited(resp, self.inner.cfg.idle_body_timeout, 16 << 20, &ctx).await
            })
            .await?;
        let m: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| CfError::Decode {
                context: ctx.clone(),
                reason: format!("expected a JSON object of field names: {e}"),
            })?;
        Ok(m.keys().cloned().collect())
    }

    /// `GET /accounts/{account}/tokens/verify` for account-owned API tokens (they are invisible to
    /// `/user/tokens/verify`).
    pub async fn verify_account_token(
        &self,
        auth: &Auth,
        account: &str,
    ) -> Result<TokenStatus, CfError> {
        let ctx = format!("account {account}: verify API token");
        let env = self
            .get_envelope(
                auth,
                &format!("accounts/{account}/tokens/verify"),
                &[],
                &ctx,
            )
            .await?;
        decode_result(&env, &ctx)
    }

    async fn get_envelope_once(
        &self,
        auth: &Auth,
        url: &Url,
        context: &str,
    ) -> Result<Envelope, CfError> {
        let resp = self.send_once(auth, url, None, true, context).await?;
        let status = resp.status().as_u16();
        let body =
            read_body_limited(resp, self.inner.cfg.idle_body_timeout, 256 << 20, context).await?;
        let env: Envelope = serde_json::from_slice(&body).map_err(|e| CfError::Decode {
            context: context.to_string(),
            reason: format!("not a Cloudflare JSON envelope: {e}"),
        })?;
        if !env.success {
            let hint = hint_for(status, &env.errors, &permission_hint(context));
            return Err(CfError::Api {
                context: context.to_string(),
                status,
                errors: env.errors,
                cf_ray: None,
                hint,
                retry_after: None,
            });
        }
        Ok(env)
    }

    /// One request with an optional JSON body (`POST`, `PUT`, `DELETE` of the Logpush jobs API),
    /// through the shared rate limiter. Not retried: creating a job is not idempotent; the caller
    /// reports the error. `success:false` is an error.
    pub async fn send_envelope(
        &self,
        auth: &Auth,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        context: &str,
    ) -> Result<Envelope, CfError> {
        let url = self.url(path, &[])?;
        let waited = self.inner.limiter.acquire(None).await;
        let st = &self.inner.stats;
        st.rate_limit_wait_ms
            .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
        st.requests_total.fetch_add(1, Ordering::Relaxed);
        let mut rb = self
            .inner
            .http
            .request(method, url)
            .header("Accept", "application/json");
        if let Some(b) = body {
            rb = rb.json(b);
        }
        rb = auth.apply(rb);
        let resp = match tokio::time::timeout(self.inner.cfg.response_timeout, rb.send()).await {
            Err(_) => {
                st.transport_errors.fetch_add(1, Ordering::Relaxed);
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: format!("no response within {:?}", self.inner.cfg.response_timeout),
                });
            }
            Ok(Err(e)) => {
                st.transport_errors.fetch_add(1, Ordering::Relaxed);
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: describe_reqwest(&e),
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        st.count_status(status);
        if !resp.status().is_success() {
            st.failed_requests.fetch_add(1, Ordering::Relaxed);
            return Err(self.error_from_response(resp, context).await);
        }
        let body =
            read_body_limited(resp, self.inner.cfg.idle_body_timeout, 16 << 20, context).await?;
        let env: Envelope = serde_json::from_slice(&body).map_err(|e| CfError::Decode {
            context: context.to_string(),
            reason: format!("not a Cloudflare JSON envelope: {e}"),
        })?;
        if !env.success {
            let hint = hint_for(status, &env.errors, &permission_hint(context));
            return Err(CfError::Api {
                context: context.to_string(),
                status,
                errors: env.errors,
                cf_ray: None,
                hint,
                retry_after: None,
            });
        }
        Ok(env)
    }

    /// `GET /user/tokens/verify` (token auth) — for `cfship check`. With key auth, `GET /user` is
    /// used instead (the global key has no verify endpoint) and the status is reported as "active".
    pub async fn verify_token(&self, auth: &Auth) -> Result<TokenStatus, CfError> {
        match auth {
            Auth::Token(_) => {
                let env = self
                    .get_envelope(auth, "user/tokens/verify", &[], "verify API token")
                    .await?;
                decode_result(&env, "verify API token")
            }
            Auth::Key { email, .. } => {
                self.get_envelope(auth, "user", &[], "verify global API key")
                    .await?;
                Ok(TokenStatus {
                    id: email.clone(),
                    status: "active".into(),
                    expires_on: None,
                })
            }
        }
    }

    /// `GET /zones/{zone}/logs/control/retention/flag` → the flag.
    pub async fn logpull_retention(&self, auth: &Auth, zone: &str) -> Result<bool, CfError> {
        #[derive(Deserialize)]
        struct Flag {
            flag: bool,
        }
        let ctx = format!("zone {zone}: read Logpull retention flag");
        let env = self
            .get_envelope(
                auth,
                &format!("zones/{zone}/logs/control/retention/flag"),
                &[],
                &ctx,
            )
            .await?;
        let f: Flag = decode_result(&env, &ctx)?;
        Ok(f.flag)
    }

    /// Proves the credentials can read the account's audit logs (`per_page=1`).
    pub async fn audit_readable(&self, auth: &Auth, account: &str) -> Result<(), CfError> {
        let ctx = format!("account {account}: read audit logs");
        self.get_envelope(
            auth,
            &format!("accounts/{account}/audit_logs"),
            &[("per_page", "1".to_string())],
            &ctx,
        )
        .await?;
        Ok(())
    }

    /// One attempt to open a Logpull stream (no retry: the caller retries the whole window).
    pub async fn open_logpull(
        &self,
        auth: &Auth,
        zone: &str,
        query: &[(&str, String)],
        context: &str,
    ) -> Result<LogpullStream, CfError> {
        let url = self.url(&format!("zones/{zone}/logs/received"), query)?;
        let resp = self
            .send_once(auth, &url, Some(zone), true, context)
            .await?;
        if resp.status().as_u16() == 204 {
            return Err(CfError::RetentionDisabled {
                zone: zone.to_string(),
            });
        }
        let gzip = resp
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let body = resp
            .bytes_stream()
            .map_err(|e| std::io::Error::other(describe_reqwest(&e)));
        let reader = tokio_util::io::StreamReader::new(body);
        let reader: Box<dyn AsyncRead + Send + Unpin> = if gzip {
            Box::new(async_compression::tokio::bufread::GzipDecoder::new(
                tokio::io::BufReader::with_capacity(64 * 1024, reader),
            ))
        } else {
            Box::new(reader)
        };
        Ok(LogpullStream::new(
            reader,
            self.inner.cfg.idle_body_timeout,
            context,
            self.inner.stats.clone(),
        ))
    }
}

fn permission_hint(context: &str) -> String {
    if context.contains("audit") {
        "audit logs need a token with Account Settings: Read on this account".to_string()
    } else if context.contains("retention") {
        "the retention flag needs Logs: Read/Write on the zone".to_string()
    } else if context.contains("zone") {
        "Logpull needs a zone-scoped token with Logs: Read".to_string()
    } else {
        "check the token's permissions".to_string()
    }
}

pub(crate) fn decode_result<T: serde::de::DeserializeOwned>(
    env: &Envelope,
    ctx: &str,
) -> Result<T, CfError> {
    let raw = env.result.as_ref().ok_or_else(|| CfError::Decode {
        context: ctx.to_string(),
        reason: "envelope has no result".into(),
    })?;
    serde_json::from_str(raw.get()).map_err(|e| CfError::Decode {
        context: ctx.to_string(),
        reason: e.to_string(),
    })
}

pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        // The URL (with its long `fields` list) is already in the context.
        s = s.replace(&format!(" for url ({u})"), "");
    }
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    if e.is_connect() {
        s.push_str(" (connect failed: check api_url and network)");
    }
    s
}

async fn read_body_limited(
    resp: reqwest::Response,
    idle: Duration,
    limit: usize,
    context: &str,
) -> Result<Vec<u8>, CfError> {
    let gzip = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = resp
        .bytes_stream()
        .map_err(|e| std::io::Error::other(describe_reqwest(&e)));
    let reader = tokio_util::io::StreamReader::new(body);
    let mut reader: Box<dyn AsyncRead + Send + Unpin> = if gzip {
        Box::new(async_compression::tokio::bufread::GzipDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match tokio::time::timeout(idle, reader.read(&mut buf)).await {
            Err(_) => {
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: format!("response body stalled for {idle:?}"),
                })
            }
            Ok(Err(e)) => {
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: format!("reading response body: {e}"),
                })
            }
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > limit {
            return Err(CfError::Decode {
                context: context.to_string(),
                reason: format!("response larger than {limit} bytes"),
            });
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_exponential_with_jitter_and_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        };
        for attempt in 1..=10u32 {
            let full =
                (Duration::from_millis(100) * 2u32.pow(attempt - 1)).min(Duration::from_secs(2));
            let d = p.policy().backoff.delay(attempt - 1);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} vs {full:?}"
            );
        }
        let samples: std::collections::HashSet<u128> = (0..20)
            .map(|_| p.policy().backoff.delay(4).as_nanos())
            .collect();
        assert!(samples.len() > 1, "jittered");
        assert_eq!(p.policy().max_attempts, Some(10));
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_queries() {
        let c = CloudflareClient::new(
            ClientConfig::with_api_url("http://127.0.0.1:1/client/v4/").unwrap(),
        )
        .unwrap();
        let u = c
            .url(
                "zones/abc/logs/received",
                &[("start", "2026-11-25T04:00:00+01:00".into())],
            )
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/client/v4/zones/abc/logs/received?start=2026-11-25T04%3A00%3A00%2B01%3A00"
        );
        assert!(CloudflareClient::new(ClientConfig::with_api_url("ftp://x/").unwrap()).is_err());
        assert!(ClientConfig::with_api_url("not a url").is_err());
        assert_eq!(ClientConfig::default().api_url.as_str(), DEFAULT_API_URL);
    }
}
