//! The embedded store: one SQLite file on local disk, WAL, `synchronous=FULL`.

use super::{Evidence, OutboxCounts, OutboxRow, OutboxState, Store, StoreError};
use crate::domain::{CaseRef, Decision, Lane, ProviderId, QueueEntry, QueueStatus, Receipt, SafeText, TargetId};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

// Every write transaction is IMMEDIATE: it takes the write lock up front and waits for it
// (busy timeout), instead of failing when a reader has to become a writer while another
// process (the inbox, a headless `decide`) commits.
const MIGRATIONS: &[M<'static>] = &[
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
];

/// Sortable, fixed-width UTC timestamps.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
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
}

struct AuditRecord<'a> {
    at: DateTime<Utc>,
    analyst: &'a str,
    action: &'a str,
    case_ref: &'a str,
    decision_id: Option<&'a str>,
    detail: String,
}

fn audit_hash(
    prev: &str,
    at: &str,
    analyst: &str,
    action: &str,
    case_ref: &str,
    decision_id: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [prev, at, analyst, action, case_ref, decision_id, detail] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

fn append_audit(tx: &Transaction<'_>, record: AuditRecord<'_>) -> Result<(), StoreError> {
    let prev: String = tx
        .query_row("SELECT hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
        .optional()?
        .unwrap_or_default();
    let at = ts(record.at);
    let decision_id = record.decision_id.unwrap_or_default();
    let hash = audit_hash(&prev, &at, record.analyst, record.action, record.case_ref, decision_id, &record.detail);
    tx.execute(
        "INSERT INTO audit (at, analyst, action, case_ref, decision_id, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![at, record.analyst, record.action, record.case_ref, record.decision_id, record.detail, prev, hash],
    )?;
    Ok(())
}

fn queue_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}

fn to_entry(raw: (String, String, String, String, String, String)) -> Result<QueueEntry, StoreError> {
    let (case_ref, applicant, check_type, why, received, status) = raw;
    Ok(QueueEntry {
        case_ref: case_ref.parse().map_err(|e| StoreError::Corrupt(format!("queue reference: {e}")))?,
        applicant: SafeText::new(&applicant),
        check_type: SafeText::new(&check_type),
        why_referred: SafeText::new(&why),
        received_at: parse_ts(&received)?,
        status: QueueStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("queue status '{status}'")))?,
        lane: Lane::New,
        note: None,
    })
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

fn settle_in(tx: &Transaction<'_>, refs: &[CaseRef]) -> Result<(), StoreError> {
    for r in refs {
        tx.execute("UPDATE queue SET status = 'closed' WHERE case_ref = ?1 AND status = 'pending'", [r.to_string()])?;
    }
    Ok(())
}

