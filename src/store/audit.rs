//! The audit log: a keyed hash chain in the store, and an anchor beside it.
//!
//! Each record's hash covers the previous record's hash and its own fields. Records
//! carry their scheme: stores written before the audit key hold `sha256` records (an
//! unkeyed chain, still checked as before); from the first record a keyed kycdesk writes,
//! every record is `hmac-sha256` under the audit key, which lives with the credentials,
//! not in the store, so a chain edited and re-hashed without it does not verify. An
//! unkeyed record after a keyed one is refused (it would be a downgrade).
//!
//! The anchor file (`<store>.anchor`, 0600) holds the head (record id, count, hash),
//! HMAC'd, and is moved forward after each commit that appended records, under a file
//! lock and never backwards. Deleting the last records, or all of them, leaves the log
//! short of its anchor. A crash between a commit and its anchor update leaves the anchor
//! behind, which is fine as long as the chain extends it.

use super::{AuditEntry, AuditReport, StoreError};
use crate::domain::SafeText;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::io::Write as _;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};

/// The scheme of records written before kycdesk had an audit key.
pub(super) const UNKEYED: &str = "sha256";
pub(super) const KEYED: &str = "hmac-sha256";

/// Outbox states and the audit actions a decision in that state must have besides its
/// "decided" record (any one of them).
const STATE_RECORDS: &[(&str, &[&str])] = &[
    ("sent", &["delivered", "escalated"]),
    ("failed", &["failed"]),
    ("withdrawn", &["withdrawn"]),
    ("dropped", &["dropped"]),
];

/// The key of the audit chain and its anchor. Never stored in the store.
pub struct AuditKey(SecretString);

impl AuditKey {
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    fn mac(&self) -> Result<Hmac<Sha256>, StoreError> {
        <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret().as_bytes())
            .map_err(|e| StoreError::Corrupt(format!("audit key: {e}")))
    }

    /// A keyed digest of a personal fact (an applicant's identity key): the store can
    /// tell two equal facts apart from others without holding either. Its own domain
    /// string keeps it apart from the chain's MACs.
    pub(super) fn fact_digest(&self, kind: &str, value: &str) -> Result<String, StoreError> {
        let mut mac = self.mac()?;
        mac.update(b"kycdesk identity key v1");
        for part in [kind, value] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(redacted)")
    }
}

pub(super) struct AuditRecord<'a> {
    pub at: DateTime<Utc>,
    pub analyst: &'a str,
    pub action: &'a str,
    pub case_ref: &'a str,
    pub decision_id: Option<&'a str>,
    pub detail: String,
}

/// The hash of an unkeyed (`sha256`) record, as kycdesk wrote them before the audit key.
fn unkeyed_hash(
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

/// The fields a keyed record's MAC covers, each length-prefixed so no two records can
/// share an encoding; the position (`seq`) makes every record's place part of it.
struct Fields<'a> {
    prev: &'a str,
    seq: i64,
    at: &'a str,
    analyst: &'a str,
    action: &'a str,
    case_ref: &'a str,
    decision_id: Option<&'a str>,
    detail: &'a str,
}

fn keyed_mac(key: &AuditKey, f: &Fields<'_>) -> Result<Hmac<Sha256>, StoreError> {
    let mut mac = key.mac()?;
    mac.update(b"kycdesk audit record v1");
    let seq = f.seq.to_string();
    let decision = f.decision_id.map(|d| format!("+{d}")).unwrap_or_default();
    for part in [f.prev, &seq, f.at, f.analyst, f.action, f.case_ref, &decision, f.detail] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    Ok(mac)
}

fn keyed_hash(key: &AuditKey, fields: &Fields<'_>) -> Result<String, StoreError> {
    Ok(hex::encode(keyed_mac(key, fields)?.finalize().into_bytes()))
}

fn keyed_matches(key: &AuditKey, fields: &Fields<'_>, hash: &str) -> Result<bool, StoreError> {
    let Ok(tag) = hex::decode(hash) else { return Ok(false) };
    Ok(keyed_mac(key, fields)?.verify_slice(&tag).is_ok())
}

