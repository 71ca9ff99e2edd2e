//! A faithful local emulator of the provider APIs, for the demo and the tests. Each
//! provider lives under its own path prefix (`/complycube/v1/…`); the control API under
//! `/_emulator/` is for tests and never called by adapters.

pub mod complycube;
pub mod credas;
pub mod frankieone;
pub mod idwise;
pub mod images;
pub mod sumsub;

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

/// The moment the seeded cases are current at, unless told otherwise (the tests': fixed,
/// so what they see never changes): every provider's cases were referred in the hours
/// before it, and the documents that expire soon expire within 30 days after it.
pub fn seeded_at() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(2026, 11, 20, 14, 0, 0).single().unwrap_or_default()
}

/// The day of [`seeded_at`].
pub fn seeded_today() -> chrono::NaiveDate {
    seeded_at().date_naive()
}

/// `days` after the day of `at`, as `YYYY-MM-DD` parts.
pub fn days_after(at: chrono::DateTime<chrono::Utc>, days: u64) -> (i32, u32, u32) {
    use chrono::Datelike;
    let day = at.date_naive() + chrono::Days::new(days);
    (day.year(), day.month(), day.day())
}

/// A synthetic person who applied at two providers, so the demo shows related cases:
/// the same name and date of birth, and, for the second pair, the same document number.
pub struct SharedPerson {
    pub given: &'static str,
    pub family: &'static str,
    pub birth: (i32, u32, u32),
    pub document_number: Option<&'static str>,
}

/// At ComplyCube (a document check) and Sumsub, by name and date of birth.
pub const SHARED_COMPLYCUBE_SUMSUB: SharedPerson =
    SharedPerson { given: "Ingrid", family: "Solberg", birth: (1984, 6, 12), document_number: None };
/// Which seeded case each provider gives that person.
pub const SHARED_COMPLYCUBE_INDEX: usize = 1;
pub const SHARED_SUMSUB_INDEX: usize = 2;

/// At Credas and IDWise, with the same passport.
pub const SHARED_CREDAS_IDWISE: SharedPerson =
    SharedPerson { given: "Tobias", family: "Renner", birth: (1979, 3, 8), document_number: Some("P4471902") };
pub const SHARED_CREDAS_INDEX: usize = 3;
pub const SHARED_IDWISE_INDEX: usize = 3;

#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    pub seed: u64,
    /// Referred cases per provider world.
    pub cases: usize,
    /// Inbox base URL the emulator pushes webhooks to (`URL/webhooks/{provider}`).
    pub push_webhooks_to: Option<String>,
    /// Whose cases the webhooks announce: the test-key world or the live-key one.
    pub webhook_world: complycube::Mode,
    /// When the seeded cases are current: [`seeded_at`] by default; the demo's are now.
    pub at: chrono::DateTime<chrono::Utc>,
    /// A round trip's latency acted out on every provider request (none by default).
    pub latency: std::time::Duration,
    /// Webhooks sent per second at most (none: as fast as the inbox takes them).
    pub webhooks_per_second: Option<u32>,
    /// Webhooks wait until `POST /_emulator/webhooks/release` (a measurement starts
    /// with its console open).
    pub hold_webhooks: bool,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            seed: 7,
            cases: 24,
            push_webhooks_to: None,
            webhook_world: complycube::Mode::Test,
            at: seeded_at(),
            latency: std::time::Duration::ZERO,
            webhooks_per_second: None,
            hold_webhooks: false,
        }
    }
}

/// A webhook waiting to be delivered, signed as its provider signs.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub provider: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A response, built while holding the state lock, sent after releasing it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// `Retry-After`, in seconds, for answers that mean "not now".
    pub retry_after: Option<u64>,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, body, retry_after: None }
    }

    /// An answer without a body (`Value::Null` is sent as nothing).
    pub fn empty(status: u16) -> Self {
        Self { status, body: Value::Null, retry_after: None }
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = if self.body.is_null() {
            status.into_response()
        } else {
            (status, [(header::CONTENT_TYPE, "application/json")], self.body.to_string()).into_response()
        };
        if let Some(secs) = self.retry_after
            && let Ok(v) = secs.to_string().parse()
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
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

/// One webhook delivered (`/_emulator/pushes`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pushed {
    pub provider: String,
    /// The first attempt and the accepted one, in milliseconds since the epoch.
    pub sent_ms: u64,
    pub accepted_ms: u64,
    pub attempts: u32,
}

