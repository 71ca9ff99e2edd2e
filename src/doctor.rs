//! `kycdesk doctor`: checks a host's setup the way the console and the commands will
//! use it, one line per check (`ok`, `warn` or `FAIL`, and what to fix). It creates and
//! writes nothing: no store, no log, no audit key.

use crate::config::{AuditKeySource, Config, ImageMode};
use crate::domain::{CaseRef, ProviderId};
use crate::private_fs::{self, PrivateFsError};
use crate::providers::{Provider, ProviderError};
use crate::tui::{self, ImagePlan};
use ratatui_image::picker::ProtocolType;
use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but not as well as it could, or less safely than it should.
    Warn,
    /// kycdesk will refuse to run, or will not reach a provider.
    Fail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    pub subject: String,
    pub detail: String,
}

impl Check {
    fn new(status: Status, subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { status, subject: subject.into(), detail: detail.into() }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "{status:<4}  {}: {}", self.subject, self.detail)
    }
}

/// Runs every check, prints one line each; exit 1 if any failed.
pub async fn run(config_path: Option<&Path>) -> ExitCode {
    use std::io::Write;
    let checks = checks(config_path).await;
    let mut out = String::new();
    for check in &checks {
        out.push_str(&format!("{check}\n"));
    }
    // A reader that stops early (`| head`) ends the report, not the verdict.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    if checks.iter().any(|c| c.status == Status::Fail) { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

pub async fn checks(config_path: Option<&Path>) -> Vec<Check> {
    let mut checks = vec![];
    let config = match load(config_path) {
        Ok(config) => config,
        Err(check) => {
            checks.push(check);
            checks.extend(images(ImageMode::default()));
            return checks;
        }
    };
    checks.push(config_file(&config));
    checks.extend(providers(&config).await);
    checks.extend(store_dir(&config.store));
    checks.push(audit_key(&config));
    checks.extend(images(config.image_protocol));
    checks
}

fn load(config_path: Option<&Path>) -> Result<Config, Check> {
    if config_path.is_none() && crate::config::default_config_path().is_none_or(|p| !p.exists()) {
        return Err(Check::new(Status::Fail, "config", crate::commands::no_config_hint()));
    }
    Config::load(config_path).map_err(|e| Check::new(Status::Fail, "config", e.to_string()))
}

/// Loading already refused a config others could change; what is left to say is
/// whether it may hold credentials inline.
fn config_file(config: &Config) -> Check {
    let shown = config.path.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
    let subject = format!("config {shown}");
    match config.path.as_deref().map(private_fs::check_private) {
        Some(Err(e @ PrivateFsError::Readable { .. })) => {
            Check::new(Status::Warn, subject, format!("safe to run, but credentials inline in it are refused: {e}"))
        }
        Some(Err(e)) => Check::new(Status::Fail, subject, e.to_string()),
        _ => Check::new(Status::Ok, subject, "yours or root's, writable by you only, private (0600)"),
    }
}

/// Each configured provider: its credentials resolve, then it answers a read that
/// needs them (within the config's call limits).
async fn providers(config: &Config) -> Vec<Check> {
    let mut built: Vec<Arc<dyn Provider>> = vec![];
    let mut checks = vec![];
    for id in ProviderId::ALL {
        match config.provider(id, false) {
            Ok(None) => {}
            Ok(Some(provider)) => {
                // Webhook secrets matter to `kycdesk inbox` only: a warning, not a failure.
                match config.provider(id, true) {
                    Ok(_) => checks.push(Check::new(Status::Ok, format!("{id} credentials"), "every credential resolves")),
                    Err(e) => checks.push(Check::new(
                        Status::Warn,
                        format!("{id} credentials"),
                        format!("the API credentials resolve; the webhook secret does not ({e}): `kycdesk inbox` would refuse to start"),
                    )),
                }
                built.push(provider);
            }
            Err(e) => checks.push(Check::new(Status::Fail, format!("{id} credentials"), e.to_string())),
        }
    }
    if checks.is_empty() {
        let fix = "no providers configured: add a [providers.NAME] section (`kycdesk config init` writes an example)";
        return vec![Check::new(Status::Fail, "providers", fix)];
    }
    let answers = futures::future::join_all(built.iter().map(|p| authenticated_read(p.as_ref()))).await;
    checks.extend(built.iter().zip(answers).map(|(p, answer)| {
        let subject = format!("{} answers", p.id());
        match answer {
            Ok(how) => Check::new(Status::Ok, subject, how),
            Err(e @ ProviderError::Auth { .. }) => {
                Check::new(Status::Fail, subject, format!("{e}; check the credentials and their environment"))
            }
            Err(e) => Check::new(Status::Fail, subject, e.to_string()),
        }
    }));
    checks
}

/// A case id of the provider's form that names no case: the nil UUID where ids are
/// UUIDs, 24 zeros for Sumsub's hex ids.
fn probe_ref(provider: ProviderId) -> CaseRef {
    const NIL: &str = "00000000-0000-0000-0000-000000000000";
    let key = match provider {
        ProviderId::ComplyCube | ProviderId::IdWise => NIL.to_string(),
        ProviderId::Sumsub => "0".repeat(24),
        ProviderId::Credas => [NIL; 2].join("/"),
        ProviderId::FrankieOne => [NIL; 4].join("/"),
    };
    CaseRef::new(provider, key)
}

/// The cheapest read every adapter has: a case that does not exist. The provider
/// checks the credentials before it looks the case up, so "no such case" (404) means
/// they were accepted, and 401/403 that they were not.
async fn authenticated_read(provider: &dyn Provider) -> Result<String, ProviderError> {
    match provider.case(&probe_ref(provider.id())).await {
        Ok(_) | Err(ProviderError::NotFound { .. }) => Ok("an authenticated read was answered".into()),
        Err(e) => Err(e),
    }
}

/// Filesystems SQLite's locking cannot be trusted on, by statfs(2) `f_type`.
const REMOTE_FILESYSTEMS: [(u32, &str); 8] = [
    (0x6969, "NFS"),
    (0x517B, "SMB"),
    (0xFE53_4D42, "SMB2"),
    (0xFF53_4D42, "CIFS"),
    (0x6573_5546, "FUSE"),
    (0x0102_1997, "9P"),
    (0x00C3_6400, "Ceph"),
    (0x5346_414F, "AFS"),
];

/// The remote or user-space filesystem `path` is on, if it is on one.
#[cfg(target_os = "linux")]
fn remote_filesystem(path: &Path) -> std::io::Result<Option<&'static str>> {
    let stat = rustix::fs::statfs(path)?;
    // f_type is a word of the platform's width; the magic numbers are 32-bit.
    let magic = stat.f_type as u32;
    Ok(REMOTE_FILESYSTEMS.iter().find(|(m, _)| *m == magic).map(|(_, name)| *name))
}