// The audit key and "records were appended" of the connection a thread holds: lets
// `append_audit(tx, record)` keep its shape while the key stays outside the store.
thread_local! {
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

struct Scope {
    key: Option<Arc<AuditKey>>,
    /// The id of the first record appended while the connection was held.
    first_appended: Option<i64>,
}

/// Appends one record to the chain, in the caller's transaction.
pub(super) fn append_audit(tx: &Transaction<'_>, record: AuditRecord<'_>) -> Result<(), StoreError> {
    let key = SCOPE.with(|s| s.borrow().as_ref().and_then(|scope| scope.key.clone()));
    let prev: Option<(String, String, i64)> = tx
        .query_row("SELECT hash, scheme, seq FROM audit ORDER BY id DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (prev_hash, prev_scheme, prev_seq) = prev.unwrap_or_else(|| (String::new(), UNKEYED.into(), 0));
    let at = super::sqlite::ts(record.at);
    let seq = prev_seq + 1;
    let (scheme, hash) = match &key {
        Some(key) => {
            let fields = Fields {
                prev: &prev_hash,
                seq,
                at: &at,
                analyst: record.analyst,
                action: record.action,
                case_ref: record.case_ref,
                decision_id: record.decision_id,
                detail: &record.detail,
            };
            (KEYED, keyed_hash(key, &fields)?)
        }
        // A store opened without a key (tests, in memory) chains unkeyed, until a keyed
        // record exists: after that an unkeyed one would break the chain.
        None if prev_scheme == KEYED => {
            return Err(StoreError::AuditKeyMissing("this store's audit log is keyed".into()));
        }
        None => {
            let decision_id = record.decision_id.unwrap_or_default();
            (
                UNKEYED,
                unkeyed_hash(
                    &prev_hash,
                    &at,
                    record.analyst,
                    record.action,
                    record.case_ref,
                    decision_id,
                    &record.detail,
                ),
            )
        }
    };
    tx.execute(
        "INSERT INTO audit (at, analyst, action, case_ref, decision_id, detail, prev_hash, hash, scheme, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            at,
            record.analyst,
            record.action,
            record.case_ref,
            record.decision_id,
            record.detail,
            prev_hash,
            hash,
            scheme,
            seq
        ],
    )?;
    let id = tx.last_insert_rowid();
    SCOPE.with(|s| {
        if let Some(scope) = s.borrow_mut().as_mut() {
            scope.first_appended.get_or_insert(id);
        }
    });
    Ok(())
}

/// What a store knows of its audit key and anchor.
#[derive(Default)]
pub(super) struct AuditState {
    key: Option<Arc<AuditKey>>,
    anchor: Option<PathBuf>,
    read_only: bool,
}

impl AuditState {
    pub(super) fn read_only(store: &Path) -> Self {
        Self { key: None, anchor: Some(anchor_path(store)), read_only: true }
    }

    /// The audit key, where the store may write with it (not opened read-only).
    pub(super) fn writing_key(&self) -> Option<&AuditKey> {
        self.key.as_deref().filter(|_| !self.read_only)
    }

    pub(super) fn key(&self) -> Option<&AuditKey> {
        self.key.as_deref()
    }

    /// Sets the key; a writable store on disk gets its anchor now if it has none and no
    /// keyed record yet (a new store, or one written before the audit key).
    pub(super) fn set_key(&mut self, conn: &Connection, key: AuditKey) -> Result<(), StoreError> {
        let key = Arc::new(key);
        if self.anchor.is_none() {
            self.anchor = conn.path().filter(|p| !p.is_empty()).map(|p| anchor_path(Path::new(p)));
        }
        if let (Some(path), false) = (&self.anchor, self.read_only) {
            let _lock = lock(path)?;
            if read_anchor(path)?.is_none() {
                if keyed_records_before(conn, i64::MAX)? {
                    tracing::error!(anchor = %path.display(), "the audit anchor is missing; not re-creating it");
                } else {
                    write_anchor(path, &key, &head(conn)?)?;
                }
            }
        }
        self.key = Some(key);
        Ok(())
    }

    /// Moves the anchor to the committed head, if that is ahead of it.
    fn anchor_head(&self, conn: &Connection, first_appended: i64) -> Result<(), StoreError> {
        let (Some(key), Some(path)) = (&self.key, &self.anchor) else { return Ok(()) };
        let _lock = lock(path)?;
        let head = head(conn)?;
        match read_anchor(path)? {
            Some(anchor) => {
                if !anchor.authentic(key)? {
                    // Evidence of tampering: keep it for `audit verify` to report.
                    return Err(anchor_error(path, "its MAC does not match; left as found"));
                }
                if head.id > anchor.head.id {
                    write_anchor(path, key, &head)?;
                }
            }
            // Deleted while kycdesk ran, with keyed records already written: re-creating
            // it would hide whatever was deleted with it.
            None if keyed_records_before(conn, first_appended)? => {
                return Err(anchor_error(path, "missing; not re-created"));
            }
            None => write_anchor(path, key, &head)?,
        }
        Ok(())
    }
}

/// The connection of a store, held: records appended through it are chained with the
/// store's key, and anchored when it is let go (after the transaction's commit).
pub(super) struct AuditedConn<'a> {
    conn: MutexGuard<'a, Connection>,
    state: &'a AuditState,
    outer: Option<Scope>,
}

