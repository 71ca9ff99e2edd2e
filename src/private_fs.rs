//! Everything kycdesk writes is private: directories 0700, files 0600, whatever the
//! umask, and what others could read or write is refused with the `chmod` that fixes it.
//! Every directory and file kycdesk creates goes through here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum PrivateFsError {
    #[error("cannot create {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot check {path}: {source}")]
    Inspect { path: PathBuf, source: io::Error },
    #[error("{path} is readable by group or others (mode {mode:04o}); run `{fix}`")]
    Readable { path: PathBuf, mode: u32, fix: String },
    #[error("{path} is writable by group or others (mode {mode:04o}); run `{fix}`")]
    Writable { path: PathBuf, mode: u32, fix: String },
    #[error("{path} is owned by uid {owner}, neither you (uid {me}) nor root; run `{fix}`")]
    Owner { path: PathBuf, owner: u32, me: u32, fix: String },
}

/// `path` quoted for a shell, so the hint can be pasted as it is.
fn shell_quoted(path: &Path) -> String {
    let text = path.display().to_string();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c)) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn me() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn inspect(path: &Path) -> Result<std::fs::Metadata, PrivateFsError> {
    std::fs::metadata(path).map_err(|source| PrivateFsError::Inspect { path: path.to_path_buf(), source })
}

fn set_mode(path: &Path, mode: u32) -> Result<(), PrivateFsError> {
    std::fs::set_permissions(path, PermissionsExt::from_mode(mode))
        .map_err(|source| PrivateFsError::Create { path: path.to_path_buf(), source })
}

/// Creates `path` and any missing parents 0700. Directories that already exist are
/// left as they are (a home directory may rightly be 0755).
pub fn create_dir(path: &Path) -> Result<(), PrivateFsError> {
    let missing: Vec<&Path> =
        path.ancestors().take_while(|p| !p.as_os_str().is_empty() && std::fs::symlink_metadata(p).is_err()).collect();
    for dir in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
            // The umask may have taken bits off; the mode must be exact.
            Ok(()) => set_mode(dir, DIR_MODE)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(PrivateFsError::Create { path: dir.to_path_buf(), source }),
        }
    }
    Ok(())
}

/// The directory `path` is in ("." for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Creates the directory of `path` private if missing, and refuses one others can
/// write (they could swap the file or plant a `-wal` beside it).
pub fn prepare_parent(path: &Path) -> Result<(), PrivateFsError> {
    let dir = parent_dir(path);
    create_dir(dir)?;
    check_not_writable_by_others(dir)
}

/// Refuses `path` if group or others can write it, or if it belongs to another user
/// than this one or root (OpenSSH's StrictModes).
pub fn check_not_writable_by_others(path: &Path) -> Result<(), PrivateFsError> {
    let meta = inspect(path)?;
    let mode = meta.mode() & 0o7777;
    if meta.uid() != me() && meta.uid() != 0 {
        return Err(PrivateFsError::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me: me(),
            fix: format!("chown {} {}", me(), shell_quoted(path)),
        });
    }
    if mode & 0o022 != 0 {
        return Err(PrivateFsError::Writable {
            path: path.to_path_buf(),
            mode,
            fix: format!("chmod go-w {}", shell_quoted(path)),
        });
    }
    Ok(())
}

fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), PrivateFsError> {
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        let fix = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
        return Err(PrivateFsError::Readable {
            path: path.to_path_buf(),
            mode,
            fix: format!("chmod {fix:o} {}", shell_quoted(path)),
        });
    }
    Ok(())
}

/// Refuses a file group or others can read or write.
pub fn check_private(path: &Path) -> Result<(), PrivateFsError> {
    check_mode(path, &inspect(path)?)
}

/// Opens `path`, creating it 0600 if missing; an existing file others can read is
/// refused. The check is on the open file, so a swap after it cannot slip through.
fn open(path: &Path, append: bool) -> Result<File, PrivateFsError> {
    let create = OpenOptions::new().read(true).append(true).create_new(true).mode(FILE_MODE).open(path);
    match create {
        Ok(file) => {
            file.set_permissions(PermissionsExt::from_mode(FILE_MODE))
                .map_err(|source| PrivateFsError::Create { path: path.to_path_buf(), source })?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let file = OpenOptions::new()
                .read(true)
                .append(append)
                .open(path)
                .map_err(|source| PrivateFsError::Inspect { path: path.to_path_buf(), source })?;
            let meta =
                file.metadata().map_err(|source| PrivateFsError::Inspect { path: path.to_path_buf(), source })?;
            check_mode(path, &meta)?;
            Ok(file)
        }
        Err(source) => Err(PrivateFsError::Create { path: path.to_path_buf(), source }),
    }
}

