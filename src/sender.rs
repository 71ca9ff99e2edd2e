//! Drains the outbox: delivers saved decisions, retries transient failures with backoff,
//! reconciles sends interrupted by a crash, and records the provider's answer.

use crate::domain::{CallRecord, CaseRef, Decision, ProviderId, Receipt};
use crate::providers::{CallLog, Provider, ProviderError, Providers, Reconciled};
use crate::store::{self, Claim, OutboxRow, OutboxState, SentOutcome, Store, StoreError};
use chrono::{Duration as ChronoDuration, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    with_jitter(ChronoDuration::seconds((1i64 << attempts.min(9)).min(MAX_RETRY_DELAY_SECS)))
}

/// Adds up to a quarter again, at random: senders that failed together (a provider
/// outage) do not all come back in the same second.
fn with_jitter(delay: ChronoDuration) -> ChronoDuration {
    let ms = delay.num_milliseconds().max(0);
    delay + ChronoDuration::milliseconds(rand::random_range(0..=ms / 4))
}

/// How long a sender holds a decision without renewing its lease. A sender that dies
/// mid-call is taken over only after this, and a call whose answer was never seen is
/// reconciled no sooner: the provider may still be applying it. Longer than any one
/// HTTP attempt may take (`request_timeout_secs`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Failed attempts in a row after which a provider is degraded: its decisions wait,
/// and only a probe goes out now and then.
const DEGRADE_AFTER: u32 = 3;

/// From the first probe on: 15 s, doubling, at most 5 min between probes.
fn probe_delay(failures: u32) -> ChronoDuration {
    let n = failures.saturating_sub(DEGRADE_AFTER).min(5);
    with_jitter(ChronoDuration::seconds((15i64 << n).min(MAX_RETRY_DELAY_SECS)))
}

#[derive(Clone)]
pub struct Sender {
    store: Arc<dyn Store>,
    providers: Providers,
    /// This sender's name in the store's leases: one per process and sender.
    owner: String,
    lease: Duration,
}

/// How one claimed attempt ended.
enum Attempt {
    Delivered(Receipt),
    FoundApplied,
    CannotTell,
    Error { error: ProviderError, unknown: bool },
    LeaseLost,
}

/// Decisions delivered at once in one pass: enough to keep a provider's rate limit busy
/// over a slow link (Sumsub's 10 writes a second at 150 ms a round trip needs two).
const DELIVERIES_IN_FLIGHT: usize = 8;

impl Sender {
    pub fn new(store: Arc<dyn Store>, providers: Providers) -> Self {
        Self { store, providers, owner: uuid::Uuid::new_v4().to_string(), lease: DEFAULT_LEASE }
    }

    /// The lease (and so the wait before reconciling an unanswered call) this deployment
    /// configured (`[delivery] lease_secs`).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// One pass over what is due, including sends whose sender's lease ran out (it died
    /// mid-send). Decisions in their grace period wait.
    pub async fn deliver_due(&self) -> Result<Vec<Delivery>, StoreError> {
        let now = Utc::now();
        let rows = store::blocking(&self.store, move |s| s.due(now)).await?;
        self.deliver_rows(rows, false).await
    }

    /// Everything waiting, whenever its retry was planned (an analyst asked for it); a
    /// decision still in its grace period waits all the same, and so does one held back
    /// after a call of unknown outcome.
    pub async fn deliver_all_waiting(&self) -> Result<Vec<Delivery>, StoreError> {
        let now = Utc::now();
        let rows = store::blocking(&self.store, move |s| s.waiting(now)).await?;
        self.deliver_rows(rows, true).await
    }

