//! The queue, the decision outbox and the audit log, behind one interface so a shared
//! (PostgreSQL) store is a second implementation, not a rewrite.

pub mod audit;
pub mod sqlite;

use crate::domain::identity::{IdentityKey, RelatedCase};
use crate::domain::{CallRecord, CaseRef, Decision, ProviderId, QueueEntry, SafeText};
use crate::providers::rate::{SharedSends, Slot};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use audit::AuditKey;
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
    #[error(transparent)]
    Private(#[from] crate::private_fs::PrivateFsError),
    #[error("{0} already has a decision saved; it cannot be decided twice")]
    AlreadyDecided(CaseRef),
    #[error("the audit log is broken at record {id}: {detail}")]
    AuditBroken { id: i64, detail: String },
    #[error("the audit log is incomplete: {0}")]
    AuditIncomplete(String),
    #[error("the audit anchor {path}: {detail}")]
    AuditAnchor { path: String, detail: String },
    #[error("the audit key is needed and kycdesk has none: {0}")]
    AuditKeyMissing(String),
    #[error("there is no store at {0}")]
    NoStore(String),
    #[error("no decision {0} in the outbox")]
    UnknownDecision(String),
    #[error("too late to undo: decision {decision_id} is {}", state.as_str())]
    TooLate { decision_id: String, state: OutboxState },
    #[error("decision {decision_id} is {}; only {allowed} decisions can be {action}", state.as_str())]
    WrongState { decision_id: String, state: OutboxState, allowed: &'static str, action: &'static str },
    #[error("dropping a decision needs a reason")]
    ReasonRequired,
    /// Another sender took the decision over (this one's lease ran out): it must not
    /// record anything more for it.
    #[error("decision {0} is no longer held by this sender")]
    LeaseLost(String),
    #[error("decision {0} may have reached the provider; it is being reconciled, so it cannot be dropped now")]
    InFlight(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// Committed, not yet attempted (or due again after a transient failure).
    Saved,
    /// A send was started; if the process died here, reconcile before resending.
    Sending,
    Sent,
    /// Refused by the provider or by kycdesk; will not be retried unless an analyst asks.
    Failed,
    /// Taken back in its grace period (undo), before any sender claimed it.
    Withdrawn,
    /// Given up by an analyst, with a reason: never sent.
    Dropped,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Saved => "saved",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Withdrawn => "withdrawn",
            OutboxState::Dropped => "dropped",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Saved, Self::Sending, Self::Sent, Self::Failed, Self::Withdrawn, Self::Dropped]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxRow {
    pub decision: Decision,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    /// No sender takes it before this (the analyst's undo grace period).
    pub send_after: DateTime<Utc>,
}

/// One decision of a save; all items of one (bulk) action commit together.
#[derive(Clone, Debug, PartialEq)]
pub struct SaveItem {
    pub decision: Decision,
    pub evidence: Evidence,
    /// The last undecided hit or element of its case: deciding it decides the case.
    pub closes_case: bool,
}

/// A sender's hold on one decision, with what earlier attempts left.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    /// A call an earlier attempt started and never saw answered (it timed out, the
    /// connection dropped, or the process died): the provider may have applied it, so
    /// the case is read back (reconciled) before anything is sent again.
    pub in_flight: bool,
    /// Calls earlier attempts completed, by step: sent again never.
    pub done: Vec<(String, CallRecord)>,
}

/// How a claimed decision ended up delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SentOutcome {
    /// The case goes to the escalated lane (a local refer).
    pub escalate: bool,
    /// Found already applied at the provider when reconciling an attempt of unknown
    /// outcome (its last call's answer was never seen).
    pub found_applied: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    /// Saved and not yet delivered (includes those being sent or waiting to retry).
    pub saved: u64,
    /// Delivered to the provider.
    pub sent: u64,
    /// Done, but kycdesk's alone: a local escalation that called no provider.
    pub escalated: u64,
    pub failed: u64,
    /// Providers kycdesk stopped sending to for now (see `DegradedProvider`).
    pub degraded: Vec<ProviderId>,
}

