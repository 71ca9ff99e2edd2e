//! What each CLI command does, on the same code path as the console: the same store,
//! providers, poller and sender.

use crate::config::{self, Config};
use crate::domain::{CaseRef, Decision, ProviderId, QueueEntry, SafeText, TargetId, Verdict};
use crate::emulator::{self, EmulatorOptions};
use crate::intake::{inbox, poller};
use crate::private_fs;
use crate::providers::Providers;
use crate::sender::{Delivery, Sender};
use crate::store::{self, AuditEntry, AuditKey, Evidence, OutboxRow, OutboxState, SaveItem, SqliteStore, Store};
use crate::tui::{self, ConsoleSetup};
use chrono::Utc;
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit code of `decide` and `send` when a decision is saved but not yet delivered.
pub const EXIT_SAVED_NOT_DELIVERED: u8 = 3;

/// No core dumps, and not dumpable: neither a crash nor another process of this user
/// (ptrace, /proc/PID/mem) gets document images or credentials. Files made without an
/// explicit mode are private too.
pub fn harden_process() {
    if let Err(e) = rlimit::setrlimit(rlimit::Resource::CORE, 0, 0) {
        eprintln!("kycdesk: could not disable core dumps: {e}");
    }
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        eprintln!("kycdesk: could not make the process undumpable: {e}");
    }
    crate::private_fs::restrict_umask();
}

/// Logs go to a private file (0600, in a 0700 directory if kycdesk makes it), never the
/// screen; a log others can read is refused.
pub fn init_logging(path: &Path) -> Result<()> {
    crate::private_fs::prepare_parent(path).wrap_err("cannot open the log")?;
    let file = crate::private_fs::open_append(path).wrap_err("cannot open the log")?;
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

/// `kycdesk completions SHELL`: the script clap_complete generates from the CLI.
pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "kycdesk", &mut script);
    print_out(&String::from_utf8(script)?)?;
    Ok(ExitCode::SUCCESS)
}

/// `kycdesk man`: the manual page clap_mangen renders from the CLI, as roff.
pub fn man() -> Result<ExitCode> {
    print_out(&man_page()?)?;
    Ok(ExitCode::SUCCESS)
}

/// The CLI's page, then the console's keys from the key table (the defaults; a config
/// may rebind them).
pub fn man_page() -> Result<String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(crate::cli::command()).render(&mut page)?;
    let mut keys = roff::Roff::new();
    keys.control("SH", ["KEYS"]).text([roff::roman(
        "The console's default keys; [keys.CONTEXT] in the config rebinds them, and ? shows the ones in effect.",
    )]);
    for (context, rows) in crate::app::keymap::KeyTable::default().sections() {
        keys.control("SS", [context.title()]);
        for (chords, what) in rows {
            keys.control("TP", []).text([roff::bold(chords)]).text([roff::roman(what)]);
        }
    }
    Ok(String::from_utf8(page)? + &keys.to_roff())
}

/// `kycdesk config init`: the example config at `path`, or at the default path.
pub fn config_init(path: Option<&Path>) -> Result<ExitCode> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => config::default_config_path()
            .ok_or_else(|| eyre!("no home directory to put the config in; name a file with --path"))?,
    };
    config::write_example(&path)?;
    println!(
        "wrote an example config to {} (0600). Edit its [providers.*] sections (delete the ones you do not \
         use), then run `kycdesk doctor`.",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn wait_for_shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
    }
}

/// Writes a listing to stdout; a reader that stops early (`| head`) ends it quietly.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `eprintln!` without its panic: `kycdesk list 2>&1 | head -1` closes stderr too, and a
/// closed pipe is a normal end of the output, not a crash (exit 101).
macro_rules! print_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let key = AuditKey::new(config.audit_key()?);
    let store = SqliteStore::open(&config.store)
        .and_then(|s| s.with_audit_key(key))
        .wrap_err_with(|| format!("cannot open the store at {}", config.store.display()))?;
    Ok(Arc::new(store))
}

