//! The config file, environment overrides and secret resolution.
//!
//! Credentials come from an environment variable, a command (`cmd`), or a file
//! that is not group- or world-readable; never from argv. An inline `api_key` is allowed
//! only in a config file that is itself private (as OpenSSH treats its keys).

use crate::app::Template;
use crate::app::keymap::{KeyTable, Override};
use crate::domain::{ProviderId, Verdict};
use crate::providers::complycube::{ComplyCube, ComplyCubeSettings, KeyMode, assumptions as cc};
use crate::providers::credas::{Credas, CredasSettings, assumptions as credas};
use crate::providers::frankieone::{FrankieOne, FrankieOneSettings, assumptions as frankieone};
use crate::providers::idwise::{IdWise, IdWiseSettings, Region};
use crate::providers::sumsub::{Sumsub, SumsubSettings};
use crate::providers::{Provider, ProviderError, Providers, SharedHeader};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(
        "{path} holds a credential inline but group or others can read it; run `chmod 600 {path}`, or take the \
         credential from env, cmd or file"
    )]
    InlineSecret { path: PathBuf },
    /// An environment variable kycdesk reads holds a value it does not know.
    #[error("{name}={value} is not one of {expected}")]
    Env { name: &'static str, value: String, expected: &'static str },
    #[error("{provider}: {detail}")]
    Secret { provider: ProviderId, detail: String },
    #[error("cannot write config {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} already exists; kycdesk leaves it as it is (edit it, or name another with --path)")]
    Exists { path: PathBuf },
    #[error("no home directory found; name the store and log paths, and the [audit] key, in the config")]
    NoHome,
    #[error("config {path}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Invalid { path: PathBuf, line: Option<usize>, message: String },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("audit key: {0}")]
    AuditKey(String),
    /// A config others can write could make kycdesk run their `cmd`.
    #[error("refusing the config: {0}")]
    Unsafe(#[source] crate::private_fs::PrivateFsError),
    #[error(transparent)]
    Files(#[from] crate::private_fs::PrivateFsError),
}

/// How images are drawn in the terminal (`image_protocol`, `KYCDESK_IMAGES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ImageMode {
    /// Ask the terminal which graphics protocol it speaks; halfblocks if none, and
    /// inside tmux kitty or sixel only when tmux passes graphics through.
    #[default]
    Auto,
    /// These three force their protocol, for a terminal that speaks it but does not say so.
    Kitty,
    Sixel,
    Iterm2,
    /// Unicode half blocks: works everywhere, including plain SSH and old tmux.
    Halfblocks,
    /// No images at all.
    Off,
}

impl ImageMode {
    pub const NAMES: &'static str = "auto, kitty, sixel, iterm2, halfblocks or off";

    /// The names of the config file, for `KYCDESK_IMAGES`.
    pub fn parse(name: &str) -> Option<ImageMode> {
        match name {
            "auto" => Some(ImageMode::Auto),
            "kitty" => Some(ImageMode::Kitty),
            "sixel" => Some(ImageMode::Sixel),
            "iterm2" => Some(ImageMode::Iterm2),
            "halfblocks" => Some(ImageMode::Halfblocks),
            "off" => Some(ImageMode::Off),
            _ => None,
        }
    }
}

/// The file as written by people.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyst: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_secs: Option<u64>,
    /// `images` is this option's older name.
    #[serde(default, alias = "images", skip_serializing_if = "Option::is_none")]
    pub image_protocol: Option<ImageMode>,
    /// `default` or `high-contrast`; `NO_COLOR` in the environment turns colour off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// Click to select and wheel to scroll; off by default, so the terminal's own
    /// selection (copying a case id) keeps working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mouse: Option<bool>,
    /// For a slow link: half-block images in the terminal's 256 colours, not 24-bit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_bandwidth: Option<bool>,
    /// Under `NO_COLOR`, draw images in greys instead of a labelled placeholder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grey_images: Option<bool>,
    /// Start the console masked (`--mask` too); `m` toggles it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<bool>,
    /// Read each new case's details once in the background (behind the analyst's own
    /// calls) so related cases show from the first case opened; false: only cases opened
    /// in kycdesk are compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find_related: Option<bool>,
    /// Cases ahead of the selection whose details and images are fetched before they
    /// are opened; 0: only the open case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_cache_mb: Option<u64>,
    /// Seconds a saved decision waits before it is sent; `u` takes it back meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_secs: Option<u64>,
    /// Seconds a sender holds a decision it is delivering without renewing its hold;
    /// also how long a call whose answer was never seen is left before the case is read
    /// back. Longer than any one provider call may take (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_secs: Option<u64>,
    /// How long one provider call may take in all, waits a 429 asks for included,
    /// before it gives up; a decision then stays saved for later (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_call_secs: Option<u64>,
    /// How long one HTTP attempt may take, connect to last byte (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_secs: Option<u64>,
    /// Decisions off everywhere (trainees, auditors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateFile>,
    /// `[keys.CONTEXT] ACTION = "KEY"` or a list of keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, BTreeMap<String, toml::Spanned<KeysFile>>>,
    #[serde(default)]
    pub providers: ProvidersFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditFile>,
}

/// `[audit]`: the key of the audit log's HMAC chain and anchor.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFile {
    /// The same forms as a provider credential (`{ env }`, `{ cmd }`, `{ file }`, or
    /// `{ value }` in a private config), at least 32 bytes. Default: `audit.key` in
    /// kycdesk's config directory, random, created private on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretFile>,
}

