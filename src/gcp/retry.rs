//! The one retry loop for calls to Google Cloud (Cloud Storage, Pub/Sub, BigQuery, the
//! metadata server) and Phase 2: how hard to try, jittered exponential backoff, one attempt
//! timeout, and a log line per retry saying why.

use std::future::Future;
use std::time::Duration;

use super::transient::CallFailure;
use crate::fetch::retry::Backoff;

/// How hard to try one call; tests shorten these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts per call, the first one included.
    pub max_attempts: u32,
    /// The first backoff; it doubles per retry up to `max_delay`, and each wait adds up to as
    /// much again at random.
    pub base: Duration,
    pub max_delay: Duration,
    /// One attempt: request and whole answer.
    pub attempt_timeout: Duration,
}

impl RetrySettings {
    /// Cloud Storage: raw files of a few MB, so a generous attempt.
    pub fn storage() -> Self {
        Self {
            max_attempts: 4,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(60),
        }
    }

    /// Pub/Sub publish: small bodies, 10 s per attempt.
    pub fn publish() -> Self {
        Self {
            max_attempts: 4,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

/// A failed attempt as the one retry loop sees it.
pub trait Attempt {
    /// Worth another attempt.
    fn transient(&self) -> bool;
    /// What went wrong, for the retry's log line.
    fn describe(&self) -> String;
}

impl Attempt for CallFailure {
    fn transient(&self) -> bool {
        self.transient
    }
    fn describe(&self) -> String {
        self.detail.clone()
    }
}

/// The one retry loop for calls to Google's services and Phase 2: up to `max_attempts`,
/// transient failures retried after a jittered exponential backoff from `base` to
/// `max_delay`, each retry logged with `what`. Answers the last failure and the attempts made.
pub async fn retry<T, E, F, Fut>(
    max_attempts: u32,
    base: Duration,
    max_delay: Duration,
    what: &str,
    mut call: F,
) -> Result<T, (E, u32)>
where
    E: Attempt,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let backoff = Backoff {
        base,
        max: max_delay,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let e = match call().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if !e.transient() || attempt >= max_attempts {
            return Err((e, attempt));
        }
        let ceiling = backoff.ceiling(attempt - 1);
        let wait = ceiling + ceiling.mul_f64(rand::random::<f64>());
        tracing::warn!(
            call = what, attempt, detail = %e.describe(), wait_ms = wait.as_millis() as u64,
            "{what}: attempt failed, retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

/// Runs `call` under `settings`, each attempt under the attempt timeout (e.g. `storage put
/// gs://bucket/name`).
pub async fn call_with_retries<T, F, Fut>(
    settings: &RetrySettings,
    what: &str,
    mut call: F,
) -> Result<T, (CallFailure, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallFailure>>,
{
    let timeout = settings.attempt_timeout;
    retry(
        settings.max_attempts,
        settings.base,
        settings.max_delay,
        what,
        || {
            let attempt = call();
            async move {
                tokio::time::timeout(timeout, attempt)
                    .await
                    .unwrap_or_else(|_| {
                        Err(CallFailure::transport(format!(
                            "no answer within {timeout:?}"
                        )))
                    })
            }
        },
    )
    .await
}

/// `detail`, with the number of attempts when there was more than one.
pub fn with_attempts(detail: String, attempts: u32) -> String {
    if attempts > 1 {
        format!("{detail} (gave up after {attempts} attempts)")
    } else {
        detail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcp::Class;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick(max_attempts: u32) -> RetrySettings {
        RetrySettings {
            max_attempts,
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            attempt_timeout: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_the_attempts_run_out() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = call_with_retries(&quick(3), "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(CallFailure::status(503, "busy"))
        })
        .await;
        let (failure, attempts) = out.unwrap_err();
        assert_eq!((attempts, calls.load(Ordering::SeqCst)), (3, 3));
        assert_eq!(failure.class, Class::Unavailable);
    }

    #[tokio::test]
    async fn each_wait_is_at_least_its_ceiling_and_the_ceilings_double() {
        let settings = RetrySettings {
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
            ..quick(3)
        };
        let start = tokio::time::Instant::now();
        let out: Result<(), _> = call_with_retries(&settings, "test", || async {
            Err(CallFailure::status(503, "busy"))
        })
        .await;
        assert_eq!(out.unwrap_err().1, 3);
        // 20 ms then 40 ms, each plus up to as much again.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(60), "retried after {took:?}");
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let out: Result<(), _> = call_with_retries(&quick(3), "test", || async {
            Err(CallFailure::status(404, "gone"))
        })
        .await;
        assert_eq!(out.unwrap_err().1, 1);
    }

    #[tokio::test]
    async fn a_slow_attempt_times_out_and_is_retried() {
        let calls = AtomicU32::new(0);
        let out = call_with_retries(&quick(2), "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Ok::<_, CallFailure>(7)
        })
        .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(with_attempts("x".into(), 2), "x (gave up after 2 attempts)");
    }
}
