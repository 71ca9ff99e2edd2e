//! Headless commands against `kycdesk emulator --write-config`, as processes.

mod common;

use common::cli::{EmulatorProcess, kycdesk, reqwest};
use serde_json::{Value, json};

type R = Result<(), Box<dyn std::error::Error>>;

fn listed(dir: &std::path::Path, emulator: &EmulatorProcess) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let out = kycdesk(dir, &emulator.config, &["list", "--json"])?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn first_ref(cases: &[Value], check_type: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(cases
        .iter()
        .find(|c| c["check_type"] == check_type)
        .and_then(|c| c["ref"].as_str())
        .ok_or(format!("no {check_type} case"))?
        .to_string())
}

#[test]
fn list_json_shows_the_referred_cases() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let cases = listed(dir.path(), &emulator)?;
    // The providers with a list endpoint are polled: ComplyCube and FrankieOne.
    let count = |p: &str| cases.iter().filter(|c| c["provider"] == p).count();
    assert_eq!((count("complycube"), count("frankieone")), (24, 24));
    for c in &cases {
        for field in ["ref", "provider", "applicant", "status", "received_at"] {
            assert!(c.get(field).is_some_and(|v| v.is_string()), "{field} missing in {c}");
        }
        let provider = c["provider"].as_str().unwrap_or_default();
        assert!(c["ref"].as_str().is_some_and(|r| r.starts_with(&format!("{provider}:"))));
        assert_eq!(c["status"], "pending");
    }
    Ok(())
}

#[test]
fn decide_delivers_and_refuses_what_the_provider_would() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let cases = listed(dir.path(), &emulator)?;
    let identity = first_ref(&cases, "identity")?;
    let screening = first_ref(&cases, "standard screening")?;
    let document = first_ref(&cases, "document")?;

    let out = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", &identity, "--verdict", "verify", "--reason", "Checked by hand."],
    )?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let id = identity.trim_start_matches("complycube:");
    let decisions = emulator.decisions()?;
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["path"], format!("/v1/checks/{id}/validate"));
    assert_eq!(decisions[0]["body"], json!({"outcome": "confirmed", "comment": "Checked by hand."}));

    // Deciding it again is refused: one decision per case.
    let again = kycdesk(dir.path(), &emulator.config, &["decide", &identity, "--verdict", "reject", "--reason", "x"])?;
    assert_eq!(again.status.code(), Some(1));

    // Reject is not a screening verdict.
    let wrong = kycdesk(dir.path(), &emulator.config, &["decide", &screening, "--verdict", "reject", "--reason", "x"])?;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("takes verify, refer"));

    // Over 4000 characters is refused before anything is saved or sent.
    let long = "y".repeat(4001);
    let too_long =
        kycdesk(dir.path(), &emulator.config, &["decide", &document, "--verdict", "verify", "--reason", &long])?;
    assert_eq!(too_long.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("at most 4000"));

    // A reject with a catalogue reason.
    let reject = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", &document, "--verdict", "reject", "--reason", "Expired.", "--reason-code", "document_has_expired"],
    )?;
    assert_eq!(reject.status.code(), Some(0), "{}", String::from_utf8_lossy(&reject.stderr));
    let last = emulator.decisions()?.pop().ok_or("no decision")?;
    assert_eq!(
        last["body"],
        json!({"outcome": "rejected", "rejectionReasons": ["document_has_expired"], "comment": "Expired."})
    );
    assert_eq!(emulator.decisions()?.len(), 2, "nothing else was sent");

    // Decided cases leave the queue.
    let remaining = listed(dir.path(), &emulator)?;
    assert_eq!(remaining.iter().filter(|c| c["provider"] == "complycube").count(), 22);
    Ok(())
}

