//! `GET /gaps` within a request's time: a detection bounded by a slice's budget
//! (`BACKSTOP_SLICE_SECS`) answers the whole report when every signal was at hand or could be
//! asked in time; otherwise it answers the rows it judged and a detection job
//! (`ledger::detections`) that carries the rest on, slice by slice — when its status is asked
//! for (`GET /gaps/{id}`), and at every sweep. A later slice asks only the dates no earlier one
//! asked; facts it learns (a past date's games, a file's rows) are remembered in the ledger, so
//! once a detection has finished, the same `GET /gaps` is whole at once (but for dates that are
//! never remembered: today's, and empty answers not yet corroborated).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::bound::{Bound, Detected};
use super::evidence::Games;
use super::gather::Detector;
use super::GapQuery;
use crate::calendar::GameDate;
use crate::ledger::LedgerError;

/// Finished detections are forgotten after this long.
const KEPT: chrono::Duration = chrono::Duration::days(1);

/// What a bounded detection answers.
#[derive(Debug, Clone, PartialEq)]
pub enum GapAnswer {
    /// Every pair judged: the report.
    Whole(Value),
    /// The rows judged so far (`{"rows": […]}`); the detection job carries the rest on.
    Partial { detection_id: String, known: Value },
}

impl Detector {
    /// The gaps of `q` within `budget`: whole, or the rows judged and a detection job (the
    /// range's unfinished one, given a slice, when there is one).
    pub async fn answer(&self, q: &GapQuery, budget: Duration) -> Result<GapAnswer, LedgerError> {
        let ledger = &self.scrapes.ledger;
        let key = query_key(q);
        if let Some(open) = ledger.unfinished_detection(&key).await? {
            if let Some(answer) = self.advance_detection(&open.id, budget).await? {
                return Ok(answer);
            }
        }
        let bound = Bound::until(Instant::now() + budget, HashMap::new());
        let detected = self.detect_within(q, &bound).await;
        if detected.is_whole() {
            return Ok(GapAnswer::Whole(whole(&detected)));
        }
        let known = known(&detected);
        let (open, made) = ledger
            .open_detection(
                &key,
                &query_json(q),
                &answers(&detected),
                &known,
                Utc::now(),
            )
            .await?;
        if made {
            tracing::info!(detection_id = %open.id, from = %q.from, to = %q.to,
                           pending = detected.pending.len(),
                           "gaps: a detection job carries on what one request could not ask");
        }
        Ok(GapAnswer::Partial {
            detection_id: open.id,
            known,
        })
    }

    /// One slice of a detection job (when nobody live holds it), then what it knows; `None`
    /// when there is no such detection.
    pub async fn advance_detection(
        &self,
        id: &str,
        budget: Duration,
    ) -> Result<Option<GapAnswer>, LedgerError> {
        let ledger = &self.scrapes.ledger;
        let Some(record) = ledger.detection(id).await? else {
            return Ok(None);
        };
        let stored = |report: Option<Value>| report.unwrap_or_else(|| json!({"rows": []}));
        if record.finished_at.is_some() {
            return Ok(Some(GapAnswer::Whole(stored(record.report))));
        }
        let partial = |known| GapAnswer::Partial {
            detection_id: id.to_string(),
            known,
        };
        let Some(_slice) = self.slicing.enter(id) else {
            return Ok(Some(partial(stored(record.report))));
        };
        let (Some(q), Some(earlier)) = (query_from(&record.query), answers_from(&record.answers))
        else {
            let why = format!("detection {id} holds a query or answers this build cannot read");
            let problem = crate::ledger::LedgerProblem::Invalid(why);
            return Err(LedgerError::new(
                format!("advancing detection {id}"),
                problem,
            ));
        };
        if !ledger.adopt_detection(id, Utc::now()).await? {
            return Ok(Some(partial(stored(record.report))));
        }
        let detected = self
            .detect_within(&q, &Bound::until(Instant::now() + budget, earlier))
            .await;
        let now = Utc::now();
        if detected.is_whole() {
            let report = whole(&detected);
            ledger.finish_detection(id, &report, now).await?;
            tracing::info!(detection_id = id, "gaps: the detection job is whole");
            return Ok(Some(GapAnswer::Whole(report)));
        }
        let known = known(&detected);
        ledger
            .save_detection(id, &answers(&detected), &known, now)
            .await?;
        Ok(Some(partial(known)))
    }

