//! `kycdesk inbox`: receives provider webhooks, verifies them, re-reads the cases they
//! name and writes those to the store the console reads.
//!
//! Answers: 200 applied (or a repeat of an applied delivery), 401 bad signature, 400
//! malformed, 404 unknown provider, 413 too large, 503 when the provider could not be
//! re-read (so the provider retries). Nothing from a body is logged.

use crate::domain::ProviderId;
use crate::providers::{PendingScan, Providers, WebhookError};
use crate::store::{self, Store};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use std::sync::Arc;

/// Webhook bodies are small JSON; anything bigger is refused unread.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub struct Inbox {
    store: Arc<dyn Store>,
    providers: Providers,
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// FrankieOne appends the request id to the configured URL: `/webhooks/frankieone/{id}`.
async fn receive_suffixed(
    state: State<Arc<Inbox>>,
    Path((provider, _suffix)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(state, Path(provider), headers, body).await
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
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
    // A webhook is a hint: every case it names is read again from the provider.
    let mut scan = PendingScan::default();
    for case in &event.cases {
        match adapter.refresh(case).await {
            Ok(found) => {
                scan.referred.extend(found.referred);
                scan.settled.extend(found.settled);
            }
            Err(e) => {
                tracing::warn!(provider = %id, error = %e, "webhook case could not be re-read");
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "provider could not be re-read; retry later"}),
                );
            }
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

pub fn router(store: Arc<dyn Store>, providers: Providers) -> Router {
    Router::new()
        .route("/webhooks/{provider}", post(receive))
        .route("/webhooks/{provider}/{*suffix}", post(receive_suffixed))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(Inbox { store, providers }))
}

/// Serves the inbox on a bound listener in the background.
pub fn spawn(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    providers: Providers,
) -> std::io::Result<std::net::SocketAddr> {
    let addr = listener.local_addr()?;
    let app = router(store, providers);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("inbox stopped: {e}");
        }
    });
    Ok(addr)
}
