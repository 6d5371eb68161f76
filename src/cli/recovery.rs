//! `backstop gaps` and `backstop reprocess`: lost dates for people, and their recovery with a
//! progress bar on a terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::app::App;
use crate::gaps::GapQuery;
use serde_json::Value;

use crate::query::claims::ByHand;
use crate::reprocess::execute::progress;
use crate::reprocess::{RecoveryError, ReprocessRequest};

pub async fn gaps(
    app: &App,
    from: &str,
    to: &str,
    market: Option<&str>,
    json: bool,
    all: bool,
) -> ExitCode {
    let query = match GapQuery::parse(from, to, market) {
        Ok(q) => q,
        Err(e) => return super::usage(e),
    };
    app.recovery.settle_claims().await;
    let report = app.detector.detect(&query).await;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", report.table(all));
    }
    // Non-zero when something is lost or cannot be judged, so scripts can branch on it.
    if report.problems().next().is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub async fn reprocess(
    app: &App,
    req: ReprocessRequest,
    key: Option<String>,
    json: bool,
) -> ExitCode {
    if let Err(e) = req.scope() {
        return super::usage(e);
    }
    if req.dry_run {
        return match app.recovery.plan(&req).await {
            Ok(plan) => {
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&plan).unwrap_or_default()
                    );
                } else {
                    for a in &plan.actions {
                        println!("{} {} {:<9} {}", a.date, a.market, a.kind, a.reason);
                    }
                    for s in &plan.skipped {
                        println!("{} {} skipped   {}", s.date, s.market, s.reason);
                    }
                    println!(
                        "{} action(s), {} skipped; about {} upstream requests, ~{:.0} s at the configured rate",
                        plan.actions.len(), plan.skipped.len(), plan.upstream_requests, plan.eta_seconds
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => super::usage(e),
        };
    }
    // The command waits for its job: a repeat of a finished one always plans anew.
    let submitted = match app
        .recovery
        .submit(&req, key.as_deref(), Duration::ZERO)
        .await
    {
        Ok(s) => s,
        Err(RecoveryError::Ledger(e)) => {
            eprintln!("backstop reprocess: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => return super::usage(e),
    };
    let id = submitted.job.id.clone();
    let tty = std::io::stderr().is_terminal();
    if submitted.created {
        eprintln!(
            "job {id}: {} action(s), {} skipped",
            submitted.plan.actions.len(),
            submitted.plan.skipped.len()
        );
        let recovery = app.recovery.clone();
        let run_id = id.clone();
        let task = tokio::spawn(async move { recovery.execute(&run_id).await });
        while !task.is_finished() {
            if tty {
                draw(app, &id);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    } else if submitted.job.state == "running" {
        eprintln!(
            "job {id} for this request is still running in another process; waiting for it (if that process is gone, `backstop serve` resumes it)"
        );
        while !matches!(app.ledger.job(&id), Ok(Some(j)) if j.state != "running" && j.result.is_some())
        {
            if tty {
                draw(app, &id);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    } else {
        let key = key.as_deref().unwrap_or_default();
        eprintln!(
            "the key {key:?} names job {id} ({}): shown as it ended",
            submitted.job.state
        );
    }
    if tty {
        draw(app, &id);
        eprintln!();
    }
    let job = match app.ledger.job(&id) {
        Ok(Some(job)) => job,
        _ => return ExitCode::FAILURE,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&job).unwrap_or_default());
    } else {
        for a in &job.actions {
            println!(
                "{} {} {} {}: {}",
                a.game_date,
                a.market,
                a.kind,
                a.state,
                a.detail.as_deref().unwrap_or("")
            );
        }
        print_claims(app, &id);
        if let Some(result) = &job.result {
            println!(
                "afterwards: {} of {} action(s) now complete; {} (date, market) pair(s) in the range still lost or unjudged",
                result["now_complete"], job.actions.len(), result["still_lost"]
            );
            for lost in result["lost"].as_array().into_iter().flatten() {
                println!(
                    "  still {} {} {}: {}",
                    lost["category"].as_str().unwrap_or(""),
                    lost["date"].as_str().unwrap_or(""),
                    lost["market"].as_str().unwrap_or(""),
                    lost["reason"].as_str().unwrap_or("")
                );
            }
        }
    }
    // 0 once nothing in the range is lost; 1 while anything is (or the check did not run).
    match job.result.as_ref().and_then(|r| r["still_lost"].as_u64()) {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

/// The files the job handed to Phase 2, and the evidence that settled each hand-over.
fn print_claims(app: &App, job_id: &str) {
    let Ok(claims) = app.ledger.job_claims(job_id) else {
        return;
    };
    for c in claims {
        let now = match &c.delivery {
            Some(d) if d.job_id == job_id => d.state.to_string(),
            Some(d) => format!("{} by job {}", d.state, d.job_id),
            None => "released".into(),
        };
        println!("  hand-over of {}: {now}", c.object_name);
        for e in &c.evidence {
            println!(
                "    {} {} → {}: {}",
                e.checked_at.format("%Y-%m-%d %H:%M:%S"),
                e.source,
                e.outcome,
                e.detail
            );
        }
    }
}

/// `backstop claims`: settles what evidence can settle, then lists what is left (with the last
/// check), or settles one claim by hand.
pub async fn claims(app: &App, action: &str, object: Option<&str>) -> ExitCode {
    let answer = match (action, object) {
        ("list", None) => crate::query::claims::list(app).await,
        (word, Some(name)) => match ByHand::parse(word) {
            Some(by) => crate::query::claims::settle_by_hand(app, name, by).await,
            None => return super::usage(CLAIMS_USAGE),
        },
        _ => return super::usage(CLAIMS_USAGE),
    };
    match answer {
        Ok(answer) => {
            print_claims_answer(&answer);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("backstop claims: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

const CLAIMS_USAGE: &str = "use: backstop claims [list] | confirm OBJECT | release OBJECT";

/// `GET /claims`'s answer (settled just now, then what is left), or a settlement's message.
fn print_claims_answer(answer: &Value) {
    if let Some(message) = answer["message"].as_str() {
        println!("{message}");
        return;
    }
    for s in answer["settled"].as_array().into_iter().flatten() {
        let e = &s["evidence"];
        println!(
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
        println!(
            "{}  claimed {} by job {}",
            text(&c["object_name"]),
            time(&c["claimed_at"], "%Y-%m-%d %H:%M:%S%.f UTC"),
            text(&c["job_id"])
        );
        let last = &c["last_check"];
        if !last.is_null() {
            println!(
                "    last check {}: {}",
                time(&last["checked_at"], "%Y-%m-%d %H:%M:%S"),
                text(&last["detail"])
            );
        }
    }
    println!("{} unconfirmed hand-over(s) evidence could not settle: check rows with that source_file_path in BigQuery, then confirm or release", unconfirmed.len());
}

/// A JSON string as it is ("" for anything else).
fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A JSON time (RFC 3339) in `format`, or as it came.
fn time(v: &Value, format: &str) -> String {
    let raw = text(v);
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc).format(format).to_string())
        .unwrap_or_else(|_| raw.to_string())
}

fn draw(app: &App, id: &str) {
    let Ok(Some(job)) = app.ledger.job(id) else {
        return;
    };
    let total = job.actions.len().max(1);
    let finished = job.actions.iter().filter(|a| a.state.is_final()).count();
    let width = 30;
    let filled = finished * width / total;
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r[{}{}] {finished}/{total} actions {}",
        "#".repeat(filled),
        " ".repeat(width - filled),
        progress(&job)
    );
    let _ = err.flush();
}
