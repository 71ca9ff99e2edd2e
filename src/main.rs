//! CLI parsing and dispatch only.

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr};
use kycdesk::cli::{AuditAction, Cli, Command, ConfigAction, OutboxAction, World};
use kycdesk::commands;
use kycdesk::config::{self, Config};
use kycdesk::emulator::{self, EmulatorOptions};
use std::process::ExitCode;

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
    let (read_only, mask) = (cli.read_only, cli.mask);
    let load = || -> Result<Config> {
        let mut config = Config::load(config_path.as_deref())?;
        // The flags add to the config; they never turn its settings off.
        config.read_only |= read_only;
        config.mask |= mask;
        commands::init_logging(&config.log)?;
        Ok(config)
    };
    match cli.command.unwrap_or(Command::Console) {
        Command::Completions { shell } => commands::completions(shell),
        Command::Man => commands::man(),
        Command::Config { action: ConfigAction::Init { path } } => {
            commands::config_init(path.as_deref().or(config_path.as_deref()))
        }
        Command::Doctor => Ok(kycdesk::doctor::run(config_path.as_deref()).await),
        Command::Emulator {
            world: World { listen, seed, cases, latency_ms },
            write_config,
            push_webhooks_to,
            webhooks_per_second,
            hold_webhooks,
        } => {
            let listener =
                tokio::net::TcpListener::bind(&listen).await.wrap_err_with(|| format!("cannot listen on {listen}"))?;
            let latency = std::time::Duration::from_millis(latency_ms);
            let options = EmulatorOptions {
                seed,
                cases,
                push_webhooks_to,
                latency,
                webhooks_per_second,
                hold_webhooks,
                ..EmulatorOptions::default()
            };
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
        Command::Demo { world: World { listen, seed, cases, latency_ms } } => {
            // The demo's cases were referred in the last hours, whatever the date.
            let latency = std::time::Duration::from_millis(latency_ms);
            let options =
                EmulatorOptions { seed, cases, at: chrono::Utc::now(), latency, ..EmulatorOptions::default() };
            commands::demo(&listen, options, commands::StartFlags { read_only, mask }).await?;
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