#[test]
fn a_provider_outage_leaves_the_decision_saved_and_send_delivers_it() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let identity = first_ref(&listed(dir.path(), &emulator)?, "identity")?;
    reqwest::blocking_post_json(
        &format!("{}/_emulator/faults", emulator.base_url),
        json!({"provider": "complycube", "status": 503, "count": 1, "path_contains": "/validate"}),
    )?;
    let out = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", &identity, "--verdict", "refer", "--reason", "Second opinion."],
    )?;
    assert_eq!(out.status.code(), Some(3), "saved, not delivered: {}", String::from_utf8_lossy(&out.stderr));
    let sent = kycdesk(dir.path(), &emulator.config, &["send"])?;
    assert_eq!(sent.status.code(), Some(0), "{}", String::from_utf8_lossy(&sent.stderr));
    let decisions = emulator.decisions()?;
    assert_eq!(
        decisions.last().map(|d| d["body"].clone()),
        Some(json!({"outcome": "attention", "comment": "Second opinion."}))
    );
    // Refer escalates: the case stays open, in the escalated lane.
    let after = listed(dir.path(), &emulator)?;
    let entry = after.iter().find(|c| c["ref"] == identity).ok_or("case gone")?;
    assert_eq!(entry["status"], "escalated");
    let audit = kycdesk(dir.path(), &emulator.config, &["audit", "verify"])?;
    assert!(String::from_utf8_lossy(&audit.stdout).contains("intact"));
    Ok(())
}

#[test]
fn bad_input_gets_clear_errors() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let bad_ref =
        kycdesk(dir.path(), &emulator.config, &["decide", "nonsense", "--verdict", "verify", "--reason", "x"])?;
    assert_eq!(bad_ref.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_ref.stderr).contains("provider:id"));
    let unknown = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", "complycube:000000000000000000000000", "--verdict", "verify", "--reason", "x"],
    )?;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such"));
    // An escape sequence in a reason never reaches the provider or the audit log.
    let hostile = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", "complycube:000000000000000000000000", "--verdict", "verify", "--reason", "ok\u{1b}]0;pwned\u{7}"],
    )?;
    assert_eq!(hostile.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&hostile.stderr).contains("plain text"));

    // A config holding a key inline must be private, as OpenSSH treats its keys.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&emulator.config, std::fs::Permissions::from_mode(0o644))?;
    let open_config = kycdesk(dir.path(), &emulator.config, &["list"])?;
    assert_eq!(open_config.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&open_config.stderr).contains("chmod 600"));

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "providers = 3")?;
    let parse = kycdesk(dir.path(), &broken, &["list"])?;
    assert_eq!(parse.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&parse.stderr).contains("is not valid"));
    Ok(())
}

