//! What each CLI command does, on the same code path as the console: the same store,
//! providers, poller and sender.

use crate::config::{self, Config};
use crate::domain::{CaseRef, Decision, Lane, QueueEntry, QueueStatus, TargetId, Verdict};
use crate::emulator::{self, EmulatorOptions};
use crate::intake::{inbox, poller};
use crate::providers::Providers;
use crate::sender::{Delivery, Sender};
use crate::store::{self, Evidence, SqliteStore, Store};
use crate::tui::{self, ConsoleSetup};
use chrono::Utc;
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code of `decide` and `send` when a decision is saved but not yet delivered.
pub const EXIT_SAVED_NOT_DELIVERED: u8 = 3;

/// No core dumps: a crash must not write document images or credentials to disk.
pub fn harden_process() {
    if let Err(e) = rlimit::setrlimit(rlimit::Resource::CORE, 0, 0) {
        eprintln!("kycdesk: could not disable core dumps: {e}");
    }
}

/// Logs go to a private file, never the screen.
pub fn init_logging(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create log directory {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .wrap_err_with(|| format!("cannot open log file {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KYCDESK_LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("kycdesk=info,warn"));
    // A second init (the demo inside a test process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(())
}

pub async fn wait_for_shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
    }
}

fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let store = SqliteStore::open(&config.store)
        .wrap_err_with(|| format!("cannot open the store at {}", config.store.display()))?;
    Ok(Arc::new(store))
}

fn providers(config: &Config) -> Result<Providers> {
    let providers = config.providers()?;
    if providers.is_empty() {
        let where_ = config.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| {
            config::default_config_path().map(|p| p.display().to_string()).unwrap_or_else(|| "a config file".into())
        });
        bail!("no providers are configured in {where_}; see config.example.toml, or try `kycdesk demo`");
    }
    Ok(providers)
}

pub async fn console(config: Config) -> Result<()> {
    let store = open_store(&config)?;
    let providers = providers(&config)?;
    tui::run(ConsoleSetup { config, store, providers, banner: String::new() }).await?;
    Ok(())
}

pub async fn inbox(config: &Config, listen: &str) -> Result<()> {
    let store = open_store(config)?;
    let providers = providers(config)?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.wrap_err_with(|| format!("cannot listen on {listen}"))?;
    let addr = inbox::spawn(listener, store, providers)?;
    println!("kycdesk inbox listening on http://{addr}");
    std::io::Write::flush(&mut std::io::stdout())?;
    wait_for_shutdown().await;
    Ok(())
}

/// The console on an in-process emulator with a throw-away store; an in-process inbox
/// takes the emulator's webhooks, as a real deployment would.
pub async fn demo(listen: &str, mut options: EmulatorOptions) -> Result<()> {
    let listener =
        tokio::net::TcpListener::bind(listen).await.wrap_err_with(|| format!("cannot listen on {listen}"))?;
    let inbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    options.push_webhooks_to = Some(format!("http://{}", inbox_listener.local_addr()?));
    options.webhook_world = emulator::complycube::Mode::Live;
    let running = emulator::spawn(listener, options)?;
    let dir = tempfile::Builder::new().prefix("kycdesk-demo-").tempdir()?;
    let mut config = Config::from_file(config::emulator_config(&running.base_url(), true), None, true)?;
    config.store = dir.path().join("demo.sqlite3");
    config.log = dir.path().join("demo.log");
    config.poll_interval = std::time::Duration::from_secs(10);
    init_logging(&config.log)?;
    let store = open_store(&config)?;
    let providers = config.providers()?;
    inbox::spawn(inbox_listener, Arc::clone(&store), providers.clone())?;
    let banner = format!("demo · synthetic cases · emulator at {}", running.base_url());
    tui::run(ConsoleSetup { config, store, providers, banner }).await?;
    Ok(())
}

#[derive(Serialize)]
struct ListedCase<'a> {
    #[serde(rename = "ref")]
    case_ref: String,
    provider: &'static str,
    applicant: &'a str,
    check_type: &'a str,
    why_referred: &'a str,
    status: &'static str,
    received_at: String,
}