/// Where the audit key comes from. It lives with the credentials, never in the store:
/// whoever can write the store cannot re-hash the log without it.
#[derive(Debug, Clone)]
pub enum AuditKeySource {
    Configured(SecretFile),
    /// kycdesk's own key file: 32 random bytes (hex), created 0600 on first use.
    Generated(PathBuf),
}

/// Shorter configured keys are refused: the chain is only as strong as its key.
const MIN_AUDIT_KEY_BYTES: usize = 32;

/// A reason template: `key` inserts `text` in the reason editor and ticks `codes`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    pub key: String,
    /// A verdict (verify, reject, refer, resubmit, true_match, false_positive) or "any".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    pub text: String,
    /// Provider reason codes to tick with it (ComplyCube rejectionReasons, Sumsub groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum KeysFile {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complycube: Option<ComplyCubeFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idwise: Option<IdWiseFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credas: Option<CredasFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sumsub: Option<SumsubFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frankieone: Option<FrankieOneFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FrankieOneEnvironment {
    #[default]
    Uat,
    Production,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrankieOneFile {
    /// `uat` (api.uat.frankie.one, default) or `production`; base_url overrides the host.
    #[serde(default)]
    pub environment: FrankieOneEnvironment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub api_key: SecretFile,
    /// `X-Frankie-CustomerID` (a UUID; an identifier, not a secret).
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_child_id: Option<String>,
    /// FrankieOne's optional webhook JWT does not bind the body; a static header can be
    /// agreed instead, and the inbox then requires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_header: Option<SharedHeaderFile>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SumsubFile {
    #[serde(default = "sumsub_default_url")]
    pub base_url: String,
    /// The app token (`sbx:…` sandbox, `prd:…` production) and its secret key.
    pub app_token: SecretFile,
    pub secret_key: SecretFile,
    /// The webhook's own secret key (not the app token's), for `kycdesk inbox`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretFile>,
    /// First wait after a 429, or a 409 without Retry-After (Sumsub advises 10–15 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_initial_ms: Option<u64>,
}

fn sumsub_default_url() -> String {
    crate::providers::sumsub::assumptions::BASE_URL.into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CredasEnvironment {
    #[default]
    Prod,
    Demo,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredasFile {
    /// `prod` (default) or `demo`: picks the documented host. Keys differ per environment.
    #[serde(default)]
    pub environment: CredasEnvironment,
    /// Overrides the environment's host (the emulator, a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub api_key: SecretFile,
    /// Credas documents no webhook signature: the inbox requires this static header,
    /// agreed with Credas, on every Credas webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_header: Option<SharedHeaderFile>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdWiseFile {
    /// `eu` (default), `uae` or `qatar`: picks the documented host.
    #[serde(default)]
    pub region: Region,
    /// Overrides the region's host (the emulator, a proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    pub api_key: SecretFile,
    pub api_secret: SecretFile,
    /// IDWise documents no webhook signature; a static header can be agreed with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_header: Option<SharedHeaderFile>,
}

/// A static header the provider is configured to send with its webhooks.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SharedHeaderFile {
    pub name: String,
    pub value: SecretFile,
}

/// Where a credential comes from; exactly one of the fields is set:
/// `{ env = "VAR" }`, `{ cmd = "pass show x" }`, `{ file = "/path" }` or, in a private
/// config only, `{ value = "..." }`.
#[derive(Debug, Default, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SecretFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl SecretFile {
    pub fn inline(value: &str) -> Self {
        Self { value: Some(value.to_string()), ..Self::default() }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComplyCubeFile {
    #[serde(default = "complycube_default_url")]
    pub base_url: String,
    #[serde(default)]
    pub mode: KeyMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_initial_ms: Option<u64>,
    pub api_key: SecretFile,
    /// Shared secret of ComplyCube's webhook signatures (for `kycdesk inbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretFile>,
}

fn complycube_default_url() -> String {
    "https://api.complycube.com/v1".into()
}

/// The resolved configuration.
#[derive(Debug)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub analyst: String,
    pub store: PathBuf,
    pub log: PathBuf,
    pub poll_interval: Duration,
    pub image_protocol: ImageMode,
    pub theme: crate::ui::theme::Theme,
    pub mouse: bool,
    pub low_bandwidth: bool,
    pub grey_images: bool,
    /// The console starts masked (`mask`, `--mask`).
    pub mask: bool,
    /// Intake reads new cases' identities for related cases (`find_related`).
    pub find_related: bool,
    /// Cases fetched ahead of the selection (`prefetch`).
    pub prefetch: usize,
    pub image_cache_bytes: usize,
    pub undo_secs: u64,
    /// A sender's hold on a decision it is delivering (`lease_secs`).
    pub lease: Duration,
    /// Provider call bounds (`max_call_secs`, `request_timeout_secs`).
    pub limits: crate::providers::http::CallLimits,
    pub read_only: bool,
    pub templates: Vec<Template>,
    pub keys: KeyTable,
    pub audit_key: AuditKeySource,
    file: ConfigFile,
    file_is_private: bool,
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "kycdesk")
}

pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// As OpenSSH's StrictModes: the config and its directory must not be writable by
/// group or others nor owned by another user than this one or root, since the config
/// names commands kycdesk runs. Both the named path's directory and, for a symlink, the
/// real file's are checked.
fn check_config_safe(path: &Path) -> Result<(), ConfigError> {
    use crate::private_fs::{check_not_writable_by_others, parent_dir};
    let real = std::fs::canonicalize(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    let mut checked = vec![real.clone(), parent_dir(&real).to_path_buf()];
    let named_dir = parent_dir(path).to_path_buf();
    if std::fs::canonicalize(&named_dir).ok().as_deref() != Some(parent_dir(&real)) {
        checked.push(named_dir);
    }
    checked.iter().try_for_each(|p| check_not_writable_by_others(p)).map_err(ConfigError::Unsafe)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Reads `path`, or the default config if there is one; no file means no providers.
    /// `KYCDESK_STORE`, `KYCDESK_LOG` and `KYCDESK_ANALYST` override the file.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (file, path, file_is_private) = match path.map(Path::to_path_buf).or_else(default_config_path) {
            Some(p) if path.is_some() || p.exists() => {
                check_config_safe(&p)?;
                let text =
                    std::fs::read_to_string(&p).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
                let file: ConfigFile = toml::from_str(&text)
                    .map_err(|e| ConfigError::Parse { path: p.clone(), message: e.to_string() })?;
                let private = crate::private_fs::check_private(&p).is_ok();
                return Self::build(file, Some(p), private, Some(&text));
            }
            _ => (ConfigFile::default(), None, false),
        };
        Self::from_file(file, path, file_is_private)
    }

    pub fn from_file(file: ConfigFile, path: Option<PathBuf>, file_is_private: bool) -> Result<Config, ConfigError> {
        Self::build(file, path, file_is_private, None)
    }

    /// `source` is the file's text, to name the line of a bad key binding.
    fn build(
        file: ConfigFile,
        path: Option<PathBuf>,
        file_is_private: bool,
        source: Option<&str>,
    ) -> Result<Config, ConfigError> {
        let invalid = |line: Option<usize>, message: String| ConfigError::Invalid {
            path: path.clone().unwrap_or_default(),
            line,
            message,
        };
        let line_of = |span: std::ops::Range<usize>| {
            source.map(|text| text.get(..span.start).unwrap_or(text).matches('\n').count() + 1)
        };
        let mut overrides = vec![];
        let mut spans = vec![];
        for (context, actions) in &file.keys {
            for (action, keys) in actions {
                let list = match keys.get_ref() {
                    KeysFile::One(k) => vec![k.clone()],
                    KeysFile::Many(ks) => ks.clone(),
                };
                overrides.push(Override { context: context.clone(), action: action.clone(), keys: list });
                spans.push(keys.span());
            }
        }
        let keys = KeyTable::with_overrides(&overrides).map_err(|(i, e)| {
            let line = spans.get(i).cloned().and_then(line_of);
            let o = &overrides[i];
            invalid(
                line,
                format!("[keys.{}] {}: {e}", crate::domain::sanitize(&o.context), crate::domain::sanitize(&o.action)),
            )
        })?;
        let templates = templates(&file.templates, &keys).map_err(|m| invalid(None, m))?;
        let dirs = project_dirs();
        let data_dir = dirs.as_ref().map(|d| d.data_local_dir().to_path_buf());
        let state_dir = dirs.as_ref().map(|d| d.state_dir().unwrap_or(d.data_local_dir()).to_path_buf());
        let store = env_nonempty("KYCDESK_STORE")
            .map(PathBuf::from)
            .or_else(|| file.store.clone())
            .or_else(|| data_dir.map(|d| d.join("kycdesk.sqlite3")))
            .ok_or(ConfigError::NoHome)?;
        let log = env_nonempty("KYCDESK_LOG")
            .map(PathBuf::from)
            .or_else(|| file.log.clone())
            .or_else(|| state_dir.map(|d| d.join("kycdesk.log")))
            .ok_or(ConfigError::NoHome)?;
        let audit_key = match file.audit.as_ref().and_then(|a| a.key.clone()) {
            Some(secret) => AuditKeySource::Configured(secret),
            None => AuditKeySource::Generated(
                dirs.as_ref().map(|d| d.config_dir().join("audit.key")).ok_or(ConfigError::NoHome)?,
            ),
        };
        let analyst = env_nonempty("KYCDESK_ANALYST")
            .or_else(|| file.analyst.clone())
            .or_else(|| env_nonempty("USER"))
            .unwrap_or_else(|| "analyst".into());
        let image_protocol = match env_nonempty("KYCDESK_IMAGES") {
            Some(value) => ImageMode::parse(&value).ok_or_else(|| ConfigError::Env {
                name: "KYCDESK_IMAGES",
                value: crate::domain::sanitize(&value),
                expected: ImageMode::NAMES,
            })?,
            None => file.image_protocol.unwrap_or_default(),
        };
        let theme = match file.theme.as_deref() {
            None => crate::ui::theme::Theme::default(),
            Some(name) => crate::ui::theme::Theme::parse(name).ok_or_else(|| {
                invalid(None, format!("theme '{}' is not one of default, high-contrast", crate::domain::sanitize(name)))
            })?,
        };
        // https://no-color.org: set and not empty, whatever the config says.
        let theme = if env_nonempty("NO_COLOR").is_some() { crate::ui::theme::Theme::NoColor } else { theme };
        Ok(Config {
            path,
            analyst,
            store,
            log,
            poll_interval: Duration::from_secs(file.poll_interval_secs.unwrap_or(30).max(5)),
            image_protocol,
            theme,
            mouse: file.mouse.unwrap_or(false),
            low_bandwidth: file.low_bandwidth.unwrap_or(false),
            grey_images: file.grey_images.unwrap_or(false),
            mask: file.mask.unwrap_or(false),
            find_related: file.find_related.unwrap_or(true),
            prefetch: file.prefetch.unwrap_or(crate::app::DEFAULT_PREFETCH).min(crate::app::MAX_PREFETCH),
            image_cache_bytes: file.image_cache_mb.unwrap_or(96).clamp(8, 4096) as usize * 1024 * 1024,
            undo_secs: file.undo_secs.unwrap_or(DEFAULT_UNDO_SECS).min(MAX_UNDO_SECS),
            lease: file.lease_secs.map(|s| Duration::from_secs(s.max(1))).unwrap_or(crate::sender::DEFAULT_LEASE),
            limits: call_limits(file.max_call_secs, file.request_timeout_secs),
            read_only: file.read_only.unwrap_or(false) || env_nonempty("KYCDESK_READ_ONLY").is_some_and(|v| v != "0"),
            templates,
            keys,
            audit_key,
            file,
            file_is_private,
        })
    }

    /// The audit key, for a command that writes the store: kycdesk's own key file is
    /// created if there is none yet.
    pub fn audit_key(&self) -> Result<SecretString, ConfigError> {
        if let AuditKeySource::Generated(path) = &self.audit_key
            && !path.exists()
        {
            create_key_file(path)?;
        }
        self.existing_audit_key()?.ok_or_else(|| ConfigError::AuditKey("the key file vanished".into()))
    }

    /// The audit key if there is one (`audit verify`, `audit export` create nothing).
    pub fn existing_audit_key(&self) -> Result<Option<SecretString>, ConfigError> {
        let fail = |detail: String| ConfigError::AuditKey(detail);
        let key = match &self.audit_key {
            AuditKeySource::Configured(secret) => self.read_secret(secret, &fail)?,
            AuditKeySource::Generated(path) if !path.exists() => return Ok(None),
            AuditKeySource::Generated(path) => {
                self.read_secret(&SecretFile { file: Some(path.clone()), ..SecretFile::default() }, &fail)?
            }
        };
        if key.expose_secret().len() < MIN_AUDIT_KEY_BYTES {
            return Err(fail(format!("it must be at least {MIN_AUDIT_KEY_BYTES} bytes long")));
        }
        Ok(Some(key))
    }

    pub fn resolve_secret(&self, provider: ProviderId, secret: &SecretFile) -> Result<SecretString, ConfigError> {
        self.read_secret(secret, &|detail| ConfigError::Secret { provider, detail })
    }

    /// One secret from its one source; `fail` says whose it is.
    fn read_secret(
        &self,
        secret: &SecretFile,
        fail: &dyn Fn(String) -> ConfigError,
    ) -> Result<SecretString, ConfigError> {
        let sources = [secret.env.is_some(), secret.cmd.is_some(), secret.file.is_some(), secret.value.is_some()];
        match sources.iter().filter(|s| **s).count() {
            0 => {
                return Err(fail("no credential: set one of env, cmd, file (or value, in a private config)".into()));
            }
            1 => {}
            _ => {
                return Err(fail("more than one credential source; keep exactly one".into()));
            }
        }
        let value = if let Some(var) = &secret.env {
            std::env::var(var).map_err(|_| fail(format!("environment variable {var} is not set")))?
        } else if let Some(cmd) = &secret.cmd {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| fail(format!("cmd could not run: {e}")))?;
            if !out.status.success() {
                return Err(fail(format!("cmd failed ({})", out.status)));
            }
            String::from_utf8(out.stdout).map_err(|_| fail("cmd printed something that is not text".into()))?
        } else if let Some(file) = &secret.file {
            crate::private_fs::check_private(file).map_err(|e| fail(format!("credential file {e}")))?;
            std::fs::read_to_string(file).map_err(|e| fail(format!("credential file {}: {e}", file.display())))?
        } else {
            if !self.file_is_private {
                return Err(ConfigError::InlineSecret { path: self.path.clone().unwrap_or_default() });
            }
            secret.value.clone().unwrap_or_default()
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(fail("the credential is empty".into()));
        }
        Ok(SecretString::from(value))
    }

    /// Builds every configured provider, resolving its API credentials. Webhook
    /// secrets are left alone: only the inbox needs them
    /// ([`Config::providers_with_webhooks`]), and a console should not fail to start
    /// for a secret it never uses.
    pub fn providers(&self) -> Result<Providers, ConfigError> {
        self.all_providers(false)
    }

    /// As [`Config::providers`], with the webhook secrets resolved too (the inbox).
    pub fn providers_with_webhooks(&self) -> Result<Providers, ConfigError> {
        self.all_providers(true)
    }

    fn all_providers(&self, webhooks: bool) -> Result<Providers, ConfigError> {
        let mut providers = Providers::default();
        for id in ProviderId::ALL {
            if let Some(provider) = self.provider(id, webhooks)? {
                providers.insert(provider);
            }
        }
        Ok(providers)
    }

    fn webhook_secret(
        &self,
        id: ProviderId,
        secret: Option<&SecretFile>,
        webhooks: bool,
    ) -> Result<Option<SecretString>, ConfigError> {
        secret.filter(|_| webhooks).map(|s| self.resolve_secret(id, s)).transpose()
    }

    fn webhook_header(
        &self,
        id: ProviderId,
        header: Option<&SharedHeaderFile>,
        webhooks: bool,
    ) -> Result<Option<SharedHeader>, ConfigError> {
        header.filter(|_| webhooks).map(|h| self.shared_header(id, h)).transpose()
    }

    /// One provider, if the config names it, with its credentials resolved, webhook
    /// secrets with them when `webhooks` (`kycdesk doctor` checks them one provider at
    /// a time).
    pub fn provider(&self, id: ProviderId, webhooks: bool) -> Result<Option<Arc<dyn Provider>>, ConfigError> {
        let configured = &self.file.providers;
        let provider: Arc<dyn Provider> = match id {
            ProviderId::ComplyCube => {
                let Some(c) = &configured.complycube else { return Ok(None) };
                let api_key = self.resolve_secret(id, &c.api_key)?;
                let backoff = Duration::from_millis(c.backoff_initial_ms.unwrap_or(cc::BACKOFF_INITIAL_SECS * 1000));
                let webhook_secret = self.webhook_secret(id, c.webhook_secret.as_ref(), webhooks)?;
                Arc::new(ComplyCube::new(ComplyCubeSettings {
                    limits: self.limits,
                    base_url: c.base_url.clone(),
                    api_key,
                    mode: c.mode,
                    backoff_initial: backoff,
                    webhook_secret,
                })?)
            }
            ProviderId::IdWise => {
                let Some(c) = &configured.idwise else { return Ok(None) };
                Arc::new(IdWise::new(IdWiseSettings {
                    limits: self.limits,
                    base_url: c.base_url.clone().unwrap_or_else(|| c.region.host().to_string()),
                    api_key: self.resolve_secret(id, &c.api_key)?,
                    api_secret: self.resolve_secret(id, &c.api_secret)?,
                    webhook_header: self.webhook_header(id, c.webhook_header.as_ref(), webhooks)?,
                })?)
            }
            ProviderId::Credas => {
                let Some(c) = &configured.credas else { return Ok(None) };
                let host = match c.environment {
                    CredasEnvironment::Prod => credas::HOST_PROD,
                    CredasEnvironment::Demo => credas::HOST_DEMO,
                };
                Arc::new(Credas::new(CredasSettings {
                    limits: self.limits,
                    base_url: c.base_url.clone().unwrap_or_else(|| host.to_string()),
                    api_key: self.resolve_secret(id, &c.api_key)?,
                    webhook_header: self.webhook_header(id, c.webhook_header.as_ref(), webhooks)?,
                })?)
            }
            ProviderId::Sumsub => {
                let Some(c) = &configured.sumsub else { return Ok(None) };
                let wait = crate::providers::sumsub::assumptions::NOT_NOW_DEFAULT_WAIT_SECS * 1000;
                Arc::new(Sumsub::new(SumsubSettings {
                    limits: self.limits,
                    base_url: c.base_url.clone(),
                    app_token: self.resolve_secret(id, &c.app_token)?,
                    secret_key: self.resolve_secret(id, &c.secret_key)?,
                    webhook_secret: self.webhook_secret(id, c.webhook_secret.as_ref(), webhooks)?,
                    backoff_initial: Duration::from_millis(c.backoff_initial_ms.unwrap_or(wait)),
                })?)
            }
            ProviderId::FrankieOne => {
                let Some(c) = &configured.frankieone else { return Ok(None) };
                let host = match c.environment {
                    FrankieOneEnvironment::Uat => frankieone::HOST_UAT,
                    FrankieOneEnvironment::Production => frankieone::HOST_PRODUCTION,
                };
                Arc::new(FrankieOne::new(FrankieOneSettings {
                    limits: self.limits,
                    base_url: c.base_url.clone().unwrap_or_else(|| host.to_string()),
                    api_key: self.resolve_secret(id, &c.api_key)?,
                    customer_id: c.customer_id.clone(),
                    customer_child_id: c.customer_child_id.clone(),
                    analyst: self.analyst.clone(),
                    webhook_header: self.webhook_header(id, c.webhook_header.as_ref(), webhooks)?,
                })?)
            }
        };
        Ok(Some(provider))
    }

    fn shared_header(&self, provider: ProviderId, h: &SharedHeaderFile) -> Result<SharedHeader, ConfigError> {
        let name = reqwest::header::HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| ConfigError::Secret {
            provider,
            detail: format!("'{}' is not a valid header name", h.name),
        })?;
        Ok(SharedHeader { name, value: self.resolve_secret(provider, &h.value)? })
    }
}

