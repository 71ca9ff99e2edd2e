//! Running the real binary: an emulator process, and kycdesk commands beside it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_kycdesk");

/// A `kycdesk emulator --write-config` process, stopped on drop.
pub struct EmulatorProcess {
    child: Child,
    pub base_url: String,
    pub config: PathBuf,
}

impl EmulatorProcess {
    pub fn start(dir: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_with(dir, &[])
    }

    pub fn start_with(dir: &Path, extra: &[&str]) -> Result<Self, Box<dyn std::error::Error>> {
        let config = dir.join("kycdesk.toml");
        let mut child = Command::new(BIN)
            .args(["emulator", "--listen", "127.0.0.1:0", "--write-config"])
            .arg(&config)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().ok_or("emulator printed nothing")??;
        let base_url = first
            .strip_prefix("kycdesk emulator listening on ")
            .ok_or(format!("unexpected first line: {first}"))?
            .to_string();
        let second = lines.next().ok_or("no config line")??;
        assert!(second.contains("wrote kycdesk config"), "{second}");
        Ok(Self { child, base_url, config })
    }

    pub fn decisions(&self) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
        reqwest::blocking_get(&format!("{}/_emulator/decisions", self.base_url))
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kycdesk inbox` process, stopped on drop.
pub struct InboxProcess {
    child: Child,
}

impl InboxProcess {
    pub fn start(dir: &Path, config: &Path, listen: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(["inbox", "--listen", listen])
            .envs(isolated_env(dir))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let first = BufReader::new(stdout).lines().next().ok_or("inbox printed nothing")??;
        assert!(first.starts_with("kycdesk inbox listening on http://"), "{first}");
        Ok(Self { child })
    }
}

impl Drop for InboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment that keeps a kycdesk run inside `dir`: store, log, XDG dirs.
pub fn isolated_env(dir: &Path) -> Vec<(String, String)> {
    let d = |s: &str| dir.join(s).display().to_string();
    vec![
        ("HOME".into(), d("home")),
        ("XDG_CONFIG_HOME".into(), d("config")),
        ("XDG_DATA_HOME".into(), d("data")),
        ("XDG_STATE_HOME".into(), d("state")),
        ("KYCDESK_STORE".into(), d("store.sqlite3")),
        ("KYCDESK_LOG".into(), d("kycdesk.log")),
        ("KYCDESK_ANALYST".into(), "e2e-analyst".into()),
    ]
}

pub fn kycdesk(dir: &Path, config: &Path, args: &[&str]) -> Result<Output, std::io::Error> {
    Command::new(BIN).arg("--config").arg(config).args(args).envs(isolated_env(dir)).stdin(Stdio::null()).output()
}

/// Tiny blocking HTTP helpers for the control API (the tests drive processes
/// synchronously).
pub mod reqwest {
    pub fn blocking_get<T: serde::de::DeserializeOwned>(url: &str) -> Result<T, Box<dyn std::error::Error>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async { Ok(::reqwest::get(url).await?.json().await?) })
    }

    pub fn blocking_post_json(url: &str, body: serde_json::Value) -> Result<u16, Box<dyn std::error::Error>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async { Ok(::reqwest::Client::new().post(url).json(&body).send().await?.status().as_u16()) })
    }

    pub fn blocking_get_with_key<T: serde::de::DeserializeOwned>(
        url: &str,
        key: &str,
    ) -> Result<T, Box<dyn std::error::Error>> {
        // The test shares the key with the kycdesk under test, so it may meet the
        // provider's rate limit: it waits and asks again, as a polite client does.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                let response = ::reqwest::Client::new().get(url).header("Authorization", key).send().await?;
                if response.status() != ::reqwest::StatusCode::TOO_MANY_REQUESTS {
                    return Ok(response.json().await?);
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(format!("{url}: still rate limited after 60 s").into());
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        })
    }
}