/// The emulator pushes Credas and IDWise webhooks to a `kycdesk inbox` that starts after
/// it; `list` then shows them, and `decide` reaches the emulator for each.
#[test]
fn inbox_fed_cases_are_listed_and_decided() -> R {
    use common::cli::InboxProcess;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let inbox_url = format!("http://127.0.0.1:{port}");
    let emulator = EmulatorProcess::start_with(dir.path(), &["--cases", "4", "--push-webhooks-to", &inbox_url])?;
    let _inbox = InboxProcess::start(dir.path(), &emulator.config, &format!("127.0.0.1:{port}"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let cases = loop {
        let cases = listed(dir.path(), &emulator)?;
        let count = |p: &str| cases.iter().filter(|c| c["provider"] == p).count();
        if count("credas") == 4 && count("idwise") == 4 && count("complycube") == 4 && count("sumsub") == 4 {
            break cases;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("the inbox did not fill the queue: {cases:?}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let journey = cases.iter().find(|c| c["provider"] == "idwise").and_then(|c| c["ref"].as_str()).ok_or("idwise")?;
    let out = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", journey, "--verdict", "reject", "--reason", "Document tampered."],
    )?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let last = emulator.decisions()?.pop().ok_or("no decision")?;
    assert_eq!(last["method"], "POST");
    assert_eq!(last["path"], format!("/journey/v2/manual-review/{}", journey.trim_start_matches("idwise:")));
    assert_eq!(last["body"], json!({"new_decision": "Rejected", "comment": "Document tampered."}));

    let entry = cases
        .iter()
        .find(|c| c["provider"] == "credas" && c["why_referred"].as_str().is_some_and(|w| w.starts_with("liveness")))
        .and_then(|c| c["ref"].as_str())
        .ok_or("credas")?;
    let out = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", entry, "--verdict", "verify", "--reason", "Selfie is live."],
    )?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (entity, idv) = entry.trim_start_matches("credas:").split_once('/').ok_or("key")?;
    let calls: Vec<Value> = emulator.decisions()?.into_iter().filter(|d| d["provider"] == "credas").collect();
    assert!(!calls.is_empty());
    assert_eq!(calls[0]["method"], "PUT");
    assert_eq!(calls[0]["path"], format!("/api/v2/ci/entities/{entity}/idv-entries/{idv}/verify-liveness"));
    assert_eq!(calls[0]["body"], json!({"reason": "Selfie is live."}));
    // Sumsub (inbox-fed): a reject with a reason group.
    let applicant = cases
        .iter()
        .find(|c| c["provider"] == "sumsub" && c["why_referred"].as_str().is_some_and(|w| w.starts_with("on hold")))
        .and_then(|c| c["ref"].as_str())
        .ok_or("sumsub")?;
    let out = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", applicant, "--verdict", "reject", "--reason", "Forged.", "--reason-code", "fraud:documentForgery"],
    )?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let last = emulator.decisions()?.pop().ok_or("no decision")?;
    assert_eq!(last["path"], format!("/resources/applicants/{}/-/reject", applicant.trim_start_matches("sumsub:")));
    assert_eq!(last["body"], json!({"note": "Forged.", "reasons": {"fraud": ["documentForgery"]}}));
    assert_eq!(last["headers"]["x-app-access-sig"], "[redacted]");

    // FrankieOne (polled): approve the execution; the analyst is named to FrankieOne.
    let execution =
        cases.iter().find(|c| c["provider"] == "frankieone").and_then(|c| c["ref"].as_str()).ok_or("frankieone")?;
    let out =
        kycdesk(dir.path(), &emulator.config, &["decide", execution, "--verdict", "verify", "--reason", "All clear."])?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let last = emulator.decisions()?.pop().ok_or("no decision")?;
    assert_eq!(last["method"], "PATCH");
    assert_eq!(last["body"]["status"], "APPROVED");
    assert_eq!(last["body"]["comment"]["text"], "All clear.");
    assert_eq!(last["headers"]["x-frankie-username"], "e2e-analyst");

    // The decided cases leave the list.
    let remaining = listed(dir.path(), &emulator)?;
    assert!(
        !remaining
            .iter()
            .any(|c| [journey, entry, applicant, execution].contains(&c["ref"].as_str().unwrap_or_default()))
    );
    Ok(())
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn reasons_lists_the_codes_each_provider_takes() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let complycube = kycdesk(dir.path(), &emulator.config, &["reasons", "complycube"])?;
    assert_eq!(complycube.status.code(), Some(0), "{}", stderr(&complycube));
    assert!(stdout(&complycube).contains("document_has_expired"), "{}", stdout(&complycube));
    let sumsub = kycdesk(dir.path(), &emulator.config, &["reasons", "Sumsub"])?;
    assert_eq!(sumsub.status.code(), Some(0), "{}", stderr(&sumsub));
    let listed = stdout(&sumsub);
    assert!(listed.contains("fraud:documentForgery") && listed.contains("Fraud: document forgery"), "{listed}");
    for provider in ["idwise", "credas", "frankieone"] {
        let none = kycdesk(dir.path(), &emulator.config, &["reasons", provider])?;
        assert_eq!(none.status.code(), Some(0), "{}", stderr(&none));
        assert!(stdout(&none).contains("takes no reason codes"), "{provider}: {}", stdout(&none));
    }
    let unknown = kycdesk(dir.path(), &emulator.config, &["reasons", "acme"])?;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("unknown provider 'acme'"), "{}", stderr(&unknown));
    Ok(())
}

#[test]
fn decide_refuses_reason_codes_the_target_does_not_take() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let cases = listed(dir.path(), &emulator)?;
    let document = first_ref(&cases, "document")?;
    let identity = first_ref(&cases, "identity")?;
    let wrong = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", &document, "--verdict", "reject", "--reason", "Expired.", "--reason-code", "document_expired"],
    )?;
    assert_eq!(wrong.status.code(), Some(1));
    let said = stderr(&wrong);
    assert!(said.contains("document_expired") && said.contains("valid codes:"), "{said}");
    assert!(said.contains("document_has_expired"), "the valid codes are listed: {said}");
    let none = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", &identity, "--verdict", "reject", "--reason", "No.", "--reason-code", "document_has_expired"],
    )?;
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("takes no reason codes"), "{}", stderr(&none));
    assert!(emulator.decisions()?.is_empty(), "nothing was sent");
    let outbox = kycdesk(dir.path(), &emulator.config, &["outbox", "--json"])?;
    assert_eq!(outbox.status.code(), Some(0), "{}", stderr(&outbox));
    assert_eq!(serde_json::from_slice::<Vec<Value>>(&outbox.stdout)?, Vec::<Value>::new(), "nothing was saved");
    Ok(())
}

