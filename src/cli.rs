//! The command line, defined once: `main` parses it, `kycdesk completions` and `kycdesk
//! man` are generated from it, and a test checks that every part of it has help.

use crate::commands::ExportFormat;
use crate::domain::Verdict;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "kycdesk", version, about = "Review referred identity-verification cases from the terminal")]
pub struct Cli {
    /// Config file (default: the platform config dir, e.g. ~/.config/kycdesk/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Decisions off, as `read_only = true` in the config: for trainees and auditors.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Start the console masked: names, numbers, dates of birth and images hidden (`m`
    /// shows them), as `mask = true` in the config.
    #[arg(long, global = true)]
    pub mask: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
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
        /// Send at most this many webhooks a second (default: as fast as the inbox takes them).
        #[arg(long, value_name = "N", requires = "push_webhooks_to")]
        webhooks_per_second: Option<u32>,
        /// Send no webhook until `POST /_emulator/webhooks/release`.
        #[arg(long, requires = "push_webhooks_to")]
        hold_webhooks: bool,
    },
    /// Receive provider webhooks and queue the cases they name.
    Inbox {
        /// Address to listen on for `POST /webhooks/{provider}`.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8088")]
        listen: String,
    },
    /// Poll the providers and print the queue.
    List {
        /// One JSON array of cases on stdout, for scripts.
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
        /// One JSON array of decisions on stdout, for scripts.
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
    /// Set up kycdesk's config file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Check this host's setup: the config and its permissions, every credential, each
    /// provider answering, the store's directory, the audit key, images. One line per
    /// check; exit 1 if any FAILs.
    Doctor,
    /// Print a shell completion script (e.g. `kycdesk completions bash >
    /// ~/.local/share/bash-completion/completions/kycdesk`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout (e.g. `kycdesk man | man -l -`).
    Man,
}

/// Where an emulator listens and what it seeds.
#[derive(clap::Args)]
pub struct World {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Seed of the synthetic cases: the same seed, the same cases.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Referred cases per provider.
    #[arg(long, default_value_t = 24)]
    pub cases: usize,
    /// Network latency to act out on every provider request, in milliseconds (half
    /// before the emulator reads it, half before its answer), as over a real link.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
}

#[derive(Subcommand)]
pub enum AuditAction {
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
        /// How the records are printed.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

#[derive(Subcommand)]
pub enum OutboxAction {
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

#[derive(Subcommand)]
pub enum ConfigAction {
    /// Write the annotated example config, ready to edit: 0600 in a 0700 directory.
    /// An existing file is never overwritten.
    Init {
        /// Where to write it (default: `--config`, else the platform config dir).
        #[arg(long, value_name = "PATH")]
        path: Option<PathBuf>,
    },
}

/// `true-match` and `false-positive` on the command line are the domain's `true_match`
/// and `false_positive`: one list of verdicts, in `domain::Verdict`.
fn parse_verdict(s: &str) -> Result<Verdict, String> {
    Verdict::parse(&s.replace('-', "_"))
        .ok_or_else(|| "expected one of verify, reject, refer, resubmit, true-match, false-positive".to_string())
}

/// The clap definition, for generators.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand, and every argument of each, with the path that names it.
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none_or(|h| h.to_string().trim().is_empty()) {
                missing.push(name.clone());
            }
            walk(sub, &name, missing);
        }
    }

    #[test]
    fn every_subcommand_and_argument_has_help() {
        let cmd = command();
        cmd.clone().debug_assert();
        let mut missing = vec![];
        walk(&cmd, "kycdesk", &mut missing);
        assert!(missing.is_empty(), "no help text for: {}", missing.join(", "));
    }

    #[test]
    fn the_walk_sees_what_lacks_help() {
        let bare = clap::Command::new("x")
            .arg(clap::Arg::new("quiet").long("quiet"))
            .subcommand(clap::Command::new("sub").about("has about").arg(clap::Arg::new("n").long("n")));
        let mut missing = vec![];
        walk(&bare, "x", &mut missing);
        assert_eq!(missing, ["x quiet", "x sub n"]);
    }

    #[test]
    fn read_only_and_mask_come_before_a_subcommand() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from([
            "kycdesk",
            "--read-only",
            "--mask",
            "decide",
            "complycube:x",
            "--verdict",
            "verify",
            "--reason",
            "r",
        ])?;
        assert!(cli.read_only && cli.mask);
        assert!(matches!(cli.command, Some(Command::Decide { .. })));
        Ok(())
    }
}