/// The log: opened for appending, created 0600.
pub fn open_append(path: &Path) -> Result<File, PrivateFsError> {
    open(path, true)
}

/// A file someone else (SQLite) opens next: created empty and 0600 if missing, refused
/// if others can read it.
pub fn ensure_file(path: &Path) -> Result<(), PrivateFsError> {
    open(path, false).map(drop)
}

/// Sets an existing file to 0600 (SQLite's `-wal`, `-shm` and `-journal`); a missing
/// one is fine.
pub fn tighten(path: &Path) -> Result<(), PrivateFsError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() && meta.mode() & 0o7777 != FILE_MODE => set_mode(path, FILE_MODE),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PrivateFsError::Inspect { path: path.to_path_buf(), source }),
    }
}

/// Writes `contents` to `path`, 0600 whether it is new or not.
pub fn write(path: &Path, contents: &[u8]) -> Result<(), PrivateFsError> {
    let fail = |source| PrivateFsError::Create { path: path.to_path_buf(), source };
    let mut file =
        OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(path).map_err(fail)?;
    // An existing file keeps its mode on open.
    file.set_permissions(PermissionsExt::from_mode(FILE_MODE)).map_err(fail)?;
    file.write_all(contents).map_err(fail)
}

/// A private temporary file in `dir`, to be renamed into place.
pub fn temp_file_in(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(prefix).permissions(PermissionsExt::from_mode(FILE_MODE)).tempfile_in(dir)
}

/// A 0700 directory for one run, removed when dropped. A `pid` file inside names the
/// run, so a later run can tell a directory left by a killed one ([`remove_stale`]).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    removed: bool,
}

const PID_FILE: &str = "pid";
/// A directory without a pid file this old is stale; a younger one may be a run that
/// has just created it.
const PID_GRACE: Duration = Duration::from_secs(60);