/// The store, and every provider's rate limit spent through it: one budget per
/// credential for all the processes on the host (the console, the inbox, `decide`).
fn open_store_for(config: &Config, providers: &Providers) -> Result<Arc<dyn Store>> {
    let store = open_store(config)?;
    let sends: Arc<dyn crate::providers::rate::SharedSends> = Arc::new(store::SharedRate(Arc::clone(&store)));
    providers.share_rate(&sends);
    Ok(store)
}

/// The store for reading the audit log: never created, migrated or written.
fn open_store_read_only(config: &Config) -> Result<Arc<dyn Store>> {
    let open = || -> Result<SqliteStore> {
        let store = SqliteStore::open_read_only(&config.store)?;
        Ok(match config.existing_audit_key()? {
            Some(key) => store.with_audit_key(AuditKey::new(key))?,
            None => store,
        })
    };
    let store = open().wrap_err_with(|| format!("cannot read the store at {}", config.store.display()))?;
    Ok(Arc::new(store))
}

/// What to do when there is no config file: where kycdesk looked, and the two ways on.
pub fn no_config_hint() -> String {
    match config::default_config_path() {
        Some(path) => format!(
            "no config: there is none at {path} and no --config names one. `kycdesk config init` writes a \
             ready-to-edit example there (0600, in a 0700 directory; it never overwrites a file); \
             `kycdesk demo` shows the console on synthetic cases",
            path = path.display()
        ),
        None => "no config: no --config names one, and there is no home directory to look in. `kycdesk config init \
                 --path FILE` writes a ready-to-edit example; `kycdesk demo` shows the console on synthetic cases"
            .into(),
    }
}

/// The configured providers, for a command that needs them; checked before any store
/// is opened, so a host without a config gets the hint and nothing written.
fn providers(config: &Config) -> Result<Providers> {
    configured(config, config.providers()?)
}

/// As [`providers`], with the webhook secrets the inbox checks deliveries with.
fn providers_with_webhooks(config: &Config) -> Result<Providers> {
    configured(config, config.providers_with_webhooks()?)
}

fn configured(config: &Config, providers: Providers) -> Result<Providers> {
    let Some(path) = &config.path else { bail!("{}", no_config_hint()) };
    if providers.is_empty() {
        bail!(
            "no providers are configured in {}; add a [providers.NAME] section (see `kycdesk config init`), \
             or try `kycdesk demo`",
            path.display()
        );
    }
    Ok(providers)
}

/// Commands that decide refuse to run read-only, before they touch the store.
fn refuse_if_read_only(config: &Config) -> Result<()> {
    if config.read_only {
        bail!(
            "read-only (--read-only, read_only in the config, or KYCDESK_READ_ONLY): decisions are off here; \
             nothing was saved or sent"
        );
    }
    Ok(())
}

pub async fn console(config: Config) -> Result<()> {
    let providers = providers(&config)?;
    let store = open_store_for(&config, &providers)?;
    tui::run(ConsoleSetup { config, store, providers, banner: String::new() }).await?;
    Ok(())
}

