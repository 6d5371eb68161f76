//! `backstop gaps` and `backstop reprocess`: lost dates for people, and their recovery with a
//! progress bar on a terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::app::App;
use crate::gaps::GapQuery;
use crate::ledger::{
    ClaimEvidence, ClaimOutcome, EvidenceSource, FileSendState, Ledger, LedgerError,
};
use crate::reprocess::execute::progress;
use crate::reprocess::{ReprocessRequest, SubmitError};

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
        Err(SubmitError::Failed(e)) => {
            eprintln!("backstop reprocess: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => return super::usage(e),
    };
    let id = submitted.job.id.clone();
    let tty = std::io::stderr().is_terminal();
    let job = &submitted.job;
    if submitted.created {
        eprintln!(
            "job {id}: {} action(s), {} skipped",
            submitted.plan.actions.len(),
            submitted.plan.skipped.len()
        );
    } else if job.state.is_final() && job.result.is_some() {
        let key = key.as_deref().unwrap_or_default();
        eprintln!(
            "the key {key:?} names job {id} ({}): shown as it ended",
            job.state
        );
    } else {
        eprintln!(
            "job {id} for this request is unfinished; carrying it on here (slices another process holds are waited for)"
        );
    }
    // This process drives the job slice after slice (it has no request timeout), waiting out
    // the settle time before the check of the range.
    let recovery = app.recovery.clone();
    let driven = id.clone();
    let task = app.tasks.spawn(format!("recovery job {id}"), async move {
        recovery.execute(&driven).await
    });
    while !task.is_finished() {
        if tty {
            draw(app, &id).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if tty {
        draw(app, &id).await;
        eprintln!();
    }
    let job = match app.ledger.job(&id).await {
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
        print_claims(app, &id).await;
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
async fn print_claims(app: &App, job_id: &str) {
    let Ok(claims) = app.ledger.job_claims(job_id).await else {
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
    let ledger = &app.ledger;
    let result = match (action, object) {
        ("list", None) => {
            for s in app.recovery.settle_claims().await {
                if s.evidence.outcome != ClaimOutcome::Unconfirmed {
                    println!(
                        "{}  {} from evidence: {}",
                        s.object_name, s.evidence.outcome, s.evidence.detail
                    );
                }
            }
            match ledger.unconfirmed_file_sends().await {
                Ok(sends) => {
                    for s in &sends {
                        println!(
                            "{}  claimed {} by job {}",
                            s.object_name, s.claimed_at, s.job_id
                        );
                        let last = ledger
                            .claim_evidence(&s.object_name, &s.job_id)
                            .await
                            .ok()
                            .and_then(|mut e| e.pop());
                        if let Some(e) = last {
                            println!(
                                "    last check {}: {}",
                                e.checked_at.format("%Y-%m-%d %H:%M:%S"),
                                e.detail
                            );
                        }
                    }
                    println!("{} unconfirmed hand-over(s) evidence could not settle: check rows with that source_file_path in BigQuery, then confirm or release", sends.len());
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        ("confirm", Some(name)) => by_hand(ledger, name, ClaimOutcome::Confirmed, "confirmed")
            .await
            .map(|_| println!("{name}: confirmed as loaded; never sent again")),
        ("release", Some(name)) => by_hand(ledger, name, ClaimOutcome::Released, "released")
            .await
            .map(|_| println!("{name}: released; a later recovery may send it")),
        _ => return super::usage("use: backstop claims [list] | confirm OBJECT | release OBJECT"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backstop claims: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A person's word on one claim, recorded as evidence with it; for a file with no open claim,
/// the bare moves say what is wrong (no claim, already sent).
async fn by_hand(
    ledger: &Ledger,
    name: &str,
    outcome: ClaimOutcome,
    said: &str,
) -> Result<(), LedgerError> {
    let claim = ledger.file_send(name).await?;
    let Some(claim) = claim.filter(|c| c.state == FileSendState::Claimed) else {
        return match outcome {
            ClaimOutcome::Released => ledger.release_file_send(name).await,
            _ => ledger.confirm_file_sent(name, chrono::Utc::now()).await,
        };
    };
    let evidence = ClaimEvidence {
        checked_at: chrono::Utc::now(),
        source: EvidenceSource::Person,
        outcome,
        rows_found: None,
        detail: format!("{said} by hand (backstop claims)"),
    };
    ledger
        .settle_claim(name, &claim.job_id, &evidence)
        .await
        .map(|_| ())
}

async fn draw(app: &App, id: &str) {
    let Ok(Some(job)) = app.ledger.job(id).await else {
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
