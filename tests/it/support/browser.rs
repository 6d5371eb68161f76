//! A real browser for the status page: Debian's Chromium, headless, driven over WebDriver
//! (chromedriver on a free port, `fantoccini` as the client). Each browser gets a fresh
//! profile and the flags that keep Chromium off the network on its own account.
//!
//! A missing Chromium or chromedriver fails the test with the command that installs them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::emulators::{start_on_free_port, Service};

const INSTALL: &str = "scripts/install-test-services (apt-get install -y chromium chromium-driver)";

/// Chromium's own connections (updates, sync, field trials) would fail on a closed network.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

pub struct Browser {
    pub client: Client,
    /// Declared after `client`: chromedriver (and the Chromium it started) stop last.
    _driver: Service,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height` window.
    pub async fn start(width: u32, height: u32) -> Browser {
        let missing = |what: &str| -> ! {
            panic!("{what} is not installed: run `{INSTALL}` (as root) from the repository root")
        };
        let chromium =
            find(&["chromium", "chromium-browser"]).unwrap_or_else(|| missing("chromium"));
        let driver = find(&["chromedriver"]).unwrap_or_else(|| missing("chromedriver"));
        let (service, url) =
            start_on_free_port("chromedriver", "/status", Duration::from_secs(20), |port| {
                let mut c = Command::new(&driver);
                c.arg(format!("--port={port}"));
                c
            })
            .await;
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={width},{height}"));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("starting Chromium through chromedriver at {url}: {e}"));
        Browser {
            client,
            _driver: service,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("running in the page: {e}\n{script}"))
    }

    /// Waits until `script` returns something truthy; fails after 30 s naming `what`.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let got = self.eval(script, vec![]).await;
            if !matches!(got, Value::Null | Value::Bool(false)) && got != json!("") {
                return got;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let problem = self
                    .eval(
                        "return document.getElementById('problem')?.textContent",
                        vec![],
                    )
                    .await;
                panic!("waited 30 s for {what}; the page says: {problem}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
    }

    pub async fn click(&self, css: &str) {
        let clicked = self.element(css).await.click().await;
        clicked.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Types `text` into the field `css` names.
    pub async fn fill(&self, css: &str, text: &str) {
        let typed = self.element(css).await.send_keys(text).await;
        typed.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resizing the window to {width}×{height}: {e}"));
    }

    /// Saves a PNG of the window under `target/status-page/`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let dir = target.join("status-page");
        std::fs::create_dir_all(&dir).expect("creating target/status-page");
        let path = dir.join(name);
        std::fs::write(&path, png).expect("writing the screenshot");
        path
    }

    pub async fn close(self) {
        self.client.close().await.expect("closing the browser");
    }
}
