//! Rate limiting: one schedule per upstream host (GCRA), shared by every task in the process
//! and — when the schedule lives in a shared ledger — by every instance of the service. A 429
//! or `Retry-After` pauses the host for all of them at once.
//!
//! Each permit reserves the host's next slot in one atomic step of the [`PaceStore`], then
//! waits until that slot; a task that goes on long after its slot (a busy machine wakes it
//! late) leaves it empty and reserves another, so it never crowds the next slot's owner. The schedule is kept in wall-clock microseconds, so instances on
//! different machines agree as closely as their clocks do (NTP: milliseconds).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::time::Instant;

/// A host's schedule after a reservation, in microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The theoretical arrival time after this reservation (GCRA's TAT).
    pub next_us: i64,
    /// No request before this (a 429 / Retry-After); 0 when none.
    pub paused_until_us: i64,
}

/// Where the schedules live. Every method is one atomic step.
#[async_trait]
pub trait PaceStore: Send + Sync {
    /// `next := max(next, now, paused_until) + interval` for `host` (a new host starts at
    /// `now`); returns the schedule after the change.
    async fn advance(&self, host: &str, now_us: i64, interval_us: i64) -> Result<Slot, String>;
    /// `paused_until := max(paused_until, until_us)`.
    async fn pause(&self, host: &str, until_us: i64) -> Result<(), String>;
    /// The host's pause, 0 when none was ever asked for.
    async fn paused_until(&self, host: &str) -> Result<i64, String>;
}

/// Schedules in this process only (a SQLite ledger: one machine).
#[derive(Default)]
pub struct InProcess(Mutex<HashMap<String, Slot>>);

#[async_trait]
impl PaceStore for InProcess {
    async fn advance(&self, host: &str, now_us: i64, interval_us: i64) -> Result<Slot, String> {
        let mut hosts = self.0.lock().expect("pace lock");
        let slot = hosts.entry(host.to_string()).or_insert(Slot {
            next_us: now_us,
            paused_until_us: 0,
        });
        slot.next_us = slot.next_us.max(now_us).max(slot.paused_until_us) + interval_us;
        Ok(*slot)
    }

    async fn pause(&self, host: &str, until_us: i64) -> Result<(), String> {
        let mut hosts = self.0.lock().expect("pace lock");
        let slot = hosts.entry(host.to_string()).or_insert(Slot {
            next_us: 0,
            paused_until_us: 0,
        });
        slot.paused_until_us = slot.paused_until_us.max(until_us);
        Ok(())
    }

    async fn paused_until(&self, host: &str) -> Result<i64, String> {
        let hosts = self.0.lock().expect("pace lock");
        Ok(hosts.get(host).map_or(0, |s| s.paused_until_us))
    }
}

/// Lateness no timer avoids (tokio's resolution is a millisecond): below it a slot is used.
const LATE_FLOOR_US: i64 = 5_000;

/// The rate every upstream host is held to, and where its schedule lives.
pub struct RateLimits {
    interval_us: i64,
    burst: i64,
    store: Arc<dyn PaceStore>,
    /// Where the schedules live, for logs (`in-process`, `ledger`).
    pub shared_by: &'static str,
}

impl RateLimits {
    /// Schedules kept in this process.
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        Self::with_store(
            rate_per_sec,
            burst,
            Arc::new(InProcess::default()),
            "in-process",
        )
    }

    /// Schedules kept in `store` (the ledger: every instance on it shares them).
    pub fn with_store(
        rate_per_sec: f64,
        burst: u32,
        store: Arc<dyn PaceStore>,
        shared_by: &'static str,
    ) -> Self {
        Self {
            interval_us: (1e6 / rate_per_sec).round().max(1.0) as i64,
            burst: burst.max(1).into(),
            store,
            shared_by,
        }
    }

    /// How long after its slot a permit may still be used: a tenth of the interval (so two
    /// requests are never closer than 90 % of it), and at least the timer's few milliseconds.
    fn late_tolerance_us(&self) -> i64 {
        (self.interval_us / 10).max(LATE_FLOOR_US)
    }

    pub fn host(&self, host: &str) -> HostLimit<'_> {
        HostLimit {
            limits: self,
            host: host.to_string(),
        }
    }
}

/// One upstream host's limit.
pub struct HostLimit<'a> {
    limits: &'a RateLimits,
    host: String,
}

