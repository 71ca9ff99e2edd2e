//! Drawing, from `&State` only: no IO, no decoding, nothing that can block a frame.

mod case;
mod dialog;
mod help;
pub mod layout;
mod queue;
pub mod theme;

use crate::app::{Screen, State};
use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// What mask mode shows instead of personal data.
pub const MASKED: &str = "▒▒▒▒▒▒";

pub fn draw(frame: &mut Frame<'_>, state: &State) {
    let areas = layout::frame(frame.area());
    title_bar(frame, state, areas.title);
    match state.screen {
        Screen::Queue => queue::draw(frame, state, areas.body),
        Screen::Case => case::draw(frame, state, areas.body),
    }
    status_bar(frame, state, areas.status);
    if let Some(d) = &state.dialog {
        dialog::draw(frame, d, areas.body);
    }
    if state.help {
        help::draw(frame, areas.body);
    }
}

fn title_bar(frame: &mut Frame<'_>, state: &State, area: ratatui::layout::Rect) {
    let pending = state.queue.iter().filter(|e| e.status == crate::domain::QueueStatus::Pending).count();
    let escalated = state.queue.len() - pending;
    let mut spans = vec![Span::styled(" kycdesk ", theme::title())];
    spans.push(Span::raw(format!("  {pending} pending · {escalated} escalated")));
    if state.mask {
        spans.push(Span::styled("  MASKED", theme::key()));
    }
    if !state.banner.is_empty() {
        spans.push(Span::styled(format!("  {}", state.banner), theme::dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_bar(frame: &mut Frame<'_>, state: &State, area: ratatui::layout::Rect) {
    let c = state.counts;
    let right =
        format!("outbox: {} saved · {} sent · {} failed │ {} │ ? keys ", c.saved, c.sent, c.failed, state.analyst);
    let width = usize::from(area.width);
    let right_width = unicode_width::UnicodeWidthStr::width(right.as_str());
    let left_room = width.saturating_sub(right_width + 1);
    let left = match &state.notice {
        Some(n) => Span::styled(truncate(&n.text, left_room), theme::level(n.level)),
        None => Span::styled(truncate(" q quit · Enter open · d decide · n next", left_room), theme::dim()),
    };
    let pad = left_room.saturating_sub(unicode_width::UnicodeWidthStr::width(left.content.as_ref()));
    let failed_style = if c.failed > 0 { theme::error() } else { theme::label() };
    let line = Line::from(vec![left, Span::raw(" ".repeat(pad + 1)), Span::styled(right, failed_style)]);
    frame.render_widget(Paragraph::new(line), area);
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
