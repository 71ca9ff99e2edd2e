//! End to end: the real release binary in a pseudo-terminal, against a `kycdesk
//! emulator` process, its output parsed into a screen. Prints median and p99 of each
//! figure beside its budget.
//!
//! `cargo build --release && cargo bench --bench e2e [SCENARIO]`, where SCENARIO is one
//! of `launch`, `next`, `cold`, `keys`, `bytes`, `memory` (all when left out);
//! `KYCDESK_BENCH_RUNS` sets the repeat count (default 20), `KYCDESK_BENCH_DUMP=1`
//! prints the screen each scenario waited for.
//!
//! The screen is only looked at where a frame ends: ratatui ends every frame by hiding
//! (or showing and placing) the cursor, so a condition is never judged on half a frame.

// Benchmark harness code, not shipped: a failed setup may stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration as Days, TimeZone, Utc};
use kycdesk::domain::{CaseRef, Lane, ProviderId, QueueEntry, QueueStatus, SafeText};
use kycdesk::store::{SqliteStore, Store};
use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const COLS: u16 = 200;
const ROWS: u16 = 50;
/// Upper bound for anything to appear on screen; outcomes are waited for, never slept on.
const PATIENCE: Duration = Duration::from_secs(60);
/// Keys of a storm are sent at most this often (20 a second).
const KEY_PACE: Duration = Duration::from_millis(50);
const LATENCY_MS: u64 = 150;

fn bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/kycdesk")
}

