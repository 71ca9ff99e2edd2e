//! Nobody in, nothing left behind: what kycdesk writes is private whatever the umask,
//! what others could read or write is refused, and the demo leaves no directory behind
//! however it ends. Runs the real binary.

mod common;

use common::cli::{BIN, EmulatorProcess, isolated_env, kycdesk};
use common::tmux::Tmux;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type R = Result<(), Box<dyn std::error::Error>>;

const DEADLINE: Duration = Duration::from_secs(60);

fn mode(path: &Path) -> Result<u32, std::io::Error> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o7777)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), std::io::Error> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Polls `done` until it holds or the deadline passes.
fn wait_until(what: &str, done: impl Fn() -> bool) -> R {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > DEADLINE {
            return Err(format!("timed out waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

#[test]
fn store_wal_shm_log_key_and_their_dirs_are_private_under_umask_022() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    assert_eq!(mode(&emulator.config)?, 0o600);
    let store = dir.path().join("data/deep/store.sqlite3");
    let log = dir.path().join("state/logs/kycdesk.log");
    let mut env = isolated_env(dir.path());
    env.retain(|(k, _)| k != "KYCDESK_STORE" && k != "KYCDESK_LOG");
    // The inbox keeps the store open, so its -wal and -shm are there to look at.
    let mut child = Command::new("sh")
        .args(["-c", r#"umask 022; exec "$0" "$@""#, BIN, "--config"])
        .arg(&emulator.config)
        .args(["inbox", "--listen", "127.0.0.1:0"])
        .envs(env)
        .env("KYCDESK_STORE", &store)
        .env("KYCDESK_LOG", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let first = BufReader::new(stdout).lines().next().ok_or("inbox printed nothing")??;
    let checked = (|| -> R {
        assert!(first.starts_with("kycdesk inbox listening on"), "{first}");
        for file in [
            store.clone(),
            suffixed(&store, "-wal"),
            suffixed(&store, "-shm"),
            suffixed(&store, ".anchor"),
            log.clone(),
            dir.path().join("config/kycdesk/audit.key"),
        ] {
            assert_eq!(mode(&file)?, 0o600, "{}", file.display());
        }
        for d in ["data", "data/deep", "state", "state/logs", "config", "config/kycdesk"] {
            assert_eq!(mode(&dir.path().join(d))?, 0o700, "{d}");
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    checked
}

#[test]
fn a_store_or_log_others_can_read_is_refused_with_the_chmod_that_fixes_it() -> R {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("kycdesk.toml");
    std::fs::write(&config, "analyst = \"synthetic-analyst\"\n")?;
    let store = dir.path().join("store.sqlite3");
    let log = dir.path().join("kycdesk.log");
    let first = kycdesk(dir.path(), &config, &["outbox"])?;
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    for (file, exposed) in [(&store, 0o644), (&log, 0o640)] {
        set_mode(file, exposed)?;
        let out = kycdesk(dir.path(), &config, &["outbox"])?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} at {exposed:o} was opened", file.display());
        assert!(err.contains(&format!("mode {exposed:04o}")), "{err}");
        assert!(err.contains(&format!("run `chmod 600 {}`", file.display())), "{err}");
        set_mode(file, 0o600)?;
    }
    // Read-only commands refuse it too.
    set_mode(&store, 0o604)?;
    let out = kycdesk(dir.path(), &config, &["audit", "verify"])?;
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"), "{}", String::from_utf8_lossy(&out.stderr));
    set_mode(&store, 0o600)?;
    assert!(kycdesk(dir.path(), &config, &["outbox"])?.status.success());
    Ok(())
}

#[test]
fn a_config_others_can_write_is_refused_and_its_cmd_never_runs() -> R {
    let dir = tempfile::tempdir()?;
    let config_dir = dir.path().join("cfg");
    std::fs::create_dir(&config_dir)?;
    set_mode(&config_dir, 0o700)?;
    let marker = dir.path().join("cmd-ran");
    let config = config_dir.join("kycdesk.toml");
    let cmd = format!("touch '{}'; echo synthetic-key", marker.display());
    std::fs::write(&config, format!("[providers.complycube]\napi_key = {{ cmd = {cmd:?} }}\n"))?;
    for (file, file_mode, dir_mode, culprit) in
        [(&config, 0o664, 0o700, &config), (&config, 0o646, 0o700, &config), (&config, 0o644, 0o775, &config_dir)]
    {
        set_mode(file, file_mode)?;
        set_mode(&config_dir, dir_mode)?;
        let out = kycdesk(dir.path(), &config, &["reasons", "complycube"])?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(&format!("run `chmod go-w {}`", culprit.display())), "{err}");
        assert!(!marker.exists(), "the cmd of a refused config ran ({file_mode:o} in {dir_mode:o})");
    }
    // Once only its owner can write it, the same config's cmd runs: the marker works.
    set_mode(&config_dir, 0o755)?;
    let out = kycdesk(dir.path(), &config, &["reasons", "complycube"])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(marker.exists());
    Ok(())
}

#[test]
fn the_process_is_not_dumpable_and_its_umask_is_private() -> R {
    kycdesk::commands::harden_process();
    assert_eq!(rustix::process::dumpable_behavior()?, rustix::process::DumpableBehavior::NotDumpable);
    let umask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    assert_eq!(umask.as_raw_mode() & 0o777, 0o077);
    Ok(())
}

/// The demo's directories in `tmp`.
fn demo_dirs(tmp: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(tmp)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("kycdesk-demo-"))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// `kycdesk demo` in tmux with its own TMPDIR; returns it once its queue is on screen.
fn start_demo(dir: &Path) -> Result<(Tmux, PathBuf), Box<dyn std::error::Error>> {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let mut env = isolated_env(dir);
    env.push(("TMPDIR".into(), tmp.display().to_string()));
    env.push(("KYCDESK_IMAGES".into(), "off".into()));
    let tmux = Tmux::start(dir, &env, &format!("exec {BIN} demo --cases 2"))?;
    tmux.wait_for("the demo queue", |s| s.contains("synthetic cases") && s.contains("ComplyCube"))?;
    Ok((tmux, tmp))
}

/// The one demo directory of a running demo (of `pid`), private throughout.
fn running_demo_dir(tmp: &Path, pid: u32, others: &[PathBuf]) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let mine: Vec<PathBuf> = demo_dirs(tmp).into_iter().filter(|d| !others.contains(d)).collect();
    let [demo] = mine.as_slice() else { return Err(format!("expected one demo dir: {mine:?}").into()) };
    assert_eq!(mode(demo)?, 0o700);
    let pid_file = std::fs::read_to_string(demo.join("pid"))?;
    assert_eq!(pid_file.split_whitespace().next(), Some(pid.to_string().as_str()));
    for file in ["pid", "demo.sqlite3", "demo.sqlite3-wal", "demo.sqlite3-shm", "demo.log", "audit.key"] {
        assert_eq!(mode(&demo.join(file))?, 0o600, "{file}");
    }
    Ok(demo.clone())
}

fn killed_demo_leaves_nothing(signal: &str) -> R {
    let dir = tempfile::tempdir()?;
    let (tmux, tmp) = start_demo(dir.path())?;
    let pid = tmux.pane_pid()?;
    let demo = running_demo_dir(&tmp, pid, &[])?;
    let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status()?;
    assert!(status.success());
    wait_until("the demo to exit", || !Path::new(&format!("/proc/{pid}")).exists() || !tmux.alive())?;
    wait_until("the demo dir to go", || !demo.exists())?;
    assert!(demo_dirs(&tmp).is_empty(), "{:?}", demo_dirs(&tmp));
    Ok(())
}

#[test]
fn a_demo_ended_by_sigterm_leaves_no_directory() -> R {
    killed_demo_leaves_nothing("TERM")
}

/// What an SSH drop sends.
#[test]
fn a_demo_ended_by_sighup_leaves_no_directory() -> R {
    killed_demo_leaves_nothing("HUP")
}

#[test]
fn the_next_demo_removes_directories_left_by_killed_ones() -> R {
    let dir = tempfile::tempdir()?;
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let mut gone = Command::new("true").spawn()?;
    let dead = gone.id();
    gone.wait()?;
    let stale = tmp.join("kycdesk-demo-killed");
    std::fs::create_dir(&stale)?;
    std::fs::write(stale.join("pid"), format!("{dead}\n"))?;
    std::fs::write(stale.join("demo.sqlite3"), "synthetic")?;
    // A demo still running (this test process stands in for it) is left alone.
    let live = tmp.join("kycdesk-demo-running");
    std::fs::create_dir(&live)?;
    std::fs::write(live.join("pid"), format!("{}\n", std::process::id()))?;

    let (tmux, _) = start_demo(dir.path())?;
    assert!(!stale.exists(), "the killed demo's directory is still there");
    assert!(live.exists());
    let pid = tmux.pane_pid()?;
    let demo = running_demo_dir(&tmp, pid, std::slice::from_ref(&live))?;
    Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
    wait_until("the demo dir to go", || !demo.exists())?;
    assert_eq!(demo_dirs(&tmp), [live]);
    Ok(())
}