/// An attempt never outlasts the call it is part of.
fn call_limits(max_call_secs: Option<u64>, request_timeout_secs: Option<u64>) -> crate::providers::http::CallLimits {
    let default = crate::providers::http::CallLimits::default();
    let max_call_time = max_call_secs.map(|s| Duration::from_secs(s.max(1))).unwrap_or(default.max_call_time);
    let request_timeout = request_timeout_secs
        .map(|s| Duration::from_secs(s.max(1)))
        .unwrap_or(default.request_timeout)
        .min(max_call_time);
    crate::providers::http::CallLimits { max_call_time, request_timeout }
}

const DEFAULT_UNDO_SECS: u64 = 5;
/// A longer grace period would hold decisions back for no reason an analyst needs.
const MAX_UNDO_SECS: u64 = 600;

/// Checks the templates: one key each (not '.', the last reason's), a known verdict.
fn templates(files: &[TemplateFile], keys: &KeyTable) -> Result<Vec<Template>, String> {
    let mut out: Vec<Template> = vec![];
    for (i, t) in files.iter().enumerate() {
        let at = format!("templates[{}]", i + 1);
        let mut chars = t.key.chars();
        let key = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_whitespace() && !c.is_control() && c != '.' => c,
            _ => {
                return Err(format!(
                    "{at}: key must be one character other than '.' (got '{}')",
                    crate::domain::sanitize(&t.key)
                ));
            }
        };
        let verdict = match t.verdict.as_deref() {
            None | Some("any") => None,
            Some(v) => Some(Verdict::parse(&v.replace('-', "_")).ok_or_else(|| {
                format!(
                    "{at}: unknown verdict '{}' (verify, reject, refer, resubmit, true_match, false_positive or any)",
                    crate::domain::sanitize(v)
                )
            })?),
        };
        if t.text.trim().is_empty() {
            return Err(format!("{at}: text is empty"));
        }
        let press =
            crossterm::event::KeyEvent::new(crossterm::event::KeyCode::Char(key), crossterm::event::KeyModifiers::NONE);
        if let Some(taken) = keys.lookup(crate::app::keymap::Context::Templates, &press) {
            return Err(format!(
                "{at}: key '{key}' already means '{}' in the template list; pick another",
                taken.name()
            ));
        }
        if out.iter().any(|o| o.key == key && (o.verdict.is_none() || verdict.is_none() || o.verdict == verdict)) {
            return Err(format!("{at}: key '{key}' is already used by another template for that verdict"));
        }
        out.push(Template { key, verdict, text: t.text.trim().to_string(), codes: t.codes.clone() });
    }
    Ok(out)
}

