//! One exchange on one route's client: send, read, decode and parse, and name what broke,
//! including a proxy's refusal to open a tunnel to an HTTPS upstream.

use std::time::{Duration, SystemTime};

use reqwest::header::{LOCATION, RETRY_AFTER};
use reqwest::Url;

use super::outcome::Failure;
use super::{body, retry, FetchRequest, FetchSettings};

/// How one exchange failed, before the attempt number and timing are attached.
pub struct Exchange {
    pub failure: Failure,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub bytes: u64,
    pub detail: String,
}

/// Sends the request through `client` and reads the whole answer.
pub async fn exchange(
    client: &reqwest::Client,
    settings: &FetchSettings,
    req: &FetchRequest,
) -> Result<(serde_json::Value, u64), Exchange> {
    let resp = client
        .get(req.url.clone())
        .headers(req.headers.clone())
        .send()
        .await
        .map_err(|e| Exchange::transport(&e))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry::parse_retry_after(v, SystemTime::now(), settings.retry_after_max));
    let cap = settings.max_body_bytes;
    let fail = |failure: Failure, bytes: u64, detail: String| Exchange {
        failure,
        status: Some(status),
        retry_after,
        bytes,
        detail,
    };
    if (300..400).contains(&status) {
        let to = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
        let detail = redirect_detail(&req.url, to);
        return Err(fail(Failure::Redirect(status), 0, detail));
    }
    if !(200..300).contains(&status) {
        let body = body::read_capped(resp, 64 * 1024).await.unwrap_or_default();
        let failure = Failure::Status(status);
        return Err(fail(failure, body.len() as u64, body::excerpt(&body)));
    }
    let raw = body::read_capped(resp, cap)
        .await
        .map_err(|(f, d)| fail(f, 0, d))?;
    let decoded = body::decode_unannounced(raw, cap).map_err(|(f, d)| fail(f, 0, d))?;
    let bytes = decoded.len() as u64;
    let json = body::parse_json(&decoded).map_err(|(f, d)| fail(f, bytes, d))?;
    Ok((json, bytes))
}

impl Exchange {
    pub fn timeout(after: Duration) -> Self {
        Self {
            failure: Failure::Timeout,
            status: None,
            retry_after: None,
            bytes: 0,
            detail: format!("no complete answer within {after:?}"),
        }
    }

    fn transport(e: &reqwest::Error) -> Self {
        let detail = body::error_chain(e);
        let (failure, status) = match tunnel_refusal(&detail) {
            Some(Failure::Status(s)) => (Failure::Status(s), Some(s)),
            Some(other) => (other, None),
            None if e.is_timeout() => (Failure::Timeout, None),
            None if e.is_connect() => (Failure::Connect, None),
            None => (Failure::Reset, None),
        };
        Self {
            failure,
            status,
            retry_after: None,
            bytes: 0,
            detail,
        }
    }
}

/// Where a redirect pointed (scheme, host, port and path: a query may hold anything), and why
/// it was not followed.
fn redirect_detail(from: &Url, location: Option<&str>) -> String {
    let origin = from.origin().ascii_serialization();
    let target = match location.map(|l| from.join(l)) {
        Some(Ok(to)) => format!("to {}{}", to.origin().ascii_serialization(), to.path()),
        Some(Err(_)) => "to an unreadable Location".to_string(),
        None => "without a Location".to_string(),
    };
    format!(
        "redirect {target} not followed: requests and their API key go only to {origin}; if the upstream moved, change its base URL"
    )
}

/// A proxy's answer to `CONNECT`, which reqwest reports as a connection error in words only
/// (hyper-util's `TunnelError` is private): 407 is the proxy refusing our credentials, any
/// other refusal is the proxy failing.
fn tunnel_refusal(chain: &str) -> Option<Failure> {
    if chain.contains("tunnel error: proxy authorization required") {
        Some(Failure::Status(407))
    } else if chain.contains("tunnel error: unsuccessful") {
        Some(Failure::ProxyTunnel)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_names_where_it_pointed_without_its_query() {
        let from = Url::parse("http://127.0.0.1:9/v3/events?date=2026-01-14").unwrap();
        let d = redirect_detail(&from, Some("https://evil.example:8443/steal?key=abc"));
        assert!(d.starts_with("redirect to https://evil.example:8443/steal not followed: requests and their API key go only to http://127.0.0.1:9;"), "{d}");
        assert!(!d.contains("abc"), "{d}");
        let d = redirect_detail(&from, Some("/v3/events/"));
        assert!(
            d.starts_with("redirect to http://127.0.0.1:9/v3/events/ not followed"),
            "{d}"
        );
        assert!(redirect_detail(&from, None).starts_with("redirect without a Location"));
    }

    #[test]
    fn tunnel_refusals_are_told_apart_from_other_connect_errors() {
        let chain = "error sending request for url (https://api.example/v3/events): client error (Connect): tunnel error: proxy authorization required";
        assert_eq!(tunnel_refusal(chain), Some(Failure::Status(407)));
        assert_eq!(
            tunnel_refusal("client error (Connect): tunnel error: unsuccessful"),
            Some(Failure::ProxyTunnel)
        );
        assert_eq!(
            tunnel_refusal("client error (Connect): tcp connect error: Connection refused"),
            None
        );
    }
}
