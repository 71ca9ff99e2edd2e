//! End-to-end triage in tmux: the real binary driven by counted keys, checked on screen,
//! at the emulator, and through the headless commands on the same store.
//!
//! Filter, mark all and a bulk decision with a reason template (issue 8's keystroke
//! target); a bulk reject with ComplyCube rejection reasons; undo inside the grace
//! period; kill -9 inside the grace period, then a restart that delivers exactly once.

mod common;

use common::cli::{BIN, EmulatorProcess, isolated_env, kycdesk, reqwest};
use common::tmux::{Tmux, queue_rows as rows};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The demo's verify template (`g`) and reject template (`e`).
const GLARE: &str = "Liveness flag was glare or framing; the selfie matches the document photo on review.";
const EXPIRED: &str = "The document had expired when it was checked; the customer must provide a valid one.";

/// The target for verifying every ComplyCube identity check of a fresh demo.
const KEYSTROKE_BUDGET: usize = 25;

/// Upper bound for the emulator to receive what the console sent.
const PATIENCE: Duration = Duration::from_secs(90);

/// One at a time: each test runs a whole console (and some an emulator) on shared cores,
/// and two of them reason about a grace period measured in seconds.
static SERIAL: Mutex<()> = Mutex::new(());

/// Sends keys to the console and counts them: a named key is one, typed text is one per
/// character.
struct Keyboard<'a> {
    tmux: &'a Tmux,
    sent: usize,
}

impl<'a> Keyboard<'a> {
    fn new(tmux: &'a Tmux) -> Self {
        Self { tmux, sent: 0 }
    }

    fn key(&mut self, key: &str) -> R {
        self.tmux.keys(&[key])?;
        self.sent += 1;
        Ok(())
    }

    fn text(&mut self, text: &str) -> R {
        self.tmux.type_text(text)?;
        self.sent += text.chars().count();
        Ok(())
    }
}

/// The queue header's `filter: TEXT  N of M`, as (N, M).
fn filter_counts(screen: &str, filter: &str) -> Option<(usize, usize)> {
    let rest = screen.split(&format!("filter: {filter}  ")).nth(1)?;
    let mut words = rest.split_whitespace();
    let shown = words.next()?.parse().ok()?;
    (words.next()? == "of").then_some(())?;
    let total = words.next()?.parse().ok()?;
    Some((shown, total))
}

/// The status bar: the screen's last non-empty line.
fn status_bar(screen: &str) -> &str {
    screen.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default()
}

/// Full ComplyCube check ids in the bulk result summary whose state is `state`.
fn summary_ids(screen: &str, state: &str) -> BTreeSet<String> {
    screen
        .lines()
        .filter(|l| l.contains(state))
        .filter_map(|l| l.split("complycube:").nth(1)?.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The referred ComplyCube checks of one type, read from the provider API, not the screen.
fn referred_checks(base_url: &str, key: &str, check_type: &str) -> R<BTreeSet<String>> {
    let page: Value = reqwest::blocking_get_with_key(&format!("{base_url}/complycube/v1/checks?pageSize=1000"), key)?;
    let items = page["items"].as_array().ok_or(format!("no items in {page}"))?;
    Ok(items
        .iter()
        .filter(|c| c["type"] == check_type && c["result"]["outcome"] == "attention")
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect())
}

/// The full id that an id shown cut short on screen stands for.
fn full_id<'a>(shown: &str, ids: &'a BTreeSet<String>) -> R<&'a str> {
    let found: Vec<&String> = ids.iter().filter(|id| id.starts_with(shown)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        _ => Err(format!("{shown} on screen names {} checks of {ids:?}", found.len()).into()),
    }
}

fn decisions(base_url: &str) -> R<Vec<Value>> {
    reqwest::blocking_get(&format!("{base_url}/_emulator/decisions"))
}

