//! End-to-end: the real binary in tmux, driven by keys, checked on screen and at the
//! emulator.

mod common;

use common::cli::{BIN, EmulatorProcess, isolated_env, kycdesk, reqwest};
use common::tmux::{Tmux, queue_rows};
use serde_json::{Value, json};

type R = Result<(), Box<dyn std::error::Error>>;

/// Starts `kycdesk demo --cases 6` and waits for its whole queue: ComplyCube's and
/// FrankieOne's 6 by polling, IDWise's, Credas's and Sumsub's 6 each through the inbox.
/// Returns the session and the emulator's address.
fn start_demo(dir: &std::path::Path, images: &str) -> Result<(Tmux, String), Box<dyn std::error::Error>> {
    let mut env = isolated_env(dir);
    env.push(("KYCDESK_IMAGES".into(), images.into()));
    let tmux = Tmux::start(dir, &env, &format!("exec {BIN} demo --cases 6"))?;
    let screen = tmux.wait_for("the whole demo queue", |s| s.contains("30 new"))?;
    let url = emulator_url(&screen)?;
    Ok((tmux, url))
}

/// `--read-only` (before the subcommand): the header says so, a decision is refused
/// with a clear message, and nothing reaches the provider.
#[test]
fn read_only_refuses_a_decision() -> R {
    let dir = tempfile::tempdir()?;
    let env = isolated_env(dir.path());
    let tmux = Tmux::start(dir.path(), &env, &format!("exec {BIN} --read-only demo --cases 6"))?;
    let screen = tmux.wait_for("the whole demo queue", |s| s.contains("30 new"))?;
    assert!(screen.lines().next().is_some_and(|title| title.contains("READ-ONLY")), "{screen}");
    let url = emulator_url(&screen)?;
    open_first_identity_case(&tmux)?;
    tmux.keys(&["d"])?;
    let screen = tmux.wait_for("the refusal", |s| s.contains("read-only: decisions are off"))?;
    assert!(!screen.contains("Verdict"), "no decision dialog opens:\n{screen}");
    tmux.keys(&["Escape"])?;
    tmux.wait_for("the queue", |s| s.contains("┌ Queue"))?;
    tmux.keys(&["*"])?;
    tmux.wait_for("the marks", |s| s.contains("marked"))?;
    tmux.keys(&["d"])?;
    tmux.wait_for("the refusal", |s| s.contains("read-only: decisions are off"))?;
    let decisions: Vec<Value> = reqwest::blocking_get(&format!("{url}/_emulator/decisions"))?;
    assert!(decisions.is_empty(), "{decisions:?}");
    tmux.keys(&["q"])?;
    tmux.wait_until_gone()?;
    Ok(())
}