impl<'a> AuditedConn<'a> {
    pub(super) fn new(conn: MutexGuard<'a, Connection>, state: &'a AuditState) -> Self {
        let scope = Scope { key: state.key.clone(), first_appended: None };
        let outer = SCOPE.with(|s| s.replace(Some(scope)));
        Self { conn, state, outer }
    }
}

impl Deref for AuditedConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for AuditedConn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for AuditedConn<'_> {
    fn drop(&mut self) {
        let mine = SCOPE.with(|s| s.replace(self.outer.take()));
        // Any transaction on the connection has ended by now: committed or rolled back.
        if let Some(first) = mine.and_then(|scope| scope.first_appended)
            && let Err(e) = self.state.anchor_head(&self.conn, first)
        {
            tracing::error!("audit anchor not updated: {e}");
        }
    }
}

pub(super) fn anchor_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".anchor");
    PathBuf::from(name)
}

fn anchor_error(path: &Path, detail: &str) -> StoreError {
    StoreError::AuditAnchor { path: path.display().to_string(), detail: detail.into() }
}

/// The newest record: its id, its position and its hash (all zero for an empty log).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    id: i64,
    count: i64,
    hash: String,
}

fn head(conn: &Connection) -> Result<Head, StoreError> {
    let head = conn
        .query_row("SELECT id, seq, hash FROM audit ORDER BY id DESC LIMIT 1", [], |r| {
            Ok(Head { id: r.get(0)?, count: r.get(1)?, hash: r.get(2)? })
        })
        .optional()?;
    Ok(head.unwrap_or_default())
}

fn keyed_records_before(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM audit WHERE scheme = ?1 AND id < ?2)",
        params![KEYED, id],
        |r| r.get(0),
    )?)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Anchor {
    #[serde(flatten)]
    head: Head,
    mac: String,
}

