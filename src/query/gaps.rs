//! Lost dates: `GET /gaps?from=&to=&market=` and `backstop gaps --from --to --market`.

use serde_json::Value;

use super::{only, to_json, Params, QueryError};
use crate::app::App;
use crate::gaps::GapQuery;

/// The gap report (per date and market, the evidence and the verdict), after settling the
/// hand-overs evidence can settle.
pub async fn gaps(app: &App, q: &Params) -> Result<Value, QueryError> {
    only(q, &["from", "to", "market"])?;
    let (Some(from), Some(to)) = (q.get("from"), q.get("to")) else {
        return Err(QueryError::Invalid(
            "give from and to (YYYY-MM-DD, TODAY or YESTERDAY)".into(),
        ));
    };
    let query = GapQuery::parse(from, to, q.get("market").map(String::as_str))
        .map_err(QueryError::Invalid)?;
    app.recovery.settle_claims().await;
    to_json(app.detector.detect(&query).await)
}