    /// A degraded provider's decisions wait until its next probe is due (or an analyst
    /// asks for a send: `ignore_schedule`); then one goes out, the probe, and the rest of
    /// the pass only if it got through. Healthy providers' decisions go several at once
    /// (one case's in order), so a bulk decision is paced by the provider's rate limit,
    /// not by one round trip after another.
    async fn deliver_rows(&self, rows: Vec<OutboxRow>, ignore_schedule: bool) -> Result<Vec<Delivery>, StoreError> {
        use futures::StreamExt;
        let mut out = Vec::with_capacity(rows.len());
        let mut degraded = store::blocking(&self.store, |s| s.degraded()).await?;
        let (sick, healthy): (Vec<OutboxRow>, Vec<OutboxRow>) =
            rows.into_iter().partition(|row| degraded.iter().any(|d| d.provider == row.decision.case_ref.provider));
        let mut probed = std::collections::BTreeSet::new();
        for row in sick {
            let provider = row.decision.case_ref.provider;
            if let Some(d) = degraded.iter().find(|d| d.provider == provider) {
                if probed.contains(&provider) || (!ignore_schedule && Utc::now() < d.next_probe_at) {
                    continue;
                }
                tracing::info!(%provider, failures = d.failures, "probing a degraded provider");
                probed.insert(provider);
            }
            if let Some(done) = self.deliver(row, ignore_schedule).await? {
                out.push(done);
            }
            if probed.contains(&provider) {
                degraded = store::blocking(&self.store, |s| s.degraded()).await?;
            }
        }
        // Each case's rows in the order they came, cases in the order of their first.
        let mut by_case: Vec<Vec<OutboxRow>> = vec![];
        let mut position: HashMap<CaseRef, usize> = HashMap::new();
        for row in healthy {
            let next = by_case.len();
            let at = *position.entry(row.decision.case_ref.clone()).or_insert(next);
            match by_case.get_mut(at) {
                Some(rows) => rows.push(row),
                None => by_case.push(vec![row]),
            }
        }
        let cases = futures::stream::iter(by_case)
            .map(|rows| async move {
                let mut done = vec![];
                for row in rows {
                    done.push(self.deliver(row, ignore_schedule).await);
                }
                done
            })
            .buffer_unordered(DELIVERIES_IN_FLIGHT);
        // Every delivery started is let finish before an error is returned.
        let mut first_error = None;
        for result in cases.collect::<Vec<_>>().await.into_iter().flatten() {
            match result {
                Ok(Some(done)) => out.push(done),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(out), Err)
    }

    /// Keeps the provider's health: answers of any kind clear it; failures of the
    /// provider's own (unreachable, 5xx, rate limits) count towards degrading it.
    async fn note_health(&self, provider: ProviderId, attempt: &Attempt) -> Result<(), StoreError> {
        let failed = match attempt {
            Attempt::Delivered(_) | Attempt::FoundApplied | Attempt::CannotTell => None,
            Attempt::Error { error: ProviderError::Outbox { .. } | ProviderError::Config { .. }, .. } => return Ok(()),
            Attempt::Error { error, .. } if error.is_transient() => Some(error.to_string()),
            Attempt::Error { .. } => None,
            Attempt::LeaseLost => return Ok(()),
        };
        match failed {
            None => store::blocking(&self.store, move |s| s.provider_answered(provider)).await,
            Some(error) => {
                let failures = store::blocking(&self.store, move |s| {
                    // The wait before the next probe grows with the failures so far.
                    let health = s.degraded()?;
                    let failures = health.iter().find(|d| d.provider == provider).map_or(0, |d| d.failures) + 1;
                    s.provider_failed(provider, &error, DEGRADE_AFTER, Utc::now() + probe_delay(failures))
                })
                .await?;
                if failures == DEGRADE_AFTER {
                    tracing::warn!(%provider, failures, "provider degraded: its decisions wait for a probe to get through");
                }
                Ok(())
            }
        }
    }

    /// Delivers one decision now if it is past its grace period, whatever its retry
    /// schedule (used by `kycdesk decide`). `None`: not claimable (in its grace period,
    /// finished, held back, or another sender has it).
    pub async fn deliver_now(&self, decision_id: &str) -> Result<Option<Delivery>, StoreError> {
        let id = decision_id.to_string();
        let row = store::blocking(&self.store, move |s| s.outbox_row(&id)).await?;
        match row {
            Some(row) if matches!(row.state, OutboxState::Saved | OutboxState::Sending) => {
                self.deliver(row, true).await
            }
            _ => Ok(None),
        }
    }

    /// Claims the decision under a lease (skipping it if another sender holds it), then
    /// reconciles a call an earlier attempt left unanswered, sends what is not done, and
    /// records the answer.
    async fn deliver(&self, row: OutboxRow, ignore_schedule: bool) -> Result<Option<Delivery>, StoreError> {
        let decision = row.decision;
        let id = decision.id.clone();
        let case_ref = decision.case_ref.clone();
        let (i, owner, lease) = (id.clone(), self.owner.clone(), self.lease);
        let claim = store::blocking(&self.store, move |s| s.claim(&i, &owner, lease, ignore_schedule)).await?;
        let Some(claim) = claim else {
            tracing::debug!(decision = %id, "not claimable now; skipped");
            return Ok(None);
        };
        let attempts = row.attempts + 1;
        let attempt = match self.providers.get(case_ref.provider).cloned() {
            Some(provider) => self.attempt(provider.as_ref(), &decision, claim).await,
            None => Attempt::Error {
                error: ProviderError::Config {
                    provider: case_ref.provider,
                    detail: "not configured; the decision waits in the outbox".into(),
                },
                unknown: claim.in_flight,
            },
        };
        self.note_health(case_ref.provider, &attempt).await?;
        let finished = self.record(&id, &case_ref, attempts, attempt).await;
        match finished {
            Err(StoreError::LeaseLost(_)) => {
                tracing::warn!(decision = %id, "another sender took this decision over; left to it");
                Ok(None)
            }
            other => other,
        }
    }

    /// Runs one claimed attempt while a heartbeat keeps the lease; if the lease is lost
    /// (this process stalled past it and another sender took over), it stops.
    async fn attempt(&self, provider: &dyn Provider, decision: &Decision, claim: Claim) -> Attempt {
        let log = OutboxLog {
            store: Arc::clone(&self.store),
            decision_id: decision.id.clone(),
            provider: decision.case_ref.provider,
            owner: self.owner.clone(),
            lease: self.lease,
            done: claim.done.into_iter().collect(),
            lost: AtomicBool::new(false),
        };
        let work = async {
            if claim.in_flight {
                match provider.reconcile(decision).await {
                    Ok(Reconciled::Applied) => return Attempt::FoundApplied,
                    Ok(Reconciled::NotApplied) => {}
                    Ok(Reconciled::CannotTell) => return Attempt::CannotTell,
                    // Still unknown: the call stays in flight for the next attempt.
                    Err(error) => return Attempt::Error { unknown: true, error },
                }
            }
            match provider.decide(decision, &log).await {
                Ok(receipt) => Attempt::Delivered(receipt),
                Err(error) => Attempt::Error { unknown: error.outcome_unknown(), error },
            }
        };
        let heartbeat = async {
            loop {
                tokio::time::sleep(self.lease / 3).await;
                let (i, owner, lease) = (decision.id.clone(), self.owner.clone(), self.lease);
                match store::blocking(&self.store, move |s| s.renew_lease(&i, &owner, lease)).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    // A store hiccup: the next beat tries again while the lease lasts.
                    Err(e) => tracing::warn!(decision = %decision.id, "could not renew the lease: {e}"),
                }
            }
        };
        let attempt = tokio::select! {
            attempt = work => attempt,
            () = heartbeat => Attempt::LeaseLost,
        };
        if log.lost.load(Ordering::SeqCst) { Attempt::LeaseLost } else { attempt }
    }