impl HostLimit<'_> {
    /// Waits for a permit; returns how long that took. When the store cannot be reached the
    /// permit waits one interval instead (this instance alone stays within the rate) and the
    /// failure is logged.
    pub async fn acquire(&self) -> Duration {
        let l = self.limits;
        let start = Instant::now();
        loop {
            let now = now_us();
            let slot = match l.store.advance(&self.host, now, l.interval_us).await {
                Ok(slot) => slot,
                Err(e) => {
                    tracing::error!(host = %self.host, error = %e, shared_by = l.shared_by,
                        "the shared rate limit cannot be read; pacing this request alone");
                    tokio::time::sleep(Duration::from_micros(l.interval_us as u64)).await;
                    return start.elapsed();
                }
            };
            let at = now
                .max(slot.paused_until_us)
                .max(slot.next_us - l.burst * l.interval_us);
            let wait = at - now_us();
            if wait <= 0 {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_micros(wait as u64)).await;
            // A pause that began while we waited voids the slot: take a fresh one after it, so
            // the tasks that waited it out are spaced at the rate again.
            if matches!(l.store.paused_until(&self.host).await, Ok(until) if until > at) {
                continue;
            }
            // Going on long after the slot (a busy machine woke us late, the store answered
            // late) would crowd the next slot, already reserved by someone else: leave this one
            // empty — a request fewer, never one too many — and take a fresh one.
            if now_us() - at > l.late_tolerance_us() {
                continue;
            }
            return start.elapsed();
        }
    }

    /// Holds every task (and instance) back until `wait` from now; never shortens a longer
    /// pause.
    pub async fn push_back(&self, wait: Duration) {
        let until = now_us() + wait.as_micros() as i64;
        if let Err(e) = self.limits.store.pause(&self.host, until).await {
            tracing::error!(host = %self.host, error = %e, "the shared rate limit could not record a pause");
        }
    }
}

/// Wall-clock microseconds since the Unix epoch.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
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
    async fn a_burst_goes_at_once_then_the_rate_holds() {
        let limits = RateLimits::new(10.0, 3);
        let host = limits.host("api.example");
        let start = Instant::now();
        for _ in 0..3 {
            host.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "{:?}",
            start.elapsed()
        );
        host.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(90),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_push_back_holds_every_task() {
        let limits = RateLimits::new(100.0, 1);
        let host = limits.host("api.example");
        host.acquire().await;
        host.push_back(Duration::from_millis(300)).await;
        let start = Instant::now();
        let other = limits.host("api.example");
        other.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "{:?}",
            start.elapsed()
        );
    }

    /// A store whose first `paused_until` answers late: the task that asks it goes on as a
    /// busy machine wakes a sleeping task, long after its slot.
    struct LateOnce {
        store: InProcess,
        late: Mutex<Option<Duration>>,
    }

    #[async_trait]
    impl PaceStore for LateOnce {
        async fn advance(&self, host: &str, now_us: i64, interval_us: i64) -> Result<Slot, String> {
            self.store.advance(host, now_us, interval_us).await
        }
        async fn pause(&self, host: &str, until_us: i64) -> Result<(), String> {
            self.store.pause(host, until_us).await
        }
        async fn paused_until(&self, host: &str) -> Result<i64, String> {
            let late = self.late.lock().expect("late").take();
            if let Some(late) = late {
                tokio::time::sleep(late).await;
            }
            self.store.paused_until(host).await
        }
    }

    #[tokio::test]
    async fn a_task_that_goes_on_long_after_its_slot_does_not_crowd_the_next_one() {
        let store = Arc::new(LateOnce {
            store: InProcess::default(),
            late: Mutex::new(Some(Duration::from_millis(70))),
        });
        let limits = Arc::new(RateLimits::with_store(10.0, 1, store, "test"));
        let start = Instant::now();
        limits.host("h").acquire().await;
        let grants = Arc::new(Mutex::new(vec![start.elapsed()]));
        let task = |after: Duration| {
            let (limits, grants) = (limits.clone(), grants.clone());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                limits.host("h").acquire().await;
                grants.lock().unwrap().push(start.elapsed());
            })
        };
        // The first sleeps to its slot (100 ms) and goes on at 170 ms; the second's slot is 200.
        let (late, next) = (task(Duration::ZERO), task(Duration::from_millis(20)));
        late.await.unwrap();
        next.await.unwrap();
        let mut grants = grants.lock().unwrap().clone();
        grants.sort();
        for pair in grants.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(90),
                "permits at {grants:?} at 10/s"
            );
        }
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
