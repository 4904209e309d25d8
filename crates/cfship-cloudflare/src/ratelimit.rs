//! Client-side rate limiting shared by every source of a process.
//!
//! A token bucket per budget (Cloudflare's global 1200 requests / 5 minutes per user; Logpull's 180/min
//! per user and 15/min per zone) plus a shared "paused until" instant set by a `429 Retry-After`, so a
//! 429 on one zone pauses every stream using the same client.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: f64, per_sec: f64) -> Self {
        Bucket {
            capacity,
            tokens: capacity,
            per_sec,
            last: Instant::now(),
        }
    }
    /// Budget of `n` requests per `period`, never more than `n` in any period.
    fn per_period(n: u32, period: Duration) -> Self {
        let n = f64::from(n.max(1));
        // Burst of 5% and a refill rate such that burst + refill over one period stays <= n.
        let burst = (n * 0.05).max(1.0);
        let per_sec = ((n - burst).max(1.0)) / period.as_secs_f64();
        Bucket::new(burst, per_sec)
    }
    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }
    /// Time until one token is available (0 if available now).
    fn wait_time(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec)
        }
    }
    fn take(&mut self) {
        self.tokens -= 1.0;
    }
}

/// Limits for [`RateLimiter`].
#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Cloudflare's global budget: 1200 requests per 5 minutes per user.
    pub requests_per_5min: u32,
    /// Logpull: 180 requests per minute per user.
    pub logpull_per_min: u32,
    /// Logpull: 15 requests per minute per zone.
    pub logpull_per_min_per_zone: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            requests_per_5min: 1200,
            logpull_per_min: 180,
            logpull_per_min_per_zone: 15,
        }
    }
}

#[derive(Debug)]
struct Inner {
    global: Bucket,
    logpull: Bucket,
    zones: HashMap<String, Bucket>,
    paused_until: Option<Instant>,
}

/// The shared limiter. One per [`crate::CloudflareClient`] (clones share it).
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    inner: Mutex<Inner>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        let inner = Inner {
            global: Bucket::per_period(limits.requests_per_5min, Duration::from_secs(300)),
            logpull: Bucket::per_period(limits.logpull_per_min, Duration::from_secs(60)),
            zones: HashMap::new(),
            paused_until: None,
        };
        RateLimiter {
            limits,
            inner: Mutex::new(inner),
        }
    }

    /// Waits until a request may be sent. `zone` = Some for Logpull requests. Returns the time waited.
    pub async fn acquire(&self, zone: Option<&str>) -> Duration {
        let started = Instant::now();
        loop {
            let wait = {
                let mut g = match self.inner.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                let now = Instant::now();
                let mut wait = Duration::ZERO;
                if let Some(p) = g.paused_until {
                    if p > now {
                        wait = p - now;
                    } else {
                        g.paused_until = None;
                    }
                }
                wait = wait.max(g.global.wait_time(now));
                if let Some(z) = zone {
                    wait = wait.max(g.logpull.wait_time(now));
                    let per_zone = self.limits.logpull_per_min_per_zone;
                    let b = g
                        .zones
                        .entry(z.to_string())
                        .or_insert_with(|| Bucket::per_period(per_zone, Duration::from_secs(60)));
                    wait = wait.max(b.wait_time(now));
                }
                if wait.is_zero() {
                    g.global.take();
                    if let Some(z) = zone {
                        g.logpull.take();
                        if let Some(b) = g.zones.get_mut(z) {
                            b.take();
                        }
                    }
                    return started.elapsed();
                }
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Pauses every request of this limiter for `d` (a `429 Retry-After`).
    pub fn pause_for(&self, d: Duration) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let until = Instant::now() + d;
        if g.paused_until.is_none_or(|p| p < until) {
            g.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_budget_in_a_period() {
        let rl = RateLimiter::new(RateLimits {
            requests_per_5min: 100,
            logpull_per_min: 1000,
            logpull_per_min_per_zone: 1000,
        });
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..150 {
            rl.acquire(None).await;
            times.push(Instant::now() - start);
        }
        // In any 300 s window at most 100 requests.
        for (i, t) in times.iter().enumerate() {
            let n = times[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(300))
                .count();
            assert!(n <= 100, "{n} requests in 300s starting at {t:?}");
        }
        // And it keeps going (not stuck): 150 requests within ~2 periods.
        assert!(times[149] < Duration::from_secs(600));
    }

    #[tokio::test(start_paused = true)]
    async fn per_zone_budget_and_pause() {
        let rl = RateLimiter::new(RateLimits {
            requests_per_5min: 10_000,
            logpull_per_min: 10_000,
            logpull_per_min_per_zone: 20,
        });
        let start = Instant::now();
        // Zone a: burst of 1, then ~19/min.
        rl.acquire(Some("a")).await;
        rl.acquire(Some("a")).await;
        let after_two = start.elapsed();
        assert!(after_two >= Duration::from_secs(2), "{after_two:?}");
        // Another zone is not slowed by zone a.
        let t = Instant::now();
        rl.acquire(Some("b")).await;
        assert!(t.elapsed() < Duration::from_millis(10));
        // A pause (429 Retry-After) blocks everyone, including non-Logpull calls.
        rl.pause_for(Duration::from_secs(7));
        let t = Instant::now();
        rl.acquire(None).await;
        assert!(t.elapsed() >= Duration::from_secs(7));
    }
}
