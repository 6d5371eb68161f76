//! `deploy/service.yaml`, as `deploy/deploy.sh` fills it in: the ledger on Cloud SQL through its
//! socket with the password from Secret Manager, no NFS share, more than one instance, a
//! configuration the service itself accepts, and a request timeout that outlasts its work.

use std::time::Duration;

use backstop::config::{Config, Vars};
use backstop::ledger::LedgerLocation;

use super::gcloud::{deploy, CLOUDSQL_INSTANCE, PHASE2_URL};
use super::repo;

/// One entry of the container's `env`: a value, or the Secret Manager secret it comes from.
#[derive(Debug, PartialEq)]
enum Env {
    Value(String),
    Secret(String),
}

/// The container's environment, read line by line (the file's own shape: `- name:` then
/// `value:` or `valueFrom: secretKeyRef: name:`).
fn env(service: &str) -> Vec<(String, Env)> {
    let mut out = Vec::new();
    let mut lines = service
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'));
    let mut in_env = false;
    while let Some(line) = lines.next() {
        let entry = line.strip_prefix("- name: ").filter(|_| in_env);
        in_env = line == "env:" || entry.is_some();
        let Some(name) = entry else { continue };
        let next = lines.next().unwrap_or_default();
        let value = match next.strip_prefix("value: ") {
            Some(v) => Env::Value(v.trim_matches('"').to_string()),
            None => {
                assert_eq!(next, "valueFrom:", "{name}");
                assert_eq!(lines.next(), Some("secretKeyRef:"), "{name}");
                let secret = lines.next().and_then(|l| l.strip_prefix("name: "));
                assert_eq!(lines.next(), Some("key: latest"), "{name}");
                Env::Secret(secret.expect("a secret's name").to_string())
            }
        };
        out.push((name.to_string(), value));
    }
    out
}

fn timeout(service: &str) -> Duration {
    let secs = service
        .lines()
        .find_map(|l| l.trim().strip_prefix("timeoutSeconds: "))
        .expect("timeoutSeconds is set");
    Duration::from_secs(secs.parse().unwrap())
}

#[test]
fn the_ledger_is_on_cloud_sql_through_its_socket_with_the_password_from_secret_manager() {
    let svc = repo("deploy/service.yaml");
    let vars = env(&svc);
    let get = |name: &str| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    assert_eq!(
        get("BACKSTOP_LEDGER"),
        Some(&Env::Value(
            "postgresql://${DB_USER}@/${DB_NAME}?host=/cloudsql/${CLOUDSQL_INSTANCE}".into()
        ))
    );
    assert!(svc.contains("run.googleapis.com/cloudsql-instances: ${CLOUDSQL_INSTANCE}\n"));
    for (var, secret) in [
        ("BACKSTOP_LEDGER_PASSWORD", "backstop-ledger-password"),
        ("BETTINGPROS_API_KEY", "bettingpros-api-key"),
        ("BACKSTOP_ADMIN_TOKEN", "backstop-admin-token"),
    ] {
        assert_eq!(get(var), Some(&Env::Secret(secret.into())), "{var}");
    }
    for gone in ["nfs:", "FILESTORE", "/var/lib/backstop", "PLACEHOLDER"] {
        assert!(!svc.contains(gone), "{gone} is gone with the SQLite ledger");
    }
    assert!(svc.contains("cloud.googleapis.com/location: ${REGION}\n"));
    let max: u32 = svc
        .lines()
        .find_map(|l| l.trim().strip_prefix("autoscaling.knative.dev/maxScale: "))
        .expect("maxScale is set")
        .trim_matches('"')
        .parse()
        .unwrap();
    assert!(
        (2..=5).contains(&max),
        "several instances share the ledger, a few bound its connections: {max}"
    );
}

#[test]
fn the_filled_in_service_passes_the_services_own_configuration() {
    let out = deploy(&[], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    std::fs::write(&pool, "http://user:pass@10.0.0.1:3128\n").unwrap();
    let token = "0123456789abcdef".repeat(4);
    let mut pairs: Vec<(String, String)> = vec![("K_SERVICE".into(), "backstop".into())];
    for (name, value) in env(&out.service) {
        let value = match (name.as_str(), value) {
            // The proxy list is a mounted secret: a file here.
            ("BACKSTOP_PROXIES", _) => pool.display().to_string(),
            ("BACKSTOP_ADMIN_TOKEN", Env::Secret(_)) => token.clone(),
            (_, Env::Secret(secret)) => format!("value-of-{secret}"),
            (_, Env::Value(v)) => v,
        };
        pairs.push((name, value));
    }
    let vars = Vars::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let config = Config::from_vars(&vars).unwrap_or_else(|e| panic!("{e}: {pairs:#?}"));
    let LedgerLocation::Postgres(pg) = &config.ledger.location else {
        panic!("the ledger is PostgreSQL: {:?}", config.ledger.location);
    };
    assert_eq!(
        config.ledger.location.describe(),
        format!("postgresql://backstop@/cloudsql/{CLOUDSQL_INSTANCE}:5432/backstop")
    );
    assert_eq!(
        pg.get_password(),
        Some(&b"value-of-backstop-ledger-password"[..])
    );
    assert!(pairs.contains(&("PHASE2_URL".into(), PHASE2_URL.into())));
}

#[test]
fn the_request_timeout_outlasts_every_scheduler_deadline_and_a_slice_with_its_last_action() {
    let svc = repo("deploy/service.yaml");
    let timeout = timeout(&svc);
    let dry = deploy(&["--dry-run"], &[]);
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    // Each job: whether it calls /scrape, and its attempt deadline.
    let jobs: Vec<(bool, Duration)> = dry
        .stdout
        .lines()
        .filter(|l| l.starts_with("+ gcloud scheduler jobs"))
        .map(|l| {
            let secs = l.split(" --attempt-deadline ").nth(1).expect(l);
            let secs = secs.split_once("s ").expect(l).0;
            (
                l.contains("/scrape "),
                Duration::from_secs(secs.parse().expect(l)),
            )
        })
        .collect();
    assert!(jobs.iter().any(|(scrape, _)| *scrape));
    // The defaults: the service file sets none of these.
    let config = Config::from_vars(&Vars::from_pairs([])).unwrap();
    for (scrape, deadline) in &jobs {
        assert!(
            *deadline <= timeout,
            "the scheduler would wait {deadline:?} for a request Cloud Run cuts at {timeout:?}"
        );
        // A scheduler that hangs up before the run's answer leaves the run without CPU.
        assert!(
            !scrape || *deadline >= config.run_deadline + Duration::from_secs(10),
            "a scrape's attempt deadline {deadline:?} must outlast its run ({:?}) and the answer",
            config.run_deadline
        );
    }
    let action = config.run_deadline.max(config.phase2.attempt_timeout);
    let slice = config.slice;
    assert!(
        slice + action + Duration::from_secs(60) <= timeout,
        "a slice ({slice:?}), then the action under way ({action:?}), then the answer: {timeout:?}"
    );
    let set: Vec<String> = env(&svc).into_iter().map(|(name, _)| name).collect();
    for var in [
        "BACKSTOP_SLICE_SECS",
        "BACKSTOP_RUN_DEADLINE_SECS",
        "BACKSTOP_PHASE2_TIMEOUT_SECS",
    ] {
        assert!(
            !set.iter().any(|n| n == var),
            "{var} is set: check the figures above"
        );
    }
}
