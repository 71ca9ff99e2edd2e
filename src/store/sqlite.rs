//! The embedded store: one SQLite file on local disk, WAL, `synchronous=FULL`.

use super::audit::{self, AuditKey, AuditRecord, AuditState, AuditedConn, append_audit};
use super::{
    AuditEntry, AuditReport, Claim, DegradedProvider, OutboxCounts, OutboxRow, OutboxState, QueueRead, SaveItem,
    SentOutcome, SkippedRow, Store, StoreError,
};
use crate::domain::identity::{IdentityKey, IdentityKind, RelatedCase, Standing};
use crate::domain::{
    CallRecord, CaseRef, Decision, Lane, ProviderId, QueueEntry, QueueStatus, Receipt, SafeText, TargetId,
};
use crate::providers::rate::Slot;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

// Every write transaction is IMMEDIATE: it takes the write lock up front and waits for it
// (busy timeout), instead of failing when a reader has to become a writer while another
// process (the inbox, a headless `decide`) commits.
pub(super) const MIGRATIONS: &[M<'static>] = &[
    M::up(
        "CREATE TABLE queue (
        case_ref TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        applicant TEXT NOT NULL,
        check_type TEXT NOT NULL,
        why_referred TEXT NOT NULL,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX queue_open ON queue(status, received_at);
    CREATE TABLE outbox (
        decision_id TEXT PRIMARY KEY,
        case_ref TEXT NOT NULL,
        target TEXT NOT NULL,
        decision TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        receipt TEXT,
        next_attempt_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
    CREATE INDEX outbox_case ON outbox(case_ref, target);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        analyst TEXT NOT NULL,
        action TEXT NOT NULL,
        case_ref TEXT NOT NULL,
        decision_id TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE watermark (
        provider TEXT PRIMARY KEY,
        at TEXT NOT NULL
    );",
    ),
    // Webhook deliveries already applied, so a repeated delivery changes nothing.
    M::up(
        "CREATE TABLE webhook_delivery (
        provider TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (provider, delivery_id)
    );",
    ),
    // Undo and lanes: when a sender may take a decision (the grace period), the case's
    // status before it (restored on withdraw), whether it decided its case, and how many
    // decisions existed when it was refused (a decision saved after that clears it).
    M::up(
        "ALTER TABLE outbox ADD COLUMN send_after TEXT NOT NULL DEFAULT '';
    UPDATE outbox SET send_after = created_at;
    ALTER TABLE outbox ADD COLUMN prior_status TEXT NOT NULL DEFAULT 'pending';
    ALTER TABLE outbox ADD COLUMN closes INTEGER NOT NULL DEFAULT 0;
    UPDATE outbox SET closes = 1 WHERE target = '{\"kind\":\"case\"}';
    ALTER TABLE outbox ADD COLUMN failed_seq INTEGER;
    UPDATE outbox SET failed_seq = rowid WHERE state = 'failed';",
    ),
    // Exactly-once delivery: a sender holds a decision under a lease (a dead sender's
    // lease runs out; a live one renews it), and each provider call is recorded as it
    // goes out and as it is answered, so a retry sends only what is not done and a call
    // whose answer was never seen is reconciled before anything is resent. A send left
    // `sending` by an older kycdesk is such a call.
    M::up(
        "ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
    ALTER TABLE outbox ADD COLUMN lease_until TEXT NOT NULL DEFAULT '';
    CREATE TABLE outbox_call (
        decision_id TEXT NOT NULL,
        step TEXT NOT NULL,
        seq INTEGER NOT NULL,
        state TEXT NOT NULL,
        record TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (decision_id, step)
    );
    INSERT INTO outbox_call (decision_id, step, seq, state, at)
        SELECT decision_id, 'interrupted', 0, 'started', updated_at FROM outbox WHERE state = 'sending';",
    ),
    // Providers whose deliveries keep failing, shared by every kycdesk process on the
    // store: `degraded_since` is set from the threshold on.
    M::up(
        "CREATE TABLE provider_health (
        provider TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        degraded_since TEXT,
        next_probe_at TEXT NOT NULL,
        last_error TEXT NOT NULL
    );",
    ),
    // The keyed audit log (store/audit.rs): each record's hash scheme (the records before
    // it stay `sha256`), its position in the chain, and an index for the outbox check.
    M::up(
        "ALTER TABLE audit ADD COLUMN scheme TEXT NOT NULL DEFAULT 'sha256';
    ALTER TABLE audit ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE audit SET seq = r.n FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM audit) AS r
        WHERE r.id = audit.id;
    CREATE INDEX audit_decision ON audit(decision_id, action);",
    ),
    // Related cases: who each loaded case is about, as digests keyed with the audit key
    // (store/audit.rs), never in clear. A case's keys go with it: once neither the queue
    // nor the outbox holds it, nothing is kept about its applicant.
    M::up(
        "CREATE TABLE identity_key (
        case_ref TEXT NOT NULL,
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (case_ref, digest)
    );
    CREATE INDEX identity_key_digest ON identity_key(digest);
    CREATE TRIGGER identity_key_queue_gone AFTER DELETE ON queue
    BEGIN
        DELETE FROM identity_key WHERE case_ref = old.case_ref
            AND NOT EXISTS (SELECT 1 FROM outbox WHERE case_ref = old.case_ref);
    END;
    CREATE TRIGGER identity_key_outbox_gone AFTER DELETE ON outbox
    BEGIN
        DELETE FROM identity_key WHERE case_ref = old.case_ref
            AND NOT EXISTS (SELECT 1 FROM outbox WHERE case_ref = old.case_ref)
            AND NOT EXISTS (SELECT 1 FROM queue WHERE case_ref = old.case_ref);
    END;",
    ),
    // Which cases have had their identity read (with or without keys), so intake reads
    // each new case's details once. It goes with the case, as its keys do.
    M::up(
        "CREATE TABLE identity_read (case_ref TEXT PRIMARY KEY);
    INSERT OR IGNORE INTO identity_read SELECT DISTINCT case_ref FROM identity_key;
    CREATE TRIGGER identity_read_queue_gone AFTER DELETE ON queue
    BEGIN
        DELETE FROM identity_read WHERE case_ref = old.case_ref
            AND NOT EXISTS (SELECT 1 FROM outbox WHERE case_ref = old.case_ref);
    END;
    CREATE TRIGGER identity_read_outbox_gone AFTER DELETE ON outbox
    BEGIN
        DELETE FROM identity_read WHERE case_ref = old.case_ref
            AND NOT EXISTS (SELECT 1 FROM outbox WHERE case_ref = old.case_ref)
            AND NOT EXISTS (SELECT 1 FROM queue WHERE case_ref = old.case_ref);
    END;",
    ),
];

/// A case goes back to the queue only if no other decision that decides it still stands
/// (`?4` is the decision being taken back).
/// A delivered escalation moved the case to the escalated lane; it decided nothing.
const NO_OTHER_CLOSING: &str = "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.case_ref = queue.case_ref
    AND o.decision_id != ?4 AND o.closes = 1 AND o.state IN ('saved', 'sending', 'sent')
    AND NOT (o.state = 'sent' AND COALESCE(json_extract(o.receipt, '$.escalate'), 0) = 1))";

/// Sortable, fixed-width UTC timestamps.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(super) fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp '{s}': {e}")))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub struct SqliteStore {
    conn: Mutex<Connection>,
    pub(super) audit: AuditState,
    /// The providers' shared send log (`<store>.rates`): a file of its own, so the
    /// bookings of every request neither wait for the store's disk syncs nor wake every
    /// reader of `data_version`. None when opened read-only, or when it cannot be opened:
    /// the store's data never waits on it.
    rates: Option<Mutex<Connection>>,
}

/// Send times, microseconds since the epoch, per rate budget. Losing it loses at most
/// a second's bookings; a 429 after that is waited out.
const RATES_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rate_send (budget TEXT NOT NULL, at_us INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS rate_send_budget ON rate_send(budget, at_us);";

fn open_rates(conn: Connection) -> Result<Mutex<Connection>, StoreError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(RATES_SCHEMA)?;
    Ok(Mutex::new(conn))
}

struct QueueRow {
    case_ref: String,
    applicant: String,
    check_type: String,
    why_referred: String,
    received_at: String,
    status: String,
    refusal: Option<String>,
    closing_state: Option<String>,
    closing_error: Option<String>,
}

fn queue_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<QueueRow> {
    Ok(QueueRow {
        case_ref: row.get(0)?,
        applicant: row.get(1)?,
        check_type: row.get(2)?,
        why_referred: row.get(3)?,
        received_at: row.get(4)?,
        status: row.get(5)?,
        refusal: row.get(6)?,
        closing_state: row.get(7)?,
        closing_error: row.get(8)?,
    })
}

/// The entry with its lane, and whether it belongs in the working queue.
fn to_entry(raw: QueueRow) -> Result<(QueueEntry, bool), StoreError> {
    let status =
        QueueStatus::parse(&raw.status).ok_or_else(|| StoreError::Corrupt(format!("queue status '{}'", raw.status)))?;
    let closing = raw
        .closing_state
        .as_deref()
        .map(|s| OutboxState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("outbox state '{s}'"))))
        .transpose()?;
    let (lane, note, open) = match status {
        QueueStatus::Pending => match raw.refusal {
            Some(refusal) => (Lane::Refused, Some(SafeText::new(&refusal)), true),
            None => (Lane::New, None, true),
        },
        QueueStatus::Escalated => (Lane::Escalated, None, true),
        QueueStatus::Decided => {
            let waiting = matches!(closing, Some(OutboxState::Saved | OutboxState::Sending));
            let retrying = closing == Some(OutboxState::Saved);
            let note = raw.closing_error.filter(|_| retrying).map(|e| SafeText::new(&e));
            (Lane::Awaiting, note, waiting)
        }
        QueueStatus::Closed => (Lane::New, None, false),
    };
    let entry = QueueEntry {
        case_ref: raw.case_ref.parse().map_err(|e| StoreError::Corrupt(format!("queue reference: {e}")))?,
        applicant: SafeText::new(&raw.applicant),
        check_type: SafeText::new(&raw.check_type),
        why_referred: SafeText::new(&raw.why_referred),
        received_at: parse_ts(&raw.received_at)?,
        status,
        lane,
        note,
    };
    Ok((entry, open))
}

fn upsert_in(tx: &Transaction<'_>, entries: &[QueueEntry]) -> Result<usize, StoreError> {
    let mut new = 0;
    let now = ts(Utc::now());
    for e in entries {
        let changed = tx.execute(
            "INSERT INTO queue (case_ref, provider, applicant, check_type, why_referred, received_at, status, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(case_ref) DO NOTHING",
            params![
                e.case_ref.to_string(),
                e.case_ref.provider.as_str(),
                e.applicant.as_str(),
                e.check_type.as_str(),
                e.why_referred.as_str(),
                ts(e.received_at),
                e.status.as_str(),
                now
            ],
        )?;
        if changed == 1 {
            new += 1;
        } else {
            // A closed case referred again may be about someone else now: read it again.
            tx.execute(
                "DELETE FROM identity_read WHERE case_ref = ?1
                     AND EXISTS (SELECT 1 FROM queue WHERE case_ref = ?1 AND status = 'closed')",
                [e.case_ref.to_string()],
            )?;
            tx.execute(
                "UPDATE queue SET applicant = ?2, check_type = ?3, why_referred = ?4, updated_at = ?5,
                    status = CASE WHEN status = 'closed' THEN 'pending' ELSE status END
                 WHERE case_ref = ?1",
                params![
                    e.case_ref.to_string(),
                    e.applicant.as_str(),
                    e.check_type.as_str(),
                    e.why_referred.as_str(),
                    now
                ],
            )?;
        }
    }
    Ok(new)
}

/// A pending case with a hit or element decided in kycdesk (and not taken back) stays
/// open when the provider stops referring it: the analyst settles the rest knowingly.
const NOT_PARTLY_DECIDED: &str = "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.case_ref = queue.case_ref
      AND o.state IN ('saved', 'sending', 'sent') AND o.target != '{\"kind\":\"case\"}')";

