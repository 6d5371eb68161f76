//! How far one detection may go: without bound (the command line, a recovery's plan, the check
//! after a job), or within a slice's budget (`GET /gaps`, a detection job's slice). A bounded
//! detection starts no events request and reads no props file once its deadline has passed
//! (but the first, so that every slice moves on):
//! what it leaves is *pending*, judged `unknown` "not checked yet" in its report and left out
//! of the rows it answers with, and a detection job (`gaps::job`) carries it on, given the
//! games its earlier slices got so that no date is asked twice.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

use super::evidence::Games;
use super::report::{GapReport, GapRow};
use crate::calendar::GameDate;
use crate::market::MarketType;

/// Why a pending (date, market) is not judged yet.
pub const NOT_CHECKED_YET: &str = "not checked yet: the detection goes on in a detection job";

/// The bound of one detection: a deadline, and what earlier slices learnt.
#[derive(Default)]
pub struct Bound {
    deadline: Option<Instant>,
    /// Games per date from earlier slices of the same detection: not asked again.
    earlier: HashMap<GameDate, Games>,
    /// Dates whose games were not asked: the deadline had passed.
    dates: Mutex<BTreeSet<GameDate>>,
    /// Pairs whose files were not read: the deadline had passed.
    pairs: Mutex<BTreeSet<(GameDate, MarketType)>>,
    /// A request or a read has started.
    started: AtomicBool,
}

impl Bound {
    /// No bound: everything is asked and read.
    pub fn none() -> Self {
        Self::default()
    }

    /// Nothing new starts after `deadline`; `earlier` is what earlier slices learnt.
    pub fn until(deadline: Instant, earlier: HashMap<GameDate, Games>) -> Self {
        Self {
            deadline: Some(deadline),
            earlier,
            ..Self::default()
        }
    }

    pub fn is_bounded(&self) -> bool {
        self.deadline.is_some()
    }

    /// What an earlier slice learnt about `date`'s games.
    pub(super) fn earlier(&self, date: GameDate) -> Option<Games> {
        self.earlier.get(&date).cloned()
    }

    /// True, recording `date` as pending, when its events request may not start any more.
    pub(super) fn defers_games(&self, date: GameDate) -> bool {
        if !self.spent() {
            return false;
        }
        lock(&self.dates).insert(date);
        true
    }

    /// True, recording the pair as pending, when its file may not be read any more.
    pub(super) fn defers_rows(&self, date: GameDate, market: MarketType) -> bool {
        if !self.spent() {
            return false;
        }
        lock(&self.pairs).insert((date, market));
        true
    }

    /// Past the deadline — but the first request or read of a detection always starts, so
    /// every slice moves its detection on.
    fn spent(&self) -> bool {
        let past = self.deadline.is_some_and(|d| Instant::now() >= d);
        let first = !self.started.swap(true, Ordering::SeqCst);
        past && !first
    }

    /// The pairs left pending: every market of a date whose games were not asked, and the
    /// pairs whose files were not read.
    fn pending(&self, markets: &[MarketType]) -> BTreeSet<(GameDate, MarketType)> {
        let mut pending = lock(&self.pairs).clone();
        for date in lock(&self.dates).iter() {
            pending.extend(markets.iter().map(|m| (*date, *m)));
        }
        pending
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one detection found, and what it left for later.
pub struct Detected {
    /// Every (date, market); the pending ones judged `unknown` ([`NOT_CHECKED_YET`]).
    pub report: GapReport,
    /// The games of every date it got an answer for (for the next slice).
    pub games: HashMap<GameDate, Games>,
    /// The (date, market) pairs it did not judge.
    pub pending: BTreeSet<(GameDate, MarketType)>,
}

impl Detected {
    pub(super) fn new(
        report: GapReport,
        mut games: HashMap<GameDate, Games>,
        bound: &Bound,
    ) -> Self {
        let pending = bound.pending(&report.markets);
        games.retain(|date, _| !lock(&bound.dates).contains(date));
        Self {
            report,
            games,
            pending,
        }
    }

    /// Every pair is judged.
    pub fn is_whole(&self) -> bool {
        self.pending.is_empty()
    }

    /// The rows judged, in the report's order.
    pub fn known_rows(&self) -> Vec<GapRow> {
        let pending = |r: &&GapRow| self.pending.contains(&(r.evidence.date, r.evidence.market));
        let rows = self.report.rows.iter();
        rows.filter(|r| !pending(r)).cloned().collect()
    }
}

/// The detection jobs a slice of this process works on (one slice per detection at a time).
#[derive(Default)]
pub struct Slicing(Mutex<HashSet<String>>);

impl Slicing {
    /// Marks detection `id` as being worked on until the guard drops; `None` when it is.
    pub(super) fn enter(&self, id: &str) -> Option<Slice<'_>> {
        lock(&self.0).insert(id.to_string()).then(|| Slice {
            slicing: self,
            id: id.to_string(),
        })
    }
}

/// A slice in progress in this process; leaves [`Slicing`] however it ends.
pub(super) struct Slice<'a> {
    slicing: &'a Slicing,
    id: String,
}

impl Drop for Slice<'_> {
    fn drop(&mut self) {
        lock(&self.slicing.0).remove(&self.id);
    }
}
