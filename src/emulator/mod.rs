//! A faithful local emulator of the provider APIs, for the demo and the tests. Each
//! provider lives under its own path prefix (`/complycube/v1/…`); the control API under
//! `/_emulator/` is for tests and never called by adapters.

pub mod complycube;
pub mod images;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    pub seed: u64,
    /// Referred cases per provider world.
    pub cases: usize,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self { seed: 7, cases: 24 }
    }
}

/// A response, built while holding the state lock, sent after releasing it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, body }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, [(header::CONTENT_TYPE, "application/json")], self.body.to_string()).into_response()
    }
}

/// A decision request as the emulator received it (credentials redacted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub provider: String,
    pub method: String,
    pub path: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: Value,
    /// What the emulator answered.
    pub status: u16,
}

/// A fault to inject into the next `count` requests to `provider` (whose path holds
/// `path_contains`, if given): answer `status` instead, and/or answer late.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub provider: String,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    pub count: u32,
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    #[serde(default)]
    pub path_contains: Option<String>,
}

struct Inner {
    complycube: complycube::ComplyCubeEmu,
    decisions: Vec<Recorded>,
    faults: Vec<Fault>,
}

pub struct Emulator {
    options: EmulatorOptions,
    inner: Mutex<Inner>,
}

impl Emulator {
    pub fn new(options: EmulatorOptions) -> Self {
        let inner = Self::seeded(&options);
        Self { options, inner: Mutex::new(inner) }
    }

    fn seeded(options: &EmulatorOptions) -> Inner {
        Inner {
            complycube: complycube::ComplyCubeEmu::new(options.seed, options.cases),
            decisions: vec![],
            faults: vec![],
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Handlers do not panic while holding the lock; if one did, its request failed,
        // and the state is still consistent (every mutation is a single assignment).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn decisions(&self) -> Vec<Recorded> {
        self.lock().decisions.clone()
    }

    fn take_fault(&self, provider: &str, path: &str) -> Option<Fault> {
        let mut inner = self.lock();
        let fault = inner.faults.iter_mut().find(|f| {
            f.provider == provider && f.count > 0 && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
        })?;
        fault.count -= 1;
        Some(fault.clone())
    }
}

/// Applies a fault: waits if asked to, then answers for it if it names a status.
async fn apply_fault(fault: Fault) -> Option<Response> {
    if let Some(ms) = fault.delay_ms {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    let status = fault.status?;
    let mut response = Answer::json(
        status,
        serde_json::json!({"type": "injected_fault", "message": "fault injected by the emulator"}),
    )
    .into_response();
    if let Some(secs) = fault.retry_after_secs
        && let Ok(v) = secs.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Some(response)
}

fn headers_of(headers: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), Recorded::redact_header(k.as_str(), v.to_str().unwrap_or("(binary)"))))
        .collect()
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

async fn complycube_route(
    State(emu): State<Arc<Emulator>>,
    Path(rest): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(fault) = emu.take_fault("complycube", uri.path())
        && let Some(answer) = apply_fault(fault).await
    {
        return answer;
    }
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let query = query_pairs(&uri);
    let handled = {
        let mut inner = emu.lock();
        let mode = match inner.complycube.admit(auth) {
            Ok(mode) => mode,
            Err(answer) => return answer.into_response(),
        };
        inner.complycube.handle(mode, method.as_str(), &segments, &query, &body)
    };
    match handled {
        complycube::Handled::Answer(a) => a.into_response(),
        complycube::Handled::Decision(a) => {
            let body_json = serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
            emu.lock().decisions.push(Recorded {
                provider: "complycube".into(),
                method: method.to_string(),
                path: uri.path().trim_start_matches("/complycube").to_string(),
                headers: headers_of(&headers),
                body: body_json,
                status: a.status,
            });
            a.into_response()
        }
        complycube::Handled::Image { seed, back, live, file_name, content_type } => {
            // Drawing takes a while; do it off the async workers and outside the lock.
            let answer = tokio::task::spawn_blocking(move || {
                complycube::image_answer(seed, back, live, &file_name, content_type)
            })
            .await;
            match answer {
                Ok(a) => a.into_response(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
    }
}

async fn control_decisions(State(emu): State<Arc<Emulator>>) -> Response {
    Answer::json(200, serde_json::to_value(emu.decisions()).unwrap_or(Value::Null)).into_response()
}

async fn control_reset(State(emu): State<Arc<Emulator>>) -> Response {
    let fresh = Emulator::seeded(&emu.options);
    *emu.lock() = fresh;
    Answer::json(200, serde_json::json!({"reset": true})).into_response()
}

async fn control_fault(State(emu): State<Arc<Emulator>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            emu.lock().faults.push(fault);
            Answer::json(200, serde_json::json!({"ok": true})).into_response()
        }
        Err(e) => Answer::json(400, serde_json::json!({"message": e.to_string()})).into_response(),
    }
}

/// Faults still armed: a test sees from `count` whether a request has hit its fault.
async fn control_faults(State(emu): State<Arc<Emulator>>) -> Response {
    Answer::json(200, serde_json::to_value(&emu.lock().faults).unwrap_or(Value::Null)).into_response()
}

pub fn router(emu: Arc<Emulator>) -> Router {
    Router::new()
        .route("/complycube/v1/{*rest}", any(complycube_route))
        .route("/_emulator/decisions", get(control_decisions))
        .route("/_emulator/reset", post(control_reset))
        .route("/_emulator/faults", post(control_fault).get(control_faults))
        .fallback(|| async { (StatusCode::NOT_FOUND, Body::from("not found")) })
        .with_state(emu)
}

/// A running emulator; dropping the handle stops it.
pub struct RunningEmulator {
    pub addr: SocketAddr,
    pub emulator: Arc<Emulator>,
    _stop: oneshot::Sender<()>,
}

impl RunningEmulator {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serves the emulator on an already bound listener, in the background.
pub fn spawn(listener: TcpListener, options: EmulatorOptions) -> std::io::Result<RunningEmulator> {
    let addr = listener.local_addr()?;
    let emulator = Arc::new(Emulator::new(options));
    let app = router(Arc::clone(&emulator));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!("emulator stopped: {e}");
        }
    });
    Ok(RunningEmulator { addr, emulator, _stop: stop })
}
