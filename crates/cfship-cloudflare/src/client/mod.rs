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

mod api;
mod errors;

pub(crate) use errors::{decode_result, describe_reqwest};
use errors::{permission_hint, read_body_limited};

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
