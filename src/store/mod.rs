//! The queue, the decision outbox and the audit log, behind one interface so a shared
//! (PostgreSQL) store is a second implementation, not a rewrite.

pub mod sqlite;

use crate::domain::{CaseRef, Decision, ProviderId, QueueEntry, Receipt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store schema migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("store data is unreadable: {0}")]
    Corrupt(String),
    #[error("cannot create the store directory {path}: {source}")]
    Directory { path: String, source: std::io::Error },
    #[error("{0} already has a decision saved; it cannot be decided twice")]
    AlreadyDecided(CaseRef),
    #[error("the audit log is broken at record {id}: {detail}")]
    AuditBroken { id: i64, detail: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Committed, not yet attempted (or due again after a transient failure).
    Saved,
    /// A send was started; if the process died here, reconcile before resending.
    Sending,
    Sent,
    /// Refused by the provider or by kycdesk; will not be retried.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Saved => "saved",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Saved, Self::Sending, Self::Sent, Self::Failed].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRow {
    pub decision: Decision,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Saved and not yet delivered (includes those being sent or waiting to retry).
    pub saved: u64,
    pub sent: u64,
    pub failed: u64,
}

/// What the audit log records as evidence: which images were on screen, by hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub media_sha256: Vec<String>,
}

pub trait Store: Send + Sync {
    /// Adds new cases and refreshes the summary of known ones; never changes the status
    /// of a case kycdesk already holds. Returns how many were new.
    fn upsert_queue(&self, entries: &[QueueEntry]) -> Result<usize, StoreError>;
    /// Cases the provider no longer refers: pending ones are closed.
    fn settle(&self, refs: &[CaseRef]) -> Result<(), StoreError>;
    /// Closes the provider's pending cases that are not in `keep` (after a full scan).
    fn settle_missing(&self, provider: ProviderId, keep: &[CaseRef]) -> Result<(), StoreError>;
    /// The working queue: pending then escalated, oldest first within each.
    fn open_queue(&self) -> Result<Vec<QueueEntry>, StoreError>;
    fn queue_entry(&self, case_ref: &CaseRef) -> Result<Option<QueueEntry>, StoreError>;
    /// Commits the decision to the outbox, its audit record and the queue change in one
    /// transaction. Only after this returns is the decision saved.
    fn save_decision(&self, decision: &Decision, evidence: &Evidence) -> Result<(), StoreError>;
    /// Decisions to send now: saved and due, and (at start-up) interrupted sends.
    fn due(&self, now: DateTime<Utc>, include_interrupted: bool) -> Result<Vec<OutboxRow>, StoreError>;
    fn outbox_row(&self, decision_id: &str) -> Result<Option<OutboxRow>, StoreError>;
    fn mark_sending(&self, decision_id: &str) -> Result<(), StoreError>;
    fn mark_sent(&self, decision_id: &str, receipt: &Receipt) -> Result<(), StoreError>;
    /// A transient failure: try again at `retry_at`.
    fn mark_retry(&self, decision_id: &str, error: &str, retry_at: DateTime<Utc>) -> Result<(), StoreError>;
    /// A permanent failure: the case goes back to the queue to be decided again.
    fn mark_failed(&self, decision_id: &str, error: &str) -> Result<(), StoreError>;
    fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
    fn watermark(&self, provider: ProviderId) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn set_watermark(&self, provider: ProviderId, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Changes whenever another connection (another console, the inbox) commits; lets
    /// a reader skip re-reading an unchanged queue.
    fn data_version(&self) -> Result<i64, StoreError>;
    fn webhook_seen(&self, provider: ProviderId, delivery_id: &str) -> Result<bool, StoreError>;
    /// Applies a webhook's re-read cases and records its delivery, in one transaction.
    /// `None`: this delivery was applied before, nothing changed.
    fn apply_webhook(
        &self,
        provider: ProviderId,
        delivery_id: &str,
        referred: &[QueueEntry],
        settled: &[CaseRef],
    ) -> Result<Option<usize>, StoreError>;
    /// Walks the hash chain of the audit log; returns how many records it checked.
    fn verify_audit(&self) -> Result<u64, StoreError>;
}

/// Runs a store call off the async workers: SQLite with `synchronous=FULL` waits for
/// the disk, and nothing on an async path should.
pub async fn blocking<T, F>(store: &std::sync::Arc<dyn Store>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = std::sync::Arc::clone(store);
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .unwrap_or_else(|e| Err(StoreError::Corrupt(format!("store task stopped: {e}"))))
}