pub async fn inbox(config: &Config, listen: &str) -> Result<()> {
    let providers = providers_with_webhooks(config)?;
    let store = open_store_for(config, &providers)?;
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
/// `--read-only` and `--mask`, for a console whose config is not read from a file.
#[derive(Clone, Copy, Debug, Default)]
pub struct StartFlags {
    pub read_only: bool,
    pub mask: bool,
}

pub async fn demo(listen: &str, mut options: EmulatorOptions, flags: StartFlags) -> Result<()> {
    let listener =
        tokio::net::TcpListener::bind(listen).await.wrap_err_with(|| format!("cannot listen on {listen}"))?;
    let inbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    options.push_webhooks_to = Some(format!("http://{}", inbox_listener.local_addr()?));
    options.webhook_world = emulator::complycube::Mode::Live;
    let running = emulator::spawn(listener, options)?;
    // An SSH drop (SIGHUP), kill (SIGTERM) or SIGINT must not leave the demo's store
    // behind: listen before the directory exists, remove it before exiting.
    let mut ended = termination_signals()?;
    let tmp = std::env::temp_dir();
    for stale in private_fs::remove_stale(&tmp, DEMO_PREFIX) {
        eprintln!("kycdesk: removed {}, left by a demo that was killed", stale.display());
    }
    let mut dir = private_fs::RunDir::create(&tmp, DEMO_PREFIX).wrap_err("cannot create the demo directory")?;
    let outcome = tokio::select! {
        outcome = demo_console(&running, dir.path(), inbox_listener, flags) => outcome,
        Some(signal) = ended.recv() => {
            tracing::info!(signal, "demo ended by a signal");
            Ok(())
        }
    };
    dir.remove().wrap_err_with(|| format!("cannot remove the demo directory {}", dir.path().display()))?;
    outcome
}

/// Demo directories are `$TMPDIR/kycdesk-demo-*`.
const DEMO_PREFIX: &str = "kycdesk-demo-";

/// The signals that end a run: one channel, fed by a task per signal.
fn termination_signals() -> Result<tokio::sync::mpsc::Receiver<&'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::mpsc::channel(3);
    for (kind, name) in
        [(SignalKind::hangup(), "SIGHUP"), (SignalKind::terminate(), "SIGTERM"), (SignalKind::interrupt(), "SIGINT")]
    {
        let mut stream = signal(kind).wrap_err_with(|| format!("cannot listen for {name}"))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            if stream.recv().await.is_some() {
                let _ = tx.send(name).await;
            }
        });
    }
    Ok(rx)
}

