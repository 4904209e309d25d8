//! Counters for the Prometheus endpoint of the binary: plain atomics, read with `Ordering::Relaxed`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the bulk latency histogram buckets; the last bucket is `+Inf`.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Live counters of one sink (shared by all its clones).
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Bulk (and dead-letter bulk) requests answered 2xx.
    pub bulk_requests_2xx: AtomicU64,
    /// Bulk requests answered 429.
    pub bulk_requests_429: AtomicU64,
    /// Bulk requests answered with another 4xx.
    pub bulk_requests_4xx: AtomicU64,
    /// Bulk requests answered 5xx.
    pub bulk_requests_5xx: AtomicU64,
    /// Bulk requests that got no HTTP answer (connection refused, timeout…).
    pub bulk_requests_transport_error: AtomicU64,
    /// Whole bulk requests sent again after a failure.
    pub request_retries: AtomicU64,
    /// Single items sent again after a retryable item failure (429, 5xx, rejected execution).
    pub item_retries: AtomicU64,
    /// Items created.
    pub items_created: AtomicU64,
    /// Items already present (409 on `create`).
    pub items_duplicate: AtomicU64,
    /// Items written to the dead letter.
    pub items_dead_lettered: AtomicU64,
    /// Request body bytes put on the wire (after gzip).
    pub bytes_sent: AtomicU64,
    /// Request body bytes before compression.
    pub bytes_uncompressed: AtomicU64,
    /// Bulk requests currently in flight.
    pub in_flight: AtomicI64,
    /// Bulk latency histogram: counts per bucket of [`LATENCY_BUCKETS`] (non-cumulative), last is `+Inf`.
    pub latency_buckets: [AtomicU64; 12],
    /// Sum of all observed bulk latencies, microseconds.
    pub latency_sum_micros: AtomicU64,
    /// Number of observed bulk latencies.
    pub latency_count: AtomicU64,
}

impl SinkStats {
    pub(crate) fn record_status(&self, status: u16) {
        let c = match status {
            200..=299 => &self.bulk_requests_2xx,
            429 => &self.bulk_requests_429,
            500..=599 => &self.bulk_requests_5xx,
            _ => &self.bulk_requests_4xx,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn observe_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let idx = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[idx].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(
            d.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative bucket counts as Prometheus wants them (`le` = bound, last = `+Inf`).
    pub fn latency_cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        let mut out = Vec::with_capacity(self.latency_buckets.len());
        for (i, c) in self.latency_buckets.iter().enumerate() {
            acc += c.load(Ordering::Relaxed);
            let bound = LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
            out.push((bound, acc));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let s = SinkStats::default();
        s.observe_latency(Duration::from_millis(3));
        s.observe_latency(Duration::from_millis(40));
        s.observe_latency(Duration::from_secs(60));
        let c = s.latency_cumulative();
        assert_eq!(c[0], (0.005, 1));
        assert_eq!(c[3], (0.05, 2));
        assert_eq!(c.last().map(|x| x.1), Some(3));
        assert!(c.last().is_some_and(|x| x.0.is_infinite()));
        assert_eq!(s.latency_count.load(Ordering::Relaxed), 3);
    }
}