fn listed(e: &QueueEntry) -> ListedCase<'_> {
    ListedCase {
        case_ref: e.case_ref.to_string(),
        provider: e.case_ref.provider.as_str(),
        applicant: e.applicant.as_str(),
        check_type: e.check_type.as_str(),
        why_referred: e.why_referred.as_str(),
        status: e.status.as_str(),
        received_at: e.received_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

pub async fn list(config: &Config, json: bool) -> Result<ExitCode> {
    let store = open_store(config)?;
    let providers = providers(config)?;
    let report = poller::poll_once(&store, &providers).await?;
    let queue = store::blocking(&store, |s| s.open_queue()).await?;
    if json {
        let rows: Vec<ListedCase<'_>> = queue.iter().map(listed).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for e in &queue {
            println!(
                "{:<40} {:<10} {:<28} {:<18} {}",
                e.case_ref.to_string(),
                e.status.as_str(),
                e.applicant.one_line(),
                e.check_type.one_line(),
                e.why_referred.one_line()
            );
        }
        eprintln!("{} case(s) open", queue.len());
    }
    for (provider, error) in &report.failures {
        eprintln!("kycdesk: {provider}: {error}");
    }
    Ok(if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub async fn decide(
    config: &Config,
    case_ref: &str,
    verdict: Verdict,
    reason: &str,
    target: TargetId,
    reason_codes: Vec<String>,
) -> Result<ExitCode> {
    let case_ref: CaseRef = case_ref.parse()?;
    let store = open_store(config)?;
    let providers = providers(config)?;
    let provider = providers.require(case_ref.provider)?;
    // Read the case as the console would, and refuse what it does not offer.
    let case = provider.case(&case_ref).await?;
    let Some(offered) = case.targets.iter().find(|t| t.id == target) else {
        let offered: Vec<String> = case
            .targets
            .iter()
            .filter_map(|t| match &t.id {
                TargetId::Case => None,
                TargetId::Hit(h) => Some(format!("--hit {h}")),
                TargetId::Element(e) => Some(format!("--element {e}")),
            })
            .collect();
        bail!("{case_ref} has no such decision target; it offers the whole case and: {}", offered.join(", "));
    };
    if !offered.verdicts.contains(&verdict) {
        let names: Vec<&str> = offered.verdicts.iter().map(|v| v.as_str()).collect();
        bail!("{case_ref} ({}) takes {}; not {}", offered.label, names.join(", "), verdict.as_str());
    }
    let decision = Decision {
        id: uuid::Uuid::new_v4().to_string(),
        case_ref: case_ref.clone(),
        target,
        verdict,
        reason: reason.trim().to_string(),
        reason_codes,
        analyst: config.analyst.clone(),
        created_at: Utc::now(),
    };
    provider.check_decision(&decision)?;
    let entry = QueueEntry {
        case_ref: case_ref.clone(),
        applicant: case.applicant.name.clone(),
        check_type: case.check_type.clone(),
        why_referred: case.why_referred.clone(),
        received_at: case.created_at.unwrap_or_else(Utc::now),
        status: QueueStatus::Pending,
        lane: Lane::New,
        note: None,
    };
    let saved = decision.clone();
    store::blocking(&store, move |s| {
        s.upsert_queue(std::slice::from_ref(&entry))?;
        s.save_decision(&saved, &Evidence::default())
    })
    .await?;
    eprintln!("saved decision {} ({} on {case_ref})", decision.id, verdict.label());
    let sender = Sender::new(Arc::clone(&store), providers.clone());
    match sender.deliver_now(&decision.id).await? {
        Some(Delivery::Sent { .. }) => {
            println!("delivered: {} {case_ref}", verdict.as_str());
            Ok(ExitCode::SUCCESS)
        }
        Some(Delivery::Escalated { .. }) => {
            println!(
                "escalated locally (nothing sent to {}): {} {case_ref}",
                case_ref.provider.display_name(),
                verdict.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Delivery::WillRetry { error, .. }) => {
            eprintln!("saved but not delivered yet ({error}); `kycdesk send` or the console delivers it later");
            Ok(ExitCode::from(EXIT_SAVED_NOT_DELIVERED))
        }
        Some(Delivery::Failed { error, .. }) => Err(eyre!("the provider refused the decision: {error}")),
        None => {
            eprintln!("saved; another kycdesk process (a console, `kycdesk send`) is delivering it");
            Ok(ExitCode::from(EXIT_SAVED_NOT_DELIVERED))
        }
    }
}

pub async fn send(config: &Config) -> Result<ExitCode> {
    let store = open_store(config)?;
    let providers = providers(config)?;
    let done = Sender::new(Arc::clone(&store), providers).deliver_all_waiting().await?;
    let mut waiting = 0;
    for d in &done {
        match d {
            Delivery::Sent { case_ref, .. } => println!("delivered: {case_ref}"),
            Delivery::Escalated { case_ref, .. } => {
                println!("escalated locally (nothing sent to {}): {case_ref}", case_ref.provider.display_name())
            }
            Delivery::WillRetry { case_ref, error, .. } => {
                waiting += 1;
                eprintln!("not delivered yet: {case_ref}: {error}");
            }
            Delivery::Failed { case_ref, error, .. } => eprintln!("refused: {case_ref}: {error}"),
        }
    }
    let counts = store::blocking(&store, |s| s.outbox_counts()).await?;
    eprintln!("outbox: {} saved · {} sent · {} failed", counts.saved, counts.sent, counts.failed);
    Ok(if waiting > 0 || counts.saved > 0 { ExitCode::from(EXIT_SAVED_NOT_DELIVERED) } else { ExitCode::SUCCESS })
}

pub async fn audit_verify(config: &Config) -> Result<ExitCode> {
    let store = open_store(config)?;
    let checked = store::blocking(&store, |s| s.verify_audit()).await?;
    println!("audit log intact: {checked} record(s) checked");
    Ok(ExitCode::SUCCESS)
}
