//! The one HTTP client setup every provider uses: timeouts, https only (plain http for
//! loopback only, for the emulator), no redirects, a response size cap, a per-provider
//! rate limit, secret headers marked sensitive, and 429s waited out with backoff, for
//! a bounded time.

use super::ProviderError;
use super::rate::{SharedSends, WindowLimiter};
use crate::domain::ProviderId;
use backon::{ExponentialBuilder, Retryable};
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

/// The limits an analyst may tune, the same for every provider (`max_call_secs`,
/// `request_timeout_secs` in the config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// One call in all: every attempt and every wait a 429 asks for. Past it the call
    /// gives up, and a decision stays saved for a later attempt.
    pub max_call_time: Duration,
    /// One attempt, from connecting to the last byte of the answer.
    pub request_timeout: Duration,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self { max_call_time: Duration::from_secs(120), request_timeout: Duration::from_secs(30) }
    }
}

#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub total_timeout: Duration,
    /// See [`CallLimits::max_call_time`].
    pub max_call_time: Duration,
    pub max_response_bytes: usize,
    /// Requests per second this client will never exceed.
    pub requests_per_second: u32,
    /// A tighter limit for writes (POST, PUT, PATCH), where the provider has one.
    pub write_requests_per_second: Option<u32>,
    /// First wait after a 429; doubles (with jitter) on each further 429.
    pub backoff_initial: Duration,
    pub max_rate_limit_retries: usize,
    /// Statuses that mean "not now, later" besides 429 (Sumsub's 409 + Retry-After).
    pub also_wait_out: &'static [u16],
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self::from(CallLimits::default())
    }
}

impl From<CallLimits> for HttpSettings {
    fn from(limits: CallLimits) -> Self {
        Self {
            connect_timeout: Duration::from_secs(5).min(limits.request_timeout),
            read_timeout: Duration::from_secs(20).min(limits.request_timeout),
            total_timeout: limits.request_timeout,
            max_call_time: limits.max_call_time,
            max_response_bytes: 16 * 1024 * 1024,
            requests_per_second: 5,
            write_requests_per_second: None,
            also_wait_out: &[],
            backoff_initial: Duration::from_secs(30),
            max_rate_limit_retries: 5,
        }
    }
}

/// A response already read in full (within the size cap).
#[derive(Debug)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Signs a request as it is sent (for each attempt): method, path with query, body.
pub type Signer = Box<dyn Fn(&Method, &str, &[u8]) -> Vec<(HeaderName, HeaderValue)> + Send + Sync>;

pub struct ProviderHttp {
    provider: ProviderId,
    client: reqwest::Client,
    base: Url,
    auth_headers: HeaderMap,
    limiter: WindowLimiter,
    write_limiter: Option<WindowLimiter>,
    analyst_first: AnalystFirst,
    signer: Option<Signer>,
    settings: HttpSettings,
    /// The rate budget's name in a shared send log: the provider and a digest of where
    /// and as whom it is called, so one credential is one budget and the key never shows.
    budget: String,
}

/// Who a call is for. The analyst's calls (and the sender's) go first; the cases held
/// ahead of the open one, and then background work (intake reading new cases'
/// details), take the provider's rate only while none of them waits for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Priority {
    #[default]
    Analyst,
    /// Prefetch: any free slot, once no analyst call waits.
    Ahead,
    /// Only while the window is less than half full.
    Background,
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `work` (any provider calls in it) at `priority`. The priority travels with the
/// task, so the adapters' signatures need not carry it.
pub async fn with_priority<F: std::future::Future>(priority: Priority, work: F) -> F::Output {
    PRIORITY.scope(priority, work).await
}

fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or_default()
}

/// How many analyst calls wait for the rate limiter; background calls wait while any do.
#[derive(Default)]
struct AnalystFirst {
    waiting: std::sync::atomic::AtomicUsize,
    clear: tokio::sync::Notify,
}

struct Waiting<'a>(&'a AnalystFirst);

impl AnalystFirst {
    fn enter(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Waiting(self)
    }

    async fn until_clear(&self) {
        loop {
            // Created before the check, so a wake-up between the two is not lost.
            let cleared = self.clear.notified();
            if self.waiting.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            cleared.await;
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.waiting.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            self.0.clear.notify_waiters();
        }
    }
}

