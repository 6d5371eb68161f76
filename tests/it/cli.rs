//! The `backstop` binary as an operator runs it at 3 a.m.

use std::process::Command;

use backstop::ledger::Ledger;

use crate::support::app::unconfirmed_hand_overs;
use crate::support::process::backstop_in;

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

#[tokio::test]
async fn a_hand_over_evidence_cannot_settle_is_listed_with_why_and_can_be_released_after_a_check() {
    let dir = tempfile::tempdir().unwrap();
    let name = "bettingpros/player-props/points/2026-01-14/20260114_180530.json";
    unconfirmed_hand_overs(
        &Ledger::open(&dir.path().join("ledger.db")).await.unwrap(),
        &[name],
    )
    .await;
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
    let ledger = Ledger::open(&dir.path().join("ledger.db")).await.unwrap();
    assert!(ledger.file_send(name).await.unwrap().is_none());
    let job = &ledger.unfinished_jobs().await.unwrap()[0];
    let evidence = ledger.claim_evidence(name, &job.id).await.unwrap();
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

#[test]
fn a_missing_api_key_is_a_configuration_error_said_once_even_for_all_markets() {
    let dir = tempfile::tempdir().unwrap();
    for market in ["points", "all"] {
        let args = [
            "scrape",
            "bp_player_props",
            "--date",
            "2026-01-14",
            "--market",
            market,
        ];
        let (code, out, err) = backstop_code(dir.path(), &args, &[]);
        assert_eq!(
            code,
            Some(3),
            "{market}: configuration, not a failed run: {out}{err}"
        );
        let said = format!("{out}{err}").matches("BETTINGPROS_API_KEY").count();
        assert_eq!(said, 1, "{market}: said once:\n{out}{err}");
    }
}

#[test]
fn logs_written_to_a_pipe_or_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    // An upstream nobody answers: the run logs its start, its retries and its failure.
    let upstream = [
        ("BETTINGPROS_API_KEY", "k"),
        ("BETTINGPROS_BASE_URL", "http://127.0.0.1:9/v3"),
        ("BACKSTOP_MAX_ATTEMPTS", "2"),
        ("BACKSTOP_BACKOFF_BASE_MS", "1"),
        ("RUST_LOG", "info"),
    ];
    let (code, _, err) = backstop_code(
        dir.path(),
        &["scrape", "bp_events", "--date", "2026-01-14"],
        &upstream,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("run started"), "logs reach stderr: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "colour codes in a piped log: {err:?}"
    );
}

/// `backstop ARGS` on a local store in `dir`, with `env`: exit code, stdout, stderr.
fn backstop_code(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let store = dir.join("store").display().to_string();
    let local = [
        ("BACKSTOP_STORAGE", store.as_str()),
        ("BACKSTOP_NOTIFY", "off"),
    ];
    backstop_in(dir, args, &[local.as_slice(), env].concat())
}

#[test]
fn options_say_what_they_take_and_a_wrong_value_is_refused_with_the_allowed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let help = |command: &str| backstop_code(dir.path(), &[command, "--help"], &[]).1;
    let runs = help("runs");
    for allowed in [
        "bp_events, bp_player_props",
        "points, rebounds, assists, threes, steals, blocks",
        "running, success, partial, no_data, failed, abandoned",
        "YYYY-MM-DD, TODAY or YESTERDAY",
    ] {
        assert!(
            runs.contains(allowed),
            "runs --help lacks {allowed:?}:\n{runs}"
        );
    }
    let gaps = help("gaps");
    assert!(gaps.contains("blocks, all"), "{gaps}");
    assert!(
        gaps.contains("Show complete days and off days too"),
        "{gaps}"
    );
    let reprocess = help("reprocess");
    assert!(
        reprocess.contains("scraper_failed, processor_failed"),
        "{reprocess}"
    );
    let (code, _, err) = backstop_code(dir.path(), &["runs", "--status", "exploded"], &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("exploded") && err.contains("no_data"), "{err}");
    let dunks = [
        "gaps",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-02",
        "--market",
        "dunks",
    ];
    let (code, _, err) = backstop_code(dir.path(), &dunks, &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("dunks") && err.contains("steals"), "{err}");
}
