//! Exponential backoff with jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a wait is spread below the exponential cap `c` of a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly `c`.
    None,
    /// Uniform in `[c/2, c]`: half fixed, half random. Always waits at least half the cap, which
    /// suits an API with rate limits (Cloudflare).
    Equal,
    /// Uniform in `[0, c]`. Spreads many writers retrying against one cluster the most
    /// (Elasticsearch `_bulk`).
    Full,
}

/// Exponential backoff: retry `n` (0 = the first retry) waits around `min(max, initial * 2^n)`,
/// spread by [`Jitter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub jitter: Jitter,
}

impl Backoff {
    /// Exponential from `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration, jitter: Jitter) -> Self {
        Backoff {
            initial,
            max,
            jitter,
        }
    }

    /// The same delay before every retry.
    pub fn constant(d: Duration) -> Self {
        Backoff::new(d, d, Jitter::None)
    }

    /// The upper bound of the wait before retry `retry` (0-based): `min(max, initial * 2^retry)`.
    pub fn cap(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait before retry `retry` (0-based), jittered below [`cap`](Self::cap).
    pub fn delay(&self, retry: u32) -> Duration {
        let cap = self.cap(retry);
        match self.jitter {
            Jitter::None => cap,
            Jitter::Equal => {
                let half = cap / 2;
                half + random_below(cap - half)
            }
            Jitter::Full => random_below(cap),
        }
    }
}

/// Uniform in `[0, d]` (nanosecond steps).
fn random_below(d: Duration) -> Duration {
    let nanos = d.as_nanos().min(u128::from(u64::MAX - 1)) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(random_u64() % (nanos + 1))
}

/// SplitMix64 over a global counter mixed with the clock: plenty for jitter, no dependency.
fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn cap_doubles_from_initial_and_stops_at_max() {
        let b = Backoff::new(100 * MS, 2000 * MS, Jitter::None);
        assert_eq!(b.cap(0), 100 * MS);
        assert_eq!(b.cap(1), 200 * MS);
        assert_eq!(b.cap(3), 800 * MS);
        assert_eq!(b.cap(5), 2000 * MS);
        assert_eq!(b.cap(31), 2000 * MS);
        assert_eq!(b.cap(u32::MAX), 2000 * MS);
        // no overflow with a huge initial value either
        let big = Backoff::new(Duration::MAX / 2, Duration::MAX, Jitter::None);
        assert_eq!(big.cap(40), Duration::MAX);
    }

    #[test]
    fn no_jitter_is_the_cap() {
        let b = Backoff::new(500 * MS, 15_000 * MS, Jitter::None);
        let waits: Vec<_> = (0..7).map(|n| b.delay(n)).collect();
        assert_eq!(
            waits,
            [500, 1000, 2000, 4000, 8000, 15_000, 15_000].map(|m| m * MS)
        );
        assert_eq!(Backoff::constant(2000 * MS).delay(9), 2000 * MS);
    }

    #[test]
    fn equal_jitter_stays_in_the_upper_half_and_varies() {
        let b = Backoff::new(100 * MS, 2000 * MS, Jitter::Equal);
        for retry in 0..12 {
            let cap = b.cap(retry);
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..200 {
                let d = b.delay(retry);
                assert!(
                    d >= cap / 2 && d <= cap,
                    "retry {retry}: {d:?} outside [{:?}, {cap:?}]",
                    cap / 2
                );
                seen.insert(d);
            }
            assert!(seen.len() > 1, "retry {retry}: jittered");
        }
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_range() {
        let b = Backoff::new(100 * MS, 30_000 * MS, Jitter::Full);
        let (mut low, mut high) = (false, false);
        for retry in 0..10 {
            let cap = b.cap(retry);
            for _ in 0..200 {
                let d = b.delay(retry);
                assert!(d <= cap, "retry {retry}: {d:?} > {cap:?}");
                low |= d < cap / 4;
                high |= d > cap * 3 / 4;
            }
        }
        assert!(low && high, "full jitter spreads over [0, cap]");
    }

    #[test]
    fn zero_durations_wait_nothing() {
        for j in [Jitter::None, Jitter::Equal, Jitter::Full] {
            let b = Backoff::new(Duration::ZERO, 30_000 * MS, j);
            assert_eq!(b.delay(5), Duration::ZERO);
            let b = Backoff::new(100 * MS, Duration::ZERO, j);
            assert_eq!(b.delay(0), Duration::ZERO);
        }
    }
}
