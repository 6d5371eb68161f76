//! A barrage of malformed HTTP requests at every endpoint, over raw TCP and with reqwest: each
//! answer that comes back is a 4xx (JSON ones say what was wrong), none is a 5xx, none takes
//! more than a few seconds, and `/health` is still 200 afterwards.

use std::time::Duration;

use backstop::sim::catalogue::Catalogue;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::app::spawn_app;

const ROUTES: [&str; 4] = ["/health", "/scrape", "/runs", "/metrics"];
/// Longer than this without an answer or a closed connection is a hang.
const WAIT: Duration = Duration::from_secs(5);

/// An HTTP answer: its status, content type and body.
struct Answer {
    status: u16,
    json: bool,
    body: Vec<u8>,
}

/// Fails the test unless an answer came, and it is a 4xx, and a JSON one carries a message.
fn answered(what: &str, answer: Option<Answer>) {
    assert!(
        answer.is_some(),
        "{what}: the connection closed without an answer"
    );
    check(what, answer);
}

/// Fails the test unless the answer, if one came, is a 4xx, and a JSON one carries a message.
fn check(what: &str, answer: Option<Answer>) {
    let Some(a) = answer else { return };
    let text = String::from_utf8_lossy(&a.body);
    assert!(
        (400..500).contains(&a.status),
        "{what}: got {} {text}",
        a.status
    );
    if a.json {
        let body: Value = serde_json::from_slice(&a.body)
            .unwrap_or_else(|e| panic!("{what}: a JSON answer that is not JSON ({e}): {text}"));
        let message = body["error"].as_str().or(body["message"].as_str());
        assert!(
            message.is_some_and(|m| !m.trim().is_empty()),
            "{what}: no message in {text}"
        );
    }
}

/// Sends `bytes` as they are, closes our side, and reads what comes back: `None` when the
/// service closed without answering. Panics when nothing happens within `WAIT`.
async fn raw(url: &str, bytes: &[u8]) -> Option<Answer> {
    let addr = url.trim_start_matches("http://");
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.expect("the service accepts");
        // The service may answer and close before reading everything: not our concern here.
        let _ = s.write_all(bytes).await;
        let _ = s.shutdown().await;
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        got
    };
    let got = tokio::time::timeout(WAIT, exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer and no close within {WAIT:?}"));
    parse_answer(&got)
}

fn parse_answer(got: &[u8]) -> Option<Answer> {
    let end = got.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
    let status = head.strip_prefix("http/1.1 ")?.get(..3)?.parse().ok()?;
    Some(Answer {
        status,
        json: head.contains("content-type: application/json"),
        body: got[end + 4..].to_vec(),
    })
}

/// Sends a request with reqwest: `None` when the connection broke instead of an answer.
async fn send(what: &str, req: reqwest::RequestBuilder) -> Option<Answer> {
    match req.timeout(WAIT).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let json = r
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            Some(Answer { status, json, body })
        }
        Err(e) if e.is_timeout() => panic!("{what}: no answer within {WAIT:?}"),
        Err(_) => None,
    }
}

async fn still_healthy(url: &str) {
    let r = reqwest::get(format!("{url}/health"))
        .await
        .expect("the service still answers");
    assert_eq!(r.status(), 200, "still healthy after the barrage");
}

#[tokio::test]
async fn wrong_methods_on_every_route_get_a_4xx() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    let client = reqwest::Client::new();
    for route in ROUTES {
        let mut methods = vec![
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
            Method::TRACE,
            Method::from_bytes(b"BREW").unwrap(),
        ];
        methods.push(if route == "/scrape" {
            Method::GET
        } else {
            Method::POST
        });
        for method in methods {
            let what = format!("{method} {route}");
            answered(
                &what,
                send(&what, client.request(method, format!("{url}{route}"))).await,
            );
        }
    }
    for line in ["DELETE /scrape HTTP/1.1", "PROPFIND /runs HTTP/1.1"] {
        let request = format!("{line}\r\nHost: x\r\n\r\n");
        answered(line, raw(&url, request.as_bytes()).await);
    }
    still_healthy(&url).await;
}

#[tokio::test]
async fn bad_and_oversized_json_bodies_get_a_400_with_a_message() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(r#"{{"scraper": "{}"}}"#, "x".repeat(4 << 20));
    let mut bodies: Vec<Vec<u8>> = [
        "",
        " ",
        "{",
        "}",
        "null",
        "[]",
        "\"bp_events\"",
        "42",
        "{\"scraper\": }",
        "{\"scraper\": \"bp_events\"",
        "{\"scraper\": null}",
        "{\"scraper\": 7}",
        "{\"scraper\": [\"bp_events\"]}",
        "{\"scraper\": \"bp_events\", \"date\": 20260114}",
        "{\"scraper\": \"bp_events\", \"date\": \"9999-99-99\"}",
        "{\"scraper\": \"bp_events\", \"date\": \"\"}",
        "{\"scraper\": \"bp_player_props\", \"market_type\": {}}",
        "{\"scraper\": \"\\ud800\"}",
        "{\"scraper\": 1e999999}",
        "{\"a\": 1} trailing",
        &deep,
        &huge,
    ]
    .iter()
    .map(|b| b.as_bytes().to_vec())
    .collect();
    bodies.push(b"{\"scraper\": \"\xff\xfe\"}".to_vec());
    bodies.push(b"{\"scraper\": \"bp\0events\"}".to_vec());
    let client = reqwest::Client::new();
    for body in bodies {
        let what = format!(
            "POST /scrape {}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        let req = client
            .post(format!("{url}/scrape"))
            .header("content-type", "application/json")
            .body(body);
        answered(&what, send(&what, req).await);
    }
    still_healthy(&url).await;
}

#[tokio::test]
async fn wrong_content_types_get_a_4xx_with_a_message() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    let body = r#"{"scraper": "bp_odds"}"#;
    let client = reqwest::Client::new();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        Some("json"),
        Some(""),
        Some("application/json; charset=utf-16"),
    ] {
        let what = format!("POST /scrape as {content_type:?}");
        let mut req = client.post(format!("{url}/scrape")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        answered(&what, send(&what, req).await);
    }
    still_healthy(&url).await;
}