    /// Writes how the attempt ended; `LeaseLost` if this sender no longer holds it.
    async fn record(
        &self,
        id: &str,
        case_ref: &CaseRef,
        attempts: u32,
        attempt: Attempt,
    ) -> Result<Option<Delivery>, StoreError> {
        let (decision_id, case_ref, i, owner) = (id.to_string(), case_ref.clone(), id.to_string(), self.owner.clone());
        match attempt {
            Attempt::LeaseLost => Err(StoreError::LeaseLost(decision_id)),
            Attempt::Delivered(receipt) => {
                let local_only = receipt.calls.is_empty() && receipt.escalate;
                let outcome = SentOutcome { escalate: receipt.escalate, found_applied: false };
                store::blocking(&self.store, move |s| s.mark_sent(&i, &owner, outcome)).await?;
                if local_only {
                    tracing::info!(decision = %decision_id, provider = %case_ref.provider, "escalated locally");
                    Ok(Some(Delivery::Escalated { decision_id, case_ref }))
                } else {
                    tracing::info!(decision = %decision_id, provider = %case_ref.provider, "delivered");
                    Ok(Some(Delivery::Sent { decision_id, case_ref }))
                }
            }
            Attempt::FoundApplied => {
                tracing::info!(decision = %decision_id, "found applied at the provider");
                let outcome = SentOutcome { escalate: false, found_applied: true };
                store::blocking(&self.store, move |s| s.mark_sent(&i, &owner, outcome)).await?;
                Ok(Some(Delivery::Sent { decision_id, case_ref }))
            }
            Attempt::CannotTell => {
                let error = format!(
                    "the last call to {provider} went unanswered and {provider} shows the case the same whether or \
                     not it arrived; check the case at {provider}, then `kycdesk outbox retry {case_ref}` sends it \
                     again or `kycdesk outbox drop` gives it up",
                    provider = case_ref.provider.display_name()
                );
                let e = error.clone();
                store::blocking(&self.store, move |s| s.mark_failed(&i, &owner, &e)).await?;
                tracing::warn!(decision = %decision_id, "outcome cannot be told; left to an analyst");
                Ok(Some(Delivery::Failed { decision_id, case_ref, error }))
            }
            Attempt::Error { error, unknown } if error.is_transient() => {
                let message = error.to_string();
                // After a call of unknown outcome, wait out the lease before reading the
                // case back: the provider may still be applying it.
                let settle = if unknown {
                    ChronoDuration::from_std(self.lease).unwrap_or(ChronoDuration::MAX)
                } else {
                    ChronoDuration::zero()
                };
                let retry_at = Utc::now() + retry_delay(attempts).max(settle);
                let e = message.clone();
                store::blocking(&self.store, move |s| s.mark_retry(&i, &owner, &e, retry_at, unknown)).await?;
                tracing::warn!(decision = %decision_id, attempts, unknown, "delivery failed; will retry");
                Ok(Some(Delivery::WillRetry { decision_id, case_ref, error: message }))
            }
            Attempt::Error { error, .. } => {
                let message = error.to_string();
                let e = message.clone();
                store::blocking(&self.store, move |s| s.mark_failed(&i, &owner, &e)).await?;
                tracing::warn!(decision = %decision_id, "delivery refused");
                Ok(Some(Delivery::Failed { decision_id, case_ref, error: message }))
            }
        }
    }

