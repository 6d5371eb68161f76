//! A fake Phase 2 (`POST /process`, scriptable answers, every envelope recorded and decoded)
//! and a fake metadata server (ID tokens and access tokens, checking `Metadata-Flavor` and the
//! audience, as the real one does).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde_json::Value;
use tokio::task::JoinHandle;

pub const IDENTITY_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";
pub const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

/// A server task, stopped when dropped.
pub struct Served(JoinHandle<()>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `router` on 127.0.0.1, port 0.
pub async fn serve(router: Router) -> (SocketAddr, Served) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, Served(task))
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How the fake answers one request; after the script runs out it answers 200.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16, &'static str),
    /// Waits, then answers the status (a Phase 2 stuck in a long load).
    Slow(Duration, u16),
}

/// One request as Phase 2 saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub envelope: Value,
    /// `message.data`, base64-decoded and parsed (`Null` if that failed).
    pub data: Value,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Phase2State {
    script: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Received>>,
}

pub struct FakePhase2 {
    url: String,
    state: Arc<Phase2State>,
    _server: Served,
}

impl FakePhase2 {
    pub async fn start() -> Self {
        let state = Arc::new(Phase2State::default());
        let router = Router::new()
            .route("/process", post(process))
            .with_state(state.clone());
        let (addr, _server) = serve(router).await;
        Self {
            url: format!("http://{addr}"),
            state,
            _server,
        }
    }

    /// The bare service URL (what `PHASE2_URL` holds).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.script.lock().unwrap().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn process(
    State(state): State<Arc<Phase2State>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let envelope: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let data = envelope["message"]["data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or(Value::Null);
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    state.received.lock().unwrap().push(Received {
        envelope,
        data,
        authorization,
    });
    let next = state.script.lock().unwrap().pop_front();
    let (status, text) = match next {
        None => (200, "ok"),
        Some(Answer::Status(status, text)) => (status, text),
        Some(Answer::Slow(wait, status)) => {
            tokio::time::sleep(wait).await;
            (status, "slow")
        }
    };
    (StatusCode::from_u16(status).unwrap(), text).into_response()
}

/// One token request as the metadata server saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// [`IDENTITY_PATH`] or [`TOKEN_PATH`].
    pub path: &'static str,
    pub flavor: Option<String>,
    /// Access tokens: the `scopes` asked for, comma-separated.
    pub scopes: Option<String>,
    pub audience: Option<String>,
    pub format: Option<String>,
}

struct MetadataState {
    token: String,
    /// The `expires_in` of access tokens.
    expires_in: Mutex<u64>,
    refuse_with: Mutex<Option<u16>>,
    requests: Mutex<Vec<TokenRequest>>,
}

pub struct FakeMetadata {
    host: String,
    state: Arc<MetadataState>,
    _server: Served,
}

impl FakeMetadata {
    /// Answers every well-formed request with `token`.
    pub async fn start(token: &str) -> Self {
        let state = Arc::new(MetadataState {
            token: token.into(),
            expires_in: Mutex::new(3599),
            refuse_with: Mutex::new(None),
            requests: Mutex::default(),
        });
        let router = Router::new()
            .route(IDENTITY_PATH, get(identity))
            .route(TOKEN_PATH, get(access_token))
            .with_state(state.clone());
        let (addr, _server) = serve(router).await;
        Self {
            host: addr.to_string(),
            state,
            _server,
        }
    }

    /// `127.0.0.1:PORT`, the form `GCE_METADATA_HOST` takes.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// From now on, answer this status instead of a token.
    pub fn refuse_with(&self, status: u16) {
        *self.state.refuse_with.lock().unwrap() = Some(status);
    }

    /// Access tokens from now on say they expire in `secs`.
    pub fn expires_in(&self, secs: u64) {
        *self.state.expires_in.lock().unwrap() = secs;
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// Records the request; the real server's answer when it lacks the flavor header, or the
/// scripted refusal.
fn check(
    state: &MetadataState,
    path: &'static str,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<TokenRequest, (StatusCode, &'static str)> {
    let request = TokenRequest {
        path,
        flavor: headers
            .get("metadata-flavor")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        scopes: query.get("scopes").cloned(),
        audience: query.get("audience").cloned(),
        format: query.get("format").cloned(),
    };
    state.requests.lock().unwrap().push(request.clone());
    if let Some(status) = *state.refuse_with.lock().unwrap() {
        return Err((StatusCode::from_u16(status).unwrap(), "refused"));
    }
    if request.flavor.as_deref() != Some("Google") {
        return Err((
            StatusCode::FORBIDDEN,
            "Missing Metadata-Flavor:Google header.",
        ));
    }
    Ok(request)
}

async fn identity(
    State(state): State<Arc<MetadataState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let request = match check(&state, IDENTITY_PATH, &headers, &query) {
        Ok(r) => r,
        Err(answer) => return answer.into_response(),
    };
    if request.audience.as_deref().is_none_or(str::is_empty) {
        return (
            StatusCode::BAD_REQUEST,
            "non-empty audience parameter required",
        )
            .into_response();
    }
    (StatusCode::OK, state.token.clone()).into_response()
}

async fn access_token(
    State(state): State<Arc<MetadataState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(answer) = check(&state, TOKEN_PATH, &headers, &query) {
        return answer.into_response();
    }
    let expires_in = *state.expires_in.lock().unwrap();
    let body = serde_json::json!({
        "access_token": state.token, "expires_in": expires_in, "token_type": "Bearer",
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}