#[test]
fn a_local_refer_is_escalated_locally_not_delivered() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start_with(dir.path(), &["--cases", "2"])?;
    let seeded: Value = reqwest::blocking_get(&format!("{}/_emulator/cases", emulator.base_url))?;
    let journey = seeded["idwise"][0]["id"].as_str().ok_or("no idwise journey")?;
    let out = kycdesk(
        dir.path(),
        &emulator.config,
        &["decide", &format!("idwise:{journey}"), "--verdict", "refer", "--reason", "Senior review."],
    )?;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("escalated locally (nothing sent to IDWise)"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("delivered"), "{}", stdout(&out));
    assert!(emulator.decisions()?.iter().all(|d| d["provider"] != "idwise"));
    Ok(())
}

fn outbox(dir: &std::path::Path, emulator: &EmulatorProcess) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let out = kycdesk(dir, &emulator.config, &["outbox", "--json"])?;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn refuse_next_validate(emulator: &EmulatorProcess) -> R {
    let status = reqwest::blocking_post_json(
        &format!("{}/_emulator/faults", emulator.base_url),
        json!({"provider": "complycube", "status": 422, "count": 1, "path_contains": "/validate"}),
    )?;
    assert_eq!(status, 200);
    Ok(())
}

#[test]
fn outbox_lists_decisions_and_retries_or_drops_a_refused_one() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let cases = listed(dir.path(), &emulator)?;
    let identities: Vec<String> = cases
        .iter()
        .filter(|c| c["check_type"] == "identity")
        .filter_map(|c| c["ref"].as_str().map(str::to_string))
        .take(3)
        .collect();
    let [sent, retried, dropped] = identities.as_slice() else { return Err("three identity checks".into()) };
    let decide = |case: &str, reason: &str| {
        kycdesk(dir.path(), &emulator.config, &["decide", case, "--verdict", "verify", "--reason", reason])
    };
    assert_eq!(decide(sent, "Fine.")?.status.code(), Some(0));
    for case in [retried, dropped] {
        refuse_next_validate(&emulator)?;
        let refused = decide(case, "Checked by hand.")?;
        assert_eq!(refused.status.code(), Some(1));
        assert!(stderr(&refused).contains("refused"), "{}", stderr(&refused));
    }
    // The refused cases are back, in the refused lane with the provider's words.
    let queue = listed(dir.path(), &emulator)?;
    for case in [retried, dropped] {
        let row = queue.iter().find(|c| c["ref"] == case.as_str()).ok_or("refused case gone")?;
        assert_eq!(row["lane"], "refused", "{row}");
        assert!(row["note"].as_str().is_some_and(|n| !n.is_empty()), "{row}");
    }
    assert!(!queue.iter().any(|c| c["ref"] == sent.as_str()), "a sent case leaves the queue");

    let listed_outbox = outbox(dir.path(), &emulator)?;
    let states: Vec<(&str, &str)> =
        listed_outbox.iter().map(|d| (d["case"].as_str().unwrap_or(""), d["state"].as_str().unwrap_or(""))).collect();
    assert_eq!(states, vec![(dropped.as_str(), "failed"), (retried.as_str(), "failed"), (sent.as_str(), "sent")]);
    assert!(listed_outbox[0]["last_error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(listed_outbox[0]["attempts"], 1);
    let text = kycdesk(dir.path(), &emulator.config, &["outbox"])?;
    assert_eq!(text.status.code(), Some(0));
    let lines: Vec<String> = stdout(&text).lines().map(str::to_string).collect();
    assert!(lines[0].starts_with("REF") && lines[0].contains("LAST ERROR"), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains(sent.as_str()) && l.contains("sent") && l.contains("verify")));

    // Retry by the ref `outbox` shows: delivered now.
    let retry_ref = listed_outbox[1]["ref"].as_str().ok_or("ref")?;
    let short = &retry_ref[..8];
    let before = emulator.decisions()?.iter().filter(|d| d["status"] == 200).count();
    let retry = kycdesk(dir.path(), &emulator.config, &["outbox", "retry", short])?;
    assert_eq!(retry.status.code(), Some(0), "{}", stderr(&retry));
    assert!(stdout(&retry).contains(&format!("delivered: verify {retried}")), "{}", stdout(&retry));
    let delivered: Vec<Value> = emulator.decisions()?.into_iter().filter(|d| d["status"] == 200).collect();
    assert_eq!(delivered.len(), before + 1);
    assert_eq!(delivered.last().map(|d| d["body"]["comment"].clone()), Some(json!("Checked by hand.")));
    // A sent decision is neither retried nor dropped.
    let again = kycdesk(dir.path(), &emulator.config, &["outbox", "retry", short])?;
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("only failed decisions can be retried"), "{}", stderr(&again));

    // Drop by case reference: the case is new again, and can be decided anew.
    let no_reason = kycdesk(dir.path(), &emulator.config, &["outbox", "drop", dropped, "--reason", " "])?;
    assert_eq!(no_reason.status.code(), Some(1));
    let drop =
        kycdesk(dir.path(), &emulator.config, &["outbox", "drop", dropped, "--reason", "Decided in the dashboard."])?;
    assert_eq!(drop.status.code(), Some(0), "{}", stderr(&drop));
    let after = outbox(dir.path(), &emulator)?;
    assert_eq!(after[0]["state"], "dropped");
    assert_eq!(after[1]["state"], "sent");
    let queue = listed(dir.path(), &emulator)?;
    let row = queue.iter().find(|c| c["ref"] == dropped.as_str()).ok_or("dropped case gone")?;
    assert_eq!(row["lane"], "new", "{row}");
    let sent_again = kycdesk(dir.path(), &emulator.config, &["outbox", "drop", sent, "--reason", "x"])?;
    assert_eq!(sent_again.status.code(), Some(1));
    assert!(stderr(&sent_again).contains("has no decision that can be dropped"), "{}", stderr(&sent_again));
    let unknown = kycdesk(dir.path(), &emulator.config, &["outbox", "retry", "ffffffff"])?;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no decision"), "{}", stderr(&unknown));

    let audit = kycdesk(dir.path(), &emulator.config, &["audit", "verify"])?;
    assert_eq!(audit.status.code(), Some(0), "{}", stderr(&audit));
    Ok(())
}

