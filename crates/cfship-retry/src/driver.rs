//! The retry driver: attempts, the decision per failure, cancellable waits, the `on_retry` hook.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::Backoff;

/// What to do after a failed attempt; the caller's classification of its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Retry after the policy's backoff.
    Backoff,
    /// Retry after the policy's backoff, but not sooner than this.
    AtLeast(Duration),
    /// Retry after exactly this delay, as the server said (`Retry-After`). `Duration::ZERO`
    /// retries at once, e.g. when a shared rate limiter already holds the next request back.
    After(Duration),
    /// Retrying cannot help.
    GiveUp,
}

/// A [`Backoff`] and how many attempts a loop may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub backoff: Backoff,
    /// Attempts in total, the first one included; `None` = until cancelled. `Some(0)` counts as 1.
    pub max_attempts: Option<u32>,
}

impl Policy {
    /// Retries until cancelled.
    pub fn forever(backoff: Backoff) -> Self {
        Policy {
            backoff,
            max_attempts: None,
        }
    }

    /// At most `max_attempts` attempts in total (at least one).
    pub fn limited(backoff: Backoff, max_attempts: u32) -> Self {
        Policy {
            backoff,
            max_attempts: Some(max_attempts),
        }
    }
}

/// Why a loop stopped, with the last error.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop<E> {
    /// The decision was [`Decision::GiveUp`].
    GaveUp { attempts: u32, error: E },
    /// [`Policy::max_attempts`] attempts failed.
    Exhausted { attempts: u32, error: E },
    /// The cancellation token fired (before or during the wait).
    Cancelled { attempts: u32, error: E },
}

impl<E> Stop<E> {
    /// Attempts made.
    pub fn attempts(&self) -> u32 {
        match self {
            Stop::GaveUp { attempts, .. }
            | Stop::Exhausted { attempts, .. }
            | Stop::Cancelled { attempts, .. } => *attempts,
        }
    }

    /// The last error.
    pub fn into_error(self) -> E {
        match self {
            Stop::GaveUp { error, .. }
            | Stop::Exhausted { error, .. }
            | Stop::Cancelled { error, .. } => error,
        }
    }
}

/// What the `on_retry` hook sees before a wait.
#[derive(Debug)]
pub struct Retrying<'e, E> {
    /// Failed attempts so far (1 on the first retry).
    pub attempt: u32,
    /// The wait before the next attempt.
    pub wait: Duration,
    pub error: &'e E,
}

/// Counts the failed attempts of one loop and waits between them. Use it directly when the loop's
/// state changes between attempts (a shrinking batch, a cursor that moves); otherwise [`retry`]
/// runs the whole loop.
#[derive(Debug)]
pub struct Retrier<'a> {
    policy: Policy,
    cancel: Option<&'a CancellationToken>,
    failures: u32,
}

impl<'a> Retrier<'a> {
    pub fn new(policy: Policy) -> Self {
        Retrier {
            policy,
            cancel: None,
            failures: 0,
        }
    }

    /// Stop (with [`Stop::Cancelled`]) when `token` is cancelled; a pending wait ends at once.
    pub fn cancel_on(mut self, token: &'a CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Failed attempts so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failed attempt. Stops when `decision` gives up, when the attempts are used up or
    /// when cancelled; otherwise calls `on_retry` and waits as `decision` says, then returns
    /// `Ok(())` for the next attempt.
    pub async fn failed<E>(
        &mut self,
        error: E,
        decision: Decision,
        on_retry: impl FnOnce(&Retrying<'_, E>),
    ) -> Result<(), Stop<E>> {
        let retry = self.failures;
        self.failures = self.failures.saturating_add(1);
        let attempts = self.failures;
        let wait = match decision {
            Decision::GiveUp => return Err(Stop::GaveUp { attempts, error }),
            Decision::Backoff => self.policy.backoff.delay(retry),
            Decision::AtLeast(d) => self.policy.backoff.delay(retry).max(d),
            Decision::After(d) => d,
        };
        if self
            .policy
            .max_attempts
            .is_some_and(|max| attempts >= max.max(1))
        {
            return Err(Stop::Exhausted { attempts, error });
        }
        if self.cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(Stop::Cancelled { attempts, error });
        }
        on_retry(&Retrying {
            attempt: attempts,
            wait,
            error: &error,
        });
        match self.cancel {
            None => tokio::time::sleep(wait).await,
            Some(c) => {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = c.cancelled() => return Err(Stop::Cancelled { attempts, error }),
                }
            }
        }
        Ok(())
    }

    /// [`failed`](Self::failed) with no error value and the plain backoff, for loops that log their
    /// failures themselves.
    pub async fn pause(&mut self) -> Result<(), Stop<()>> {
        self.failed((), Decision::Backoff, |_| {}).await
    }
}