    /// Gives every unfinished detection nobody live holds a slice, oldest first, starting none
    /// after `deadline` but the first; forgets finished ones older than a day. Returns the ids
    /// and whether each is whole now.
    pub async fn advance_due_detections(&self, deadline: Instant) -> Vec<(String, bool)> {
        let ledger = &self.scrapes.ledger;
        if let Err(e) = ledger.forget_detections(Utc::now() - KEPT).await {
            tracing::warn!(error = %e, "finished detections not forgotten");
        }
        let ids = match ledger.detections_to_advance(Utc::now()).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the detections waiting for a slice");
                return Vec::new();
            }
        };
        let mut advanced = Vec::new();
        for (n, id) in ids.into_iter().enumerate() {
            if !crate::tasks::may_start(deadline, n) {
                break;
            }
            let budget = deadline.saturating_duration_since(Instant::now());
            match self.advance_detection(&id, budget).await {
                Ok(answer) => {
                    let whole = matches!(answer, Some(GapAnswer::Whole(_)));
                    advanced.push((id, whole));
                }
                Err(e) => {
                    tracing::error!(detection_id = %id, error = %e, "a detection slice failed")
                }
            }
        }
        advanced
    }
}

/// One unfinished detection per range: its dates and markets.
fn query_key(q: &GapQuery) -> String {
    let markets: Vec<&str> = q.markets.iter().map(|m| m.as_str()).collect();
    format!("{}|{}|{}", q.from, q.to, markets.join(","))
}

fn query_json(q: &GapQuery) -> Value {
    json!({"from": q.from, "to": q.to, "markets": q.markets})
}

fn query_from(v: &Value) -> Option<GapQuery> {
    Some(GapQuery {
        from: serde_json::from_value(v.get("from")?.clone()).ok()?,
        to: serde_json::from_value(v.get("to")?.clone()).ok()?,
        markets: serde_json::from_value(v.get("markets")?.clone()).ok()?,
    })
}

/// The games per date, as `[[date, games], …]`.
fn answers(d: &Detected) -> Value {
    let mut pairs: Vec<(&GameDate, &Games)> = d.games.iter().collect();
    pairs.sort_by_key(|(date, _)| **date);
    serde_json::to_value(pairs).unwrap_or_else(|_| json!([]))
}

fn answers_from(v: &Value) -> Option<HashMap<GameDate, Games>> {
    let pairs: Vec<(GameDate, Games)> = serde_json::from_value(v.clone()).ok()?;
    Some(pairs.into_iter().collect())
}

fn whole(d: &Detected) -> Value {
    serde_json::to_value(&d.report).unwrap_or_else(|_| json!({"rows": []}))
}

fn known(d: &Detected) -> Value {
    json!({ "rows": d.known_rows() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaps::evidence::{NoGames, Signal};
    use crate::market::MarketType;

    #[test]
    fn a_query_and_its_games_read_back_as_they_were_stored() {
        let q = GapQuery {
            from: "2026-01-01".parse().unwrap(),
            to: "2026-01-31".parse().unwrap(),
            markets: vec![MarketType::Points, MarketType::Steals],
        };
        assert_eq!(query_from(&query_json(&q)), Some(q.clone()));
        assert_eq!(query_key(&q), "2026-01-01|2026-01-31|points,steals");
        let empty = NoGames {
            answers: 1,
            first_at: Some("2026-01-06T10:00:00Z".parse().unwrap()),
            ..NoGames::default()
        };
        let games: HashMap<GameDate, Games> = [
            ("2026-01-04".parse().unwrap(), (Signal::Known(4), None)),
            (
                "2026-01-05".parse().unwrap(),
                (Signal::Known(0), Some(empty)),
            ),
            (
                "2026-01-06".parse().unwrap(),
                (Signal::Unknown("events API: 503".into()), None),
            ),
        ]
        .into();
        let mut pairs: Vec<_> = games.iter().collect();
        pairs.sort_by_key(|(d, _)| **d);
        let stored = serde_json::to_value(pairs).unwrap();
        assert_eq!(answers_from(&stored), Some(games));
        assert_eq!(answers_from(&json!({"not": "pairs"})), None);
    }
}