/// A decision the console saved with an undo grace period: `send` does not take it before
/// the period ends, and a withdrawn one never.
#[test]
fn send_waits_for_the_undo_grace_period() -> R {
    use kycdesk::domain::{CaseRef, Decision, TargetId, Verdict};
    use kycdesk::store::{Evidence, SaveItem, SqliteStore, Store};
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let cases = listed(dir.path(), &emulator)?;
    let identities: Vec<&str> =
        cases.iter().filter(|c| c["check_type"] == "identity").filter_map(|c| c["ref"].as_str()).take(2).collect();
    let [kept, withdrawn] = identities.as_slice() else { return Err("two identity checks".into()) };
    let store = SqliteStore::open(&dir.path().join("store.sqlite3"))?;
    let item = |case: &str, id: &str| -> Result<SaveItem, Box<dyn std::error::Error>> {
        Ok(SaveItem {
            decision: Decision {
                id: id.into(),
                case_ref: case.parse::<CaseRef>()?,
                target: TargetId::Case,
                verdict: Verdict::Verify,
                reason: "Verified in bulk.".into(),
                reason_codes: vec![],
                analyst: "e2e-analyst".into(),
                created_at: chrono::Utc::now(),
            },
            evidence: Evidence::default(),
            closes_case: false,
        })
    };
    let send_after = chrono::Utc::now() + chrono::Duration::seconds(3);
    store.save_decisions(&[item(kept, "grace-kept")?, item(withdrawn, "grace-withdrawn")?], send_after)?;
    let early = kycdesk(dir.path(), &emulator.config, &["send"])?;
    assert_eq!(early.status.code(), Some(3), "still waiting: {}", stderr(&early));
    assert!(emulator.decisions()?.is_empty(), "nothing is sent in the grace period");
    let queue = listed(dir.path(), &emulator)?;
    let lane = |case: &str| queue.iter().find(|c| c["ref"] == case).map(|c| c["lane"].clone());
    assert_eq!(lane(kept), Some(json!("awaiting delivery")));
    store.withdraw(&["grace-withdrawn".into()], "e2e-analyst")?;
    while chrono::Utc::now() <= send_after {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sent = kycdesk(dir.path(), &emulator.config, &["send"])?;
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    assert_eq!(stdout(&sent).trim(), format!("delivered: {kept}"));
    let decisions = emulator.decisions()?;
    assert_eq!(decisions.len(), 1, "the withdrawn decision is never sent: {decisions:?}");
    assert_eq!(decisions[0]["path"], format!("/v1/checks/{}/validate", kept.trim_start_matches("complycube:")));
    let queue = listed(dir.path(), &emulator)?;
    assert_eq!(queue.iter().find(|c| c["ref"] == *withdrawn).map(|c| c["lane"].clone()), Some(json!("new")));
    let audit = kycdesk(dir.path(), &emulator.config, &["audit", "verify"])?;
    assert_eq!(audit.status.code(), Some(0), "{}", stderr(&audit));
    Ok(())
}

/// Three failed deliveries in a row degrade a provider: `outbox` and `send` say so, its
/// decisions wait, and `send` probes it; once a probe gets through, all go.
#[test]
fn a_failing_provider_is_degraded_then_probed_until_it_recovers() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let cases = listed(dir.path(), &emulator)?;
    let refs: Vec<&str> = cases
        .iter()
        .filter(|c| {
            c["provider"] == "complycube" && !c["check_type"].as_str().unwrap_or_default().contains("screening")
        })
        .filter_map(|c| c["ref"].as_str())
        .take(4)
        .collect();
    assert_eq!(refs.len(), 4, "{cases:?}");
    reqwest::blocking_post_json(
        &format!("{}/_emulator/faults", emulator.base_url),
        json!({"provider": "complycube", "status": 503, "count": 3, "path_contains": "/validate"}),
    )?;
    for r in &refs[..3] {
        let out =
            kycdesk(dir.path(), &emulator.config, &["decide", r, "--verdict", "reject", "--reason", "Tampered."])?;
        assert_eq!(out.status.code(), Some(3), "saved, not delivered: {}", String::from_utf8_lossy(&out.stderr));
    }
    let listing = kycdesk(dir.path(), &emulator.config, &["outbox"])?;
    let said = String::from_utf8_lossy(&listing.stderr);
    assert!(said.contains("ComplyCube is degraded since") && said.contains("3 failed attempts in a row"), "{said}");
    // The fault is used up: the probe of `send` gets through, and the rest follow.
    let sent = kycdesk(dir.path(), &emulator.config, &["send"])?;
    assert_eq!(sent.status.code(), Some(0), "{}", String::from_utf8_lossy(&sent.stderr));
    assert!(!String::from_utf8_lossy(&sent.stderr).contains("degraded"));
    let delivered = emulator.decisions()?.iter().filter(|d| d["status"] == 200).count();
    assert_eq!(delivered, 3, "each decision once");
    let out =
        kycdesk(dir.path(), &emulator.config, &["decide", refs[3], "--verdict", "reject", "--reason", "Tampered."])?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

/// A kycdesk run with no `--config`, its environment inside `dir`.
fn kycdesk_bare(dir: &std::path::Path, args: &[&str]) -> Result<std::process::Output, std::io::Error> {
    std::process::Command::new(common::cli::BIN)
        .args(args)
        .envs(common::cli::isolated_env(dir))
        .stdin(std::process::Stdio::null())
        .output()
}

#[test]
fn read_only_refuses_decisions_before_touching_the_store() -> R {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("kycdesk.toml");
    std::fs::write(&config, "analyst = \"trainee\"\n")?;
    let refused: [&[&str]; 3] = [
        &["--read-only", "decide", "complycube:abc", "--verdict", "verify", "--reason", "x"],
        &["--read-only", "outbox", "retry", "abcdef12"],
        &["--read-only", "outbox", "drop", "abcdef12", "--reason", "x"],
    ];
    for args in refused {
        let out = kycdesk(dir.path(), &config, args)?;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("read-only") && stderr(&out).contains("nothing was saved"), "{}", stderr(&out));
    }
    // `read_only = true` in the config is the same.
    std::fs::write(&config, "read_only = true\n")?;
    let out = kycdesk(dir.path(), &config, &["decide", "complycube:abc", "--verdict", "verify", "--reason", "x"])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert!(!dir.path().join("store.sqlite3").exists(), "a read-only refusal opened the store");
    Ok(())
}

