//! The README's first command, `cargo run -- demo`: the main job offline, against the local
//! BettingPros the `sim` feature builds in (the shipped build refuses it: see scripts/test).

use std::process::Command;

use crate::support::process::backstop_in as backstop;

#[test]
fn the_demo_scrapes_a_whole_game_day_offline_through_injected_faults() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
        .args(["demo", "--out"])
        .arg(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("7 runs"),
        "the events file and six markets: {stdout}"
    );
    assert!(stdout.contains("injected fault"), "{stdout}");
    let props = dir.path().join("store/bettingpros/player-props");
    let markets = std::fs::read_dir(&props).expect("props files").count();
    assert_eq!(markets, 6, "{}", props.display());
    assert!(dir.path().join("ledger.db").is_file());
}

#[test]
fn runs_after_the_demo_says_the_exact_command_that_shows_the_demos_runs() {
    let dir = tempfile::tempdir().unwrap();
    let command = "BACKSTOP_LEDGER=backstop-data/demo/ledger.db backstop runs";
    let (code, out, err) = backstop(dir.path(), &["demo"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(command),
        "the demo says how to see its runs: {out}"
    );
    let (code, out, err) = backstop(dir.path(), &["runs"], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        err.contains(command),
        "runs finds none and says where they are: {err}"
    );
    let (code, out, err) = backstop(
        dir.path(),
        &["runs"],
        &[("BACKSTOP_LEDGER", "backstop-data/demo/ledger.db")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains("2026-01-14")).count(),
        7,
        "{out}"
    );
}
