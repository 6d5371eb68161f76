//! `deploy/deploy.sh` run for real against a fake `gcloud` that records its calls: first and
//! later deploys of the scheduler jobs, failures, public access, usage, the admin token.

use super::gcloud::{deploy, scheduled_jobs, SERVICE_URL};

#[test]
fn a_first_deploy_creates_the_jobs_and_the_next_one_updates_them_in_place() {
    let jobs = scheduled_jobs();
    assert!(!jobs.is_empty());
    let first = deploy(&[], &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(
        first.calls_to("scheduler jobs update").is_empty(),
        "{:#?}",
        first.calls
    );
    for job in &jobs {
        let call = first.the_call(&format!("scheduler jobs create http {} ", job.name));
        assert!(
            call.contains(" --headers Content-Type=application/json "),
            "{call}"
        );
        assert!(
            call.contains(&format!(" --uri {SERVICE_URL}{} ", job.route)),
            "{call}"
        );
        assert!(
            call.contains(&format!(" --oidc-token-audience {SERVICE_URL} ")),
            "{call}"
        );
    }

    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    let existing = names.join("\n") + "\n";
    let again = deploy(&[], &[("FAKE_GCLOUD_JOBS", &existing)]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again.calls_to("scheduler jobs create").is_empty(),
        "{:#?}",
        again.calls
    );
    for job in &jobs {
        let call = again.the_call(&format!("scheduler jobs update http {} ", job.name));
        assert!(
            call.contains(" --update-headers Content-Type=application/json "),
            "{call}"
        );
        assert!(call.contains(" --message-body "), "{call}");
        assert!(call.contains(" --schedule "), "{call}");
    }
}

#[test]
fn any_failing_gcloud_command_fails_the_deploy_and_stops_it() {
    let jobs = scheduled_jobs();
    let existing = format!("{}\n", jobs[0].name);
    for (failing, later) in [
        ("secrets versions describe", "secrets create"),
        ("sql databases describe", "secrets create"),
        ("sql users list", "secrets create"),
        ("secrets get-iam-policy", "builds submit"),
        ("secrets add-iam-policy-binding", "builds submit"),
        ("projects get-iam-policy", "builds submit"),
        ("projects add-iam-policy-binding", "builds submit"),
        ("builds submit", "run services replace"),
        ("run services replace", "scheduler jobs"),
        ("add-iam-policy-binding", "scheduler jobs"),
        ("run services describe", "scheduler jobs"),
        ("scheduler jobs list", "scheduler jobs create"),
        ("scheduler jobs update", "scheduler jobs create"),
        ("scheduler jobs create", "scheduler jobs create"),
        ("logging metrics list", "logging metrics create"),
    ] {
        let out = deploy(
            &[],
            &[
                ("FAKE_GCLOUD_FAIL", failing),
                ("FAKE_GCLOUD_JOBS", &existing),
            ],
        );
        assert_ne!(
            out.code,
            Some(0),
            "{failing} failed but the deploy exited 0"
        );
        assert!(
            out.stderr.contains("refused for the test"),
            "{failing}: {}",
            out.stderr
        );
        let failed_at = out.calls.iter().position(|c| c.contains(failing)).unwrap();
        let went_on = out.calls[failed_at + 1..]
            .iter()
            .find(|c| c.starts_with(later));
        assert!(went_on.is_none(), "{failing} failed, then {went_on:?} ran");
    }
}

#[test]
fn public_access_is_removed_only_when_granted_and_a_failed_removal_fails_the_deploy() {
    let open = "bindings:\n- members:\n  - allUsers\n  role: roles/run.invoker\n";
    let out = deploy(&[], &[("FAKE_GCLOUD_POLICY", open)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let removed = out.the_call("run services remove-iam-policy-binding");
    assert!(removed.contains("--member=allUsers"), "{removed}");

    let out = deploy(&[], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out
        .calls_to("run services remove-iam-policy-binding")
        .is_empty());

    let out = deploy(
        &[],
        &[
            ("FAKE_GCLOUD_POLICY", open),
            ("FAKE_GCLOUD_FAIL", "remove-iam-policy-binding"),
        ],
    );
    assert_ne!(
        out.code,
        Some(0),
        "a service left public must fail the deploy"
    );
}

#[test]
fn help_and_unknown_flags_print_usage_and_never_call_gcloud() {
    for flag in ["--help", "-h"] {
        let out = deploy(&[flag], &[]);
        assert_eq!(out.code, Some(0), "{flag}: {}", out.stderr);
        assert!(
            out.stdout.contains("Usage: deploy/deploy.sh"),
            "{flag}: {}",
            out.stdout
        );
        assert!(
            out.calls.is_empty(),
            "{flag} called gcloud: {:#?}",
            out.calls
        );
    }
    for args in [
        vec!["--dryrun"],
        vec!["--dry-run", "extra"],
        vec!["-x"],
        vec!["--region=us-west2", "--project"],
    ] {
        let out = deploy(&args, &[]);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("Usage: deploy/deploy.sh"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(args.last().unwrap()),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.calls.is_empty(),
            "{args:?} called gcloud: {:#?}",
            out.calls
        );
    }
    let dry = deploy(&["--dry-run"], &[]);
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(
        dry.calls.is_empty(),
        "a dry run calls nothing: {:#?}",
        dry.calls
    );
}

#[test]
fn the_admin_token_secret_is_made_once_from_random_bytes_and_never_on_a_command_line() {
    let first = deploy(&[], &[("FAKE_GCLOUD_FAIL", "secrets describe")]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let made = first.the_call("secrets create backstop-admin-token ");
    assert!(made.contains("--data-file=-"), "{made}");
    let granted = first.the_call("secrets add-iam-policy-binding backstop-admin-token ");
    assert!(
        granted.contains("serviceAccount:backstop@nba-props-platform.iam.gserviceaccount.com")
            && granted.contains("roles/secretmanager.secretAccessor"),
        "{granted}"
    );
    let made_at = first
        .calls
        .iter()
        .position(|c| c.starts_with("secrets create"));
    let built_at = first
        .calls
        .iter()
        .position(|c| c.starts_with("builds submit"));
    assert!(
        made_at < built_at,
        "the secret exists before the service wants it"
    );
    // 64 hex characters (the token) appear in no call and nothing printed.
    let hex64 = |text: &str| {
        text.split(|c: char| !c.is_ascii_hexdigit())
            .any(|w| w.len() >= 64)
    };
    assert!(!first.calls.iter().any(|c| hex64(c)), "{:#?}", first.calls);
    assert!(!hex64(&first.stdout) && !hex64(&first.stderr));
    assert!(
        first.stdin.len() == 64 && hex64(&first.stdin),
        "the secret is 32 random bytes as hex: {} characters",
        first.stdin.len()
    );

    let again = deploy(&[], &[]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again.calls_to("secrets create").is_empty(),
        "{:#?}",
        again.calls
    );
    let failed = deploy(
        &[],
        &[
            ("FAKE_GCLOUD_FAIL", "secrets describe"),
            ("FAKE_GCLOUD_FAIL", "secrets"),
        ],
    );
    assert_ne!(
        failed.code,
        Some(0),
        "a secret that cannot be made fails the deploy"
    );
    assert!(
        failed.calls_to("builds submit").is_empty(),
        "{:#?}",
        failed.calls
    );
}

/// The line to page on (the nightly job's check, `reprocess::STILL_LOST_MESSAGE`) is counted by
/// a log-based metric the deploy makes once and keeps in step afterwards, so an alert policy
/// can watch it.
#[test]
fn the_still_lost_lines_are_counted_by_a_log_metric_made_once_then_kept_in_step() {
    let first = deploy(&[], &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let made = first.the_call("logging metrics create backstop-still-lost ");
    // The fake logs each argument shell-quoted: a space reads `\ `, a quote `\"`.
    let plain = made.replace("\\ ", " ").replace("\\\"", "\"");
    for part in [
        "resource.type=\"cloud_run_revision\"",
        "resource.labels.service_name=\"backstop\"",
        "severity=ERROR",
        &format!(
            "jsonPayload.message=\"{}\"",
            backstop::reprocess::STILL_LOST_MESSAGE
        ),
    ] {
        assert!(plain.contains(part), "{part} not in {plain}");
    }
    assert!(first.calls_to("logging metrics update").is_empty());

    let again = deploy(&[], &[("FAKE_GCLOUD_METRICS", "backstop-still-lost\n")]);
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(again.calls_to("logging metrics create").is_empty());
    again.the_call("logging metrics update backstop-still-lost ");
}
