//! Best-effort delivery, the same for every notifier: a few attempts with a short, growing
//! pause between them, and only for failures that another attempt may cure.

use std::future::Future;
use std::time::Duration;

use backupman_core::backoff::Backoff;

/// Attempts per message before giving up.
pub const ATTEMPTS: u32 = 3;

/// Core's one retry policy: half a second, then a second (jittered), and never more than
/// half a minute for one message.
const DELIVERY: Backoff = Backoff {
    first_pause: Duration::from_millis(500),
    max_pause: Duration::from_secs(4),
    give_up_after: Duration::from_secs(30),
    max_attempts: ATTEMPTS,
};

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) struct Failure {
    /// One line, with no secret in it.
    pub message: String,
    /// Another attempt may succeed (the server is busy or unreachable); a refusal that will
    /// not change (bad login, unknown address, HTTP 401) is not retried.
    pub retry: bool,
}

/// A message that was not delivered.
#[derive(Debug)]
pub(crate) struct Undelivered {
    /// Attempts made.
    pub attempts: u32,
    /// Why the last one failed.
    pub message: String,
}

/// Runs `attempt` until it succeeds, fails for good, or [`ATTEMPTS`] are used up. `what`
/// names the message in debug logs.
pub(crate) async fn deliver<F, Fut>(what: &str, attempt: F) -> Result<(), Undelivered>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    DELIVERY
        .retry(
            attempt,
            |failure| failure.retry,
            |failure, n, _| {
                tracing::debug!("{what}: attempt {n} failed ({}), retrying", failure.message);
            },
        )
        .await
        .map_err(|gave_up| Undelivered {
            attempts: gave_up.attempts,
            message: gave_up.error.message,
        })
}

/// An error and its causes on one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn retries_only_what_may_pass_and_stops_at_the_limit() {
        let calls = Cell::new(0);
        let busy = deliver("test", || {
            calls.set(calls.get() + 1);
            async {
                Err(Failure {
                    message: "busy".into(),
                    retry: true,
                })
            }
        })
        .await
        .unwrap_err();
        assert_eq!((busy.attempts, calls.get()), (ATTEMPTS, ATTEMPTS));
        assert_eq!(busy.message, "busy");

        calls.set(0);
        let refused = deliver("test", || {
            calls.set(calls.get() + 1);
            async {
                Err(Failure {
                    message: "no".into(),
                    retry: false,
                })
            }
        })
        .await
        .unwrap_err();
        assert_eq!((refused.attempts, calls.get()), (1, 1));

        calls.set(0);
        let second = deliver("test", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 2 {
                    Err(Failure {
                        message: "busy".into(),
                        retry: true,
                    })
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert!(second.is_ok());
        assert_eq!(calls.get(), 2);
    }
}
