//! Capturing what `tracing` writes, so a test can read the log lines a run produced.

use std::io;
use std::sync::{Arc, Mutex};

/// Everything `tracing` writes on this thread while the guard lives.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures every event on this thread (a `#[tokio::test]` runtime runs its tasks here)
    /// at every level, until the guard drops.
    pub fn start() -> (Captured, tracing::subscriber::DefaultGuard) {
        // tracing-core caches whether a log line is wanted per call site, computed when a thread
        // first reaches it. While only one subscriber is registered it asks just that thread's
        // own: a test without a capture reaching a call site first would mark it unwanted for
        // everyone, and this capture would miss its lines. A second subscriber kept for the
        // whole run makes it ask every live subscriber instead.
        static ANOTHER: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        ANOTHER
            .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let buf = Captured::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        (buf, tracing::subscriber::set_default(subscriber))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
