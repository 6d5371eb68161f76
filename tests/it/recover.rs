//! `deploy/recover.sh`, the runbooks' recovery script, end to end against the real `backstop
//! serve` binary with an admin token, on the labelled calendar: it refuses to act without a
//! confirmation it cannot ask for, shows the gaps and the plan, recovers what it can (exit 1
//! while something is still lost, with the reasons), recovers the rest once the upstream is
//! back (exit 0), and a third run finds nothing and sends nothing. The token is never printed.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use backstop::sim::faults::Fault;

use crate::auth::TOKEN;
use crate::support::api::Api;
use crate::support::process::{output_of, output_with, Backstop};
use crate::support::world::{d, history, process_env, world, NEVER_LOADED, NEVER_SCRAPED};

const DAYS: u32 = 8;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/recover.sh")
}

/// `recover.sh ARGS` with `env` (and PATH): exit code, stdout, stderr. Stdin is not a terminal.
async fn recover(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = Command::new("bash");
    command
        .arg(script())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied());
    let what = format!("recover.sh {args:?}");
    let (code, out, err) = output_of(command, &what, Duration::from_secs(180)).await;
    for text in [&out, &err] {
        assert!(!text.contains(TOKEN), "{what} printed the token:\n{text}");
    }
    (code, out, err)
}

