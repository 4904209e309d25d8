//! # cfship-retry — one retry policy for every retry loop
//!
//! Every place in cfship that tries something again (a Cloudflare request, a Logpull window, an
//! audit sweep, an Elasticsearch `_bulk` round, a dead letter, the first connection to
//! Elasticsearch, a Logpush spool segment) uses the three parts of this crate:
//!
//! * [`Backoff`]: exponential from `initial`, capped at `max`, with a [`Jitter`] mode;
//! * [`Decision`]: what the caller's classification of a failure says — retry after the backoff,
//!   retry after the backoff but not sooner than some delay, retry after a delay the server gave
//!   (`Retry-After`), or give up;
//! * one driver: [`Retrier`] (for loops whose state changes between attempts) and [`retry`] (the
//!   whole loop around a closure, built on [`Retrier`]). Both count attempts against
//!   [`Policy::max_attempts`], stop when a [`CancellationToken`] fires (a pending wait ends at once)
//!   and call an `on_retry` hook (for logs and metrics) before each wait.
//!
//! The outcome of a loop that stops is a [`Stop`], which says why (given up, attempts exhausted,
//! cancelled) and hands back the last error, so each caller keeps its own error type.
#![deny(unreachable_pub)]

mod backoff;
mod driver;

pub use backoff::{Backoff, Jitter};
pub use driver::{retry, Decision, Policy, Retrier, Retrying, Stop};
pub use tokio_util::sync::CancellationToken;
