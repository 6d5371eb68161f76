//! Lost dates: `GET /gaps?from=&to=&market=` (and `GET /gaps/{id}`, a detection job) and
//! `backstop gaps --from --to --market`.
//!
//! Over HTTP a detection is bounded by a slice's budget (`gaps::job`): the answer is the whole
//! report (200), or the rows judged so far with a detection job to poll (202,
//! `{"rows": […], "status_url": "/gaps/{id}", …}`; its status answers the same until it is
//! whole, then 200 with the whole report). The command line in-process has no request timeout:
//! it detects in full ([`report`]).

use serde_json::Value;

use super::{only, to_json, Params, QueryError};
use crate::app::App;
use crate::gaps::{GapAnswer, GapQuery};

/// What `GET /gaps` (or a detection's status) answers: whether the report is whole (200, else
/// 202), and the JSON.
pub struct GapsAnswer {
    pub whole: bool,
    pub answer: Value,
}

/// `GET /gaps`: after settling the hand-overs evidence can settle, the gaps within a slice's
/// budget.
pub async fn gaps(app: &App, q: &Params) -> Result<GapsAnswer, QueryError> {
    let query = parse(q)?;
    app.recovery.settle_claims().await;
    Ok(shown(app.gaps(query).await?))
}

/// `GET /gaps/{id}`: a slice of the detection job, then what it knows.
pub async fn detection(app: &App, id: &str) -> Result<GapsAnswer, QueryError> {
    match app.detection(id).await? {
        Some(answer) => Ok(shown(answer)),
        None => Err(QueryError::NotFound(format!("no detection {id}"))),
    }
}

/// The whole gap report, however long it takes (the command line in-process), after settling
/// the hand-overs evidence can settle.
pub async fn report(app: &App, q: &Params) -> Result<Value, QueryError> {
    let query = parse(q)?;
    app.recovery.settle_claims().await;
    to_json(app.detector.detect(&query).await)
}

fn parse(q: &Params) -> Result<GapQuery, QueryError> {
    only(q, &["from", "to", "market"])?;
    let (Some(from), Some(to)) = (q.get("from"), q.get("to")) else {
        return Err(QueryError::Invalid(
            "give from and to (YYYY-MM-DD, TODAY or YESTERDAY)".into(),
        ));
    };
    GapQuery::parse(from, to, q.get("market").map(String::as_str)).map_err(QueryError::Invalid)
}

fn shown(answer: GapAnswer) -> GapsAnswer {
    match answer {
        GapAnswer::Whole(report) => GapsAnswer {
            whole: true,
            answer: report,
        },
        GapAnswer::Partial {
            detection_id,
            mut known,
        } => {
            known["detection_id"] = detection_id.as_str().into();
            known["status_url"] = format!("/gaps/{detection_id}").into();
            known["message"] = "the rows judged so far: the other (date, market) pairs need \
                answers that did not fit in one request; the detection goes on each time \
                status_url is asked for (and at every sweep), and answers 200 with the whole \
                report once every pair is judged"
                .into();
            GapsAnswer {
                whole: false,
                answer: known,
            }
        }
    }
}
