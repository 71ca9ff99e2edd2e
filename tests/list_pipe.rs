//! `kycdesk list` into a reader that stops early (`kycdesk list | head -1`): a closed
//! output pipe is a normal end, never a panic.

mod common;

use common::cli::{BIN, EmulatorProcess, isolated_env};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type R = Result<(), Box<dyn std::error::Error>>;

/// Runs `kycdesk list <args>`, closes its stdout after `read_lines` lines (0: at once,
/// before it writes anything, so its first write meets a closed pipe), and returns the
/// exit code and stderr.
fn list_into_closed_pipe(
    args: &[&str],
    read_lines: usize,
) -> Result<(Option<i32>, String), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&emulator.config)
        .arg("list")
        .args(args)
        .envs(isolated_env(dir.path()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    for _ in 0..read_lines {
        lines.next().ok_or("list printed fewer lines than expected")??;
    }
    drop(lines); // the reader goes away, as `head` does
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let status = exited(&mut child)?;
    let mut err = String::new();
    stderr.read_to_string(&mut err)?;
    Ok((status.code(), err))
}

/// Waits for `kycdesk list` to exit once its reader is gone, within a deadline.
fn exited(child: &mut std::process::Child) -> Result<std::process::ExitStatus, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("kycdesk list did not exit after its reader went away".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_normal_end(args: &[&str], read_lines: usize) -> R {
    let (code, stderr) = list_into_closed_pipe(args, read_lines)?;
    assert_ne!(code, Some(101), "exit 101 is a panic; stderr: {stderr}");
    assert!(code.is_some(), "killed by a signal; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("broken pipe"), "a closed pipe is no error: {stderr}");
    Ok(())
}

#[test]
fn list_into_a_pipe_closed_at_once_ends_normally() -> R {
    assert_normal_end(&[], 0)
}

#[test]
fn list_json_into_a_pipe_closed_at_once_ends_normally() -> R {
    assert_normal_end(&["--json"], 0)
}

#[test]
fn list_into_head_one_ends_normally() -> R {
    assert_normal_end(&[], 1)
}

/// `kycdesk list 2>&1 | head -1`: stdout and stderr are one pipe, closed at once; the
/// counts and warnings written to stderr meet the closed pipe too.
#[test]
fn list_with_stderr_into_the_same_closed_pipe_ends_normally() -> R {
    for args in [&[][..], &["--json"][..]] {
        let dir = tempfile::tempdir()?;
        let emulator = EmulatorProcess::start(dir.path())?;
        let (reader, writer) = std::io::pipe()?;
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&emulator.config)
            .arg("list")
            .args(args)
            .envs(isolated_env(dir.path()))
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .spawn()?;
        drop(reader);
        let status = exited(&mut child)?;
        assert_ne!(status.code(), Some(101), "{args:?}: exit 101 is a panic");
        assert!(status.code().is_some(), "{args:?}: killed by a signal");
    }
    Ok(())
}