const QUEUE_COLUMNS: &str = "case_ref, applicant, check_type, why_referred, received_at, status";

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Directory { path: dir.display().to_string(), source })?;
        }
        let conn = Connection::open(path)?;
        Self::setup(conn)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        // WAL on local disk; FULL so a committed decision survives power loss too.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions
        // roll back), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_outbox(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, u32, Option<String>, String)> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
    }

    fn to_outbox(raw: (String, String, u32, Option<String>, String)) -> Result<OutboxRow, StoreError> {
        let (decision, state, attempts, last_error, next) = raw;
        Ok(OutboxRow {
            decision: from_json(&decision)?,
            state: OutboxState::parse(&state).ok_or_else(|| StoreError::Corrupt(format!("outbox state '{state}'")))?,
            attempts,
            last_error,
            next_attempt_at: parse_ts(&next)?,
        })
    }

    fn decision_of(tx: &Transaction<'_>, decision_id: &str) -> Result<Decision, StoreError> {
        let raw: String =
            tx.query_row("SELECT decision FROM outbox WHERE decision_id = ?1", [decision_id], |r| r.get(0))?;
        from_json(&raw)
    }
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
            "UPDATE queue SET status = 'closed' WHERE provider = ?1 AND status = 'pending'
               AND case_ref NOT IN (SELECT case_ref FROM keep_refs)",
            [provider.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn open_queue(&self) -> Result<Vec<QueueEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS} FROM queue WHERE status IN ('pending', 'escalated')
             ORDER BY status = 'escalated', received_at, case_ref"
        ))?;
        let rows = stmt.query_map([], queue_row)?;
        rows.map(|r| to_entry(r?)).collect()
    }

    fn queue_entry(&self, case_ref: &CaseRef) -> Result<Option<QueueEntry>, StoreError> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!("SELECT {QUEUE_COLUMNS} FROM queue WHERE case_ref = ?1"),
                [case_ref.to_string()],
                queue_row,
            )
            .optional()?;
        raw.map(to_entry).transpose()
    }

    fn save_decision(&self, decision: &Decision, evidence: &Evidence) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let case_ref = decision.case_ref.to_string();
        let target = json(&decision.target)?;
        let open: i64 = tx.query_row(
            "SELECT COUNT(*) FROM outbox WHERE case_ref = ?1 AND target = ?2 AND state != 'failed'",
            params![case_ref, target],
            |r| r.get(0),
        )?;
        if open > 0 {
            return Err(StoreError::AlreadyDecided(decision.case_ref.clone()));
        }
        let now = ts(decision.created_at);
        tx.execute(
            "INSERT INTO outbox (decision_id, case_ref, target, decision, state, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'saved', ?5, ?5, ?5)",
            params![decision.id, case_ref, target, json(decision)?, now],
        )?;
        if decision.target == TargetId::Case {
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
        tx.commit()?;
        Ok(())
    }

    fn due(&self, now: DateTime<Utc>, include_interrupted: bool) -> Result<Vec<OutboxRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT decision, state, attempts, last_error, next_attempt_at FROM outbox
             WHERE (state = 'saved' AND next_attempt_at <= ?1) OR (?2 AND state = 'sending')
             ORDER BY created_at, decision_id",
        )?;
        let rows = stmt.query_map(params![ts(now), include_interrupted], Self::read_outbox)?;
        rows.map(|r| Self::to_outbox(r?)).collect()
    }

    fn outbox_row(&self, decision_id: &str) -> Result<Option<OutboxRow>, StoreError> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                "SELECT decision, state, attempts, last_error, next_attempt_at FROM outbox WHERE decision_id = ?1",
                [decision_id],
                Self::read_outbox,
            )
            .optional()?;
        raw.map(Self::to_outbox).transpose()
    }

    fn mark_sending(&self, decision_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?2 WHERE decision_id = ?1",
            params![decision_id, ts(Utc::now())],
        )?;
        Ok(())
    }

    fn mark_sent(&self, decision_id: &str, receipt: &Receipt) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let decision = Self::decision_of(&tx, decision_id)?;
        let now = Utc::now();
        tx.execute(
            "UPDATE outbox SET state = 'sent', receipt = ?2, last_error = NULL, updated_at = ?3 WHERE decision_id = ?1",
            params![decision_id, json(receipt)?, ts(now)],
        )?;
        let case_ref = decision.case_ref.to_string();
        if receipt.escalate {
            tx.execute(
                "UPDATE queue SET status = 'escalated', updated_at = ?2 WHERE case_ref = ?1",
                params![case_ref, ts(now)],
            )?;
        }
        // One audit record per provider call, and one for a local escalation.
        for call in &receipt.calls {
            append_audit(
                &tx,
                AuditRecord {
                    at: now,
                    analyst: &decision.analyst,
                    action: "delivered",
                    case_ref: &case_ref,
                    decision_id: Some(decision_id),
                    detail: json(call)?,
                },
            )?;
        }
        if receipt.escalate {
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

    fn mark_retry(&self, decision_id: &str, error: &str, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET state = 'saved', last_error = ?2, next_attempt_at = ?3, updated_at = ?4 WHERE decision_id = ?1",
            params![decision_id, error, ts(retry_at), ts(Utc::now())],
        )?;
        Ok(())
    }

    fn mark_failed(&self, decision_id: &str, error: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let decision = Self::decision_of(&tx, decision_id)?;
        let now = Utc::now();
        tx.execute(
            "UPDATE outbox SET state = 'failed', last_error = ?2, updated_at = ?3 WHERE decision_id = ?1",
            params![decision_id, error, ts(now)],
        )?;
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
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
        let mut counts = OutboxCounts::default();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            match OutboxState::parse(&state) {
                Some(OutboxState::Saved | OutboxState::Sending) => counts.saved += n,
                Some(OutboxState::Sent) => counts.sent += n,
                Some(OutboxState::Failed) => counts.failed += n,
                None => return Err(StoreError::Corrupt(format!("outbox state '{state}'"))),
            }
        }
        Ok(counts)
    }

    fn watermark(&self, provider: ProviderId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let raw: Option<String> = self
            .conn()
            .query_row("SELECT at FROM watermark WHERE provider = ?1", [provider.as_str()], |r| r.get(0))
            .optional()?;
        raw.as_deref().map(parse_ts).transpose()
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

    fn verify_audit(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, at, analyst, action, case_ref, COALESCE(decision_id, ''), detail, prev_hash, hash FROM audit ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        let mut prev = String::new();
        let mut checked = 0;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let fields: Vec<String> = (1..9).map(|i| row.get(i)).collect::<Result<_, _>>()?;
            let [at, analyst, action, case_ref, decision_id, detail, prev_hash, hash] = fields.as_slice() else {
                return Err(StoreError::Corrupt("audit row shape".into()));
            };
            if *prev_hash != prev {
                return Err(StoreError::AuditBroken { id, detail: "does not link to the record before it".into() });
            }
            if audit_hash(prev_hash, at, analyst, action, case_ref, decision_id, detail) != *hash {
                return Err(StoreError::AuditBroken { id, detail: "its content does not match its hash".into() });
            }
            prev = hash.clone();
            checked += 1;
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallRecord, Verdict};

    fn entry(key: &str, minutes: i64) -> QueueEntry {
        QueueEntry {
            case_ref: CaseRef::new(ProviderId::ComplyCube, key),
            applicant: "Test Person".into(),
            check_type: "identity".into(),
            why_referred: "liveness".into(),
            received_at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(minutes),
            status: QueueStatus::Pending,
            lane: Lane::New,
            note: None,
        }
    }

    fn decision(key: &str, verdict: Verdict) -> Decision {
        Decision {
            id: format!("d-{key}"),
            case_ref: CaseRef::new(ProviderId::ComplyCube, key),
            target: TargetId::Case,
            verdict,
            reason: "checked by hand".into(),
            reason_codes: vec![],
            analyst: "ana".into(),
            created_at: Utc::now(),
        }
    }

    fn store() -> SqliteStore {
        match SqliteStore::open_in_memory() {
            Ok(s) => s,
            Err(e) => panic!("in-memory store: {e}"),
        }
    }

    #[test]
    fn queue_upsert_keeps_status_and_orders_oldest_first() -> Result<(), StoreError> {
        let s = store();
        assert_eq!(s.upsert_queue(&[entry("b", 2), entry("a", 1)])?, 2);
        s.save_decision(&decision("a", Verdict::Verify), &Evidence::default())?;
        assert_eq!(s.upsert_queue(&[entry("a", 1), entry("c", 0)])?, 1);
        let keys: Vec<String> = s.open_queue()?.into_iter().map(|e| e.case_ref.key).collect();
        assert_eq!(keys, vec!["c", "b"]);
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
        s.mark_failed("d-a", "refused")?;
        assert_eq!(s.open_queue()?.len(), 1, "a failed decision puts the case back");
        s.save_decision(&again, &Evidence::default())?;
        Ok(())
    }

    #[test]
    fn outbox_lifecycle_and_counts() -> Result<(), StoreError> {
        let s = store();
        s.save_decision(&decision("a", Verdict::Refer), &Evidence::default())?;
        s.save_decision(&decision("b", Verdict::Verify), &Evidence::default())?;
        assert_eq!(s.due(Utc::now(), false)?.len(), 2);
        s.mark_sending("d-a")?;
        assert_eq!(s.due(Utc::now(), false)?.len(), 1, "an interrupted send waits for start-up");
        assert_eq!(s.due(Utc::now(), true)?.len(), 2);
        let receipt = Receipt {
            calls: vec![CallRecord { method: "POST".into(), path: "/x".into(), status: 200, answer: "{}".into() }],
            escalate: true,
        };
        s.upsert_queue(&[entry("a", 1)])?;
        s.mark_sent("d-a", &receipt)?;
        s.mark_retry("d-b", "timeout", Utc::now() + chrono::Duration::hours(1))?;
        assert!(s.due(Utc::now(), true)?.is_empty());
        assert_eq!(s.outbox_counts()?, OutboxCounts { saved: 1, sent: 1, failed: 0 });
        assert_eq!(
            s.queue_entry(&CaseRef::new(ProviderId::ComplyCube, "a"))?.map(|e| e.status),
            Some(QueueStatus::Escalated)
        );
        // two decided, one delivered call, one escalation
        assert_eq!(s.verify_audit()?, 4);
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
}
