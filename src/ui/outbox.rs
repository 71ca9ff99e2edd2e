//! The outbox view: every decision with its delivery state; refused ones can be sent
//! again or dropped.

use super::truncate;
use crate::app::keymap::Context;
use crate::app::{Loadable, OutboxView, State};
use crate::store::OutboxState;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

fn state_word(s: OutboxState) -> &'static str {
    match s {
        OutboxState::Saved => "waiting",
        OutboxState::Sending => "sending",
        OutboxState::Sent => "sent",
        OutboxState::Failed => "refused",
        OutboxState::Withdrawn => "withdrawn",
        OutboxState::Dropped => "dropped",
    }
}

pub fn draw(frame: &mut Frame<'_>, state: &State, view: &OutboxView, body: Rect) {
    let area = body;
    frame.render_widget(Clear, area);
    let width = usize::from(area.width.saturating_sub(4));
    let lines: Vec<Line> = match &view.rows {
        Loadable::Loading => vec![Line::styled("Reading the outbox…", state.theme().dim())],
        Loadable::Failed(e) => {
            vec![Line::styled(format!("cannot read the outbox: {}", e.one_line()), state.theme().error())]
        }
        Loadable::Ready(rows) if rows.is_empty() => {
            vec![Line::styled("No decision has been saved yet.", state.theme().dim())]
        }
        Loadable::Ready(rows) => {
            let visible = usize::from(area.height.saturating_sub(3));
            let first = super::queue::offset(view.selected, rows.len(), visible);
            rows.iter()
                .enumerate()
                .skip(first)
                .take(visible)
                .map(|(i, row)| {
                    let d = &row.decision;
                    let mut text = format!(
                        "{:<9} {:<14} {:<40} {} · {}",
                        state_word(row.state),
                        d.verdict.label(),
                        super::shown_ref(state.mask, &d.case_ref),
                        d.created_at.format("%Y-%m-%d %H:%M UTC"),
                        d.analyst
                    );
                    if let Some(e) = &row.last_error {
                        text.push_str(&format!(" · {}", crate::domain::SafeText::new(e).one_line()));
                    }
                    let text = truncate(&text, width);
                    let style = match row.state {
                        _ if i == view.selected => state.theme().selected(),
                        OutboxState::Failed => state.theme().error(),
                        OutboxState::Sent | OutboxState::Withdrawn | OutboxState::Dropped => state.theme().dim(),
                        _ => ratatui::style::Style::new(),
                    };
                    Line::styled(format!("{} {text}", if i == view.selected { "▶" } else { " " }), style)
                })
                .collect()
        }
    };
    let hint = state.settings.keys.hints(Context::Outbox);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Line::styled(" Outbox: decisions and their delivery ", state.theme().heading()))
                .title_bottom(Line::styled(format!(" {hint} "), state.theme().dim())),
        ),
        area,
    );
}
