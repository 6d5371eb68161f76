//! Writing the local BettingPros's answers on the raw socket: statuses with their real bodies,
//! compression with or without `Content-Encoding`, and the broken answers faults call for.

use std::io::Write;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::faults::Fault;

// The real failure bodies, recorded in fixtures/failures/.
pub const FORBIDDEN: &str = include_str!("../../fixtures/failures/forbidden.json");
pub const CHALLENGE: &str = include_str!("../../fixtures/failures/challenge.html");
pub const BAD_GATEWAY: &str = include_str!("../../fixtures/failures/bad_gateway.html");
pub const UNAVAILABLE: &str = include_str!("../../fixtures/failures/service_unavailable.json");
pub const TOO_MANY: &str = include_str!("../../fixtures/failures/too_many_requests.json");
pub const NOT_FOUND: &str = include_str!("../../fixtures/failures/not_found.json");
pub const BAD_REQUEST: &str = include_str!("../../fixtures/failures/bad_request.json");

/// How successful answers are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
    Zstd,
}

/// One plain answer to write.
pub(crate) struct Plain {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub retry_after: Option<String>,
    /// Success bodies are compressed as configured; failure bodies go as they are.
    pub compress: bool,
}

pub(crate) async fn write_answer(
    stream: &mut TcpStream,
    a: &Plain,
    encoding: Encoding,
    announce: bool,
) -> std::io::Result<()> {
    let (body, encoding) = if a.compress {
        compress(&a.body, encoding)
    } else {
        (a.body.clone(), None)
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        a.status,
        reason(a.status),
        a.content_type,
        body.len()
    );
    if let (Some(enc), true) = (encoding, announce) {
        head.push_str(&format!("content-encoding: {enc}\r\n"));
    }
    if let Some(ra) = &a.retry_after {
        head.push_str(&format!("retry-after: {ra}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

pub(crate) async fn write_fault(
    stream: &mut TcpStream,
    fault: Fault,
    encoding: Encoding,
    announce: bool,
) -> std::io::Result<()> {
    use Fault::*;
    let write = |stream, a| write_answer(stream, a, encoding, announce);
    let plain = |status, body: &str, ct| Plain {
        status,
        body: body.as_bytes().to_vec(),
        content_type: ct,
        retry_after: None,
        compress: false,
    };
    match fault {
        Status(s) => {
            let body = match s {
                403 => FORBIDDEN,
                429 => TOO_MANY,
                502 => BAD_GATEWAY,
                404 => NOT_FOUND,
                400 => BAD_REQUEST,
                _ => UNAVAILABLE,
            };
            let ct = if s == 502 {
                "text/html"
            } else {
                "application/json"
            };
            write(stream, &plain(s, body, ct)).await
        }
        RetryAfter { status, value } => {
            let a = Plain {
                retry_after: Some(value),
                ..plain(status, TOO_MANY, "application/json")
            };
            write(stream, &a).await
        }
        Challenge => write(stream, &plain(200, CHALLENGE, "text/html")).await,
        EmptyBody => write(stream, &plain(200, "", "application/json")).await,
        NoEvents => {
            let body = r#"{"_parameters": {"sport": "NBA"}, "events": [], "ts": 1768420800, "utc": "2026-01-14 20:00:00"}"#;
            write(stream, &plain(200, body, "application/json")).await
        }
        InvalidJson => {
            let cut = plain(200, "{\"events\": [{\"id\": 1", "application/json");
            write(stream, &cut).await
        }
        Redirect { status, location } => {
            let head = format!("HTTP/1.1 {status} {}\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", reason(status));
            stream.write_all(head.as_bytes()).await?;
            stream.shutdown().await
        }
        Stall(d) => {
            tokio::time::sleep(d).await;
            Ok(())
        }
        Reset => Ok(()),
        Truncate => {
            let body = br#"{"_parameters": {"sport": "NBA"}, "events": [{"id": 1, "home": "ATL", "visitor": "DAL"}, {"id": 2"#;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len() * 3);
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(body).await?;
            stream.flush().await
        }
        CorruptEncoding | Bomb { .. } => {
            let body = match fault {
                Bomb { inflated_bytes } => bomb(inflated_bytes),
                _ => b"\x8b\x0b\x80{\"events\": not brotli at all".to_vec(),
            };
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\ncontent-encoding: br\r\nconnection: close\r\n\r\n", body.len());
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
            stream.shutdown().await
        }
    }
}

/// A brotli body that inflates to `inflated_bytes` of JSON-looking whitespace.
pub fn bomb(inflated_bytes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 1 << 16, 1, 22);
        let _ = w.write_all(b"{\"events\": [");
        let block = vec![b' '; 1 << 20];
        let mut left = inflated_bytes;
        while left > 0 {
            let n = left.min(block.len());
            let _ = w.write_all(&block[..n]);
            left -= n;
        }
    }
    out
}

/// Compresses a body; returns it and the `Content-Encoding` token.
pub fn compress(body: &[u8], encoding: Encoding) -> (Vec<u8>, Option<&'static str>) {
    match encoding {
        Encoding::Identity => (body.to_vec(), None),
        Encoding::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let _ = gz.write_all(body);
            (gz.finish().unwrap_or_default(), Some("gzip"))
        }
        Encoding::Brotli => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                let _ = w.write_all(body);
            }
            (out, Some("br"))
        }
        Encoding::Zstd => (zstd::encode_all(body, 3).unwrap_or_default(), Some("zstd")),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