#[test]
fn without_a_config_the_console_and_list_say_how_to_make_one() -> R {
    let dir = tempfile::tempdir()?;
    let expected = dir.path().join("config").join("kycdesk").join("config.toml");
    for args in [&[][..], &["console"], &["list"], &["send"]] {
        let out = kycdesk_bare(dir.path(), args)?;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(&expected.display().to_string()), "{args:?}: {err}");
        assert!(err.contains("kycdesk config init") && err.contains("kycdesk demo"), "{args:?}: {err}");
    }
    assert!(!dir.path().join("store.sqlite3").exists(), "no config, yet a store was created");
    Ok(())
}

#[test]
fn config_init_writes_the_example_private_and_never_over_a_file() -> R {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let out = kycdesk_bare(dir.path(), &["config", "init"])?;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = dir.path().join("config").join("kycdesk").join("config.toml");
    assert_eq!(std::fs::metadata(&written)?.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(written.parent().ok_or("no dir")?)?.permissions().mode() & 0o777, 0o700);
    assert!(stdout(&out).contains(&written.display().to_string()));
    // The console now finds it, and says what is missing: the credentials.
    let console = kycdesk_bare(dir.path(), &["list"])?;
    assert_eq!(console.status.code(), Some(1));
    assert!(stderr(&console).contains("KYCDESK_COMPLYCUBE_API_KEY"), "{}", stderr(&console));
    let again = kycdesk_bare(dir.path(), &["config", "init"])?;
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));
    let elsewhere = dir.path().join("other.toml");
    let out = kycdesk_bare(dir.path(), &["config", "init", "--path", &elsewhere.display().to_string()])?;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&elsewhere)?, std::fs::read(&written)?);
    Ok(())
}

