//! Drains the outbox: delivers saved decisions, retries transient failures with backoff,
//! reconciles sends interrupted by a crash, and records the provider's answer.

use crate::domain::{CaseRef, Receipt};
use crate::providers::Providers;
use crate::store::{self, OutboxRow, OutboxState, Store, StoreError};
use chrono::{Duration as ChronoDuration, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// What happened to one decision; the console shows these.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The provider applied it (or had already, found on reconciling an interrupted send).
    Sent {
        decision_id: String,
        case_ref: CaseRef,
    },
    /// Nothing went to the provider: the decision escalates the case in kycdesk only (a
    /// refer where the provider has none). Never "delivered".
    Escalated {
        decision_id: String,
        case_ref: CaseRef,
    },
    WillRetry {
        decision_id: String,
        case_ref: CaseRef,
        error: String,
    },
    Failed {
        decision_id: String,
        case_ref: CaseRef,
        error: String,
    },
}

impl Delivery {
    pub fn decision_id(&self) -> &str {
        match self {
            Delivery::Sent { decision_id, .. }
            | Delivery::Escalated { decision_id, .. }
            | Delivery::WillRetry { decision_id, .. }
            | Delivery::Failed { decision_id, .. } => decision_id,
        }
    }

    pub fn case_ref(&self) -> &CaseRef {
        match self {
            Delivery::Sent { case_ref, .. }
            | Delivery::Escalated { case_ref, .. }
            | Delivery::WillRetry { case_ref, .. }
            | Delivery::Failed { case_ref, .. } => case_ref,
        }
    }
}

/// Longest wait between two attempts at one decision.
const MAX_RETRY_DELAY_SECS: i64 = 300;

fn retry_delay(attempts: u32) -> ChronoDuration {
    ChronoDuration::seconds((1i64 << attempts.min(9)).min(MAX_RETRY_DELAY_SECS))
}

#[derive(Clone)]
pub struct Sender {
    store: Arc<dyn Store>,
    providers: Providers,
}

impl Sender {
    pub fn new(store: Arc<dyn Store>, providers: Providers) -> Self {
        Self { store, providers }
    }

    /// One pass over what is due. `after_restart` also takes sends a previous process
    /// started and never finished. Decisions in their grace period wait.
    pub async fn deliver_due(&self, after_restart: bool) -> Result<Vec<Delivery>, StoreError> {
        let now = Utc::now();
        let rows = store::blocking(&self.store, move |s| s.due(now, after_restart)).await?;
        self.deliver_rows(rows).await
    }

    /// Everything waiting, whenever its retry was planned (an analyst asked for it); a
    /// decision still in its grace period waits all the same.
    pub async fn deliver_all_waiting(&self) -> Result<Vec<Delivery>, StoreError> {
        let now = Utc::now();
        let rows = store::blocking(&self.store, move |s| s.waiting(now)).await?;
        self.deliver_rows(rows).await
    }

