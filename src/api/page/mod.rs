//! The status page on `GET /`: plain HTML, CSS and JavaScript modules embedded in the binary
//! (no build step, nothing fetched from elsewhere), served under a strict
//! Content-Security-Policy. The page reads and acts only through the JSON API
//! (`/gaps`, `/runs`, `/reprocess`, `/proxies`), as the CLI and the recovery script do.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::ApiError;
use crate::app::App;
use crate::calendar::GameDate;

/// Everything the page may load or call is on this service; nothing inline, no frames.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX: &str = include_str!("assets/index.html");

/// The page's files under `/page/`: name, content type, bytes.
const ASSETS: [(&str, &str, &str); 9] = [
    ("style.css", "text/css", include_str!("assets/style.css")),
    ("app.js", JS, include_str!("assets/app.js")),
    ("api.js", JS, include_str!("assets/api.js")),
    ("calendar.js", JS, include_str!("assets/calendar.js")),
    ("dom.js", JS, include_str!("assets/dom.js")),
    ("evidence.js", JS, include_str!("assets/evidence.js")),
    ("panels.js", JS, include_str!("assets/panels.js")),
    ("recovery.js", JS, include_str!("assets/recovery.js")),
    ("icon.svg", "image/svg+xml", include_str!("assets/icon.svg")),
];
const JS: &str = "text/javascript";

/// `GET /` and `GET /page/{file}`.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(index))
        .route("/page/{file}", get(asset))
}

/// The page, with today's US Eastern date (the default range ends there, as in the CLI).
async fn index() -> Response {
    let today = GameDate::resolve("TODAY", chrono::Utc::now()).expect("TODAY always resolves");
    let html = INDEX.replace("{{today}}", &today.to_string());
    page_response("text/html; charset=utf-8", html)
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| ApiError::NotFound(format!("the status page has no file {file:?}")))?;
    Ok(page_response(
        &format!("{content_type}; charset=utf-8"),
        body.to_string(),
    ))
}

fn page_response(content_type: &str, body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v).expect("a valid header value");
    headers.insert(header::CONTENT_TYPE, value(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        value(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, value("nosniff"));
    headers.insert(header::REFERRER_POLICY, value("no-referrer"));
    // A new binary brings a new page: never keep an old one.
    headers.insert(header::CACHE_CONTROL, value("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name that follows `marker` in `text`, up to `end`.
    fn names_after<'a>(text: &'a str, marker: &str, end: char) -> Vec<&'a str> {
        text.match_indices(marker)
            .map(|(i, _)| {
                let rest = &text[i + marker.len()..];
                &rest[..rest.find(end).unwrap_or(rest.len())]
            })
            .collect()
    }

    #[test]
    fn every_file_the_page_names_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|(n, _, _)| *n).collect();
        let mut named = names_after(INDEX, "\"/page/", '"');
        for (_, _, body) in ASSETS {
            named.extend(names_after(body, "from \"./", '"'));
        }
        assert!(named.len() >= 10, "{named:?}");
        for name in named {
            assert!(
                served.contains(&name),
                "/page/{name} is named but not served"
            );
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style_and_the_policy_allows_none() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        for script in names_after(INDEX, "<script", '>') {
            assert!(script.contains("src=\"/page/"), "inline script: {script}");
        }
        assert!(!INDEX.contains("<style") && !INDEX.contains(" style="));
        let handlers = ["onclick", "onload", "onsubmit", "onchange", "onerror"];
        assert!(handlers.iter().all(|h| !INDEX.contains(h)));
        assert!(INDEX.contains("{{today}}"));
    }
}
