//! Gathering the evidence for a range of dates: games from the events API (cached for past
//! dates; from stored events files where a past date has one, with one listing for the range),
//! one storage listing per market prefix, one BigQuery query for the whole range, the
//! files' own row counts (read only where a verdict needs them), and the ledger's last runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::stream::{self, StreamExt};

use super::bound::{Bound, Detected, NOT_CHECKED_YET};
use super::evidence::{Evidence, FileEvidence, LastRun, LegacyFigure, Loaded, Signal};
use super::report::{GapReport, GapRow, Work};
use super::verdict::judge;
use super::GapQuery;
use crate::bettingpros::rows_in_props_file;
use crate::calendar::GameDate;
use crate::market::MarketType;
use crate::run::Scraper;
use crate::scrape::Scrapes;
use crate::storage::{ObjectInfo, StorageKey};
use crate::warehouse::Warehouse;

/// Rows per date under the old rule: 150 × games, all markets together.
const LEGACY_ROWS_PER_GAME: u64 = 150;

pub struct Detector {
    pub(super) scrapes: Scrapes,
    warehouse: Arc<Warehouse>,
    /// Games per past date: a past day's schedule does not change.
    pub(super) games: Mutex<HashMap<GameDate, u64>>,
    /// Rows per object: objects are written once and never change.
    rows: Mutex<HashMap<String, u64>>,
    pub(super) listings: AtomicU64,
    pub(super) events_requests: AtomicU64,
    files_read: AtomicU64,
    pub(super) events_files_read: AtomicU64,
    /// How far apart empty events answers must be to prove a date had no games.
    pub(super) no_games_recheck: std::time::Duration,
    /// The detection jobs a slice of this process works on.
    pub(super) slicing: super::bound::Slicing,
}

impl Detector {
    pub fn new(scrapes: Scrapes, warehouse: Arc<Warehouse>) -> Self {
        Self {
            scrapes,
            warehouse,
            games: Mutex::new(HashMap::new()),
            rows: Mutex::new(HashMap::new()),
            listings: AtomicU64::new(0),
            events_requests: AtomicU64::new(0),
            files_read: AtomicU64::new(0),
            events_files_read: AtomicU64::new(0),
            no_games_recheck: std::time::Duration::from_secs(6 * 3600),
            slicing: Default::default(),
        }
    }

    /// How far apart two empty events answers for a past date must be before "no games" is
    /// remembered (`BACKSTOP_NO_GAMES_RECHECK_MINS`).
    pub fn with_no_games_recheck(mut self, recheck: std::time::Duration) -> Self {
        self.no_games_recheck = recheck;
        self
    }

    /// Where "rows loaded" is read.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// Every (date, market) of `q`, judged: every signal asked for and read.
    pub async fn detect(&self, q: &GapQuery) -> GapReport {
        self.detect_within(q, &Bound::none()).await.report
    }

