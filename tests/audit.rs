//! `kycdesk audit verify` and `audit export`, as processes, on a store written by real
//! decisions and then tampered with.

mod common;

use common::cli::{BIN, EmulatorProcess, isolated_env, kycdesk};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A kycdesk run on another store than the one `isolated_env` names.
fn on_store(dir: &Path, config: &Path, store: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .envs(isolated_env(dir))
        .env("KYCDESK_STORE", store)
        .stdin(Stdio::null())
        .output()
}

/// An emulator, and a store in which `reasons.len()` identity checks were decided and
/// delivered: two audit records each.
fn decided(dir: &Path, reasons: &[&str]) -> R<EmulatorProcess> {
    let emulator = EmulatorProcess::start(dir)?;
    let out = kycdesk(dir, &emulator.config, &["list", "--json"])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cases: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    let refs: Vec<&str> =
        cases.iter().filter(|c| c["check_type"] == "identity").filter_map(|c| c["ref"].as_str()).collect();
    for (case, reason) in refs.iter().zip(reasons) {
        let out = kycdesk(dir, &emulator.config, &["decide", case, "--verdict", "verify", "--reason", reason])?;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    Ok(emulator)
}

/// A copy of the store (and its anchor) to tamper with.
fn copy_store(dir: &Path, name: &str) -> R<PathBuf> {
    let store = dir.join("store.sqlite3");
    let copy = dir.join(name);
    std::fs::copy(&store, &copy)?;
    std::fs::copy(dir.join("store.sqlite3.anchor"), format!("{}.anchor", copy.display()))?;
    Ok(copy)
}

/// Recomputes every hash as kycdesk did before it had an audit key, as someone without
/// the key would after editing; `relabel` marks the records unkeyed too.
fn rehash_without_the_key(store: &Path, relabel: bool) -> R {
    let conn = rusqlite::Connection::open(store)?;
    let rows: Vec<(i64, Vec<String>)> = conn
        .prepare("SELECT id, at, analyst, action, case_ref, COALESCE(decision_id, ''), detail FROM audit ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, (1..7).map(|i| r.get(i)).collect::<Result<Vec<String>, _>>()?)))?
        .collect::<Result<_, _>>()?;
    let mut prev = String::new();
    for (id, fields) in rows {
        let mut h = Sha256::new();
        for part in std::iter::once(&prev).chain(&fields) {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
        let hash = hex::encode(h.finalize());
        conn.execute("UPDATE audit SET prev_hash = ?2, hash = ?3 WHERE id = ?1", rusqlite::params![id, prev, hash])?;
        prev = hash;
    }
    if relabel {
        conn.execute("UPDATE audit SET scheme = 'sha256'", [])?;
    }
    Ok(())
}

#[test]
fn every_kind_of_tampering_fails_verify_with_a_clear_message() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = decided(dir.path(), &["One.", "Two.", "Three."])?;
    let config = &emulator.config;
    let intact = kycdesk(dir.path(), config, &["audit", "verify"])?;
    assert_eq!(intact.status.code(), Some(0), "{}", text(&intact.stderr));
    assert!(text(&intact.stdout).starts_with("audit log intact: 6 record(s) checked; anchored; 3 decision(s)"));
    // The key is kycdesk's own, created private where the config dir is; the anchor too.
    let key = dir.path().join("config/kycdesk/audit.key");
    assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    let anchor = dir.path().join("store.sqlite3.anchor");
    assert_eq!(std::fs::metadata(&anchor)?.permissions().mode() & 0o777, 0o600);

    let cases: &[(&str, &str, &str)] = &[
        (
            "last",
            "DELETE FROM audit WHERE id = 6",
            "ends at record 5 (5 record(s)), but its anchor was written at record 6",
        ),
        ("middle", "DELETE FROM audit WHERE id = 3", "broken at record 4: it does not link to the record before it"),
        (
            "edited",
            "UPDATE audit SET detail = '{\"verdict\":\"reject\"}' WHERE id = 3",
            "broken at record 3: its content",
        ),
        ("all", "DELETE FROM audit", "has no records, but its anchor was written at record 6"),
        ("outbox", "DELETE FROM outbox WHERE rowid = 2", "is in the audit log but not in the outbox"),
        ("undelivered", "DELETE FROM audit WHERE action = 'delivered'", "does not link"),
        (
            "rehashed",
            "UPDATE audit SET detail = '{}' WHERE id = 1",
            "broken at record 1: its content does not match its keyed",
        ),
        (
            "relabelled",
            "UPDATE audit SET detail = '{}' WHERE id = 1",
            "broken at record 6: it does not match the anchor",
        ),
    ];
    for (name, sql, expected) in cases {
        let store = copy_store(dir.path(), &format!("{name}.sqlite3"))?;
        rusqlite::Connection::open(&store)?.execute_batch(sql)?;
        match *name {
            "rehashed" => rehash_without_the_key(&store, false)?,
            "relabelled" => rehash_without_the_key(&store, true)?,
            _ => {}
        }
        let out = on_store(dir.path(), config, &store, &["audit", "verify"])?;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(expected), "{name}: {err}");
        assert!(!text(&out.stdout).contains("intact"), "{name}");
        let export = on_store(dir.path(), config, &store, &["audit", "export"])?;
        assert_eq!(export.status.code(), Some(1), "{name}: a broken log is not exported");
        assert!(export.stdout.is_empty(), "{name}");
    }

    // Every record rewritten and the anchor deleted as well: still not intact.
    let store = copy_store(dir.path(), "bare.sqlite3")?;
    rehash_without_the_key(&store, true)?;
    std::fs::remove_file(format!("{}.anchor", store.display()))?;
    let out = on_store(dir.path(), config, &store, &["audit", "verify"])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("anchor") && text(&out.stderr).contains("missing"), "{}", text(&out.stderr));
    Ok(())
}