impl Anchor {
    fn mac(key: &AuditKey, head: &Head) -> Result<Hmac<Sha256>, StoreError> {
        let mut mac = key.mac()?;
        mac.update(b"kycdesk audit anchor v1");
        for part in [head.id.to_string(), head.count.to_string(), head.hash.clone()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        Ok(mac)
    }

    fn new(key: &AuditKey, head: &Head) -> Result<Self, StoreError> {
        Ok(Self { head: head.clone(), mac: hex::encode(Self::mac(key, head)?.finalize().into_bytes()) })
    }

    fn authentic(&self, key: &AuditKey) -> Result<bool, StoreError> {
        let Ok(tag) = hex::decode(&self.mac) else { return Ok(false) };
        Ok(Self::mac(key, &self.head)?.verify_slice(&tag).is_ok())
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    anchor_error(path, &e.to_string())
}

/// An exclusive lock on `<anchor>.lock`, held until the file is dropped. The anchor
/// itself is replaced by rename, so it cannot carry the lock.
fn lock(anchor: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = anchor.as_os_str().to_owned();
    name.push(".lock");
    let file = crate::private_fs::open_append(&PathBuf::from(name)).map_err(|e| io_error(anchor, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| io_error(anchor, e))?;
    Ok(file)
}

fn read_anchor(path: &Path) -> Result<Option<Anchor>, StoreError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| io_error(path, format!("unreadable: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Written whole to a private temporary file, synced, then renamed over the anchor, so
/// a crash leaves the old anchor or the new one, never half of one.
fn write_anchor(path: &Path, key: &AuditKey, head: &Head) -> Result<(), StoreError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let text = serde_json::to_string(&Anchor::new(key, head)?).map_err(|e| io_error(path, e))?;
    let mut tmp = crate::private_fs::temp_file_in(dir, ".kycdesk-anchor").map_err(|e| io_error(path, e))?;
    tmp.write_all(text.as_bytes()).and_then(|()| tmp.as_file().sync_all()).map_err(|e| io_error(path, e))?;
    tmp.persist(path).map_err(|e| io_error(path, e.error))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error(path, e))?;
    Ok(())
}

/// Walks the chain, checks it against its anchor and the outbox against it, in one
/// read transaction. The anchor is read first: it only ever names committed records.
pub(super) fn verify(conn: &mut Connection, state: &AuditState) -> Result<AuditReport, StoreError> {
    let anchor = match &state.anchor {
        Some(path) => read_anchor(path)?.map(|a| (path.clone(), a)),
        None => None,
    };
    let key = state.key.as_deref();
    let tx = conn.transaction()?;
    let migrated: bool =
        tx.query_row("SELECT EXISTS (SELECT 1 FROM pragma_table_info('audit') WHERE name = 'scheme')", [], |r| {
            r.get(0)
        })?;
    // A store of the schema before the keyed log (opened read-only, not migrated).
    let columns = if migrated { "scheme, seq" } else { "'sha256', 0" };
    let mut report = AuditReport::default();
    let mut at_anchor: Option<Head> = None;
    let mut last = Head::default();
    {
        let mut stmt = tx.prepare(&format!(
            "SELECT id, at, analyst, action, case_ref, decision_id, detail, prev_hash, hash, {columns} FROM audit ORDER BY id"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let text = |i: usize| row.get::<_, String>(i);
            let (at, analyst, action, case_ref) = (text(1)?, text(2)?, text(3)?, text(4)?);
            let decision_id: Option<String> = row.get(5)?;
            let (detail, prev_hash, hash, scheme) = (text(6)?, text(7)?, text(8)?, text(9)?);
            let seq: i64 = row.get(10)?;
            let broken = |detail: &str| StoreError::AuditBroken { id, detail: detail.into() };
            let position = last.count + 1;
            if prev_hash != last.hash {
                return Err(broken("it does not link to the record before it: a record was deleted or changed"));
            }
            match scheme.as_str() {
                KEYED => {
                    let Some(key) = key else {
                        return Err(StoreError::AuditKeyMissing(format!("record {id} is keyed")));
                    };
                    if seq != position {
                        return Err(broken(&format!(
                            "it says it is record number {seq} of the chain, but it is {position}"
                        )));
                    }
                    let fields = Fields {
                        prev: &prev_hash,
                        seq,
                        at: &at,
                        analyst: &analyst,
                        action: &action,
                        case_ref: &case_ref,
                        decision_id: decision_id.as_deref(),
                        detail: &detail,
                    };
                    if !keyed_matches(key, &fields, &hash)? {
                        return Err(broken(
                            "its content does not match its keyed hash: it was edited, or re-hashed without the audit key",
                        ));
                    }
                    report.keyed += 1;
                }
                UNKEYED if report.keyed > 0 => {
                    return Err(broken(
                        "it is unkeyed but follows keyed records: written or re-hashed without the audit key",
                    ));
                }
                UNKEYED => {
                    let decision = decision_id.as_deref().unwrap_or_default();
                    if unkeyed_hash(&prev_hash, &at, &analyst, &action, &case_ref, decision, &detail) != hash {
                        return Err(broken("its content does not match its hash"));
                    }
                    report.unkeyed += 1;
                }
                other => return Err(broken(&format!("unknown hash scheme '{}'", crate::domain::sanitize(other)))),
            }
            last = Head { id, count: position, hash };
            if anchor.as_ref().is_some_and(|(_, a)| a.head.id == id) {
                at_anchor = Some(last.clone());
            }
        }
    }
    report.records = u64::try_from(last.count).unwrap_or_default();
    check_anchor(anchor, key, at_anchor, &last, &mut report, &state.anchor)?;
    cross_check(&tx, &mut report)?;
    Ok(report)
}

fn check_anchor(
    anchor: Option<(PathBuf, Anchor)>,
    key: Option<&AuditKey>,
    at_anchor: Option<Head>,
    last: &Head,
    report: &mut AuditReport,
    expected: &Option<PathBuf>,
) -> Result<(), StoreError> {
    let Some((path, anchor)) = anchor else {
        // An in-memory store has no anchor; one on disk that has records must have one.
        return match expected {
            Some(path) if last.count > 0 || report.keyed > 0 => Err(anchor_error(
                path,
                "missing: the log cannot be shown complete (a store last written before kycdesk anchored its \
                 audit log gets one the next time kycdesk opens it to write)",
            )),
            _ => Ok(()),
        };
    };
    let Some(key) = key else {
        return Err(StoreError::AuditKeyMissing(format!("the anchor {} is keyed", path.display())));
    };
    if !anchor.authentic(key)? {
        return Err(anchor_error(&path, "its MAC does not match: it was forged, or written with another audit key"));
    }
    let a = &anchor.head;
    if a.id > 0 || a.count > 0 {
        match at_anchor {
            Some(h) if h == *a => {}
            Some(_) => {
                return Err(StoreError::AuditBroken {
                    id: a.id,
                    detail: "it does not match the anchor: the log was re-hashed or renumbered after it was written"
                        .into(),
                });
            }
            None if last.count == 0 => {
                return Err(StoreError::AuditIncomplete(format!(
                    "it has no records, but its anchor was written at record {} ({} record(s)): they were deleted",
                    a.id, a.count
                )));
            }
            None if last.id < a.id => {
                return Err(StoreError::AuditIncomplete(format!(
                    "it ends at record {} ({} record(s)), but its anchor was written at record {} ({} record(s)): \
                     records were deleted from its end",
                    last.id, last.count, a.id, a.count
                )));
            }
            None => {
                return Err(StoreError::AuditIncomplete(format!(
                    "record {}, where its anchor was written, is gone",
                    a.id
                )));
            }
        }
    }
    report.anchored = Some(u64::try_from(a.count).unwrap_or_default());
    Ok(())
}

/// Every decision in the outbox has its "decided" record and the record of the state it
/// reached; every "decided" record has its decision.
fn cross_check(tx: &Transaction<'_>, report: &mut AuditReport) -> Result<(), StoreError> {
    let first = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<Option<String>, StoreError> {
        Ok(tx.query_row(sql, p, |r| r.get(0)).optional()?)
    };
    let missing = |decision: String, what: &str| {
        StoreError::AuditIncomplete(format!(
            "decision {} in the outbox has no {what} audit record",
            crate::domain::sanitize(&decision)
        ))
    };
    let unaudited = "SELECT o.decision_id FROM outbox o WHERE NOT EXISTS
        (SELECT 1 FROM audit a WHERE a.decision_id = o.decision_id AND a.action = 'decided') ORDER BY o.rowid LIMIT 1";
    if let Some(decision) = first(unaudited, &[])? {
        return Err(missing(decision, "\"decided\""));
    }
    for (state, actions) in STATE_RECORDS {
        let list = actions.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT o.decision_id FROM outbox o WHERE o.state = ?1 AND NOT EXISTS
             (SELECT 1 FROM audit a WHERE a.decision_id = o.decision_id AND a.action IN ({list})) ORDER BY o.rowid LIMIT 1"
        );
        if let Some(decision) = first(&sql, &[state])? {
            let what = actions.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(" or ");
            return Err(missing(decision, &format!("{what} (it is {state})")));
        }
    }
    let orphan = "SELECT a.decision_id FROM audit a WHERE a.action = 'decided' AND NOT EXISTS
        (SELECT 1 FROM outbox o WHERE o.decision_id = a.decision_id) ORDER BY a.id LIMIT 1";
    if let Some(decision) = first(orphan, &[])? {
        return Err(StoreError::AuditIncomplete(format!(
            "decision {} is in the audit log but not in the outbox",
            crate::domain::sanitize(&decision)
        )));
    }
    report.decisions = tx.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
    Ok(())
}

/// The records whose time is in `[from, to]`, oldest first.
pub(super) fn export(
    conn: &Connection,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<AuditEntry>, StoreError> {
    // Stored times are fixed-width UTC text, so they compare as text.
    let mut stmt = conn.prepare(
        "SELECT id, at, analyst, action, case_ref, decision_id, detail FROM audit
         WHERE (?1 IS NULL OR at >= ?1) AND (?2 IS NULL OR at <= ?2) ORDER BY at, id",
    )?;
    let rows = stmt.query_map(params![from.map(super::sqlite::ts), to.map(super::sqlite::ts)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    rows.map(|row| {
        let (id, at, analyst, action, case_ref, decision_id, detail) = row?;
        Ok(AuditEntry {
            id,
            at: super::sqlite::parse_ts(&at)?,
            analyst: SafeText::new(&analyst),
            action: SafeText::new(&action),
            case_ref: SafeText::new(&case_ref),
            decision_id: decision_id.as_deref().map(SafeText::new),
            detail: SafeText::new(&detail),
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallRecord, CaseRef, Decision, ProviderId, TargetId, Verdict};
    use crate::store::{Evidence, SqliteStore, Store};
    use std::os::unix::fs::PermissionsExt;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn key() -> AuditKey {
        AuditKey::new("k".repeat(40).into())
    }

    fn decision(id: &str) -> Decision {
        Decision {
            id: id.into(),
            case_ref: CaseRef::new(ProviderId::ComplyCube, id),
            target: TargetId::Case,
            verdict: Verdict::Verify,
            reason: "checked by hand".into(),
            reason_codes: vec![],
            analyst: "ana".into(),
            created_at: Utc::now(),
        }
    }

    /// Delivers a saved decision as a sender does: claimed, one call recorded as it goes
    /// out and as it is answered, then marked sent.
    fn deliver(s: &SqliteStore, id: &str) -> Result<(), StoreError> {
        let lease = std::time::Duration::from_secs(60);
        let call = CallRecord { method: "POST".into(), path: "/x".into(), status: 200, answer: "{}".into() };
        if s.claim(id, "test", lease, true)?.is_none()
            || !s.call_started(id, "test", "x", lease)?
            || !s.call_done(id, "test", "x", &call)?
        {
            return Err(StoreError::LeaseLost(id.into()));
        }
        s.mark_sent(id, "test", crate::store::SentOutcome::default())
    }

    /// A keyed store on disk with `n` decisions saved, the first one delivered.
    fn keyed(dir: &Path, n: usize) -> Result<(SqliteStore, PathBuf), Box<dyn std::error::Error>> {
        let path = dir.join("store.sqlite3");
        let s = SqliteStore::open(&path)?.with_audit_key(key())?;
        for i in 0..n {
            s.save_decision(&decision(&format!("d{i}")), &Evidence::default())?;
        }
        if n > 0 {
            deliver(&s, "d0")?;
        }
        Ok((s, path))
    }

    /// `keyed`, closed: its file holds everything (no write-ahead log beside it), to copy.
    fn keyed_closed(dir: &Path, n: usize) -> Result<PathBuf, Box<dyn std::error::Error>> {
        Ok(keyed(dir, n)?.1)
    }

    fn raw(path: &Path, sql: &str) -> R {
        Connection::open(path)?.execute_batch(sql)?;
        Ok(())
    }

    fn read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_read_only(path)?.with_audit_key(key())
    }

    fn err(s: &SqliteStore) -> String {
        s.verify_audit_report().err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_keyed_log_verifies_and_is_anchored_privately() -> R {
        let dir = tempfile::tempdir()?;
        let (s, path) = keyed(dir.path(), 3)?;
        let report = s.verify_audit_report()?;
        assert_eq!(report, AuditReport { records: 4, keyed: 4, unkeyed: 0, anchored: Some(4), decisions: 3 });
        assert_eq!(read_only(&path)?.verify_audit_report()?, report);
        let anchor = anchor_path(&path);
        assert_eq!(std::fs::metadata(&anchor)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(format!("{}.lock", anchor.display()))?.permissions().mode() & 0o777, 0o600);
        Ok(())
    }

    #[test]
    fn an_edited_record_is_detected_even_re_hashed_without_the_key() -> R {
        let dir = tempfile::tempdir()?;
        let (_s, path) = keyed(dir.path(), 3)?;
        raw(&path, "UPDATE audit SET detail = '{\"verdict\":\"reject\"}' WHERE id = 2")?;
        let e = err(&read_only(&path)?);
        assert!(e.contains("record 2") && e.contains("keyed hash"), "{e}");
        // Re-hashed as kycdesk hashed before it had a key.
        rehash_unkeyed(&path, false)?;
        let e = err(&read_only(&path)?);
        assert!(e.contains("record 1") && e.contains("keyed hash"), "{e}");
        // And marked unkeyed, all of it: the anchor no longer matches.
        rehash_unkeyed(&path, true)?;
        let e = err(&read_only(&path)?);
        assert!(e.contains("does not match the anchor"), "{e}");
        Ok(())
    }

    /// Recomputes every record's hash with the unkeyed scheme, as someone without the key
    /// would; `relabel` also marks them unkeyed.
    fn rehash_unkeyed(path: &Path, relabel: bool) -> R {
        let conn = Connection::open(path)?;
        let rows: Vec<(i64, [String; 6])> = conn
            .prepare(
                "SELECT id, at, analyst, action, case_ref, COALESCE(decision_id, ''), detail FROM audit ORDER BY id",
            )?
            .query_map([], |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?])))?
            .collect::<Result<_, _>>()?;
        let mut prev = String::new();
        for (id, [at, analyst, action, case_ref, decision, detail]) in rows {
            let hash = unkeyed_hash(&prev, &at, &analyst, &action, &case_ref, &decision, &detail);
            conn.execute("UPDATE audit SET prev_hash = ?2, hash = ?3 WHERE id = ?1", params![id, prev, hash])?;
            prev = hash;
        }
        if relabel {
            conn.execute("UPDATE audit SET scheme = 'sha256'", [])?;
        }
        Ok(())
    }

    #[test]
    fn deleting_the_last_records_or_all_of_them_is_detected() -> R {
        let dir = tempfile::tempdir()?;
        let path = keyed_closed(dir.path(), 3)?;
        let copy = dir.path().join("copy.sqlite3");
        std::fs::copy(&path, &copy)?;
        std::fs::copy(anchor_path(&path), anchor_path(&copy))?;
        raw(&path, "DELETE FROM audit WHERE id = (SELECT MAX(id) FROM audit)")?;
        let e = err(&read_only(&path)?);
        assert!(e.contains("ends at record 3") && e.contains("deleted from its end"), "{e}");
        raw(&copy, "DELETE FROM audit")?;
        let e = err(&read_only(&copy)?);
        assert!(e.contains("has no records") && e.contains("4 record(s)"), "{e}");
        Ok(())
    }

    #[test]
    fn a_missing_or_forged_anchor_is_an_error() -> R {
        let dir = tempfile::tempdir()?;
        let (_s, path) = keyed(dir.path(), 2)?;
        let anchor = anchor_path(&path);
        let text = std::fs::read_to_string(&anchor)?;
        std::fs::write(&anchor, text.replace("\"count\":3", "\"count\":2"))?;
        assert!(err(&read_only(&path)?).contains("MAC does not match"));
        std::fs::remove_file(&anchor)?;
        assert!(err(&read_only(&path)?).contains("missing"));
        // Not re-created by the next write either: that would hide what went with it.
        let s = SqliteStore::open(&path)?.with_audit_key(key())?;
        s.save_decision(&decision("later"), &Evidence::default())?;
        assert!(!anchor.exists());
        Ok(())
    }

    #[test]
    fn an_anchor_left_behind_by_a_crash_is_accepted_and_never_moves_back() -> R {
        let dir = tempfile::tempdir()?;
        let (s, path) = keyed(dir.path(), 1)?;
        let anchor = anchor_path(&path);
        let behind = std::fs::read(&anchor)?;
        s.save_decision(&decision("after"), &Evidence::default())?;
        std::fs::write(&anchor, &behind)?;
        let report = read_only(&path)?.verify_audit_report()?;
        assert_eq!((report.records, report.anchored), (3, Some(2)));
        // A writer whose head is behind the anchor leaves it where it is.
        let ahead = Head { id: 99, count: 99, hash: "x".into() };
        write_anchor(&anchor, &key(), &ahead)?;
        s.audit.anchor_head(&Connection::open(&path)?, 1)?;
        assert_eq!(read_anchor(&anchor)?.map(|a| a.head), Some(ahead));
        Ok(())
    }

    #[test]
    fn concurrent_writers_leave_the_anchor_at_the_head() -> R {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.sqlite3");
        SqliteStore::open(&path)?.with_audit_key(key())?;
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || -> Result<(), StoreError> {
                    let s = SqliteStore::open(&path)?.with_audit_key(key())?;
                    for i in 0..8 {
                        s.save_decision(&decision(&format!("w{w}-{i}")), &Evidence::default())?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in writers {
            w.join().map_err(|_| "writer panicked")??;
        }
        let report = read_only(&path)?.verify_audit_report()?;
        assert_eq!((report.records, report.anchored, report.decisions), (16, Some(16), 16));
        Ok(())
    }

    #[test]
    fn the_outbox_is_cross_checked() -> R {
        let dir = tempfile::tempdir()?;
        let path = keyed_closed(dir.path(), 2)?;
        let copy = |name: &str| -> Result<PathBuf, Box<dyn std::error::Error>> {
            let to = dir.path().join(name);
            std::fs::copy(&path, &to)?;
            std::fs::copy(anchor_path(&path), anchor_path(&to))?;
            Ok(to)
        };
        let (extra, sent, orphan) = (copy("extra")?, copy("sent")?, copy("orphan")?);
        raw(
            &extra,
            "INSERT INTO outbox (decision_id, case_ref, target, decision, state, next_attempt_at, created_at, updated_at)
             SELECT 'sneaked', case_ref, target, decision, 'saved', next_attempt_at, created_at, updated_at
             FROM outbox WHERE decision_id = 'd1'",
        )?;
        assert!(err(&read_only(&extra)?).contains("decision sneaked in the outbox has no \"decided\""));
        raw(&sent, "UPDATE outbox SET state = 'sent' WHERE decision_id = 'd1'")?;
        let e = err(&read_only(&sent)?);
        assert!(e.contains("decision d1") && e.contains("\"delivered\" or \"escalated\""), "{e}");
        raw(&orphan, "DELETE FROM outbox WHERE decision_id = 'd1'")?;
        assert!(err(&read_only(&orphan)?).contains("decision d1 is in the audit log but not in the outbox"));
        Ok(())
    }

    #[test]
    fn a_keyed_log_needs_its_key() -> R {
        let dir = tempfile::tempdir()?;
        let (_s, path) = keyed(dir.path(), 1)?;
        let unkeyed = SqliteStore::open_read_only(&path)?;
        assert!(matches!(unkeyed.verify_audit_report(), Err(StoreError::AuditKeyMissing(_))));
        let other = SqliteStore::open_read_only(&path)?.with_audit_key(AuditKey::new("o".repeat(40).into()))?;
        assert!(err(&other).contains("keyed hash"));
        // A writer without the key cannot append an unkeyed record after keyed ones.
        let writer = SqliteStore::open(&path)?;
        let saved = writer.save_decision(&decision("x"), &Evidence::default());
        assert!(matches!(saved, Err(StoreError::AuditKeyMissing(_))), "{saved:?}");
        Ok(())
    }

    #[test]
    fn a_log_from_before_the_key_stays_verifiable_and_goes_on_keyed() -> R {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.sqlite3");
        {
            // Written as kycdesk wrote before the audit key: unkeyed, no anchor.
            let s = SqliteStore::open(&path)?;
            s.save_decision(&decision("old"), &Evidence::default())?;
            deliver(&s, "old")?;
        }
        assert!(err(&read_only(&path)?).contains("missing"), "records and no anchor");
        let s = SqliteStore::open(&path)?.with_audit_key(key())?;
        assert!(anchor_path(&path).exists(), "adopted when first opened with the key");
        s.save_decision(&decision("new"), &Evidence::default())?;
        let report = read_only(&path)?.verify_audit_report()?;
        assert_eq!((report.records, report.unkeyed, report.keyed, report.anchored), (3, 2, 1, Some(3)));
        Ok(())
    }

    #[test]
    fn read_only_creates_nothing_and_reads_the_schema_before_the_key() -> R {
        let dir = tempfile::tempdir()?;
        let missing = dir.path().join("nope").join("store.sqlite3");
        assert!(matches!(SqliteStore::open_read_only(&missing), Err(StoreError::NoStore(_))));
        assert!(!dir.path().join("nope").exists());
        let path = dir.path().join("old.sqlite3");
        // Made as kycdesk makes a store: private (others' stores are refused).
        crate::private_fs::ensure_file(&path)?;
        {
            let mut conn = Connection::open(&path)?;
            rusqlite_migration::Migrations::from_slice(&super::super::sqlite::MIGRATIONS[..3]).to_latest(&mut conn)?;
            let hash = unkeyed_hash("", "2024-01-01T00:00:00.000000Z", "ana", "note", "complycube:a", "", "{}");
            conn.execute(
                "INSERT INTO audit (at, analyst, action, case_ref, decision_id, detail, prev_hash, hash)
                 VALUES ('2024-01-01T00:00:00.000000Z', 'ana', 'note', 'complycube:a', NULL, '{}', '', ?1)",
                [hash],
            )?;
        }
        let before = std::fs::read(&path)?;
        let s = SqliteStore::open_read_only(&path)?;
        assert!(s.verify_audit_report().err().is_some_and(|e| e.to_string().contains("missing")));
        assert!(matches!(s.save_decision(&decision("x"), &Evidence::default()), Err(StoreError::Sqlite(_))));
        assert_eq!(s.audit_records(None, None)?.len(), 1);
        assert_eq!(std::fs::read(&path)?, before, "the store file is untouched");
        assert!(!anchor_path(&path).exists());
        drop(s);
        // Migrated, its records are numbered.
        SqliteStore::open(&path)?;
        assert_eq!(Connection::open(&path)?.query_row("SELECT seq FROM audit", [], |r| r.get::<_, i64>(0))?, 1);
        Ok(())
    }

    #[test]
    fn records_are_exported_by_time_range_sanitised() -> R {
        let s = SqliteStore::open_in_memory()?;
        let at = |d: &str| -> Result<DateTime<Utc>, Box<dyn std::error::Error>> {
            Ok(DateTime::parse_from_rfc3339(d)?.with_timezone(&Utc))
        };
        for (id, when) in [("a", "2024-05-01T10:00:00Z"), ("b", "2024-05-02T23:59:59Z"), ("c", "2024-05-03T00:00:00Z")]
        {
            let mut d = decision(id);
            d.created_at = at(when)?;
            // JSON keeps C1 controls as they are: the export must not.
            d.reason = "fine\u{9b}2J".into();
            s.save_decision(&d, &Evidence::default())?;
        }
        let ids = |from: Option<&str>, to: Option<&str>| -> Result<Vec<String>, Box<dyn std::error::Error>> {
            let (from, to) = (from.map(at).transpose()?, to.map(at).transpose()?);
            Ok(s.audit_records(from, to)?
                .into_iter()
                .filter_map(|e| e.decision_id.map(|d| d.as_str().to_string()))
                .collect())
        };
        assert_eq!(ids(None, None)?, ["a", "b", "c"]);
        assert_eq!(ids(Some("2024-05-02T00:00:00Z"), Some("2024-05-02T23:59:59Z"))?, ["b"]);
        assert_eq!(ids(Some("2024-05-01T10:00:00.000001Z"), None)?, ["b", "c"]);
        let all = s.audit_records(None, None)?;
        assert!(all.iter().all(|e| !e.detail.as_str().contains('\u{9b}') && e.detail.as_str().contains("fine")));
        Ok(())
    }
}