    /// As [`Detector::detect`], but no events request or file read starts once `bound`'s
    /// deadline has passed: the pairs that needed one are left pending.
    pub async fn detect_within(&self, q: &GapQuery, bound: &Bound) -> Detected {
        let started = std::time::Instant::now();
        let before = self.work();
        let dates: Vec<GameDate> = q.from.through(q.to).collect();
        let (games, files, loaded) =
            tokio::join!(self.games(&dates, bound), self.files(q), self.loaded(q));
        let last = self.last_runs(q).await;
        let mut rows = Vec::new();
        for &date in &dates {
            for &market in &q.markets {
                let files = match &files[&market] {
                    Signal::Known(by_date) => {
                        Signal::Known(by_date.get(&date).cloned().unwrap_or_default())
                    }
                    Signal::Unknown(why) => Signal::Unknown(why.clone()),
                };
                let loaded_here = match &loaded {
                    Signal::Known(map) => {
                        Signal::Known(map.get(&(date, market)).cloned().unwrap_or_default())
                    }
                    Signal::Unknown(why) => Signal::Unknown(why.clone()),
                };
                rows.push((date, market, files, loaded_here));
            }
        }
        let mut evidence: Vec<Evidence> = stream::iter(rows)
            .map(|(date, market, files, loaded_here)| {
                let (games, no_games) = games
                    .get(&date)
                    .cloned()
                    .unwrap_or((Signal::Unknown("not asked".into()), None));
                let legacy = legacy(&games, &loaded, date);
                let last_run = last.get(&(date, market)).cloned();
                async move {
                    let files = self.with_rows(files, bound, date, market).await;
                    Evidence {
                        date,
                        market,
                        games,
                        no_games,
                        files,
                        loaded: loaded_here,
                        legacy,
                        last_run,
                    }
                }
            })
            .buffered(8)
            .collect()
            .await;
        self.corroborate(&mut evidence, &loaded).await;
        let rows: Vec<GapRow> = evidence
            .into_iter()
            .map(|e| GapRow {
                verdict: judge(&e),
                evidence: e,
            })
            .collect();
        let after = self.work();
        let report = GapReport::new(
            q,
            rows,
            Work {
                storage_listings: after.storage_listings - before.storage_listings,
                bigquery_queries: after.bigquery_queries - before.bigquery_queries,
                events_requests: after.events_requests - before.events_requests,
                files_read: after.files_read - before.files_read,
                events_files_read: after.events_files_read - before.events_files_read,
                seconds: started.elapsed().as_secs_f64(),
            },
        );
        Detected::new(report, games, bound)
    }

    fn work(&self) -> Work {
        Work {
            storage_listings: self.listings.load(Ordering::Relaxed),
            bigquery_queries: self.warehouse.queries_made(),
            events_requests: self.events_requests.load(Ordering::Relaxed),
            files_read: self.files_read.load(Ordering::Relaxed),
            events_files_read: self.events_files_read.load(Ordering::Relaxed),
            seconds: 0.0,
        }
    }

    /// One listing per market prefix; complete props files by date, newest first.
    async fn files(
        &self,
        q: &GapQuery,
    ) -> HashMap<MarketType, Signal<BTreeMap<GameDate, Vec<ObjectInfo>>>> {
        let listed = stream::iter(q.markets.iter().copied())
            .map(|market| async move {
                self.listings.fetch_add(1, Ordering::Relaxed);
                let found = self
                    .scrapes
                    .store
                    .list(&StorageKey::props_prefix(market))
                    .await;
                (market, found)
            })
            .buffer_unordered(6)
            .collect::<Vec<_>>()
            .await;
        let mut out = HashMap::new();
        for (market, found) in listed {
            let signal = match found {
                Err(e) => Signal::Unknown(e.to_string()),
                Ok(objects) => {
                    let mut by_date: BTreeMap<GameDate, Vec<(String, ObjectInfo)>> =
                        BTreeMap::new();
                    for o in objects {
                        if let Some(key @ StorageKey::Props { .. }) = StorageKey::parse(&o.name) {
                            if (q.from..=q.to).contains(&key.date()) {
                                by_date
                                    .entry(key.date())
                                    .or_default()
                                    .push((key.timestamp().to_string(), o));
                            }
                        }
                    }
                    Signal::Known(
                        by_date
                            .into_iter()
                            .map(|(d, mut v)| {
                                v.sort_by(|a, b| b.0.cmp(&a.0));
                                (d, v.into_iter().map(|(_, o)| o).collect())
                            })
                            .collect(),
                    )
                }
            };
            out.insert(market, signal);
        }
        out
    }

    /// One query for the whole range, grouped by date, market and file.
    async fn loaded(&self, q: &GapQuery) -> Signal<HashMap<(GameDate, MarketType), Loaded>> {
        let rows = match self.warehouse.loaded_rows(q.from, q.to).await {
            Ok(rows) => rows,
            Err(e) => return Signal::Unknown(e.reason()),
        };
        let mut map: HashMap<(GameDate, MarketType), Loaded> = HashMap::new();
        for r in rows {
            let Ok(market) = r.market.parse::<MarketType>() else {
                continue;
            };
            let l = map.entry((r.game_date, market)).or_default();
            l.total += r.rows;
            let path = r.object_name();
            if path == "unknown" || path.is_empty() {
                l.unknown_path += r.rows;
            } else {
                *l.by_path.entry(path.to_string()).or_default() += r.rows;
            }
        }
        Signal::Known(map)
    }

