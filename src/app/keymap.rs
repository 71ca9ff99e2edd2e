//! Keys to commands, per screen. The help overlay is generated from `HELP`, so the keys
//! shown and the keys bound cannot drift apart.

use super::{DialogStep, Screen, State};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Quit,
    Help,
    ToggleMask,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    NextCase,
    PrevCase,
    NextImage,
    ScrollUp,
    ScrollDown,
    Refresh,
    Decide,
    // dialog
    DialogUp,
    DialogDown,
    DialogSelect,
    DialogToggle,
    DialogBack,
    DialogConfirm,
    DialogHotkey(char),
    /// Everything typed into the reason editor.
    Type(KeyEvent),
}

pub const HELP: &[(&str, &[(&str, &str)])] = &[
    (
        "Queue",
        &[
            ("j / k, ↓ / ↑", "move"),
            ("PgDn / PgUp, g / G", "page, first, last"),
            ("Enter", "open the case"),
            ("r", "poll providers now"),
        ],
    ),
    (
        "Case",
        &[
            ("d", "decide: choose target and verdict, type the reason, confirm with y"),
            ("n / p", "next / previous case"),
            ("i", "next document image"),
            ("j / k", "scroll the details"),
            ("Esc", "back to the queue"),
        ],
    ),
    (
        "Decision dialog",
        &[
            ("j / k, Enter", "choose"),
            ("v x f s t o", "verify, reject, refer, resubmit, true match, false positive"),
            ("Space", "tick a reason group or a step to resubmit"),
            ("Enter", "reason done (Alt+Enter: new line)"),
            ("y", "save the decision"),
            ("Esc", "one step back (the text is kept)"),
        ],
    ),
    ("Anywhere", &[("m", "mask names, numbers and images"), ("?", "this help"), ("q", "quit")]),
];

pub fn command(state: &State, key: KeyEvent) -> Option<Command> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Command::Quit);
    }
    if state.help {
        return Some(Command::Help);
    }
    if let Some(dialog) = &state.dialog {
        return Some(match (dialog.step, key.code) {
            (_, KeyCode::Esc) => Command::DialogBack,
            (DialogStep::Reason, KeyCode::Enter) if !key.modifiers.contains(KeyModifiers::ALT) => Command::DialogSelect,
            (DialogStep::Reason, _) => Command::Type(key),
            (DialogStep::Confirm, KeyCode::Char('y' | 'Y')) => Command::DialogConfirm,
            (DialogStep::Confirm, KeyCode::Char('n')) => Command::DialogBack,
            (DialogStep::Confirm, _) => return None,
            (_, KeyCode::Char('j') | KeyCode::Down) => Command::DialogDown,
            (_, KeyCode::Char('k') | KeyCode::Up) => Command::DialogUp,
            (_, KeyCode::Enter) => Command::DialogSelect,
            (DialogStep::ReasonCodes, KeyCode::Char(' ')) => Command::DialogToggle,
            (DialogStep::Verdict, KeyCode::Char(c)) => Command::DialogHotkey(c),
            _ => return None,
        });
    }
    let common = match key.code {
        KeyCode::Char('q') => Some(Command::Quit),
        KeyCode::Char('?') => Some(Command::Help),
        KeyCode::Char('m') => Some(Command::ToggleMask),
        _ => None,
    };
    if common.is_some() {
        return common;
    }
    match state.screen {
        Screen::Queue => match key.code {
            KeyCode::Char('j') | KeyCode::Down => Some(Command::Down),
            KeyCode::Char('k') | KeyCode::Up => Some(Command::Up),
            KeyCode::PageDown => Some(Command::PageDown),
            KeyCode::PageUp => Some(Command::PageUp),
            KeyCode::Char('g') | KeyCode::Home => Some(Command::Top),
            KeyCode::Char('G') | KeyCode::End => Some(Command::Bottom),
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => Some(Command::Open),
            KeyCode::Char('r') => Some(Command::Refresh),
            _ => None,
        },
        Screen::Case => match key.code {
            KeyCode::Esc | KeyCode::Char('h') | KeyCode::Left | KeyCode::Backspace => Some(Command::Back),
            KeyCode::Char('n') | KeyCode::Char('J') => Some(Command::NextCase),
            KeyCode::Char('p') | KeyCode::Char('K') => Some(Command::PrevCase),
            KeyCode::Char('i') | KeyCode::Tab => Some(Command::NextImage),
            KeyCode::Char('j') | KeyCode::Down => Some(Command::ScrollDown),
            KeyCode::Char('k') | KeyCode::Up => Some(Command::ScrollUp),
            KeyCode::PageDown => Some(Command::PageDown),
            KeyCode::PageUp => Some(Command::PageUp),
            KeyCode::Char('d') => Some(Command::Decide),
            KeyCode::Char('r') => Some(Command::Refresh),
            _ => None,
        },
    }
}