/// Runs `op` until it succeeds or the loop stops: after each failure `classify` decides (it may
/// log or count), `on_retry` is called before the wait.
pub async fn retry<T, E, Op, Fut>(
    policy: Policy,
    cancel: Option<&CancellationToken>,
    mut op: Op,
    mut classify: impl FnMut(&E) -> Decision,
    mut on_retry: impl FnMut(&Retrying<'_, E>),
) -> Result<T, Stop<E>>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut r = Retrier::new(policy);
    if let Some(c) = cancel {
        r = r.cancel_on(c);
    }
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let d = classify(&e);
                r.failed(e, d, &mut on_retry).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Jitter;
    use std::cell::Cell;
    use tokio::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    fn fixed(ms: u32) -> Backoff {
        Backoff::new(ms * MS, 1000 * ms * MS, Jitter::None)
    }

    /// An operation failing with `fails[i]` on call `i`, then succeeding with the call count.
    fn script<'a>(
        calls: &'a Cell<u32>,
        fails: &'a [&'static str],
    ) -> impl FnMut() -> std::future::Ready<Result<u32, &'static str>> + 'a {
        move || {
            let i = calls.get();
            calls.set(i + 1);
            std::future::ready(match fails.get(i as usize) {
                Some(e) => Err(*e),
                None => Ok(i + 1),
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_the_backoff_until_success() {
        let calls = Cell::new(0);
        let mut seen = Vec::new();
        let t0 = Instant::now();
        let r = retry(
            Policy::limited(fixed(100), 8),
            None,
            script(&calls, &["503", "503", "503"]),
            |_| Decision::Backoff,
            |r| seen.push((r.attempt, r.wait, *r.error)),
        )
        .await;
        assert_eq!(r, Ok(4));
        assert_eq!(
            seen,
            [
                (1, 100 * MS, "503"),
                (2, 200 * MS, "503"),
                (3, 400 * MS, "503")
            ]
        );
        // paused clock: exactly the waits, no real time
        assert_eq!(t0.elapsed(), 700 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn max_attempts_counts_the_first_try() {
        let calls = Cell::new(0);
        let mut hooks = 0;
        let r = retry(
            Policy::limited(fixed(10), 3),
            None,
            script(&calls, &["a", "b", "c", "d"]),
            |_| Decision::Backoff,
            |_| hooks += 1,
        )
        .await;
        assert_eq!(
            r,
            Err(Stop::Exhausted {
                attempts: 3,
                error: "c"
            })
        );
        assert_eq!((calls.get(), hooks), (3, 2));
        // 0 means one attempt, never zero
        let calls = Cell::new(0);
        let r = retry(
            Policy::limited(fixed(10), 0),
            None,
            script(&calls, &["a"]),
            |_| Decision::Backoff,
            |_| {},
        )
        .await;
        assert_eq!(r.map_err(|s| s.attempts()), Err(1));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn give_up_stops_at_once_without_waiting() {
        let calls = Cell::new(0);
        let t0 = Instant::now();
        let r = retry(
            Policy::forever(fixed(100)),
            None,
            script(&calls, &["503", "401", "x"]),
            |e| {
                if *e == "401" {
                    Decision::GiveUp
                } else {
                    Decision::Backoff
                }
            },
            |_| {},
        )
        .await;
        assert_eq!(
            r,
            Err(Stop::GaveUp {
                attempts: 2,
                error: "401"
            })
        );
        assert_eq!(t0.elapsed(), 100 * MS, "only the wait after the 503");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_exactly_and_at_least_raises_the_backoff() {
        // The server's delay replaces the backoff, longer or shorter (and not capped by max).
        let calls = Cell::new(0);
        let mut waits = Vec::new();
        let t0 = Instant::now();
        let r = retry(
            Policy::limited(Backoff::new(100 * MS, 200 * MS, Jitter::Full), 5),
            None,
            script(&calls, &["429 7s", "429 0s", "too late", "503"]),
            |e| match *e {
                "429 7s" => Decision::After(7000 * MS),
                "429 0s" => Decision::After(Duration::ZERO),
                "too late" => Decision::AtLeast(5000 * MS),
                _ => Decision::After(30 * MS),
            },
            |r| waits.push(r.wait),
        )
        .await;
        assert_eq!(r, Ok(5));
        assert_eq!(
            waits,
            [7000 * MS, Duration::ZERO, 5000 * MS, 30 * MS],
            "AtLeast(5s) above a 200ms cap waits 5s"
        );
        assert_eq!(t0.elapsed(), 12_030 * MS);
        // AtLeast below the backoff keeps the backoff
        let mut r = Retrier::new(Policy::forever(Backoff::constant(300 * MS)));
        let mut wait = Duration::ZERO;
        r.failed((), Decision::AtLeast(10 * MS), |x| wait = x.wait)
            .await
            .unwrap();
        assert_eq!(wait, 300 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_ends_a_pending_wait() {
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(1500 * MS).await;
            c2.cancel();
        });
        let calls = Cell::new(0);
        let t0 = Instant::now();
        let r = retry(
            Policy::forever(Backoff::constant(1000 * MS)),
            Some(&cancel),
            script(&calls, &["e"; 100]),
            |_| Decision::Backoff,
            |_| {},
        )
        .await;
        assert_eq!(
            r,
            Err(Stop::Cancelled {
                attempts: 2,
                error: "e"
            })
        );
        assert_eq!(
            t0.elapsed(),
            1500 * MS,
            "the second wait ended at the cancel"
        );
        assert_eq!(calls.get(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_already_cancelled_token_stops_before_the_hook_and_the_wait() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let mut r = Retrier::new(Policy::forever(Backoff::constant(1000 * MS))).cancel_on(&cancel);
        let mut hooked = false;
        let t0 = Instant::now();
        let res = r
            .failed("e", Decision::After(Duration::ZERO), |_| hooked = true)
            .await;
        assert_eq!(
            res,
            Err(Stop::Cancelled {
                attempts: 1,
                error: "e"
            })
        );
        assert!(!hooked);
        assert_eq!(t0.elapsed(), Duration::ZERO);
        // giving up wins over cancellation (the caller sees the real reason)
        let res = r.failed("401", Decision::GiveUp, |_| {}).await;
        assert!(matches!(res, Err(Stop::GaveUp { attempts: 2, .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_counts_failures_for_stateful_loops() {
        let mut r = Retrier::new(Policy::forever(fixed(100)));
        let t0 = Instant::now();
        for _ in 0..4 {
            r.pause().await.unwrap();
        }
        assert_eq!(r.failures(), 4);
        assert_eq!(t0.elapsed(), (100 + 200 + 400 + 800) * MS);
    }
}
