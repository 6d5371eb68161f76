//! The deployable parts, checked without a Docker engine or a cloud: the Dockerfile's shape,
//! the Cloud Run service, the scheduler jobs and the deploy script's dry run.

use std::path::PathBuf;
use std::process::Command;

fn repo(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_non_root_in_another() {
    let file = repo("Dockerfile");
    let lines: Vec<&str> = file
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let known = [
        "FROM",
        "WORKDIR",
        "COPY",
        "ARG",
        "ENV",
        "RUN",
        "USER",
        "EXPOSE",
        "ENTRYPOINT",
        "CMD",
    ];
    let mut continued = false;
    for l in &lines {
        if !continued {
            let word = l.split_whitespace().next().unwrap();
            assert!(
                known.contains(&word),
                "unknown instruction {word:?} in {l:?}"
            );
        }
        continued = l.ends_with('\\');
    }
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "multi-stage: build, then runtime");
    assert!(froms[0].ends_with(" AS build"));
    let runtime = lines
        .iter()
        .position(|l| l.starts_with("FROM ") && !l.ends_with(" AS build"))
        .unwrap();
    let tail = &lines[runtime..];
    let user = tail
        .iter()
        .find(|l| l.starts_with("USER "))
        .expect("the runtime stage sets USER");
    assert!(!user.contains("root") || user.contains("nonroot"), "{user}");
    assert!(tail.iter().any(|l| l.starts_with("COPY --from=build")));
    assert!(lines
        .iter()
        .any(|l| l.contains("cargo build --release --locked")));
    assert!(
        tail.iter().any(|l| l.contains("PORT=8080")),
        "PORT has a default the binary honours"
    );
    assert!(tail
        .iter()
        .any(|l| l.starts_with("CMD") && l.contains("serve")));
    for copied in ["Cargo.toml", "Cargo.lock", "src", "fixtures"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("COPY") && l.contains(copied)),
            "the build needs {copied}"
        );
    }
}

#[test]
fn the_cloud_run_service_keeps_the_key_secret_and_the_region() {
    let svc = repo("deploy/service.yaml");
    assert!(svc.contains("cloud.googleapis.com/location: us-west2"));
    assert!(svc.contains("name: BETTINGPROS_API_KEY") && svc.contains("name: bettingpros-api-key"));
    assert!(
        svc.contains("autoscaling.knative.dev/maxScale: \"1\""),
        "one writer for the SQLite ledger"
    );
    assert!(
        svc.contains("mountPath: /var/lib/backstop")
            && svc.contains("value: /var/lib/backstop/ledger.db")
    );
}

#[test]
fn the_scheduler_jobs_reproduce_todays_schedule() {
    let jobs = repo("deploy/scheduler-jobs.tsv");
    let rows: Vec<Vec<&str>> = jobs
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0][1..],
        ["0 5-23/2 * * *", "bp_player_props", "points"],
        "points every 2 h, 5 AM to 11 PM ET"
    );
    assert_eq!(
        rows[1][1..],
        ["0 10,16 * * *", "bp_player_props", "assists"]
    );
    assert_eq!(
        rows[2][1..],
        ["0 10,16 * * *", "bp_player_props", "rebounds"]
    );
}

#[test]
fn the_deploy_script_dry_run_prints_authenticated_scheduler_jobs() {
    let out = Command::new("bash")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/deploy.sh"))
        .arg("--dry-run")
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("gcloud run services replace"), "{text}");
    assert!(
        text.contains("remove-iam-policy-binding") && text.contains("allUsers"),
        "no unauthenticated access: {text}"
    );
    let jobs: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("gcloud scheduler jobs"))
        .collect();
    assert_eq!(jobs.len(), 3, "{text}");
    for job in jobs {
        assert!(job.contains("--time-zone America/New_York"), "{job}");
        assert!(
            job.contains("--oidc-token-audience https://backstop-PLACEHOLDER-uw.a.run.app "),
            "audience is the bare URL: {job}"
        );
        assert!(job.contains("/scrape"), "{job}");
    }
}
