//! A raw-TCP HTTP server that gives every request the same answer and records what it got:
//! for counting retries and checking headers without a real service.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct CannedHttp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl CannedHttp {
    /// Answers every request with `status` and the JSON `body`.
    pub async fn start(status: u16, body: impl Into<String>) -> CannedHttp {
        let body: Arc<str> = body.into().into();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, body) = (seen.clone(), body.clone());
                tokio::spawn(async move {
                    if let Some(request) = answer(stream, status, &body).await {
                        seen.lock().expect("requests lock").push(request);
                    }
                });
            }
        });
        CannedHttp {
            url,
            requests,
            task,
        }
    }

    /// `127.0.0.1:PORT`, for settings that take a host rather than a URL.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// Every request so far: request line, headers and body (lossy UTF-8).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }

    pub fn hits(&self) -> usize {
        self.requests().len()
    }
}

impl Drop for CannedHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head, then a `Content-Length` body), writes the answer, closes.
/// Answers the request as read.
async fn answer(mut stream: TcpStream, status: u16, body: &str) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let request = String::from_utf8_lossy(&buf).into_owned();
    let response = format!(
        "HTTP/1.1 {status} Canned\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await.ok()?;
    let _ = stream.shutdown().await;
    Some(request)
}
