//! `backstop gaps`, `backstop reprocess` and `backstop claims`: lost dates for people, their
//! recovery (followed to the end, with a progress bar on a terminal), and hand-overs settled by
//! hand — here or on a service (`--url`), with the same output and exit codes.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use super::service::Service;
use super::show;
use crate::gaps::report::{has_problems, table};
use crate::query::claims::ByHand;
use crate::query::{Params, QueryError};
use crate::reprocess::ReprocessRequest;

/// How often a followed job is asked for: here, and from a service.
const POLL: (Duration, Duration) = (Duration::from_millis(300), Duration::from_secs(2));

/// Prints `backstop COMMAND: error` and exits with the error's code.
pub(super) fn failed(command: &str, e: QueryError) -> ExitCode {
    eprintln!("backstop {command}: {e}");
    ExitCode::from(e.exit_code())
}

pub(super) fn pretty(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// The report as a table (or JSON); exit 1 when something is lost or cannot be judged.
pub async fn gaps(service: &Service, q: &Params, json: bool, all: bool) -> ExitCode {
    let report = match service.gaps(q).await {
        Ok(r) => r,
        Err(e) => return failed("gaps", e),
    };
    if json {
        pretty(&report);
    } else {
        print!("{}", table(&report, all));
    }
    // Non-zero when something is lost or cannot be judged, so scripts can branch on it.
    if has_problems(&report) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A dry run prints the plan; otherwise the job runs (where the ledger is: here, or on the
/// service) and is followed to its end. Exit 0 once nothing in the range is lost, 1 while
/// anything is (or the check did not run).
pub async fn reprocess(
    service: &Service,
    req: ReprocessRequest,
    key: Option<String>,
    json: bool,
) -> ExitCode {
    if let Err(e) = service.shared_ledger("reprocess") {
        return failed("reprocess", e);
    }
    let body = serde_json::to_value(&req).unwrap_or_default();
    // The command waits for its job: the same request after a finished job plans anew.
    let q = Params::from([("repeat_window_secs".to_string(), "0".to_string())]);
    let (created, answer) = match service.reprocess(&body, key.as_deref(), &q).await {
        Ok(a) => a,
        Err(e) => return failed("reprocess", e),
    };
    if req.dry_run {
        if json {
            pretty(&answer["plan"]);
        } else {
            print!("{}", show::plan(&answer["plan"]));
        }
        return ExitCode::SUCCESS;
    }
    let id = answer["job_id"].as_str().unwrap_or_default().to_string();
    let plan = &answer["plan"];
    let state = answer["state"].as_str().unwrap_or_default();
    if created {
        let n = |k: &str| plan[k].as_array().map_or(0, Vec::len);
        eprintln!(
            "job {id}: {} action(s), {} skipped",
            n("actions"),
            n("skipped")
        );
    } else if state == "running" {
        eprintln!(
            "job {id} for this request is still running; carrying it on (slices another process holds are waited for)"
        );
    } else {
        let key = key.as_deref().unwrap_or_default();
        eprintln!("the key {key:?} names job {id} ({state}): shown as it ended");
    }
    let job = match follow(service, &id).await {
        Ok(job) => job,
        Err(e) => return failed("reprocess", e),
    };
    if json {
        pretty(&job["job"]);
    } else {
        print!("{}", show::job(&job));
    }
    match job["job"]["result"]["still_lost"].as_u64() {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

/// Asks for the job until it has finished and checked its range again, drawing progress on a
/// terminal. Each ask carries the job on by a slice (here, or on the service), and waits out
/// its settle time before the check of its range.
async fn follow(service: &Service, id: &str) -> Result<Value, QueryError> {
    let tty = std::io::stderr().is_terminal();
    loop {
        let job = service.job(id).await?;
        if tty {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r{}", show::progress(&job));
            let _ = err.flush();
        }
        if job["job"]["state"] != "running" && !job["job"]["result"].is_null() {
            if tty {
                eprintln!();
            }
            return Ok(job);
        }
        let poll = match service {
            Service::Local(_) => POLL.0,
            Service::Remote(_) => POLL.1,
        };
        tokio::time::sleep(poll).await;
    }
}

/// `backstop claims`: settles what evidence can settle, then lists what is left (with the last
/// check), or settles one claim by hand.
pub async fn claims(service: &Service, action: &str, object: Option<&str>) -> ExitCode {
    const USAGE: &str = "use: backstop claims [list] | confirm OBJECT | release OBJECT";
    let by = match (action, object) {
        ("list", None) => None,
        (word, Some(_)) => match ByHand::parse(word) {
            Some(by) => Some(by),
            None => return failed("claims", QueryError::Invalid(USAGE.into())),
        },
        _ => return failed("claims", QueryError::Invalid(USAGE.into())),
    };
    if let Err(e) = service.shared_ledger("claims") {
        return failed("claims", e);
    }
    let answer = match (by, object) {
        (Some(by), Some(name)) => service.settle(name, by).await,
        _ => service.claims().await,
    };
    match answer {
        Ok(answer) => {
            print!("{}", show::claims(&answer));
            ExitCode::SUCCESS
        }
        Err(e) => failed("claims", e),
    }
}