#[tokio::test]
async fn absurd_query_strings_get_a_400_with_a_message() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    let long = "9".repeat(100_000);
    let queries = [
        "limit=-1".to_string(),
        "limit=0".into(),
        "limit=1001".into(),
        "limit=99999999999999999999999".into(),
        "limit=1.5".into(),
        "limit=".into(),
        "date=9999-99-99".into(),
        "date=2026-02-30".into(),
        "date=".into(),
        "date".into(),
        "date=%FF%FE".into(),
        "scraper=%C3%28".into(),
        "%FF=1".into(),
        "status=%00".into(),
        "market=points%".into(),
        "=".into(),
        "&&&=&".into(),
        format!("date={long}"),
        format!("{long}=1"),
    ];
    let client = reqwest::Client::new();
    for q in &queries {
        let what = format!("GET /runs?{}", &q[..q.len().min(60)]);
        let answer = send(&what, client.get(format!("{url}/runs?{q}"))).await;
        if q.len() < 1000 {
            answered(&what, answer);
        } else {
            // A 414 sent before the URI was read whole can reach reqwest as a reset.
            check(&what, answer);
        }
        let request = format!("GET /runs?{q} HTTP/1.1\r\nHost: x\r\n\r\n");
        answered(&what, raw(&url, request.as_bytes()).await);
    }
    let request = format!(
        "GET /runs?date={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "9".repeat(1 << 20)
    );
    answered("a 1 MiB query", raw(&url, request.as_bytes()).await);
    still_healthy(&url).await;
}

#[tokio::test]
async fn huge_headers_and_garbage_request_lines_get_a_4xx_or_a_closed_connection() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    let big_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let many = (0..500)
        .map(|i| format!("X-H{i}: {i}\r\n"))
        .collect::<String>();
    let many_headers = format!("GET /runs HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let mut requests: Vec<Vec<u8>> = vec![big_header.into_bytes(), many_headers.into_bytes()];
    for garbage in [
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /health\r\n\r\n",
        "GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n",
        "get /health http/1.1\r\nHost: x\r\n\r\n",
        "GET health HTTP/1.1\r\nHost: x\r\n\r\n",
        "CONNECT /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost x\r\n\r\n",
        "GET /health HTTP/1.1\r\n: empty-name\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\n folded: header\r\n\r\n",
        "\r\n\r\n\r\n",
        "GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET /health HTTP/2.0\r\nHost: x\r\n\r\n",
        "POST /scrape HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}{}{}{",
        "POST /scrape HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        "POST /scrape HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        "POST /scrape HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",
        "POST /scrape HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}",
    ] {
        requests.push(garbage.as_bytes().to_vec());
    }
    requests.push(b"\x00\x01\x02\xff\xfe GET / HTTP/1.1\r\n\r\n".to_vec());
    requests.push(b"GET /h\xffealth HTTP/1.1\r\nHost: x\r\n\r\n".to_vec());
    requests.push((0..=255u8).cycle().take(64 * 1024).collect());
    for request in requests {
        let what = String::from_utf8_lossy(&request[..request.len().min(60)]).to_string();
        check(&what, raw(&url, &request).await);
    }
    let client = reqwest::Client::new();
    let req = client
        .get(format!("{url}/runs"))
        .header("x-big", "b".repeat(1 << 20));
    answered("a 1 MiB header with reqwest", send("x-big", req).await);
    still_healthy(&url).await;
}

#[tokio::test]
async fn bodies_declared_longer_than_sent_get_a_4xx_or_a_closed_connection_without_a_hang() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    for (declared, sent) in [
        (1000, r#"{"scraper": "bp_events"#),
        (10, ""),
        (1 << 30, "{"),
        (65 * 1024, r#"{"scraper": "bp_odds"}"#),
    ] {
        let request = format!(
            "POST /scrape HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {declared}\r\n\r\n{sent}"
        );
        answered(
            &format!("{declared} declared, {} sent", sent.len()),
            raw(&url, request.as_bytes()).await,
        );
    }
    let chunked = "POST /scrape HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                   Transfer-Encoding: chunked\r\n\r\n100\r\n{\"scraper\"";
    answered("a chunk cut short", raw(&url, chunked.as_bytes()).await);
    still_healthy(&url).await;
}

#[tokio::test]
async fn wrong_methods_are_told_so_in_words() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    let r = reqwest::Client::new()
        .put(format!("{url}/scrape"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let body: Value = r.json().await.expect("a JSON answer");
    assert!(body["error"].as_str().unwrap().contains("PUT"), "{body}");
}

#[tokio::test]
async fn a_client_that_stops_half_way_through_its_body_is_answered_and_let_go() {
    let mut t = spawn_app(Catalogue::new()).await;
    let url = t.serve().await;
    let mut s = TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = "POST /scrape HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"scraper\":";
    s.write_all(head.as_bytes()).await.unwrap();
    // Our side stays open: the service must not wait for the rest forever.
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "still waiting after 20 s");
    if let Some(answer) = parse_answer(&got) {
        check("half a body", Some(answer));
    }
    still_healthy(&url).await;
}