fn settle_in(tx: &Transaction<'_>, refs: &[CaseRef]) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE queue SET status = 'closed' WHERE case_ref = ?1 AND status = 'pending' AND {NOT_PARTLY_DECIDED}"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    for r in refs {
        stmt.execute([r.to_string()])?;
    }
    Ok(())
}

/// Queue columns (table alias `q`), then what the lanes are derived from: the refusal
/// not yet answered by a later decision, and the state and error of the decision that
/// decided the case.
const QUEUE_COLUMNS: &str = "q.case_ref, q.applicant, q.check_type, q.why_referred, q.received_at, q.status,
    (SELECT COALESCE(f.last_error, '') FROM outbox f WHERE f.case_ref = q.case_ref AND f.state = 'failed'
        AND NOT EXISTS (SELECT 1 FROM outbox d WHERE d.case_ref = f.case_ref AND d.rowid > f.failed_seq
                        AND d.state != 'withdrawn')
        ORDER BY f.rowid DESC LIMIT 1),
    (SELECT c.state FROM outbox c WHERE c.case_ref = q.case_ref AND c.closes = 1
        AND c.state NOT IN ('withdrawn', 'dropped') ORDER BY c.rowid DESC LIMIT 1),
    (SELECT c.last_error FROM outbox c WHERE c.case_ref = q.case_ref AND c.closes = 1
        AND c.state NOT IN ('withdrawn', 'dropped') ORDER BY c.rowid DESC LIMIT 1)";

const OUTBOX_COLUMNS: &str = "decision, state, attempts, last_error, next_attempt_at, send_after";

/// What the store knows of one decision's row beyond the decision itself.
struct OutboxFacts {
    case_ref: String,
    target: String,
    state: OutboxState,
    attempts: u32,
    closes: bool,
    prior_status: String,
    decision: Decision,
}

fn facts(tx: &Transaction<'_>, decision_id: &str) -> Result<OutboxFacts, StoreError> {
    let raw = tx
        .query_row(
            "SELECT case_ref, target, state, attempts, closes, prior_status, decision FROM outbox WHERE decision_id = ?1",
            [decision_id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            },
        )
        .optional()?;
    let Some((case_ref, target, state, attempts, closes, prior_status, decision)) = raw else {
        return Err(StoreError::UnknownDecision(decision_id.to_string()));
    };
    Ok(OutboxFacts {
        case_ref,
        target,
        state: OutboxState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("outbox state '{state}'")))?,
        attempts,
        closes,
        prior_status,
        decision: from_json(&decision)?,
    })
}

/// Whether the target already has a decision that counts, other than `except`: not
/// failed, withdrawn or dropped, and not an escalation already delivered (an escalated
/// case waits for a senior reviewer's decision).
fn has_open_decision(tx: &Transaction<'_>, case_ref: &str, target: &str, except: &str) -> Result<bool, StoreError> {
    let open: i64 = tx.query_row(
        "SELECT COUNT(*) FROM outbox WHERE case_ref = ?1 AND target = ?2 AND decision_id != ?3
           AND state NOT IN ('failed', 'withdrawn', 'dropped')
           AND NOT (state = 'sent' AND COALESCE(json_extract(receipt, '$.escalate'), 0) = 1)",
        params![case_ref, target, except],
        |r| r.get(0),
    )?;
    Ok(open > 0)
}

impl SqliteStore {
    /// The store is created 0600 in a 0700 directory before SQLite opens it: SQLite
    /// gives its `-wal`, `-shm` and `-journal` the database's mode, and they are set
    /// 0600 after opening too. A store others can read is refused.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        crate::private_fs::prepare_parent(path)?;
        crate::private_fs::ensure_file(path)?;
        let mut rates_path = path.as_os_str().to_owned();
        rates_path.push(".rates");
        let rates_path = std::path::PathBuf::from(rates_path);
        crate::private_fs::ensure_file(&rates_path)?;
        // A rate log that cannot be opened (damaged, say) leaves each process its own
        // limiter, as before there was one; it never keeps the store from opening.
        let rates = Connection::open(&rates_path).map_err(StoreError::from).and_then(open_rates);
        let rates =
            rates.inspect_err(|e| tracing::warn!(error = %e, "rate log unavailable; each process keeps its own")).ok();
        let store = Self::setup(Connection::open(path)?, rates)?;
        for file in [path, rates_path.as_path()] {
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut companion = file.as_os_str().to_owned();
                companion.push(suffix);
                crate::private_fs::tighten(Path::new(&companion))?;
            }
        }
        Ok(store)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?, Some(open_rates(Connection::open_in_memory()?)?))
    }

    fn setup(mut conn: Connection, rates: Option<Mutex<Connection>>) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL on local disk; FULL so a committed decision survives power loss too.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn)?;
        Ok(Self { conn: Mutex::new(conn), audit: AuditState::default(), rates })
    }

    /// For reading only (`audit verify`, `audit export`): a missing store is an error,
    /// nothing is created or migrated, and nothing is written.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::NoStore(path.display().to_string()));
        }
        crate::private_fs::check_private(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Self { conn: Mutex::new(conn), audit: AuditState::read_only(path), rates: None })
    }

    /// The key of the audit chain and its anchor (`<store>.anchor`): records are keyed
    /// from now on, and a writable store without an anchor gets one.
    pub fn with_audit_key(mut self, key: AuditKey) -> Result<Self, StoreError> {
        let conn = self.conn.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.audit.set_key(conn, key)?;
        Ok(self)
    }

    fn conn(&self) -> AuditedConn<'_> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions
        // roll back), so a poisoned lock is safe to keep using.
        AuditedConn::new(self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner()), &self.audit)
    }

    fn read_outbox(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawOutbox> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
    }

    fn to_outbox(raw: RawOutbox) -> Result<OutboxRow, StoreError> {
        let (decision, state, attempts, last_error, next, send_after) = raw;
        Ok(OutboxRow {
            decision: from_json(&decision)?,
            state: OutboxState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("outbox state '{state}'")))?,
            attempts,
            last_error,
            next_attempt_at: parse_ts(&next)?,
            send_after: parse_ts(&send_after)?,
        })
    }

    fn outbox_rows(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<OutboxRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, Self::read_outbox)?;
        rows.map(|r| Self::to_outbox(r?)).collect()
    }

    /// Moves a claimed decision on; refuses one `owner` does not hold. `sql` gets the
    /// decision id as ?1 and the owner as ?2, and must check both.
    fn finish_claimed(
        tx: &Transaction<'_>,
        decision_id: &str,
        action: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<(), StoreError> {
        if tx.execute(sql, params)? == 1 {
            return Ok(());
        }
        let state = facts(tx, decision_id)?.state;
        if state == OutboxState::Sending {
            return Err(StoreError::LeaseLost(decision_id.to_string()));
        }
        Err(StoreError::WrongState { decision_id: decision_id.to_string(), state, allowed: "sending", action })
    }

    /// Whether `owner` still holds the decision; renews its lease if so.
    fn hold(tx: &Transaction<'_>, decision_id: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let changed = tx.execute(
            "UPDATE outbox SET lease_until = ?3 WHERE decision_id = ?1 AND state = 'sending' AND lease_owner = ?2",
            params![decision_id, owner, ts(Utc::now() + lease_span(lease))],
        )?;
        Ok(changed == 1)
    }
}

