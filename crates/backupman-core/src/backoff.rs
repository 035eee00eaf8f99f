//! One retry policy for every caller that tries again (S3 parts, aborts, notifications):
//! exponential pauses with jitter, bounded in time, so that a flaky store is ridden out and
//! a dead one is given up on after a known while.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long to wait between attempts, and for how long to keep trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The pause before the second attempt; each later pause doubles, up to `max_pause`.
    pub first_pause: Duration,
    /// The longest pause.
    pub max_pause: Duration,
    /// No attempt starts once this long has passed since the first began.
    pub give_up_after: Duration,
    /// Attempts at most, the first included.
    pub max_attempts: u32,
}

/// How a retried operation ended in failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp<E> {
    /// The last attempt's error.
    pub error: E,
    /// Attempts made.
    pub attempts: u32,
}

impl Backoff {
    /// The pause before attempt `n + 1` (after `n` attempts), jittered: between half and all
    /// of the exponential value, so that many clients failing together do not come back
    /// together.
    pub fn pause(&self, attempts_made: u32) -> Duration {
        let doubled = self
            .first_pause
            .saturating_mul(1 << attempts_made.saturating_sub(1).min(16));
        let full = doubled.min(self.max_pause);
        let mut random = [0u8; 4];
        // Without randomness the pause is simply the full one.
        let fraction = if getrandom::fill(&mut random).is_ok() {
            f64::from(u32::from_le_bytes(random)) / f64::from(u32::MAX)
        } else {
            1.0
        };
        full.mul_f64(0.5 + 0.5 * fraction)
    }

    /// Runs `attempt` until it succeeds, fails with an error `retryable` says another attempt
    /// will not cure, or the attempts or the time are used up. `on_retry` hears each failure
    /// that is retried (for a debug line) with the pause that follows.
    pub async fn retry<T, E, Fut>(
        &self,
        mut attempt: impl FnMut() -> Fut,
        retryable: impl Fn(&E) -> bool,
        mut on_retry: impl FnMut(&E, u32, Duration),
    ) -> Result<T, GaveUp<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match attempt().await {
                Ok(out) => return Ok(out),
                Err(error) => error,
            };
            let pause = self.pause(attempts);
            let out_of_time = started.elapsed() + pause >= self.give_up_after;
            if !retryable(&error) || attempts >= self.max_attempts || out_of_time {
                return Err(GaveUp { error, attempts });
            }
            on_retry(&error, attempts, pause);
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Backoff = Backoff {
        first_pause: Duration::from_millis(10),
        max_pause: Duration::from_millis(40),
        give_up_after: Duration::from_secs(5),
        max_attempts: 5,
    };

    #[test]
    fn pauses_double_up_to_the_limit_with_jitter() {
        for n in 1..8 {
            let pause = QUICK.pause(n);
            let full = (QUICK.first_pause * (1 << (n - 1))).min(QUICK.max_pause);
            assert!(pause >= full / 2 && pause <= full, "{n}: {pause:?}");
        }
    }

    #[tokio::test]
    async fn retries_what_may_pass_and_stops_at_what_cannot() {
        let mut calls = 0;
        let out = QUICK
            .retry(
                || {
                    calls += 1;
                    let n = calls;
                    async move { if n < 3 { Err("busy") } else { Ok(n) } }
                },
                |e| *e == "busy",
                |_, _, _| {},
            )
            .await;
        assert_eq!(out, Ok(3));

        let mut calls = 0;
        let out: Result<(), _> = QUICK
            .retry(
                || {
                    calls += 1;
                    async { Err("denied") }
                },
                |e| *e == "busy",
                |_, _, _| {},
            )
            .await;
        assert_eq!(
            out,
            Err(GaveUp {
                error: "denied",
                attempts: 1
            })
        );

        let out: Result<(), _> = QUICK
            .retry(|| async { Err("busy") }, |_| true, |_, _, _| {})
            .await;
        assert_eq!(out.unwrap_err().attempts, 5);
    }

    #[tokio::test]
    async fn gives_up_when_time_is_up() {
        let slow = Backoff {
            give_up_after: Duration::from_millis(50),
            max_attempts: 100,
            ..QUICK
        };
        let started = Instant::now();
        let out: Result<(), _> = slow
            .retry(|| async { Err("busy") }, |_| true, |_, _, _| {})
            .await;
        assert!(out.unwrap_err().attempts < 100);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
