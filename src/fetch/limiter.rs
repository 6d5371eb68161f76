//! Rate limiting shared by every task in the process: one limiter per upstream host, which a
//! 429 or `Retry-After` pauses for all tasks at once.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// The limiters of every upstream host, created on first use.
pub struct RateLimits {
    quota: Quota,
    hosts: Mutex<HashMap<String, Arc<HostLimit>>>,
}

impl RateLimits {
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        let period = Duration::from_secs_f64(1.0 / rate_per_sec);
        let quota = Quota::with_period(period)
            .expect("rate is validated to be positive")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst ≥ 1"));
        Self {
            quota,
            hosts: Mutex::new(HashMap::new()),
        }
    }

    pub fn host(&self, host: &str) -> Arc<HostLimit> {
        let mut hosts = self.hosts.lock().expect("rate limits lock");
        hosts
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(HostLimit {
                    limiter: RateLimiter::direct(self.quota),
                    paused_until: Mutex::new(None),
                })
            })
            .clone()
    }
}

pub struct HostLimit {
    limiter: DefaultDirectRateLimiter,
    paused_until: Mutex<Option<Instant>>,
}

impl HostLimit {
    /// Waits for a permit; returns how long that took.
    pub async fn acquire(&self) -> Duration {
        let start = Instant::now();
        loop {
            if let Some(until) = self.pause() {
                tokio::time::sleep_until(until).await;
            }
            self.limiter.until_ready().await;
            // A pause that began while we queued voids the permit: take a fresh one after it,
            // so the tasks that waited it out are spaced at the rate again.
            if self.pause().is_none() {
                return start.elapsed();
            }
        }
    }

    /// Holds every task back until `wait` from now (never shortens a longer pause).
    pub fn push_back(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().expect("pause lock");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    fn pause(&self) -> Option<Instant> {
        let mut paused = self.paused_until.lock().expect("pause lock");
        match *paused {
            Some(until) if until > Instant::now() => Some(until),
            _ => {
                *paused = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn permits_are_spaced_at_the_rate() {
        let limits = RateLimits::new(20.0, 1);
        let host = limits.host("api.example");
        let start = Instant::now();
        for _ in 0..5 {
            host.acquire().await;
        }
        // 1 immediate + 4 × 50 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_push_back_holds_every_task() {
        let limits = RateLimits::new(100.0, 1);
        let host = limits.host("api.example");
        host.acquire().await;
        host.push_back(Duration::from_millis(300));
        let start = Instant::now();
        let other = limits.host("api.example");
        other.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn hosts_do_not_share_a_limiter() {
        let limits = RateLimits::new(1.0, 1);
        limits.host("a").acquire().await;
        let start = Instant::now();
        limits.host("b").acquire().await;
        assert!(start.elapsed() < Duration::from_millis(500));
    }
}
