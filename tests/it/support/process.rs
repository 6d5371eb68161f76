//! `backstop serve` as a child process, configured by its environment alone (as on Cloud Run),
//! on a free port; SIGKILLed if the test ends early. And a command (the binary, a script) run
//! to its end without blocking the test's runtime.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::api::Api;
use super::emulators::free_port;

/// `backstop serve` as a child process, SIGKILLed if the test ends early.
pub struct Backstop {
    child: Child,
    log: PathBuf,
    pub api: Api,
}

impl Backstop {
    pub async fn start(env: &[(String, String)], log: PathBuf) -> Backstop {
        let port = free_port().to_string();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_backstop"))
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs([("PORT", port.as_str()), ("BACKSTOP_LOG_FORMAT", "text")])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting the backstop binary");
        let mut b = Backstop {
            child,
            log,
            api: Api::new(format!("http://127.0.0.1:{port}")),
        };
        let start = Instant::now();
        while !b.api.is_up().await {
            if let Ok(Some(status)) = b.child.try_wait() {
                panic!(
                    "backstop exited ({status}) before answering:\n{}",
                    b.log_tail()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "backstop did not come up:\n{}",
                b.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(b.api.health().await, 200, "{}", b.log_tail());
        b
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Everything the process logged so far (its log file may be shared with earlier ones),
    /// without terminal colours: `field=value` as written.
    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut plain = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI: ESC [ parameters final-letter
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
                continue;
            }
            plain.push(c);
        }
        plain
    }

    /// SIGKILL: no handler runs, nothing is flushed or marked.
    pub fn kill(mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "backstop had already stopped:\n{}",
            self.log_tail()
        );
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "{status}");
    }
}

impl Drop for Backstop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to its end without blocking the test's runtime (the stand-in Phase 2 on it
/// keeps taking pushed messages meanwhile): its exit code, stdout and stderr. Its stdin is
/// nothing (never the test's terminal) unless `command` gives one. Fails after `within`,
/// naming `what`.
pub async fn output_of(
    command: Command,
    what: &str,
    within: Duration,
) -> (Option<i32>, String, String) {
    output_with(command, Stdio::null(), what, within).await
}

/// [`output_of`], reading `stdin`.
pub async fn output_with(
    mut command: Command,
    stdin: Stdio,
    what: &str,
    within: Duration,
) -> (Option<i32>, String, String) {
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} still running after {within:?}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `backstop ARGS` run in `dir` with only PATH and `env`, to its end: exit code, stdout, stderr.
pub fn backstop_in(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_backstop"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}
