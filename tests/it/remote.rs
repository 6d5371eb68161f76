//! `backstop --url`: the command line against a running `backstop serve` (with an admin token)
//! says what it says on the service's own machine — the same output, the same exit codes —
//! for gaps, runs, claims and recovery, on the labelled calendar.

use std::process::Command;
use std::time::Duration;

use crate::auth::TOKEN;
use crate::support::process::{output_of, Backstop};
use crate::support::world::{d, history, process_env, world, World};

const DAYS: u32 = 8;

type Outcome = (Option<i32>, String, String);

/// `backstop ARGS` with `env` only (and PATH).
async fn backstop(args: &[&str], env: &[(String, String)]) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backstop"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let what = format!("backstop {args:?}");
    let outcome = output_of(command, &what, Duration::from_secs(120)).await;
    assert!(
        !outcome.1.contains(TOKEN) && !outcome.2.contains(TOKEN),
        "{what} printed the token"
    );
    outcome
}

/// What differs between two detections of one world: the cost (the gap table's last line ends
/// with it) and the count of empty events answers an uncorroborated off day has had so far.
fn without_work(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.split(" Work: ").next().unwrap_or(l);
            match l.split_once(" empty answer(s)") {
                Some((before, after)) => format!(
                    "{} N empty answer(s){after}",
                    before
                        .trim_end_matches(|c: char| c.is_ascii_digit())
                        .trim_end()
                ),
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Sides {
    local: Vec<(String, String)>,
    remote: Vec<(String, String)>,
}

impl Sides {
    /// Runs `args` here and against the service (`BACKSTOP_URL`): checks both give the same exit
    /// code and output (the gap table's cost aside), and the same error; the remote outcome.
    async fn same(&self, args: &[&str]) -> Outcome {
        let local = backstop(args, &self.local).await;
        let remote = backstop(args, &self.remote).await;
        assert_eq!(
            local.0, remote.0,
            "{args:?}: exit codes\nlocal: {local:?}\nremote: {remote:?}"
        );
        assert_eq!(
            without_work(&local.1),
            without_work(&remote.1),
            "{args:?}: output\nlocal stderr: {}\nremote stderr: {}",
            local.2,
            remote.2
        );
        if local.0 == Some(3) {
            assert_eq!(local.2, remote.2, "{args:?}: the same refusal");
        }
        remote
    }
}

async fn sides(w: &World, url: &str) -> Sides {
    let remote = [("BACKSTOP_URL", url), ("BACKSTOP_ADMIN_TOKEN", TOKEN)];
    Sides {
        local: process_env(w, &[]),
        remote: remote
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_says_the_same_against_a_running_service_as_on_its_machine() {
    let w = world(DAYS, None, &[]).await;
    history(&w, DAYS).await;
    w.t.push_to(&format!("{}/process", w.loader.url)).await;
    let served_env = process_env(&w, &[("BACKSTOP_ADMIN_TOKEN", TOKEN)]);
    let served = Backstop::start(&served_env, w.t.dir.path().join("serve.log")).await;
    let both = sides(&w, &served.api.url).await;
    let (from, to) = (d(1).to_string(), d(DAYS).to_string());
    let range = [
        "--from",
        from.as_str(),
        "--to",
        to.as_str(),
        "--market",
        "steals",
    ];

    let (code, out, _) = both.same(&[&["gaps"][..], &range].concat()).await;
    assert_eq!(code, Some(1), "two dates are lost:\n{out}");
    assert!(
        out.contains("scraper_failed") && out.contains("processor_failed"),
        "{out}"
    );
    both.same(&[&["gaps"][..], &range, &["--all"]].concat())
        .await;
    let (code, out, _) = both
        .same(&["runs", "--date", "2026-01-07", "--market", "steals"])
        .await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains("bp_player_props  2026-01-07  steals    success"),
        "{out}"
    );
    let (code, out, _) = both
        .same(&[&["reprocess"][..], &range, &["--dry-run"]].concat())
        .await;
    assert_eq!(code, Some(0));
    assert!(out.contains("2 action(s), 0 skipped"), "{out}");
    let (code, out, _) = both.same(&["claims"]).await;
    assert_eq!((code, out.as_str()), (Some(0), "0 unconfirmed hand-over(s) evidence could not settle: check rows with that source_file_path in BigQuery, then confirm or release\n"));

    // Refusals: the service's 400 and 404 are the local exit 3, saying the same.
    let (code, _, err) = both.same(&["runs", "--date", "2026-13-01"]).await;
    assert_eq!(code, Some(3));
    assert!(err.contains("2026-13-01"), "{err}");
    let none = "bettingpros/player-props/steals/2026-01-02/20260102_000000.json";
    let (code, _, err) = both.same(&["claims", "release", none]).await;
    assert_eq!(code, Some(3));
    assert!(err.contains("no delivery is recorded"), "{err}");

    // The recovery runs on the service and is followed from here to its end.
    let (code, out, err) = backstop(&[&["reprocess"][..], &range].concat(), &both.remote).await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(err.contains(": 2 action(s), 0 skipped"), "{err}");
    assert!(
        out.contains("afterwards: 2 of 2 action(s) now complete; 0 (date, market) pair(s)"),
        "{out}"
    );
    assert!(
        out.contains("hand-over of bettingpros/player-props/steals/2026-01-07/"),
        "{out}"
    );
    let (code, _, _) = both.same(&[&["gaps"][..], &range].concat()).await;
    assert_eq!(code, Some(0), "nothing lost, here or there");

    // Without the token, or with a wrong one: exit 3, saying so.
    let mut wrong = both.remote.clone();
    wrong[1].1 = "0123456789abcdef-not-it".into();
    let (code, _, err) = backstop(&["runs"], &wrong).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("admin token"), "{err}");
    let (code, _, err) = backstop(&["runs"], &both.remote[..1]).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("set BACKSTOP_ADMIN_TOKEN"), "{err}");
    // A scrape runs where the command runs: --url is refused for it.
    let (code, _, err) = backstop(&["scrape", "bp_events"], &both.remote).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("runs, gaps, reprocess and claims"), "{err}");
}

