//! Reads each new case's details once, in the background, to record who it is about
//! (its identity keys): related cases are then found from the first case an analyst
//! opens, not only among those opened before. The reads go behind the analyst's own
//! calls in each provider's rate limit, one case at a time per provider.

use crate::domain::CaseRef;
use crate::domain::identity::identity_keys;
use crate::providers::http::{Priority, with_priority};
use crate::providers::{Provider, Providers};
use crate::store::{self, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Reading {
    /// Cases whose identity was read and recorded.
    pub read: usize,
    /// Cases that now have a related case (both sides of each pair), for a console to
    /// look up again.
    pub related: BTreeSet<CaseRef>,
    /// Cases whose details could not be read, with why: left for a later run.
    pub failed: Vec<(CaseRef, String)>,
}

/// Reads up to `limit` cases whose identity is not recorded yet, oldest first, skipping
/// `skip` (those that failed before). Providers are read side by side.
pub async fn read_unread(
    store: &Arc<dyn Store>,
    providers: &Providers,
    limit: usize,
    skip: &HashSet<CaseRef>,
) -> Result<Reading, StoreError> {
    let wanted = limit.saturating_add(skip.len());
    let unread = store::blocking(store, move |s| s.unread_identities(wanted)).await?;
    let mut by_provider: BTreeMap<_, Vec<CaseRef>> = BTreeMap::new();
    for case_ref in unread.into_iter().filter(|r| !skip.contains(r)).take(limit) {
        by_provider.entry(case_ref.provider).or_default().push(case_ref);
    }
    let mut reading = Reading::default();
    let mut runs = Vec::new();
    for (provider, refs) in by_provider {
        match providers.require(provider) {
            Ok(adapter) => runs.push(read_provider(store, adapter, refs)),
            Err(e) => reading.failed.extend(refs.into_iter().map(|r| (r, e.to_string()))),
        }
    }
    for run in futures::future::join_all(runs).await {
        let run = run?;
        reading.read += run.read;
        reading.related.extend(run.related);
        reading.failed.extend(run.failed);
    }
    Ok(reading)
}

async fn read_provider(
    store: &Arc<dyn Store>,
    adapter: &Arc<dyn Provider>,
    refs: Vec<CaseRef>,
) -> Result<Reading, StoreError> {
    let mut reading = Reading::default();
    for case_ref in refs {
        let case = match with_priority(Priority::Background, adapter.case(&case_ref)).await {
            Ok(case) => case,
            Err(e) => {
                tracing::debug!(case = %case_ref, error = %e, "identity not read");
                reading.failed.push((case_ref, e.to_string()));
                continue;
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