#[test]
fn completions_and_the_man_page_come_from_the_cli() -> R {
    let dir = tempfile::tempdir()?;
    for shell in ["bash", "zsh", "fish"] {
        let out = kycdesk_bare(dir.path(), &["completions", shell])?;
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains("kycdesk") && script.contains("doctor") && script.contains("read-only"), "{shell}");
    }
    let man = kycdesk_bare(dir.path(), &["man"])?;
    assert_eq!(man.status.code(), Some(0), "{}", stderr(&man));
    let page = stdout(&man);
    assert!(page.starts_with(".ie") || page.contains(".TH kycdesk"), "{page}");
    assert!(page.contains("doctor") && page.contains("completions"));
    // The keys, from the key table: a section per context, each key with what it does.
    assert!(page.contains(".SH KEYS") && page.contains(".SS Queue"), "{page}");
    assert!(page.contains("first case") && page.contains("close the help"), "{page}");
    Ok(())
}

#[test]
fn an_unknown_image_protocol_in_the_environment_is_an_error() -> R {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("kycdesk.toml");
    std::fs::write(&config, "analyst = \"a\"\n")?;
    let out = std::process::Command::new(common::cli::BIN)
        .arg("--config")
        .arg(&config)
        .arg("list")
        .envs(common::cli::isolated_env(dir.path()))
        .env("KYCDESK_IMAGES", "ascii")
        .stdin(std::process::Stdio::null())
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("KYCDESK_IMAGES=ascii is not one of auto, kitty, sixel"), "{}", stderr(&out));
    Ok(())
}

