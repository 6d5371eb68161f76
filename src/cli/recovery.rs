//! `backstop gaps` and `backstop reprocess`: lost dates for people, and their recovery with a
//! progress bar on a terminal.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::app::App;
use crate::gaps::GapQuery;
use crate::reprocess::execute::progress;
use crate::reprocess::ReprocessRequest;

pub async fn gaps(
    app: &App,
    from: &str,
    to: &str,
    market: &str,
    json: bool,
    all: bool,
) -> ExitCode {
    let query = match GapQuery::parse(from, to, Some(market)) {
        Ok(q) => q,
        Err(e) => return super::usage(e),
    };
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
    let submitted = match app.recovery.submit(&req, key.as_deref()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("backstop reprocess: {e}");
            return ExitCode::FAILURE;
        }
    };
    let id = submitted.job.id.clone();
    if !submitted.created {
        eprintln!(
            "this request already made job {id} ({}); pass --key to start a new one",
            submitted.job.state
        );
    } else {
        eprintln!(
            "job {id}: {} action(s), {} skipped as already sent",
            submitted.plan.actions.len(),
            submitted.plan.skipped.len()
        );
        let recovery = app.recovery.clone();
        let run_id = id.clone();
        let task = tokio::spawn(async move { recovery.execute(&run_id).await });
        let tty = std::io::stderr().is_terminal();
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
                "{} {} {:?} {:?}: {}",
                a.game_date,
                a.market,
                a.kind,
                a.state,
                a.detail.as_deref().unwrap_or("")
            );
        }
        if let Some(result) = &job.result {
            println!(
                "afterwards: {} now complete, {} still lost",
                result["now_complete"], result["still_lost"]
            );
        }
    }
    if job.state == "done" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub async fn claims(app: &App, action: &str, object: Option<&str>) -> ExitCode {
    let ledger = &app.ledger;
    let result = match (action, object) {
        ("list", None) => ledger.unconfirmed_file_sends().await.map(|sends| {
            for s in &sends {
                println!("{}  claimed {} by job {}", s.object_name, s.claimed_at, s.job_id);
            }
            println!("{} unconfirmed hand-over(s): check rows with that source_file_path in BigQuery, then confirm or release", sends.len());
        }),
        ("confirm", Some(name)) => ledger.confirm_file_sent(name, chrono::Utc::now()).await.map(|_| println!("{name}: confirmed as loaded; never sent again")),
        ("release", Some(name)) => ledger.release_file_send(name).await.map(|_| println!("{name}: released; a later recovery may send it")),
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