#[cfg(not(target_os = "linux"))]
fn remote_filesystem(_path: &Path) -> std::io::Result<Option<&'static str>> {
    Err(std::io::Error::other("statfs f_type is read on Linux only"))
}

/// The store's directory: there or creatable, private, on local disk; the store
/// itself, if there is one yet, private.
fn store_dir(store: &Path) -> Vec<Check> {
    use std::os::unix::fs::PermissionsExt;
    let dir = private_fs::parent_dir(store);
    let subject = format!("store directory {}", dir.display());
    let mut checks = vec![];
    let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/"));
    if existing == dir {
        let mode = std::fs::metadata(dir).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0);
        checks.push(match private_fs::check_not_writable_by_others(dir) {
            Err(e) => Check::new(Status::Fail, subject.clone(), e.to_string()),
            Ok(()) if mode & 0o077 != 0 => Check::new(
                Status::Warn,
                subject.clone(),
                format!("others can list it (mode {mode:04o}); run `chmod 700 {}`", dir.display()),
            ),
            Ok(()) => Check::new(Status::Ok, subject.clone(), "exists, private (0700)"),
        });
        if store.exists() {
            checks.push(match private_fs::check_private(store) {
                Err(e) => Check::new(Status::Fail, format!("store {}", store.display()), e.to_string()),
                Ok(()) => Check::new(Status::Ok, format!("store {}", store.display()), "private (0600)"),
            });
        }
    } else {
        let writable = rustix::fs::access(existing, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK);
        checks.push(match writable {
            Ok(()) => Check::new(Status::Ok, subject.clone(), "not there yet; kycdesk creates it 0700 on first use"),
            Err(e) => Check::new(
                Status::Fail,
                subject.clone(),
                format!("cannot be created: {} is not writable ({e}); set `store` in the config", existing.display()),
            ),
        });
    }
    checks.push(match remote_filesystem(existing) {
        Ok(None) => Check::new(Status::Ok, format!("{subject} filesystem"), "local disk"),
        Ok(Some(kind)) => Check::new(
            Status::Fail,
            format!("{subject} filesystem"),
            format!(
                "on {kind}, where SQLite's locking is unreliable and others may read it; put `store` on local disk"
            ),
        ),
        Err(e) => Check::new(Status::Warn, format!("{subject} filesystem"), format!("cannot tell: {e}")),
    });
    checks
}