fn dump() -> bool {
    std::env::var_os("KYCDESK_BENCH_DUMP").is_some_and(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------
// processes

/// A `kycdesk emulator --write-config` process, stopped on drop.
struct Emulator {
    child: Child,
    base_url: String,
    config: PathBuf,
}

impl Emulator {
    fn start(dir: &Path, cases: usize, latency_ms: u64) -> Self {
        let config = dir.join("kycdesk.toml");
        let mut child = Command::new(bin())
            .args(["emulator", "--listen", "127.0.0.1:0", "--cases", &cases.to_string()])
            .args(["--latency-ms", &latency_ms.to_string(), "--write-config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kycdesk emulator");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("emulator printed nothing").unwrap();
        let base_url = first.strip_prefix("kycdesk emulator listening on ").expect(&first).trim().to_string();
        let second = lines.next().expect("no config line").unwrap();
        assert!(second.contains("wrote kycdesk config"), "{second}");
        // Whatever it prints later must not fill the pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base_url, config }
    }

    /// The provider requests it has served (`/_emulator/requests`).
    fn served(&self) -> Vec<kycdesk::emulator::Served> {
        let host = self.base_url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(stream, "GET /_emulator/requests HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (_, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        serde_json::from_str(body).expect("the served requests")
    }

    /// The written config with `top` (top-level keys) put before its first table.
    fn config_with(&self, dir: &Path, name: &str, top: &str) -> PathBuf {
        let written = std::fs::read_to_string(&self.config).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, format!("{top}\n{written}")).unwrap();
        // It holds the emulator's credentials inline: kycdesk wants it private.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        path
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary home for one console: store, log, XDG directories.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("kycdesk-e2e").tempdir().unwrap();
        for d in ["home", "config", "data", "state", "cache"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn store(&self) -> PathBuf {
        self.path().join("store.sqlite3")
    }

    fn env(&self, images: &str) -> Vec<(String, String)> {
        let d = |s: &str| self.path().join(s).display().to_string();
        vec![
            ("HOME".into(), d("home")),
            ("XDG_CONFIG_HOME".into(), d("config")),
            ("XDG_DATA_HOME".into(), d("data")),
            ("XDG_STATE_HOME".into(), d("state")),
            ("XDG_CACHE_HOME".into(), d("cache")),
            ("KYCDESK_STORE".into(), d("store.sqlite3")),
            ("KYCDESK_LOG".into(), d("log")),
            ("KYCDESK_ANALYST".into(), "bench".into()),
            ("KYCDESK_IMAGES".into(), images.into()),
            ("TERM".into(), "xterm-256color".into()),
            ("COLORTERM".into(), "truecolor".into()),
        ]
    }

    /// `n` pending ComplyCube cases in the store (the schema is made by opening it).
    /// ComplyCube's scan is never complete, so the console's poll does not close them.
    fn seed(&self, n: usize) {
        let store = SqliteStore::open(&self.store()).expect("open the store");
        let base = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let batch = 50_000;
        for start in (0..n).step_by(batch) {
            let entries: Vec<QueueEntry> = (start..(start + batch).min(n))
                .map(|i| QueueEntry {
                    case_ref: CaseRef::new(ProviderId::ComplyCube, format!("{i:024x}")),
                    applicant: SafeText::new(&format!("Applicant Number {i}")),
                    check_type: SafeText::new("identity"),
                    why_referred: SafeText::new("liveness check, facial similarity"),
                    received_at: base + Days::seconds((i % 86_400) as i64),
                    status: QueueStatus::Pending,
                    lane: Lane::New,
                    note: None,
                })
                .collect();
            store.upsert_queue(&entries).expect("seed the queue");
        }
    }
}

// ---------------------------------------------------------------------------------
// the console in a pseudo-terminal

/// One complete frame as the screen showed it when its last byte had been read.
#[derive(Clone)]
struct Frame {
    seq: u64,
    screen: vt100::Screen,
    /// When the first byte of this frame was read.
    started: Instant,
    /// When its last byte (the cursor sequence that ends a frame) was read.
    ended: Instant,
    /// Bytes read from the terminal up to the end of this frame, since the start.
    bytes: u64,
    /// Graphics sequences read up to the end of this frame: sixel pictures (DCS,
    /// `ESC P`) and kitty commands (APC, `ESC _`). The screen cannot show a sixel.
    dcs: u64,
    apc: u64,
}

struct Shared {
    frames: VecDeque<Frame>,
    seq: u64,
    bytes: u64,
    dcs: u64,
    apc: u64,
    eof: bool,
    /// The screen when the program closed the terminal (it may not end a frame).
    at_exit: String,
}

const FRAMES_KEPT: usize = 1024;
/// `ESC [ ? 2 5 l` and `ESC [ ? 2 5 h`: hide or show the cursor, the end of a frame.
const HIDE: u64 = 0x1b5b_3f32_356c;
const SHOW: u64 = 0x1b5b_3f32_3568;
/// `ESC [ 5 n`: device status report, the end of the image-protocol query.
const DSR: u64 = 0x1b5b_356e;

/// The release binary in a pseudo-terminal. A thread reads what it writes, timestamps
/// each read, counts the bytes and parses them into a screen. Killed on drop.
struct Console {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    pub spawned: Instant,
}

impl Console {
    fn start(config: &Path, env: &[(String, String)], cols: u16, rows: u16) -> Self {
        let bin = bin();
        assert!(bin.exists(), "{} is missing: run `cargo build --release` first", bin.display());
        let pty = native_pty_system()
            .openpty(PtySize { rows, cols, pixel_width: cols * 10, pixel_height: rows * 20 })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(&bin);
        cmd.arg("--config");
        cmd.arg(config);
        cmd.arg("console");
        cmd.env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut reader = pty.master.try_clone_reader().unwrap();
        let writer: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(pty.master.take_writer().unwrap()));
        let shared = Arc::new((
            Mutex::new(Shared {
                frames: VecDeque::new(),
                seq: 0,
                bytes: 0,
                dcs: 0,
                apc: 0,
                eof: false,
                at_exit: String::new(),
            }),
            Condvar::new(),
        ));
        let spawned = Instant::now();
        let child = pty.slave.spawn_command(cmd).expect("spawn the console");
        drop(pty.slave);
        let (sh, answer) = (Arc::clone(&shared), Arc::clone(&writer));
        std::thread::spawn(move || {
            let mut parser = vt100::Parser::new(rows, cols, 0);
            let mut buf = vec![0u8; 1 << 16];
            let mut tail: u64 = 0;
            let mut started: Option<Instant> = None;
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let now = Instant::now();
                let started_at = *started.get_or_insert(now);
                let (lock, cvar) = &*sh;
                let mut s = lock.lock().unwrap();
                let mut from = 0;
                let mut query = false;
                let mut frame_started = started_at;
                for i in 0..n {
                    tail = ((tail << 8) | u64::from(buf[i])) & 0xffff_ffff_ffff;
                    if tail & 0xffff_ffff == DSR {
                        query = true;
                    }
                    match tail & 0xffff {
                        0x1b50 => s.dcs += 1,
                        0x1b5f => s.apc += 1,
                        _ => {}
                    }
                    if tail == HIDE || tail == SHOW {
                        parser.process(&buf[from..=i]);
                        s.bytes += (i + 1 - from) as u64;
                        from = i + 1;
                        s.seq += 1;
                        let frame = Frame {
                            seq: s.seq,
                            screen: parser.screen().clone(),
                            started: frame_started,
                            ended: now,
                            bytes: s.bytes,
                            dcs: s.dcs,
                            apc: s.apc,
                        };
                        s.frames.push_back(frame);
                        if s.frames.len() > FRAMES_KEPT {
                            s.frames.pop_front();
                        }
                        // The next frame starts with the next byte, read now.
                        frame_started = now;
                        started = None;
                    }
                }
                if from < n {
                    parser.process(&buf[from..n]);
                    s.bytes += (n - from) as u64;
                    started = Some(frame_started);
                }
                drop(s);
                cvar.notify_all();
                if query {
                    // The picker asks for the cell size and ends with a status report;
                    // answer as a terminal of 10x20-pixel cells that draws neither
                    // kitty nor sixel on its own (a forced protocol is kept).
                    let mut w = answer.lock().unwrap();
                    let _ = w.write_all(b"\x1b[6;20;10t\x1b[0n");
                    let _ = w.flush();
                }
            }
            let (lock, cvar) = &*sh;
            let mut s = lock.lock().unwrap();
            s.eof = true;
            s.at_exit = parser.screen().contents();
            drop(s);
            cvar.notify_all();
        });
        Self { child, _master: pty.master, writer, shared, spawned }
    }

    /// Writes `bytes` as typed keys; returns when they were written.
    fn send(&self, bytes: &[u8]) -> Instant {
        let mut w = self.writer.lock().unwrap();
        let at = Instant::now();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
        at
    }

    /// Frames completed so far.
    fn seq(&self) -> u64 {
        self.shared.0.lock().unwrap().seq
    }

    /// Bytes read from the terminal so far.
    fn bytes(&self) -> u64 {
        self.shared.0.lock().unwrap().bytes
    }

    fn last_frame(&self) -> Option<Frame> {
        self.shared.0.lock().unwrap().frames.back().cloned()
    }

    /// The first frame after frame `after` that satisfies `pred`.
    fn wait_for(&self, after: u64, what: &str, pred: impl Fn(&Frame) -> bool) -> Frame {
        self.try_wait_for(after, PATIENCE, &pred).unwrap_or_else(|| {
            let last = self.last_frame();
            let screen = last.as_ref().map(|f| f.screen.contents()).unwrap_or_default();
            let (seq, dcs, apc) = last.map(|f| (f.seq, f.dcs, f.apc)).unwrap_or_default();
            panic!("timed out waiting for {what} (after frame {after}; frame {seq}, {dcs} DCS, {apc} APC); screen:\n{screen}")
        })
    }

    fn try_wait_for(&self, after: u64, patience: Duration, pred: &impl Fn(&Frame) -> bool) -> Option<Frame> {
        let deadline = Instant::now() + patience;
        let (lock, cvar) = &*self.shared;
        let mut s = lock.lock().unwrap();
        let mut seen = after;
        loop {
            let from = seen;
            for f in s.frames.iter().filter(|f| f.seq > from) {
                if pred(f) {
                    return Some(f.clone());
                }
                seen = f.seq;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            if s.eof {
                panic!("the console exited; last screen:\n{}", s.at_exit);
            }
            s = cvar.wait_timeout(s, deadline - now).unwrap().0;
        }
    }

    /// Peak resident memory (VmHWM) of the console, in bytes.
    fn peak_rss(&self) -> u64 {
        let pid = self.child.process_id().expect("the console's pid");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kb * 1024
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------
// reading the screen

fn rows(screen: &vt100::Screen) -> Vec<String> {
    screen.rows(0, COLS).collect()
}

/// "Queue 1/N" in the queue pane's title: N.
fn queue_len(screen: &vt100::Screen) -> Option<usize> {
    let text = screen.contents();
    let at = text.find(" Queue ")? + " Queue ".len();
    let rest = &text[at..];
    let (_, n) = rest.split_once('/')?;
    let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The queue pane with all `cases` (or more) counted and its rows drawn.
fn queue_shown(screen: &vt100::Screen, cases: usize) -> bool {
    queue_len(screen).is_some_and(|n| n >= cases) && queue_rows(screen) > 10
}

/// Queue rows on screen: lines naming a provider after the border.
fn queue_rows(screen: &vt100::Screen) -> usize {
    const PROVIDERS: [&str; 5] = ["ComplyCube", "Credas", "IDWise", "Sumsub", "FrankieOne"];
    rows(screen)
        .iter()
        .filter(|l| {
            let row = l.trim_start_matches('│').trim_start_matches(['▶', '●', ' ']);
            PROVIDERS.iter().any(|p| row.starts_with(p))
        })
        .count()
}

/// The case view's title (the details pane's top border), when the case view shows.
fn case_title(screen: &vt100::Screen) -> Option<String> {
    let rows = rows(screen);
    let row = rows.iter().find(|r| r.starts_with('┌'))?;
    if row.contains(" Queue ") {
        return None;
    }
    Some(row.chars().take(usize::from(COLS) * 55 / 100).collect())
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Images {
    Halfblocks,
    Kitty,
    Sixel,
    Off,
}

impl Images {
    fn name(self) -> &'static str {
        match self {
            Images::Halfblocks => "halfblocks",
            Images::Kitty => "kitty",
            Images::Sixel => "sixel",
            Images::Off => "off",
        }
    }
}

fn cell(screen: &vt100::Screen, row: u16, col: u16) -> &str {
    screen.cell(row, col).map(vt100::Cell::contents).unwrap_or("")
}

/// An image pane beside the details, as the screen shows it.
struct Pane {
    text: String,
    /// Half-block cells (▀ ▄).
    blocks: usize,
    /// Rows with kitty's unicode placeholder cells.
    placeholder_rows: usize,
}

impl Pane {
    /// The pane says why it has no picture (none in the case, images off, an error).
    fn says_none(&self) -> bool {
        self.text.contains("no image") || self.text.contains("image not") || self.text.contains("hidden")
    }
}

/// The image panes beside the details; none for a case without images (a screening
/// check), whose details take the width.
fn panes(screen: &vt100::Screen) -> Vec<Pane> {
    let (rows_n, cols_n) = screen.size();
    let Some(top) = (0..rows_n).find(|r| cell(screen, *r, 0) == "┌") else {
        return vec![];
    };
    // The document pane's corner on the details' top border.
    let Some(split) = (COLS / 3..cols_n).find(|c| cell(screen, top, *c) == "┌") else {
        return vec![];
    };
    let tops: Vec<u16> = (top..rows_n).filter(|r| cell(screen, *r, split) == "┌").collect();
    tops.iter()
        .map(|&pane_top| {
            let mut pane = Pane { text: String::new(), blocks: 0, placeholder_rows: 0 };
            for r in pane_top + 1..rows_n {
                if cell(screen, r, split) == "└" {
                    break;
                }
                let mut placeholders = false;
                for c in split + 1..cols_n.saturating_sub(1) {
                    let s = cell(screen, r, c);
                    match s {
                        "▀" | "▄" => pane.blocks += 1,
                        _ if s.contains('\u{10EEEE}') => placeholders = true,
                        _ => {}
                    }
                    pane.text.push_str(if s.is_empty() { " " } else { s });
                }
                pane.placeholder_rows += usize::from(placeholders);
                pane.text.push('\n');
            }
            pane
        })
        .collect()
}

/// Graphics sequences read up to some point, to tell what a later frame added.
#[derive(Clone, Copy, Default)]
struct Marks {
    dcs: u64,
    apc: u64,
}

impl Marks {
    fn of(frame: Option<&Frame>) -> Self {
        frame.map(|f| Marks { dcs: f.dcs, apc: f.apc }).unwrap_or_default()
    }
}

/// The details pane's text below its title: what tells one case from another.
fn details_text(screen: &vt100::Screen) -> String {
    let width = usize::from(COLS) * 55 / 100;
    let rows = rows(screen);
    let Some(top) = rows.iter().position(|r| r.starts_with('┌')) else {
        return String::new();
    };
    rows[top + 1..]
        .iter()
        .take_while(|r| !r.starts_with('└'))
        .map(|r| r.chars().take(width).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The case view shows a case's details (not "Loading the case…").
fn details_ready(screen: &vt100::Screen) -> bool {
    let text = screen.contents();
    case_title(screen).is_some() && !text.contains("Loading the case…") && !text.contains("could not be loaded")
}

/// The case view shows a case whole: its details, and every image pane its picture or
/// why there is none. Half blocks and kitty placeholders are cells on the screen; a
/// sixel is not (the cells under it are skipped and keep what was there), so a sixel
/// pane counts as drawn once a sixel was written for it since `base`.
fn case_ready(frame: &Frame, base: Marks, mode: Images) -> bool {
    if !details_ready(&frame.screen) {
        return false;
    }
    let panes = panes(&frame.screen);
    match mode {
        Images::Sixel => {
            let pictures = panes.iter().filter(|p| !p.says_none()).count() as u64;
            frame.dcs - base.dcs >= pictures
        }
        _ => panes.iter().all(|p| {
            !p.text.contains("loading image…")
                && match mode {
                    Images::Halfblocks => p.says_none() || p.blocks >= 20,
                    Images::Kitty => p.says_none() || p.placeholder_rows >= 3,
                    Images::Sixel | Images::Off => true,
                }
        }),
    }
}

fn show(what: &str, frame: &Frame) {
    if dump() {
        eprintln!("---- {what} ----\n{}\n----", frame.screen.contents());
    }
}

// ---------------------------------------------------------------------------------
// figures

#[derive(Clone)]
enum Budget {
    AtMostMs(f64),
    AtMostMb(f64),
    Report,
}

struct Row {
    name: String,
    /// Sorted samples.
    samples: Vec<f64>,
    unit: &'static str,
    budget: Budget,
    /// The budget is judged on the p99 (else on the median).
    on_p99: bool,
    note: String,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn add(&mut self, name: &str, mut samples: Vec<f64>, unit: &'static str, budget: Budget, on_p99: bool) {
        samples.sort_by(f64::total_cmp);
        let row = Row { name: name.into(), samples, unit, budget, on_p99, note: String::new() };
        println!("{}", line(&row));
        self.rows.push(row);
    }

    fn note(&mut self, name: &str, note: &str) {
        let row = Row {
            name: name.into(),
            samples: vec![],
            unit: "",
            budget: Budget::Report,
            on_p99: false,
            note: note.into(),
        };
        println!("{}", line(&row));
        self.rows.push(row);
    }

    fn misses(&mut self, name: &str, missed: usize) {
        if missed > 0 {
            self.note(name, &missed.to_string());
        }
    }

    fn median(&self, name: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.name == name).map(|r| percentile(&r.samples, 50.0))
    }
}

fn fmt(v: f64, unit: &str) -> String {
    if v.is_nan() {
        return "-".into();
    }
    match unit {
        "ms" => format!("{v:.1} ms"),
        "B" if v >= 10_000.0 => format!("{:.1} KB", v / 1000.0),
        "B" => format!("{v:.0} B"),
        "MB" => format!("{:.0} MB", v),
        _ => format!("{v:.1}"),
    }
}

fn line(r: &Row) -> String {
    if r.samples.is_empty() && !r.note.is_empty() {
        return format!("{:<66} {}", r.name, r.note);
    }
    let (med, p99) = (percentile(&r.samples, 50.0), percentile(&r.samples, 99.0));
    let judged = if r.on_p99 { p99 } else { med };
    let (budget, verdict) = match &r.budget {
        Budget::AtMostMs(b) => (format!("≤ {b} ms{}", if r.on_p99 { " (p99)" } else { "" }), judged <= *b),
        Budget::AtMostMb(b) => (format!("≤ {b} MB{}", if r.on_p99 { " (peak)" } else { "" }), judged <= *b),
        Budget::Report => ("(report)".into(), true),
    };
    let verdict = match (&r.budget, r.samples.is_empty()) {
        (_, true) => "",
        (Budget::Report, _) => "",
        (_, false) if verdict => "ok",
        _ => "MISSED",
    };
    format!(
        "{:<66} {:>11} {:>11} {:>4}  {:<22} {:<6} {}",
        r.name,
        fmt(med, r.unit),
        fmt(p99, r.unit),
        r.samples.len(),
        budget,
        verdict,
        r.note
    )
}

fn header() {
    println!("{:<66} {:>11} {:>11} {:>4}  {:<22} {:<6}", "figure", "median", "p99", "runs", "budget", "");
}

// ---------------------------------------------------------------------------------
// scenarios

/// Launch → the first frame with the queue's rows, `cases` seeded in the store.
fn launch(runs: usize, cases: usize, home: &Home, emu: &Emulator) -> (Vec<f64>, Vec<f64>) {
    let (mut times, mut peaks) = (vec![], vec![]);
    for run in 0..runs {
        let console = Console::start(&emu.config, &home.env("off"), COLS, ROWS);
        let frame = console.wait_for(0, "the queue", |f| queue_shown(&f.screen, cases));
        times.push(ms(frame.ended - console.spawned));
        if run == 0 {
            show(&format!("queue of {cases}"), &frame);
        }
        peaks.push(console.peak_rss() as f64 / 1e6);
    }
    (times, peaks)
}

/// Peak RSS after the queue has been walked to the bottom and back.
fn memory(runs: usize, cases: usize, home: &Home, emu: &Emulator) -> Vec<f64> {
    let mut peaks = vec![];
    for _ in 0..runs {
        let console = Console::start(&emu.config, &home.env("off"), COLS, ROWS);
        let f = console.wait_for(0, "the queue", |f| queue_shown(&f.screen, cases));
        let n = queue_len(&f.screen).unwrap();
        let seq = console.seq();
        console.send(b"G");
        let bottom = format!(" Queue {n}/");
        console.wait_for(seq, "the bottom of the queue", |f| f.screen.contents().contains(&bottom));
        let seq = console.seq();
        console.send(b"g");
        console.wait_for(seq, "the top of the queue", |f| f.screen.contents().contains(" Queue 1/"));
        // Held past one queue reload (every 5 s), when the old and new queue coexist.
        std::thread::sleep(Duration::from_secs(6));
        peaks.push(console.peak_rss() as f64 / 1e6);
    }
    peaks
}

/// A console on the case view of the first case, whole on screen.
fn open_first(config: &Path, home: &Home, mode: Images) -> Console {
    let console = Console::start(config, &home.env(mode.name()), COLS, ROWS);
    console.wait_for(0, "the queue", |f| queue_rows(&f.screen) > 5);
    let (seq, base) = (console.seq(), Marks::of(console.last_frame().as_ref()));
    console.send(b"\r");
    // Its details at least; a picture that never comes is counted by the switches.
    console.wait_for(seq, "the first case", |f| details_ready(&f.screen));
    if let Some(f) = console.try_wait_for(seq, SWITCH_PATIENCE, &|f: &Frame| case_ready(f, base, mode)) {
        show(&format!("first case ({})", mode.name()), &f);
    }
    console
}

/// How long a switch may take before it counts as a case never shown whole.
const SWITCH_PATIENCE: Duration = Duration::from_secs(10);

struct Switch {
    /// Whether the next case was shown whole within [`SWITCH_PATIENCE`].
    shown: bool,
    /// Key written → the frame that shows the next case whole (or the last frame).
    whole: Duration,
    /// Bytes the terminal received for it.
    bytes: u64,
    /// Sixel pictures and kitty graphics commands among them.
    graphics: u64,
}

/// Presses `key` and waits for another case, whole on screen; when it is not whole
/// within [`SWITCH_PATIENCE`], what the panes show is printed and the figures are up
/// to the last frame.
fn switch(console: &Console, key: &[u8], mode: Images) -> Switch {
    let last = console.last_frame();
    let before = last.as_ref().and_then(|f| case_title(&f.screen));
    let before_details = last.as_ref().map(|f| details_text(&f.screen)).unwrap_or_default();
    let (seq, bytes, base) = (console.seq(), console.bytes(), Marks::of(last.as_ref()));
    let at = console.send(key);
    // Another title, and details that are not the last case's under it.
    let whole = |f: &Frame| {
        case_title(&f.screen) != before && details_text(&f.screen) != before_details && case_ready(f, base, mode)
    };
    let Some(f) = console.try_wait_for(seq, SWITCH_PATIENCE, &whole) else {
        let last = console.last_frame().unwrap();
        let pending: Vec<String> = panes(&last.screen)
            .iter()
            .map(|p| {
                let words: String = p.text.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
                let words: String = words.chars().filter(|c| *c != '\u{10EEEE}' && *c < '\u{300}').take(30).collect();
                format!("{words:?}, {} half blocks, {} rows of kitty placeholders", p.blocks, p.placeholder_rows)
            })
            .collect();
        eprintln!(
            "  {}: case not whole {} s after the key ({} sixel since); image panes: {}",
            mode.name(),
            SWITCH_PATIENCE.as_secs(),
            last.dcs - base.dcs,
            pending.join(" | ")
        );
        let graphics = (last.dcs - base.dcs) + (last.apc - base.apc);
        return Switch { shown: false, whole: last.ended - at, bytes: last.bytes - bytes, graphics };
    };
    let graphics = (f.dcs - base.dcs) + (f.apc - base.apc);
    Switch { shown: true, whole: f.ended - at, bytes: f.bytes - bytes, graphics }
}

/// Case switches with what is around the case prefetched: `n`, then time for the
/// prefetch of the cases ahead to arrive. Also how many switches never showed whole.
fn next_case(runs: usize, config: &Path, home: &Home, mode: Images, settle: Duration) -> Vec<Switch> {
    let console = open_first(config, home, mode);
    std::thread::sleep(settle);
    let mut out = vec![];
    for i in 0..runs {
        out.push(switch(&console, b"n", mode));
        if i == 0 {
            show("next case", &console.last_frame().unwrap());
        }
        // Pacing only: the cases ahead are fetched and decoded meanwhile.
        std::thread::sleep(settle);
    }
    out
}

fn missed(switches: &[Switch]) -> usize {
    switches.iter().filter(|s| !s.shown).count()
}

/// Milliseconds of the switches that showed the case whole.
fn shown_ms(switches: &[Switch]) -> Vec<f64> {
    switches.iter().filter(|s| s.shown).map(|s| ms(s.whole)).collect()
}

/// A case opened cold from the queue: every run opens a case `step` rows further down,
/// out of reach of what was prefetched before. Enter → details, and → details + images.
fn cold(runs: usize, emu: &Emulator, config: &Path, home: &Home, apart: Duration) -> Vec<Cold> {
    let mode = Images::Halfblocks;
    let console = Console::start(config, &home.env(mode.name()), COLS, ROWS);
    console.wait_for(0, "the queue", |f| queue_rows(&f.screen) > 5);
    let step = 5;
    let mut out = vec![];
    for i in 0..runs {
        for _ in 0..step {
            let seq = console.seq();
            console.send(b"j");
            console.wait_for(seq, "the queue to move", |_| true);
        }
        // Let a move's frame arrive before opening, so the open is timed alone.
        std::thread::sleep(KEY_PACE);
        let (seq, base) = (console.seq(), Marks::of(console.last_frame().as_ref()));
        let epoch_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        let from_ms = epoch_ms() as u64;
        let at = console.send(b"\r");
        let d = console.wait_for(seq, "a cold case's details", |f| details_ready(&f.screen));
        let f = console.wait_for(seq, "a cold case whole", |f| case_ready(f, base, mode));
        let to_ms = from_ms + (f.ended - at).as_millis() as u64;
        if i == 0 {
            show("cold case", &f);
        }
        let title = case_title(&f.screen).unwrap_or_default();
        assert!(out.iter().all(|c: &Cold| c.title != title), "opened {title} twice: the queue is too short");
        let provider = title.trim_start_matches(['┌', ' ']).split(':').next().unwrap_or("").to_string();
        // What the provider served meanwhile: this case's requests and the prefetch's.
        let requests = emu
            .served()
            .iter()
            .filter(|r| r.provider.eq_ignore_ascii_case(&provider) && (from_ms..=to_ms).contains(&r.at_ms))
            .count() as f64;
        out.push(Cold { provider, title, details: ms(d.ended - at), whole: ms(f.ended - at), requests });
        let seq = console.seq();
        console.send(b"\x1b");
        console.wait_for(seq, "back to the queue", |f| case_title(&f.screen).is_none() && queue_rows(&f.screen) > 5);
        // Pacing only: `apart` between one open's end and the next open.
        std::thread::sleep(apart);
    }
    out
}

struct Cold {
    provider: String,
    title: String,
    /// Requests its provider served between Enter and the case whole on screen.
    requests: f64,
    details: f64,
    whole: f64,
}

/// The cold opens as figures: all, then each provider's.
fn report_cold(report: &mut Report, label: &str, tag: &str, opens: &[Cold]) {
    let all = |f: fn(&Cold) -> f64| opens.iter().map(f).collect::<Vec<f64>>();
    report.add(&format!("{label} → details"), all(|c| c.details), "ms", Budget::Report, false);
    report.add(&format!("{label} → details + images"), all(|c| c.whole), "ms", Budget::AtMostMs(500.0), false);
    let mut providers: Vec<&str> = opens.iter().map(|c| c.provider.as_str()).collect();
    providers.sort_unstable();
    providers.dedup();
    for p in providers {
        let whole: Vec<f64> = opens.iter().filter(|c| c.provider == p).map(|c| c.whole).collect();
        report.add(&format!("  {p}, {tag} → details + images"), whole, "ms", Budget::AtMostMs(500.0), false);
        let requests: Vec<f64> = opens.iter().filter(|c| c.provider == p).map(|c| c.requests).collect();
        report.add(&format!("    {p} requests served meanwhile (all kinds)"), requests, "", Budget::Report, false);
    }
}

/// Keys at 20 a second in the case view, while cases load and images decode: n n n p.
/// Each key → the first byte of the first frame that shows the other case's title.
fn key_storm(keys: usize, config: &Path, home: &Home) -> (Vec<f64>, Vec<f64>, usize) {
    let console = open_first(config, home, Images::Halfblocks);
    let (mut first_byte, mut whole_frame, mut missed) = (vec![], vec![], 0);
    for i in 0..keys {
        let key: &[u8] = if i % 4 == 3 { b"p" } else { b"n" };
        let before = console.last_frame().and_then(|f| case_title(&f.screen));
        let seq = console.seq();
        let at = console.send(key);
        let changed = |f: &Frame| case_title(&f.screen).is_some() && case_title(&f.screen) != before;
        match console.try_wait_for(seq, Duration::from_secs(2), &changed) {
            Some(f) => {
                // A frame begun before the key was written cannot show it; its bytes
                // were still being read, so the key's own output begins at most then.
                first_byte.push(ms(f.started.max(at) - at));
                whole_frame.push(ms(f.ended - at));
            }
            None => missed += 1,
        }
        let next = at + KEY_PACE;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    (first_byte, whole_frame, missed)
}

/// Whether the console takes `prefetch = 0` (the option is being added on main).
fn takes_prefetch_option(config: &Path, home: &Home) -> Result<(), String> {
    let out = Command::new(bin())
        .arg("--config")
        .arg(config)
        .arg("list")
        .envs(home.env("off"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("unknown field `prefetch`") {
        Err("this build rejects `prefetch = 0` (unknown field)".into())
    } else {
        Ok(())
    }
}

fn runs() -> usize {
    std::env::var("KYCDESK_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(20)
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let runs = runs();
    assert!(bin().exists(), "{} is missing: run `cargo build --release` first", bin().display());
    println!("kycdesk end to end: {} in a {COLS}x{ROWS} pty, {runs} runs", bin().display());
    header();
    let mut report = Report { rows: vec![] };

    if wanted("launch") || wanted("memory") {
        let emu_dir = Home::new();
        let emu = Emulator::start(emu_dir.path(), 3, LATENCY_MS);
        for cases in [10_000, 100_000, 1_000_000] {
            let home = Home::new();
            home.seed(cases);
            let count = |n: usize| match n {
                10_000 => "10,000",
                100_000 => "100,000",
                _ => "1,000,000",
            };
            if wanted("launch") {
                let runs = if cases >= 1_000_000 { runs.min(5) } else { runs };
                let (times, _) = launch(runs, cases, &home, &emu);
                let budget = if cases == 100_000 { Budget::AtMostMs(500.0) } else { Budget::Report };
                report.add(&format!("launch → queue frame, {} cases", count(cases)), times, "ms", budget, false);
                // Where launch time goes: the store's queue read alone, in this process.
                let store = SqliteStore::open(&home.store()).unwrap();
                let reads: Vec<f64> = (0..3)
                    .map(|_| {
                        let t = Instant::now();
                        store.read_queue().unwrap();
                        ms(t.elapsed())
                    })
                    .collect();
                report.add("  of which: Store::read_queue alone (in process)", reads, "ms", Budget::Report, false);
            }
            if wanted("memory") && cases >= 100_000 {
                let peaks = memory(runs.min(3), cases, &home, &emu);
                let budget = if cases >= 1_000_000 { Budget::AtMostMb(300.0) } else { Budget::AtMostMb(150.0) };
                report.add(&format!("peak RSS (VmHWM), {} cases, G then g", count(cases)), peaks, "MB", budget, true);
            }
        }
    }

    let needs_cases = ["next", "cold", "keys", "bytes"].iter().any(|s| wanted(s));
    if needs_cases {
        let emu_dir = Home::new();
        // Cases per provider (two providers list theirs): enough rows for every cold open
        // to be a case not opened before.
        let emu = Emulator::start(emu_dir.path(), (runs * 3).max(40), LATENCY_MS);
        if wanted("next") {
            let home = Home::new();
            let settle = Duration::from_millis(1500);
            let on = next_case(runs, &emu.config, &home, Images::Halfblocks, settle);
            report.add(
                "next case whole (n), prefetch on, halfblocks",
                shown_ms(&on),
                "ms",
                Budget::AtMostMs(16.0),
                false,
            );
            report.misses("  switches not whole within 10 s", missed(&on));
            let home = Home::new();
            let off_config = emu.config_with(emu_dir.path(), "prefetch-off.toml", "prefetch = 0");
            match takes_prefetch_option(&off_config, &home) {
                Ok(()) => {
                    let off = next_case(runs, &off_config, &home, Images::Halfblocks, settle);
                    report.add(
                        "next case whole (n), prefetch off, halfblocks",
                        shown_ms(&off),
                        "ms",
                        Budget::Report,
                        false,
                    );
                    report.misses("  switches not whole within 10 s", missed(&off));
                    if let (Some(a), Some(b)) = (
                        report.median("next case whole (n), prefetch on, halfblocks"),
                        report.median("next case whole (n), prefetch off, halfblocks"),
                    ) {
                        let ratio = b / a;
                        let ok = if ratio >= 20.0 { "ok" } else { "MISSED" };
                        report
                            .note("prefetch off / prefetch on (medians)", &format!("{ratio:.1}x  budget ≥ 20x  {ok}"));
                    }
                }
                Err(why) => report.note("next case whole (n), prefetch off", &format!("pending the option: {why}")),
            }
        }
        if wanted("cold") {
            let home = Home::new();
            // One window of the providers' rate limit apart, as cold_open does; but an
            // open also prefetches the two cases after it, whose requests share the
            // provider's rate budget with the next open.
            let opens = cold(runs, &emu, &emu.config, &home, Duration::from_millis(1100));
            report_cold(&mut report, "case opened cold (Enter), 150 ms, 1.1 s apart", "1.1 s apart", &opens);
            // Far enough apart for that prefetch to have drained.
            let home = Home::new();
            let opens = cold(runs, &emu, &emu.config, &home, Duration::from_secs(4));
            report_cold(&mut report, "case opened cold (Enter), 150 ms, 4 s apart", "4 s apart", &opens);
        }
        if wanted("keys") {
            let home = Home::new();
            let (first, whole, missed) = key_storm(runs.max(20) * 4, &emu.config, &home);
            report.add("key → first byte of its frame, n/p storm at 20/s", first, "ms", Budget::AtMostMs(16.0), true);
            report.add("key → its frame complete, n/p storm at 20/s", whole, "ms", Budget::Report, true);
            report.misses("  keys with no frame showing them within 2 s", missed);
        }
        if wanted("bytes") {
            for mode in [Images::Halfblocks, Images::Kitty, Images::Sixel, Images::Off] {
                let home = Home::new();
                // Kitty and sixel switches may each wait out SWITCH_PATIENCE: fewer.
                let n = if matches!(mode, Images::Kitty | Images::Sixel) { runs.min(5) } else { runs.min(10) };
                let switches = next_case(n, &emu.config, &home, mode, Duration::from_millis(1500));
                let bytes: Vec<f64> = switches.iter().map(|s| s.bytes as f64).collect();
                let name = format!("bytes per case switch (n), {}", mode.name());
                report.add(&name, bytes, "B", Budget::Report, false);
                let graphics: Vec<u64> = switches.iter().map(|s| s.graphics).collect();
                if graphics.iter().any(|g| *g > 0) {
                    let (lo, hi) = (graphics.iter().min().unwrap(), graphics.iter().max().unwrap());
                    report.note(&format!("  {} graphics sequences per switch", mode.name()), &format!("{lo}–{hi}"));
                }
                report.misses(
                    &format!("  {} switches not whole within 10 s (bytes: all of 10 s)", mode.name()),
                    missed(&switches),
                );
            }
        }
    }

    println!();
    println!("{} figures; budgets missed: {}", report.rows.len(), {
        let missed: Vec<&str> =
            report.rows.iter().filter(|r| line(r).contains("MISSED")).map(|r| r.name.as_str()).collect();
        if missed.is_empty() { "none".to_string() } else { missed.join("; ") }
    });
}
