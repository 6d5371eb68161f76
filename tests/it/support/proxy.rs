//! Real forward proxies for the proxy-pool tests: proxy.py (PyPI, installed by
//! `scripts/install-proxy`) on 127.0.0.1, a free port each, Basic auth with the credentials
//! given, and a plugin (`proxy_tag.py`) that names the proxy to the upstream in a
//! `Forwarded: by=NAME` header, so the local BettingPros can refuse one proxy and serve another.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A running proxy.py; killed (with its worker processes) on drop.
pub struct ForwardProxy {
    child: Child,
    port: u16,
    name: String,
    dir: tempfile::TempDir,
}

impl ForwardProxy {
    /// Starts a proxy that accepts `user:password` and waits until it accepts connections.
    /// Panics, saying how to install it, when proxy.py is missing: a proxy test never skips.
    pub async fn start(user: &str, password: &str) -> ForwardProxy {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bin = root.join(".emulators/proxy/bin/proxy");
        assert!(
            bin.is_file(),
            "proxy.py is not installed at {}: run scripts/install-proxy",
            bin.display()
        );
        let name = format!("proxy-{}", STARTED.fetch_add(1, Ordering::SeqCst) + 1);
        let dir = tempfile::tempdir().expect("a temporary directory for proxy.py");
        let port_file = dir.path().join("port");
        let log = std::fs::File::create(dir.path().join("log")).expect("proxy.py log file");
        let mut command = Command::new(&bin);
        command
            .args(["--hostname", "127.0.0.1", "--port", "0", "--port-file"])
            .arg(&port_file)
            .arg("--basic-auth")
            .arg(format!("{user}:{password}"))
            .args(["--plugins", "proxy_tag.NameThisProxy"])
            .args(["--num-acceptors", "1", "--num-workers", "1"])
            .args(["--log-level", "WARNING"])
            .env("PYTHONPATH", root.join("tests/it/support"))
            .env("BACKSTOP_TEST_PROXY_NAME", &name)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()));
        let mut proxy = ForwardProxy {
            child,
            port: 0,
            name,
            dir,
        };
        proxy.port = proxy.wait_until_ready(&port_file).await;
        proxy
    }

    /// What the local BettingPros sees as this proxy's source (`Forwarded: by=`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `label=http://USERINFO@127.0.0.1:PORT`, the userinfo exactly as given (raw or encoded).
    pub fn entry(&self, label: &str, userinfo: &str) -> String {
        format!("{label}=http://{userinfo}@{}", self.address())
    }

    async fn wait_until_ready(&mut self, port_file: &PathBuf) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("proxy.py status") {
                panic!("proxy.py exited ({status}): {}", self.log());
            }
            let port = std::fs::read_to_string(port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok());
            if let Some(port) = port {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return port;
                }
            }
            assert!(
                Instant::now() < deadline,
                "proxy.py did not accept connections within 20 s: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        // proxy.py runs acceptor processes in its process group: stop them all.
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str| {
            let _ = Command::new("kill").args([sig, "--", &group]).status();
        };
        signal("-TERM");
        for _ in 0..40 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal("-KILL");
        let _ = self.child.wait();
    }
}
