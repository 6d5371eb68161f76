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
        Self::script(vec![(status, body.into())]).await
    }

    /// Answers the n-th request with `answers[n]`, and the rest with the last one. Status 0
    /// closes the connection without an answer, after reading the whole request.
    pub async fn script(answers: Vec<(u16, String)>) -> CannedHttp {
        assert!(!answers.is_empty(), "a script needs at least one answer");
        let answers: Arc<Vec<(u16, String)>> = Arc::new(answers);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (seen, answers) = (seen.clone(), answers.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    let n = {
                        let mut seen = seen.lock().expect("requests lock");
                        seen.push(request);
                        seen.len() - 1
                    };
                    let (status, body) = &answers[n.min(answers.len() - 1)];
                    reply(&mut stream, *status, body).await;
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

/// Reads one request: the head, then a `Content-Length` body (lossy UTF-8).
async fn read_request(stream: &mut TcpStream) -> Option<String> {
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
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// Writes the answer and closes the connection (status 0: closes it without an answer).
async fn reply(stream: &mut TcpStream, status: u16, body: &str) {
    if status == 0 {
        let _ = stream.shutdown().await;
        return;
    }
    let response = format!(
        "HTTP/1.1 {status} Canned\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
