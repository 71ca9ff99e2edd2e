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
    Sent { decision_id: String, case_ref: CaseRef },
    WillRetry { decision_id: String, case_ref: CaseRef, error: String },
    Failed { decision_id: String, case_ref: CaseRef, error: String },
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
    /// started and never finished.
    pub async fn deliver_due(&self, after_restart: bool) -> Result<Vec<Delivery>, StoreError> {
        self.deliver_scheduled_before(Utc::now(), after_restart).await
    }

    /// Everything waiting, whenever its retry was planned (an analyst asked for it).
    pub async fn deliver_all_waiting(&self) -> Result<Vec<Delivery>, StoreError> {
        self.deliver_scheduled_before(Utc::now() + ChronoDuration::days(36_500), true).await
    }

    async fn deliver_scheduled_before(
        &self,
        before: chrono::DateTime<Utc>,
        after_restart: bool,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = store::blocking(&self.store, move |s| s.due(before, after_restart)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.deliver(row).await?);
        }
        Ok(out)
    }

    /// Delivers one decision now, whatever its schedule (used by `kycdesk decide`).
    pub async fn deliver_now(&self, decision_id: &str) -> Result<Option<Delivery>, StoreError> {
        let id = decision_id.to_string();
        let row = store::blocking(&self.store, move |s| s.outbox_row(&id)).await?;
        match row {
            Some(row) if matches!(row.state, OutboxState::Saved | OutboxState::Sending) => {
                Ok(Some(self.deliver(row).await?))
            }
            _ => Ok(None),
        }
    }

    async fn deliver(&self, row: OutboxRow) -> Result<Delivery, StoreError> {
        let decision = row.decision;
        let id = decision.id.clone();
        let case_ref = decision.case_ref.clone();
        let Some(provider) = self.providers.get(case_ref.provider).cloned() else {
            let error = format!("{} is not configured; the decision waits in the outbox", case_ref.provider);
            let retry_at = Utc::now() + ChronoDuration::seconds(MAX_RETRY_DELAY_SECS);
            let (i, e) = (id.clone(), error.clone());
            store::blocking(&self.store, move |s| s.mark_retry(&i, &e, retry_at)).await?;
            return Ok(Delivery::WillRetry { decision_id: id, case_ref, error });
        };
        if row.state == OutboxState::Sending {
            // The last process died mid-send: ask before sending again.
            if let Ok(true) = provider.reconcile(&decision).await {
                tracing::info!(decision = %id, "already applied at the provider");
                let receipt = Receipt { calls: vec![], escalate: false };
                let i = id.clone();
                store::blocking(&self.store, move |s| s.mark_sent(&i, &receipt)).await?;
                return Ok(Delivery::Sent { decision_id: id, case_ref });
            }
        }
        let i = id.clone();
        store::blocking(&self.store, move |s| s.mark_sending(&i)).await?;
        match provider.decide(&decision).await {
            Ok(receipt) => {
                let i = id.clone();
                store::blocking(&self.store, move |s| s.mark_sent(&i, &receipt)).await?;
                tracing::info!(decision = %id, provider = %case_ref.provider, "delivered");
                Ok(Delivery::Sent { decision_id: id, case_ref })
            }
            Err(e) if e.is_transient() => {
                let error = e.to_string();
                let retry_at = Utc::now() + retry_delay(row.attempts + 1);
                let (i, err) = (id.clone(), error.clone());
                store::blocking(&self.store, move |s| s.mark_retry(&i, &err, retry_at)).await?;
                tracing::warn!(decision = %id, attempts = row.attempts + 1, "delivery failed; will retry");
                Ok(Delivery::WillRetry { decision_id: id, case_ref, error })
            }
            Err(e) => {
                let error = e.to_string();
                let (i, err) = (id.clone(), error.clone());
                store::blocking(&self.store, move |s| s.mark_failed(&i, &err)).await?;
                tracing::warn!(decision = %id, "delivery refused");
                Ok(Delivery::Failed { decision_id: id, case_ref, error })
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
