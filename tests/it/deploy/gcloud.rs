//! A fake `gcloud` that records every call, and `deploy()`, which runs `deploy/deploy.sh` with
//! it first on PATH: the harness of the deploy script's tests.

use std::path::PathBuf;
use std::process::Command;

/// A `gcloud` on PATH that records every call (one line of shell-quoted arguments) and answers
/// as the real one would: the service URL, IAM policies (the roles in `$FAKE_GCLOUD_ROLES` for
/// any secret or project), the database's users, the existing scheduler jobs and log metrics. Like the real one
/// it refuses `--headers` on `scheduler jobs update` (that command has `--update-headers`),
/// reads a secret's value from stdin for `--data-file=-` (kept beside the log), answers a
/// secret's value to `secrets versions access` (which the deploy must never call), keeps the
/// service file it was given, and it fails any call containing `$FAKE_GCLOUD_FAIL`.
const FAKE_GCLOUD: &str = r#"#!/usr/bin/env bash
printf '%q ' "$@" >> "$FAKE_GCLOUD_LOG"; printf '\n' >> "$FAKE_GCLOUD_LOG"
if [[ "$*" == *"--data-file=-"* ]]; then cat > "$FAKE_GCLOUD_LOG.stdin"; fi
if [ -n "${FAKE_GCLOUD_FAIL:-}" ] && [[ "$*" == *"$FAKE_GCLOUD_FAIL"* ]]; then
  echo "ERROR: (gcloud) refused for the test: $*" >&2; exit 1
fi
if [[ "$*" == "scheduler jobs update"*" --headers "* ]]; then
  echo "ERROR: (gcloud.scheduler.jobs.update.http) unrecognized arguments: --headers" >&2; exit 2
fi
case "$*" in
  "run services describe"*) echo "https://backstop-abc123-wl.a.run.app" ;;
  "run services get-iam-policy"*) printf '%s\n' "${FAKE_GCLOUD_POLICY:-bindings: []}" ;;
  "run services replace"*) cp "$4" "$FAKE_GCLOUD_LOG.service.yaml" ;;
  "scheduler jobs list"*) printf '%s' "${FAKE_GCLOUD_JOBS:-}" ;;
  "logging metrics list"*) printf '%b' "${FAKE_GCLOUD_METRICS:-}" ;;
  "secrets get-iam-policy"* | "projects get-iam-policy"*) printf '%b' "${FAKE_GCLOUD_ROLES:-}" ;;
  "sql users list"*) printf '%s\n' "${FAKE_GCLOUD_USERS-postgres
backstop}" ;;
  "secrets versions access"*) printf '%s' "$SECRET_VALUE" ;;
esac
"#;

pub(super) const SERVICE_URL: &str = "https://backstop-abc123-wl.a.run.app";

/// What the fake answers when asked for a secret's value: never in a call or an output.
pub(super) const SECRET_VALUE: &str = "the-ledger-password-7f3a9c";

/// The roles a deploy grants, as `$FAKE_GCLOUD_ROLES` for a project where they are held.
pub(super) const ROLES_HELD: &str = "roles/secretmanager.secretAccessor\\nroles/cloudsql.client\\n";

pub(super) const CLOUDSQL_INSTANCE: &str = "nba-props-platform:us-west2:backstop-ledger";
pub(super) const PHASE2_URL: &str = "https://nba-phase2-raw-processors-test-wl.a.run.app";

/// Every variable the script reads: unset unless a test sets it (a blank one counts as unset).
const SCRIPT_VARS: [&str; 9] = [
    "GCP_PROJECT_ID",
    "REGION",
    "CLOUDSQL_INSTANCE",
    "DB_NAME",
    "DB_USER",
    "PHASE2_URL",
    "IMAGE",
    "SERVICE_SA",
    "SCHEDULER_SA",
];

pub(super) struct Deployed {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Every gcloud call, in order.
    pub calls: Vec<String>,
    /// What a `--data-file=-` call read from stdin.
    pub stdin: String,
    /// The service file `run services replace` was given ("" when it was not called).
    pub service: String,
    /// The run's temporary directory (`TMPDIR`), kept while the result lives: a dry run leaves
    /// the filled-in service file there.
    _dir: tempfile::TempDir,
}

impl Deployed {
    pub fn calls_to(&self, start: &str) -> Vec<&String> {
        self.calls.iter().filter(|c| c.starts_with(start)).collect()
    }

    /// The one call that starts with `start`.
    pub fn the_call(&self, start: &str) -> &String {
        let calls = self.calls_to(start);
        assert_eq!(calls.len(), 1, "{start}: {:#?}", self.calls);
        calls[0]
    }

    /// Where the first call containing `part` is, if any.
    pub fn position(&self, part: &str) -> Option<usize> {
        self.calls.iter().position(|c| c.contains(part))
    }

    /// The calls that change something (everything but describes, lists and policy reads).
    pub fn changes(&self) -> Vec<&String> {
        let reads = [" describe ", " list ", " get-iam-policy "];
        self.calls
            .iter()
            .filter(|c| !reads.iter().any(|r| c.contains(r)))
            .collect()
    }
}

/// Runs `deploy/deploy.sh ARGS` with the fake gcloud first on PATH, the two values that have
/// no default set (`CLOUDSQL_INSTANCE`, `PHASE2_URL`), every other variable of the script
/// unset, then `env` (which may blank the two).
pub(super) fn deploy(args: &[&str], env: &[(&str, &str)]) -> Deployed {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let gcloud = bin.join("gcloud");
    std::fs::write(&gcloud, FAKE_GCLOUD).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gcloud, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("calls.log");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/deploy.sh"))
        .args(args)
        .env("PATH", path)
        .env("FAKE_GCLOUD_LOG", &log)
        .env("SECRET_VALUE", SECRET_VALUE)
        .env("TMPDIR", dir.path())
        .env_remove("FAKE_GCLOUD_FAIL");
    for var in SCRIPT_VARS {
        command.env_remove(var);
    }
    let out = command
        .env("CLOUDSQL_INSTANCE", CLOUDSQL_INSTANCE)
        .env("PHASE2_URL", PHASE2_URL)
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    let read = |suffix: &str| {
        std::fs::read_to_string(log.with_extension(format!("log{suffix}"))).unwrap_or_default()
    };
    Deployed {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        calls: read("").lines().map(str::to_string).collect(),
        stdin: read(".stdin"),
        service: read(".service.yaml"),
        _dir: dir,
    }
}

/// One scheduler job the declarations in `scrapers/` ask for: its name and the route it calls.
pub(crate) struct DeclaredJob {
    pub name: String,
    pub route: String,
}

/// Every scheduler job declared in `scrapers/*.json` (scrapers: `POST /scrape`) and
/// `scrapers/*/*.json` (declarations with a route of their own, such as the sweep).
pub(crate) fn scheduled_jobs() -> Vec<DeclaredJob> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scrapers");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in std::iter::once(root.clone()).chain(
        std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir()),
    ) {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut jobs = Vec::new();
    for file in files {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let route = d["route"].as_str().unwrap_or("/scrape").to_string();
        for j in d["schedule"].as_array().cloned().unwrap_or_default() {
            jobs.push(DeclaredJob {
                name: j["job"].as_str().unwrap().to_string(),
                route: route.clone(),
            });
        }
    }
    jobs
}
