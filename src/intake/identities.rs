//! Reads each new case's details once, in the background, to record who it is about
//! (its identity keys): related cases are then found from the first case an analyst
//! opens, not only among those opened before. The reads go behind the analyst's own
//! calls in each provider's rate limit, one case at a time per provider, each provider
//! on its own so a slow or failing one holds up no other.

use crate::domain::identity::identity_keys;
use crate::domain::{CaseRef, ProviderId};
use crate::providers::http::{Priority, with_priority};
use crate::providers::{Provider, ProviderError};
use crate::store::{self, Store, StoreError};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Reading {
    /// Cases whose identity was read and recorded.
    pub read: usize,
    /// Cases that now have a related case (both sides of each pair), for a console to
    /// look up again.
    pub related: BTreeSet<CaseRef>,
    /// Cases that cannot be read (gone, or unreadable as sent): left out of this run.
    pub unreadable: Vec<CaseRef>,
    /// The provider failed (down, refusing, rate limited): the round stopped there, to
    /// be tried again later.
    pub provider_failed: Option<String>,
}

/// Whether an error is about the one case (read the others) or about the provider
/// (stop, and try later).
fn about_the_case(e: &ProviderError) -> bool {
    matches!(e, ProviderError::NotFound { .. } | ProviderError::Decode { .. } | ProviderError::TooLarge { .. })
}

/// Reads up to `limit` of `adapter`'s cases whose identity is not recorded yet, oldest
/// first, skipping `skip` (those found unreadable before).
pub async fn read_unread(
    store: &Arc<dyn Store>,
    adapter: &Arc<dyn Provider>,
    limit: usize,
    skip: &HashSet<CaseRef>,
) -> Result<Reading, StoreError> {
    let provider: ProviderId = adapter.id();
    let wanted = limit.saturating_add(skip.len());
    let unread = store::blocking(store, move |s| s.unread_identities(provider, wanted)).await?;
    let mut reading = Reading::default();
    for case_ref in unread.into_iter().filter(|r| !skip.contains(r)).take(limit) {
        let case = match with_priority(Priority::Background, adapter.case(&case_ref)).await {
            Ok(case) => case,
            Err(e) if about_the_case(&e) => {
                tracing::debug!(case = %case_ref, error = %e, "identity not read");
                reading.unreadable.push(case_ref);
                continue;
            }
            Err(e) => {
                reading.provider_failed = Some(e.to_string());
                break;
            }
        };
        let keys = identity_keys(&case);
        let lookup = case_ref.clone();
        let related = store::blocking(store, move |s| {
            s.record_identity(&lookup, &keys)?;
            s.related_cases(&lookup)
        })
        .await?;
        reading.read += 1;
        if !related.is_empty() {
            reading.related.insert(case_ref);
            reading.related.extend(related.into_iter().map(|r| r.case_ref));
        }
    }
    Ok(reading)
}