/// The templates the demo ships with: the three reasons analysts type most.
fn demo_templates() -> Vec<TemplateFile> {
    let t = |key: &str, verdict: &str, text: &str, codes: &[&str]| TemplateFile {
        key: key.into(),
        verdict: Some(verdict.into()),
        text: text.into(),
        codes: codes.iter().map(|c| c.to_string()).collect(),
    };
    vec![
        t("g", "verify", "Liveness flag was glare or framing; the selfie matches the document photo on review.", &[]),
        t(
            "e",
            "reject",
            "The document had expired when it was checked; the customer must provide a valid one.",
            &["document_has_expired"],
        ),
        t("n", "false_positive", "Namesake: the date of birth and nationality differ from the listed person.", &[]),
    ]
}

/// Writes `contents` to a new private file at `path` (its missing directories 0700):
/// written whole and linked into place without replacing anything, so an existing
/// file is never overwritten (`AlreadyExists`) and no reader sees half a file.
fn create_private_file(path: &Path, contents: &[u8]) -> Result<(), std::io::Error> {
    use std::io::Write;
    let dir = crate::private_fs::parent_dir(path);
    crate::private_fs::create_dir(dir).map_err(std::io::Error::other)?;
    let mut tmp = crate::private_fs::temp_file_in(dir, ".kycdesk-new")?;
    tmp.write_all(contents).and_then(|()| tmp.as_file().sync_all())?;
    tmp.persist_noclobber(path).map(drop).map_err(|e| e.error)
}