/// A request the adapter wants sent; rebuilt for every retry.
pub struct HttpRequest<'a> {
    pub method: Method,
    /// Path below the base URL, with any query string.
    pub path: &'a str,
    pub json_body: Option<Vec<u8>>,
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

impl ProviderHttp {
    /// `auth_headers` are sent on every request and marked sensitive so they never
    /// appear in debug output.
    pub fn new(
        provider: ProviderId,
        base_url: &str,
        auth_headers: Vec<(HeaderName, String)>,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let config = |detail: String| ProviderError::Config { provider, detail };
        let mut base = Url::parse(base_url).map_err(|e| config(format!("base_url '{base_url}' is not a URL: {e}")))?;
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&base) => {}
            _ => {
                return Err(config(format!(
                    "base_url '{base_url}' must be https (plain http is allowed for loopback only)"
                )));
            }
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in auth_headers {
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| config(format!("credential for header {name} contains characters HTTP cannot carry")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .timeout(settings.total_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kycdesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("HTTP client setup failed: {e}")))?;
        // No one-second window ever holds more than the provider's limit; within it,
        // requests go as soon as they are asked for.
        let limiter = WindowLimiter::per_second(settings.requests_per_second);
        let write_limiter = settings.write_requests_per_second.map(WindowLimiter::per_second);
        let budget = budget_name(provider, &base, &headers);
        Ok(Self {
            provider,
            client,
            base,
            auth_headers: headers,
            limiter,
            write_limiter,
            analyst_first: AnalystFirst::default(),
            signer: None,
            settings,
            budget,
        })
    }

    /// Spends this credential's rate limit (and its write limit) in `sends`, shared with
    /// every process of the host that does the same.
    pub fn share_rate(&self, sends: &Arc<dyn SharedSends>) {
        self.limiter.share(Arc::clone(sends), self.budget.clone());
        if let Some(writes) = &self.write_limiter {
            writes.share(Arc::clone(sends), format!("{}:write", self.budget));
        }
    }