/// Polls the emulator's decision record until it holds at least `n` requests.
fn wait_for_decisions(base_url: &str, n: usize) -> R<Vec<Value>> {
    let start = Instant::now();
    loop {
        let got = decisions(base_url)?;
        if got.len() >= n {
            return Ok(got);
        }
        if start.elapsed() > PATIENCE {
            return Err(format!("the emulator got {} decision(s), not {n}: {got:?}", got.len()).into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `/_emulator/decisions` holds exactly one ComplyCube validate per check in `ids`, with
/// `body`, and nothing else.
fn assert_one_validate_each(got: &[Value], ids: &BTreeSet<String>, body: &Value) {
    let paths: Vec<String> = got.iter().map(|d| d["path"].as_str().unwrap_or_default().to_string()).collect();
    let wanted: BTreeSet<String> = ids.iter().map(|id| format!("/v1/checks/{id}/validate")).collect();
    assert_eq!(got.len(), ids.len(), "one decision per case, no other: {paths:?}");
    assert_eq!(paths.iter().cloned().collect::<BTreeSet<_>>(), wanted, "exactly the filtered cases");
    for d in got {
        assert_eq!(
            (&d["provider"], &d["method"], d["status"].as_u64()),
            (&json!("complycube"), &json!("POST"), Some(200))
        );
        assert_eq!(&d["body"], body, "{}", d["path"]);
    }
}

/// Starts `kycdesk demo` (24 cases per provider) and waits for all of ComplyCube's.
/// Returns the session and the emulator's address.
fn start_demo(dir: &Path) -> R<(Tmux, String)> {
    let mut env = isolated_env(dir);
    env.push(("KYCDESK_IMAGES".into(), "off".into()));
    let tmux = Tmux::start(dir, &env, &format!("exec {BIN} demo"))?;
    let screen = tmux.wait_for("ComplyCube's 24 cases in the title", |s| {
        s.lines().next().is_some_and(|title| title.contains("ComplyCube 24"))
    })?;
    let url = screen
        .split("emulator at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or("no emulator address in the title")?
        .to_string();
    Ok((tmux, url))
}

/// `/`, the filter text, `Enter`; returns the rows the filter shows, once the header says
/// how many match and they are all on screen.
fn filter(kb: &mut Keyboard<'_>, text: &str) -> R<Vec<(String, String)>> {
    let tmux = kb.tmux;
    kb.key("/")?;
    tmux.wait_for("the filter prompt", |s| status_bar(s).starts_with('/'))?;
    kb.text(text)?;
    tmux.wait_for("the typed filter", |s| status_bar(s).starts_with(&format!("/{text}█")))?;
    kb.key("Enter")?;
    let screen = tmux.wait_for("the filtered queue", |s| {
        !status_bar(s).starts_with('/')
            && filter_counts(s, text).is_some_and(|(shown, _)| shown > 0 && rows(s).len() == shown)
    })?;
    Ok(rows(&screen))
}

/// Console on `emulator`'s config, images off, in a fresh tmux session.
fn start_console(dir: &Path, config: &Path) -> R<Tmux> {
    let mut env = isolated_env(dir);
    env.push(("KYCDESK_IMAGES".into(), "off".into()));
    Tmux::start(dir, &env, &format!("exec {BIN} --config {} console", config.display()))
}

/// The emulator's config with `undo_secs` set. It goes first: the file ends inside a
/// provider's table, where the key would be refused.
fn with_undo_secs(emulator: &EmulatorProcess, secs: u64) -> R {
    let text = std::fs::read_to_string(&emulator.config)?;
    std::fs::write(&emulator.config, format!("undo_secs = {secs}\n{text}"))?;
    Ok(())
}

/// Filters to ComplyCube identity checks and opens the first; returns its full id.
fn open_identity_case(kb: &mut Keyboard<'_>, base_url: &str) -> R<String> {
    let referred = referred_checks(base_url, kycdesk::emulator::complycube::TEST_KEY, "identity_check")?;
    let shown = filter(kb, "cube identity")?;
    let id = full_id(&shown.first().ok_or("no identity check")?.0, &referred)?.to_string();
    kb.key("Enter")?;
    kb.tmux.wait_for("the case", |s| s.contains(&format!("complycube:{id}")) && s.contains("Referred for:"))?;
    Ok(id)
}

/// From the case view: `d`, `v`, the reason typed, `Enter`, `y`; waits for the saved notice.
fn verify_with_reason(kb: &mut Keyboard<'_>, id: &str, reason: &str) -> R {
    let tmux = kb.tmux;
    kb.key("d")?;
    tmux.wait_for("the verdict step", |s| s.contains("v  Verify"))?;
    kb.key("v")?;
    tmux.wait_for("the reason editor", |s| s.contains("Reason (required)"))?;
    kb.text(reason)?;
    tmux.wait_for("the typed reason", |s| s.contains(reason))?;
    kb.key("Enter")?;
    tmux.wait_for("the confirmation", |s| s.contains("Save this decision"))?;
    kb.key("y")?;
    tmux.wait_for("the saved notice", |s| status_bar(s).contains(&format!("Saved: Verify on complycube:{id}")))?;
    Ok(())
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn describe(out: &Output) -> String {
    format!("exit {:?}; stdout: {}; stderr: {}", out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// `kycdesk outbox --json`.
fn outbox(dir: &Path, config: &Path) -> R<Vec<Value>> {
    let out = kycdesk(dir, config, &["outbox", "--json"])?;
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The audit log's actions for one decision, oldest first, read from the store.
fn audit_actions(dir: &Path, decision_id: &str) -> R<Vec<String>> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("store.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare("SELECT action FROM audit WHERE decision_id = ?1 ORDER BY id")?;
    let actions = stmt.query_map([decision_id], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(actions)
}

fn assert_audit_intact(dir: &Path, config: &Path) -> R {
    let audit = kycdesk(dir, config, &["audit", "verify"])?;
    assert_eq!(audit.status.code(), Some(0), "{}", describe(&audit));
    assert!(text(&audit.stdout).contains("audit log intact"), "{}", describe(&audit));
    Ok(())
}

fn kill_9(tmux: &Tmux) -> R {
    let pid = tmux.pane_pid()?;
    let killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status()?;
    assert!(killed.success(), "kill -9 {pid}");
    tmux.wait_until_gone()
}

#[test]
fn verify_every_complycube_identity_check_of_the_demo_within_the_keystroke_budget() -> R {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let (tmux, url) = start_demo(dir.path())?;
    let referred = referred_checks(&url, kycdesk::emulator::complycube::LIVE_KEY, "identity_check")?;
    assert!(referred.len() >= 8, "the demo seeds eight or more identity checks: {referred:?}");

    let mut kb = Keyboard::new(&tmux);
    let shown = filter(&mut kb, "cube iden")?;
    assert!(
        shown.iter().all(|(_, row)| row.starts_with("ComplyCube") && row.contains(" identity ")),
        "the filter shows ComplyCube identity checks only: {shown:?}"
    );
    let ids: BTreeSet<String> =
        shown.iter().map(|(id, _)| full_id(id, &referred).map(str::to_string)).collect::<R<_>>()?;
    assert_eq!(ids, referred, "the filter shows every referred identity check");
    let n = ids.len();

    kb.key("*")?;
    tmux.wait_for("every row marked", |s| s.contains(&format!("{n} marked")))?;
    kb.key("d")?;
    tmux.wait_for("the dialog on the marked cases", |s| s.contains(&format!("Decide {n} marked cases")))?;
    // Typed while the cases' details may still load: the dialog keeps it.
    kb.key("v")?;
    tmux.wait_for("the reason step", |s| s.contains("Verdict: Verify") && s.contains("Reason (required)"))?;
    kb.key("Tab")?;
    tmux.wait_for("the template list", |s| s.contains("Templates: press a key"))?;
    kb.key("g")?;
    tmux.wait_for("the template's text in the editor", |s| s.contains(GLARE) && !s.contains("Templates: press"))?;
    kb.key("Enter")?;
    tmux.wait_for("the confirmation", |s| s.contains(&format!("Save Verify on {n} cases?")))?;
    kb.key("y")?;
    tmux.wait_for("the saved notice", |s| status_bar(s).contains(&format!("Saved: Verify on {n} cases")))?;

    assert!(kb.sent <= KEYSTROKE_BUDGET, "{} keys sent, the target is at most {KEYSTROKE_BUDGET}", kb.sent);

    wait_for_decisions(&url, n)?;
    let screen = tmux.wait_for("every decision delivered", |s| {
        status_bar(s).contains(&format!("outbox: 0 waiting · {n} sent · 0 refused"))
            && summary_ids(s, "sent to the provider").len() == n
    })?;
    assert_eq!(summary_ids(&screen, "sent to the provider"), ids, "the result summary names the filtered cases");
    let got = decisions(&url)?;
    assert_one_validate_each(&got, &ids, &json!({"outcome": "confirmed", "comment": GLARE}));
    eprintln!("keystroke target: {} keys for {n} cases, {:.1?}", kb.sent, started.elapsed());
    Ok(())
}

#[test]
fn filter_mark_all_and_reject_with_a_template_reaches_exactly_the_filtered_cases() -> R {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let (tmux, url) = start_demo(dir.path())?;
    let referred = referred_checks(&url, kycdesk::emulator::complycube::LIVE_KEY, "document_check")?;

    let mut kb = Keyboard::new(&tmux);
    let shown = filter(&mut kb, "cube doc")?;
    assert!(
        shown.iter().all(|(_, row)| row.starts_with("ComplyCube") && row.contains(" document ")),
        "the filter shows ComplyCube document checks only: {shown:?}"
    );
    let ids: BTreeSet<String> =
        shown.iter().map(|(id, _)| full_id(id, &referred).map(str::to_string)).collect::<R<_>>()?;
    assert_eq!(ids, referred, "the filter shows every referred document check");
    let n = ids.len();

    kb.key("*")?;
    tmux.wait_for("every row marked", |s| s.contains(&format!("{n} marked")))?;
    kb.key("d")?;
    tmux.wait_for("the verdict step", |s| s.contains(&format!("Decide {n} marked cases")) && s.contains("x  Reject"))?;
    kb.key("x")?;
    tmux.wait_for("ComplyCube's rejection reasons", |s| {
        s.contains("Rejection reasons")
            && s.contains("[ ] Document appears fake")
            && s.contains("[ ] Document has expired")
    })?;
    kb.key("Space")?;
    tmux.wait_for("the first reason ticked", |s| s.contains("[x] Document appears fake"))?;
    kb.key("Enter")?;
    tmux.wait_for("the reason editor", |s| s.contains("Verdict: Reject") && s.contains("Reason (required)"))?;
    kb.key("Tab")?;
    tmux.wait_for("the template list", |s| s.contains("Templates: press a key"))?;
    kb.key("e")?;
    tmux.wait_for("the template's text in the editor", |s| s.contains(EXPIRED) && !s.contains("Templates: press"))?;
    kb.key("Enter")?;
    tmux.wait_for("the confirmation with both reason codes", |s| {
        s.contains(&format!("Save Reject on {n} cases?"))
            && s.contains("Reasons: document_appears_fake, document_has_expired")
    })?;
    kb.key("y")?;
    tmux.wait_for("the saved notice", |s| status_bar(s).contains(&format!("Saved: Reject on {n} cases")))?;
    assert_eq!(kb.sent, 1 + "cube doc".len() + 1 + 9, "keys sent");

    wait_for_decisions(&url, n)?;
    let screen = tmux.wait_for("every decision delivered", |s| {
        status_bar(s).contains(&format!("outbox: 0 waiting · {n} sent · 0 refused"))
            && summary_ids(s, "sent to the provider").len() == n
    })?;
    assert_eq!(summary_ids(&screen, "sent to the provider"), ids);
    let got = decisions(&url)?;
    assert_one_validate_each(
        &got,
        &ids,
        &json!({"outcome": "rejected", "comment": EXPIRED,
            "rejectionReasons": ["document_appears_fake", "document_has_expired"]}),
    );
    eprintln!("bulk reject: {n} cases, {:.1?}", started.elapsed());
    Ok(())
}

#[test]
fn undo_inside_the_grace_period_sends_nothing_and_audits_both() -> R {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    with_undo_secs(&emulator, 30)?;
    let tmux = start_console(dir.path(), &emulator.config)?;
    tmux.wait_for("ComplyCube's cases", |s| s.lines().next().is_some_and(|t| t.contains("ComplyCube 24")))?;
    let mut kb = Keyboard::new(&tmux);
    let id = open_identity_case(&mut kb, &emulator.base_url)?;
    let reason = "Document and selfie agree; verified by hand.";
    verify_with_reason(&mut kb, &id, reason)?;
    tmux.wait_for("the undo countdown", |s| status_bar(s).contains("u undo Verify ("))?;

    kb.key("u")?;
    let screen = tmux.wait_for("the undo", |s| status_bar(s).contains("Undone"))?;
    assert!(!status_bar(&screen).contains("u undo"), "no countdown after the undo: {}", status_bar(&screen));
    assert!(status_bar(&screen).contains("outbox: 0 waiting"), "{}", status_bar(&screen));
    // The case is back where it was: a new referral, not awaiting delivery.
    kb.key("Escape")?;
    let screen = tmux.wait_for("the queue", |s| s.contains("┌ Queue"))?;
    let title = screen.lines().next().unwrap_or_default();
    assert!(!title.contains("awaiting delivery"), "{title}");
    let row = rows(&screen).into_iter().find(|(shown, _)| id.starts_with(shown.as_str()));
    let (_, row) = row.ok_or(format!("complycube:{id} is not back in the queue:\n{screen}"))?;
    assert!(!row.contains('⧗'), "{row}");
    kb.key("q")?;
    tmux.wait_until_gone()?;

    let send = kycdesk(dir.path(), &emulator.config, &["send"])?;
    assert_eq!(send.status.code(), Some(0), "nothing is left waiting: {}", describe(&send));
    assert!(!text(&send.stdout).contains("delivered"), "{}", describe(&send));
    assert!(emulator.decisions()?.is_empty(), "the emulator got nothing: {:?}", emulator.decisions()?);

    let listed = outbox(dir.path(), &emulator.config)?;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((&listed[0]["case"], &listed[0]["state"]), (&json!(format!("complycube:{id}")), &json!("withdrawn")));
    let decision_id = listed[0]["ref"].as_str().ok_or("no ref")?;
    assert_eq!(audit_actions(dir.path(), decision_id)?, ["decided", "withdrawn"]);
    assert_audit_intact(dir.path(), &emulator.config)?;
    eprintln!("undo: {:.1?}", started.elapsed());
    Ok(())
}

#[test]
fn a_decision_killed_in_its_grace_period_is_delivered_once_after_a_restart() -> R {
    const GRACE_SECS: u64 = 8;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    with_undo_secs(&emulator, GRACE_SECS)?;
    let tmux = start_console(dir.path(), &emulator.config)?;
    tmux.wait_for("ComplyCube's cases", |s| s.lines().next().is_some_and(|t| t.contains("ComplyCube 24")))?;
    let mut kb = Keyboard::new(&tmux);
    let id = open_identity_case(&mut kb, &emulator.base_url)?;
    let reason = "Selfie and document photo agree; the liveness flag was glare.";
    verify_with_reason(&mut kb, &id, reason)?;
    kill_9(&tmux)?;
    drop(tmux);

    // Saved before the kill, still in its grace period.
    let listed = outbox(dir.path(), &emulator.config)?;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((&listed[0]["case"], &listed[0]["state"]), (&json!(format!("complycube:{id}")), &json!("saved")));
    let send_after: chrono::DateTime<chrono::Utc> = listed[0]["send_after"].as_str().ok_or("no send_after")?.parse()?;
    let early = kycdesk(dir.path(), &emulator.config, &["send"])?;
    if chrono::Utc::now() < send_after {
        assert_eq!(early.status.code(), Some(3), "send waits out the grace period: {}", describe(&early));
        assert!(emulator.decisions()?.is_empty(), "nothing is sent in the grace period");
    } else {
        eprintln!("the machine was too slow to check `send` inside the grace period");
    }

    // The next start sends it once its grace period is over.
    let tmux = start_console(dir.path(), &emulator.config)?;
    let got = wait_for_decisions(&emulator.base_url, 1)?;
    assert!(chrono::Utc::now() >= send_after, "sent before its grace period ended");
    tmux.wait_for("the delivery", |s| status_bar(s).contains("outbox: 0 waiting · 1 sent · 0 refused"))?;
    let mut kb = Keyboard::new(&tmux);
    kb.key("q")?;
    tmux.wait_until_gone()?;
    let again = kycdesk(dir.path(), &emulator.config, &["send"])?;
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    assert!(!text(&again.stdout).contains("delivered"), "already delivered: {}", describe(&again));

    let after = emulator.decisions()?;
    assert_eq!(after, got, "nothing more was sent");
    assert_one_validate_each(
        &after,
        &BTreeSet::from([id.clone()]),
        &json!({"outcome": "confirmed", "comment": reason}),
    );
    let listed = outbox(dir.path(), &emulator.config)?;
    assert_eq!(listed.iter().map(|d| d["state"].clone()).collect::<Vec<_>>(), [json!("sent")]);
    assert_audit_intact(dir.path(), &emulator.config)?;
    eprintln!("kill -9 and restart: {:.1?}", started.elapsed());
    Ok(())
}

/// With `images = "auto"` inside tmux the first key typed is the analyst's, not eaten
/// by a terminal query.
#[test]
fn the_first_key_after_start_is_not_lost_with_images_auto() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let mut env = isolated_env(dir.path());
    env.push(("KYCDESK_IMAGES".into(), "auto".into()));
    let tmux = Tmux::start(dir.path(), &env, &format!("exec {BIN} --config {} console", emulator.config.display()))?;
    // Sent at once: before the console has drawn anything.
    tmux.keys(&["?"])?;
    tmux.wait_for("the help, opened by the first key", |s| s.contains("Keys ("))?;
    // One key at a time: Esc and q sent together read as Alt-q.
    tmux.keys(&["Escape"])?;
    tmux.wait_for("the help closed", |s| !s.contains("Keys ("))?;
    tmux.keys(&["q"])?;
    tmux.wait_until_gone()?;
    Ok(())
}