impl RunDir {
    pub fn create(parent: &Path, prefix: &str) -> Result<Self, PrivateFsError> {
        loop {
            let path = parent.join(format!("{prefix}{}", uuid::Uuid::new_v4().simple()));
            match std::fs::DirBuilder::new().mode(DIR_MODE).create(&path) {
                Ok(()) => {
                    let dir = Self { path, removed: false };
                    set_mode(&dir.path, DIR_MODE)?;
                    write(&dir.path.join(PID_FILE), this_run().as_bytes())?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(PrivateFsError::Create { path, source }),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory now (a signal ends the run); dropping it does too.
    pub fn remove(&mut self) -> io::Result<()> {
        if self.removed {
            return Ok(());
        }
        self.removed = true;
        match std::fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// "pid starttime": the start time tells a live run from a later process that was
/// given the same pid.
fn this_run() -> String {
    let pid = std::process::id();
    match start_time(pid) {
        Some(start) => format!("{pid} {start}\n"),
        None => format!("{pid}\n"),
    }
}

/// The process's start time in clock ticks since boot (`/proc/PID/stat` field 22).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn run_alive(pid_file: &str) -> bool {
    let mut fields = pid_file.split_whitespace();
    let Some(pid) = fields.next().and_then(|p| p.parse::<i32>().ok()).and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(_) => return false,
    }
    let recorded = fields.next().and_then(|s| s.parse::<u64>().ok());
    match (recorded, start_time(pid.as_raw_pid() as u32)) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => true,
    }
}

/// Removes `parent/prefix*` directories of this user whose run is dead; returns them.
/// Best effort: what cannot be read or removed is left.
pub fn remove_stale(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else { return vec![] };
    let mut removed = vec![];
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        // symlink_metadata: a link planted under the name is never followed.
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.is_dir() || meta.uid() != me() {
            continue;
        }
        let stale = match std::fs::read_to_string(path.join(PID_FILE)) {
            Ok(text) => !run_alive(&text),
            Err(_) => meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > PID_GRACE),
        };
        if stale && std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// Process-wide belt to the explicit modes: whatever kycdesk or a library creates
/// without one is private too.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

#[cfg(test)]
mod tests {
    use super::*;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map(|m| m.mode() & 0o7777).unwrap_or(0)
    }

    #[test]
    fn directories_are_created_0700_and_existing_ones_left() -> R {
        let tmp = tempfile::tempdir()?;
        std::fs::set_permissions(tmp.path(), PermissionsExt::from_mode(0o755))?;
        let deep = tmp.path().join("a/b/c");
        create_dir(&deep)?;
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&tmp.path().join(d)), 0o700, "{d}");
        }
        assert_eq!(mode(tmp.path()), 0o755);
        create_dir(&deep)?;
        Ok(())
    }

    #[test]
    fn files_are_created_0600_and_readable_ones_refused_with_the_fix() -> R {
        let tmp = tempfile::tempdir()?;
        let log = tmp.path().join("x.log");
        open_append(&log)?;
        assert_eq!(mode(&log), 0o600);
        open_append(&log)?;
        std::fs::set_permissions(&log, PermissionsExt::from_mode(0o640))?;
        let err = open_append(&log).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("mode 0640") && err.contains(&format!("`chmod 600 {}`", log.display())), "{err}");
        let store = tmp.path().join("it's.db");
        ensure_file(&store)?;
        assert_eq!(mode(&store), 0o600);
        std::fs::set_permissions(&store, PermissionsExt::from_mode(0o644))?;
        let err = ensure_file(&store).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(r"`chmod 600 '"), "quoted for the shell: {err}");
        Ok(())
    }

    #[test]
    fn write_and_tighten_make_files_0600() -> R {
        let tmp = tempfile::tempdir()?;
        let file = tmp.path().join("f");
        std::fs::write(&file, "old")?;
        std::fs::set_permissions(&file, PermissionsExt::from_mode(0o666))?;
        write(&file, b"new")?;
        assert_eq!((mode(&file), std::fs::read_to_string(&file)?.as_str()), (0o600, "new"));
        std::fs::set_permissions(&file, PermissionsExt::from_mode(0o644))?;
        tighten(&file)?;
        assert_eq!(mode(&file), 0o600);
        tighten(&tmp.path().join("missing"))?;
        assert_eq!(mode(temp_file_in(tmp.path(), ".t")?.path()), 0o600);
        Ok(())
    }

    #[test]
    fn writable_by_others_or_owned_by_another_user_is_refused() -> R {
        let tmp = tempfile::tempdir()?;
        let file = tmp.path().join("config.toml");
        std::fs::write(&file, "")?;
        std::fs::set_permissions(&file, PermissionsExt::from_mode(0o644))?;
        check_not_writable_by_others(&file)?;
        for bad in [0o664, 0o646, 0o1777] {
            std::fs::set_permissions(&file, PermissionsExt::from_mode(bad))?;
            let err = check_not_writable_by_others(&file).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(&format!("`chmod go-w {}`", file.display())), "{bad:o}: {err}");
        }
        std::fs::set_permissions(&file, PermissionsExt::from_mode(0o644))?;
        // Only root can hand a file to another user; elsewhere the owner case is moot.
        if me() == 0 {
            std::os::unix::fs::chown(&file, Some(65534), None)?;
            assert!(matches!(check_not_writable_by_others(&file), Err(PrivateFsError::Owner { owner: 65534, .. })));
        }
        Ok(())
    }

    #[test]
    fn a_group_writable_parent_is_refused() -> R {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("shared");
        create_dir(&dir)?;
        prepare_parent(&dir.join("store.sqlite3"))?;
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o770))?;
        assert!(matches!(prepare_parent(&dir.join("store.sqlite3")), Err(PrivateFsError::Writable { .. })));
        Ok(())
    }

    #[test]
    fn a_run_dir_is_private_removed_on_drop_and_stale_ones_go() -> R {
        let tmp = tempfile::tempdir()?;
        let run = RunDir::create(tmp.path(), "run-")?;
        let path = run.path().to_path_buf();
        assert_eq!(mode(&path), 0o700);
        assert_eq!(mode(&path.join(PID_FILE)), 0o600);
        // This run is alive: left alone.
        assert!(remove_stale(tmp.path(), "run-").is_empty());
        drop(run);
        assert!(!path.exists());

        let dead = tmp.path().join("run-dead");
        create_dir(&dead)?;
        let mut child = std::process::Command::new("true").spawn()?;
        let dead_pid = child.id();
        child.wait()?;
        std::fs::write(dead.join(PID_FILE), format!("{dead_pid}\n"))?;
        // The pid of this very process, but a start time it never had: a reused pid.
        let reused = tmp.path().join("run-reused");
        create_dir(&reused)?;
        std::fs::write(reused.join(PID_FILE), format!("{} 1\n", std::process::id()))?;
        let young = tmp.path().join("run-being-created");
        create_dir(&young)?;
        let old = tmp.path().join("run-old-without-pid");
        create_dir(&old)?;
        File::open(&old)?.set_modified(SystemTime::now() - Duration::from_secs(3600))?;
        let other = tmp.path().join("other-dead");
        create_dir(&other)?;
        std::fs::write(other.join(PID_FILE), format!("{dead_pid}\n"))?;

        let mut removed = remove_stale(tmp.path(), "run-");
        removed.sort();
        let mut expected = vec![dead, old, reused];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(young.exists() && other.exists());
        Ok(())
    }
}
