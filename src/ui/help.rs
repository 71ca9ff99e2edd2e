//! The key overlay, generated from the keymap's own table.

use super::{layout, theme};
use crate::app::keymap::HELP;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

pub fn draw(frame: &mut Frame<'_>, body: Rect) {
    let mut lines = vec![];
    for (section, keys) in HELP {
        lines.push(Line::styled(*section, theme::heading()));
        for (k, what) in *keys {
            lines.push(Line::from(vec![Span::styled(format!("  {k:<22}"), theme::key()), Span::raw(*what)]));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled("No single key sends a decision: d, a verdict, a reason, Enter, then y.", theme::dim()));
    let height = lines.len() as u16 + 2;
    let area = layout::centered(body, 86, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Line::styled(" Keys (any key closes) ", theme::heading()))),
        area,
    );
}