fn lease_span(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

/// Calls of one decision that never saw an answer.
fn forget_in_flight(tx: &Transaction<'_>, decision_id: &str) -> Result<(), StoreError> {
    tx.execute("DELETE FROM outbox_call WHERE decision_id = ?1 AND state = 'started'", [decision_id])?;
    Ok(())
}

fn has_in_flight(tx: &Transaction<'_>, decision_id: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM outbox_call WHERE decision_id = ?1 AND state = 'started' LIMIT 1",
            [decision_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn done_calls(tx: &Transaction<'_>, decision_id: &str) -> Result<Vec<(String, CallRecord)>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "SELECT step, record FROM outbox_call WHERE decision_id = ?1 AND state = 'done' ORDER BY seq",
    )?;
    let rows = stmt.query_map([decision_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    rows.map(|r| {
        let (step, record) = r?;
        Ok((step, from_json(&record)?))
    })
    .collect()
}

type RawOutbox = (String, String, u32, Option<String>, String, String);

/// Where a related case stands: in the working queue (unless it is there only to wait
/// for its decision's delivery), else decided by its last standing decision, else neither.
fn standing_of(tx: &Transaction<'_>, case_ref: &str) -> Result<(Option<SafeText>, Standing), StoreError> {
    let raw = tx
        .query_row(&format!("SELECT {QUEUE_COLUMNS} FROM queue q WHERE q.case_ref = ?1"), [case_ref], queue_row)
        .optional()?;
    let queued = match raw.map(to_entry).transpose() {
        Ok(queued) => queued,
        Err(e) => {
            // One unreadable row hides that case's standing, not the other related cases.
            tracing::warn!(row = %SafeText::new(case_ref), "related case's queue row unreadable: {e}");
            None
        }
    };
    let last: Option<String> = tx
        .query_row(
            "SELECT decision FROM outbox WHERE case_ref = ?1 AND state IN ('saved', 'sending', 'sent')
             ORDER BY rowid DESC LIMIT 1",
            [case_ref],
            |r| r.get(0),
        )
        .optional()?;
    let last: Option<Decision> = last.as_deref().map(from_json).transpose()?;
    let applicant = queued.as_ref().map(|(entry, _)| entry.applicant.clone());
    let lane = queued.and_then(|(entry, open)| open.then_some(entry.lane));
    let standing = match (lane, last) {
        (Some(lane), _) if lane != Lane::Awaiting => Standing::Queued(lane),
        (_, Some(d)) => Standing::Decided { verdict: d.verdict, at: d.created_at },
        (Some(lane), None) => Standing::Queued(lane),
        (None, None) => Standing::Settled,
    };
    Ok((applicant, standing))
}

impl Store for SqliteStore {
    fn upsert_queue(&self, entries: &[QueueEntry]) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let new = upsert_in(&tx, entries)?;
        tx.commit()?;
        Ok(new)
    }

    fn settle(&self, refs: &[CaseRef]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        settle_in(&tx, refs)?;
        tx.commit()?;
        Ok(())
    }

    fn settle_missing(&self, provider: ProviderId, keep: &[CaseRef]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("CREATE TEMP TABLE IF NOT EXISTS keep_refs (case_ref TEXT PRIMARY KEY)", [])?;
        tx.execute("DELETE FROM keep_refs", [])?;
        for r in keep {
            tx.execute("INSERT OR IGNORE INTO keep_refs (case_ref) VALUES (?1)", [r.to_string()])?;
        }
        tx.execute(
            &format!(
                "UPDATE queue SET status = 'closed' WHERE provider = ?1 AND status = 'pending'
                   AND case_ref NOT IN (SELECT case_ref FROM keep_refs) AND {NOT_PARTLY_DECIDED}"
            ),
            [provider.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn read_queue(&self) -> Result<QueueRead, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS}, q.rowid FROM queue q WHERE q.status IN ('pending', 'escalated', 'decided')"
        ))?;
        // A row whose values cannot be read as text is that row's problem, not the
        // query's: it comes back as a skipped row, and the others are still read.
        let rows = stmt.query_map([], |row| {
            Ok(queue_row(row).map_err(|e| {
                let name = match row.get_ref(0) {
                    Ok(rusqlite::types::ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned(),
                    _ => format!("row {}", row.get::<_, i64>(9).unwrap_or_default()),
                };
                SkippedRow::new(&name, &e.to_string())
            }))
        })?;
        let mut read = QueueRead::default();
        for row in rows {
            let raw = match row? {
                Ok(raw) => raw,
                Err(skipped) => {
                    read.skipped.push(skipped);
                    continue;
                }
            };
            let name = raw.case_ref.clone();
            match to_entry(raw) {
                Ok((entry, true)) => read.entries.push(entry),
                Ok((_, false)) => {}
                Err(e) => read.skipped.push(SkippedRow::new(&name, &e.to_string())),
            }
        }
        for s in &read.skipped {
            tracing::warn!(row = %s.row, why = %s.why, "unreadable queue row skipped");
        }
        read.entries.sort_by(|a, b| {
            (a.lane, a.received_at, a.case_ref.to_string()).cmp(&(b.lane, b.received_at, b.case_ref.to_string()))
        });
        Ok(read)
    }

    fn queue_entry(&self, case_ref: &CaseRef) -> Result<Option<QueueEntry>, StoreError> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!("SELECT {QUEUE_COLUMNS} FROM queue q WHERE q.case_ref = ?1"),
                [case_ref.to_string()],
                queue_row,
            )
            .optional()?;
        Ok(raw.map(to_entry).transpose()?.map(|(entry, _)| entry))
    }

    fn save_decisions(&self, items: &[SaveItem], send_after: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The status each case had before this action: what an undo returns it to.
        let mut prior: HashMap<String, String> = HashMap::new();
        for item in items {
            let case_ref = item.decision.case_ref.to_string();
            if let std::collections::hash_map::Entry::Vacant(slot) = prior.entry(case_ref) {
                let status: Option<String> = tx
                    .query_row("SELECT status FROM queue WHERE case_ref = ?1", [slot.key()], |r| r.get(0))
                    .optional()?;
                slot.insert(status.unwrap_or_else(|| QueueStatus::Pending.as_str().to_string()));
            }
        }
        let send_after_ts = ts(send_after);
        for SaveItem { decision, evidence, closes_case } in items {
            let case_ref = decision.case_ref.to_string();
            let target = json(&decision.target)?;
            if has_open_decision(&tx, &case_ref, &target, &decision.id)? {
                return Err(StoreError::AlreadyDecided(decision.case_ref.clone()));
            }
            let closes = decision.target == TargetId::Case || *closes_case;
            let prior_status = prior.get(&case_ref).map_or(QueueStatus::Pending.as_str(), String::as_str);
            let now = ts(decision.created_at);
            tx.execute(
                "INSERT INTO outbox (decision_id, case_ref, target, decision, state, next_attempt_at, created_at,
                                     updated_at, send_after, prior_status, closes)
                 VALUES (?1, ?2, ?3, ?4, 'saved', ?5, ?5, ?5, ?6, ?7, ?8)",
                params![decision.id, case_ref, target, json(decision)?, now, send_after_ts, prior_status, closes],
            )?;
            if closes {
                tx.execute(
                    "UPDATE queue SET status = 'decided', updated_at = ?2 WHERE case_ref = ?1",
                    params![case_ref, now],
                )?;
            }
            let detail = serde_json::json!({
                "target": decision.target,
                "verdict": decision.verdict,
                "reason": decision.reason,
                "reason_codes": decision.reason_codes,
                "evidence": evidence,
                "closes_case": closes,
                "send_after": send_after_ts,
            });
            append_audit(
                &tx,
                AuditRecord {
                    at: decision.created_at,
                    analyst: &decision.analyst,
                    action: "decided",
                    case_ref: &case_ref,
                    decision_id: Some(&decision.id),
                    detail: detail.to_string(),
                },
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn withdraw(&self, decision_ids: &[String], analyst: &str) -> Result<Vec<CaseRef>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = Utc::now();
        let mut cases: Vec<CaseRef> = Vec::new();
        for id in decision_ids {
            let row = facts(&tx, id)?;
            // Saved and never attempted: no sender has had it.
            if row.state != OutboxState::Saved || row.attempts > 0 {
                let state = if row.state == OutboxState::Saved { OutboxState::Sending } else { row.state };
                return Err(StoreError::TooLate { decision_id: id.clone(), state });
            }
            let changed = tx.execute(
                "UPDATE outbox SET state = 'withdrawn', updated_at = ?2 WHERE decision_id = ?1 AND state = 'saved'",
                params![id, ts(now)],
            )?;
            if changed != 1 {
                return Err(StoreError::TooLate { decision_id: id.clone(), state: OutboxState::Sending });
            }
            if row.closes {
                tx.execute(
                    &format!(
                        "UPDATE queue SET status = ?2, updated_at = ?3 WHERE case_ref = ?1 AND status = 'decided'
                         AND {NO_OTHER_CLOSING}"
                    ),
                    params![row.case_ref, row.prior_status, ts(now), id],
                )?;
            }
            let detail = serde_json::json!({
                "target": row.decision.target,
                "verdict": row.decision.verdict,
                "restored_status": row.prior_status,
            });
            append_audit(
                &tx,
                AuditRecord {
                    at: now,
                    analyst,
                    action: "withdrawn",
                    case_ref: &row.case_ref,
                    decision_id: Some(id),
                    detail: detail.to_string(),
                },
            )?;
            if !cases.contains(&row.decision.case_ref) {
                cases.push(row.decision.case_ref);
            }
        }
        tx.commit()?;
        Ok(cases)
    }

    fn outbox_list(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.outbox_rows(&format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY rowid DESC LIMIT ?1"), [limit])
    }

    fn decisions_for(&self, case_ref: &CaseRef) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_rows(
            &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE case_ref = ?1 ORDER BY rowid"),
            [case_ref.to_string()],
        )
    }

    fn retry_decision(&self, decision_id: &str, analyst: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = facts(&tx, decision_id)?;
        if row.state != OutboxState::Failed {
            return Err(StoreError::WrongState {
                decision_id: decision_id.to_string(),
                state: row.state,
                allowed: "failed",
                action: "retried",
            });
        }
        if has_open_decision(&tx, &row.case_ref, &row.target, decision_id)? {
            return Err(StoreError::AlreadyDecided(row.decision.case_ref));
        }
        // The analyst asks for a resend knowing what the provider shows: a call left
        // unanswered is not reconciled again.
        forget_in_flight(&tx, decision_id)?;
        let now = ts(Utc::now());
        tx.execute(
            "UPDATE outbox SET state = 'saved', last_error = NULL, failed_seq = NULL, next_attempt_at = ?2,
                    send_after = MIN(send_after, ?2), updated_at = ?2
             WHERE decision_id = ?1",
            params![decision_id, now],
        )?;
        if row.closes {
            tx.execute(
                "UPDATE queue SET status = 'decided', updated_at = ?2 WHERE case_ref = ?1 AND status != 'closed'",
                params![row.case_ref, now],
            )?;
        }
        append_audit(
            &tx,
            AuditRecord {
                at: Utc::now(),
                analyst,
                action: "retried",
                case_ref: &row.case_ref,
                decision_id: Some(decision_id),
                detail: serde_json::json!({ "target": row.decision.target, "verdict": row.decision.verdict })
                    .to_string(),
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    fn drop_decision(&self, decision_id: &str, analyst: &str, reason: &str) -> Result<(), StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::ReasonRequired);
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = facts(&tx, decision_id)?;
        if !matches!(row.state, OutboxState::Failed | OutboxState::Saved) {
            return Err(StoreError::WrongState {
                decision_id: decision_id.to_string(),
                state: row.state,
                allowed: "failed or unclaimed saved",
                action: "dropped",
            });
        }
        if row.state == OutboxState::Saved && has_in_flight(&tx, decision_id)? {
            return Err(StoreError::InFlight(decision_id.to_string()));
        }
        let now = Utc::now();
        // The state is checked again in the update: a sender may not claim it meanwhile.
        let changed = tx.execute(
            "UPDATE outbox SET state = 'dropped', updated_at = ?3 WHERE decision_id = ?1 AND state = ?2",
            params![decision_id, row.state.as_str(), ts(now)],
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("decision {decision_id} changed while being dropped")));
        }
        if row.closes {
            tx.execute(
                &format!(
                    "UPDATE queue SET status = 'pending', updated_at = ?2 WHERE case_ref = ?1 AND status = 'decided'
                     AND {NO_OTHER_CLOSING}"
                ),
                params![row.case_ref, ts(now), "", decision_id],
            )?;
        }
        let detail = serde_json::json!({
            "target": row.decision.target,
            "verdict": row.decision.verdict,
            "was": row.state.as_str(),
            "reason": reason,
        });
        append_audit(
            &tx,
            AuditRecord {
                at: now,
                analyst,
                action: "dropped",
                case_ref: &row.case_ref,
                decision_id: Some(decision_id),
                detail: detail.to_string(),
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    fn due(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_rows(
            &format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox
                 WHERE (state = 'saved' AND next_attempt_at <= ?1 AND send_after <= ?1 AND lease_until <= ?1)
                    OR (state = 'sending' AND lease_until <= ?1)
                 ORDER BY created_at, decision_id"
            ),
            [ts(now)],
        )
    }

    fn waiting(&self, now: DateTime<Utc>) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_rows(
            &format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox
                 WHERE (state = 'saved' AND send_after <= ?1) OR state = 'sending'
                 ORDER BY created_at, decision_id"
            ),
            [ts(now)],
        )
    }

    fn outbox_row(&self, decision_id: &str) -> Result<Option<OutboxRow>, StoreError> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE decision_id = ?1"),
                [decision_id],
                Self::read_outbox,
            )
            .optional()?;
        raw.map(Self::to_outbox).transpose()
    }

    fn claim(
        &self,
        decision_id: &str,
        owner: &str,
        lease: Duration,
        ignore_schedule: bool,
    ) -> Result<Option<Claim>, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE: the check and the take happen under SQLite's write lock, so of two
        // senders (two processes) only one sees the decision claimable.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = Utc::now();
        let changed = tx.execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, lease_owner = ?2, lease_until = ?3,
                    updated_at = ?4
             WHERE decision_id = ?1 AND lease_until <= ?4
               AND ((state = 'saved' AND send_after <= ?4 AND (?5 OR next_attempt_at <= ?4)) OR state = 'sending')",
            params![decision_id, owner, ts(now + lease_span(lease)), ts(now), ignore_schedule],
        )?;
        if changed != 1 {
            return Ok(None);
        }
        let claim = Claim { in_flight: has_in_flight(&tx, decision_id)?, done: done_calls(&tx, decision_id)? };
        tx.commit()?;
        Ok(Some(claim))
    }

    fn renew_lease(&self, decision_id: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = Self::hold(&tx, decision_id, owner, lease)?;
        tx.commit()?;
        Ok(held)
    }

    fn call_started(&self, decision_id: &str, owner: &str, step: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !Self::hold(&tx, decision_id, owner, lease)? {
            return Ok(false);
        }
        // One call is in flight at a time: an older unanswered one was reconciled.
        forget_in_flight(&tx, decision_id)?;
        tx.execute(
            "INSERT INTO outbox_call (decision_id, step, seq, state, at)
             VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox_call WHERE decision_id = ?1), 'started', ?3)
             ON CONFLICT (decision_id, step) DO NOTHING",
            params![decision_id, step, ts(Utc::now())],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn call_done(&self, decision_id: &str, owner: &str, step: &str, record: &CallRecord) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held: Option<String> = tx
            .query_row(
                "SELECT decision FROM outbox WHERE decision_id = ?1 AND state = 'sending' AND lease_owner = ?2",
                params![decision_id, owner],
                |r| r.get(0),
            )
            .optional()?;
        let Some(decision) = held else { return Ok(false) };
        let decision: Decision = from_json(&decision)?;
        let now = Utc::now();
        let changed = tx.execute(
            "UPDATE outbox_call SET state = 'done', record = ?3, at = ?4
             WHERE decision_id = ?1 AND step = ?2 AND state = 'started'",
            params![decision_id, step, json(record)?, ts(now)],
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("call {step} of decision {decision_id} was not in flight")));
        }
        append_audit(
            &tx,
            AuditRecord {
                at: now,
                analyst: &decision.analyst,
                action: "delivered",
                case_ref: &decision.case_ref.to_string(),
                decision_id: Some(decision_id),
                detail: json(record)?,
            },
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn mark_sent(&self, decision_id: &str, owner: &str, outcome: SentOutcome) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = Utc::now();
        let calls = done_calls(&tx, decision_id)?.into_iter().map(|(_, record)| record).collect();
        let receipt = Receipt { calls, escalate: outcome.escalate };
        // Delivered without a call of kycdesk's: the provider showed it applied already.
        let already_applied = outcome.found_applied || (receipt.calls.is_empty() && !outcome.escalate);
        Self::finish_claimed(
            &tx,
            decision_id,
            "marked sent",
            "UPDATE outbox SET state = 'sent', receipt = ?3, last_error = NULL, lease_owner = NULL, lease_until = '',
                    updated_at = ?4
             WHERE decision_id = ?1 AND state = 'sending' AND lease_owner = ?2",
            params![decision_id, owner, json(&receipt)?, ts(now)],
        )?;
        forget_in_flight(&tx, decision_id)?;
        let decision = facts(&tx, decision_id)?.decision;
        let case_ref = decision.case_ref.to_string();
        if outcome.escalate {
            tx.execute(
                "UPDATE queue SET status = 'escalated', updated_at = ?2 WHERE case_ref = ?1",
                params![case_ref, ts(now)],
            )?;
        }
        // Each call was audited as it was answered ("delivered"); these are the rest.
        if already_applied {
            append_audit(
                &tx,
                AuditRecord {
                    at: now,
                    analyst: &decision.analyst,
                    action: "delivered",
                    case_ref: &case_ref,
                    decision_id: Some(decision_id),
                    detail: serde_json::json!({"found_applied": true}).to_string(),
                },
            )?;
        }
        if outcome.escalate {
            append_audit(
                &tx,
                AuditRecord {
                    at: now,
                    analyst: &decision.analyst,
                    action: "escalated",
                    case_ref: &case_ref,
                    decision_id: Some(decision_id),
                    detail: json(&decision.reason)?,
                },
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn mark_retry(
        &self,
        decision_id: &str,
        owner: &str,
        error: &str,
        retry_at: DateTime<Utc>,
        outcome_unknown: bool,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // An unknown outcome holds the decision back from every sender until `retry_at`
        // (the provider may still be applying the call), then it is reconciled.
        let held_until = if outcome_unknown { ts(retry_at) } else { String::new() };
        Self::finish_claimed(
            &tx,
            decision_id,
            "put back to retry",
            "UPDATE outbox SET state = 'saved', last_error = ?3, next_attempt_at = ?4, lease_owner = NULL,
                    lease_until = ?5, updated_at = ?6
             WHERE decision_id = ?1 AND state = 'sending' AND lease_owner = ?2",
            params![decision_id, owner, error, ts(retry_at), held_until, ts(Utc::now())],
        )?;
        if !outcome_unknown {
            forget_in_flight(&tx, decision_id)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn mark_failed(&self, decision_id: &str, owner: &str, error: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = Utc::now();
        // `failed_seq`: a decision saved after this refusal answers it (rowids only grow).
        Self::finish_claimed(
            &tx,
            decision_id,
            "marked failed",
            "UPDATE outbox SET state = 'failed', last_error = ?3, updated_at = ?4, lease_owner = NULL, lease_until = '',
                    failed_seq = (SELECT MAX(rowid) FROM outbox)
             WHERE decision_id = ?1 AND state = 'sending' AND lease_owner = ?2",
            params![decision_id, owner, error, ts(now)],
        )?;
        // Settled: an analyst retries or drops it, knowing what the provider shows.
        forget_in_flight(&tx, decision_id)?;
        let decision = facts(&tx, decision_id)?.decision;
        let case_ref = decision.case_ref.to_string();
        tx.execute(
            "UPDATE queue SET status = 'pending', updated_at = ?2 WHERE case_ref = ?1 AND status = 'decided'",
            params![case_ref, ts(now)],
        )?;
        append_audit(
            &tx,
            AuditRecord {
                at: now,
                analyst: &decision.analyst,
                action: "failed",
                case_ref: &case_ref,
                decision_id: Some(decision_id),
                detail: json(&error)?,
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        // Read first: `degraded` takes the connection itself.
        let degraded = self.degraded()?.into_iter().map(|d| d.provider).collect();
        let conn = self.conn();
        // A sent decision whose receipt made no provider call was a local escalation.
        let mut stmt = conn.prepare_cached(
            "SELECT state,
                    state = 'sent' AND receipt IS NOT NULL
                        AND COALESCE(json_extract(receipt, '$.escalate'), 0) = 1
                        AND json_array_length(json_extract(receipt, '$.calls')) = 0,
                    COUNT(*)
             FROM outbox GROUP BY 1, 2",
        )?;
        let mut counts = OutboxCounts::default();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?, r.get::<_, u64>(2)?)))?;
        for row in rows {
            let (state, local, n) = row?;
            match OutboxState::parse(&state) {
                Some(OutboxState::Saved | OutboxState::Sending) => counts.saved += n,
                Some(OutboxState::Sent) if local => counts.escalated += n,
                Some(OutboxState::Sent) => counts.sent += n,
                Some(OutboxState::Failed) => counts.failed += n,
                Some(OutboxState::Withdrawn | OutboxState::Dropped) => {}
                None => return Err(StoreError::Corrupt(format!("outbox state '{state}'"))),
            }
        }
        counts.degraded = degraded;
        Ok(counts)
    }

    fn provider_failed(
        &self,
        provider: ProviderId,
        error: &str,
        degrade_after: u32,
        next_probe_at: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = ts(Utc::now());
        let failures: u32 = tx.query_row(
            "INSERT INTO provider_health (provider, failures, degraded_since, next_probe_at, last_error)
             VALUES (?1, 1, NULL, ?4, ?3)
             ON CONFLICT (provider) DO UPDATE SET failures = failures + 1, next_probe_at = ?4, last_error = ?3
             RETURNING failures",
            params![provider.as_str(), now, error, ts(next_probe_at)],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE provider_health SET degraded_since = COALESCE(degraded_since, ?2)
             WHERE provider = ?1 AND failures >= ?3",
            params![provider.as_str(), now, degrade_after],
        )?;
        tx.commit()?;
        Ok(failures)
    }

    fn provider_answered(&self, provider: ProviderId) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM provider_health WHERE provider = ?1", [provider.as_str()])?;
        Ok(())
    }

    fn degraded(&self) -> Result<Vec<DegradedProvider>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT provider, degraded_since, failures, next_probe_at, last_error FROM provider_health
             WHERE degraded_since IS NOT NULL ORDER BY provider",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let (provider, since, failures, next, last_error) = row?;
            let Ok(provider) = provider.parse::<ProviderId>() else {
                tracing::warn!(provider = %SafeText::new(&provider), "unknown provider in provider_health; skipped");
                continue;
            };
            out.push(DegradedProvider {
                provider,
                since: parse_ts(&since)?,
                failures,
                next_probe_at: parse_ts(&next)?,
                last_error,
            });
        }
        Ok(out)
    }

    fn watermark(&self, provider: ProviderId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let raw: Option<String> = self
            .conn()
            .query_row("SELECT at FROM watermark WHERE provider = ?1", [provider.as_str()], |r| r.get(0))
            .optional()?;
        raw.as_deref().map(parse_ts).transpose()
    }

    fn book_send(&self, budget: &str, limit: usize, window: Duration, only_if_free: bool) -> Result<Slot, StoreError> {
        let Some(rates) = &self.rates else {
            return Err(StoreError::Corrupt(
                "this store has no rate log (read-only, or it could not be opened)".into(),
            ));
        };
        let mut conn = rates.lock().unwrap_or_else(|p| p.into_inner());
        let tx = Transaction::new(&mut conn, TransactionBehavior::Immediate)?;
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut sent: std::collections::VecDeque<Duration> = tx
            .prepare_cached("SELECT at_us FROM rate_send WHERE budget = ?1 ORDER BY at_us DESC LIMIT ?2")?
            .query_map(params![budget, i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get::<_, i64>(0))?
            .map(|at| at.map(|us| Duration::from_micros(u64::try_from(us).unwrap_or(0))))
            .collect::<Result<_, _>>()?;
        sent.make_contiguous().reverse();
        let slot = crate::providers::rate::book(&mut sent, limit, window, now, only_if_free);
        if let Slot::Booked(wait) = slot {
            tx.execute("INSERT INTO rate_send (budget, at_us) VALUES (?1, ?2)", params![budget, micros(now + wait)])?;
            // What is a window old no longer limits anything.
            tx.execute(
                "DELETE FROM rate_send WHERE budget = ?1 AND at_us < ?2",
                params![budget, micros(now.saturating_sub(window))],
            )?;
        }
        tx.commit()?;
        Ok(slot)
    }

    fn set_watermark(&self, provider: ProviderId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO watermark (provider, at) VALUES (?1, ?2) ON CONFLICT(provider) DO UPDATE SET at = excluded.at",
            params![provider.as_str(), ts(at)],
        )?;
        Ok(())
    }

    fn webhook_seen(&self, provider: ProviderId, delivery_id: &str) -> Result<bool, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM webhook_delivery WHERE provider = ?1 AND delivery_id = ?2",
            params![provider.as_str(), delivery_id],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    fn apply_webhook(
        &self,
        provider: ProviderId,
        delivery_id: &str,
        referred: &[QueueEntry],
        settled: &[CaseRef],
    ) -> Result<Option<usize>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO webhook_delivery (provider, delivery_id, received_at) VALUES (?1, ?2, ?3)",
            params![provider.as_str(), delivery_id, ts(Utc::now())],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        let new = upsert_in(&tx, referred)?;
        settle_in(&tx, settled)?;
        tx.commit()?;
        Ok(Some(new))
    }

    fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn().query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    fn record_identity(&self, case_ref: &CaseRef, keys: &[IdentityKey]) -> Result<(), StoreError> {
        let Some(key) = self.audit.writing_key() else { return Ok(()) };
        let mut wanted = std::collections::BTreeSet::new();
        for k in keys {
            wanted.insert((k.kind().as_str(), key.fact_digest(k.kind().as_str(), k.value())?));
        }
        let case_ref = case_ref.to_string();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM queue WHERE case_ref = ?1)
                 OR EXISTS (SELECT 1 FROM outbox WHERE case_ref = ?1)",
            [&case_ref],
            |r| r.get(0),
        )?;
        if !held {
            wanted.clear();
        } else {
            tx.execute("INSERT OR IGNORE INTO identity_read (case_ref) VALUES (?1)", [&case_ref])?;
        }
        let recorded = {
            let mut stmt = tx.prepare_cached("SELECT kind, digest FROM identity_key WHERE case_ref = ?1")?;
            let rows = stmt.query_map([&case_ref], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            rows.collect::<Result<std::collections::BTreeSet<_>, _>>()?
        };
        // Unchanged keys write nothing (past the first read's mark): every write wakes the
        // other consoles' queue reads.
        let same =
            recorded.len() == wanted.len() && recorded.iter().zip(&wanted).all(|((k, d), (wk, wd))| k == wk && d == wd);
        if same {
            tx.commit()?;
            return Ok(());
        }
        tx.execute("DELETE FROM identity_key WHERE case_ref = ?1", [&case_ref])?;
        for (kind, digest) in &wanted {
            tx.execute(
                "INSERT OR IGNORE INTO identity_key (case_ref, kind, digest) VALUES (?1, ?2, ?3)",
                params![case_ref, kind, digest],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn unread_identities(&self, provider: ProviderId, limit: usize) -> Result<Vec<CaseRef>, StoreError> {
        if self.audit.writing_key().is_none() {
            return Ok(vec![]);
        }
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT case_ref FROM queue WHERE provider = ?1 AND status != 'closed'
                 AND NOT EXISTS (SELECT 1 FROM identity_read r WHERE r.case_ref = queue.case_ref)
             ORDER BY received_at LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![provider.as_str(), limit], |r| r.get::<_, String>(0))?;
        let mut unread = Vec::new();
        for row in rows {
            let row = row?;
            match row.parse::<CaseRef>() {
                Ok(case_ref) => unread.push(case_ref),
                Err(_) => tracing::warn!(row = %SafeText::new(&row), "unreadable case reference in the queue; skipped"),
            }
        }
        Ok(unread)
    }

    fn related_cases(&self, case_ref: &CaseRef) -> Result<Vec<RelatedCase>, StoreError> {
        if self.audit.key().is_none() {
            return Ok(vec![]);
        }
        let mut conn = self.conn();
        // One read transaction: the standings are of one moment.
        let tx = conn.transaction()?;
        let mut matched: std::collections::BTreeMap<String, Vec<IdentityKind>> = std::collections::BTreeMap::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT DISTINCT other.case_ref, other.kind FROM identity_key mine
                 JOIN identity_key other ON other.digest = mine.digest AND other.case_ref != mine.case_ref
                 WHERE mine.case_ref = ?1",
            )?;
            let rows =
                stmt.query_map([case_ref.to_string()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (other, kind) = row?;
                let Some(kind) = IdentityKind::parse(&kind) else {
                    tracing::warn!(kind = %SafeText::new(&kind), "unknown identity key kind; skipped");
                    continue;
                };
                matched.entry(other).or_default().push(kind);
            }
        }
        let mut related = Vec::with_capacity(matched.len());
        for (other, mut kinds) in matched {
            let Ok(other_ref) = other.parse::<CaseRef>() else {
                tracing::warn!(row = %SafeText::new(&other), "unreadable case reference in identity_key; skipped");
                continue;
            };
            kinds.sort_unstable();
            kinds.dedup();
            let (applicant, standing) = standing_of(&tx, &other)?;
            related.push(RelatedCase { case_ref: other_ref, applicant, matched: kinds, standing });
        }
        Ok(related)
    }

    fn verify_audit_report(&self) -> Result<AuditReport, StoreError> {
        audit::verify(&mut self.conn(), &self.audit)
    }

    fn audit_records(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        audit::export(&self.conn(), from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallRecord, Verdict};
    use crate::store::Evidence;
    use chrono::Duration as ChronoDuration;

    const OWNER: &str = "test-sender";
    const LEASE: Duration = Duration::from_secs(60);

    /// Claims as `kycdesk decide` does (whatever the retry schedule).
    fn take(s: &SqliteStore, id: &str) -> Result<bool, StoreError> {
        Ok(s.claim(id, OWNER, LEASE, true)?.is_some())
    }

    /// Delivers a claimed decision as a sender does: each call recorded as it goes out
    /// and as it is answered, then the decision marked sent.
    fn sent(s: &SqliteStore, id: &str, receipt: &Receipt) -> Result<(), StoreError> {
        for (n, call) in receipt.calls.iter().enumerate() {
            let step = format!("call-{n}");
            if !s.call_started(id, OWNER, &step, LEASE)? || !s.call_done(id, OWNER, &step, call)? {
                return Err(StoreError::LeaseLost(id.into()));
            }
        }
        let outcome =
            SentOutcome { escalate: receipt.escalate, found_applied: receipt.calls.is_empty() && !receipt.escalate };
        s.mark_sent(id, OWNER, outcome)
    }

    fn cc(key: &str) -> CaseRef {
        CaseRef::new(ProviderId::ComplyCube, key)
    }

    fn entry(key: &str, minutes: i64) -> QueueEntry {
        QueueEntry {
            case_ref: cc(key),
            applicant: "Test Person".into(),
            check_type: "identity".into(),
            why_referred: "liveness".into(),
            received_at: DateTime::<Utc>::UNIX_EPOCH + ChronoDuration::minutes(minutes),
            status: QueueStatus::Pending,
            lane: Lane::New,
            note: None,
        }
    }

    fn decision(key: &str, verdict: Verdict) -> Decision {
        on_target(&format!("d-{key}"), key, TargetId::Case, verdict)
    }

    fn on_target(id: &str, key: &str, target: TargetId, verdict: Verdict) -> Decision {
        Decision {
            id: id.into(),
            case_ref: cc(key),
            target,
            verdict,
            reason: "checked by hand".into(),
            reason_codes: vec![],
            analyst: "ana".into(),
            created_at: Utc::now(),
        }
    }

    fn item(decision: Decision) -> SaveItem {
        SaveItem { decision, evidence: Evidence::default(), closes_case: false }
    }

    fn store() -> SqliteStore {
        match SqliteStore::open_in_memory() {
            Ok(s) => s,
            Err(e) => panic!("in-memory store: {e}"),
        }
    }

    fn later() -> DateTime<Utc> {
        Utc::now() + ChronoDuration::hours(1)
    }

    fn escalated_receipt() -> Receipt {
        Receipt { calls: vec![], escalate: true }
    }

    fn sent_receipt() -> Receipt {
        Receipt {
            calls: vec![CallRecord { method: "POST".into(), path: "/x".into(), status: 200, answer: "{}".into() }],
            escalate: false,
        }
    }

    fn lanes(s: &SqliteStore) -> Result<Vec<(String, Lane, Option<String>)>, StoreError> {
        Ok(s.open_queue()?
            .into_iter()
            .map(|e| (e.case_ref.key, e.lane, e.note.map(|n| n.as_str().to_string())))
            .collect())
    }

    fn status(s: &SqliteStore, key: &str) -> Result<Option<QueueStatus>, StoreError> {
        Ok(s.queue_entry(&cc(key))?.map(|e| e.status))
    }

    fn audit_actions(s: &SqliteStore) -> Result<Vec<String>, StoreError> {
        let conn = s.conn();
        let mut stmt = conn.prepare("SELECT action FROM audit ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn state(s: &SqliteStore, id: &str) -> Result<Option<OutboxState>, StoreError> {
        Ok(s.outbox_row(id)?.map(|r| r.state))
    }

    /// A case escalated by a delivered local refer.
    fn escalate(s: &SqliteStore, key: &str) -> Result<(), StoreError> {
        let refer = on_target(&format!("refer-{key}"), key, TargetId::Case, Verdict::Refer);
        s.save_decision(&refer, &Evidence::default())?;
        assert!(take(s, &refer.id)?);
        sent(s, &refer.id, &escalated_receipt())
    }

    #[test]
    fn an_unreadable_queue_row_is_skipped_and_reported_not_fatal() -> Result<(), StoreError> {
        let s = store();
        // What an older kycdesk let in: an id with a space, and rows broken on disk.
        s.upsert_queue(&[entry("good", 3), entry("chk 1", 2), entry("bad_time", 1), entry("blob", 0)])?;
        s.conn().execute("UPDATE queue SET received_at = 'yesterday' WHERE case_ref = 'complycube:bad_time'", [])?;
        s.conn().execute("UPDATE queue SET applicant = X'FF00' WHERE case_ref = 'complycube:blob'", [])?;
        s.conn().execute(
            "UPDATE queue SET case_ref = 'complycube:x' || char(27) || ']0;pwned' || char(7) WHERE case_ref = 'complycube:chk 1'",
            [],
        )?;
        let read = s.read_queue()?;
        let kept: Vec<&str> = read.entries.iter().map(|e| e.case_ref.key.as_str()).collect();
        assert_eq!(kept, ["good"]);
        assert_eq!(read.skipped.len(), 3, "{:?}", read.skipped);
        let shown: Vec<String> = read.skipped.iter().map(ToString::to_string).collect();
        assert!(shown.iter().all(|t| !t.contains('\u{1b}') && !t.contains('\u{7}')), "{shown:?}");
        assert!(shown.iter().any(|t| t.contains("is not a ComplyCube case id")), "{shown:?}");
        assert!(shown.iter().any(|t| t.starts_with("complycube:bad_time: ")), "{shown:?}");
        assert!(shown.iter().any(|t| t.starts_with("complycube:blob: ")), "{shown:?}");
        // The plain queue read is not fatal either.
        assert_eq!(s.open_queue()?.len(), 1);
        Ok(())
    }

    #[test]
    fn the_case_target_is_stored_as_the_sql_expects() -> Result<(), StoreError> {
        assert_eq!(json(&TargetId::Case)?, r#"{"kind":"case"}"#);
        Ok(())
    }

    #[test]
    fn queue_upsert_keeps_status_and_orders_by_lane_then_age() -> Result<(), StoreError> {
        let s = store();
        assert_eq!(s.upsert_queue(&[entry("b", 2), entry("a", 1)])?, 2);
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        assert_eq!(s.upsert_queue(&[entry("a", 1), entry("c", 0)])?, 1);
        assert_eq!(
            lanes(&s)?,
            vec![("c".into(), Lane::New, None), ("b".into(), Lane::New, None), ("a".into(), Lane::Awaiting, None)]
        );
        Ok(())
    }

    #[test]
    fn a_case_is_decided_once_unless_the_decision_failed() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("a", 1)])?;
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        let mut again = decision("a", Verdict::Reject);
        again.id = "d-a2".into();
        assert!(matches!(s.save_decision(&again, &Evidence::default()), Err(StoreError::AlreadyDecided(_))));
        assert!(take(&s, "d-a")?);
        s.mark_failed("d-a", OWNER, "refused")?;
        assert_eq!(lanes(&s)?, vec![("a".into(), Lane::Refused, Some("refused".into()))]);
        s.save_decision(&again, &Evidence::default())?;
        assert_eq!(lanes(&s)?, vec![("a".into(), Lane::Awaiting, None)], "a new decision clears the refusal");
        Ok(())
    }

    #[test]
    fn outbox_lifecycle_and_counts() -> Result<(), StoreError> {
        let s = store();
        s.save_decision(&decision("a", Verdict::Refer), &Evidence::default())?;
        s.save_decision(&decision("b", Verdict::Verify), &Evidence::default())?;
        assert_eq!(s.due(Utc::now())?.len(), 2);
        assert!(take(&s, "d-a")?);
        assert_eq!(s.due(Utc::now())?.len(), 1, "a held send is nobody else's");
        assert_eq!(s.due(Utc::now() + ChronoDuration::seconds(61))?.len(), 2, "until its lease runs out");
        let receipt = Receipt { escalate: true, ..sent_receipt() };
        s.upsert_queue(&[entry("a", 1)])?;
        sent(&s, "d-a", &receipt)?;
        assert!(take(&s, "d-b")?);
        s.mark_retry("d-b", OWNER, "timeout", later(), false)?;
        assert!(s.due(Utc::now())?.is_empty());
        assert_eq!(s.waiting(Utc::now())?.len(), 1, "`kycdesk send` does not wait for the backoff");
        assert_eq!(s.outbox_counts()?, OutboxCounts { saved: 1, sent: 1, escalated: 0, failed: 0, degraded: vec![] });
        assert_eq!(status(&s, "a")?, Some(QueueStatus::Escalated));
        // two decided, one delivered call, one escalation
        assert_eq!(s.verify_audit()?, 4);
        Ok(())
    }

    #[test]
    fn only_a_claimed_decision_is_marked() -> Result<(), StoreError> {
        let s = store();
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        assert!(matches!(s.mark_sent("d-a", OWNER, SentOutcome::default()), Err(StoreError::WrongState { .. })));
        assert!(matches!(s.mark_failed("d-a", OWNER, "no"), Err(StoreError::WrongState { .. })));
        assert!(matches!(s.mark_retry("nope", OWNER, "no", Utc::now(), false), Err(StoreError::UnknownDecision(_))));
        assert_eq!(state(&s, "d-a")?, Some(OutboxState::Saved));
        Ok(())
    }

    #[test]
    fn tampering_with_the_audit_log_is_detected() -> Result<(), StoreError> {
        let s = store();
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        s.save_decision(&decision("b", Verdict::Verify), &Evidence::default())?;
        s.conn().execute("UPDATE audit SET detail = '{}' WHERE id = 1", [])?;
        assert!(matches!(s.verify_audit(), Err(StoreError::AuditBroken { id: 1, .. })));
        Ok(())
    }

    #[test]
    fn a_bulk_save_is_all_or_nothing() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("a", 1), entry("b", 2), entry("c", 3)])?;
        s.save_decision(&decision("b", Verdict::Verify), &Evidence::default())?;
        let bulk = [
            item(on_target("x-a", "a", TargetId::Case, Verdict::Verify)),
            item(on_target("x-b", "b", TargetId::Case, Verdict::Verify)),
            item(on_target("x-c", "c", TargetId::Case, Verdict::Verify)),
        ];
        assert!(matches!(s.save_decisions(&bulk, later()), Err(StoreError::AlreadyDecided(r)) if r == cc("b")));
        for key in ["a", "c"] {
            assert!(s.decisions_for(&cc(key))?.is_empty(), "{key} was not saved");
            assert_eq!(status(&s, key)?, Some(QueueStatus::Pending));
        }
        assert_eq!(audit_actions(&s)?, vec!["decided"], "no audit record of the refused bulk");
        // Twice the same target in one action is refused too.
        let twice = [
            item(on_target("y-a", "a", TargetId::Case, Verdict::Verify)),
            item(on_target("y-a2", "a", TargetId::Case, Verdict::Reject)),
        ];
        assert!(matches!(s.save_decisions(&twice, later()), Err(StoreError::AlreadyDecided(_))));
        assert!(s.decisions_for(&cc("a"))?.is_empty());
        // Without the conflict it all commits, each with its audit record.
        s.save_decisions(&[bulk[0].clone(), bulk[2].clone()], later())?;
        assert_eq!(audit_actions(&s)?, vec!["decided"; 3]);
        assert_eq!(s.verify_audit()?, 3);
        Ok(())
    }

    #[test]
    fn nothing_is_due_before_its_grace_period_ends() -> Result<(), StoreError> {
        let s = store();
        let send_after = later();
        s.save_decisions(&[item(decision("a", Verdict::Verify))], send_after)?;
        assert!(s.due(Utc::now())?.is_empty());
        assert!(s.waiting(Utc::now())?.is_empty(), "`kycdesk send` waits for it too");
        assert!(!take(&s, "d-a")?, "no sender may take it yet");
        assert_eq!(state(&s, "d-a")?, Some(OutboxState::Saved));
        let due: Vec<String> =
            s.due(send_after + ChronoDuration::seconds(1))?.into_iter().map(|r| r.decision.id).collect();
        assert_eq!(due, vec!["d-a"]);
        assert_eq!(s.outbox_row("d-a")?.map(|r| r.send_after.timestamp_micros()), Some(send_after.timestamp_micros()));
        // One whose grace period is over is claimed.
        s.save_decisions(&[item(decision("b", Verdict::Verify))], Utc::now() - ChronoDuration::seconds(1))?;
        assert!(take(&s, "d-b")?);
        Ok(())
    }

    #[test]
    fn withdraw_restores_where_each_case_was() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("p", 1), entry("e", 2)])?;
        escalate(&s, "e")?;
        let bulk = [item(decision("p", Verdict::Verify)), item(decision("e", Verdict::Reject))];
        s.save_decisions(&bulk, later())?;
        assert_eq!(lanes(&s)?, vec![("p".into(), Lane::Awaiting, None), ("e".into(), Lane::Awaiting, None)]);
        let cases = s.withdraw(&["d-p".into(), "d-e".into()], "ben")?;
        assert_eq!(cases, vec![cc("p"), cc("e")]);
        assert_eq!(lanes(&s)?, vec![("p".into(), Lane::New, None), ("e".into(), Lane::Escalated, None)]);
        assert_eq!((status(&s, "p")?, status(&s, "e")?), (Some(QueueStatus::Pending), Some(QueueStatus::Escalated)));
        assert_eq!(state(&s, "d-p")?, Some(OutboxState::Withdrawn));
        assert!(s.due(later() + ChronoDuration::hours(1))?.is_empty(), "nothing left to send");
        let actions = audit_actions(&s)?;
        assert_eq!(actions.iter().filter(|a| *a == "withdrawn").count(), 2);
        assert_eq!(actions.iter().filter(|a| *a == "decided").count(), 3);
        assert_eq!(s.verify_audit()?, actions.len() as u64);
        let (analyst, decision_id): (String, String) = s.conn().query_row(
            "SELECT analyst, decision_id FROM audit WHERE action = 'withdrawn' ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        assert_eq!((analyst.as_str(), decision_id.as_str()), ("ben", "d-p"));
        // A withdrawn decision does not block a new one.
        s.save_decision(&on_target("d-p2", "p", TargetId::Case, Verdict::Reject), &Evidence::default())?;
        assert_eq!(s.outbox_counts()?, OutboxCounts { saved: 1, sent: 0, escalated: 1, failed: 0, degraded: vec![] });
        Ok(())
    }

    #[test]
    fn withdraw_after_a_claim_is_too_late_and_changes_nothing() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("a", 1), entry("b", 2)])?;
        s.save_decisions(&[item(decision("a", Verdict::Verify)), item(decision("b", Verdict::Verify))], Utc::now())?;
        assert!(take(&s, "d-b")?);
        let before = audit_actions(&s)?;
        let err = s.withdraw(&["d-a".into(), "d-b".into()], "ana");
        assert!(
            matches!(&err, Err(StoreError::TooLate { decision_id, state: OutboxState::Sending }) if decision_id == "d-b"),
            "{err:?}"
        );
        assert_eq!(state(&s, "d-a")?, Some(OutboxState::Saved));
        assert_eq!(state(&s, "d-b")?, Some(OutboxState::Sending));
        assert_eq!(lanes(&s)?.iter().map(|l| l.1).collect::<Vec<_>>(), vec![Lane::Awaiting, Lane::Awaiting]);
        assert_eq!(audit_actions(&s)?, before);
        // Delivered, or tried and put back to retry: too late as well.
        s.mark_retry("d-b", OWNER, "timeout", Utc::now(), false)?;
        assert!(matches!(s.withdraw(&["d-b".into()], "ana"), Err(StoreError::TooLate { .. })));
        assert!(take(&s, "d-b")?);
        sent(&s, "d-b", &sent_receipt())?;
        assert!(matches!(
            s.withdraw(&["d-b".into()], "ana"),
            Err(StoreError::TooLate { state: OutboxState::Sent, .. })
        ));
        assert!(matches!(s.withdraw(&["nope".into()], "ana"), Err(StoreError::UnknownDecision(_))));
        Ok(())
    }

    #[test]
    fn two_handles_on_one_store_book_from_one_rate_budget() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.sqlite3");
        let (one, two) = (SqliteStore::open(&path)?, SqliteStore::open(&path)?);
        let window = Duration::from_secs(60);
        let version = two.data_version()?;
        // Five threads, two handles, three bookings each: a limit of 10 goes at once.
        let stores = [std::sync::Arc::new(one), std::sync::Arc::new(two)];
        let threads: Vec<_> = (0..6)
            .map(|i| {
                let store = std::sync::Arc::clone(&stores[i % 2]);
                std::thread::spawn(move || -> Result<Vec<Slot>, StoreError> {
                    (0..3).map(|_| store.book_send("complycube:k", 10, window, false)).collect()
                })
            })
            .collect();
        let mut slots = vec![];
        for t in threads {
            slots.extend(t.join().map_err(|_| "thread")??);
        }
        let now = slots.iter().filter(|s| **s == Slot::Booked(Duration::ZERO)).count();
        assert_eq!(now, 10, "{slots:?}");
        assert!(
            slots.iter().all(|s| matches!(s, Slot::Booked(w) if w.is_zero() || *w > window - Duration::from_secs(1)))
        );
        // The window is full for both handles, and for no other budget.
        assert!(matches!(stores[0].book_send("complycube:k", 10, window, true)?, Slot::Busy(_)));
        assert_eq!(stores[1].book_send("sumsub:k", 10, window, true)?, Slot::Booked(Duration::ZERO));
        // Bookings are not the store's data: readers are not woken for them.
        assert_eq!(stores[1].data_version()?, version);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("store.sqlite3.rates"))?.permissions(),
        ) & 0o777;
        assert_eq!(mode, 0o600);
        Ok(())
    }

    #[test]
    fn a_damaged_rate_log_never_keeps_the_store_from_opening() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.sqlite3");
        SqliteStore::open(&path)?.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        std::fs::write(dir.path().join("store.sqlite3.rates"), b"not a database, not at all")?;
        let s = SqliteStore::open(&path)?;
        assert_eq!(s.outbox_counts()?.saved, 1, "the store's data is all there");
        assert!(s.book_send("complycube:k", 5, Duration::from_secs(1), false).is_err(), "each process limits itself");
        Ok(())
    }

    #[test]
    fn of_two_claims_one_wins() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.sqlite3");
        let (one, two) = (SqliteStore::open(&path)?, SqliteStore::open(&path)?);
        one.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        let a = std::thread::spawn(move || one.claim("d-a", "one", LEASE, true).map(|c| c.is_some()));
        let b = std::thread::spawn(move || two.claim("d-a", "two", LEASE, true).map(|c| c.is_some()));
        let (a, b) = (a.join().map_err(|_| "thread")??, b.join().map_err(|_| "thread")??);
        assert!(a ^ b, "exactly one claim: {a} {b}");
        let s = SqliteStore::open(&path)?;
        assert_eq!(s.outbox_row("d-a")?.map(|r| (r.state, r.attempts)), Some((OutboxState::Sending, 1)));
        // The winner dies: its lease runs out, and its send may be taken over.
        s.conn().execute("UPDATE outbox SET lease_until = '' WHERE decision_id = 'd-a'", [])?;
        let (winner, loser) = if a { ("one", "two") } else { ("two", "one") };
        let taken = s.claim("d-a", loser, LEASE, true)?.ok_or("an expired lease is taken over")?;
        assert!(!taken.in_flight, "nothing was sent");
        assert!(s.claim("d-a", winner, LEASE, true)?.is_none(), "a live lease is not");
        // The first sender comes back: it may record nothing more.
        assert!(!s.renew_lease("d-a", winner, LEASE)?);
        assert!(!s.call_started("d-a", winner, "validate", LEASE)?);
        assert!(matches!(s.mark_sent("d-a", winner, SentOutcome::default()), Err(StoreError::LeaseLost(_))));
        assert!(s.renew_lease("d-a", loser, LEASE)?);
        Ok(())
    }

    #[test]
    fn an_unanswered_call_is_reconciled_and_an_answered_one_never_resent() -> Result<(), Box<dyn std::error::Error>> {
        let s = store();
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        let record =
            |n: u16| CallRecord { method: "POST".into(), path: format!("/m{n}"), status: 200, answer: "{}".into() };
        let first = s.claim("d-a", OWNER, LEASE, true)?.ok_or("claimable")?;
        assert_eq!(first, Claim::default());
        assert!(s.call_started("d-a", OWNER, "m1", LEASE)? && s.call_done("d-a", OWNER, "m1", &record(1))?);
        assert!(s.call_started("d-a", OWNER, "m2", LEASE)?);
        // A timeout on m2: held back from every sender until the retry time.
        let retry_at = Utc::now() + ChronoDuration::seconds(30);
        s.mark_retry("d-a", OWNER, "timed out", retry_at, true)?;
        assert!(s.due(Utc::now())?.is_empty());
        assert!(s.claim("d-a", "other", LEASE, true)?.is_none(), "not even `kycdesk decide` takes it early");
        assert!(matches!(s.drop_decision("d-a", "ana", "no"), Err(StoreError::InFlight(_))));
        let due = s.due(retry_at + ChronoDuration::seconds(1))?;
        assert_eq!(due.len(), 1);
        // Taken again later: m2 is in flight (reconcile first), m1 is done.
        s.conn().execute("UPDATE outbox SET lease_until = '' WHERE decision_id = 'd-a'", [])?;
        let again = s.claim("d-a", "other", LEASE, true)?.ok_or("claimable after the hold")?;
        assert!(again.in_flight);
        assert_eq!(again.done, vec![("m1".to_string(), record(1))]);
        // Reconciled: not applied; m2 goes out again, then the decision is sent.
        assert!(s.call_started("d-a", "other", "m2", LEASE)? && s.call_done("d-a", "other", "m2", &record(2))?);
        s.mark_sent("d-a", "other", SentOutcome::default())?;
        let receipt: String =
            s.conn().query_row("SELECT receipt FROM outbox WHERE decision_id = 'd-a'", [], |r| r.get(0))?;
        let receipt: Receipt = from_json(&receipt)?;
        assert_eq!(receipt.calls, vec![record(1), record(2)]);
        let delivered: i64 = s.conn().query_row(
            "SELECT COUNT(*) FROM audit WHERE action = 'delivered' AND decision_id = 'd-a'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(delivered, 2, "one record per call, as each was answered");
        s.verify_audit()?;
        Ok(())
    }

    #[test]
    fn a_provider_is_degraded_after_failures_in_a_row_and_healthy_on_an_answer() -> Result<(), StoreError> {
        let s = store();
        let probe = Utc::now() + ChronoDuration::seconds(15);
        assert_eq!(s.provider_failed(ProviderId::ComplyCube, "503", 3, probe)?, 1);
        assert_eq!(s.provider_failed(ProviderId::ComplyCube, "503", 3, probe)?, 2);
        assert!(s.degraded()?.is_empty(), "two failures are not yet a pattern");
        assert_eq!(s.provider_failed(ProviderId::ComplyCube, "timed out", 3, probe)?, 3);
        let degraded = s.degraded()?;
        assert_eq!(degraded.len(), 1);
        assert_eq!((degraded[0].provider, degraded[0].failures), (ProviderId::ComplyCube, 3));
        assert_eq!(degraded[0].last_error, "timed out");
        assert_eq!(s.outbox_counts()?.degraded, vec![ProviderId::ComplyCube]);
        s.provider_answered(ProviderId::ComplyCube)?;
        assert!(s.degraded()?.is_empty());
        assert_eq!(s.provider_failed(ProviderId::ComplyCube, "503", 3, probe)?, 1, "counting starts again");
        Ok(())
    }

    #[test]
    fn a_call_that_never_left_is_forgotten() -> Result<(), Box<dyn std::error::Error>> {
        let s = store();
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        assert!(take(&s, "d-a")?);
        assert!(s.call_started("d-a", OWNER, "m1", LEASE)?);
        s.mark_retry("d-a", OWNER, "connection refused", Utc::now(), false)?;
        let again = s.claim("d-a", OWNER, LEASE, true)?.ok_or("claimable")?;
        assert!(!again.in_flight, "a refused connection sent nothing");
        Ok(())
    }

    #[test]
    fn lanes_and_their_notes() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[
            entry("new", 5),
            entry("refused", 4),
            entry("escalated", 3),
            entry("grace", 2),
            entry("retrying", 1),
            entry("sent", 0),
            entry("old-new", 0),
        ])?;
        let refused = decision("refused", Verdict::Verify);
        s.save_decision(&refused, &Evidence::default())?;
        assert!(take(&s, &refused.id)?);
        s.mark_failed(&refused.id, OWNER, "ComplyCube: outcome is not allowed")?;
        escalate(&s, "escalated")?;
        s.save_decisions(&[item(decision("grace", Verdict::Verify))], later())?;
        s.save_decision(&decision("retrying", Verdict::Verify), &Evidence::default())?;
        assert!(take(&s, "d-retrying")?);
        s.mark_retry("d-retrying", OWNER, "503 from ComplyCube", later(), false)?;
        s.save_decision(&decision("sent", Verdict::Verify), &Evidence::default())?;
        assert!(take(&s, "d-sent")?);
        sent(&s, "d-sent", &sent_receipt())?;
        s.upsert_queue(&[entry("closed", 0)])?;
        s.settle(&[cc("closed")])?;
        assert_eq!(
            lanes(&s)?,
            vec![
                ("old-new".into(), Lane::New, None),
                ("new".into(), Lane::New, None),
                ("refused".into(), Lane::Refused, Some("ComplyCube: outcome is not allowed".into())),
                ("escalated".into(), Lane::Escalated, None),
                ("retrying".into(), Lane::Awaiting, Some("503 from ComplyCube".into())),
                ("grace".into(), Lane::Awaiting, None),
            ]
        );
        assert_eq!(s.queue_entry(&cc("refused"))?.map(|e| e.lane), Some(Lane::Refused));
        Ok(())
    }

    #[test]
    fn a_later_decision_answers_a_refusal_and_undoing_it_brings_the_refusal_back() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("s", 1)])?;
        let hit = on_target("h1", "s", TargetId::Hit("1".into()), Verdict::FalsePositive);
        s.save_decision(&hit, &Evidence::default())?;
        assert!(take(&s, "h1")?);
        s.mark_failed("h1", OWNER, "hit already resolved")?;
        assert_eq!(lanes(&s)?, vec![("s".into(), Lane::Refused, Some("hit already resolved".into()))]);
        let other = on_target("h2", "s", TargetId::Hit("2".into()), Verdict::FalsePositive);
        s.save_decisions(&[item(other)], later())?;
        assert_eq!(lanes(&s)?, vec![("s".into(), Lane::New, None)], "a partial decision keeps it in New");
        s.withdraw(&["h2".into()], "ana")?;
        assert_eq!(lanes(&s)?.first().map(|l| l.1), Some(Lane::Refused));
        Ok(())
    }

    #[test]
    fn deciding_the_last_hit_decides_the_case() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("s", 1)])?;
        let last =
            SaveItem { closes_case: true, ..item(on_target("h1", "s", TargetId::Hit("1".into()), Verdict::TrueMatch)) };
        s.save_decisions(&[last], later())?;
        assert_eq!(status(&s, "s")?, Some(QueueStatus::Decided));
        assert_eq!(lanes(&s)?, vec![("s".into(), Lane::Awaiting, None)]);
        s.withdraw(&["h1".into()], "ana")?;
        assert_eq!(status(&s, "s")?, Some(QueueStatus::Pending));
        Ok(())
    }

    #[test]
    fn settle_keeps_a_partly_decided_case() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("partly", 1), entry("untouched", 2), entry("gone", 3)])?;
        let hit = on_target("h1", "partly", TargetId::Hit("1".into()), Verdict::TrueMatch);
        s.save_decision(&hit, &Evidence::default())?;
        assert!(take(&s, "h1")?);
        sent(&s, "h1", &sent_receipt())?;
        // ComplyCube stops referring the check at its first confirmed match.
        s.settle(&[cc("partly"), cc("untouched")])?;
        s.settle_missing(ProviderId::ComplyCube, &[])?;
        assert_eq!(lanes(&s)?, vec![("partly".into(), Lane::New, None)]);
        assert_eq!(status(&s, "untouched")?, Some(QueueStatus::Closed));
        // A partial decision taken back no longer holds it.
        s.upsert_queue(&[entry("held", 4)])?;
        s.save_decisions(&[item(on_target("h9", "held", TargetId::Hit("9".into()), Verdict::TrueMatch))], later())?;
        s.settle(&[cc("held")])?;
        assert_eq!(status(&s, "held")?, Some(QueueStatus::Pending));
        s.withdraw(&["h9".into()], "ana")?;
        s.settle(&[cc("held")])?;
        assert_eq!(status(&s, "held")?, Some(QueueStatus::Closed));
        Ok(())
    }

    #[test]
    fn a_refused_decision_is_retried() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("a", 1)])?;
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        assert!(matches!(s.retry_decision("d-a", "ana"), Err(StoreError::WrongState { .. })));
        assert!(take(&s, "d-a")?);
        s.mark_failed("d-a", OWNER, "refused")?;
        s.retry_decision("d-a", "ben")?;
        assert_eq!(lanes(&s)?, vec![("a".into(), Lane::Awaiting, None)]);
        let due = s.due(Utc::now())?;
        assert_eq!(
            due.iter().map(|r| (r.decision.id.as_str(), r.last_error.clone())).collect::<Vec<_>>(),
            vec![("d-a", None)]
        );
        assert_eq!(audit_actions(&s)?.last().map(String::as_str), Some("retried"));
        s.verify_audit()?;
        // Not while a newer decision on the same target is open.
        assert!(take(&s, "d-a")?);
        s.mark_failed("d-a", OWNER, "refused again")?;
        s.save_decision(&on_target("d-a2", "a", TargetId::Case, Verdict::Reject), &Evidence::default())?;
        assert!(matches!(s.retry_decision("d-a", "ana"), Err(StoreError::AlreadyDecided(_))));
        Ok(())
    }

    #[test]
    fn a_decision_is_dropped_with_a_reason() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("f", 1), entry("w", 2), entry("busy", 3)])?;
        s.save_decisions(
            &[
                item(decision("f", Verdict::Verify)),
                item(decision("w", Verdict::Verify)),
                item(decision("busy", Verdict::Verify)),
            ],
            Utc::now(),
        )?;
        assert!(take(&s, "d-f")?);
        s.mark_failed("d-f", OWNER, "refused")?;
        assert!(matches!(s.drop_decision("d-f", "ana", "  "), Err(StoreError::ReasonRequired)));
        s.drop_decision("d-f", "ana", "decided in the provider's dashboard")?;
        s.drop_decision("d-w", "ana", "wrong case")?;
        assert!(take(&s, "d-busy")?);
        assert!(matches!(
            s.drop_decision("d-busy", "ana", "x"),
            Err(StoreError::WrongState { state: OutboxState::Sending, .. })
        ));
        assert_eq!(
            lanes(&s)?,
            vec![("f".into(), Lane::New, None), ("w".into(), Lane::New, None), ("busy".into(), Lane::Awaiting, None)]
        );
        assert!(!take(&s, "d-w")?, "a dropped decision is never sent");
        let detail: String =
            s.conn()
                .query_row("SELECT detail FROM audit WHERE action = 'dropped' ORDER BY id LIMIT 1", [], |r| r.get(0))?;
        assert!(detail.contains("decided in the provider's dashboard"), "{detail}");
        assert_eq!(s.outbox_counts()?, OutboxCounts { saved: 1, sent: 0, escalated: 0, failed: 0, degraded: vec![] });
        s.verify_audit()?;
        // The case can be decided again.
        s.save_decision(&on_target("d-f2", "f", TargetId::Case, Verdict::Reject), &Evidence::default())?;
        Ok(())
    }

    #[test]
    fn dropping_an_old_refusal_keeps_a_newer_decision_standing() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("f", 1)])?;
        s.save_decision(&decision("f", Verdict::Verify), &Evidence::default())?;
        assert!(take(&s, "d-f")?);
        s.mark_failed("d-f", OWNER, "refused")?;
        s.save_decision(&on_target("d-f2", "f", TargetId::Case, Verdict::Reject), &Evidence::default())?;
        s.drop_decision("d-f", "ana", "tidying the outbox")?;
        assert_eq!(lanes(&s)?, vec![("f".into(), Lane::Awaiting, None)], "the newer decision still stands");
        Ok(())
    }

    #[test]
    fn a_send_found_applied_is_delivered_not_escalated() -> Result<(), StoreError> {
        let s = store();
        s.upsert_queue(&[entry("a", 1)])?;
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        assert!(take(&s, "d-a")?);
        sent(&s, "d-a", &Receipt { calls: vec![], escalate: false })?;
        assert_eq!(s.outbox_counts()?, OutboxCounts { saved: 0, sent: 1, escalated: 0, failed: 0, degraded: vec![] });
        let n: i64 = s.conn().query_row(
            "SELECT COUNT(*) FROM audit WHERE action = 'delivered' AND decision_id = 'd-a'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(n, 1);
        s.verify_audit()?;
        Ok(())
    }

    #[test]
    fn outbox_listings() -> Result<(), StoreError> {
        let s = store();
        s.save_decision(&on_target("1", "a", TargetId::Hit("x".into()), Verdict::TrueMatch), &Evidence::default())?;
        s.save_decision(&decision("b", Verdict::Verify), &Evidence::default())?;
        s.save_decision(&on_target("3", "a", TargetId::Case, Verdict::Verify), &Evidence::default())?;
        s.withdraw(&["d-b".into()], "ana")?;
        let ids = |rows: Vec<OutboxRow>| rows.into_iter().map(|r| r.decision.id).collect::<Vec<_>>();
        assert_eq!(ids(s.outbox_list(10)?), vec!["3", "d-b", "1"]);
        assert_eq!(ids(s.outbox_list(2)?), vec!["3", "d-b"]);
        assert_eq!(ids(s.decisions_for(&cc("a"))?), vec!["1", "3"]);
        assert_eq!(ids(s.outbox_list(usize::MAX)?).len(), 3);
        Ok(())
    }

    #[test]
    fn a_store_of_the_previous_schema_migrates() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("old.sqlite3");
        // Made as kycdesk makes a store: private (others' stores are refused).
        crate::private_fs::ensure_file(&path)?;
        {
            let mut conn = Connection::open(&path)?;
            Migrations::from_slice(&MIGRATIONS[..2]).to_latest(&mut conn)?;
            let d = decision("a", Verdict::Verify);
            let at = ts(d.created_at);
            conn.execute(
                "INSERT INTO queue (case_ref, provider, applicant, check_type, why_referred, received_at, status, updated_at)
                 VALUES ('complycube:a', 'complycube', 'X', 'identity', 'liveness', ?1, 'decided', ?1)",
                [&at],
            )?;
            conn.execute(
                "INSERT INTO outbox (decision_id, case_ref, target, decision, state, next_attempt_at, created_at, updated_at)
                 VALUES ('d-a', 'complycube:a', ?1, ?2, 'saved', ?3, ?3, ?3)",
                params![json(&d.target)?, json(&d)?, at],
            )?;
        }
        let s = SqliteStore::open(&path)?;
        let row = s.outbox_row("d-a")?.ok_or("row")?;
        assert_eq!(row.send_after, row.next_attempt_at);
        assert_eq!(lanes(&s)?, vec![("a".to_string(), Lane::Awaiting, None)]);
        assert!(take(&s, "d-a")?);
        Ok(())
    }

    fn keyed_store() -> Result<SqliteStore, StoreError> {
        store().with_audit_key(AuditKey::new("k".repeat(40).into()))
    }

    fn person(key: &str, provider: ProviderId, applicant: &str) -> QueueEntry {
        QueueEntry { case_ref: CaseRef::new(provider, key), applicant: applicant.into(), ..entry(key, 0) }
    }

    fn jane() -> IdentityKey {
        IdentityKey::NameAndBirth("doe jane|19900102".into())
    }

    fn passport() -> IdentityKey {
        IdentityKey::Document("GBR|AB123456".into())
    }

    fn related_keys(s: &SqliteStore, r: &CaseRef) -> Result<Vec<(String, Vec<IdentityKind>)>, StoreError> {
        Ok(s.related_cases(r)?.into_iter().map(|c| (c.case_ref.to_string(), c.matched)).collect())
    }

    #[test]
    fn related_cases_are_found_across_providers_by_either_key() -> Result<(), Box<dyn std::error::Error>> {
        let s = keyed_store()?;
        let sumsub = CaseRef::new(ProviderId::Sumsub, "b");
        s.upsert_queue(&[
            person("a", ProviderId::ComplyCube, "Jane Doe"),
            person("b", ProviderId::Sumsub, "DOE, Jane"),
            person("c", ProviderId::ComplyCube, "J. Doe"),
            person("d", ProviderId::ComplyCube, "Someone Else"),
        ])?;
        s.record_identity(&cc("a"), &[jane(), passport()])?;
        s.record_identity(&sumsub, &[jane(), passport()])?;
        s.record_identity(&cc("c"), &[passport()])?;
        s.record_identity(&cc("d"), &[IdentityKey::Document("X9999999".into())])?;

        let both = vec![IdentityKind::NameAndBirth, IdentityKind::Document];
        assert_eq!(
            related_keys(&s, &cc("a"))?,
            vec![("complycube:c".into(), vec![IdentityKind::Document]), ("sumsub:b".into(), both)]
        );
        let found = s.related_cases(&sumsub)?;
        let a = found.iter().find(|c| c.case_ref == cc("a")).ok_or("a is related to b")?;
        assert_eq!(a.applicant, Some("Jane Doe".into()));
        assert_eq!(a.standing, Standing::Queued(Lane::New));
        assert!(s.related_cases(&cc("d"))?.is_empty(), "a key nobody else has relates nothing");
        Ok(())
    }

    #[test]
    fn a_related_case_says_where_it_stands() -> Result<(), Box<dyn std::error::Error>> {
        let s = keyed_store()?;
        s.upsert_queue(&[entry("open", 0), entry("decided", 1), entry("settled", 2), entry("escalated", 3)])?;
        for key in ["open", "decided", "settled", "escalated"] {
            s.record_identity(&cc(key), &[jane()])?;
        }
        let rejected = decision("decided", Verdict::Reject);
        s.save_decision(&rejected, &Evidence::default())?;
        s.settle(&[cc("settled")])?;
        s.save_decision(&decision("escalated", Verdict::Refer), &Evidence::default())?;
        assert!(take(&s, "d-escalated")?);
        sent(&s, "d-escalated", &escalated_receipt())?;

        let standing: HashMap<String, Standing> =
            s.related_cases(&cc("open"))?.into_iter().map(|c| (c.case_ref.key, c.standing)).collect();
        assert_eq!(
            standing.get("decided"),
            Some(&Standing::Decided { verdict: Verdict::Reject, at: rejected.created_at }),
            "waiting for delivery, it is decided"
        );
        assert_eq!(standing.get("settled"), Some(&Standing::Settled));
        assert_eq!(standing.get("escalated"), Some(&Standing::Queued(Lane::Escalated)));
        assert_eq!(s.related_cases(&cc("decided"))?.len(), 3);
        Ok(())
    }

    #[test]
    fn intake_reads_each_case_identity_once() -> Result<(), Box<dyn std::error::Error>> {
        let s = keyed_store()?;
        s.upsert_queue(&[entry("newer", 2), entry("older", 1), entry("nobody", 3), entry("settled", 4)])?;
        s.upsert_queue(&[person("elsewhere", ProviderId::Sumsub, "Someone")])?;
        s.settle(&[cc("settled")])?;
        let unread = |s: &SqliteStore, limit| -> Result<Vec<String>, StoreError> {
            Ok(s.unread_identities(ProviderId::ComplyCube, limit)?.into_iter().map(|r| r.key).collect())
        };
        assert_eq!(unread(&s, 10)?, ["older", "newer", "nobody"], "oldest first, this provider's; not a settled one");
        assert_eq!(unread(&s, 1)?, ["older"]);
        s.record_identity(&cc("older"), &[jane()])?;
        s.record_identity(&cc("nobody"), &[])?;
        assert_eq!(unread(&s, 10)?, ["newer"], "read once, with keys or without");
        s.save_decision(&decision("newer", Verdict::Verify), &Evidence::default())?;
        assert_eq!(unread(&s, 10)?, ["newer"], "a decided case is still someone's");
        // Closed, then referred again: it may be about someone else now.
        s.settle(&[cc("nobody")])?;
        s.upsert_queue(&[entry("nobody", 3)])?;
        assert_eq!(unread(&s, 10)?, ["newer", "nobody"]);
        let unkeyed = store();
        unkeyed.upsert_queue(&[entry("a", 0)])?;
        let none = unkeyed.unread_identities(ProviderId::ComplyCube, 10)?;
        assert!(none.is_empty(), "nothing to read without the key that records it");
        Ok(())
    }

    #[test]
    fn identity_keys_are_kept_as_keyed_digests_only() -> Result<(), Box<dyn std::error::Error>> {
        let s = keyed_store()?;
        s.upsert_queue(&[entry("a", 0)])?;
        s.record_identity(&cc("a"), &[jane(), passport()])?;
        let rows: Vec<String> = {
            let conn = s.conn();
            let mut stmt = conn.prepare("SELECT case_ref || ' ' || kind || ' ' || digest FROM identity_key")?;
            stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        assert_eq!(rows.len(), 2);
        for row in &rows {
            for clear in ["19900102", "AB123456", "jane", "doe", "GBR"] {
                assert!(!row.to_lowercase().contains(&clear.to_lowercase()), "{clear} in clear: {row}");
            }
        }
        // Another key, another digest: the digests say nothing without the audit key.
        let other = store().with_audit_key(AuditKey::new("o".repeat(40).into()))?;
        other.upsert_queue(&[entry("a", 0), entry("b", 1)])?;
        other.record_identity(&cc("a"), &[jane()])?;
        let digest = |s: &SqliteStore| -> Result<String, StoreError> {
            Ok(s.conn().query_row(
                "SELECT digest FROM identity_key WHERE case_ref = 'complycube:a' AND kind = 'name_birth'",
                [],
                |r| r.get(0),
            )?)
        };
        assert_ne!(digest(&s)?, digest(&other)?);
        Ok(())
    }

    #[test]
    fn without_the_audit_key_nothing_is_recorded_or_found() -> Result<(), Box<dyn std::error::Error>> {
        let s = store();
        s.upsert_queue(&[entry("a", 0), entry("b", 1)])?;
        s.record_identity(&cc("a"), &[jane()])?;
        s.record_identity(&cc("b"), &[jane()])?;
        let n: i64 = s.conn().query_row("SELECT COUNT(*) FROM identity_key", [], |r| r.get(0))?;
        assert_eq!(n, 0);
        assert!(s.related_cases(&cc("a"))?.is_empty());
        Ok(())
    }

    #[test]
    fn recording_replaces_a_cases_keys_and_needs_the_case_held() -> Result<(), Box<dyn std::error::Error>> {
        let s = keyed_store()?;
        s.upsert_queue(&[entry("a", 0), entry("b", 1)])?;
        s.record_identity(&cc("a"), &[jane()])?;
        s.record_identity(&cc("b"), &[jane()])?;
        assert_eq!(related_keys(&s, &cc("a"))?.len(), 1);
        // The provider corrected b's date of birth: no longer the same person.
        s.record_identity(&cc("b"), &[IdentityKey::NameAndBirth("doe jane|19900201".into())])?;
        assert!(s.related_cases(&cc("a"))?.is_empty());
        // A case the store does not hold (read, never queued) leaves nothing behind.
        s.record_identity(&cc("stranger"), &[jane()])?;
        assert!(s.related_cases(&cc("a"))?.is_empty());
        assert!(s.related_cases(&cc("stranger"))?.is_empty());
        Ok(())
    }

    #[test]
    fn a_cases_keys_go_once_the_store_holds_it_no_more() -> Result<(), Box<dyn std::error::Error>> {
        let s = keyed_store()?;
        s.upsert_queue(&[entry("a", 0), entry("b", 1), entry("c", 2)])?;
        s.save_decision(&decision("b", Verdict::Verify), &Evidence::default())?;
        for key in ["a", "b", "c"] {
            s.record_identity(&cc(key), &[jane()])?;
        }
        let keys_of = |key: &str| -> Result<i64, StoreError> {
            Ok(s.conn().query_row(
                "SELECT COUNT(*) FROM identity_key WHERE case_ref = ?1",
                [cc(key).to_string()],
                |r| r.get(0),
            )?)
        };
        s.conn().execute("DELETE FROM queue WHERE case_ref IN ('complycube:b', 'complycube:c')", [])?;
        assert_eq!(keys_of("c")?, 0, "c is held nowhere now");
        assert_eq!(keys_of("b")?, 1, "b's decision is still in the outbox");
        s.conn().execute("DELETE FROM outbox WHERE case_ref = 'complycube:b'", [])?;
        assert_eq!(keys_of("b")?, 0);
        assert_eq!(keys_of("a")?, 1);
        assert!(s.related_cases(&cc("a"))?.is_empty());
        Ok(())
    }
}