async fn demo_console(
    running: &emulator::RunningEmulator,
    dir: &Path,
    inbox_listener: tokio::net::TcpListener,
    flags: StartFlags,
) -> Result<()> {
    let mut config = Config::from_file(config::emulator_config(&running.base_url(), true), None, true)?;
    config.read_only |= flags.read_only;
    config.mask |= flags.mask;
    config.store = dir.join("demo.sqlite3");
    config.audit_key = config::AuditKeySource::Generated(dir.join("audit.key"));
    config.log = dir.join("demo.log");
    config.poll_interval = std::time::Duration::from_secs(10);
    init_logging(&config.log)?;
    let providers = config.providers_with_webhooks()?;
    let store = open_store_for(&config, &providers)?;
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
    lane: &'static str,
    note: Option<&'a str>,
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
        lane: e.lane.label(),
        note: e.note.as_ref().map(SafeText::as_str),
        received_at: e.received_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

pub async fn list(config: &Config, json: bool) -> Result<ExitCode> {
    let providers = providers(config)?;
    let store = open_store_for(config, &providers)?;
    let report = poller::poll_once(&store, &providers).await?;
    let read = store::blocking(&store, |s| s.read_queue()).await?;
    let queue = read.entries;
    if json {
        let rows: Vec<ListedCase<'_>> = queue.iter().map(listed).collect();
        print_out(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?;
    } else {
        let mut out = String::new();
        for e in &queue {
            let note = e.note.as_ref().map(|n| format!(" [{}]", n.one_line())).unwrap_or_default();
            writeln!(
                out,
                "{:<40} {:<17} {:<28} {:<18} {}{note}",
                e.case_ref.to_string(),
                e.lane.label(),
                e.applicant.one_line(),
                e.check_type.one_line(),
                e.why_referred.one_line()
            )?;
        }
        print_out(&out)?;
        print_err!("{} case(s) open", queue.len());
    }
    for (provider, error) in &report.failures {
        print_err!("kycdesk: {provider}: {error}");
    }
    for (provider, reason) in &report.dropped {
        print_err!("kycdesk: {provider}: a case was left out: {reason}");
    }
    // The rest of the queue is listed; what could not be read is said, not hidden.
    if !read.skipped.is_empty() {
        print_err!("kycdesk: {} unreadable queue row(s) skipped", read.skipped.len());
        for s in &read.skipped {
            print_err!("kycdesk:   {s}");
        }
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
    refuse_if_read_only(config)?;
    let case_ref: CaseRef = case_ref.parse()?;
    let reason = typed_reason(reason)?;
    let providers = providers(config)?;
    let store = open_store_for(config, &providers)?;
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
    check_reason_codes(&case_ref, offered, verdict, &reason_codes)?;
    let decision = Decision {
        id: uuid::Uuid::new_v4().to_string(),
        case_ref: case_ref.clone(),
        target: target.clone(),
        verdict,
        reason,
        reason_codes,
        analyst: config.analyst.clone(),
        created_at: Utc::now(),
    };
    provider.check_decision_on(&decision, offered)?;
    let entry = case.queue_entry(Utc::now());
    // The case's other hits and elements: deciding the last undecided one decides it.
    let parts: Vec<TargetId> = case.targets.iter().map(|t| t.id.clone()).filter(|t| *t != TargetId::Case).collect();
    let saved = decision.clone();
    store::blocking(&store, move |s| {
        s.upsert_queue(std::slice::from_ref(&entry))?;
        let decided: Vec<TargetId> = s
            .decisions_for(&saved.case_ref)?
            .into_iter()
            .filter(|r| matches!(r.state, OutboxState::Saved | OutboxState::Sending | OutboxState::Sent))
            .map(|r| r.decision.target)
            .collect();
        let closes_case =
            saved.target != TargetId::Case && parts.iter().all(|t| *t == saved.target || decided.contains(t));
        let send_after = saved.created_at;
        s.save_decisions(&[SaveItem { decision: saved, evidence: Evidence::default(), closes_case }], send_after)
    })
    .await?;
    eprintln!("saved decision {} ({} on {case_ref})", decision.id, verdict.label());
    let sender = Sender::new(Arc::clone(&store), providers.clone()).with_lease(config.lease);
    let done = sender.deliver_now(&decision.id).await?;
    report_delivery(done, verdict)
}

/// Reason codes must come from what the target offers for the verdict (the provider's
/// catalogue); anything else is refused before saving.
fn check_reason_codes(
    case_ref: &CaseRef,
    offered: &crate::domain::DecisionTarget,
    verdict: Verdict,
    codes: &[String],
) -> Result<()> {
    let valid = offered.choices(verdict);
    let unknown: Vec<&str> = codes.iter().map(String::as_str).filter(|c| !valid.iter().any(|r| r.code == *c)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let provider = case_ref.provider;
    if valid.is_empty() {
        bail!(
            "{case_ref} ({}) takes no reason codes with {}; not {}. Put the reason in --reason \
             (`kycdesk reasons {provider}` lists the codes {} takes)",
            offered.label,
            verdict.as_str(),
            unknown.join(", "),
            provider.display_name()
        );
    }
    let codes: Vec<&str> = valid.iter().map(|r| r.code).collect();
    bail!(
        "unknown reason code(s) for {} on {case_ref}: {}; valid codes: {}",
        verdict.as_str(),
        unknown.join(", "),
        codes.join(", ")
    );
}

/// What a delivery attempt of `decide` or `outbox retry` achieved, as output and exit code.
fn report_delivery(done: Option<Delivery>, verdict: Verdict) -> Result<ExitCode> {
    match done {
        Some(Delivery::Sent { case_ref, .. }) => {
            println!("delivered: {} {case_ref}", verdict.as_str());
            Ok(ExitCode::SUCCESS)
        }
        Some(Delivery::Escalated { case_ref, .. }) => {
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
    let providers = providers(config)?;
    let store = open_store_for(config, &providers)?;
    let done = Sender::new(Arc::clone(&store), providers).with_lease(config.lease).deliver_all_waiting().await?;
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
    report_degraded(&store).await?;
    Ok(if waiting > 0 || counts.saved > 0 { ExitCode::from(EXIT_SAVED_NOT_DELIVERED) } else { ExitCode::SUCCESS })
}

/// The reason codes a provider takes (`decide --reason-code`), from its adapter.
pub fn reasons(config: &Config, provider: ProviderId) -> Result<ExitCode> {
    let providers = providers(config)?;
    let capabilities = providers.require(provider)?.capabilities();
    let name = provider.display_name();
    let mut out = String::new();
    if capabilities.reject_reasons.is_empty() {
        writeln!(out, "{name} takes no reason codes; the typed reason (--reason) is all it gets.")?;
    } else {
        writeln!(out, "{name} reason codes (decide --verdict reject --reason-code CODE):")?;
        let width = capabilities.reject_reasons.iter().map(|r| r.code.len()).max().unwrap_or(0);
        for r in &capabilities.reject_reasons {
            writeln!(out, "  {:<width$}  {}", r.code, r.label)?;
        }
    }
    print_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct ListedDecision<'a> {
    #[serde(rename = "ref")]
    decision_id: &'a str,
    state: &'static str,
    verdict: &'static str,
    case: String,
    target: &'a TargetId,
    attempts: u32,
    last_error: Option<String>,
    created_at: String,
    send_after: String,
}

fn listed_decision(row: &OutboxRow) -> ListedDecision<'_> {
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    ListedDecision {
        decision_id: &row.decision.id,
        state: row.state.as_str(),
        verdict: row.decision.verdict.as_str(),
        case: row.decision.case_ref.to_string(),
        target: &row.decision.target,
        attempts: row.attempts,
        last_error: row.last_error.as_deref().map(|e| SafeText::new(e).one_line()),
        created_at: at(row.decision.created_at),
        send_after: at(row.send_after),
    }
}

/// How a decision is shown and typed back: the first 8 characters of its id.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Says which providers kycdesk is not sending to for now, and until when.
async fn report_degraded(store: &Arc<dyn Store>) -> Result<()> {
    for d in store::blocking(store, |s| s.degraded()).await? {
        eprintln!(
            "{} is degraded since {} ({} failed attempts in a row; last: {}): its decisions wait; next probe at {}, \
             or now with `kycdesk send`",
            d.provider.display_name(),
            d.since.format("%Y-%m-%d %H:%M UTC"),
            d.failures,
            SafeText::new(&d.last_error).one_line(),
            d.next_probe_at.format("%H:%M:%S UTC"),
        );
    }
    Ok(())
}

/// The outbox, newest first.
pub async fn outbox_list(config: &Config, json: bool, limit: usize) -> Result<ExitCode> {
    let store = open_store(config)?;
    report_degraded(&store).await?;
    let rows = store::blocking(&store, move |s| s.outbox_list(limit)).await?;
    if json {
        let listed: Vec<ListedDecision<'_>> = rows.iter().map(listed_decision).collect();
        print_out(&format!("{}\n", serde_json::to_string_pretty(&listed)?))?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        eprintln!("the outbox is empty");
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let mut out = String::new();
    writeln!(out, "{:<8}  {:<9}  {:<14}  {:<40}  {:>8}  LAST ERROR", "REF", "STATE", "VERDICT", "CASE", "ATTEMPTS")?;
    for row in &rows {
        let what = match (&row.last_error, row.state) {
            (Some(e), _) => SafeText::new(e).one_line(),
            (None, OutboxState::Saved) if row.send_after > now => {
                format!("(undo grace period until {})", row.send_after.format("%H:%M:%S UTC"))
            }
            (None, _) => String::new(),
        };
        let line = format!(
            "{:<8}  {:<9}  {:<14}  {:<40}  {:>8}  {what}",
            short(&row.decision.id),
            row.state.as_str(),
            row.decision.verdict.as_str(),
            row.decision.case_ref.to_string(),
            row.attempts,
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    print_out(&out)?;
    eprintln!(
        "{} decision(s); `kycdesk outbox retry REF` or `kycdesk outbox drop REF --reason TEXT` act on one",
        rows.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// One decision by its id, a unique prefix of it (as `outbox` shows), or its case's
/// reference when that case has exactly one decision `eligible` for the action.
async fn find_decision(
    store: &Arc<dyn Store>,
    reference: &str,
    action: &str,
    eligible: fn(OutboxState) -> bool,
) -> Result<OutboxRow> {
    let wanted = reference.trim().to_string();
    if wanted.is_empty() {
        bail!("name a decision: its ref as `kycdesk outbox` shows it");
    }
    let rows = store::blocking(store, move |s| {
        if let Some(row) = s.outbox_row(&wanted)? {
            return Ok(vec![row]);
        }
        if let Ok(case_ref) = wanted.parse::<CaseRef>() {
            return Ok(s.decisions_for(&case_ref)?.into_iter().filter(|r| eligible(r.state)).collect());
        }
        Ok(s.outbox_list(usize::MAX)?.into_iter().filter(|r| r.decision.id.starts_with(&wanted)).collect())
    })
    .await?;
    let shown = SafeText::new(reference).one_line();
    match rows.len() {
        0 if shown.contains(':') => bail!("{shown} has no decision that can be {action} (`kycdesk outbox` lists them)"),
        0 => bail!("no decision {shown} in the outbox (`kycdesk outbox` lists them)"),
        1 => Ok(rows.into_iter().next().ok_or_else(|| eyre!("no decision {shown}"))?),
        n => {
            let refs: Vec<&str> = rows.iter().map(|r| short(&r.decision.id)).collect();
            bail!("{shown} names {n} decisions ({}); give more of the ref", refs.join(", "))
        }
    }
}

/// Queues a refused decision again and tries to deliver it now.
pub async fn outbox_retry(config: &Config, reference: &str) -> Result<ExitCode> {
    refuse_if_read_only(config)?;
    let providers = providers(config)?;
    let store = open_store_for(config, &providers)?;
    let row = find_decision(&store, reference, "retried", |s| s == OutboxState::Failed).await?;
    let (id, analyst) = (row.decision.id.clone(), config.analyst.clone());
    store::blocking(&store, move |s| s.retry_decision(&id, &analyst)).await?;
    eprintln!(
        "queued again: {} ({} on {})",
        short(&row.decision.id),
        row.decision.verdict.label(),
        row.decision.case_ref
    );
    let done =
        Sender::new(Arc::clone(&store), providers).with_lease(config.lease).deliver_now(&row.decision.id).await?;
    report_delivery(done, row.decision.verdict)
}

/// A reason from the command line goes to the provider and the audit log as the
/// console's editor would let it: printable text and newlines. Anything else is
/// refused, not silently changed.
fn typed_reason(reason: &str) -> Result<String> {
    let typed = crate::domain::sanitize::typable(reason);
    if typed != reason.replace("\r\n", "\n").replace('\r', "\n") {
        bail!("--reason holds control, escape, bidi or zero-width characters; give it as plain text");
    }
    Ok(typed.trim().to_string())
}

/// Gives up a refused or not yet sent decision, with a reason in the audit log.
pub async fn outbox_drop(config: &Config, reference: &str, reason: &str) -> Result<ExitCode> {
    refuse_if_read_only(config)?;
    let reason = typed_reason(reason)?;
    let store = open_store(config)?;
    let row =
        find_decision(&store, reference, "dropped", |s| matches!(s, OutboxState::Failed | OutboxState::Saved)).await?;
    let (id, analyst, why) = (row.decision.id.clone(), config.analyst.clone(), reason);
    store::blocking(&store, move |s| s.drop_decision(&id, &analyst, &why)).await?;
    println!(
        "dropped: {} ({} on {}); the case is back in the queue",
        short(&row.decision.id),
        row.decision.verdict.as_str(),
        row.decision.case_ref
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn audit_verify(config: &Config) -> Result<ExitCode> {
    let store = open_store_read_only(config)?;
    let report = store::blocking(&store, |s| s.verify_audit_report()).await?;
    let mut line = format!("audit log intact: {} record(s) checked", report.records);
    if report.unkeyed > 0 {
        write!(line, " ({} keyed, {} unkeyed from before the audit key)", report.keyed, report.unkeyed)?;
    }
    match report.anchored {
        Some(n) if n < report.records => {
            write!(line, "; anchored at {n}, the rest written since (or their anchor update was interrupted)")?
        }
        Some(_) => line.push_str("; anchored"),
        None => {}
    }
    writeln!(line, "; {} decision(s) in the outbox, each with its records", report.decisions)?;
    print_out(&line)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line; `detail` as JSON.
    Jsonl,
    /// A header row, then one row per record; `detail` as JSON text.
    Csv,
}

/// A bound of `audit export`: RFC 3339, or a date (UTC), which as `--to` includes its
/// whole day.
fn parse_bound(text: &str, end_of_day: bool) -> Result<chrono::DateTime<Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let shown = SafeText::new(text).one_line();
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| eyre!("'{shown}' is not a date: use YYYY-MM-DD or RFC 3339 (2024-05-31T17:00:00Z)"))?;
    let day = if end_of_day { date.succ_opt().ok_or_else(|| eyre!("'{shown}' is too far ahead"))? } else { date };
    let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    Ok(if end_of_day { start - chrono::Duration::microseconds(1) } else { start })
}

#[derive(Serialize)]
struct ExportedRecord<'a> {
    id: i64,
    at: String,
    analyst: &'a str,
    action: &'a str,
    case_ref: &'a str,
    decision_id: Option<&'a str>,
    detail: serde_json::Value,
}

/// Strings inside an exported detail are sanitised again: its JSON escapes could spell
/// control characters out.
fn sanitized(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(crate::domain::sanitize(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(sanitized).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (crate::domain::sanitize(&k), sanitized(v))).collect())
        }
        other => other,
    }
}

fn exported(e: &AuditEntry) -> ExportedRecord<'_> {
    let detail = serde_json::from_str(e.detail.as_str())
        .map(sanitized)
        .unwrap_or_else(|_| serde_json::Value::String(e.detail.as_str().to_string()));
    ExportedRecord {
        id: e.id,
        at: e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        analyst: e.analyst.as_str(),
        action: e.action.as_str(),
        case_ref: e.case_ref.as_str(),
        decision_id: e.decision_id.as_ref().map(SafeText::as_str),
        detail,
    }
}

/// The audit records of a period, for a regulator's request: who decided what, when,
/// why and on which evidence. Only from a log that verifies.
pub async fn audit_export(
    config: &Config,
    from: Option<&str>,
    to: Option<&str>,
    format: ExportFormat,
) -> Result<ExitCode> {
    let from = from.map(|f| parse_bound(f, false)).transpose()?;
    let to = to.map(|t| parse_bound(t, true)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        bail!("--from is after --to");
    }
    let store = open_store_read_only(config)?;
    store::blocking(&store, |s| s.verify_audit_report())
        .await
        .wrap_err("the audit log does not verify, so it is not exported (`kycdesk audit verify`)")?;
    let entries = store::blocking(&store, move |s| s.audit_records(from, to)).await?;
    let mut out = String::new();
    match format {
        ExportFormat::Jsonl => {
            for e in &entries {
                writeln!(out, "{}", serde_json::to_string(&exported(e))?)?;
            }
        }
        ExportFormat::Csv => {
            let mut csv = csv::Writer::from_writer(Vec::new());
            csv.write_record(["id", "at", "analyst", "action", "case_ref", "decision_id", "detail"])?;
            for e in &entries {
                let r = exported(e);
                let detail = r.detail.to_string();
                let id = r.id.to_string();
                csv.write_record([&id, &r.at, r.analyst, r.action, r.case_ref, r.decision_id.unwrap_or(""), &detail])?;
            }
            out = String::from_utf8(csv.into_inner().map_err(|e| eyre!("{}", e.error()))?)?;
        }
    }
    print_out(&out)?;
    eprintln!("{} audit record(s) exported", entries.len());
    Ok(ExitCode::SUCCESS)
}