/// The console, the inbox and each `decide` are separate processes on one credential:
/// together they keep to ComplyCube's test-key limit (5 in any second), with no 429.
#[test]
fn every_process_on_the_host_spends_one_rate_budget() -> R {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let inbox_url = format!("http://127.0.0.1:{port}");
    let emulator = EmulatorProcess::start_with(dir.path(), &["--cases", "12", "--push-webhooks-to", &inbox_url])?;
    // The inbox re-reads every pushed ComplyCube check while the rest run.
    let _inbox = common::cli::InboxProcess::start(dir.path(), &emulator.config, &format!("127.0.0.1:{port}"))?;
    let cases = listed(dir.path(), &emulator)?;
    let decidable: Vec<String> = cases
        .iter()
        .filter(|c| c["provider"] == "complycube" && (c["check_type"] == "identity" || c["check_type"] == "document"))
        .filter_map(|c| c["ref"].as_str().map(String::from))
        .take(4)
        .collect();
    assert_eq!(decidable.len(), 4, "{cases:?}");
    let spawn = |args: &[&str]| {
        std::process::Command::new(common::cli::BIN)
            .arg("--config")
            .arg(&emulator.config)
            .args(args)
            .envs(common::cli::isolated_env(dir.path()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
    };
    let mut running = vec![];
    for case in &decidable {
        running.push(spawn(&["decide", case, "--verdict", "verify", "--reason", "Checked by hand."])?);
    }
    for _ in 0..2 {
        running.push(spawn(&["list", "--json"])?);
    }
    for child in running {
        let out = child.wait_with_output()?;
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let served: Vec<Value> = reqwest::blocking_get(&format!("{}/_emulator/requests", emulator.base_url))?;
    let at: Vec<u64> =
        served.iter().filter(|r| r["provider"] == "complycube").filter_map(|r| r["at_ms"].as_u64()).collect();
    let refused = served.iter().filter(|r| r["provider"] == "complycube" && r["status"] == 429).count();
    assert_eq!(refused, 0, "ComplyCube answered 429 to {refused} of {} requests", at.len());
    let mut sorted = at.clone();
    sorted.sort_unstable();
    let busiest = (0..sorted.len()).map(|i| sorted[i..].iter().take_while(|t| **t < sorted[i] + 1000).count()).max();
    assert!(busiest.unwrap_or(0) <= 5, "{busiest:?} ComplyCube requests in one second");
    // Enough happened at once for separate budgets to have broken the limit.
    assert!(at.len() >= 20, "only {} ComplyCube requests", at.len());
    Ok(())
}

/// Held webhooks wait for the release; then they go at the pace asked for, several in
/// flight, and the emulator says when each was sent and accepted.
#[test]
fn held_webhooks_go_at_their_pace_once_released() -> R {
    use common::cli::InboxProcess;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let inbox_url = format!("http://127.0.0.1:{port}");
    let emulator = EmulatorProcess::start_with(
        dir.path(),
        &["--cases", "3", "--push-webhooks-to", &inbox_url, "--hold-webhooks", "--webhooks-per-second", "10"],
    )?;
    let _inbox = InboxProcess::start(dir.path(), &emulator.config, &format!("127.0.0.1:{port}"))?;
    let pushes = |emulator: &EmulatorProcess| -> Result<Vec<Value>, Box<dyn std::error::Error>> {
        reqwest::blocking_get(&format!("{}/_emulator/pushes", emulator.base_url))
    };
    // The inbox is up and listening; nothing has been sent to it.
    assert!(pushes(&emulator)?.is_empty());
    let released: Value = {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            ::reqwest::Client::new()
                .post(format!("{}/_emulator/webhooks/release", emulator.base_url))
                .send()
                .await?
                .json()
                .await
        })?
    };
    let waiting = released["released"].as_u64().ok_or("released")? as usize;
    assert!(waiting >= 9, "{released}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let done = pushes(&emulator)?;
        if done.len() == waiting {
            break done;
        }
        assert!(std::time::Instant::now() < deadline, "{} of {waiting} webhooks accepted", done.len());
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut sent: Vec<u64> = done.iter().filter_map(|p| p["sent_ms"].as_u64()).collect();
    sent.sort_unstable();
    let span = sent[sent.len() - 1] - sent[0];
    // Ten a second: n webhooks take about (n - 1) tenths, not less.
    assert!(span + 20 >= (waiting as u64 - 1) * 100, "{waiting} sent within {span} ms");
    Ok(())
}