/// The demo shows where its emulator listens in the title bar.
fn emulator_url(screen: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(screen
        .split("emulator at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or("no emulator address on screen")?
        .to_string())
}

/// Opens the first case of the queue whose row satisfies `pred`; returns its id.
fn open_first_row(
    tmux: &Tmux,
    provider: &str,
    pred: impl Fn(&str) -> bool,
) -> Result<String, Box<dyn std::error::Error>> {
    let screen = tmux.wait_for("the queue", |s| queue_rows(s).iter().any(|(_, row)| pred(row)))?;
    let rows = queue_rows(&screen);
    let index = rows.iter().position(|(_, row)| pred(row)).ok_or("no such case")?;
    let id = rows[index].0.clone();
    for _ in 0..index {
        tmux.keys(&["j"])?;
    }
    tmux.keys(&["Enter"])?;
    tmux.wait_for("the case", |s| s.contains(&format!("{provider}:{id}")) && s.contains("Referred for:"))?;
    Ok(id)
}

fn open_first_identity_case(tmux: &Tmux) -> Result<String, Box<dyn std::error::Error>> {
    open_first_row(tmux, "complycube", |row| row.starts_with("ComplyCube") && row.contains(" identity "))
}

fn verify_with_reason(tmux: &Tmux, reason: &str) -> R {
    decide_with_reason(tmux, "v", reason)
}

fn decide_with_reason(tmux: &Tmux, verdict_key: &str, reason: &str) -> R {
    tmux.keys(&["d"])?;
    tmux.wait_for("the verdict step", |s| s.contains("v  Verify"))?;
    tmux.keys(&[verdict_key])?;
    type_reason_and_save(tmux, reason)
}

/// From the reason editor: type, Enter, confirm with y.
fn type_reason_and_save(tmux: &Tmux, reason: &str) -> R {
    tmux.wait_for("the reason editor", |s| s.contains("Reason (required"))?;
    tmux.type_text(reason)?;
    tmux.wait_for("the typed reason", |s| s.contains(reason))?;
    tmux.keys(&["Enter"])?;
    tmux.wait_for("the confirmation", |s| s.contains("Save this decision"))?;
    tmux.keys(&["y"])?;
    Ok(())
}

/// The same person at ComplyCube and Sumsub, far apart in the queue: the first of the two
/// opened already lists the other, which kycdesk never showed (intake read it).
#[test]
fn the_same_person_elsewhere_is_listed_before_that_case_was_opened() -> R {
    let dir = tempfile::tempdir()?;
    let (tmux, _) = start_demo(dir.path(), "off")?;
    let screen = tmux.capture();
    let rows = queue_rows(&screen);
    let at = |provider: &str| rows.iter().position(|(_, row)| row.starts_with(provider) && row.contains("Solberg"));
    let (Some(complycube), Some(sumsub)) = (at("ComplyCube"), at("Sumsub")) else {
        return Err(format!("both Solberg cases in the queue:\n{screen}").into());
    };
    // Prefetch loads one case behind and two ahead: beyond that, only intake reads it.
    assert!(sumsub > complycube + 2, "the Sumsub case must be out of prefetch's reach:\n{screen}");

    open_first_row(&tmux, "complycube", |row| row.starts_with("ComplyCube") && row.contains("Solberg"))?;
    let sumsub_id = &rows[sumsub].0;
    tmux.wait_for("the related Sumsub case", |s| s.contains(&format!("⚑ Sumsub {sumsub_id}")))?;
    tmux.keys(&["q"])?;
    tmux.wait_until_gone()?;
    Ok(())
}

#[test]
fn demo_verify_reaches_the_emulator_with_the_reason() -> R {
    let dir = tempfile::tempdir()?;
    let (tmux, url) = start_demo(dir.path(), "halfblocks")?;

    let id = open_first_identity_case(&tmux)?;
    tmux.wait_for("the images", |s| s.contains('▀') || s.contains('▄'))?;
    let reason = "Selfie matches the passport; liveness flag was glare.";
    verify_with_reason(&tmux, reason)?;
    tmux.wait_for("delivery", |s| s.contains("Delivered to the provider"))?;

    let decisions: Vec<Value> = reqwest::blocking_get(&format!("{url}/_emulator/decisions"))?;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["method"], "POST");
    assert_eq!(decisions[0]["path"], format!("/v1/checks/{id}/validate"));
    assert_eq!(decisions[0]["body"], json!({"outcome": "confirmed", "comment": reason}));

    tmux.keys(&["q"])?;
    tmux.wait_until_gone()?;
    Ok(())
}