    /// Signs every attempt (Sumsub: the timestamp changes, so does the signature).
    pub fn with_signer(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Sends a request, waiting out 429s; any other status is returned to the adapter.
    pub async fn send(&self, request: &HttpRequest<'_>) -> Result<HttpResponse, ProviderError> {
        let url = self.base.join(request.path.trim_start_matches('/')).map_err(|e| ProviderError::Config {
            provider: self.provider,
            detail: format!("bad request path {}: {e}", request.path),
        })?;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.backoff_initial)
            .with_max_delay(self.settings.backoff_initial * 8)
            .with_max_times(self.settings.max_rate_limit_retries)
            .with_jitter();
        let started = tokio::time::Instant::now();
        // A wait is taken only if the attempt after it still ends within the call's time.
        let wait_budget = self.settings.max_call_time.saturating_sub(self.settings.total_timeout);
        let attempt = || async { self.attempt(request, url.clone()).await };
        let result = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &AttemptError| matches!(e, AttemptError::RateLimited { .. }))
            .adjust(|e, planned| {
                let wait = match e {
                    AttemptError::RateLimited { retry_after: Some(after) } => jittered(*after),
                    _ => planned?,
                };
                (started.elapsed() + wait <= wait_budget).then_some(wait)
            })
            .notify(|_, wait| tracing::warn!(provider = %self.provider, wait_ms = wait.as_millis() as u64, "rate limited; backing off"))
            .await;
        match result {
            Ok(response) => Ok(response),
            Err(AttemptError::RateLimited { .. }) => Err(ProviderError::RateLimited {
                provider: self.provider,
                waited_secs: started.elapsed().as_secs(),
                limit_secs: self.settings.max_call_time.as_secs(),
            }),
            Err(AttemptError::Other(e)) => Err(e),
        }
    }

    /// Sends a request and requires a 2xx; anything else becomes an error, with
    /// `read_error` taking the provider's words from the body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        json_body: Option<Vec<u8>>,
        what: &str,
        read_error: fn(&[u8]) -> super::ErrorParts,
    ) -> Result<HttpResponse, ProviderError> {
        let response = self.send(&HttpRequest { method, path, json_body }).await?;
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(super::status_error(self.provider, response.status.as_u16(), what, read_error(&response.body)))
        }
    }

    /// GETs a JSON document.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
        read_error: fn(&[u8]) -> super::ErrorParts,
    ) -> Result<T, ProviderError> {
        let response = self.call(Method::GET, path, None, what, read_error).await?;
        serde_json::from_slice(&response.body)
            .map_err(|e| ProviderError::Decode { provider: self.provider, detail: format!("{what}: {e}") })
    }

    async fn wait_for_rate(&self) {
        match current_priority() {
            Priority::Analyst => {
                let _waiting = self.analyst_first.enter();
                self.limiter.until_ready().await;
            }
            priority @ (Priority::Ahead | Priority::Background) => loop {
                self.analyst_first.until_clear().await;
                // Background work only while the window is less than half full,
                // counting every process on the credential: the rest is there for the
                // analyst, the inbox, `decide` and a colleague. A slot taken only when
                // free now: waiting for one would hold it against an analyst call that
                // arrives meanwhile.
                let limit = self.settings.requests_per_second;
                let share = if priority == Priority::Ahead { limit } else { limit / 2 };
                match self.limiter.try_within(usize::try_from(share).unwrap_or(1)).await {
                    Ok(()) => return,
                    Err(free_in) => tokio::time::sleep(free_in).await,
                }
            },
        }
    }

    async fn attempt(&self, request: &HttpRequest<'_>, url: Url) -> Result<HttpResponse, AttemptError> {
        // The tighter write slot first: a general slot taken and then left waiting
        // would go out later than booked, and bunch up with the ones after it.
        if request.method != Method::GET
            && let Some(writes) = &self.write_limiter
        {
            writes.until_ready().await;
        }
        self.wait_for_rate().await;
        let mut headers = self.auth_headers.clone();
        if let Some(sign) = &self.signer {
            // The exact URI and bytes that go on the wire.
            let uri = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            let body = request.json_body.as_deref().unwrap_or_default();
            for (name, mut value) in sign(&request.method, &uri, body) {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        let mut builder = self.client.request(request.method.clone(), url).headers(headers);
        if let Some(body) = &request.json_body {
            builder = builder.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.clone());
        }
        let transport = |e: reqwest::Error| {
            // Without the URL (it may carry ids; the caller knows the path), with the
            // causes (reqwest's own message alone is "error sending request").
            // A failed connect never reached the provider; anything later may have.
            let maybe_sent = !e.is_connect() && !e.is_builder();
            let e = e.without_url();
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                detail.push_str(": ");
                detail.push_str(&cause.to_string());
                source = cause.source();
            }
            AttemptError::Other(ProviderError::Transport { provider: self.provider, detail, maybe_sent })
        };
        let mut response = builder.send().await.map_err(transport)?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || self.settings.also_wait_out.contains(&status.as_u16()) {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            return Err(AttemptError::RateLimited { retry_after });
        }
        let limit = self.settings.max_response_bytes;
        if response.content_length().is_some_and(|len| len as usize > limit) {
            return Err(AttemptError::Other(ProviderError::TooLarge { provider: self.provider, limit }));
        }
        let headers = response.headers().clone();
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                return Err(AttemptError::Other(ProviderError::TooLarge { provider: self.provider, limit }));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, headers, body: body.freeze() })
    }
}

/// `provider:` and 16 hex digits of a SHA-256 over the base URL and the credential
/// headers: the same account, the same name, in every process.
fn budget_name(provider: ProviderId, base: &Url, auth_headers: &HeaderMap) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    digest.update(b"kycdesk rate budget\0");
    digest.update(base.as_str().as_bytes());
    let mut headers: Vec<_> = auth_headers.iter().collect();
    headers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (name, value) in headers {
        digest.update(b"\0");
        digest.update(name.as_str().as_bytes());
        digest.update(b"=");
        digest.update(value.as_bytes());
    }
    format!("{provider}:{}", hex::encode(&digest.finalize()[..8]))
}

/// `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3); a date in
/// the past means now. Anything else is ignored, and the backoff decides.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What the provider asked, plus up to a tenth (at least 250 ms) at random, so clients
/// told the same second do not all come back in it.
fn jittered(wait: Duration) -> Duration {
    let spread = (wait.as_millis() as u64 / 10).max(250);
    wait + Duration::from_millis(rand::random_range(0..=spread))
}

