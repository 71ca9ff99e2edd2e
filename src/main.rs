//! CLI parsing and dispatch only.

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr};
use kycdesk::commands;
use kycdesk::config::{self, Config};
use kycdesk::domain::Verdict;
use kycdesk::emulator::{self, EmulatorOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "kycdesk", version, about = "Review referred identity-verification cases from the terminal")]
struct Cli {
    /// Config file (default: the platform config dir, e.g. ~/.config/kycdesk/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open the console on the configured providers (the default).
    Console,
    /// Open the console on an embedded emulator with synthetic cases: no account needed.
    Demo {
        #[command(flatten)]
        world: World,
    },
    /// Serve the provider APIs locally, with synthetic cases.
    Emulator {
        #[command(flatten)]
        world: World,
        /// Write a kycdesk config pointing every provider at this emulator.
        #[arg(long, value_name = "PATH")]
        write_config: Option<PathBuf>,
        /// Push the providers' webhooks to this inbox base URL (`URL/webhooks/{provider}`).
        #[arg(long, value_name = "URL")]
        push_webhooks_to: Option<String>,
    },
    /// Receive provider webhooks and queue the cases they name.
    Inbox {
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: String,
    },
    /// Poll the providers and print the queue.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Save a decision to the outbox, then deliver it. Exit 0: delivered; 3: saved, not
    /// yet delivered (it is sent on the next start); 1: refused or not saved.
    Decide {
        /// The case, as `list` shows it: provider:id.
        #[arg(value_name = "REF")]
        case_ref: String,
        /// verify, reject, refer, resubmit, true-match or false-positive.
        #[arg(long, value_parser = parse_verdict)]
        verdict: Verdict,
        /// Why: sent to the provider and kept in the audit log.
        #[arg(long)]
        reason: String,
        /// A screening hit to decide instead of the whole case (true-match / false-positive).
        #[arg(long, value_name = "HIT_ID", conflicts_with = "element")]
        hit: Option<String>,
        /// One element of the case instead of all of it (Credas: `liveness`,
        /// `document:<id>`, `supporting:<id>`).
        #[arg(long, value_name = "KEY")]
        element: Option<String>,
        /// A structured rejection reason from the provider's catalogue (repeatable).
        #[arg(long = "reason-code", value_name = "CODE")]
        reason_codes: Vec<String>,
    },
    /// Deliver every decision still waiting in the outbox (not before its undo grace
    /// period ends). Exit 0: nothing left waiting; 3: some still wait.
    Send,
    /// List the reason codes a provider takes (`decide --reason-code`).
    Reasons {
        /// complycube, credas, idwise, sumsub or frankieone.
        #[arg(value_name = "PROVIDER")]
        provider: String,
    },
    /// List the decisions in the outbox, newest first; retry or drop one.
    Outbox {
        #[command(subcommand)]
        action: Option<OutboxAction>,
        #[arg(long)]
        json: bool,
        /// At most this many decisions.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Check or export the audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
}

/// Where an emulator listens and what it seeds.
#[derive(clap::Args)]
struct World {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Seed of the synthetic cases: the same seed, the same cases.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Referred cases per provider.
    #[arg(long, default_value_t = 24)]
    cases: usize,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check the audit log: its keyed hash chain, its anchor beside the store, and that
    /// every decision in the outbox has its records. Reads only. Exit 0: intact; 1: not.
    Verify,
    /// Print the audit records of a period (UTC, both ends included): who decided what,
    /// when, why, on which evidence. Only from a log that verifies. Reads only.
    Export {
        /// The first day (YYYY-MM-DD) or instant (RFC 3339); default: the first record.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// The last day (YYYY-MM-DD, all of it) or instant (RFC 3339); default: the last record.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        #[arg(long, value_enum, default_value_t = commands::ExportFormat::Jsonl)]
        format: commands::ExportFormat,
    },
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Queue a refused decision again and deliver it now. Exit codes as for `decide`.
    Retry {
        /// The decision's ref as `outbox` shows it (or its case, if that has one refused).
        #[arg(value_name = "REF")]
        decision: String,
    },
    /// Give up a refused decision, or one not yet sent, so the case can be decided anew.
    Drop {
        /// The decision's ref as `outbox` shows it (or its case, if that has one).
        #[arg(value_name = "REF")]
        decision: String,
        /// Why: kept in the audit log.
        #[arg(long)]
        reason: String,
    },
}

/// `true-match` and `false-positive` on the command line are the domain's `true_match`
/// and `false_positive`: one list of verdicts, in `domain::Verdict`.
fn parse_verdict(s: &str) -> Result<Verdict, String> {
    Verdict::parse(&s.replace('-', "_"))
        .ok_or_else(|| "expected one of verify, reject, refer, resubmit, true-match, false-positive".to_string())
}

fn main() -> ExitCode {
    commands::harden_process();
    if let Err(e) = color_eyre::config::HookBuilder::default().display_env_section(false).install() {
        eprintln!("kycdesk: {e}");
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kycdesk: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kycdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let config_path = cli.config;
    let load = || -> Result<Config> {
        let config = Config::load(config_path.as_deref())?;
        commands::init_logging(&config.log)?;
        Ok(config)
    };
    match cli.command.unwrap_or(Command::Console) {
        Command::Emulator { world: World { listen, seed, cases }, write_config, push_webhooks_to } => {
            let listener =
                tokio::net::TcpListener::bind(&listen).await.wrap_err_with(|| format!("cannot listen on {listen}"))?;
            let options = EmulatorOptions { seed, cases, push_webhooks_to, ..EmulatorOptions::default() };
            let running = emulator::spawn(listener, options)?;
            println!("kycdesk emulator listening on {}", running.base_url());
            if let Some(path) = write_config {
                config::write_private(&path, &config::emulator_config(&running.base_url(), false))?;
                println!("wrote kycdesk config for this emulator to {}", path.display());
            }
            std::io::Write::flush(&mut std::io::stdout())?;
            commands::wait_for_shutdown().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { world: World { listen, seed, cases } } => {
            commands::demo(&listen, EmulatorOptions { seed, cases, ..EmulatorOptions::default() }).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Console => {
            commands::console(load()?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inbox { listen } => {
            commands::inbox(&load()?, &listen).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json } => commands::list(&load()?, json).await,
        Command::Decide { case_ref, verdict, reason, hit, element, reason_codes } => {
            let target = match (hit, element) {
                (Some(h), _) => kycdesk::domain::TargetId::Hit(h),
                (None, Some(e)) => kycdesk::domain::TargetId::Element(e),
                (None, None) => kycdesk::domain::TargetId::Case,
            };
            commands::decide(&load()?, &case_ref, verdict, &reason, target, reason_codes).await
        }
        Command::Send => commands::send(&load()?).await,
        Command::Reasons { provider } => {
            // An unknown name is refused before any config is read.
            let provider: kycdesk::domain::ProviderId = provider.parse()?;
            commands::reasons(&load()?, provider)
        }
        Command::Outbox { action: None, json, limit } => commands::outbox_list(&load()?, json, limit).await,
        Command::Outbox { action: Some(OutboxAction::Retry { decision }), .. } => {
            commands::outbox_retry(&load()?, &decision).await
        }
        Command::Outbox { action: Some(OutboxAction::Drop { decision, reason }), .. } => {
            commands::outbox_drop(&load()?, &decision, &reason).await
        }
        Command::Audit { action: AuditAction::Verify } => commands::audit_verify(&load()?).await,
        Command::Audit { action: AuditAction::Export { from, to, format } } => {
            commands::audit_export(&load()?, from.as_deref(), to.as_deref(), format).await
        }
    }
}
