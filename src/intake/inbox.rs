//! `kycdesk inbox`: receives provider webhooks, verifies them, re-reads the cases they
//! name and writes those to the store the console reads.
//!
//! Answers: 200 applied (or a repeat of an applied delivery), 401 bad signature, 400
//! malformed, 404 unknown provider, 408 body too slow, 413 too large, 503 when the
//! provider could not be re-read (so the provider retries). Nothing from a body is
//! logged.
//!
//! It faces the network: a client gets a bounded time for its headers and for its body,
//! one request per connection, and a bounded number of connections at once, so slow or
//! idle clients can neither starve a real webhook nor hold memory.

use crate::domain::ProviderId;
use crate::providers::{PendingScan, Providers, WebhookError};
use crate::store::{self, Store};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Webhook bodies are small JSON; anything bigger is refused, and reading stops there.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a client may take, and how many may be connected at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxLimits {
    /// From accepting the connection to the end of the request headers.
    pub header_timeout: Duration,
    /// From the end of the headers to the last byte of the body.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for InboxLimits {
    fn default() -> Self {
        // Providers send a webhook in one go: seconds are plenty.
        Self { header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(10), max_connections: 256 }
    }
}

pub struct Inbox {
    store: Arc<dyn Store>,
    providers: Providers,
    limits: InboxLimits,
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// FrankieOne appends the request id to the configured URL: `/webhooks/frankieone/{id}`.
async fn receive_suffixed(
    state: State<Arc<Inbox>>,
    Path((provider, _suffix)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive(state, Path(provider), headers, body).await
}

/// The body in full, within the size cap and the body timeout.
async fn read_body(body: Body, limits: &InboxLimits) -> Result<Bytes, Response> {
    match tokio::time::timeout(limits.body_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if std::error::Error::source(&e).is_some_and(|e| e.is::<http_body_util::LengthLimitError>()) => {
            Err(answer(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": "body too large"})))
        }
        Ok(Err(_)) => Err(answer(StatusCode::BAD_REQUEST, json!({"error": "body could not be read"}))),
        Err(_) => Err(answer(StatusCode::REQUEST_TIMEOUT, json!({"error": "body not received in time"}))),
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read_body(body, &inbox.limits).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let Ok(id) = provider.parse::<ProviderId>() else {
        return answer(StatusCode::NOT_FOUND, json!({"error": "unknown provider"}));
    };
    let Some(adapter) = inbox.providers.get(id).cloned() else {
        return answer(StatusCode::NOT_FOUND, json!({"error": "provider not configured"}));
    };
    let event = match adapter.webhook(&headers, &body) {
        Ok(event) => event,
        Err(e @ WebhookError::Unauthenticated(_)) => {
            tracing::warn!(provider = %id, "webhook refused: not authenticated");
            return answer(StatusCode::UNAUTHORIZED, json!({"error": e.to_string()}));
        }
        Err(e @ WebhookError::Malformed(_)) => {
            tracing::warn!(provider = %id, "webhook refused: malformed");
            return answer(StatusCode::BAD_REQUEST, json!({"error": e.to_string()}));
        }
    };
    let delivery = event.delivery_id.clone();
    let seen = store::blocking(&inbox.store, {
        let delivery = delivery.clone();
        move |s| s.webhook_seen(id, &delivery)
    })
    .await;
    match seen {
        Ok(true) => return answer(StatusCode::OK, json!({"duplicate": true})),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(provider = %id, error = %e, "store unavailable");
            return answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "store unavailable"}));
        }
    }
    // A webhook is a hint: every case it names is read again from the provider, all at
    // once; the provider's client keeps to its rate limit.
    let mut scan = PendingScan::default();
    match futures::future::try_join_all(event.cases.iter().map(|case| adapter.refresh(case))).await {
        Ok(found) => {
            for found in found {
                scan.referred.extend(found.referred);
                scan.settled.extend(found.settled);
            }
        }
        Err(e) => {
            tracing::warn!(provider = %id, error = %e, "webhook case could not be re-read");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "provider could not be re-read; retry later"}),
            );
        }
    }
    let applied =
        store::blocking(&inbox.store, move |s| s.apply_webhook(id, &delivery, &scan.referred, &scan.settled)).await;
    match applied {
        Ok(Some(new)) => {
            tracing::info!(provider = %id, cases = event.cases.len(), new, "webhook applied");
            answer(StatusCode::OK, json!({"applied": true, "new_cases": new}))
        }
        Ok(None) => answer(StatusCode::OK, json!({"duplicate": true})),
        Err(e) => {
            tracing::error!(provider = %id, error = %e, "store unavailable");
            answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "store unavailable"}))
        }
    }
}

pub fn router(store: Arc<dyn Store>, providers: Providers, limits: InboxLimits) -> Router {
    Router::new()
        .route("/webhooks/{provider}", post(receive))
        .route("/webhooks/{provider}/{*suffix}", post(receive_suffixed))
        .with_state(Arc::new(Inbox { store, providers, limits }))
}

/// Serves the inbox on a bound listener in the background, with the default limits.
pub fn spawn(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    providers: Providers,
) -> std::io::Result<std::net::SocketAddr> {
    spawn_with(listener, store, providers, InboxLimits::default())
}

pub fn spawn_with(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    providers: Providers,
    limits: InboxLimits,
) -> std::io::Result<std::net::SocketAddr> {
    let addr = listener.local_addr()?;
    let app = router(store, providers, limits);
    tokio::spawn(serve(listener, app, limits));
    Ok(addr)
}

/// hyper's own connection handling, with its header timeout, instead of `axum::serve`,
/// which sets none; a semaphore bounds the connections.
async fn serve(listener: tokio::net::TcpListener, app: Router, limits: InboxLimits) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!("inbox cannot accept: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(false);
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("inbox connection ended: {e}");
            }
            drop(slot);
        });
    }
}