/// A provider whose calls kept failing (the network, 5xx, rate limits): its decisions
/// stay queued and only a probe goes out, now and then, until one gets through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DegradedProvider {
    pub provider: ProviderId,
    pub since: DateTime<Utc>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// No decision goes to it before this; the first one after is the probe.
    pub next_probe_at: DateTime<Utc>,
    pub last_error: String,
}

/// What the audit log records as evidence: which images were on screen, by hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub media_sha256: Vec<String>,
}

/// What `verify_audit_report` found: the log is intact, and how it is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub records: u64,
    /// Chained under the audit key.
    pub keyed: u64,
    /// Written before kycdesk had an audit key: hash-chained only.
    pub unkeyed: u64,
    /// How many records the anchor vouches for (`None`: a store without one, in memory).
    pub anchored: Option<u64>,
    /// Decisions in the outbox, each with its audit records.
    pub decisions: u64,
}

/// One audit record, as exported: who did what, when, on which case and decision, and
/// the details (JSON: verdict, reason, evidence hashes, provider answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub analyst: SafeText,
    pub action: SafeText,
    pub case_ref: SafeText,
    pub decision_id: Option<SafeText>,
    pub detail: SafeText,
}

/// The working queue as read, with the rows that could not be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueRead {
    pub entries: Vec<QueueEntry>,
    pub skipped: Vec<SkippedRow>,
}

/// A queue row the store could not read, as it may be shown: sanitised and short.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    /// The row's case reference as stored (or its row number, if even that is unreadable).
    pub row: String,
    pub why: String,
}

impl SkippedRow {
    pub fn new(row: &str, why: &str) -> Self {
        Self { row: crate::domain::shown_id(row), why: crate::domain::shown_text(why, 240) }
    }
}

impl std::fmt::Display for SkippedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.row, self.why)
    }
}

