//! The queue pane: lanes and groups with their counts, marks, the filter. Only the
//! visible rows are built, so 100,000 cases cost one screen.

use super::{MASKED, filter_summary, shown_id, truncate};
use crate::app::State;
use crate::app::view::Group;
use crate::domain::{Lane, QueueEntry};
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    match minutes {
        0 => "<1m".into(),
        1..=59 => format!("{minutes}m"),
        60..=2879 => format!("{}h", minutes / 60),
        _ => format!("{}d", minutes / 1440),
    }
}

/// First visible row: keeps the selection in view without stored scroll state.
pub fn offset(selected: usize, len: usize, visible: usize) -> usize {
    if visible == 0 || len <= visible {
        return 0;
    }
    selected.saturating_sub(visible / 2).min(len - visible)
}

fn pad(text: &str, width: usize) -> String {
    let cut = truncate(text, width);
    let w = unicode_width::UnicodeWidthStr::width(cut.as_str());
    format!("{cut}{}", " ".repeat(width.saturating_sub(w)))
}

/// Which columns fit, widest terminal first; "Why referred" takes what is left.
struct Columns {
    case: usize,
    applicant: usize,
    check: usize,
    why: usize,
    lane: usize,
}

impl Columns {
    fn for_width(inner: usize) -> Self {
        let (applicant, check) = match inner {
            0..=59 => (0, 0),
            60..=89 => (12, 8),
            90..=109 => (18, 10),
            110..=159 => (22, 16),
            _ => (24, 24),
        };
        let case = match inner {
            0..=89 => 8,
            90..=109 => 10,
            110..=139 => 18,
            140..=179 => 26,
            _ => 36,
        };
        let lane = if inner < 90 { 9 } else { 22 };
        let fixed = 3 + 11 + case + applicant + check + 4 + lane + 7;
        Columns { case, applicant, check, why: inner.saturating_sub(fixed).max(8), lane }
    }
}

fn lane_cell(state: &State, e: &QueueEntry) -> (String, Style) {
    match e.lane {
        Lane::New => (String::new(), Style::new()),
        Lane::Escalated => ("⇑ escalated".into(), state.theme().escalated()),
        Lane::Refused => {
            let why = e.note.as_ref().map(|n| n.one_line()).unwrap_or_default();
            (format!("✘ refused: {why}"), state.theme().error())
        }
        Lane::Awaiting => {
            let undo =
                state.undo.iter().rev().find(|u| u.cases.contains(&e.case_ref)).and_then(|u| state.seconds_left(u));
            let text = match (undo, &e.note) {
                (Some(left), _) => format!("⧗ undo {left}s"),
                (None, Some(n)) => format!("⧗ retrying: {}", n.one_line()),
                (None, None) => "⧗ sending".into(),
            };
            (text, state.theme().dim())
        }
    }
}

fn header_line(state: &State, g: &Group, grouped: bool) -> Line<'static> {
    let lane = match g.lane {
        Lane::New => "New referrals",
        Lane::Refused => "Refused by the provider: decide again",
        Lane::Escalated => "Escalated",
        Lane::Awaiting => "Awaiting delivery",
    };
    let text = if grouped && !g.label.is_empty() {
        format!("── {lane} · {} ({}) ", g.label, g.len)
    } else {
        format!("── {lane} ({}) ", g.len)
    };
    Line::styled(text, state.theme().heading())
}

/// What one line of the queue pane below its column header shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLine {
    /// The heading of the group starting at (or continuing into) this position.
    Group(usize),
    /// The case at this position of the view.
    Case(usize),
}

/// The lines the queue pane shows in `area` (its outer, bordered area), top to bottom:
/// shared by drawing and by the mouse, so a click lands on the row drawn there.
pub fn visible_lines(state: &State, area: Rect) -> Vec<QueueLine> {
    let visible = usize::from(area.height.saturating_sub(3));
    let len = state.view.rows.len();
    // Group headers take lines too: move the window down until the selection fits.
    let mut first = offset(state.selected, len, visible);
    let starts_group = |p: usize| state.view.group_at(p).is_some_and(|g| g.start == p);
    let lines_to = |first: usize, upto: usize| -> usize {
        (first..=upto).filter(|p| *p == first || starts_group(*p)).count() + (upto - first) + 1
    };
    while first < state.selected && lines_to(first, state.selected) > visible {
        first += 1;
    }
    let mut out = Vec::with_capacity(visible);
    let mut pos = first;
    while pos < len && out.len() < visible {
        if let Some(g) = state.view.group_at(pos)
            && (g.start == pos || pos == first)
        {
            out.push(QueueLine::Group(pos));
            if out.len() >= visible {
                break;
            }
        }
        out.push(QueueLine::Case(pos));
        pos += 1;
    }
    out
}

/// The first screen row of the queue's lines inside `area`: below the border and the
/// column header.
pub const FIRST_LINE: u16 = 2;

