//! The values `deploy/deploy.sh` fills the service with: a missing or malformed one stops it
//! before any gcloud call, naming each; flags win over the environment and reach every place
//! they belong; the dry run prints exactly what a first deploy runs.

use super::gcloud::{deploy, SERVICE_URL};

#[test]
fn missing_values_are_refused_before_any_gcloud_call_each_named_with_its_flag_and_variable() {
    for args in [&[][..], &["--dry-run"][..]] {
        let out = deploy(args, &[("CLOUDSQL_INSTANCE", ""), ("PHASE2_URL", "")]);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        for named in [
            "--cloudsql-instance",
            "CLOUDSQL_INSTANCE",
            "--phase2-url",
            "PHASE2_URL",
        ] {
            assert!(out.stderr.contains(named), "{named}: {}", out.stderr);
        }
        assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
        assert!(out.calls.is_empty(), "{args:?}: {:#?}", out.calls);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    }
    let one = deploy(&[], &[("PHASE2_URL", "")]);
    assert_eq!(one.code, Some(2), "{}", one.stderr);
    assert!(one.stderr.contains("--phase2-url"), "{}", one.stderr);
    assert!(
        !one.stderr.contains("--cloudsql-instance"),
        "{}",
        one.stderr
    );
    assert!(one.calls.is_empty(), "{:#?}", one.calls);
}

#[test]
fn malformed_values_are_refused_before_any_gcloud_call() {
    for (var, value, flag) in [
        // The instance's name alone: Cloud Run wants the connection name.
        (
            "CLOUDSQL_INSTANCE",
            "backstop-ledger",
            "--cloudsql-instance",
        ),
        (
            "PHASE2_URL",
            "https://nba-phase2-raw-processors-test-wl.a.run.app/process",
            "--phase2-url",
        ),
        ("PHASE2_URL", "http://localhost:8081", "--phase2-url"),
        ("REGION", "us west2", "--region"),
        ("DB_USER", "backstop;drop", "--db-user"),
        ("SERVICE_SA", "backstop", "--service-account"),
    ] {
        let out = deploy(&[], &[(var, value)]);
        assert_eq!(out.code, Some(2), "{var}={value}: {}", out.stderr);
        assert!(
            out.stderr.contains(flag) && out.stderr.contains(value),
            "{var}={value}: {}",
            out.stderr
        );
        assert!(out.calls.is_empty(), "{var}={value}: {:#?}", out.calls);
    }
}

#[test]
fn a_mistyped_flag_with_a_value_is_refused_without_echoing_the_value() {
    let out = deploy(&["--db-password=hunter2-secret"], &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--db-password"), "{}", out.stderr);
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
    assert!(out.calls.is_empty(), "{:#?}", out.calls);
}

#[test]
fn flags_win_over_the_environment_and_fill_every_place_they_belong() {
    let out = deploy(
        &[
            "--cloudsql-instance=shared-db:us-east1:ledger",
            "--phase2-url",
            "https://phase2.example.run.app/",
            "--project=proj-1",
            "--region",
            "us-east1",
            "--db-name=runs",
            "--db-user=svc",
        ],
        &[
            ("CLOUDSQL_INSTANCE", "other:us-west2:other"),
            ("REGION", "us-west2"),
            ("FAKE_GCLOUD_USERS", "svc"),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let svc = &out.service;
    for filled in [
        "cloud.googleapis.com/location: us-east1\n",
        "run.googleapis.com/cloudsql-instances: shared-db:us-east1:ledger\n",
        "serviceAccountName: backstop@proj-1.iam.gserviceaccount.com\n",
        "- image: us-east1-docker.pkg.dev/proj-1/backstop/backstop:",
        "value: proj-1\n",
        "value: postgresql://svc@/runs?host=/cloudsql/shared-db:us-east1:ledger\n",
        // The trailing slash is dropped: backstop adds /process.
        "value: https://phase2.example.run.app\n",
    ] {
        assert!(svc.contains(filled), "{filled:?} in\n{svc}");
    }
    let code: Vec<&str> = svc
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(!code.join("\n").contains("${"), "{svc}");
    // The database is looked up, and Cloud SQL's client role granted, where the instance is.
    let db = out.the_call("sql databases describe runs ");
    assert!(
        db.contains(" --instance ledger --project shared-db "),
        "{db}"
    );
    let users = out.the_call("sql users list ");
    assert!(users.contains(" --project shared-db "), "{users}");
    let grant = out.the_call("projects add-iam-policy-binding ");
    assert!(
        grant.starts_with("projects add-iam-policy-binding shared-db ")
            && grant.contains("--member=serviceAccount:backstop@proj-1.iam.gserviceaccount.com")
            && grant.contains("--role=roles/cloudsql.client"),
        "{grant}"
    );
    let built = out.the_call("builds submit ");
    assert!(
        built.contains(" --project proj-1 --tag us-east1-docker.pkg.dev/proj-1/backstop/backstop:"),
        "{built}"
    );
    let image = deploy(&["--image=registry.example/backstop:v7"], &[]);
    assert_eq!(image.code, Some(0), "{}", image.stderr);
    assert!(image
        .the_call("builds submit ")
        .contains(" --tag registry.example/backstop:v7 "));
    assert!(image
        .service
        .contains("- image: registry.example/backstop:v7\n"));
}

/// A dry run's commands (`? gcloud …` reads, `+ gcloud …` changes) as the fake logs calls.
fn printed_commands(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with("? ") || l.starts_with("+ "))
        .map(|l| l.split_once("gcloud ").expect(l).1.to_string())
        .collect()
}

/// The parts that differ between two runs: the temporary service file and the service's URL
/// (unknown to a dry run).
fn comparable(call: &str) -> String {
    call.trim_end()
        .split(' ')
        .map(|word| match word {
            w if w.ends_with("/service.yaml") => "SERVICE_FILE".to_string(),
            w => w.replace("https://backstop-PLACEHOLDER-uw.a.run.app", SERVICE_URL),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_dry_run_prints_exactly_the_commands_a_first_deploy_runs_and_calls_none() {
    let open = "bindings:\n- members:\n  - allUsers\n  role: roles/run.invoker\n";
    let first = deploy(
        &[],
        &[
            ("FAKE_GCLOUD_FAIL", "secrets describe backstop-admin-token"),
            ("FAKE_GCLOUD_POLICY", open),
        ],
    );
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let dry = deploy(&["--dry-run"], &[]);
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(dry.calls.is_empty(), "{:#?}", dry.calls);
    let ran: Vec<String> = first.calls.iter().map(|c| comparable(c)).collect();
    let printed: Vec<String> = printed_commands(&dry.stdout)
        .iter()
        .map(|c| comparable(c))
        .collect();
    assert_eq!(printed, ran, "dry run:\n{}", dry.stdout);
    assert!(
        dry.stdout
            .contains("+ openssl rand -hex 32 | gcloud secrets create backstop-admin-token "),
        "the token's value is shown made, never shown: {}",
        dry.stdout
    );
    // The service file a dry run would apply is kept for the operator to read.
    let kept = dry
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("# dry run: the filled-in service file is "))
        .unwrap_or_else(|| panic!("{}", dry.stdout));
    let kept = std::fs::read_to_string(kept).unwrap_or_default();
    assert!(
        kept.contains("run.googleapis.com/cloudsql-instances: "),
        "{kept}"
    );
}
