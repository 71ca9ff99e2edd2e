//! Drawing, from `&State` only: no IO, no decoding, nothing that can block a frame.

mod case;
mod dialog;
pub mod help;
pub mod layout;
mod outbox;
pub mod queue;
mod related;
pub mod theme;

use crate::app::keymap::Context;
use crate::app::{Modal, PromptKind, Screen, State};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// What mask mode shows instead of personal data.
pub const MASKED: &str = "▒▒▒▒▒▒";

/// A case as the screen names it: in mask mode the provider only, since the id is the
/// provider's handle on the person.
/// `1 case`, `2 cases`: counts said in words.
pub fn plural(n: usize, one: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
}

pub fn shown_ref(mask: bool, case_ref: &crate::domain::CaseRef) -> String {
    if mask { format!("{}:{MASKED}", case_ref.provider) } else { case_ref.to_string() }
}

/// An id of the person (case, applicant, hit) as the screen shows it.
pub fn shown_id(mask: bool, id: &str) -> String {
    if mask { MASKED.to_string() } else { id.to_string() }
}

/// The smallest terminal every screen is laid out for.
pub const MIN_SIZE: (u16, u16) = (40, 10);

pub fn draw(frame: &mut Frame<'_>, state: &State) {
    let size = frame.area();
    if size.width < MIN_SIZE.0 || size.height < MIN_SIZE.1 {
        let text = format!("terminal too small: {}x{} (need {}x{})", size.width, size.height, MIN_SIZE.0, MIN_SIZE.1);
        let text = Paragraph::new(text).style(state.theme().error()).wrap(ratatui::widgets::Wrap { trim: true });
        frame.render_widget(text, size);
        return;
    }
    let areas = layout::frame(size);
    title_bar(frame, state, areas.title);
    match state.screen {
        Screen::Queue => queue::draw(frame, state, areas.body),
        Screen::Case => case::draw(frame, state, areas.body),
    }
    status_bar(frame, state, areas.status);
    for modal in &state.modals {
        match modal {
            Modal::Help { scroll } => help::draw(frame, state, areas.body, *scroll),
            Modal::Decision(d) => dialog::draw(frame, state, d, areas.body),
            Modal::Results(r) => dialog::draw_results(frame, state, r, areas.body),
            Modal::Outbox(o) => outbox::draw(frame, state, o, areas.body),
            Modal::Image(v) => case::draw_viewer(frame, state, v, areas.body),
            // Prompts live in the status line, drawn there.
            Modal::Prompt(_) => {}
        }
    }
}

/// The resize action for a terminal size: `update` learns where images go from it.
pub fn resize(width: u16, height: u16) -> crate::app::Action {
    let size = Rect::new(0, 0, width, height);
    let image_area = layout::image_area(size);
    let viewer = layout::inner(layout::frame(size).body);
    let viewer_area = Rect::new(0, 0, viewer.width, viewer.height.saturating_sub(1));
    crate::app::Action::Resize { width, height, image_area, viewer_area }
}