/// `recover.sh ARGS` at a terminal (util-linux `script` gives it one) that types `typed`: its
/// exit code and everything the terminal showed.
async fn at_a_terminal(args: &[&str], env: &[(&str, &str)], typed: &str) -> (Option<i32>, String) {
    let line = std::iter::once(format!("bash {}", script().display()))
        .chain(args.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let typed_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(typed_file.path(), typed).unwrap();
    let mut command = Command::new("script");
    command
        .args(["-qec", &line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied());
    let typed = std::fs::File::open(typed_file.path()).unwrap().into();
    let what = "recover.sh at a terminal";
    let (code, out, err) = output_with(command, typed, what, Duration::from_secs(60)).await;
    assert!(!out.contains(TOKEN), "printed the token");
    (code, format!("{out}{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recovery_script_shows_asks_recovers_and_a_second_run_sends_nothing() {
    let w = world(DAYS, None, &[]).await;
    let files = history(&w, DAYS).await;
    w.t.push_to(&format!("{}/process", w.loader.url)).await;
    let env = process_env(&w, &[("BACKSTOP_ADMIN_TOKEN", TOKEN)]);
    let served = Backstop::start(&env, w.t.dir.path().join("serve.log")).await;
    let api = Api::with_token(&served.api.url, TOKEN);
    let url = served.api.url.clone();
    let with = [
        ("BACKSTOP_URL", url.as_str()),
        ("BACKSTOP_ADMIN_TOKEN", TOKEN),
    ];
    let (from, to) = (d(1).to_string(), d(DAYS).to_string());
    let range = [from.as_str(), to.as_str(), "steals"];
    let jobs = || async { api.get("/reprocess").await.1["count"].clone() };

    // No terminal and no --yes: the gaps and the plan, then a stop that changes nothing.
    let (code, out, err) = recover(&range, &with).await;
    assert_eq!(code, Some(3), "{out}\n{err}");
    for needle in [
        "8 (date, market) pair(s), 2 lost or not judged",
        &format!("{}  steals    scraper_failed", d(NEVER_SCRAPED[0])),
        &format!("{}  steals    processor_failed", d(NEVER_LOADED)),
        "2 action(s), 0 skipped; about 6 upstream requests, ~",
        &format!("send_file  {}  steals", d(NEVER_LOADED)),
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
    assert!(err.contains("no --yes: nothing changed"), "{err}");
    assert_eq!(jobs().await, 0, "nothing started");
    let (code, out, _) = recover(&[&range[..], &["--dry-run"]].concat(), &with).await;
    assert_eq!(code, Some(1), "something is lost: {out}");
    assert!(out.contains("dry run: nothing changed"), "{out}");
    assert_eq!(jobs().await, 0);
    // At a terminal it asks; "n" changes nothing.
    let (code, out) = at_a_terminal(&range, &with, "n\n").await;
    assert_eq!(code, Some(1), "something is still lost: {out}");
    assert!(
        out.contains("Recover? [y/N]") && out.contains("not recovered: nothing changed"),
        "{out}"
    );
    assert_eq!(jobs().await, 0);

    // The upstream refuses the never-scraped date: the file is sent, the date still lost.
    w.t.sim
        .fail_when(&format!("date={}", d(NEVER_SCRAPED[0])), Fault::Status(503));
    let (code, out, err) = recover(&[&range[..], &["--yes"]].concat(), &with).await;
    assert_eq!(code, Some(1), "still lost:\n{out}\n{err}");
    assert!(
        err.contains("job ") && err.contains("done"),
        "progress: {err}"
    );
    for needle in [
        &format!("complete      {}  steals", d(NEVER_LOADED)),
        &format!(
            "still lost    {}  steals    scraper_failed",
            d(NEVER_SCRAPED[0])
        ),
        "1 (date, market) pair(s) in the range still lost",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
    assert_eq!(w.loader.deliveries()[&files[&NEVER_LOADED]], 1);

    // It is back: the same command recovers the rest.
    w.t.sim.clear_rules();
    let (code, out, err) = recover(&[&range[..], &["--yes"]].concat(), &with).await;
    assert_eq!(code, Some(0), "nothing lost now:\n{out}\n{err}");
    assert!(
        out.contains(&format!("complete      {}  steals", d(NEVER_SCRAPED[0]))),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("nothing in the range is lost"),
        "{out}"
    );
    assert_eq!(jobs().await, 2);

    // Once more: nothing found, nothing sent, no job.
    let deliveries = w.loader.deliveries();
    let (code, out, err) = recover(&[&range[..], &["--yes"]].concat(), &with).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("0 lost or not judged") && out.contains("nothing to recover"),
        "{out}"
    );
    assert_eq!(jobs().await, 2, "no new job");
    assert_eq!(w.loader.deliveries(), deliveries, "nothing sent again");
    for (name, n) in deliveries {
        assert_eq!(n, 1, "{name} loaded {n} times");
    }
    let log = std::fs::read_to_string(w.t.dir.path().join("serve.log")).unwrap();
    assert!(!log.contains(TOKEN), "the token reached the service's log");
}

#[tokio::test]
async fn bad_input_a_missing_or_wrong_token_and_an_unusable_identity_exit_3_saying_why() {
    let mut t = crate::support::app::spawn_offline(&[("BACKSTOP_ADMIN_TOKEN", TOKEN)]).await;
    let url = t.serve().await;
    let with = [
        ("BACKSTOP_URL", url.as_str()),
        ("BACKSTOP_ADMIN_TOKEN", TOKEN),
    ];
    let no_token = [("BACKSTOP_URL", url.as_str())];
    let wrong = [
        ("BACKSTOP_URL", url.as_str()),
        ("BACKSTOP_ADMIN_TOKEN", "0123456789abcdef-wrong"),
    ];
    // A gcloud that cannot give an identity token.
    let bin = tempfile::tempdir().unwrap();
    let gcloud = bin.path().join("gcloud");
    std::fs::write(
        &gcloud,
        "#!/bin/sh\necho 'ERROR: not logged in' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gcloud, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let https = [
        ("BACKSTOP_URL", "https://backstop-abc.a.run.app"),
        ("PATH", path.as_str()),
    ];
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: Vec<(Vec<&str>, Env, &str)> = vec![
        (vec!["2026-01-01"], &with, "give FROM and TO"),
        (vec!["2026-1-1", "2026-01-02"], &with, "2026-1-1"),
        (vec!["2026-01-01", "2026-01-02", "dunks"], &with, "dunks"),
        (
            vec!["2026-01-01", "2026-01-02", "--force"],
            &with,
            "--force",
        ),
        (vec!["2026-01-02", "2026-01-01"], &with, "backwards"),
        (vec!["2026-01-01", "2026-01-02"], &[], "set BACKSTOP_URL"),
        (
            vec!["2026-01-01", "2026-01-02"],
            &no_token,
            "set BACKSTOP_ADMIN_TOKEN",
        ),
        (
            vec!["2026-01-01", "2026-01-02"],
            &wrong,
            "token was refused",
        ),
        (
            vec!["2026-01-01", "2026-01-02"],
            &https,
            "gcloud auth login",
        ),
    ];
    for (args, env, needle) in cases {
        let (code, out, err) = recover(&args, env).await;
        assert_eq!(code, Some(3), "{args:?}: {out}\n{err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
    let (code, out, _) = recover(&["--help"], &[]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("Usage: deploy/recover.sh"), "{out}");
}

/// Over a range whose schedule the service must still ask for, `GET /gaps` answers 202 with the
/// rows it judged so far: the script follows the detection job to the whole report before it
/// counts what is lost (else it would count only the first slice's rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_counts_the_whole_report_when_the_service_answers_with_a_detection_job() {
    // Nothing scraped: every date asks the events API, at 2 a second, in 1 s slices.
    let w = world(12, None, &[]).await;
    let slow = [
        ("BACKSTOP_ADMIN_TOKEN", TOKEN),
        ("BACKSTOP_RATE_PER_SEC", "2"),
        ("BACKSTOP_SLICE_SECS", "1"),
    ];
    let env = process_env(&w, &slow);
    let served = Backstop::start(&env, w.t.dir.path().join("serve.log")).await;
    let url = served.api.url.clone();
    let with = [
        ("BACKSTOP_URL", url.as_str()),
        ("BACKSTOP_ADMIN_TOKEN", TOKEN),
    ];
    let (from, to) = (d(1).to_string(), d(12).to_string());
    let args = [from.as_str(), to.as_str(), "steals", "--dry-run"];
    let (code, out, err) = recover(&args, &with).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(
        out.contains("12 (date, market) pair(s), 11 lost or not judged"),
        "the whole report (day 5 has no games):\n{out}\n{err}"
    );
}