fn audit_key(config: &Config) -> Check {
    match (config.existing_audit_key(), &config.audit_key) {
        (Err(e), _) => Check::new(Status::Fail, "audit key", e.to_string()),
        (Ok(Some(_)), AuditKeySource::Configured(_)) => {
            Check::new(Status::Ok, "audit key", "the configured key resolves (at least 32 bytes)")
        }
        (Ok(Some(_)), AuditKeySource::Generated(path)) => {
            Check::new(Status::Ok, "audit key", format!("{} resolves, private", path.display()))
        }
        (Ok(None), AuditKeySource::Generated(path)) => {
            let dir = private_fs::parent_dir(path);
            match dir.exists().then(|| private_fs::check_not_writable_by_others(dir)) {
                Some(Err(e)) => Check::new(Status::Fail, "audit key", e.to_string()),
                _ => Check::new(
                    Status::Ok,
                    "audit key",
                    format!("none yet; created private at {} on first use", path.display()),
                ),
            }
        }
        (Ok(None), AuditKeySource::Configured(_)) => {
            Check::new(Status::Fail, "audit key", "the configured key is empty")
        }
    }
}

fn protocol_name(protocol: ProtocolType) -> &'static str {
    match protocol {
        ProtocolType::Halfblocks => "half blocks",
        ProtocolType::Sixel => "sixel",
        ProtocolType::Kitty => "kitty",
        ProtocolType::Iterm2 => "iTerm2",
    }
}

/// What the console would draw images with here, and tmux's part in it. The terminal
/// is asked only when stdout is one.
fn images(mode: ImageMode) -> Vec<Check> {
    use std::io::IsTerminal;
    let tmux = tui::tmux_passthrough();
    let plan = tui::image_plan(mode, tmux);
    let detail = match plan {
        ImagePlan::Off => "off (image_protocol = \"off\")".to_string(),
        ImagePlan::Halfblocks => "half blocks".to_string(),
        ImagePlan::Force(protocol) => format!("{} (forced by image_protocol)", protocol_name(protocol)),
        ImagePlan::Query { .. } if std::io::stdout().is_terminal() => match tui::picker(plan) {
            Some(picker) => format!("{} (the terminal answered)", protocol_name(picker.protocol_type())),
            None => "off".to_string(),
        },
        ImagePlan::Query { kitty_or_sixel_only } => format!(
            "asks the terminal at start ({}; half blocks if it names none); not asked now, stdout is not a terminal",
            if kitty_or_sixel_only { "kitty or sixel" } else { "kitty, sixel or iTerm2" }
        ),
    };
    let tmux = match tmux {
        None => Check::new(Status::Ok, "tmux", "not inside tmux"),
        Some(true) => {
            Check::new(Status::Ok, "tmux", "allow-passthrough is on: kitty and sixel images reach the terminal")
        }
        Some(false) => Check::new(
            Status::Warn,
            "tmux",
            "allow-passthrough is off, so images are half blocks; `tmux set -g allow-passthrough on` lets kitty or \
             sixel through",
        ),
    };
    vec![Check::new(Status::Ok, "images", detail), tmux]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_its_status_first() {
        let line = Check::new(Status::Fail, "store", "on NFS").to_string();
        assert_eq!(line, "FAIL  store: on NFS");
        assert!(Check::new(Status::Ok, "x", "y").to_string().starts_with("ok    x"));
    }

    #[test]
    fn the_probe_id_has_each_provider_s_form() {
        for id in ProviderId::ALL {
            assert!(probe_ref(id).is_valid(), "{id}");
        }
    }

    #[test]
    fn a_store_directory_others_can_write_fails_and_one_to_come_is_fine() -> Result<(), Box<dyn std::error::Error>> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("data");
        let planned = store_dir(&dir.join("kycdesk.sqlite3"));
        assert!(planned.iter().all(|c| c.status != Status::Fail), "{planned:?}");
        std::fs::create_dir(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        let open = store_dir(&dir.join("kycdesk.sqlite3"));
        assert!(open.iter().any(|c| c.status == Status::Fail && c.detail.contains("chmod go-w")), "{open:?}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        std::fs::write(dir.join("kycdesk.sqlite3"), "")?;
        std::fs::set_permissions(dir.join("kycdesk.sqlite3"), std::fs::Permissions::from_mode(0o644))?;
        let readable = store_dir(&dir.join("kycdesk.sqlite3"));
        assert!(readable.iter().any(|c| c.status == Status::Fail && c.detail.contains("chmod 600")), "{readable:?}");
        Ok(())
    }
}
