//! The `backstop` binary as an operator runs it at 3 a.m.

use std::process::Command;

use backstop::ledger::Ledger;

use crate::support::app::unconfirmed_hand_overs;

fn backstop(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BACKSTOP_STORAGE", dir.join("store"))
        .env("BACKSTOP_LEDGER", dir.join("ledger.db"))
        .env("BACKSTOP_NOTIFY", "off")
        // Nothing listens there: BigQuery is unreachable.
        .env("BIGQUERY_EMULATOR_HOST", "http://127.0.0.1:9")
        .env("BACKSTOP_BQ_MAX_ATTEMPTS", "1")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_hand_over_evidence_cannot_settle_is_listed_with_why_and_can_be_released_after_a_check() {
    let dir = tempfile::tempdir().unwrap();
    let name = "bettingpros/player-props/points/2026-01-14/20260114_180530.json";
    unconfirmed_hand_overs(
        &Ledger::open(&dir.path().join("ledger.db")).unwrap(),
        &[name],
    );
    let (ok, out, err) = backstop(dir.path(), &["claims"]);
    assert!(ok, "{err}");
    assert!(out.contains(name) && out.contains("1 unconfirmed"), "{out}");
    assert!(
        out.contains("last check") && out.contains("could not be read"),
        "BigQuery is down, so the claim stays for a person: {out}"
    );
    let (ok, out, err) = backstop(dir.path(), &["claims", "release", name]);
    assert!(ok, "{err}");
    assert!(out.contains("released"), "{out}");
    let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
    assert!(ledger.file_send(name).unwrap().is_none());
    let job = &ledger.unfinished_jobs().unwrap()[0];
    let evidence = ledger.claim_evidence(name, &job.id).unwrap();
    let said: Vec<_> = evidence.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(said, ["unconfirmed", "released"], "{evidence:#?}");
    assert!(evidence[1].detail.contains("by hand"), "{evidence:#?}");
}

#[test]
fn bad_input_exits_3_with_a_message_that_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["scrape", "bp_odds"], "bp_odds"),
        (
            vec!["scrape", "bp_events", "--date", "14/01/2026"],
            "14/01/2026",
        ),
        (
            vec!["gaps", "--from", "2026-02-01", "--to", "2026-01-01"],
            "backwards",
        ),
        (vec!["claims", "confirm"], "confirm OBJECT"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
            .args(&args)
            .env("BACKSTOP_STORAGE", dir.path().join("store"))
            .env("BACKSTOP_NOTIFY", "off")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_scrape_without_a_key_fails_at_once_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = backstop(dir.path(), &["scrape", "bp_events", "--date", "2026-01-14"]);
    assert!(!ok);
    assert!(
        out.contains("missing_api_key") && out.contains("BETTINGPROS_API_KEY"),
        "{out}"
    );
}

#[test]
fn usage_errors_exit_3_like_other_bad_input_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
            .args(args)
            .env("BACKSTOP_STORAGE", dir.path().join("store"))
            .env("BACKSTOP_NOTIFY", "off")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    // Exit 2 means "partial": a mistyped command must never read as a run that half worked.
    for (args, needle) in [
        (vec!["scrap"], "scrap"),
        (vec!["gaps", "--from", "2026-01-01"], "--to"),
        (vec!["runs", "--limit", "many"], "many"),
        (vec!["scrape", "bp_events", "--colour", "red"], "--colour"),
        (vec![], "Usage"),
    ] {
        let (code, text) = run(&args);
        assert_eq!(code, Some(3), "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {text}");
    }
    for args in [vec!["--help"], vec!["--version"], vec!["gaps", "--help"]] {
        let (code, text) = run(&args);
        assert_eq!(code, Some(0), "{args:?}: {text}");
        assert!(
            text.contains("backstop") || text.contains("Usage"),
            "{text}"
        );
    }
}

#[test]
fn reprocess_and_claims_against_a_bucket_refuse_a_private_ledger_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["reprocess", "--from", "2026-01-01", "--to", "2026-01-02"],
        vec!["claims"],
        vec![
            "claims",
            "release",
            "bettingpros/player-props/points/2026-01-14/x.json",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
            .args(&args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BACKSTOP_STORAGE", "gs://nba-scraped-data")
            .env("BACKSTOP_NOTIFY", "off")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        for needle in [
            "gs://nba-scraped-data",
            "BACKSTOP_LEDGER",
            "--url",
            "never-twice",
        ] {
            assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{args:?} left {left:?}: no private ledger");
    }
}
