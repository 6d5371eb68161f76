//! Cases 2b and 3: the release binary as Cloud Run starts it (`backstop serve`, local store in
//! a temp dir): how soon `/health` answers 200, and how much memory it holds when idle.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{mib, status_kib, Goal, Row};

/// `BACKSTOP_BIN`, or the release build of this checkout.
fn binary() -> PathBuf {
    std::env::var_os("BACKSTOP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/backstop")
        })
}

/// A running `backstop serve`; stopped (SIGKILL) and reaped when dropped.
struct Served {
    child: Child,
    /// Process start to the first 200 from `/health`.
    ready_after: Duration,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start() -> Result<Served, String> {
        let bin = binary();
        if !bin.exists() {
            return Err(format!(
                "{} is missing: run `cargo build --release`",
                bin.display()
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        let child = Command::new(&bin)
            .arg("serve")
            .env_clear()
            .env("PORT", port.to_string())
            .env("BACKSTOP_STORAGE", dir.path().join("store"))
            .env("BACKSTOP_NOTIFY", "off")
            .env("BETTINGPROS_API_KEY", "bench-key")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut served = Served {
            child,
            ready_after: Duration::ZERO,
            _dir: dir,
        };
        loop {
            if health(addr) == Some(200) {
                served.ready_after = started.elapsed();
                return Ok(served);
            }
            if let Ok(Some(status)) = served.child.try_wait() {
                return Err(format!("backstop serve exited early: {status}"));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("no 200 from /health within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn rss_kib(&self) -> Option<u64> {
        status_kib(&format!("/proc/{}/status", self.child.id()), "VmRSS")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET /health`, or `None` when nothing answers yet.
fn health(addr: SocketAddr) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Starts the binary `runs` times; the row is the median of what `measure` reads each time.
fn per_start(
    runs: usize,
    (case, figure): (&'static str, &str),
    unit: &'static str,
    goal: Goal,
    measure: impl Fn(&Served) -> Option<f64>,
) -> Row {
    let samples: Result<Vec<f64>, String> = (0..runs)
        .map(|_| {
            let served = Served::start()?;
            measure(&served).ok_or_else(|| "could not read the figure".to_string())
        })
        .collect();
    match samples {
        Ok(samples) => Row::median(case, figure, unit, &samples, goal),
        Err(e) => Row::failed(case, e),
    }
}

/// Case 3: process start to the first 200 from `/health`.
pub fn startup(runs: usize) -> Vec<Row> {
    let figure = "process start → first 200 from /health (release, empty ledger)";
    vec![per_start(
        runs,
        ("start-up", figure),
        "ms",
        Goal::AtMost(100.0),
        |s| Some(s.ready_after.as_secs_f64() * 1000.0),
    )]
}

/// Case 2b: resident memory of `backstop serve` a second after it became healthy.
pub fn idle(runs: usize) -> Vec<Row> {
    let figure = "RSS (VmRSS) of `backstop serve`, 1 s after /health is 200";
    vec![per_start(
        runs,
        ("idle serve", figure),
        "MiB",
        Goal::AtMost(20.0),
        |s| {
            std::thread::sleep(Duration::from_secs(1));
            s.rss_kib().map(mib)
        },
    )]
}
