//! The key overlay, generated from the key table (with the config's rebindings) and the
//! command line's own list. It scrolls when the terminal is short.

use super::layout;
use crate::app::State;
use crate::app::command_line::COMMANDS;
use crate::app::keymap::{Command, Context};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

pub fn lines(state: &State) -> Vec<Line<'static>> {
    let mut lines = vec![];
    for (context, rows) in state.settings.keys.sections() {
        lines.push(Line::styled(context.title(), state.theme().heading()));
        for (keys, what) in rows {
            lines.push(Line::from(vec![Span::styled(format!("  {keys:<24}"), state.theme().key()), Span::raw(what)]));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled("Commands (after :)", state.theme().heading()));
    for (name, args, what) in COMMANDS {
        let usage = if args.is_empty() { name.to_string() } else { format!("{name} {args}") };
        lines.push(Line::from(vec![Span::styled(format!("  :{usage:<30}  "), state.theme().key()), Span::raw(*what)]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "No single key sends a decision: decide, a verdict, a reason, Enter, then confirm.",
        state.theme().dim(),
    ));
    lines
}

/// The overlay's box in `body`, and how far its lines scroll at most.
fn placed(body: Rect, total: u16) -> (Rect, u16) {
    let area = layout::centered(body, 96, total.saturating_add(2));
    (area, total.saturating_sub(area.height.saturating_sub(2)))
}

/// How far the help scrolls at most on this terminal: `update` keeps to it, so a key
/// back up always moves.
pub fn max_scroll(state: &State) -> u16 {
    placed(layout::frame(state.size).body, lines(state).len() as u16).1
}

pub fn draw(frame: &mut Frame<'_>, state: &State, body: Rect, scroll: u16) {
    let lines = lines(state);
    let total = lines.len() as u16;
    let (area, furthest) = placed(body, total);
    let room = area.height.saturating_sub(2);
    let scroll = scroll.min(furthest);
    let close = state.settings.keys.key_label(Context::Help, Command::Close);
    let more =
        if total > room { format!(" · {}/{} · j/k scroll", scroll + room.min(total), total) } else { String::new() };
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).scroll((scroll, 0)).block(
            Block::bordered().title(Line::styled(format!(" Keys ({close} closes{more}) "), state.theme().heading())),
        ),
        area,
    );
}
