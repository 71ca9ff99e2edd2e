//! The queue pane: only the visible rows are built, so 100,000 cases cost one screen.

use super::{MASKED, theme, truncate};
use crate::app::State;
use crate::domain::QueueStatus;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};

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

pub fn draw(frame: &mut Frame<'_>, state: &State, area: Rect) {
    let block = Block::bordered().title(Line::styled(" Queue ", theme::heading()));
    if state.queue.is_empty() {
        let text = if state.queue_loaded {
            "No cases need review. New ones appear here as providers refer them (r polls now)."
        } else {
            "Loading the queue…"
        };
        frame.render_widget(Paragraph::new(text).style(theme::dim()).block(block), area);
        return;
    }
    let visible = usize::from(area.height.saturating_sub(3));
    let first = offset(state.selected, state.queue.len(), visible);
    let last = (first + visible).min(state.queue.len());
    let rows = state.queue[first..last].iter().enumerate().map(|(i, e)| {
        let applicant = if state.mask { MASKED.to_string() } else { e.applicant.one_line() };
        let lane = if e.status == QueueStatus::Escalated { "⇑ escalated" } else { "" };
        let row = Row::new(vec![
            Cell::from(e.case_ref.provider.display_name()),
            Cell::from(truncate(&e.case_ref.key, 26)),
            Cell::from(applicant),
            Cell::from(e.check_type.one_line()),
            Cell::from(e.why_referred.one_line()),
            Cell::from(age(state.now, e.received_at)),
            Cell::from(lane),
        ]);
        let style = if first + i == state.selected {
            theme::selected()
        } else if e.status == QueueStatus::Escalated {
            theme::escalated()
        } else {
            ratatui::style::Style::new()
        };
        row.style(style)
    });
    let header =
        Row::new(["Provider", "Case", "Applicant", "Check", "Why referred", "Age", "Lane"]).style(theme::heading());
    let widths = [
        Constraint::Length(11),
        Constraint::Length(26),
        Constraint::Length(24),
        Constraint::Length(18),
        Constraint::Fill(1),
        Constraint::Length(5),
        Constraint::Length(11),
    ];
    let title = format!(" Queue {}/{} ", state.selected + 1, state.queue.len());
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(Line::styled(title, theme::heading())))
        .column_spacing(1);
    frame.render_widget(table, area);
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