/// A `gcloud` on PATH that prints `token`, or fails as one that is not logged in does.
fn fake_gcloud(dir: &std::path::Path, token: Option<&str>) -> String {
    let script = match token {
        Some(t) => format!("#!/bin/sh\necho {t}\n"),
        None => "#!/bin/sh\necho 'ERROR: (gcloud.auth.print-identity-token) not logged in' >&2\nexit 1\n".into(),
    };
    let gcloud = dir.join("gcloud");
    std::fs::write(&gcloud, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gcloud, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

#[tokio::test]
async fn over_https_the_identity_token_comes_from_gcloud_else_the_metadata_server() {
    use crate::support::phase2::FakeMetadata;
    let metadata = FakeMetadata::start("eyJ.metadata-identity.sig").await;
    // Nothing listens there: each call fails after the tokens were found.
    let url = format!(
        "https://127.0.0.1:{}",
        crate::support::emulators::free_port()
    );
    let dir = tempfile::tempdir().unwrap();
    let env = |path: &str| -> Vec<(String, String)> {
        [
            ("BACKSTOP_URL", url.as_str()),
            ("BACKSTOP_ADMIN_TOKEN", TOKEN),
            ("GCE_METADATA_HOST", metadata.host()),
            ("PATH", path),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let run = |env: Vec<(String, String)>| async move {
        let mut command = Command::new(env!("CARGO_BIN_EXE_backstop"));
        command.arg("runs").env_clear().envs(env);
        output_of(command, "backstop runs", Duration::from_secs(60)).await
    };

    let logged_in = fake_gcloud(dir.path(), Some("eyJ.gcloud-identity.sig"));
    let (code, out, err) = run(env(&logged_in)).await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(err.contains("did not answer"), "{err}");
    assert!(metadata.requests().is_empty(), "gcloud's token was enough");
    assert!(
        !err.contains("gcloud-identity") && !err.contains(TOKEN),
        "{err}"
    );

    let logged_out = fake_gcloud(dir.path(), None);
    let (code, _, err) = run(env(&logged_out)).await;
    assert_eq!(code, Some(1), "{err}");
    let asked = metadata.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(
        asked[0].audience.as_deref(),
        Some(url.as_str()),
        "the audience is the service"
    );
    assert!(!err.contains("metadata-identity"), "{err}");

    metadata.refuse_with(404);
    let (code, _, err) = run(env(&logged_out)).await;
    assert_eq!(code, Some(3), "{err}");
    for needle in ["not logged in", "metadata server", "gcloud auth login"] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
}

/// A range the service judges in a detection job (`GET /gaps` answers 202): `backstop --url
/// gaps` follows it to the whole report, so it still says what the local command says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_gaps_follow_a_detection_job_to_the_whole_report() {
    // Nothing scraped: every date asks the events API, at 2 a second, in 1 s slices.
    let w = world(10, None, &[]).await;
    let slow = [
        ("BACKSTOP_ADMIN_TOKEN", TOKEN),
        ("BACKSTOP_RATE_PER_SEC", "2"),
        ("BACKSTOP_SLICE_SECS", "1"),
    ];
    let served = Backstop::start(&process_env(&w, &slow), w.t.dir.path().join("serve.log")).await;
    let both = sides(&w, &served.api.url).await;
    let (from, to) = (d(1).to_string(), d(10).to_string());
    let args = [
        "gaps", "--from", &from, "--to", &to, "--market", "steals", "--all",
    ];
    // The service first (here it would learn the schedule and be whole at once).
    let started = std::time::Instant::now();
    let remote = backstop(&args, &both.remote).await;
    let took = started.elapsed();
    assert!(
        took > Duration::from_secs(3),
        "it followed the job: {took:?}"
    );
    let local = backstop(&args, &both.local).await;
    assert_eq!((remote.0, local.0), (Some(1), Some(1)), "{remote:?}");
    assert_eq!(without_work(&remote.1), without_work(&local.1));
    assert!(remote.1.contains("10 (date, market) pairs"), "{}", remote.1);
}
