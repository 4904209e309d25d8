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
    /// [`Bucket::per_period`] scaled to `share` of the budget (at least one request of burst).
    fn rescale(&mut self, n: u32, period: Duration, share: f64, now: Instant) {
        self.refill(now);
        let full = Bucket::per_period(n, period);
        self.capacity = (full.capacity * share).max(1.0);
        self.per_sec = full.per_sec * share;
        self.tokens = self.tokens.min(self.capacity);
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
    /// This process's share of the per-user budgets (replicas: proportional to the sources held).
    share: f64,
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
            share: 1.0,
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

    /// Limits the per-user budgets (the 5-minute global one and Logpull's per-minute one) to
    /// `share` of Cloudflare's (clamped to 1/1000..1): replicas sharing one user's sources each take
    /// the share of the sources they hold, so together they stay within the budget. The tokens
    /// saved up are capped at the new burst; a larger share refills at the new rate (no jump).
    pub fn set_share(&self, share: f64) {
        let share = if share.is_finite() {
            share.clamp(0.001, 1.0)
        } else {
            1.0
        };
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if (g.share - share).abs() < 1e-9 {
            return;
        }
        let now = Instant::now();
        g.share = share;
        g.global.rescale(
            self.limits.requests_per_5min,
            Duration::from_secs(300),
            share,
            now,
        );
        g.logpull.rescale(
            self.limits.logpull_per_min,
            Duration::from_secs(60),
            share,
            now,
        );
    }

    /// The share set by [`RateLimiter::set_share`] (1 for a single process).
    pub fn share(&self) -> f64 {
        match self.inner.lock() {
            Ok(g) => g.share,
            Err(p) => p.into_inner().share,
        }
    }

    /// A zone taken over from another replica: its per-zone bucket starts empty (refilling at the
    /// zone's rate), so the requests of the previous owner's last minute and this one's first
    /// stay within the zone's budget together.
    pub fn start_zone_empty(&self, zone: &str) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut b = Bucket::per_period(
            self.limits.logpull_per_min_per_zone,
            Duration::from_secs(60),
        );
        b.tokens = 0.0;
        g.zones.insert(zone.to_string(), b);
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

    /// Requests sent within `period` from the start by `rl` asking as fast as it may.
    async fn sent_within(rl: &RateLimiter, zone: Option<&str>, period: Duration) -> usize {
        let start = Instant::now();
        let mut n = 0;
        loop {
            rl.acquire(zone).await;
            if start.elapsed() >= period {
                return n;
            }
            n += 1;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_share_of_the_user_budget() {
        // three replicas holding 1, 1 and 4 of 6 sources: together within the budget
        let limits = RateLimits {
            requests_per_5min: 1200,
            logpull_per_min: 100_000,
            logpull_per_min_per_zone: 100_000,
        };
        let mut total = 0;
        for held in [1.0, 1.0, 4.0] {
            let rl = RateLimiter::new(limits.clone());
            rl.set_share(held / 6.0);
            assert!((rl.share() - held / 6.0).abs() < 1e-9);
            let n = sent_within(&rl, None, Duration::from_secs(300)).await;
            let want = 1200.0 * held / 6.0;
            assert!(n as f64 <= want, "{n} > {want}");
            assert!(n as f64 >= want * 0.9, "{n} far below {want}");
            total += n;
        }
        assert!(total <= 1200, "{total}");
        // a share that grows refills at the new rate, without a burst
        let rl = RateLimiter::new(limits.clone());
        rl.set_share(0.1);
        sent_within(&rl, None, Duration::from_secs(10)).await;
        rl.set_share(1.0);
        let n = sent_within(&rl, None, Duration::from_secs(1)).await;
        assert!(n <= 5, "{n}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_zone_taken_over_starts_empty() {
        let rl = RateLimiter::new(RateLimits::default());
        rl.start_zone_empty("z");
        // 15/min per zone: a burst of 1 and 14/min; starting empty, at most 14 in the first minute
        let n = sent_within(&rl, Some("z"), Duration::from_secs(60)).await;
        assert!(n <= 14, "{n}");
        assert!(n >= 13, "{n}");
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