/// The newest entries of a measurement log: a demo left running for days stays small.
fn keep_last<T>(log: &mut std::collections::VecDeque<T>, entry: T) {
    const KEPT: usize = 100_000;
    if log.len() == KEPT {
        log.pop_front();
    }
    log.push_back(entry);
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// One provider request as the emulator answered it (`/_emulator/requests`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Served {
    pub provider: String,
    pub method: String,
    /// When it reached the emulator, in milliseconds since the epoch.
    pub at_ms: u64,
    pub status: u16,
}

/// One FrankieOne request and the emulator's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub request: Value,
    pub status: u16,
    pub response: Value,
}

/// Where a fault drops the connection instead of answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// The request is received and dropped unapplied.
    BeforeApply,
    /// The request is applied (and recorded), then the answer is lost.
    AfterApply,
}

/// A fault to inject into the next `count` requests to `provider` (whose path holds
/// `path_contains`, if given): answer `status` instead, and/or answer late (a delay
/// longer than the client waits is a timeout; the request is still applied after it,
/// as a real API would), and/or drop the connection (`cut`).
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
    #[serde(default)]
    pub cut: Option<Cut>,
    /// Hostile or broken content: this body instead of the provider's (truncated or
    /// malformed JSON, escape sequences, a bomb of an image), with `status` (default 200)
    /// and `content_type` (default `application/json`). Base64 in `body_base64` for bytes
    /// that are not UTF-8.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub body_base64: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// The provider's own answer with these byte replacements applied (`[from, to]`):
    /// an id swapped for another case's, a name swapped for an escape sequence.
    #[serde(default)]
    pub replace: Vec<(String, String)>,
}

impl Fault {
    fn replacement_body(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        let decoded =
            self.body_base64.as_deref().and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        decoded.or_else(|| self.body.clone().map(String::into_bytes))
    }
}

