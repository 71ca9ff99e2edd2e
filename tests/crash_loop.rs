//! Exactly-once delivery under faults, with real processes: decisions of every provider
//! go through the emulator while it injects latency, 5xx answers and dropped
//! connections, and `kycdesk decide`, `kycdesk send` and the console are SIGKILLed at
//! random points, two or three senders at once in some rounds. At the end every decision
//! the outbox holds is settled, and no call of any decision reached the emulator twice.

mod common;

use common::cli::{BIN, EmulatorProcess, InboxProcess, isolated_env, kycdesk, reqwest};
use common::tmux::Tmux;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

const ROUNDS: usize = 60;
const SEED: u64 = 0x6b79_6364_6573_6b21;
/// Short, so the loop waits little for a dead sender's hold to run out; still well
/// above the longest injected latency, as the real lease is above any call's duration.
const LEASE_SECS: u64 = 2;
const MAX_LATENCY_MS: u64 = 900;

const PROVIDERS: [&str; 5] = ["complycube", "credas", "frankieone", "idwise", "sumsub"];

fn listed(dir: &Path, config: &Path) -> R<Vec<Value>> {
    let out = kycdesk(dir, config, &["list", "--json"])?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn outbox(dir: &Path, config: &Path) -> R<Vec<Value>> {
    let out = kycdesk(dir, config, &["outbox", "--json", "--limit", "10000"])?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// A config for the loop: short leases, no undo grace period.
fn loop_config(emulator: &EmulatorProcess) -> R<std::path::PathBuf> {
    let text = std::fs::read_to_string(&emulator.config)?;
    let path = emulator.config.with_file_name("crash-loop.toml");
    let mut file = std::fs::OpenOptions::new();
    std::os::unix::fs::OpenOptionsExt::mode(file.write(true).create_new(true), 0o600);
    std::io::Write::write_all(
        &mut file.open(&path)?,
        format!("lease_secs = {LEASE_SECS}\nundo_secs = 0\n{text}").as_bytes(),
    )?;
    Ok(path)
}

/// The part of a case's key every decision call's path names (Credas and FrankieOne
/// keys are entity/…; their calls name the entity).
fn case_segment(case_ref: &str) -> &str {
    let key = case_ref.split_once(':').map(|(_, k)| k).unwrap_or(case_ref);
    key.split('/').next().unwrap_or(key)
}

/// Where the emulator fails a provider's decision calls (not its reads).
fn decision_path(provider: &str) -> &'static str {
    match provider {
        "complycube" => "/validate",
        "credas" => "/verify",
        "idwise" => "manual-review",
        "sumsub" => "/approve",
        _ => "/",
    }
}

fn arm_fault(emulator: &EmulatorProcess, rng: &mut StdRng, provider: &str) -> R {
    let fault = match rng.random_range(0..6) {
        0 => json!({"delay_ms": rng.random_range(50..MAX_LATENCY_MS)}),
        1 => {
            let status = [500, 502, 503][rng.random_range(0..3)];
            json!({ "status": status })
        }
        2 => json!({"cut": "before_apply"}),
        3 => json!({"cut": "after_apply"}),
        4 => json!({"delay_ms": rng.random_range(50..MAX_LATENCY_MS), "cut": "after_apply"}),
        _ => return Ok(()),
    };
    let mut fault = fault;
    fault["provider"] = json!(provider);
    fault["count"] = json!(1);
    fault["path_contains"] = json!(decision_path(provider));
    let status = reqwest::blocking_post_json(&format!("{}/_emulator/faults", emulator.base_url), fault)?;
    assert_eq!(status, 200);
    Ok(())
}

fn spawn(dir: &Path, config: &Path, args: &[&str]) -> R<Child> {
    Ok(Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .envs(isolated_env(dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

/// Lets a process run for a random while, then SIGKILLs it if it is still going.
fn kill_after(child: &mut Child, after: Duration) -> R {
    let until = Instant::now() + after;
    while Instant::now() < until {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    child.wait()?;
    Ok(())
}

fn wait(child: &mut Child) -> R {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("a kycdesk process did not finish".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

#[test]
fn no_decision_is_lost_or_delivered_twice_when_processes_die_and_calls_fail() -> R {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let inbox_url = format!("http://127.0.0.1:{port}");
    let emulator = EmulatorProcess::start_with(dir.path(), &["--cases", "12", "--push-webhooks-to", &inbox_url])?;
    let config = loop_config(&emulator)?;
    // The inbox queues the webhook-fed providers' cases; then it is not needed.
    let cases = {
        let _inbox = InboxProcess::start(dir.path(), &config, &format!("127.0.0.1:{port}"))?;
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let cases = listed(dir.path(), &config)?;
            if PROVIDERS.iter().all(|p| cases.iter().filter(|c| c["provider"] == *p).count() >= 6) {
                break cases;
            }
            if Instant::now() > deadline {
                return Err(format!("the queue did not fill: {cases:?}").into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let mut undecided: Vec<(String, String)> = cases
        .iter()
        .filter_map(|c| Some((c["provider"].as_str()?.to_string(), c["ref"].as_str()?.to_string())))
        .collect();
    undecided.sort();

    let mut rng = StdRng::seed_from_u64(SEED);
    let mut console: Option<(Tmux, u32)> = None;
    let mut tried = 0;
    for round in 0..ROUNDS {
        if undecided.is_empty() {
            break;
        }
        // Sometimes a console runs too: a third sender, killed at random like the rest.
        if console.is_none() && rng.random_bool(0.3) {
            let home = dir.path().join(format!("console-{round}"));
            std::fs::create_dir_all(&home)?;
            let tmux = Tmux::start(
                &home,
                &isolated_env(dir.path()),
                &format!("exec {BIN} --config {} console", config.display()),
            )?;
            let pid = tmux.pane_pid()?;
            console = Some((tmux, pid));
        }
        let mut children = vec![];
        for _ in 0..rng.random_range(1..=3) {
            if undecided.is_empty() {
                break;
            }
            let (provider, case_ref) = undecided.remove(rng.random_range(0..undecided.len()));
            arm_fault(&emulator, &mut rng, &provider)?;
            tried += 1;
            // Unique per decision, so a call repeated for another case cannot look alike.
            let reason = format!("Crash loop round {round}, {case_ref}.");
            children.push(spawn(
                dir.path(),
                &config,
                &["decide", &case_ref, "--verdict", "verify", "--reason", &reason],
            )?);
        }
        let senders = if rng.random_bool(0.4) { rng.random_range(1..=2) } else { 0 };
        for _ in 0..senders {
            children.push(spawn(dir.path(), &config, &["send"])?);
        }
        // Kill before, during or after the calls: anywhere from at once to never.
        for child in &mut children {
            if rng.random_bool(0.6) {
                kill_after(child, Duration::from_millis(rng.random_range(0..1200)))?;
            } else {
                wait(child)?;
            }
        }
        if rng.random_bool(0.5)
            && let Some((tmux, pid)) = console.take()
        {
            Command::new("kill").args(["-KILL", &pid.to_string()]).status()?;
            tmux.wait_until_gone()?;
        }
    }
    drop(console);
    assert!(tried >= 40, "the loop decided too few cases: {tried}");

    // Settle: `send` until nothing waits (held decisions are released after the lease).
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let out = kycdesk(dir.path(), &config, &["send"])?;
        if out.status.code() == Some(0) {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("decisions still wait: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    let decisions = outbox(dir.path(), &config)?;
    assert!(decisions.len() >= 20, "too few decisions were saved to prove much: {}", decisions.len());
    let calls = emulator.decisions()?;
    let applied: Vec<&Value> = calls.iter().filter(|c| c["status"].as_u64().is_some_and(|s| s < 300)).collect();
    // Each call exactly once: the same method, path and body never twice.
    let mut seen = BTreeSet::new();
    for c in &applied {
        let key = format!("{} {} {}", c["method"], c["path"], c["body"]);
        assert!(seen.insert(key.clone()), "delivered twice: {key}");
    }
    let mut by_provider: BTreeMap<String, usize> = BTreeMap::new();
    for d in &decisions {
        let state = d["state"].as_str().unwrap_or_default();
        let case_ref = d["case"].as_str().ok_or(format!("no case in {d}"))?;
        assert!(matches!(state, "sent" | "failed"), "{case_ref} ended {state}: {d}");
        if state == "sent" {
            let segment = case_segment(case_ref);
            assert!(
                applied.iter().any(|c| c["path"].as_str().is_some_and(|p| p.contains(segment))),
                "{case_ref} is sent but nothing reached the emulator"
            );
            let provider = case_ref.split(':').next().unwrap_or_default();
            *by_provider.entry(provider.to_string()).or_default() += 1;
        }
    }
    for p in PROVIDERS {
        assert!(by_provider.get(p).is_some_and(|n| *n > 0), "no {p} decision was delivered: {by_provider:?}");
    }
    let audit = kycdesk(dir.path(), &config, &["audit", "verify"])?;
    assert_eq!(audit.status.code(), Some(0), "{}", String::from_utf8_lossy(&audit.stderr));
    eprintln!("crash loop: {tried} decided, {} saved, {by_provider:?}, {:?}", decisions.len(), started.elapsed());
    Ok(())
}