    async fn deliver_rows(&self, rows: Vec<OutboxRow>) -> Result<Vec<Delivery>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(done) = self.deliver(row).await? {
                out.push(done);
            }
        }
        Ok(out)
    }

    /// Delivers one decision now if it is past its grace period, whatever its retry
    /// schedule (used by `kycdesk decide`). `None`: not claimable (in its grace period,
    /// finished, or another sender has it).
    pub async fn deliver_now(&self, decision_id: &str) -> Result<Option<Delivery>, StoreError> {
        let id = decision_id.to_string();
        let row = store::blocking(&self.store, move |s| s.outbox_row(&id)).await?;
        match row {
            Some(row) if matches!(row.state, OutboxState::Saved | OutboxState::Sending) => self.deliver(row).await,
            _ => Ok(None),
        }
    }

    /// Claims the decision (skipping it if another sender has), then sends it and records
    /// the answer. A send a previous process left unfinished is reconciled first.
    async fn deliver(&self, row: OutboxRow) -> Result<Option<Delivery>, StoreError> {
        let decision = row.decision;
        let id = decision.id.clone();
        let case_ref = decision.case_ref.clone();
        let interrupted = row.state == OutboxState::Sending;
        let (i, seen) = (id.clone(), row.attempts);
        let claimed = if interrupted {
            store::blocking(&self.store, move |s| s.reclaim(&i, seen)).await?
        } else {
            store::blocking(&self.store, move |s| s.claim(&i)).await?
        };
        if !claimed {
            tracing::debug!(decision = %id, "not claimable now; skipped");
            return Ok(None);
        }
        let attempts = row.attempts + 1;
        let Some(provider) = self.providers.get(case_ref.provider).cloned() else {
            let error = format!("{} is not configured; the decision waits in the outbox", case_ref.provider);
            let retry_at = Utc::now() + ChronoDuration::seconds(MAX_RETRY_DELAY_SECS);
            let (i, e) = (id.clone(), error.clone());
            store::blocking(&self.store, move |s| s.mark_retry(&i, &e, retry_at)).await?;
            return Ok(Some(Delivery::WillRetry { decision_id: id, case_ref, error }));
        };
        if interrupted {
            // The last process died mid-send: ask before sending again.
            if let Ok(true) = provider.reconcile(&decision).await {
                tracing::info!(decision = %id, "already applied at the provider");
                let receipt = Receipt { calls: vec![], escalate: false };
                let i = id.clone();
                store::blocking(&self.store, move |s| s.mark_sent(&i, &receipt)).await?;
                return Ok(Some(Delivery::Sent { decision_id: id, case_ref }));
            }
        }
        match provider.decide(&decision).await {
            Ok(receipt) => {
                let local_only = receipt.calls.is_empty() && receipt.escalate;
                let i = id.clone();
                store::blocking(&self.store, move |s| s.mark_sent(&i, &receipt)).await?;
                if local_only {
                    tracing::info!(decision = %id, provider = %case_ref.provider, "escalated locally");
                    Ok(Some(Delivery::Escalated { decision_id: id, case_ref }))
                } else {
                    tracing::info!(decision = %id, provider = %case_ref.provider, "delivered");
                    Ok(Some(Delivery::Sent { decision_id: id, case_ref }))
                }
            }
            Err(e) if e.is_transient() => {
                let error = e.to_string();
                let retry_at = Utc::now() + retry_delay(attempts);
                let (i, err) = (id.clone(), error.clone());
                store::blocking(&self.store, move |s| s.mark_retry(&i, &err, retry_at)).await?;
                tracing::warn!(decision = %id, attempts, "delivery failed; will retry");
                Ok(Some(Delivery::WillRetry { decision_id: id, case_ref, error }))
            }
            Err(e) => {
                let error = e.to_string();
                let (i, err) = (id.clone(), error.clone());
                store::blocking(&self.store, move |s| s.mark_failed(&i, &err)).await?;
                tracing::warn!(decision = %id, "delivery refused");
                Ok(Some(Delivery::Failed { decision_id: id, case_ref, error }))
            }
        }
    }

    /// Runs until the channel closes: a pass at start (taking interrupted sends), then a
    /// pass whenever a decision is saved or a retry falls due.
    pub async fn run(self, wake: Arc<Notify>, report: mpsc::UnboundedSender<Result<Delivery, StoreError>>) {
        let mut after_restart = true;
        loop {
            match self.deliver_due(after_restart).await {
                Ok(done) => {
                    for d in done {
                        if report.send(Ok(d)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    if report.send(Err(e)).is_err() {
                        return;
                    }
                }
            }
            after_restart = false;
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            if report.is_closed() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_and_is_capped() {
        assert_eq!(retry_delay(1).num_seconds(), 2);
        assert_eq!(retry_delay(4).num_seconds(), 16);
        assert_eq!(retry_delay(40).num_seconds(), MAX_RETRY_DELAY_SECS);
    }
}
