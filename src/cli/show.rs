//! The API's JSON, for people: runs, plans, jobs and claims as the commands print them, the
//! same whether the answer came from this process or from a service (the gap table is
//! [`crate::gaps::report::table`], which tests use too).

use std::fmt::Write;

use serde_json::Value;

/// A JSON string as it is ("" for anything else).
fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A JSON number, or `-` when it is null (unknown).
fn count(v: &Value) -> String {
    v.as_u64().map_or_else(|| "-".into(), |n| n.to_string())
}

/// A JSON time (RFC 3339) in `format`, or as it came.
fn time(v: &Value, format: &str) -> String {
    let raw = text(v);
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc).format(format).to_string())
        .unwrap_or_else(|_| raw.to_string())
}

/// `GET /runs`'s answer as a table, newest first.
pub fn runs(answer: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16}  {:<15}  {:<10}  {:<8}  {:<9}  {:>5}  {:>7}  {:<20}  message",
        "run", "scraper", "date", "market", "status", "props", "pages", "started (UTC)"
    );
    for r in answer["runs"].as_array().into_iter().flatten() {
        let pages = match (r["pages_fetched"].as_u64(), r["pages_total"].as_u64()) {
            (Some(f), Some(t)) => format!("{f}/{t}"),
            (Some(f), None) => f.to_string(),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<16}  {:<15}  {:<10}  {:<8}  {:<9}  {:>5}  {:>7}  {:<20}  {}",
            text(&r["run_id"]),
            text(&r["scraper"]),
            text(&r["game_date"]),
            r["market"].as_str().unwrap_or("-"),
            text(&r["status"]),
            count(&r["props_written"]),
            pages,
            time(&r["started_at"], "%Y-%m-%d %H:%M:%S"),
            text(&r["error_message"])
        );
    }
    out
}

/// A dry run's plan: each action, each skipped file, and what it costs.
pub fn plan(plan: &Value) -> String {
    let mut out = String::new();
    let actions = plan["actions"].as_array().cloned().unwrap_or_default();
    let skipped = plan["skipped"].as_array().cloned().unwrap_or_default();
    for a in &actions {
        let _ = writeln!(
            out,
            "{} {} {:<9} {}",
            text(&a["date"]),
            text(&a["market"]),
            text(&a["kind"]),
            text(&a["reason"])
        );
    }
    for s in &skipped {
        let _ = writeln!(
            out,
            "{} {} skipped   {}",
            text(&s["date"]),
            text(&s["market"]),
            text(&s["reason"])
        );
    }
    let _ = writeln!(
        out,
        "{} action(s), {} skipped; about {} upstream requests, ~{:.0} s at the configured rate",
        actions.len(),
        skipped.len(),
        plan["upstream_requests"],
        plan["eta_seconds"].as_f64().unwrap_or_default()
    );
    out
}

/// `GET /reprocess/{id}`'s answer once the job ended: each action, each hand-over with its
/// evidence, and what detection said afterwards.
pub fn job(answer: &Value) -> String {
    let mut out = String::new();
    let job = &answer["job"];
    let actions = job["actions"].as_array().cloned().unwrap_or_default();
    for a in &actions {
        let _ = writeln!(
            out,
            "{} {} {} {}: {}",
            text(&a["game_date"]),
            text(&a["market"]),
            text(&a["kind"]),
            text(&a["state"]),
            text(&a["detail"])
        );
    }
    let id = text(&job["id"]);
    for c in answer["claims"].as_array().into_iter().flatten() {
        let delivery = &c["delivery"];
        let now = if delivery.is_null() {
            "released".to_string()
        } else if text(&delivery["job_id"]) == id {
            text(&delivery["state"]).to_string()
        } else {
            format!(
                "{} by job {}",
                text(&delivery["state"]),
                text(&delivery["job_id"])
            )
        };
        let _ = writeln!(out, "  hand-over of {}: {now}", text(&c["object_name"]));
        for e in c["evidence"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "    {} {} → {}: {}",
                time(&e["checked_at"], "%Y-%m-%d %H:%M:%S"),
                text(&e["source"]),
                text(&e["outcome"]),
                text(&e["detail"])
            );
        }
    }
    let result = &job["result"];
    if !result.is_null() {
        let _ = writeln!(
            out,
            "afterwards: {} of {} action(s) now complete; {} (date, market) pair(s) in the range still lost or unjudged",
            result["now_complete"], actions.len(), result["still_lost"]
        );
        for lost in result["lost"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  still {} {} {}: {}",
                text(&lost["category"]),
                text(&lost["date"]),
                text(&lost["market"]),
                text(&lost["reason"])
            );
        }
    }
    out
}

/// One line of progress: a bar of finished actions, and the counts per state.
pub fn progress(answer: &Value) -> String {
    let actions = answer["job"]["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = actions.len().max(1);
    let finished = actions
        .iter()
        .filter(|a| ["done", "skipped"].contains(&text(&a["state"])))
        .count();
    let width = 30;
    let filled = finished * width / total;
    format!(
        "[{}{}] {finished}/{total} actions {}",
        "#".repeat(filled),
        " ".repeat(width - filled),
        answer["progress"]
    )
}

/// `GET /claims`'s answer (settled just now, then what is left), or a settlement's message.
pub fn claims(answer: &Value) -> String {
    let mut out = String::new();
    if let Some(message) = answer["message"].as_str() {
        let _ = writeln!(out, "{message}");
        return out;
    }
    for s in answer["settled"].as_array().into_iter().flatten() {
        let e = &s["evidence"];
        let _ = writeln!(
            out,
            "{}  {} from evidence: {}",
            text(&s["object_name"]),
            text(&e["outcome"]),
            text(&e["detail"])
        );
    }
    let unconfirmed = answer["unconfirmed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in &unconfirmed {
        let _ = writeln!(
            out,
            "{}  claimed {} by job {}",
            text(&c["object_name"]),
            time(&c["claimed_at"], "%Y-%m-%d %H:%M:%S UTC"),
            text(&c["job_id"])
        );
        let last = &c["last_check"];
        if !last.is_null() {
            let _ = writeln!(
                out,
                "    last check {}: {}",
                time(&last["checked_at"], "%Y-%m-%d %H:%M:%S"),
                text(&last["detail"])
            );
        }
    }
    let _ = writeln!(out, "{} unconfirmed hand-over(s) evidence could not settle: check rows with that source_file_path in BigQuery, then confirm or release", unconfirmed.len());
    out
}
