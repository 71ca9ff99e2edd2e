//! Bytes written to the terminal when the analyst moves to the next case (DESIGN budget:
//! small enough for a slow SSH link). Prints the figures; run with
//! `cargo bench --bench switch_bytes`.

// Benchmark harness code, not shipped: a failed setup may stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kycdesk::app::{Action, State, update};
use kycdesk::domain::{
    Applicant, Case, CaseRef, DecisionTarget, Document, Lane, Liveness, LivenessResult, MediaRef, ProviderId,
    QueueEntry, QueueStatus, SafeText, Selfie, TargetId, Verdict,
};
use kycdesk::media;
use kycdesk::providers::{MediaBytes, MediaFormat};
use kycdesk::store::OutboxCounts;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use ratatui_image::picker::Picker;
use std::cell::Cell;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;

struct Counting(Rc<Cell<usize>>);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.set(self.0.get() + buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn media_ref(key: String, label: &str) -> MediaRef {
    MediaRef { provider: ProviderId::ComplyCube, key, label: SafeText::new(label) }
}

fn case(n: usize) -> Case {
    Case {
        case_ref: CaseRef::new(ProviderId::ComplyCube, format!("case{n}")),
        check_type: SafeText::new("identity"),
        status: SafeText::new("complete / attention"),
        why_referred: SafeText::new("liveness check"),
        created_at: None,
        applicant: Applicant { name: SafeText::new(&format!("Applicant {n}")), ..Applicant::default() },
        documents: vec![Document {
            id: format!("d{n}"),
            doc_type: SafeText::new("passport"),
            country: None,
            number: None,
            expiry: None,
            holder_name: None,
            date_of_birth: None,
            sides: vec![media_ref(format!("doc/{n}/front"), "passport front")],
            fields: vec![],
        }],
        selfie: Some(Selfie {
            media: Some(media_ref(format!("live/{n}"), "live photo")),
            liveness: Liveness { result: LivenessResult::NotLive, code: None, description: SafeText::new("x") },
        }),
        rules: vec![],
        face_match: None,
        screening: vec![],
        targets: vec![DecisionTarget {
            id: TargetId::Case,
            label: SafeText::new("Whole check"),
            verdicts: vec![Verdict::Verify],
            reject_reasons: vec![],
            resubmit_steps: vec![],
            sends: vec![],
        }],
    }
}

/// The screen's half-block pictures as a PNG (two pixels a cell), in
/// `$KYCDESK_BENCH_SCREENSHOTS/switch-{name}.png` when that is set: to judge a palette by.
fn screenshot(buffer: &ratatui::buffer::Buffer, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    use ratatui::style::Color;
    let Some(dir) = std::env::var_os("KYCDESK_BENCH_SCREENSHOTS") else { return Ok(()) };
    let rgb = |c: Color| -> [u8; 3] {
        const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
        match c {
            Color::Rgb(r, g, b) => [r, g, b],
            Color::Indexed(i @ 16..=231) => {
                let i = i - 16;
                [LEVELS[usize::from(i / 36)], LEVELS[usize::from(i / 6 % 6)], LEVELS[usize::from(i % 6)]]
            }
            Color::Indexed(i @ 232..) => [8 + 10 * (i - 232); 3],
            _ => [0, 0, 0],
        }
    };
    let area = buffer.area;
    let mut png = image::RgbImage::new(u32::from(area.width), u32::from(area.height) * 2);
    for y in 0..area.height {
        for x in 0..area.width {
            let cell = &buffer[(x, y)];
            let (top, bottom) = match cell.symbol() {
                "▀" => (cell.fg, cell.bg),
                "▄" => (cell.bg, cell.fg),
                "█" => (cell.fg, cell.fg),
                _ => (cell.bg, cell.bg),
            };
            png.put_pixel(u32::from(x), u32::from(y) * 2, image::Rgb(rgb(top)));
            png.put_pixel(u32::from(x), u32::from(y) * 2 + 1, image::Rgb(rgb(bottom)));
        }
    }
    png.save(std::path::Path::new(&dir).join(format!("switch-{name}.png")))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (width, height) = (200u16, 50u16);
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).single().ok_or("time")?;
    let mut state = State::new(kycdesk::app::Settings::default(), HashMap::new(), now);
    update(&mut state, kycdesk::ui::resize(width, height));
    let entries: Vec<QueueEntry> = (0..3)
        .map(|n| QueueEntry {
            case_ref: CaseRef::new(ProviderId::ComplyCube, format!("case{n}")),
            applicant: SafeText::new(&format!("Applicant {n}")),
            check_type: SafeText::new("identity"),
            why_referred: SafeText::new("liveness check"),
            received_at: now,
            status: QueueStatus::Pending,
            lane: Lane::New,
            note: None,
        })
        .collect();
    update(&mut state, Action::QueueLoaded(Ok((entries, OutboxCounts::default()))));
    update(&mut state, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    // Everything prefetched: details and pictures of all three cases.
    let picker = Picker::halfblocks();
    let area = kycdesk::ui::layout::image_area(state.size);
    for n in 0..3usize {
        let c = case(n);
        let effects = update(&mut state, Action::CaseLoaded(c.case_ref.clone(), Ok(Box::new(c.clone()))));
        drop(effects);
        for (m, seed) in c.media().into_iter().zip(0u64..) {
            let bytes = if m.key.starts_with("live") {
                kycdesk::emulator::images::live_photo(seed + n as u64 * 10)?
            } else {
                kycdesk::emulator::images::document_side(seed + n as u64 * 10, false)?
            };
            let picture =
                media::picture(&picker, &MediaBytes { bytes: bytes.into(), format: MediaFormat::Jpeg }, area)?;
            update(&mut state, Action::MediaLoaded(m, Ok(Arc::new(picture))));
        }
    }
    let written = Rc::new(Cell::new(0usize));
    let backend = CrosstermBackend::new(Counting(Rc::clone(&written)));
    let mut terminal =
        Terminal::with_options(backend, TerminalOptions { viewport: Viewport::Fixed(Rect::new(0, 0, width, height)) })?;
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    let first = written.replace(0);
    update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE)));
    let shown = terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    screenshot(shown.buffer, "24-bit")?;
    let switch = written.replace(0);
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    let idle = written.get();
    // The same switch on a slow link (`low_bandwidth = true`).
    state.settings.low_bandwidth = true;
    update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE)));
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    written.set(0);
    update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE)));
    let shown = terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    screenshot(shown.buffer, "256-colour")?;
    let low = written.get();
    state.settings.low_bandwidth = false;
    // The same switch with images off (text only).
    state.images_enabled = false;
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    written.set(0);
    update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::NONE)));
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    let text_only = written.get();
    println!("terminal {width}x{height}, half-block images");
    println!("first full frame:        {first} bytes");
    println!("switch to the next case: {switch} bytes");
    println!("redraw with no change:   {idle} bytes");
    println!("switch, low_bandwidth:   {low} bytes");
    println!("switch with images off:  {text_only} bytes");
    Ok(())
}