    /// Runs until the channel closes: a pass at start (taking sends a dead sender left),
    /// then a pass whenever a decision is saved or a retry falls due.
    pub async fn run(self, wake: Arc<Notify>, report: mpsc::UnboundedSender<Result<Delivery, StoreError>>) {
        loop {
            match self.deliver_due().await {
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

/// The outbox as the call log of one claimed decision.
struct OutboxLog {
    store: Arc<dyn Store>,
    decision_id: String,
    provider: ProviderId,
    owner: String,
    lease: Duration,
    done: HashMap<String, CallRecord>,
    /// Set when the store says another sender holds the decision now.
    lost: AtomicBool,
}

impl OutboxLog {
    fn error(&self, detail: String, answered: bool) -> ProviderError {
        ProviderError::Outbox { provider: self.provider, detail, answered }
    }
}

#[async_trait::async_trait]
impl CallLog for OutboxLog {
    fn done(&self, step: &str) -> Option<CallRecord> {
        self.done.get(step).cloned()
    }

    async fn starting(&self, step: &str) -> Result<(), ProviderError> {
        let (i, owner, st, lease) = (self.decision_id.clone(), self.owner.clone(), step.to_string(), self.lease);
        match store::blocking(&self.store, move |s| s.call_started(&i, &owner, &st, lease)).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.lost.store(true, Ordering::SeqCst);
                Err(self.error("another sender holds the decision now".into(), false))
            }
            Err(e) => Err(self.error(e.to_string(), false)),
        }
    }

    async fn finished(&self, step: &str, record: &CallRecord) -> Result<(), ProviderError> {
        let (i, owner, st, r) = (self.decision_id.clone(), self.owner.clone(), step.to_string(), record.clone());
        match store::blocking(&self.store, move |s| s.call_done(&i, &owner, &st, &r)).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.lost.store(true, Ordering::SeqCst);
                Err(self.error("another sender holds the decision now".into(), true))
            }
            // The call went through but is not recorded: its outcome is unknown.
            Err(e) => Err(self.error(e.to_string(), true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_is_capped_and_jittered() {
        let within = |d: ChronoDuration, base: i64| (base * 1000..=base * 1250).contains(&d.num_milliseconds());
        for _ in 0..100 {
            assert!(within(retry_delay(1), 2));
            assert!(within(retry_delay(4), 16));
            assert!(within(retry_delay(40), MAX_RETRY_DELAY_SECS));
            assert!(within(probe_delay(DEGRADE_AFTER), 15));
        }
        let spread: std::collections::HashSet<i64> = (0..20).map(|_| retry_delay(4).num_milliseconds()).collect();
        assert!(spread.len() > 1, "retries are spread out");
    }
}
