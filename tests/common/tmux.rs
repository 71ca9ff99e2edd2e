//! Driving the real binary in tmux, on a private server socket.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: PathBuf,
}

/// Upper bound for anything to appear on screen; the tests wait for content, never for
/// a fixed time.
const PATIENCE: Duration = Duration::from_secs(90);

impl Tmux {
    pub fn start(dir: &Path, env: &[(String, String)], command: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let socket = dir.join("tmux.sock");
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(&socket).args(["new-session", "-d", "-s", "kycdesk", "-x", "160", "-y", "48"]);
        for (k, v) in env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg(command);
        let status = cmd.status()?;
        if !status.success() {
            return Err(format!("tmux new-session failed: {status}").into());
        }
        Ok(Self { socket })
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    pub fn capture(&self) -> String {
        self.tmux()
            .args(["capture-pane", "-p", "-t", "kycdesk"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    pub fn keys(&self, keys: &[&str]) -> Result<(), std::io::Error> {
        self.tmux().args(["send-keys", "-t", "kycdesk"]).args(keys).status().map(|_| ())
    }

    pub fn type_text(&self, text: &str) -> Result<(), std::io::Error> {
        self.tmux().args(["send-keys", "-t", "kycdesk", "-l", text]).status().map(|_| ())
    }

    pub fn pane_pid(&self) -> Result<u32, Box<dyn std::error::Error>> {
        let out = self.tmux().args(["display-message", "-p", "-t", "kycdesk", "#{pane_pid}"]).output()?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    }

    /// A tmux command on this server (e.g. setting an option).
    pub fn command(&self, args: &[&str]) -> Result<(), std::io::Error> {
        self.tmux().args(args).status().map(|_| ())
    }

    /// The pane's title, as an OSC 0/2 sequence would have set it.
    pub fn pane_title(&self) -> String {
        self.tmux()
            .args(["display-message", "-p", "-t", "kycdesk", "#{pane_title}"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    /// tmux's paste buffers: an OSC 52 clipboard write would land here.
    pub fn buffers(&self) -> String {
        self.tmux()
            .args(["list-buffers"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    pub fn alive(&self) -> bool {
        self.tmux().args(["has-session", "-t", "kycdesk"]).output().map(|o| o.status.success()).unwrap_or(false)
    }

    /// Waits until the screen satisfies `pred`; returns that screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> Result<String, Box<dyn std::error::Error>> {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return Ok(screen);
            }
            if start.elapsed() > PATIENCE {
                return Err(format!("timed out waiting for {what}; screen:\n{screen}").into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_until_gone(&self) -> Result<(), Box<dyn std::error::Error>> {
        let start = Instant::now();
        while self.alive() {
            if start.elapsed() > PATIENCE {
                return Err("the program did not exit".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// Queue rows as (case id, row text), in screen order.
pub fn queue_rows(screen: &str) -> Vec<(String, String)> {
    const PROVIDERS: [&str; 5] = ["ComplyCube", "Credas", "IDWise", "Sumsub", "FrankieOne"];
    screen
        .lines()
        .filter_map(|l| {
            // After the border: the cursor (▶) and mark (●) column.
            let row = l.trim_start_matches('│').trim_start_matches(['▶', '●', ' ']);
            let rest = PROVIDERS.iter().find_map(|p| row.strip_prefix(p))?;
            let id = rest.split_whitespace().next()?.trim_end_matches('…').to_string();
            Some((id, row.to_string()))
        })
        .collect()
}
