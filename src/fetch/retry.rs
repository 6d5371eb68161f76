//! Retry policy: exponential backoff with full jitter, and `Retry-After` in both its forms.

use std::time::{Duration, SystemTime};

use backon::ExponentialBuilder;
use rand::Rng;

use super::FetchSettings;

use super::outcome::AttemptError;

/// The exponential ceiling for each retry (base, 2×base, 4×base … capped), no jitter: the
/// jitter is drawn per retry in [`wait`].
pub fn backoff(settings: &FetchSettings) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(settings.backoff_base)
        .with_max_delay(settings.backoff_max)
        .with_factor(2.0)
        .with_max_times(settings.max_attempts.saturating_sub(1) as usize)
}

/// How long to wait before the next attempt: full jitter (uniform in [0, ceiling]), but never
/// earlier than a `Retry-After`. `None` when the backoff has run out of attempts. Whether to
/// retry at all depends on the routes too: [`super::trail::Trail::decide`].
pub fn wait(err: &AttemptError, ceiling: Option<Duration>) -> Option<Duration> {
    let ceiling = ceiling?;
    let jittered = Duration::from_secs_f64(rand::rng().random_range(0.0..=ceiling.as_secs_f64()));
    Some(match err.retry_after {
        Some(asked) => jittered.max(asked),
        None => jittered,
    })
}

/// Parses a `Retry-After` value (delay-seconds or an HTTP-date), capped at `max`. A date in the
/// past means "now"; an unreadable value is ignored (`None`).
pub fn parse_retry_after(value: &str, now: SystemTime, max: Duration) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Duration::from_secs_f64(secs.min(max.as_secs_f64()))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::outcome::Failure;
    use backon::BackoffBuilder;

    fn err(failure: Failure, retry_after: Option<Duration>) -> AttemptError {
        AttemptError {
            failure,
            attempt: 1,
            status: None,
            retry_after,
            bytes: 0,
            elapsed: Duration::ZERO,
            detail: String::new(),
        }
    }

    #[test]
    fn ceilings_double_from_the_base_up_to_the_cap_and_stop_after_max_attempts() {
        let settings = FetchSettings {
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5),
            max_attempts: 5,
            ..FetchSettings::default()
        };
        let ceilings: Vec<u64> = backoff(&settings).build().map(|d| d.as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 5]);
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling() {
        let e = err(Failure::Status(503), None);
        for _ in 0..200 {
            let w = wait(&e, Some(Duration::from_secs(4))).unwrap();
            assert!(w <= Duration::from_secs(4));
        }
        assert_eq!(wait(&e, None), None);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let e = err(Failure::Status(429), Some(Duration::from_secs(30)));
        for _ in 0..50 {
            assert!(wait(&e, Some(Duration::from_secs(2))).unwrap() >= Duration::from_secs(30));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates_and_is_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01T00:00:00Z
        let max = Duration::from_secs(120);
        assert_eq!(
            parse_retry_after("2", now, max),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after(" 7 ", now, max),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after("3600", now, max), Some(max));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:45 GMT", now, max),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now, max),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now, max), None);
        assert_eq!(parse_retry_after("-5", now, max), None);
    }
}
