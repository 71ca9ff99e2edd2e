//! End-to-end: the real binary in tmux, driven by keys, checked on screen and at the
//! emulator.

mod common;

use common::cli::{BIN, EmulatorProcess, isolated_env, kycdesk, reqwest};
use common::tmux::{Tmux, queue_rows};
use serde_json::{Value, json};

type R = Result<(), Box<dyn std::error::Error>>;

/// Opens the first identity check of the queue on screen; returns its id.
fn open_first_identity_case(tmux: &Tmux) -> Result<String, Box<dyn std::error::Error>> {
    let screen = tmux.wait_for("the queue", |s| queue_rows(s).iter().any(|(_, row)| row.contains(" identity ")))?;
    let rows = queue_rows(&screen);
    let index = rows.iter().position(|(_, row)| row.contains(" identity ")).ok_or("no identity case")?;
    let id = rows[index].0.clone();
    for _ in 0..index {
        tmux.keys(&["j"])?;
    }
    tmux.keys(&["Enter"])?;
    tmux.wait_for("the case", |s| s.contains(&format!("complycube:{id}")) && s.contains("Referred for:"))?;
    Ok(id)
}

fn verify_with_reason(tmux: &Tmux, reason: &str) -> R {
    tmux.keys(&["d"])?;
    tmux.wait_for("the verdict step", |s| s.contains("[v] Verify"))?;
    tmux.keys(&["v"])?;
    tmux.wait_for("the reason editor", |s| s.contains("Reason (required)"))?;
    tmux.type_text(reason)?;
    tmux.wait_for("the typed reason", |s| s.contains(reason))?;
    tmux.keys(&["Enter"])?;
    tmux.wait_for("the confirmation", |s| s.contains("Save this decision?"))?;
    tmux.keys(&["y"])?;
    Ok(())
}

#[test]
fn demo_verify_reaches_the_emulator_with_the_reason() -> R {
    let dir = tempfile::tempdir()?;
    let mut env = isolated_env(dir.path());
    env.push(("KYCDESK_IMAGES".into(), "halfblocks".into()));
    let tmux = Tmux::start(dir.path(), &env, &format!("exec {BIN} demo"))?;
    let screen = tmux.wait_for("the demo banner", |s| s.contains("emulator at http://"))?;
    let url = screen
        .split("emulator at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or("no emulator address on screen")?
        .to_string();

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
fn a_decision_saved_before_sigkill_is_delivered_at_the_next_start() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    // The first validate call hangs: the console is killed while it is in flight.
    let status = reqwest::blocking_post_json(
        &format!("{}/_emulator/faults", emulator.base_url),
        json!({"provider": "complycube", "delay_ms": 600000, "count": 1, "path_contains": "/validate"}),
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

    // Next start: the outbox still holds it, and it goes out.
    let out = kycdesk(dir.path(), &emulator.config, &["send"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout} stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("delivered: complycube:{id}")), "{stdout}");

    let decisions = emulator.decisions()?;
    let delivered: Vec<&Value> = decisions.iter().filter(|d| d["status"] == 200).collect();
    assert!(!delivered.is_empty(), "{decisions:?}");
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
