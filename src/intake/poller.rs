//! Polls list-capable providers for referred cases and writes them to the store.

use crate::domain::ProviderId;
use crate::providers::{ProviderError, Providers};
use crate::store::{self, Store, StoreError};
use chrono::Duration;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Overlap between scans, so checks updated in the same instant as the watermark are
/// seen again rather than missed (upserts are idempotent).
const WATERMARK_OVERLAP_SECS: i64 = 2;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollReport {
    pub new_cases: usize,
    pub referred: usize,
    pub failures: Vec<(ProviderId, String)>,
    /// Cases a provider listed under an id that is not one of its ids, left out.
    pub dropped: Vec<(ProviderId, String)>,
}

/// One scan of every list-capable provider. A failing provider is reported, and the
/// others are still scanned.
pub async fn poll_once(store: &Arc<dyn Store>, providers: &Providers) -> Result<PollReport, StoreError> {
    let mut report = PollReport::default();
    for provider in providers.iter().filter(|p| p.capabilities().lists_pending) {
        let id = provider.id();
        let since = store::blocking(store, move |s| s.watermark(id)).await?;
        let scan = match provider.pending(since.map(|t| t - Duration::seconds(WATERMARK_OVERLAP_SECS))).await {
            Ok(scan) => scan,
            Err(e) => {
                tracing::warn!(provider = %id, error = %e, "poll failed");
                report.failures.push((id, e.to_string()));
                continue;
            }
        };
        report.dropped.extend(scan.dropped.iter().map(|reason| (id, reason.clone())));
        report.referred += scan.referred.len();
        let watermark = scan.watermark;
        report.new_cases += store::blocking(store, move |s| {
            let new = s.upsert_queue(&scan.referred)?;
            s.settle(&scan.settled)?;
            if scan.complete {
                let keep: Vec<_> = scan.referred.iter().map(|e| e.case_ref.clone()).collect();
                s.settle_missing(id, &keep)?;
            }
            if let Some(w) = watermark {
                s.set_watermark(id, w)?;
            }
            Ok(new)
        })
        .await?;
    }
    Ok(report)
}