pub fn draw(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let theme = state.theme();
    let mut title = format!(" Queue {}/{} ", (state.selected + 1).min(state.view.rows.len()), state.view.rows.len());
    if let Some(f) = filter_summary(state) {
        title = format!(" Queue · {f} ");
    }
    if !state.marks.is_empty() {
        title.push_str(&format!("· {} marked ", state.marks.len()));
    }
    let block = Block::bordered().title(Line::styled(title, theme.heading()));
    if state.view.rows.is_empty() {
        let text = if !state.queue_loaded {
            "Loading the queue…".to_string()
        } else if state.view.is_filtered() {
            format!("No case matches the filter '{}' (Esc clears it).", state.view.filter.trim())
        } else {
            "No cases need review. New ones appear here as providers refer them (r polls now).".to_string()
        };
        frame.render_widget(Paragraph::new(text).style(theme.dim()).wrap(Wrap { trim: true }).block(block), area);
        return;
    }
    let inner_width = usize::from(area.width.saturating_sub(2));
    let mut cols = Columns::for_width(inner_width);
    // With every case new the lane column would stay empty: its room goes to why.
    if state.view.lane_counts.iter().all(|(lane, _)| *lane == Lane::New) {
        cols.why += cols.lane + 1;
        cols.lane = 0;
    }
    let grouped = state.view.group.is_some();
    let mut header =
        vec![Span::raw("  "), Span::raw(pad("Provider", 11)), Span::raw(" "), Span::raw(pad("Case", cols.case))];
    if cols.applicant > 0 {
        header.push(Span::raw(format!(" {}", pad("Applicant", cols.applicant))));
    }
    if cols.check > 0 {
        header.push(Span::raw(format!(" {}", pad("Check", cols.check))));
    }
    header.push(Span::raw(format!(" {} {}", pad("Why referred", cols.why), pad("Age", 4))));
    if cols.lane > 0 {
        header.push(Span::raw(format!(" {}", pad("Lane", cols.lane))));
    }
    let mut lines = vec![Line::from(header).style(theme.heading())];
    let mut cursor = None;
    for line in visible_lines(state, area) {
        let pos = match line {
            QueueLine::Group(pos) => {
                if let Some(g) = state.view.group_at(pos) {
                    lines.push(header_line(state, g, grouped));
                }
                continue;
            }
            QueueLine::Case(pos) => pos,
        };
        let e = &state.queue[state.view.rows[pos]];
        let selected = pos == state.selected;
        let marked = state.marks.contains(&e.case_ref);
        let mark = match (selected, marked) {
            (true, true) => "▶● ",
            (true, false) => "▶  ",
            (false, true) => " ● ",
            (false, false) => "   ",
        };
        if selected {
            cursor = Some(lines.len() as u16);
        }
        let applicant = if state.mask { MASKED.to_string() } else { e.applicant.one_line() };
        let (lane, lane_style) = lane_cell(state, e);
        let mut spans = vec![
            Span::styled(mark, theme.key()),
            Span::raw(pad(e.case_ref.provider.display_name(), 11)),
            Span::raw(" "),
            Span::raw(pad(&shown_id(state.mask, &e.case_ref.key), cols.case)),
        ];
        if cols.applicant > 0 {
            spans.push(Span::raw(format!(" {}", pad(&applicant, cols.applicant))));
        }
        if cols.check > 0 {
            spans.push(Span::raw(format!(" {}", pad(&e.check_type.one_line(), cols.check))));
        }
        spans.push(Span::raw(format!(
            " {} {}",
            pad(&e.why_referred.one_line(), cols.why),
            pad(&age(state.now, e.received_at), 4)
        )));
        if cols.lane > 0 {
            spans.push(Span::styled(format!(" {}", pad(&lane, cols.lane)), lane_style));
        }
        let style = if selected {
            theme.selected()
        } else if marked {
            theme.marked()
        } else {
            Style::new()
        };
        lines.push(Line::from(spans).style(style));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
    // The terminal cursor sits on the selected row: screen readers and magnifiers
    // follow it. Not while a modal covers the queue.
    if let Some(row) = cursor
        && state.modals.is_empty()
    {
        frame.set_cursor_position((area.x + 1, area.y + 1 + row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_keeps_selection_visible() {
        assert_eq!(offset(0, 10, 20), 0);
        assert_eq!(offset(50, 100, 20), 40);
        assert_eq!(offset(99, 100, 20), 80);
        for sel in 0..100 {
            let o = offset(sel, 100, 20);
            assert!(o <= sel && sel < o + 20);
        }
    }

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        let now = Utc::now();
        assert_eq!(age(now, now), "<1m");
        assert_eq!(age(now, now - chrono::Duration::minutes(5)), "5m");
        assert_eq!(age(now, now - chrono::Duration::hours(5)), "5h");
        assert_eq!(age(now, now - chrono::Duration::days(3)), "3d");
    }
}