/// `haystack` with every `from` replaced by `to`, on bytes (image bodies stay intact).
fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Applies a fault's replacements to an answer.
async fn rewritten(response: Response, replace: &[(String, String)]) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 256 * 1024 * 1024).await else {
        return dropped_connection();
    };
    let mut bytes = bytes.to_vec();
    for (from, to) in replace {
        bytes = replace_bytes(&bytes, from.as_bytes(), to.as_bytes());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

struct Inner {
    complycube: complycube::ComplyCubeEmu,
    credas: credas::CredasEmu,
    idwise: idwise::IdWiseEmu,
    sumsub: sumsub::SumsubEmu,
    frankieone: frankieone::FrankieOneEmu,
    /// Every FrankieOne request and answer, for validation against the official spec.
    exchanges: Vec<Exchange>,
    decisions: Vec<Recorded>,
    /// Every provider request answered: when and how, for rate and speed measurements.
    requests: std::collections::VecDeque<Served>,
    faults: Vec<Fault>,
    /// Webhooks not yet sent, oldest first.
    webhooks: std::collections::VecDeque<Webhook>,
    /// Set while webhooks wait for `/_emulator/webhooks/release`.
    webhooks_held: bool,
    /// Every webhook the inbox accepted: when it was first sent and when accepted.
    pushes: std::collections::VecDeque<Pushed>,
}

pub struct Emulator {
    options: EmulatorOptions,
    inner: Mutex<Inner>,
    webhook_ready: tokio::sync::Notify,
}

impl Emulator {
    pub fn new(options: EmulatorOptions) -> Self {
        let inner = Self::seeded(&options);
        Self { options, inner: Mutex::new(inner), webhook_ready: tokio::sync::Notify::new() }
    }

    fn seeded(options: &EmulatorOptions) -> Inner {
        let (seed, cases, at) = (options.seed, options.cases, options.at);
        let complycube = complycube::ComplyCubeEmu::new(seed, cases, at);
        let idwise = idwise::IdWiseEmu::new(seed, cases, at);
        let credas = credas::CredasEmu::new(seed, cases, at);
        let sumsub = sumsub::SumsubEmu::new(seed, cases, at);
        let mut webhooks = std::collections::VecDeque::new();
        if options.push_webhooks_to.is_some() {
            let mut each = [vec![], vec![], vec![], vec![]];
            complycube.seed_webhooks(options.webhook_world, &mut each[0]);
            idwise.seed_webhooks(&mut each[1]);
            credas.seed_webhooks(&mut each[2]);
            sumsub.seed_webhooks(&mut each[3]);
            // Interleaved, as providers' deliveries meet at an inbox.
            let mut each = each.map(Vec::into_iter);
            while each.iter().any(|provider| provider.len() > 0) {
                webhooks.extend(each.iter_mut().filter_map(Iterator::next));
            }
        }
        Inner {
            complycube,
            credas,
            idwise,
            sumsub,
            frankieone: frankieone::FrankieOneEmu::new(seed, cases, at),
            exchanges: vec![],
            decisions: vec![],
            requests: Default::default(),
            faults: vec![],
            webhooks,
            webhooks_held: options.hold_webhooks,
            pushes: Default::default(),
        }
    }

    fn push_webhook(&self, webhook: Webhook) {
        if self.options.push_webhooks_to.is_some() {
            self.lock().webhooks.push_back(webhook);
            self.webhook_ready.notify_one();
        }
    }

    /// Delivers queued webhooks as providers do: each on its own, several in flight,
    /// a failed one retried about every second (so the inbox may start after the
    /// emulator), no order kept; paced and held as the options say.
    async fn push_webhooks(self: Arc<Self>, base: String) {
        // Per provider: each sends on its own, a slow one does not hold up the others.
        const IN_FLIGHT: usize = 128;
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(15)).build().unwrap_or_default();
        let mut slots: std::collections::HashMap<&'static str, Arc<tokio::sync::Semaphore>> = Default::default();
        let mut pace = self.options.webhooks_per_second.map(|n| {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1) / n.max(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every
        });
        loop {
            let next = {
                let mut inner = self.lock();
                if inner.webhooks_held { None } else { inner.webhooks.pop_front() }
            };
            let Some(webhook) = next else {
                self.webhook_ready.notified().await;
                continue;
            };
            if let Some(pace) = pace.as_mut() {
                pace.tick().await;
            }
            let provider = Arc::clone(
                slots.entry(webhook.provider).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT))),
            );
            let (emu, client) = (Arc::clone(&self), client.clone());
            let url = format!("{}/webhooks/{}", base.trim_end_matches('/'), webhook.provider);
            tokio::spawn(async move {
                // Waits for its own provider's slot only.
                let Ok(_slot) = provider.acquire_owned().await else { return };
                let sent_ms = epoch_ms();
                for attempts in 1.. {
                    let mut request =
                        client.post(&url).header(header::CONTENT_TYPE, "application/json").body(webhook.body.clone());
                    for (k, v) in &webhook.headers {
                        request = request.header(k.as_str(), v.as_str());
                    }
                    match request.send().await {
                        Ok(r) if r.status().is_success() => {
                            let pushed = Pushed {
                                provider: webhook.provider.into(),
                                sent_ms,
                                accepted_ms: epoch_ms(),
                                attempts,
                            };
                            keep_last(&mut emu.lock().pushes, pushed);
                            return;
                        }
                        Ok(r) => tracing::warn!(
                            status = r.status().as_u16(),
                            provider = webhook.provider,
                            "webhook refused; retrying"
                        ),
                        Err(_) => {}
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            });
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
    let mut response = match fault.replacement_body() {
        Some(body) => {
            let status = StatusCode::from_u16(fault.status.unwrap_or(200)).unwrap_or(StatusCode::OK);
            let content_type = fault.content_type.clone().unwrap_or_else(|| "application/json".into());
            (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        None => Answer::json(
            fault.status?,
            serde_json::json!({"type": "injected_fault", "message": "fault injected by the emulator"}),
        )
        .into_response(),
    };
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

/// What a provider's emulator made of a request, built under the state lock and
/// finished outside it.
pub enum Handled {
    Answer(Answer),
    /// A decision request: recorded, then answered; webhooks may follow.
    Decision(Answer, Vec<Webhook>),
    /// An image to draw (slow: done outside the lock) and wrap as the provider does.
    Image {
        seed: u64,
        kind: ImageKind,
        wrap: ImageWrap,
    },
    /// Several images as a JSON array of `{kind, id, base64Image}` (Credas, assumed).
    ImageSet {
        items: Vec<(&'static str, u64, ImageKind)>,
    },
    /// A JSON body whose attachments (by `attachmentId`) get `data.base64` (FrankieOne).
    JsonWithImages {
        body: Value,
        images: Vec<(String, u64, ImageKind)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    DocumentFront,
    DocumentBack,
    Selfie,
}

pub enum ImageWrap {
    /// JSON `{fileName, contentType, data}` with base64 data (ComplyCube).
    Base64Json { file_name: String, content_type: &'static str },
    /// The bytes themselves (IDWise).
    Binary,
}

/// Drawn images, kept: drawing is slow and the same image is asked for again and again.
type DrawnImages = lru::LruCache<(u64, ImageKind), Arc<Vec<u8>>>;
static DRAWN: std::sync::LazyLock<Mutex<DrawnImages>> =
    std::sync::LazyLock::new(|| Mutex::new(lru::LruCache::new(std::num::NonZeroUsize::MIN.saturating_add(63))));

fn draw(seed: u64, kind: ImageKind) -> Result<Arc<Vec<u8>>, image::ImageError> {
    let cached = DRAWN.lock().ok().and_then(|mut c| c.get(&(seed, kind)).cloned());
    if let Some(bytes) = cached {
        return Ok(bytes);
    }
    let bytes = Arc::new(match kind {
        ImageKind::DocumentFront => images::document_side(seed, false)?,
        ImageKind::DocumentBack => images::document_side(seed, true)?,
        ImageKind::Selfie => images::live_photo(seed)?,
    });
    if let Ok(mut c) = DRAWN.lock() {
        c.put((seed, kind), Arc::clone(&bytes));
    }
    Ok(bytes)
}

async fn image_response(seed: u64, kind: ImageKind, wrap: ImageWrap) -> Response {
    let Ok(Ok(bytes)) = tokio::task::spawn_blocking(move || draw(seed, kind)).await else {
        return Answer::json(500, serde_json::json!({"message": "image generation failed"})).into_response();
    };
    match wrap {
        ImageWrap::Base64Json { file_name, content_type } => {
            use base64::Engine;
            let data = base64::engine::general_purpose::STANDARD.encode(bytes.as_slice());
            Answer::json(200, serde_json::json!({"fileName": file_name, "contentType": content_type, "data": data}))
                .into_response()
        }
        ImageWrap::Binary => (StatusCode::OK, [(header::CONTENT_TYPE, "image/jpeg")], bytes.to_vec()).into_response(),
    }
}

async fn image_set_response(items: Vec<(&'static str, u64, ImageKind)>) -> Response {
    use base64::Engine;
    let drawn = tokio::task::spawn_blocking(move || {
        items
            .into_iter()
            .map(|(kind, seed, image)| {
                draw(seed, image).map(|bytes| {
                    serde_json::json!({"kind": kind, "id": format!("{seed:016x}"),
                        "base64Image": base64::engine::general_purpose::STANDARD.encode(bytes.as_slice())})
                })
            })
            .collect::<Result<Vec<Value>, _>>()
    })
    .await;
    match drawn {
        Ok(Ok(list)) => Answer::json(200, Value::Array(list)).into_response(),
        _ => Answer::json(500, serde_json::json!({"message": "image generation failed"})).into_response(),
    }
}

/// An answer that never completes: the status line goes out, then the connection drops
/// mid-body, as a reset looks to a client.
fn dropped_connection() -> Response {
    let broken = futures::stream::once(async { Err::<Bytes, std::io::Error>(std::io::Error::other("connection cut")) });
    Response::new(Body::from_stream(broken))
}

/// One provider's request: faults first, then the provider's own emulation.
async fn provider_route(
    emu: Arc<Emulator>,
    provider: &'static str,
    rest: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = emu.take_fault(provider, uri.path());
    let cut = fault.as_ref().and_then(|f| f.cut);
    let replace = fault.as_ref().map(|f| f.replace.clone()).unwrap_or_default();
    if let Some(fault) = fault
        && let Some(answer) = apply_fault(fault).await
    {
        return answer;
    }
    if !replace.is_empty() && cut.is_none() {
        let answer = provider_answer(emu, provider, rest, method, uri, headers, body).await;
        return rewritten(answer, &replace).await;
    }
    match cut {
        Some(Cut::BeforeApply) => dropped_connection(),
        Some(Cut::AfterApply) => {
            drop(provider_answer(emu, provider, rest, method, uri, headers, body).await);
            dropped_connection()
        }
        None => provider_answer(emu, provider, rest, method, uri, headers, body).await,
    }
}

/// The provider's own emulation of one request.
async fn provider_answer(
    emu: Arc<Emulator>,
    provider: &'static str,
    rest: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let query = query_pairs(&uri);
    let handled = {
        let mut inner = emu.lock();
        match provider {
            "complycube" => {
                let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                match inner.complycube.admit(auth) {
                    Ok(mode) => match complycube::ComplyCubeEmu::require_json(method.as_str(), content_type) {
                        Ok(()) => inner.complycube.handle(mode, method.as_str(), &segments, &query, &body),
                        // Refused like any other bad validate: recorded as a decision request.
                        Err(answer) if segments.last() == Some(&"validate") => Handled::Decision(answer, vec![]),
                        Err(answer) => Handled::Answer(answer),
                    },
                    Err(answer) => Handled::Answer(answer),
                }
            }
            "credas" => inner.credas.handle(method.as_str(), &segments, &headers, &body),
            "frankieone" => inner.frankieone.handle(method.as_str(), &segments, &query, &headers, &body),
            "sumsub" => {
                let uri = uri.path_and_query().map(|p| p.as_str()).unwrap_or_else(|| uri.path());
                inner.sumsub.handle(method.as_str(), &segments, uri, &headers, &body)
            }
            _ => inner.idwise.handle(method.as_str(), &segments, &headers, &body),
        }
    };
    let request_json = || {
        if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        }
    };
    let path = uri.path().trim_start_matches('/').trim_start_matches(provider).to_string();
    let answer = match handled {
        Handled::Answer(a) => a,
        Handled::Decision(a, webhooks) => {
            emu.lock().decisions.push(Recorded {
                provider: provider.into(),
                method: method.to_string(),
                path: path.clone(),
                headers: headers_of(&headers),
                body: request_json(),
                status: a.status,
            });
            for webhook in webhooks {
                emu.push_webhook(webhook);
            }
            a
        }
        Handled::JsonWithImages { body, images } => with_images(body, images).await,
        Handled::Image { seed, kind, wrap } => return image_response(seed, kind, wrap).await,
        Handled::ImageSet { items } => return image_set_response(items).await,
    };
    if provider == "frankieone" {
        emu.lock().exchanges.push(Exchange {
            method: method.to_string(),
            path: path.split('?').next().unwrap_or_default().to_string(),
            request: request_json(),
            status: answer.status,
            response: answer.body.clone(),
        });
    }
    answer.into_response()
}

/// Fills `data.base64` of every attachment whose id has an image.
async fn with_images(mut body: Value, images: Vec<(String, u64, ImageKind)>) -> Answer {
    use base64::Engine;
    let drawn = tokio::task::spawn_blocking(move || {
        fn fill(v: &mut Value, images: &[(String, u64, ImageKind)]) {
            match v {
                Value::Object(o) => {
                    let id = o.get("attachmentId").and_then(Value::as_str).map(str::to_string);
                    if let Some((_, seed, kind)) = id.and_then(|id| images.iter().find(|(i, _, _)| *i == id))
                        && let Ok(bytes) = draw(*seed, *kind)
                    {
                        let data = base64::engine::general_purpose::STANDARD.encode(bytes.as_slice());
                        o.insert("data".into(), serde_json::json!({"base64": data}));
                        o.insert("retrievalStatus".into(), serde_json::json!("NORMAL"));
                    }
                    o.values_mut().for_each(|x| fill(x, images));
                }
                Value::Array(a) => a.iter_mut().for_each(|x| fill(x, images)),
                _ => {}
            }
        }
        fill(&mut body, &images);
        body
    })
    .await;
    match drawn {
        Ok(body) => Answer::json(200, body),
        Err(_) => Answer::json(500, serde_json::json!({"message": "image generation failed"})),
    }
}

/// Every FrankieOne exchange so far.
async fn control_exchanges(State(emu): State<Arc<Emulator>>) -> Response {
    Answer::json(200, serde_json::to_value(&emu.lock().exchanges).unwrap_or(Value::Null)).into_response()
}

/// The route of one provider's API.
fn provider(name: &'static str) -> axum::routing::MethodRouter<Arc<Emulator>> {
    any(
        move |State(emu): State<Arc<Emulator>>,
              Path(rest): Path<String>,
              method: Method,
              uri: Uri,
              headers: HeaderMap,
              body: Bytes| async move {
            // A real API finishes a request it has fully received, whatever the client
            // does meanwhile: run it apart from the connection, which may be dropped.
            let latency = emu.options.latency / 2;
            tokio::spawn(async move {
                // The way there, then the way back.
                tokio::time::sleep(latency).await;
                let at_ms = epoch_ms();
                let served_method = method.to_string();
                let answer = provider_route(Arc::clone(&emu), name, rest, method, uri, headers, body).await;
                let served =
                    Served { provider: name.into(), method: served_method, at_ms, status: answer.status().as_u16() };
                keep_last(&mut emu.lock().requests, served);
                tokio::time::sleep(latency).await;
                answer
            })
            .await
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        },
    )
}

async fn control_requests(State(emu): State<Arc<Emulator>>) -> Response {
    Answer::json(200, serde_json::to_value(&emu.lock().requests).unwrap_or(Value::Null)).into_response()
}

async fn control_pushes(State(emu): State<Arc<Emulator>>) -> Response {
    Answer::json(200, serde_json::to_value(&emu.lock().pushes).unwrap_or(Value::Null)).into_response()
}

async fn control_release_webhooks(State(emu): State<Arc<Emulator>>) -> Response {
    let waiting = {
        let mut inner = emu.lock();
        inner.webhooks_held = false;
        inner.webhooks.len()
    };
    emu.webhook_ready.notify_one();
    Answer::json(200, serde_json::json!({"released": waiting})).into_response()
}

async fn control_decisions(State(emu): State<Arc<Emulator>>) -> Response {
    Answer::json(200, serde_json::to_value(emu.decisions()).unwrap_or(Value::Null)).into_response()
}

/// The seeded cases of the providers without a list endpoint, for tests.
async fn control_cases(State(emu): State<Arc<Emulator>>) -> Response {
    let inner = emu.lock();
    let idwise: Vec<Value> = inner
        .idwise
        .journey_ids()
        .into_iter()
        .map(|(id, d)| serde_json::json!({"id": id, "system_decision": d}))
        .collect();
    Answer::json(
        200,
        serde_json::json!({"idwise": idwise, "credas": inner.credas.entity_ids(), "sumsub": inner.sumsub.applicant_ids(),
            "frankieone": inner.frankieone.entity_ids()}),
    )
    .into_response()
}

async fn control_reset(State(emu): State<Arc<Emulator>>) -> Response {
    let fresh = Emulator::seeded(&emu.options);
    *emu.lock() = fresh;
    emu.webhook_ready.notify_one();
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
        .route("/complycube/v1/{*rest}", provider("complycube"))
        .route("/idwise/{*rest}", provider("idwise"))
        .route("/credas/api/v2/ci/{*rest}", provider("credas"))
        .route("/sumsub/{*rest}", provider("sumsub"))
        .route("/frankieone/{*rest}", provider("frankieone"))
        .route("/_emulator/exchanges", get(control_exchanges))
        .route("/_emulator/decisions", get(control_decisions))
        .route("/_emulator/requests", get(control_requests))
        .route("/_emulator/pushes", get(control_pushes))
        .route("/_emulator/webhooks/release", post(control_release_webhooks))
        .route("/_emulator/reset", post(control_reset))
        .route("/_emulator/cases", get(control_cases))
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
    let pusher =
        emulator.options.push_webhooks_to.clone().map(|base| tokio::spawn(Arc::clone(&emulator).push_webhooks(base)));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!("emulator stopped: {e}");
        }
        // The pusher ends with the server.
        if let Some(p) = pusher {
            p.abort();
        }
    });
    Ok(RunningEmulator { addr, emulator, _stop: stop })
}