pub trait Store: Send + Sync {
    /// Adds new cases and refreshes the summary of known ones; never changes the status
    /// of a case kycdesk already holds. Returns how many were new.
    fn upsert_queue(&self, entries: &[QueueEntry]) -> Result<usize, StoreError>;
    /// Cases the provider no longer refers: pending ones are closed, except those with a
    /// hit or element already decided in kycdesk and others still to decide (a
    /// ComplyCube screening check stops being referred at its first confirmed match).
    fn settle(&self, refs: &[CaseRef]) -> Result<(), StoreError>;
    /// Closes the provider's pending cases that are not in `keep` (after a full scan),
    /// with the same exception as `settle`.
    fn settle_missing(&self, provider: ProviderId, keep: &[CaseRef]) -> Result<(), StoreError>;
    /// The working queue with its lanes: pending cases are `New`, or `Refused` when their
    /// last decision was refused (the note gives the provider's words); escalated ones
    /// `Escalated`; decided ones whose decision still waits for delivery `Awaiting` (the
    /// note gives the last delivery error while it retries). Ordered by lane, then
    /// oldest first, then reference. Sent, withdrawn-from and closed cases are not in it.
    fn open_queue(&self) -> Result<Vec<QueueEntry>, StoreError> {
        self.read_queue().map(|read| read.entries)
    }
    /// `open_queue`, and the rows it could not read: an unreadable row (a bad id, a
    /// broken timestamp) is skipped and reported, never fatal for the whole queue.
    fn read_queue(&self) -> Result<QueueRead, StoreError>;
    /// One case, with its lane as `open_queue` would give it.
    fn queue_entry(&self, case_ref: &CaseRef) -> Result<Option<QueueEntry>, StoreError>;
    /// One decision, sendable at once: `save_decisions` with `send_after` its creation
    /// time and `closes_case` false.
    fn save_decision(&self, decision: &Decision, evidence: &Evidence) -> Result<(), StoreError> {
        let item = SaveItem { decision: decision.clone(), evidence: evidence.clone(), closes_case: false };
        self.save_decisions(std::slice::from_ref(&item), decision.created_at)
    }
    /// All or nothing, one transaction: every decision in the outbox with its audit
    /// record ("decided"); a whole-case decision, or one with `closes_case`, moves its
    /// case to decided (the Awaiting lane). No sender takes any of them before
    /// `send_after`. `AlreadyDecided` if a target already has an open decision (nothing
    /// is saved then). Only after this returns are the decisions saved.
    fn save_decisions(&self, items: &[SaveItem], send_after: DateTime<Utc>) -> Result<(), StoreError>;
    /// Undo: withdraws decisions no sender has claimed. All or nothing: if any was claimed
    /// or is finished, nothing changes and it is `TooLate`. Each case returns to the status
    /// it had before the decision; one "withdrawn" audit record per decision. Returns the
    /// cases, each once.
    fn withdraw(&self, decision_ids: &[String], analyst: &str) -> Result<Vec<CaseRef>, StoreError>;
    /// Newest first, every state, at most `limit` rows.
    fn outbox_list(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    /// Every decision ever saved on one case, in any state, oldest first.
    fn decisions_for(&self, case_ref: &CaseRef) -> Result<Vec<OutboxRow>, StoreError>;
    /// A refused (failed) decision is queued again, due now; a decision that decided its
    /// case puts the case back in the Awaiting lane. Audited ("retried").
    fn retry_decision(&self, decision_id: &str, analyst: &str) -> Result<(), StoreError>;
    /// A failed decision, or a saved one no sender has claimed, is given up with a reason;
    /// its case goes back to the New lane. Audited ("dropped", with the reason).
    fn drop_decision(&self, decision_id: &str, analyst: &str, reason: &str) -> Result<(), StoreError>;
    /// Decisions to send now: saved, past their grace period and due for an attempt, and
    /// sends whose sender's lease ran out (it died or stalled mid-send).
    fn due(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError>;
    /// Everything a sender may take now whatever its retry schedule: saved and past its
    /// grace period (never before it), and sends whose lease ran out.
    fn waiting(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError>;
    fn outbox_row(&self, decision_id: &str) -> Result<Option<OutboxRow>, StoreError>;
    /// Takes a decision for sending under a lease held by `owner` until `now + lease`,
    /// atomically: of two senders, one gets it. Claimable: saved, past its grace period,
    /// due (or any time with `ignore_schedule`), and not held back after an attempt of
    /// unknown outcome; or sending with its lease run out. `None`: skip it.
    fn claim(
        &self,
        decision_id: &str,
        owner: &str,
        lease: Duration,
        ignore_schedule: bool,
    ) -> Result<Option<Claim>, StoreError>;
    /// Extends `owner`'s lease; `false`: it lost the decision (another sender holds it,
    /// or it is finished), and must send nothing more for it.
    fn renew_lease(&self, decision_id: &str, owner: &str, lease: Duration) -> Result<bool, StoreError>;
    /// Before a provider call goes out: records the step as in flight (so a crash or a
    /// timeout leaves it unknown until reconciled) and renews the lease. `false`: the
    /// lease is lost; do not send.
    fn call_started(&self, decision_id: &str, owner: &str, step: &str, lease: Duration) -> Result<bool, StoreError>;
    /// A provider call answered: its record is kept (a later attempt skips the step) and
    /// audited ("delivered"), in one transaction. `false`: the lease is lost.
    fn call_done(&self, decision_id: &str, owner: &str, step: &str, record: &CallRecord) -> Result<bool, StoreError>;
    /// The claimed decision is delivered: every call done (its receipt lists the calls
    /// recorded by `call_done`), or found applied at the provider on reconciling.
    fn mark_sent(&self, decision_id: &str, owner: &str, outcome: SentOutcome) -> Result<(), StoreError>;
    /// A transient failure of a claimed decision: try again at `retry_at`. With
    /// `outcome_unknown` (the call in flight may have been applied) the in-flight step is
    /// kept, nobody may take the decision before `retry_at`, and the next attempt
    /// reconciles first; otherwise the call never reached the provider and is forgotten.
    fn mark_retry(
        &self,
        decision_id: &str,
        owner: &str,
        error: &str,
        retry_at: DateTime<Utc>,
        outcome_unknown: bool,
    ) -> Result<(), StoreError>;
    /// A permanent failure of a claimed decision: the case goes back to the queue, in the
    /// Refused lane, to be decided again.
    fn mark_failed(&self, decision_id: &str, owner: &str, error: &str) -> Result<(), StoreError>;
    fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
    /// A delivery to `provider` failed for a reason of the provider's (unreachable, 5xx,
    /// rate limited). From `degrade_after` failures in a row it is degraded, and no
    /// decision goes to it before `next_probe_at`. Returns the failures in a row.
    fn provider_failed(
        &self,
        provider: ProviderId,
        error: &str,
        degrade_after: u32,
        next_probe_at: DateTime<Utc>,
    ) -> Result<u32, StoreError>;
    /// The provider answered (a delivery, or a refusal): it is healthy again.
    fn provider_answered(&self, provider: ProviderId) -> Result<(), StoreError>;
    /// The providers degraded now.
    fn degraded(&self) -> Result<Vec<DegradedProvider>, StoreError>;
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
    /// Records who a loaded case is about (its identity keys), replacing what it had, as
    /// digests keyed with the audit key: the store holds no document number or date of
    /// birth it did not hold before. Nothing is recorded by a store without its key (one
    /// opened read-only), nor for a case it does not hold (neither queued nor decided);
    /// the keys go when the store holds the case no more.
    fn record_identity(&self, case_ref: &CaseRef, keys: &[IdentityKey]) -> Result<(), StoreError>;
    /// A provider's open or decided queued cases whose identity was never recorded (or
    /// was before the case closed and came back), oldest first, at most `limit`: what
    /// intake still has to read. None without the audit key.
    fn unread_identities(&self, provider: ProviderId, limit: usize) -> Result<Vec<CaseRef>, StoreError>;
    /// The other cases, of any provider, sharing a recorded identity key with this one:
    /// the same person trying twice, or at two providers. Ordered by reference. Nothing
    /// without the audit key.
    fn related_cases(&self, case_ref: &CaseRef) -> Result<Vec<RelatedCase>, StoreError>;
    /// Walks the audit log's chain (keyed where it has a key), checks it reaches its
    /// anchor, and that every decision in the outbox has the records of its states.
    fn verify_audit_report(&self) -> Result<AuditReport, StoreError>;
    /// `verify_audit_report`, counting the records it checked.
    fn verify_audit(&self) -> Result<u64, StoreError> {
        Ok(self.verify_audit_report()?.records)
    }
    /// The audit records whose time is in `[from, to]` (inclusive; `None`: unbounded),
    /// oldest first.
    fn audit_records(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Books a send in a provider credential's rate budget, atomically for every process
    /// of this store (the rule: [`crate::providers::rate::book`]), on the host's clock.
    /// The log is not the store's data: booking it never changes [`Store::data_version`].
    fn book_send(&self, budget: &str, limit: usize, window: Duration, only_if_free: bool) -> Result<Slot, StoreError>;
}

/// The store as the providers' send log, so every process that opens it spends one
/// rate budget per provider credential.
pub struct SharedRate(pub std::sync::Arc<dyn Store>);

#[async_trait::async_trait]
impl SharedSends for SharedRate {
    async fn book(
        &self,
        budget: &str,
        limit: usize,
        window: Duration,
        only_if_free: bool,
    ) -> Result<Slot, Box<dyn std::error::Error + Send + Sync>> {
        let budget = budget.to_string();
        Ok(blocking(&self.0, move |s| s.book_send(&budget, limit, window, only_if_free)).await?)
    }
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
