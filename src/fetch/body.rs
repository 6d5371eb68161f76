//! Reading a response body: a decoded-size cap enforced while streaming, recognition of
//! compressed bodies that arrive without a `Content-Encoding` header, and the checks that
//! tell data from a challenge page or an empty answer.

use std::io::Read;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::outcome::Failure;

/// What went wrong reading a body, with the transport's words.
pub type BodyError = (Failure, String);

/// Reads the (already transparently decoded) body, stopping as soon as it passes `cap` bytes.
pub async fn read_capped(resp: reqwest::Response, cap: u64) -> Result<Bytes, BodyError> {
    let mut stream = resp.bytes_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| (body_failure(&e), error_chain(&e)))?;
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err((
                Failure::TooLarge,
                format!("more than {cap} bytes after decoding"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn body_failure(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_decode() && !broken_connection(e) {
        Failure::CorruptEncoding
    } else {
        Failure::Truncated
    }
}

/// A decoder error whose cause is the connection (not the bytes) means the body broke off.
fn broken_connection(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<hyper::Error>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The error and its sources on one line (reqwest's own message is often just "error decoding").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Decodes a body that is still compressed although no `Content-Encoding` said so (the CDN
/// sent brotli this way). JSON and text pass through untouched.
pub fn decode_unannounced(raw: Bytes, cap: u64) -> Result<Bytes, BodyError> {
    let first = raw.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None | Some(b'{' | b'[') => Ok(raw),
        _ if raw.starts_with(&[0x1f, 0x8b]) => {
            inflate(flate2::read::MultiGzDecoder::new(&raw[..]), cap, "gzip")
        }
        _ if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) => {
            let decoder = zstd::stream::read::Decoder::new(&raw[..])
                .map_err(|e| (Failure::CorruptEncoding, format!("zstd: {e}")))?;
            inflate(decoder, cap, "zstd")
        }
        // Brotli has no magic number: try it, and keep the raw bytes if it is not brotli.
        _ => match inflate(brotli::Decompressor::new(&raw[..], 4096), cap, "brotli") {
            Ok(decoded) if !decoded.is_empty() => Ok(decoded),
            Err(e @ (Failure::TooLarge, _)) => Err(e),
            _ => Ok(raw),
        },
    }
}

fn inflate(reader: impl Read, cap: u64, codec: &str) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    reader.take(cap + 1).read_to_end(&mut out).map_err(|e| {
        (
            Failure::CorruptEncoding,
            format!("unannounced {codec} body: {e}"),
        )
    })?;
    if out.len() as u64 > cap {
        return Err((
            Failure::TooLarge,
            format!("unannounced {codec} body inflates past {cap} bytes"),
        ));
    }
    Ok(out.into())
}

const CHALLENGE_MARKERS: [&str; 4] = [
    "just a moment",
    "__cf_chl",
    "checking your browser",
    "cf-challenge",
];

/// Parses a decoded body as JSON, telling empty bodies and challenge pages apart.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, BodyError> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err((Failure::EmptyBody, "0 bytes of content".into())),
        Some(b'{' | b'[') => {}
        Some(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).to_lowercase();
            if let Some(marker) = CHALLENGE_MARKERS.iter().find(|m| text.contains(*m)) {
                return Err((Failure::Challenge, format!("page contains {marker:?}")));
            }
        }
    }
    serde_json::from_slice(body).map_err(|e| {
        (
            Failure::InvalidJson,
            format!("{e}; starts {}", excerpt(body)),
        )
    })
}

/// The first bytes of a body, printable and short, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("{:?}", clean.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const JSON: &[u8] = br#"{"events": [{"id": 1}]}"#;

    fn brotli(data: &[u8]) -> Bytes {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out.into()
    }

    #[test]
    fn plain_json_passes_through() {
        assert_eq!(
            decode_unannounced(Bytes::from_static(JSON), 1024).unwrap(),
            JSON
        );
    }

    #[test]
    fn unannounced_brotli_is_recognised() {
        assert_eq!(decode_unannounced(brotli(JSON), 1024).unwrap(), JSON);
    }

    #[test]
    fn unannounced_gzip_and_zstd_are_recognised() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(JSON).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode_unannounced(gz.into(), 1024).unwrap(), JSON);
        let zs = zstd::encode_all(JSON, 3).unwrap();
        assert_eq!(decode_unannounced(zs.into(), 1024).unwrap(), JSON);
    }

    #[test]
    fn unannounced_bomb_stops_at_the_cap() {
        let bomb = brotli(&vec![b' '; 4 * 1024 * 1024]);
        let (failure, detail) = decode_unannounced(bomb, 64 * 1024).unwrap_err();
        assert_eq!(failure, Failure::TooLarge, "{detail}");
    }

    #[test]
    fn challenge_pages_are_named() {
        for page in [
            "<html><title>Just a moment...</title></html>",
            "<script>window.__cf_chl_opt={}</script>",
            "<p>Checking your browser before accessing</p>",
        ] {
            let (failure, _) = parse_json(page.as_bytes()).unwrap_err();
            assert_eq!(failure, Failure::Challenge, "{page}");
        }
    }

    #[test]
    fn empty_and_garbage_bodies_are_told_apart() {
        assert_eq!(parse_json(b"  \n").unwrap_err().0, Failure::EmptyBody);
        assert_eq!(
            parse_json(b"{\"events\": [").unwrap_err().0,
            Failure::InvalidJson
        );
        assert_eq!(
            parse_json(b"<html>maintenance</html>").unwrap_err().0,
            Failure::InvalidJson
        );
    }
}