enum AttemptError {
    RateLimited { retry_after: Option<Duration> },
    Other(ProviderError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_new(url: &str) -> Result<ProviderHttp, ProviderError> {
        ProviderHttp::new(ProviderId::ComplyCube, url, vec![], HttpSettings::default())
    }

    #[test]
    fn https_or_loopback_only() {
        assert!(try_new("https://api.complycube.com/v1").is_ok());
        assert!(try_new("http://127.0.0.1:9000/complycube/v1").is_ok());
        assert!(try_new("http://localhost:9000/x").is_ok());
        assert!(try_new("http://[::1]:9000/x").is_ok());
        assert!(matches!(try_new("http://api.complycube.com/v1"), Err(ProviderError::Config { .. })));
        assert!(matches!(try_new("ftp://127.0.0.1/"), Err(ProviderError::Config { .. })));
        assert!(matches!(try_new("not a url"), Err(ProviderError::Config { .. })));
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn jitter_only_adds() {
        for _ in 0..100 {
            let wait = jittered(Duration::from_secs(10));
            assert!(wait >= Duration::from_secs(10) && wait <= Duration::from_secs(11));
        }
    }

    #[test]
    fn base_path_keeps_its_prefix() {
        let http = try_new("http://127.0.0.1:1/complycube/v1");
        let base = http.map(|h| h.base_url().to_string()).unwrap_or_default();
        assert_eq!(base, "http://127.0.0.1:1/complycube/v1/");
    }

    #[tokio::test(start_paused = true)]
    async fn background_calls_wait_while_an_analyst_call_waits() {
        let settings = HttpSettings { requests_per_second: 1, ..HttpSettings::default() };
        let http = ProviderHttp::new(ProviderId::ComplyCube, "http://127.0.0.1:1/", vec![], settings);
        let Ok(http) = http else { panic!("client setup") };
        let order = std::sync::Mutex::new(Vec::new());
        let step = |name: &'static str, priority: Priority| {
            let (http, order) = (&http, &order);
            with_priority(priority, async move {
                http.wait_for_rate().await;
                order.lock().map(|mut o| o.push(name)).ok();
            })
        };
        // Polled in this order: the first analyst takes the slot, the second waits for
        // the next one, and the background call, started before it is granted, after.
        tokio::join!(
            step("analyst 1", Priority::Analyst),
            step("analyst 2", Priority::Analyst),
            step("background", Priority::Background),
        );
        assert_eq!(order.into_inner().unwrap_or_default(), ["analyst 1", "analyst 2", "background"]);
    }

    #[tokio::test(start_paused = true)]
    async fn background_work_takes_half_the_limit_at_most() {
        let settings = HttpSettings { requests_per_second: 4, ..HttpSettings::default() };
        let Ok(http) = ProviderHttp::new(ProviderId::ComplyCube, "http://127.0.0.1:1/", vec![], settings) else {
            panic!("client setup")
        };
        let start = tokio::time::Instant::now();
        let mut at = vec![];
        for _ in 0..4 {
            with_priority(Priority::Background, http.wait_for_rate()).await;
            at.push(start.elapsed());
        }
        let window = Duration::from_secs(1) + super::super::rate::WINDOW_MARGIN;
        assert!(at[1] < window && at[2] >= window, "two in the first window, not four: {at:?}");
        // The analyst's share is still there, at once.
        let before = tokio::time::Instant::now();
        http.wait_for_rate().await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn prefetch_takes_the_whole_limit_once_no_analyst_call_waits() {
        let settings = HttpSettings { requests_per_second: 4, ..HttpSettings::default() };
        let Ok(http) = ProviderHttp::new(ProviderId::ComplyCube, "http://127.0.0.1:1/", vec![], settings) else {
            panic!("client setup")
        };
        let start = tokio::time::Instant::now();
        for _ in 0..4 {
            with_priority(Priority::Ahead, http.wait_for_rate()).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "four in the first window, not two");
    }

    #[test]
    fn one_credential_is_one_budget_and_the_key_never_shows_in_its_name() {
        let name = |key: &str| {
            let http = ProviderHttp::new(
                ProviderId::ComplyCube,
                "https://api.complycube.com/v1",
                vec![(reqwest::header::AUTHORIZATION, key.to_string())],
                HttpSettings::default(),
            );
            http.map(|h| h.budget).unwrap_or_default()
        };
        assert_eq!(name("test_key_1"), name("test_key_1"));
        assert_ne!(name("test_key_1"), name("test_key_2"));
        assert!(name("test_key_1").starts_with("complycube:") && !name("test_key_1").contains("test_key"));
    }
}