/// A new random audit key, private; two processes starting at once end up with one key.
fn create_key_file(path: &Path) -> Result<(), ConfigError> {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    match create_private_file(path, format!("{}\n", hex::encode(bytes)).as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(ConfigError::AuditKey(format!("cannot create {}: {e}", path.display())))
        }
        _ => Ok(()),
    }
}

/// The annotated example config that `kycdesk config init` writes.
pub const EXAMPLE: &str = include_str!("../config.example.toml");

/// `kycdesk config init`: the example, 0600 in a 0700 directory; an existing file is
/// left alone and refused.
pub fn write_example(path: &Path) -> Result<(), ConfigError> {
    create_private_file(path, EXAMPLE.as_bytes()).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => ConfigError::Exists { path: path.to_path_buf() },
        _ => ConfigError::Write { path: path.to_path_buf(), source },
    })
}

/// A config that points every provider at an emulator, with its test credentials.
/// Written private (0600) because it holds them inline.
pub fn emulator_config(base_url: &str, live: bool) -> ConfigFile {
    use crate::emulator::complycube::{LIVE_KEY, TEST_KEY};
    ConfigFile {
        providers: ProvidersFile {
            complycube: Some(ComplyCubeFile {
                base_url: format!("{base_url}/complycube/v1"),
                mode: if live { KeyMode::Live } else { KeyMode::Test },
                // The emulator answers a 429 for a moment only; waiting 30 s helps no one.
                backoff_initial_ms: Some(250),
                api_key: SecretFile::inline(if live { LIVE_KEY } else { TEST_KEY }),
                webhook_secret: Some(SecretFile::inline(crate::emulator::complycube::WEBHOOK_SECRET)),
            }),
            idwise: Some(IdWiseFile {
                region: Region::Eu,
                base_url: Some(format!("{base_url}/idwise/")),
                api_key: SecretFile::inline(crate::emulator::idwise::API_KEY),
                api_secret: SecretFile::inline(crate::emulator::idwise::API_SECRET),
                webhook_header: None,
            }),
            credas: Some(CredasFile {
                environment: CredasEnvironment::Demo,
                base_url: Some(format!("{base_url}/credas/api/v2/ci/")),
                api_key: SecretFile::inline(crate::emulator::credas::API_KEY),
                webhook_header: Some(SharedHeaderFile {
                    name: credas::EMULATOR_WEBHOOK_HEADER.into(),
                    value: SecretFile::inline(crate::emulator::credas::WEBHOOK_TOKEN),
                }),
            }),
            sumsub: Some(SumsubFile {
                base_url: format!("{base_url}/sumsub/"),
                app_token: SecretFile::inline(crate::emulator::sumsub::APP_TOKEN),
                secret_key: SecretFile::inline(crate::emulator::sumsub::SECRET_KEY),
                webhook_secret: Some(SecretFile::inline(crate::emulator::sumsub::WEBHOOK_SECRET)),
                backoff_initial_ms: Some(500),
            }),
            frankieone: Some(FrankieOneFile {
                environment: FrankieOneEnvironment::Uat,
                base_url: Some(format!("{base_url}/frankieone/")),
                api_key: SecretFile::inline(crate::emulator::frankieone::API_KEY),
                customer_id: crate::emulator::frankieone::CUSTOMER_ID.into(),
                customer_child_id: None,
                webhook_header: None,
            }),
        },
        templates: demo_templates(),
        ..ConfigFile::default()
    }
}

