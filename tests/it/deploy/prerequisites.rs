//! What must exist before a deploy (the secrets the service mounts, the database and its
//! user) and the roles the deploy grants its service account: a first deploy grants each once,
//! a second creates and grants nothing, and no deploy reads or prints a secret.

use super::gcloud::{deploy, scheduled_jobs, Deployed, ROLES_HELD, SECRET_VALUE};

const SERVICE_ACCOUNT: &str = "serviceAccount:backstop@nba-props-platform.iam.gserviceaccount.com";

/// The secrets `deploy/service.yaml` mounts.
const SECRETS: [&str; 4] = [
    "backstop-admin-token",
    "backstop-ledger-password",
    "bettingpros-api-key",
    "bettingpros-proxies",
];

fn assert_stopped_before_any_change(out: &Deployed, what: &str) {
    assert_eq!(out.code, Some(1), "{what}: {}", out.stderr);
    assert!(
        out.changes().is_empty(),
        "{what}: nothing may change: {:#?}",
        out.changes()
    );
    assert!(
        out.stderr.contains("nothing was changed") && out.stderr.contains("README \"Deploying\""),
        "{what}: {}",
        out.stderr
    );
}

#[test]
fn missing_secrets_database_or_user_stop_the_deploy_before_anything_changes() {
    let out = deploy(&[], &[("FAKE_GCLOUD_FAIL", "secrets versions describe")]);
    assert_stopped_before_any_change(&out, "no secrets");
    for secret in &SECRETS[1..] {
        assert!(
            out.stderr.contains(&format!("the secret {secret} ")),
            "{secret}: {}",
            out.stderr
        );
    }
    assert!(
        out.stderr.contains("refused for the test"),
        "gcloud's own word is shown: {}",
        out.stderr
    );

    let out = deploy(&[], &[("FAKE_GCLOUD_FAIL", "sql databases describe")]);
    assert_stopped_before_any_change(&out, "no database");
    assert!(
        out.stderr
            .contains("the database backstop on nba-props-platform:us-west2:backstop-ledger"),
        "{}",
        out.stderr
    );

    let out = deploy(&[], &[("FAKE_GCLOUD_USERS", "postgres\nbackstop_old")]);
    assert_stopped_before_any_change(&out, "no user");
    assert!(
        out.stderr.contains("the database user backstop on "),
        "{}",
        out.stderr
    );
}

#[test]
fn a_first_deploy_grants_the_service_account_each_role_once_before_the_service_needs_it() {
    let first = deploy(&[], &[]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    for secret in SECRETS {
        let grant = first.the_call(&format!("secrets add-iam-policy-binding {secret} "));
        assert!(
            grant.contains(&format!(" --member={SERVICE_ACCOUNT} "))
                && grant.contains("--role=roles/secretmanager.secretAccessor"),
            "{grant}"
        );
    }
    let sql = first.the_call("projects add-iam-policy-binding nba-props-platform ");
    assert!(
        sql.contains(&format!(" --member={SERVICE_ACCOUNT} "))
            && sql.contains("--role=roles/cloudsql.client")
            && sql.contains("--condition=None"),
        "{sql}"
    );
    let replaced = first.position("run services replace").unwrap();
    let last_grant = first
        .calls
        .iter()
        .rposition(|c| c.contains(" add-iam-policy-binding ") && !c.starts_with("run "))
        .unwrap();
    assert!(
        last_grant < replaced,
        "Cloud Run checks the roles when the revision is made: {:#?}",
        first.calls
    );

    let refused = deploy(
        &[],
        &[("FAKE_GCLOUD_FAIL", "projects add-iam-policy-binding")],
    );
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "someone who may: gcloud projects add-iam-policy-binding nba-props-platform --condition=None"
        ),
        "the command to hand to a project owner: {}",
        refused.stderr
    );
    assert!(refused.position("builds submit").is_none());
}

#[test]
fn a_second_deploy_creates_and_grants_nothing_and_no_deploy_reads_or_prints_a_secret() {
    let names: Vec<String> = scheduled_jobs().into_iter().map(|j| j.name).collect();
    let existing = names.join("\n") + "\n";
    let again = deploy(
        &[],
        &[
            ("FAKE_GCLOUD_JOBS", &existing),
            ("FAKE_GCLOUD_ROLES", ROLES_HELD),
            ("FAKE_GCLOUD_METRICS", "backstop-still-lost\n"),
        ],
    );
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let changes: Vec<String> = again
        .changes()
        .iter()
        .map(|c| c.split(" --").next().unwrap().trim().to_string())
        .collect();
    let mut expected = vec![
        "builds submit".to_string(),
        "run services replace".to_string(),
        "run services add-iam-policy-binding backstop".to_string(),
    ];
    expected.extend(
        names
            .iter()
            .map(|n| format!("scheduler jobs update http {n}")),
    );
    expected.push("logging metrics update backstop-still-lost".to_string());
    // The service file's path follows `replace`: compare the commands alone.
    let changes: Vec<String> = changes
        .into_iter()
        .map(|c| match c.strip_prefix("run services replace ") {
            Some(_) => "run services replace".to_string(),
            None => c,
        })
        .collect();
    assert_eq!(changes, expected, "{:#?}", again.calls);
    assert!(again.stdin.is_empty(), "no secret was made");

    let first = deploy(&[], &[("FAKE_GCLOUD_FAIL", "secrets describe")]);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    for out in [&first, &again, &deploy(&["--dry-run"], &[])] {
        assert!(
            out.calls_to("secrets versions access").is_empty(),
            "the deploy never reads a secret's value: {:#?}",
            out.calls
        );
        for text in [
            &out.stdout,
            &out.stderr,
            &out.service,
            &out.calls.join("\n"),
        ] {
            assert!(!text.contains(SECRET_VALUE), "{text}");
        }
    }
}