#[test]
fn a_decision_in_flight_at_sigkill_is_delivered_once_after_the_next_start() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    // A short lease, so the next start may take over the killed console's decision soon.
    let config = std::fs::read_to_string(&emulator.config)?;
    std::fs::write(&emulator.config, format!("lease_secs = 2\n{config}"))?;
    // The first validate call is slow: the console is killed while it is in flight, and
    // the emulator, like a real provider, still applies it.
    let status = reqwest::blocking_post_json(
        &format!("{}/_emulator/faults", emulator.base_url),
        json!({"provider": "complycube", "delay_ms": 3000, "count": 1, "path_contains": "/validate"}),
    )?;
    assert_eq!(status, 200);
    let mut env = isolated_env(dir.path());
    env.push(("KYCDESK_IMAGES".into(), "off".into()));
    let tmux = Tmux::start(dir.path(), &env, &format!("exec {BIN} --config {} console", emulator.config.display()))?;
    let id = open_first_identity_case(&tmux)?;
    let reason = "Document and selfie agree; verified by hand.";
    verify_with_reason(&tmux, reason)?;
    tmux.wait_for("the saved notice", |s| s.contains("Saved: Verify"))?;
    // Kill it only once the decision is on the wire (the emulator holds the request).
    let faults_url = format!("{}/_emulator/faults", emulator.base_url);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let faults: Vec<Value> = reqwest::blocking_get(&faults_url)?;
        if faults.iter().all(|f| f["count"] == 0) {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err("the console never sent the decision".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = tmux.pane_pid()?;
    let killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status()?;
    assert!(killed.success());
    tmux.wait_until_gone()?;

    // Next start: the outbox still holds it. Until the dead console's lease is over and
    // the case has been read back, it waits ("1 saved", exit 3); then it is settled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let stdout = loop {
        let out = kycdesk(dir.path(), &emulator.config, &["send"])?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.code() == Some(0) {
            break stdout;
        }
        assert_eq!(out.status.code(), Some(3), "stdout: {stdout} stderr: {}", String::from_utf8_lossy(&out.stderr));
        if std::time::Instant::now() > deadline {
            return Err(format!("never settled: {stdout}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    assert!(stdout.contains(&format!("delivered: complycube:{id}")), "{stdout}");

    let decisions = emulator.decisions()?;
    let delivered: Vec<&Value> = decisions.iter().filter(|d| d["status"] == 200).collect();
    assert_eq!(delivered.len(), 1, "applied once, never resent: {decisions:?}");
    assert!(
        delivered.iter().all(|d| d["body"]["comment"] == reason && d["path"] == format!("/v1/checks/{id}/validate"))
    );
    let check: Value = reqwest::blocking_get_with_key(
        &format!("{}/complycube/v1/checks/{id}", emulator.base_url),
        kycdesk::emulator::complycube::TEST_KEY,
    )?;
    assert_eq!(check["result"]["outcome"], "clear");
    let audit = kycdesk(dir.path(), &emulator.config, &["audit", "verify"])?;
    assert_eq!(audit.status.code(), Some(0));
    Ok(())
}

#[test]
fn demo_idwise_resubmission_names_the_failed_step() -> R {
    let dir = tempfile::tempdir()?;
    let (tmux, url) = start_demo(dir.path(), "off")?;
    // A journey whose selfie failed liveness: its selfie step (3) failed.
    let id = open_first_row(&tmux, "idwise", |row| row.starts_with("IDWise") && row.contains(" FACE_"))?;
    tmux.wait_for("the liveness code", |s| s.contains("NOT LIVE"))?;
    let reason = "Selfie too close to the camera; please retake it at arm's length.";
    decide_with_reason(&tmux, "s", reason)?;
    tmux.wait_for("delivery", |s| s.contains("Delivered to the provider"))?;

    let decisions: Vec<Value> = reqwest::blocking_get(&format!("{url}/_emulator/decisions"))?;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["provider"], "idwise");
    assert_eq!(decisions[0]["path"], format!("/journey/v2/manual-review/{id}"));
    assert_eq!(
        decisions[0]["body"],
        json!({"new_decision": "Resubmission Requested", "comment": reason,
            "step_reviews": [{"step_id": "3", "review_decision": "Resubmit"}]})
    );
    tmux.keys(&["q"])?;
    tmux.wait_until_gone()?;
    Ok(())
}

#[test]
fn demo_sumsub_reject_with_a_reason_group_and_frankieone_false_positive() -> R {
    let dir = tempfile::tempdir()?;
    let (tmux, url) = start_demo(dir.path(), "off")?;

    // Sumsub: reject with the first reason group (fraud: document forgery).
    let applicant = open_first_row(&tmux, "sumsub", |row| row.starts_with("Sumsub") && row.contains("FORGERY"))?;
    tmux.keys(&["d"])?;
    tmux.wait_for("the verdict step", |s| s.contains("x  Reject"))?;
    tmux.keys(&["x"])?;
    tmux.wait_for("the reason groups", |s| s.contains("Fraud: document forgery"))?;
    tmux.keys(&["Space"])?;
    tmux.wait_for("the ticked group", |s| s.contains("[x] Fraud: document forgery"))?;
    tmux.keys(&["Enter"])?;
    let reason = "Date of birth line uses a different font: forged.";
    type_reason_and_save(&tmux, reason)?;
    tmux.wait_for("delivery", |s| s.contains(&format!("Delivered to the provider: sumsub:{applicant}")))?;

    // FrankieOne: the first screening hit of a PEP case is a false positive.
    tmux.keys(&["Escape"])?;
    tmux.wait_for("the queue", |s| s.contains("Queue "))?;
    tmux.keys(&["g"])?;
    let entity =
        open_first_row(&tmux, "frankieone", |row| row.starts_with("FrankieOne") && row.contains("REVIEW: pep"))?;
    tmux.keys(&["d"])?;
    tmux.wait_for("the target step", |s| s.contains("What are you deciding?"))?;
    tmux.keys(&["j", "Enter"])?;
    tmux.wait_for("the hit verdicts", |s| s.contains("o  False positive"))?;
    tmux.keys(&["o"])?;
    let why = "Namesake: different date of birth and country.";
    type_reason_and_save(&tmux, why)?;
    tmux.wait_for("delivery", |s| s.contains("Delivered to the provider: frankieone:"))?;

    let decisions: Vec<Value> = reqwest::blocking_get(&format!("{url}/_emulator/decisions"))?;
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert_eq!(decisions[0]["provider"], "sumsub");
    assert_eq!(decisions[0]["path"], format!("/resources/applicants/{applicant}/-/reject"));
    assert_eq!(decisions[0]["body"], json!({"note": reason, "reasons": {"fraud": ["documentForgery"]}}));
    assert_eq!(decisions[1]["provider"], "frankieone");
    assert_eq!(decisions[1]["method"], "PATCH");
    assert!(
        decisions[1]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with(&format!("/v2/individuals/{entity}")) && p.ends_with("/results/aml"))
    );
    assert_eq!(decisions[1]["body"]["manualStatus"], "FALSE_POSITIVE");
    assert_eq!(decisions[1]["body"]["comment"]["text"], why);
    assert_eq!(decisions[1]["headers"]["x-frankie-username"], "e2e-analyst");
    tmux.keys(&["q"])?;
    tmux.wait_until_gone()?;
    Ok(())
}
