//! `kycdesk doctor` as a process, against `kycdesk emulator --write-config`.

mod common;

use common::cli::{EmulatorProcess, isolated_env};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

type R = Result<(), Box<dyn std::error::Error>>;

/// Outside tmux, whatever the shell running the tests is in: the tmux line is then the
/// same on every machine.
fn doctor(dir: &Path, config: &Path) -> Result<Output, std::io::Error> {
    // The store's directory here is the test's: private, as kycdesk would make it.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Command::new(common::cli::BIN)
        .arg("--config")
        .arg(config)
        .arg("doctor")
        .envs(isolated_env(dir))
        .env_remove("TMUX")
        .env_remove("KYCDESK_IMAGES")
        .stdin(Stdio::null())
        .output()
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

#[test]
fn a_working_setup_is_all_ok() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let out = doctor(dir.path(), &emulator.config)?;
    let report = lines(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#?}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.iter().all(|l| l.starts_with("ok ")), "{report:#?}");
    for provider in ["complycube", "idwise", "credas", "sumsub", "frankieone"] {
        assert!(report.iter().any(|l| l.contains(&format!("{provider} credentials"))), "{provider}: {report:#?}");
        assert!(report.iter().any(|l| l.contains(&format!("{provider} answers"))), "{provider}: {report:#?}");
    }
    for subject in ["config ", "store directory", "filesystem: local disk", "audit key", "images", "tmux"] {
        assert!(report.iter().any(|l| l.contains(subject)), "{subject}: {report:#?}");
    }
    // It wrote nothing: no store, no audit key, no log.
    assert!(!dir.path().join("store.sqlite3").exists());
    assert!(!dir.path().join("kycdesk.log").exists());
    assert!(!dir.path().join("config").join("kycdesk").join("audit.key").exists());
    Ok(())
}

/// The emulator's config with ComplyCube's key moved to a file of the given mode.
fn with_key_file(config: &Path, key_file: &Path, mode: u32) -> R {
    let mut table: toml::Table = std::fs::read_to_string(config)?.parse()?;
    let complycube = table
        .get_mut("providers")
        .and_then(|p| p.get_mut("complycube"))
        .and_then(|c| c.as_table_mut())
        .ok_or("no [providers.complycube]")?;
    let key = complycube.get("api_key").and_then(|k| k.get("value")).and_then(|v| v.as_str()).ok_or("no key")?;
    std::fs::write(key_file, format!("{key}\n"))?;
    std::fs::set_permissions(key_file, std::fs::Permissions::from_mode(mode))?;
    let mut source = toml::Table::new();
    source.insert("file".into(), toml::Value::String(key_file.display().to_string()));
    complycube.insert("api_key".into(), toml::Value::Table(source));
    std::fs::write(config, toml::to_string(&table)?)?;
    Ok(())
}

#[test]
fn a_credential_file_others_can_read_fails_naming_it() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let key_file = dir.path().join("complycube.key");
    with_key_file(&emulator.config, &key_file, 0o644)?;
    let out = doctor(dir.path(), &emulator.config)?;
    let report = lines(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#?}");
    let failed: Vec<&String> = report.iter().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(failed.len(), 1, "{report:#?}");
    assert!(failed[0].contains("complycube credentials"), "{report:#?}");
    assert!(failed[0].contains(&format!("run `chmod 600 {}`", key_file.display())), "{report:#?}");
    // The other providers are still checked, each on its line.
    assert!(report.iter().any(|l| l.starts_with("ok") && l.contains("sumsub answers")), "{report:#?}");

    // Private again: every line ok.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
    let out = doctor(dir.path(), &emulator.config)?;
    assert_eq!(out.status.code(), Some(0), "{:#?}", lines(&out));
    Ok(())
}

#[test]
fn refused_credentials_fail_the_provider_s_read() -> R {
    let dir = tempfile::tempdir()?;
    let emulator = EmulatorProcess::start(dir.path())?;
    let key_file = dir.path().join("complycube.key");
    with_key_file(&emulator.config, &key_file, 0o600)?;
    std::fs::write(&key_file, "not-the-key\n")?;
    let out = doctor(dir.path(), &emulator.config)?;
    let report = lines(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#?}");
    let failed: Vec<&String> = report.iter().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(failed.len(), 1, "{report:#?}");
    assert!(failed[0].contains("complycube answers") && failed[0].contains("refused the credentials"), "{report:#?}");
    Ok(())
}

#[test]
fn no_config_fails_with_the_way_to_make_one() -> R {
    let dir = tempfile::tempdir()?;
    let out = Command::new(common::cli::BIN)
        .arg("doctor")
        .envs(isolated_env(dir.path()))
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .output()?;
    let report = lines(&out);
    assert_eq!(out.status.code(), Some(1), "{report:#?}");
    assert!(report[0].starts_with("FAIL  config") && report[0].contains("kycdesk config init"), "{report:#?}");
    Ok(())
}