    /// Reads the rows a file yields, for the files a verdict needs: newest first, up to the
    /// first that yields rows (or cannot be read) — the newest complete file. Within a bound,
    /// a file not remembered is read only before the deadline.
    async fn with_rows(
        &self,
        files: Signal<Vec<ObjectInfo>>,
        bound: &Bound,
        date: GameDate,
        market: MarketType,
    ) -> Signal<Vec<FileEvidence>> {
        let files = match files {
            Signal::Known(f) => f,
            Signal::Unknown(why) => return Signal::Unknown(why),
        };
        let mut out = Vec::new();
        let mut found = false;
        for f in &files {
            let rows = if found {
                Signal::Unknown("not read: an older snapshot".into())
            } else {
                let rows = self
                    .rows_of(&f.name, || bound.defers_rows(date, market))
                    .await;
                found = !matches!(rows, Signal::Known(0));
                rows
            };
            out.push(FileEvidence {
                name: f.name.clone(),
                size: f.size,
                rows,
            });
        }
        Signal::Known(out)
    }

    /// The rows `name` yields: remembered, or read from the file unless `defer` says the
    /// bound's deadline has passed.
    async fn rows_of(&self, name: &str, defer: impl FnOnce() -> bool) -> Signal<u64> {
        if let Some(n) = self.rows.lock().expect("rows cache").get(name) {
            return Signal::Known(*n);
        }
        if let Ok(Some(n)) = self.scrapes.ledger.known_file_rows(name).await {
            self.rows
                .lock()
                .expect("rows cache")
                .insert(name.to_string(), n);
            return Signal::Known(n);
        }
        if defer() {
            return Signal::Unknown(NOT_CHECKED_YET.into());
        }
        self.files_read.fetch_add(1, Ordering::Relaxed);
        let bytes = match self.scrapes.store.get(name).await {
            Ok(b) => b,
            Err(e) => return Signal::Unknown(e.to_string()),
        };
        let rows = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{name} is not JSON: {e}"))
            .and_then(|v| rows_in_props_file(&v).map_err(|e| format!("{name}: {e}")));
        match rows {
            Ok(n) => {
                self.rows
                    .lock()
                    .expect("rows cache")
                    .insert(name.to_string(), n);
                if let Err(e) = self.scrapes.ledger.remember_file_rows(name, n).await {
                    tracing::warn!(error = %e, "file rows not remembered; detection will read the file again");
                }
                Signal::Known(n)
            }
            Err(why) => Signal::Unknown(why),
        }
    }

    async fn last_runs(&self, q: &GapQuery) -> HashMap<(GameDate, MarketType), LastRun> {
        let Ok(runs) = self.scrapes.ledger.last_runs(q.from, q.to).await else {
            return HashMap::new();
        };
        runs.into_iter()
            .filter(|r| r.scraper == Scraper::PlayerProps)
            .filter_map(|r| {
                let market = r.market?;
                Some((
                    (r.game_date, market),
                    LastRun {
                        run_id: r.run_id,
                        status: r.status.as_str().to_string(),
                        started_at: r.started_at.to_rfc3339(),
                        props_written: r.props_written.unwrap_or(0),
                        error: r.error_message,
                    },
                ))
            })
            .collect()
    }
}

fn legacy(
    games: &Signal<u64>,
    loaded: &Signal<HashMap<(GameDate, MarketType), Loaded>>,
    date: GameDate,
) -> Option<LegacyFigure> {
    let (Signal::Known(games), Signal::Known(loaded)) = (games, loaded) else {
        return None;
    };
    let rows: u64 = MarketType::ALL
        .iter()
        .filter_map(|m| loaded.get(&(date, *m)))
        .map(|l| l.total)
        .sum();
    let threshold = LEGACY_ROWS_PER_GAME * games;
    Some(LegacyFigure {
        rows_all_markets: rows,
        threshold,
        would_pass: *games > 0 && rows >= threshold,
    })
}
