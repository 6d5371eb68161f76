//! A real PostgreSQL for tests: `initdb` and `postgres` run as the `postgres` user (PostgreSQL
//! refuses to run as root) in a temporary directory, on a free port, in their own process
//! group; a fresh database per test. The server stops (fast shutdown) when its last holder
//! drops it, and its directory goes with it.
//!
//! A missing PostgreSQL fails the test with the command that installs it: tests never skip.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::emulators::free_port;

const INSTALL: &str = "scripts/install-test-services (it runs `apt-get install -y postgresql`)";

/// The newest `/usr/lib/postgresql/*/bin` that has `postgres` and `initdb`.
fn bin_dir() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("postgres").exists() && b.join("initdb").exists())
        .max_by_key(|b| {
            b.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
    found.unwrap_or_else(|| {
        panic!("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run {INSTALL}")
    })
}

/// How the server keeps its data: tests skip `fsync` (speed); benchmarks keep PostgreSQL's
/// defaults so their figures mean what they would in production.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Tests,
    #[allow(dead_code)] // the benchmarks' choice (benches/scale)
    Production,
}

/// One PostgreSQL server.
pub struct Postgres {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// One server for every test that holds it at the same time; it stops when the last
    /// holder drops it.
    pub async fn shared() -> Arc<Postgres> {
        static SHARED: tokio::sync::Mutex<Weak<Postgres>> =
            tokio::sync::Mutex::const_new(Weak::new());
        let mut slot = SHARED.lock().await;
        if let Some(running) = slot.upgrade() {
            return running;
        }
        let started = Arc::new(Postgres::start(Durability::Tests).await);
        *slot = Arc::downgrade(&started);
        started
    }

    pub async fn start(durability: Durability) -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("a directory for PostgreSQL");
        let data = dir.path().join("data");
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("running chown");
        assert!(status.success(), "chown postgres {}", dir.path().display());
        let out = as_postgres(dir.path(), &bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("running initdb as the postgres user: {e} ({INSTALL})"));
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("server.log")).expect("a log");
            let mut cmd = as_postgres(dir.path(), &bin.join("postgres"));
            cmd.arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-k"])
                .arg(dir.path())
                .args([
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=300",
                ]);
            if durability == Durability::Tests {
                cmd.args(["-c", "fsync=off"]);
            }
            let mut child = cmd
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting postgres: {e} ({INSTALL})"));
            if wait_ready(port, &mut child, Duration::from_secs(30)).await {
                return Postgres {
                    port,
                    child,
                    _dir: dir,
                };
            }
            stop(&mut child);
            last = log_tail(dir.path());
        }
        panic!("PostgreSQL did not come up (3 tries); its log ends:\n{last}");
    }

    /// A connection to the `postgres` database as the superuser.
    async fn admin(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        admin(self.port).await
    }

    /// A new, empty database: its URL, as `BACKSTOP_LEDGER` takes it.
    pub async fn database(&self) -> String {
        let name = format!("t_{:016x}", rand::random::<u64>());
        let admin = self
            .admin()
            .await
            .expect("connecting to the test PostgreSQL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

async fn admin(port: u16) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(conn);
    Ok(client)
}

async fn wait_ready(port: u16, child: &mut Child, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if admin(port).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Fast shutdown (SIGINT: open sessions are cut), then SIGKILL if it lingers.
fn stop(child: &mut Child) {
    let group = format!("-{}", child.id());
    let signal = |s: &str| {
        let _ = Command::new("kill")
            .args([s, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-INT");
    let start = Instant::now();
    while !matches!(child.try_wait(), Ok(Some(_))) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    signal("-KILL");
    let _ = child.wait();
}

fn as_postgres(cwd: &Path, program: &Path) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"])
        .arg(program)
        .current_dir(cwd);
    c
}