#[test]
fn a_chain_made_with_another_key_does_not_verify() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = decided(dir.path(), &["Fine."])?;
    let config = std::fs::read_to_string(&emulator.config)?;
    let with_key = dir.path().join("with-key.toml");
    std::fs::write(&with_key, format!("{config}\n[audit]\nkey = {{ env = \"KD_TEST_AUDIT_KEY\" }}\n"))?;
    std::fs::set_permissions(&with_key, std::fs::Permissions::from_mode(0o600))?;
    let run = |key: &str| {
        Command::new(BIN)
            .arg("--config")
            .arg(&with_key)
            .args(["audit", "verify"])
            .envs(isolated_env(dir.path()))
            .env("KD_TEST_AUDIT_KEY", key)
            .stdin(Stdio::null())
            .output()
    };
    let own = std::fs::read_to_string(dir.path().join("config/kycdesk/audit.key"))?;
    assert_eq!(run(own.trim())?.status.code(), Some(0), "the same key, from the environment");
    let other = run(&"x".repeat(64))?;
    assert_eq!(other.status.code(), Some(1));
    assert!(text(&other.stderr).contains("keyed hash"), "{}", text(&other.stderr));
    let short = run("short")?;
    assert_eq!(short.status.code(), Some(1));
    assert!(text(&short.stderr).contains("at least 32 bytes"), "{}", text(&short.stderr));
    Ok(())
}

#[test]
fn verify_and_export_create_no_store() -> R {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("empty.toml");
    std::fs::write(&config, "")?;
    let missing = dir.path().join("nowhere").join("store.sqlite3");
    for args in [&["audit", "verify"][..], &["audit", "export", "--format", "csv"]] {
        let out = on_store(dir.path(), &config, &missing, args)?;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains("there is no store at"), "{}", text(&out.stderr));
        assert!(!dir.path().join("nowhere").exists(), "{args:?} created the store's directory");
    }
    assert!(!dir.path().join("config/kycdesk/audit.key").exists(), "nor a key");
    Ok(())
}

#[test]
fn export_prints_who_decided_what_in_both_formats_and_by_range() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = decided(dir.path(), &["Plain reason.", "Second look:\nname matches, Zoë."])?;
    let export = |args: &[&str]| -> R<Output> {
        let out = kycdesk(dir.path(), &emulator.config, &[&["audit", "export"][..], args].concat())?;
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(!out.stdout.contains(&0x1b) && !text(&out.stdout).contains('\u{9b}'), "{args:?}: raw controls");
        Ok(out)
    };
    let all = export(&[])?;
    let records: Vec<Value> = text(&all.stdout).lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(records.len(), 4);
    let decided = &records[0];
    assert_eq!((decided["action"].as_str(), decided["analyst"].as_str()), (Some("decided"), Some("e2e-analyst")));
    assert!(decided["case_ref"].as_str().is_some_and(|c| c.starts_with("complycube:")));
    assert!(decided["decision_id"].is_string() && decided["at"].as_str().is_some_and(|a| a.ends_with('Z')));
    assert_eq!(decided["detail"]["reason"], "Plain reason.");
    assert_eq!(decided["detail"]["verdict"], "verify");
    assert!(decided["detail"]["evidence"]["media_sha256"].is_array(), "the evidence shown, by hash");
    // Escapes never get into a reason (`decide` refuses them); lines and letters do.
    let second = records.iter().find(|r| r["action"] == "decided" && r["detail"]["reason"] != "Plain reason.");
    let reason = second.and_then(|r| r["detail"]["reason"].as_str()).ok_or("no second decision")?;
    assert_eq!(reason, "Second look:\nname matches, Zoë.");

    let csv = export(&["--format", "csv"])?;
    let mut reader = csv::Reader::from_reader(csv.stdout.as_slice());
    assert_eq!(reader.headers()?, vec!["id", "at", "analyst", "action", "case_ref", "decision_id", "detail"]);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 4);
    for (row, record) in rows.iter().zip(&records) {
        assert_eq!(row.get(1), record["at"].as_str());
        assert_eq!(row.get(3), record["action"].as_str());
        let detail: Value = serde_json::from_str(row.get(6).unwrap_or_default())?;
        assert_eq!(detail, record["detail"]);
    }

    // One instant, both ends included; whole days in UTC.
    let at = records[1]["at"].as_str().ok_or("at")?;
    let one = export(&["--from", at, "--to", at])?;
    let ats: Vec<Value> = text(&one.stdout).lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert!(!ats.is_empty() && ats.iter().all(|r| r["at"] == at), "{ats:?}");
    let day = at.get(..10).ok_or("date")?;
    let that_day = export(&["--from", day, "--to", day])?;
    let on_day = records.iter().filter(|r| r["at"].as_str().is_some_and(|a| a.starts_with(day))).count();
    assert_eq!(text(&that_day.stdout).lines().count(), on_day);
    let before = export(&["--to", "2000-01-01"])?;
    assert!(before.stdout.is_empty());
    let bad = kycdesk(dir.path(), &emulator.config, &["audit", "export", "--from", "yesterday"])?;
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("is not a date"), "{}", text(&bad.stderr));
    Ok(())
}
