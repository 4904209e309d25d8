//! Fault injection: which request gets a 429, a 5xx, a delay, a cut body or an error trailer.
//!
//! A rate is a fraction of the eligible requests, spread evenly: a fault fires each time the running
//! sum of its rate crosses 1, with a seed-dependent phase. A rate of 0.1 means exactly every 10th
//! eligible request, so a test gets the faults it asks for on every run.

use crate::data::{mix, Rng};
use crate::routes::envelope_error;
use crate::state::{lock, Shared};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Mutex;
use std::time::Duration;

/// The kinds of fault, each with its own accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    TooManyRequests = 0,
    ServerError = 1,
    Slow = 2,
    Truncated = 3,
    ErrorTrailer = 4,
}

/// The five accumulators (see the module docs).
pub(crate) struct FaultDice {
    acc: Mutex<[f64; 5]>,
}

impl FaultDice {
    pub(crate) fn new(seed: u64) -> Self {
        FaultDice {
            acc: Mutex::new(std::array::from_fn(|i| {
                (mix(seed ^ i as u64) >> 11) as f64 / (1u64 << 53) as f64
            })),
        }
    }

    pub(crate) fn hit(&self, kind: FaultKind, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        let mut g = lock(&self.acc);
        let a = &mut g[kind as usize];
        *a += rate.min(1.0);
        if *a >= 1.0 {
            *a -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The 429 / 5xx / slow faults common to every data endpoint: the response to send instead of the
/// real one (if any) and the fault label for the request log.
pub(crate) async fn common_faults(
    s: &Shared,
    rng: &mut Rng,
) -> (Option<Response>, Option<&'static str>) {
    let f = s.faults();
    if s.fault_hit(FaultKind::TooManyRequests, f.rate_429) {
        let body = json!({"success": false, "errors": [{"code": 971, "message": "Please wait and consider throttling your request speed"}], "messages": [], "result": null});
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&f.retry_after_secs.to_string()) {
            r.headers_mut().insert("retry-after", v);
        }
        return (Some(r), Some("429"));
    }
    if s.fault_hit(FaultKind::ServerError, f.rate_5xx) {
        let r = match rng.below(3) {
            0 => envelope_error(StatusCode::INTERNAL_SERVER_ERROR, 10001, "Internal server error"),
            1 => (
                StatusCode::BAD_GATEWAY,
                [("content-type", "text/html")],
                "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>",
            )
                .into_response(),
            _ => envelope_error(StatusCode::SERVICE_UNAVAILABLE, 10043, "Service temporarily unavailable"),
        };
        return (Some(r), Some("5xx"));
    }
    if s.fault_hit(FaultKind::Slow, f.rate_slow) {
        tokio::time::sleep(Duration::from_millis(f.slow_ms)).await;
        return (None, Some("slow"));
    }
    (None, None)
}