fn title_bar(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let width = |t: &str| unicode_width::UnicodeWidthStr::width(t);
    let room = usize::from(area.width);
    let mut spans = vec![Span::styled(" kycdesk ", state.theme().title())];
    let lanes: Vec<String> = state.view.lane_counts.iter().map(|(lane, n)| format!("{n} {}", lane.label())).collect();
    let lanes = if lanes.is_empty() { "0 pending".to_string() } else { lanes.join(" · ") };
    spans.push(Span::raw(format!("  {lanes}")));
    if state.read_only {
        spans.push(Span::styled("  READ-ONLY", state.theme().key()));
    }
    if state.mask {
        spans.push(Span::styled("  MASKED", state.theme().key()));
    }
    let used = |spans: &[Span<'_>]| spans.iter().map(|s| width(s.content.as_ref())).sum::<usize>();
    // The banner (where the demo's emulator listens) is shown whole or in its last part,
    // never cut inside an address; the per-provider counts only where there is room.
    let banner = &state.settings.banner;
    if !banner.is_empty() {
        let last = banner.rsplit(" · ").next().unwrap_or(banner);
        let fits = [banner.as_str(), last].into_iter().find(|b| used(&spans) + 2 + width(b) <= room);
        if let Some(b) = fits {
            spans.push(Span::styled(format!("  {b}"), state.theme().dim()));
        }
    }
    let providers: Vec<String> =
        state.view.provider_counts.iter().map(|(p, n)| format!("{} {n}", p.display_name())).collect();
    let providers = format!("  │ {}", providers.join(" · "));
    if !state.view.provider_counts.is_empty() && used(&spans) + width(&providers) <= room {
        spans.push(Span::styled(providers, state.theme().dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_bar(frame: &mut Frame<'_>, state: &State, area: Rect) {
    if let Some(prompt) = state.prompt() {
        let (lead, hint) = match prompt.kind {
            PromptKind::Filter => ("/", format!("  {} of {}", state.view.rows.len(), state.queue.len())),
            PromptKind::Command => (":", String::new()),
            PromptKind::DropReason => ("why drop it? ", String::new()),
        };
        let keys = state.settings.keys.hints(Context::Prompt);
        let line = Line::from(vec![
            Span::styled(lead, state.theme().key()),
            Span::raw(prompt.text.clone()),
            Span::styled("█", state.theme().dim()),
            Span::styled(hint, state.theme().label()),
            Span::styled(format!("   {keys}"), state.theme().dim()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let cursor_x = area.x + (lead.chars().count() + prompt.text.chars().count()) as u16;
        frame.set_cursor_position((cursor_x.min(area.right().saturating_sub(1)), area.y));
        return;
    }
    let c = &state.counts;
    let narrow = area.width < 110;
    let mut right = if narrow {
        format!("{} waiting · {} refused", c.saved, c.failed)
    } else {
        format!("outbox: {} waiting · {} sent · {} refused", c.saved, c.sent, c.failed)
    };
    if c.escalated > 0 && !narrow {
        right.push_str(&format!(" · {} escalated locally", c.escalated));
    }
    // Rows the store could not read are left out of the queue: never silently.
    if !state.skipped_rows.is_empty() {
        let n = state.skipped_rows.len();
        right = format!("⚠ {n} unreadable row{} skipped │ {right}", if n == 1 { "" } else { "s" });
    }
    // Decisions to a degraded provider wait for a probe to get through: say so first.
    if !c.degraded.is_empty() {
        let names: Vec<&str> = c.degraded.iter().map(|p| p.display_name()).collect();
        right = if narrow {
            format!("⚠ {} degraded · {right}", names.join(", "))
        } else {
            format!("⚠ {} degraded: sending paused, probing │ {right}", names.join(", "))
        };
    }
    if let Some(u) = state.last_undo()
        && let Some(left) = state.seconds_left(u)
    {
        let key = state.settings.keys.key_label(Context::Screens, crate::app::keymap::Command::Undo);
        right = format!("{key} undo {} ({left} s) │ {right}", u.verdict.label());
    }
    let right = match (narrow, &state.notice, state.undo_left()) {
        (true, Some(_), Some(left)) => format!("undo {left} s "),
        (true, Some(_), None) => String::new(),
        (true, None, _) => format!("{right} "),
        (false, _, _) => format!("{right} │ {} ", state.settings.analyst),
    };
    let width = usize::from(area.width);
    let right_width = unicode_width::UnicodeWidthStr::width(right.as_str());
    let left_room = width.saturating_sub(right_width + 1);
    let left = match &state.notice {
        Some(n) => {
            Span::styled(truncate(&format!(" {}", n.shown(state.mask)), left_room), state.theme().level(n.level))
        }
        None => Span::styled(truncate(&format!(" {}", state.hints(state.context())), left_room), state.theme().dim()),
    };
    let pad = left_room.saturating_sub(unicode_width::UnicodeWidthStr::width(left.content.as_ref()));
    let alarm = c.failed > 0 || !c.degraded.is_empty() || !state.skipped_rows.is_empty();
    let right_style = if alarm { state.theme().error() } else { state.theme().label() };
    let line = Line::from(vec![left, Span::raw(" ".repeat(pad + 1)), Span::styled(right, right_style)]);
    frame.render_widget(Paragraph::new(line), area);
}

/// The filter, as the queue's header shows it.
pub fn filter_summary(state: &State) -> Option<String> {
    state.view.is_filtered().then(|| {
        // What was typed may be a name.
        let filter = if state.mask { MASKED } else { state.view.filter.trim() };
        format!("filter: {filter}  {} of {}", state.view.rows.len(), state.queue.len())
    })
}

/// Cuts text to a display width, marking the cut.
pub fn truncate(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    let mut used = 0;
    let total = unicode_width::UnicodeWidthStr::width(text);
    if total <= width {
        return text.to_string();
    }
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}
