//! Which runs to list: `GET /runs?…` and `backstop runs --…` take the same five keys, and get
//! the same answer.

use serde_json::{json, Value};

use super::{to_json, Params, QueryError};
use crate::ledger::{Ledger, RunFilter};

/// `{"count", "runs"}`: the runs `q` asks for, newest first.
pub async fn runs(ledger: &Ledger, q: &Params) -> Result<Value, QueryError> {
    let filter = run_filter(q)?;
    let runs = ledger.runs(&filter).await?;
    Ok(json!({ "count": runs.len(), "runs": to_json(runs)? }))
}

/// Reads `scraper`, `date`, `market`, `status`, `limit`; an unknown key or value is a 400.
pub fn run_filter(q: &Params) -> Result<RunFilter, QueryError> {
    let bad = QueryError::Invalid;
    let mut f = RunFilter::default();
    for (k, v) in q {
        match k.as_str() {
            "scraper" => {
                f.scraper = Some(
                    v.parse()
                        .map_err(|e: crate::run::UnknownScraper| bad(e.to_string()))?,
                )
            }
            "date" => {
                f.game_date = Some(
                    v.parse()
                        .map_err(|e: crate::calendar::InvalidDate| bad(e.to_string()))?,
                )
            }
            "market" => {
                f.market = Some(
                    v.parse()
                        .map_err(|e: crate::market::UnknownMarket| bad(e.to_string()))?,
                )
            }
            "status" => f.status = Some(v.parse().map_err(bad)?),
            "limit" => {
                f.limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=1000).contains(l))
                    .ok_or_else(|| {
                        bad(format!("limit {v:?} must be a whole number from 1 to 1000"))
                    })?
            }
            other => {
                return Err(bad(format!(
                    "unknown query parameter {other:?}: use scraper, date, market, status, limit"
                )))
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(pairs: &[(&str, &str)]) -> Result<RunFilter, QueryError> {
        run_filter(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn each_key_is_checked_and_an_unknown_one_is_named() {
        let f = filter(&[("market", "steals"), ("limit", "5")]).unwrap();
        assert_eq!((f.market.map(|m| m.as_str()), f.limit), (Some("steals"), 5));
        for (pairs, needle) in [
            (vec![("limit", "0")], "limit"),
            (vec![("date", "yesterday-ish")], "yesterday-ish"),
            (vec![("color", "red")], "\"color\""),
        ] {
            let QueryError::Invalid(msg) = filter(&pairs).unwrap_err() else {
                panic!("{pairs:?} is not an invalid value")
            };
            assert!(msg.contains(needle), "{msg}");
        }
    }
}