pub fn write_private(path: &Path, file: &ConfigFile) -> Result<(), ConfigError> {
    let text = toml::to_string_pretty(file)
        .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })?;
    crate::private_fs::create_dir(crate::private_fs::parent_dir(path))?;
    let header = "# Written by `kycdesk emulator --write-config`: points kycdesk at a local emulator.\n";
    Ok(crate::private_fs::write(path, format!("{header}{text}").as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn config_with(secret: SecretFile, private: bool) -> Result<Config, ConfigError> {
        let mut file = emulator_config("http://127.0.0.1:9", false);
        if let Some(c) = file.providers.complycube.as_mut() {
            c.api_key = secret;
            c.webhook_secret = None;
        }
        file.providers.idwise = None;
        file.providers.credas = None;
        file.providers.sumsub = None;
        file.providers.frankieone = None;
        Config::from_file(file, Some(PathBuf::from("/nonexistent/config.toml")), private)
    }

    #[test]
    fn only_the_inbox_needs_the_webhook_secret() -> Result<(), ConfigError> {
        let mut file = emulator_config("http://127.0.0.1:9", false);
        if let Some(c) = file.providers.complycube.as_mut() {
            c.webhook_secret =
                Some(SecretFile { env: Some("KYCDESK_TEST_NEVER_SET_WEBHOOK".into()), ..SecretFile::default() });
        }
        let config = Config::from_file(file, Some(PathBuf::from("/nonexistent/config.toml")), true)?;
        assert!(config.providers()?.get(ProviderId::ComplyCube).is_some(), "the console starts without it");
        assert!(matches!(config.providers_with_webhooks(), Err(ConfigError::Secret { .. })), "the inbox does not");
        Ok(())
    }

    #[test]
    fn inline_key_needs_a_private_config() -> Result<(), ConfigError> {
        let inline = SecretFile::inline("k");
        assert!(config_with(inline.clone(), true)?.providers().is_ok());
        assert!(matches!(config_with(inline, false)?.providers(), Err(ConfigError::InlineSecret { .. })));
        Ok(())
    }

    #[test]
    fn key_file_must_be_private() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let key = dir.path().join("key");
        std::fs::write(&key, "secret\n")?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
        let from_file = SecretFile { file: Some(key.clone()), ..SecretFile::default() };
        let err = config_with(from_file.clone(), false)?.providers().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(&format!("run `chmod 600 {}`", key.display())), "{err}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
        assert!(config_with(from_file, false)?.providers().is_ok());
        Ok(())
    }

    #[test]
    fn exactly_one_secret_source() -> Result<(), ConfigError> {
        assert!(matches!(config_with(SecretFile::default(), true)?.providers(), Err(ConfigError::Secret { .. })));
        let two = SecretFile { value: Some("k".into()), cmd: Some("echo k".into()), ..SecretFile::default() };
        assert!(matches!(config_with(two, true)?.providers(), Err(ConfigError::Secret { .. })));
        let cmd = SecretFile { cmd: Some("printf 'from-cmd\\n'".into()), ..SecretFile::default() };
        assert!(config_with(cmd, false)?.providers().is_ok());
        Ok(())
    }

    #[test]
    fn written_config_round_trips_and_is_private() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kycdesk.toml");
        write_private(&path, &emulator_config("http://127.0.0.1:4000", false))?;
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        let config = Config::load(Some(&path))?;
        assert!(config.providers()?.get(ProviderId::ComplyCube).is_some());
        Ok(())
    }

    #[test]
    fn key_bindings_and_templates_from_the_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kycdesk.toml");
        let text = "undo_secs = 0\n\n[keys.queue]\nmark = \"x\"\n\n[[templates]]\nkey = \"g\"\nverdict = \"verify\"\ntext = \"Glare.\"\n";
        std::fs::write(&path, text)?;
        let config = Config::load(Some(&path))?;
        assert_eq!(config.undo_secs, 0);
        assert_eq!(config.templates.len(), 1);
        assert!(config.keys.hints(crate::app::keymap::Context::Queue).contains("x mark"));
        std::fs::write(&path, "analyst = \"a\"\n[keys.queue]\nmark = \"x\"\nfly = \"y\"\n")?;
        let err = Config::load(Some(&path)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("line 4") && err.contains("no action 'fly'"), "{err}");
        std::fs::write(&path, "[keys.queue]\nmark = \"ctrl-\"\n")?;
        let err = Config::load(Some(&path)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("line 2") && err.contains("not a key"), "{err}");
        std::fs::write(&path, "[[templates]]\nkey = \"gg\"\ntext = \"x\"\n")?;
        assert!(Config::load(Some(&path)).is_err());
        std::fs::write(&path, "[[templates]]\nkey = \"m\"\ntext = \"x\"\n")?;
        let err = Config::load(Some(&path)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("already means 'mask'"), "{err}");
        Ok(())
    }

    #[test]
    fn the_demo_ships_three_templates() -> Result<(), ConfigError> {
        let config = Config::from_file(emulator_config("http://127.0.0.1:9", true), None, true)?;
        assert_eq!(config.templates.len(), 3);
        Ok(())
    }

    /// A config with a `cmd` credential that leaves `marker` behind if it ever runs.
    fn config_running(dir: &Path, marker: &Path) -> Result<PathBuf, std::io::Error> {
        let path = dir.join("config.toml");
        let cmd = format!("touch '{}'; echo k", marker.display());
        std::fs::write(&path, format!("[providers.complycube]\napi_key = {{ cmd = {cmd:?} }}\n"))?;
        Ok(path)
    }

    #[test]
    fn a_config_others_can_write_is_refused_before_its_cmd_runs() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("kycdesk");
        crate::private_fs::create_dir(&dir)?;
        let marker = tmp.path().join("ran");
        let path = config_running(&dir, &marker)?;
        for mode in [0o664, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
            let err = Config::load(Some(&path)).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(&format!("run `chmod go-w {}`", path.display())), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        let err = Config::load(Some(&path)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(&format!("run `chmod go-w {}`", dir.display())), "{err}");
        assert!(!marker.exists(), "the cmd of a refused config ran");
        // The same config, safe again: its cmd runs (so the marker would have shown it).
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        Config::load(Some(&path))?.providers()?;
        assert!(marker.exists());
        Ok(())
    }

    #[test]
    fn a_symlinked_config_is_checked_where_it_really_is() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let real_dir = tmp.path().join("dotfiles");
        let link_dir = tmp.path().join("config");
        crate::private_fs::create_dir(&real_dir)?;
        crate::private_fs::create_dir(&link_dir)?;
        let real = config_running(&real_dir, &tmp.path().join("ran"))?;
        let link = link_dir.join("config.toml");
        std::os::unix::fs::symlink(&real, &link)?;
        Config::load(Some(&link))?;
        std::fs::set_permissions(&real_dir, std::fs::Permissions::from_mode(0o775))?;
        assert!(matches!(Config::load(Some(&link)), Err(ConfigError::Unsafe(_))));
        std::fs::set_permissions(&real_dir, std::fs::Permissions::from_mode(0o700))?;
        std::fs::set_permissions(&link_dir, std::fs::Permissions::from_mode(0o757))?;
        assert!(matches!(Config::load(Some(&link)), Err(ConfigError::Unsafe(_))));
        Ok(())
    }

    #[test]
    fn the_example_config_parses_and_init_writes_it_private_once() -> Result<(), Box<dyn std::error::Error>> {
        let file: ConfigFile = toml::from_str(EXAMPLE)?;
        assert!(file.providers.complycube.is_some() && file.providers.frankieone.is_some());
        Config::from_file(file, None, true)?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("new").join("config.toml");
        write_example(&path)?;
        assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.path().join("new"))?.permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::read_to_string(&path)?, EXAMPLE);
        Config::load(Some(&path))?;
        std::fs::write(&path, "analyst = \"mine\"\n")?;
        assert!(matches!(write_example(&path), Err(ConfigError::Exists { .. })));
        assert_eq!(std::fs::read_to_string(&path)?, "analyst = \"mine\"\n");
        Ok(())
    }

    #[test]
    fn image_protocol_theme_mouse_and_mask_from_the_file() -> Result<(), Box<dyn std::error::Error>> {
        use crate::ui::theme::Theme;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("kycdesk.toml");
        let text =
            "image_protocol = \"sixel\"\ntheme = \"high-contrast\"\nmouse = true\ngrey_images = true\nmask = true\n";
        std::fs::write(&path, text)?;
        let config = Config::load(Some(&path))?;
        assert_eq!(config.image_protocol, ImageMode::Sixel);
        assert_eq!((config.mouse, config.grey_images, config.mask), (true, true, true));
        // The test process may run under NO_COLOR; either way the theme follows it.
        let expected = if env_nonempty("NO_COLOR").is_some() { Theme::NoColor } else { Theme::HighContrast };
        assert_eq!(config.theme, expected);
        // The older name still reads.
        std::fs::write(&path, "images = \"halfblocks\"\n")?;
        let config = Config::load(Some(&path))?;
        assert_eq!(config.image_protocol, ImageMode::Halfblocks);
        assert_eq!((config.mouse, config.grey_images, config.mask), (false, false, false));
        std::fs::write(&path, "theme = \"neon\"\n")?;
        let err = Config::load(Some(&path)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("theme 'neon' is not one of default, high-contrast"), "{err}");
        std::fs::write(&path, "image_protocol = \"ascii\"\n")?;
        assert!(matches!(Config::load(Some(&path)), Err(ConfigError::Parse { .. })));
        Ok(())
    }

    #[test]
    fn every_image_protocol_name_parses() {
        for name in ["auto", "kitty", "sixel", "iterm2", "halfblocks", "off"] {
            let from_file: Result<ConfigFile, _> = toml::from_str(&format!("image_protocol = \"{name}\""));
            let from_file = from_file.ok().and_then(|f| f.image_protocol);
            assert_eq!(from_file, ImageMode::parse(name), "{name}");
            assert!(from_file.is_some(), "{name}");
        }
        assert_eq!(ImageMode::parse("Kitty"), None);
    }

    #[test]
    fn unknown_keys_are_an_error() {
        let parsed: Result<ConfigFile, _> = toml::from_str("analyts = \"typo\"");
        assert!(parsed.is_err());
    }
}
