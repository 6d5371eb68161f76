//! Planning a recovery (pure): from a gap report and a request to the actions to take, with
//! the upstream requests they will cost and how long the rate limit makes them take.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::calendar::GameDate;
use crate::gaps::{Category, GapQuery, GapReport, Remedy};
use crate::ledger::{ActionKind, Announcement, FileSendRecord, FileSendState, NewAction};
use crate::market::MarketType;

/// What an operator or script asks for (`POST /reprocess`, `backstop reprocess`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReprocessRequest {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Instead of a range: these dates.
    pub dates: Option<Vec<String>>,
    /// One market, or `all`; by default the markets the schedule scrapes.
    pub market: Option<String>,
    /// Categories to act on; default `scraper_failed` and `processor_failed`.
    pub categories: Option<Vec<String>>,
    #[serde(default)]
    pub dry_run: bool,
}

/// A request checked and resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub query: GapQuery,
    /// `None`: every date of the range.
    pub dates: Option<Vec<GameDate>>,
    pub categories: Vec<Category>,
}

impl ReprocessRequest {
    pub fn scope(&self) -> Result<Scope, String> {
        let now = chrono::Utc::now();
        let (query, dates) = match (&self.from, &self.to, &self.dates) {
            (Some(from), Some(to), None) => {
                (GapQuery::parse(from, to, self.market.as_deref())?, None)
            }
            (None, None, Some(list)) if !list.is_empty() => {
                let mut dates = list
                    .iter()
                    .map(|d| GameDate::resolve(d, now).map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()?;
                dates.sort();
                dates.dedup();
                let (first, last) = (dates[0], *dates.last().expect("non-empty"));
                let q = GapQuery::parse(
                    &first.to_string(),
                    &last.to_string(),
                    self.market.as_deref(),
                )?;
                (q, Some(dates))
            }
            _ => {
                return Err("give either \"from\" and \"to\", or a non-empty \"dates\" list".into())
            }
        };
        let categories = match &self.categories {
            None => vec![Category::ScraperFailed, Category::ProcessorFailed],
            Some(list) => list
                .iter()
                .map(|c| {
                    Category::parse(c)
                        .filter(|c| matches!(c, Category::ScraperFailed | Category::ProcessorFailed))
                        .ok_or_else(|| format!("category {c:?} cannot be acted on: use scraper_failed or processor_failed"))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Scope {
            query,
            dates,
            categories,
        })
    }

    /// The request as stored and hashed: the same request gives the same key.
    pub fn canonical(&self) -> Value {
        let mut c = self.clone();
        c.dry_run = false;
        serde_json::to_value(c).unwrap_or(Value::Null)
    }
}

/// The scope as stored with a job (dates resolved), so the check after the job judges the
/// range asked for, even when the request said `YESTERDAY` and the job resumes days later.
pub fn scope_json(scope: &Scope) -> Value {
    serde_json::json!({
        "from": scope.query.from,
        "to": scope.query.to,
        "markets": scope.query.markets,
        "dates": scope.dates,
    })
}

/// A stored scope read back: the query and the dates (`None`: the whole range).
pub fn scope_from_json(v: &Value) -> Option<(GapQuery, Option<Vec<GameDate>>)> {
    let query = GapQuery {
        from: serde_json::from_value(v.get("from")?.clone()).ok()?,
        to: serde_json::from_value(v.get("to")?.clone()).ok()?,
        markets: serde_json::from_value(v.get("markets")?.clone()).ok()?,
    };
    let dates = serde_json::from_value(v.get("dates")?.clone()).ok()?;
    Some((query, dates))
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub date: GameDate,
    pub market: MarketType,
    pub object_name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub actions: Vec<PlannedAction>,
    /// Files a recovery will not send (again): delivered or unconfirmed before, announced a
    /// moment ago, or short loads.
    pub skipped: Vec<Skipped>,
    pub upstream_requests: u64,
    pub eta_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedAction {
    pub kind: &'static str,
    pub date: GameDate,
    pub market: MarketType,
    pub object_name: Option<String>,
    pub reason: String,
}

impl PlannedAction {
    pub fn to_new(&self) -> NewAction {
        NewAction {
            kind: if self.kind == "scrape" {
                ActionKind::Scrape
            } else {
                ActionKind::SendFile
            },
            game_date: self.date,
            market: self.market,
            object_name: self.object_name.clone(),
            reason: self.reason.clone(),
        }
    }
}

/// Seconds to allow per file sent to Phase 2 in the estimate.
const SECONDS_PER_SEND: f64 = 5.0;

/// What the ledger knows about a file a recovery might send.
pub struct FileHistory {
    /// A recovery already handed it to Phase 2.
    pub sent: Option<FileSendRecord>,
    /// Its completion message, while it may still bring the file to Phase 2: waiting in the
    /// outbox, or published less than the pending-load window ago (Pub/Sub keeps retrying
    /// for days).
    pub announced_recently: Option<Announcement>,
}

/// Chooses the actions.
pub fn plan(
    report: &GapReport,
    scope: &Scope,
    rate_per_sec: f64,
    history: impl Fn(&str) -> FileHistory,
) -> Plan {
    let mut actions = Vec::new();
    let mut skipped = Vec::new();
    let mut requests = 0;
    for row in &report.rows {
        let (date, market) = (row.evidence.date, row.evidence.market);
        if scope.dates.as_ref().is_some_and(|d| !d.contains(&date)) {
            continue;
        }
        if let Some(short) = &row.verdict.short_load {
            skipped.push(Skipped {
                date,
                market,
                object_name: short.object_name.clone(),
                reason: format!(
                    "a short load ({} of its {} rows in the table): loaded, so never sent again — a second send would duplicate the rows there",
                    short.rows_held, short.rows_expected
                ),
            });
        }
        if !scope.categories.contains(&row.verdict.category) {
            continue;
        }
        let reason = format!("{}: {}", row.verdict.category.as_str(), row.verdict.reason);
        match &row.verdict.remedy {
            Remedy::None => {}
            Remedy::Rescrape => {
                requests += 1 + market.typical_pages();
                actions.push(PlannedAction {
                    kind: "scrape",
                    date,
                    market,
                    object_name: None,
                    reason,
                });
            }
            Remedy::SendFile { object_name } => {
                let h = history(object_name);
                let skip = |reason: String| Skipped {
                    date,
                    market,
                    object_name: object_name.clone(),
                    reason,
                };
                if let Some(rec) = h.sent {
                    skipped.push(skip(match rec.state {
                        FileSendState::Sent => format!(
                            "already handed to Phase 2 by job {} (delivered at {}): never sent twice",
                            rec.job_id,
                            rec.sent_at.unwrap_or(rec.claimed_at)
                        ),
                        FileSendState::Claimed => format!(
                            "handed to Phase 2 by job {} at {} with no answer (unconfirmed): settled from the rows under its source_file_path, never sent blindly",
                            rec.job_id, rec.claimed_at
                        ),
                    }));
                } else if let Some(announced) = h.announced_recently {
                    skipped.push(skip(match announced {
                        Announcement::Pending => "its completion message still waits in the outbox: when it goes out Phase 2 loads the file, and a send would load it twice".to_string(),
                        Announcement::Published(at) => format!(
                            "announced on Pub/Sub at {at}: Phase 2 may still be delivering it, and a send would load it twice; a recovery sends it once BACKSTOP_PENDING_LOAD_MINS have passed"
                        ),
                    }));
                } else {
                    actions.push(PlannedAction {
                        kind: "send_file",
                        date,
                        market,
                        object_name: Some(object_name.clone()),
                        reason,
                    });
                }
            }
        }
    }
    let sends = actions.iter().filter(|a| a.kind == "send_file").count() as f64;
    Plan {
        eta_seconds: requests as f64 / rate_per_sec + sends * SECONDS_PER_SEND,
        upstream_requests: requests,
        actions,
        skipped,
    }
}
