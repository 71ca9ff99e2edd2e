//! The one key table. Every binding is a row (context, key, command, description);
//! dispatch, the help overlay, the status-bar hints and the README's key table are all
//! generated from these rows, and the config can rebind any of them.

use crate::domain::Verdict;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;

/// Where a key applies. `Anywhere` rows work on every screen and in every modal that
/// does not take text; `Screens` rows on the queue and the case view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Anywhere,
    Screens,
    Queue,
    Case,
    Dialog,
    Reason,
    Templates,
    Confirm,
    Results,
    Prompt,
    Outbox,
    Viewer,
    Help,
}

impl Context {
    pub const ALL: [Context; 13] = [
        Context::Anywhere,
        Context::Screens,
        Context::Queue,
        Context::Case,
        Context::Dialog,
        Context::Reason,
        Context::Templates,
        Context::Confirm,
        Context::Results,
        Context::Prompt,
        Context::Outbox,
        Context::Viewer,
        Context::Help,
    ];

    /// The name in the config's `[keys.NAME]`.
    pub fn name(self) -> &'static str {
        match self {
            Context::Anywhere => "anywhere",
            Context::Screens => "screens",
            Context::Queue => "queue",
            Context::Case => "case",
            Context::Dialog => "dialog",
            Context::Reason => "reason",
            Context::Templates => "templates",
            Context::Confirm => "confirm",
            Context::Results => "results",
            Context::Prompt => "prompt",
            Context::Outbox => "outbox",
            Context::Viewer => "viewer",
            Context::Help => "help",
        }
    }

    /// As the help and the README title it.
    pub fn title(self) -> &'static str {
        match self {
            Context::Anywhere => "Anywhere",
            Context::Screens => "Queue or case",
            Context::Queue => "Queue",
            Context::Case => "Case",
            Context::Dialog => "Decision: target, verdict, reasons",
            Context::Reason => "Decision: the reason",
            Context::Templates => "Decision: reason templates",
            Context::Confirm => "Decision: confirmation",
            Context::Results => "Decision: results",
            Context::Prompt => "Filter and command line",
            Context::Outbox => "Outbox",
            Context::Viewer => "Image, full screen",
            Context::Help => "This help",
        }
    }

    /// Printable keys are typed into an editor here, not looked up.
    pub fn takes_text(self) -> bool {
        matches!(self, Context::Reason | Context::Prompt)
    }

    fn parse(name: &str) -> Option<Self> {
        Context::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Quit,
    QuitNow,
    Help,
    ToggleMask,
    CommandLine,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Refresh,
    Filter,
    Mark,
    MarkRange,
    MarkAll,
    MarkGroup,
    NextGroup,
    PrevGroup,
    Clear,
    Decide,
    Undo,
    Back,
    NextCase,
    PrevCase,
    NextImage,
    Zoom,
    /// Long values of the case shown whole, or cut (the default).
    WholeValues,
    Rotate,
    ScrollUp,
    ScrollDown,
    Select,
    Toggle,
    Verdict(Verdict),
    Confirm,
    Cancel,
    Templates,
    Complete,
    Retry,
    Drop,
    Close,
}

impl Command {
    const ALL: [Command; 47] = [
        Command::Quit,
        Command::QuitNow,
        Command::Help,
        Command::ToggleMask,
        Command::CommandLine,
        Command::Up,
        Command::Down,
        Command::PageUp,
        Command::PageDown,
        Command::Top,
        Command::Bottom,
        Command::Open,
        Command::Refresh,
        Command::Filter,
        Command::Mark,
        Command::MarkRange,
        Command::MarkAll,
        Command::MarkGroup,
        Command::NextGroup,
        Command::PrevGroup,
        Command::Clear,
        Command::Decide,
        Command::Undo,
        Command::Back,
        Command::NextCase,
        Command::PrevCase,
        Command::NextImage,
        Command::Zoom,
        Command::WholeValues,
        Command::Rotate,
        Command::ScrollUp,
        Command::ScrollDown,
        Command::Select,
        Command::Toggle,
        Command::Verdict(Verdict::Verify),
        Command::Verdict(Verdict::Reject),
        Command::Verdict(Verdict::Refer),
        Command::Verdict(Verdict::Resubmit),
        Command::Verdict(Verdict::TrueMatch),
        Command::Verdict(Verdict::FalsePositive),
        Command::Confirm,
        Command::Cancel,
        Command::Templates,
        Command::Complete,
        Command::Retry,
        Command::Drop,
        Command::Close,
    ];

    /// The action's name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Command::Quit => "quit",
            Command::QuitNow => "quit_now",
            Command::Help => "help",
            Command::ToggleMask => "mask",
            Command::CommandLine => "command_line",
            Command::Up => "up",
            Command::Down => "down",
            Command::PageUp => "page_up",
            Command::PageDown => "page_down",
            Command::Top => "top",
            Command::Bottom => "bottom",
            Command::Open => "open",
            Command::Refresh => "refresh",
            Command::Filter => "filter",
            Command::Mark => "mark",
            Command::MarkRange => "mark_range",
            Command::MarkAll => "mark_all",
            Command::MarkGroup => "mark_group",
            Command::NextGroup => "next_group",
            Command::PrevGroup => "prev_group",
            Command::Clear => "clear",
            Command::Decide => "decide",
            Command::Undo => "undo",
            Command::Back => "back",
            Command::NextCase => "next_case",
            Command::PrevCase => "prev_case",
            Command::NextImage => "next_image",
            Command::Zoom => "zoom",
            Command::WholeValues => "whole_values",
            Command::Rotate => "rotate",
            Command::ScrollUp => "scroll_up",
            Command::ScrollDown => "scroll_down",
            Command::Select => "select",
            Command::Toggle => "toggle",
            Command::Verdict(v) => v.as_str(),
            Command::Confirm => "confirm",
            Command::Cancel => "cancel",
            Command::Templates => "templates",
            Command::Complete => "complete",
            Command::Retry => "retry",
            Command::Drop => "drop",
            Command::Close => "close",
        }
    }

    /// A word or two for the status-bar hints, in the context it is shown in.
    pub fn hint(self, context: Context) -> &'static str {
        match (self, context) {
            (Command::Select, Context::Prompt) => "done",
            (Command::Select, Context::Reason) => "reason done",
            (Command::Select, _) => "choose",
            (Command::Back, Context::Case) => "queue",
            (Command::Back, _) => "back",
            (Command::Quit, _) => "quit",
            (Command::Help, _) => "keys",
            (Command::Open, _) => "open",
            (Command::Filter, _) => "filter",
            (Command::Mark, _) => "mark",
            (Command::MarkAll, _) => "mark all",
            (Command::Decide, _) => "decide",
            (Command::Undo, _) => "undo",
            (Command::CommandLine, _) => "command",
            (Command::NextCase, _) => "next case",
            (Command::NextImage, _) => "next image",
            (Command::Zoom, _) => "full screen",
            (Command::WholeValues, _) => "whole values",
            (Command::Rotate, _) => "rotate",
            (Command::ScrollDown | Command::ScrollUp, _) => "scroll",
            (Command::Toggle, _) => "tick",
            (Command::Confirm, _) => "save",
            (Command::Cancel, _) => "cancel",
            (Command::Templates, _) => "templates",
            (Command::Complete, _) => "complete",
            (Command::Retry, _) => "retry",
            (Command::Drop, _) => "drop",
            (Command::Close, _) => "close",
            (other, _) => other.name(),
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A key with its modifiers, as written in the table and the config (`j`, `space`,
/// `ctrl-c`, `alt-enter`, `pgdown`, `G`, `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chord {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("'{0}' is not a key kycdesk can bind (e.g. j, G, space, enter, esc, tab, up, pgdown, ctrl-t)")]
    BadKey(String),
    #[error("no context '{0}' (known: {known})", known = Context::ALL.map(Context::name).join(", "))]
    UnknownContext(String),
    #[error("no action '{action}' in [keys.{context}] (known there: {known})")]
    UnknownAction { context: &'static str, action: String, known: String },
}

impl Chord {
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let bad = || KeyError::BadKey(crate::domain::sanitize(spec));
        let mut mods = KeyModifiers::NONE;
        let mut rest = spec;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl-").or_else(|| lower.strip_prefix("c-")) {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-").or_else(|| lower.strip_prefix("m-")) {
                mods |= KeyModifiers::ALT;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let named = match rest.to_ascii_lowercase().as_str() {
            "space" => Some(KeyCode::Char(' ')),
            "enter" | "return" => Some(KeyCode::Enter),
            "esc" | "escape" => Some(KeyCode::Esc),
            "tab" => Some(KeyCode::Tab),
            "backtab" => Some(KeyCode::BackTab),
            "backspace" => Some(KeyCode::Backspace),
            "delete" | "del" => Some(KeyCode::Delete),
            "up" => Some(KeyCode::Up),
            "down" => Some(KeyCode::Down),
            "left" => Some(KeyCode::Left),
            "right" => Some(KeyCode::Right),
            "pgup" | "pageup" => Some(KeyCode::PageUp),
            "pgdown" | "pgdn" | "pagedown" => Some(KeyCode::PageDown),
            "home" => Some(KeyCode::Home),
            "end" => Some(KeyCode::End),
            _ => None,
        };
        let code = match named {
            Some(code) => code,
            None => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    // Terminals report Ctrl with a letter in lower case.
                    (Some(c), None) if mods.contains(KeyModifiers::CONTROL) && c.is_ascii_uppercase() => {
                        KeyCode::Char(c.to_ascii_lowercase())
                    }
                    (Some(c), None) if !c.is_control() && c != ' ' => KeyCode::Char(c),
                    _ => return Err(bad()),
                }
            }
        };
        Ok(Chord { code, mods })
    }

    /// Whether a key event is this chord. Shift is part of the character ('G', '*'),
    /// so it is not compared for characters.
    pub fn matches(&self, key: &KeyEvent) -> bool {
        let relevant = KeyModifiers::CONTROL | KeyModifiers::ALT;
        let (code, theirs) = match key.code {
            KeyCode::Char(c) if key.modifiers.contains(KeyModifiers::CONTROL) => {
                (KeyCode::Char(c.to_ascii_lowercase()), key.modifiers & relevant)
            }
            code => (code, key.modifiers & relevant),
        };
        code == self.code && theirs == self.mods & relevant
    }
}

impl fmt::Display for Chord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.mods.contains(KeyModifiers::CONTROL) => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The default rows: (context, keys, command, what it does).
const DEFAULTS: &[(Context, &[&str], Command, &str)] = {
    use Command as C;
    use Context::*;
    &[
        (Anywhere, &["?"], C::Help, "show the keys (this help)"),
        (Anywhere, &["m"], C::ToggleMask, "mask names, numbers, dates of birth and images"),
        (Anywhere, &["ctrl-c"], C::QuitNow, "quit at once (waiting decisions go out at the next start)"),
        (Screens, &["q"], C::Quit, "quit"),
        (Screens, &[":"], C::CommandLine, "command line (:help lists the commands)"),
        (Screens, &["d"], C::Decide, "decide the marked cases, else the current one"),
        (Screens, &["u"], C::Undo, "undo the last decision while its grace period runs"),
        (Screens, &["r"], C::Refresh, "poll the providers now"),
        (Queue, &["j", "down"], C::Down, "move down"),
        (Queue, &["k", "up"], C::Up, "move up"),
        (Queue, &["pgdown"], C::PageDown, "page down"),
        (Queue, &["pgup"], C::PageUp, "page up"),
        (Queue, &["g", "home"], C::Top, "first case"),
        (Queue, &["G", "end"], C::Bottom, "last case"),
        (Queue, &["enter", "l", "right"], C::Open, "open the case"),
        (Queue, &["/"], C::Filter, "filter as you type (Enter keeps it, Esc clears it)"),
        (Queue, &["space"], C::Mark, "mark or unmark the case and move down"),
        (Queue, &["V"], C::MarkRange, "mark from the last mark to the cursor"),
        (Queue, &["*"], C::MarkAll, "mark every case shown"),
        (Queue, &["+"], C::MarkGroup, "mark the group under the cursor (lane, or :group)"),
        (Queue, &["]"], C::NextGroup, "first case of the next group"),
        (Queue, &["["], C::PrevGroup, "first case of this or the previous group"),
        (Queue, &["esc"], C::Clear, "clear the marks, else the filter"),
        (Case, &["esc", "h", "left", "backspace"], C::Back, "back to the queue"),
        (Case, &["n", "J"], C::NextCase, "next case"),
        (Case, &["p", "K"], C::PrevCase, "previous case"),
        (Case, &["i", "tab"], C::NextImage, "next document image"),
        (Case, &["z"], C::Zoom, "the document image full-screen"),
        (Case, &["e"], C::WholeValues, "show long values whole, or cut them short again"),
        (Case, &["j", "down"], C::ScrollDown, "scroll the details down"),
        (Case, &["k", "up"], C::ScrollUp, "scroll the details up"),
        (Case, &["pgdown"], C::PageDown, "scroll a page down"),
        (Case, &["pgup"], C::PageUp, "scroll a page up"),
        (Dialog, &["j", "down"], C::Down, "next choice"),
        (Dialog, &["k", "up"], C::Up, "previous choice"),
        (Dialog, &["enter"], C::Select, "take the choice, next step"),
        (Dialog, &["space"], C::Toggle, "tick a reason or a step to resubmit"),
        (Dialog, &["v"], C::Verdict(Verdict::Verify), "verify"),
        (Dialog, &["x"], C::Verdict(Verdict::Reject), "reject"),
        (Dialog, &["f"], C::Verdict(Verdict::Refer), "refer (escalate)"),
        (Dialog, &["s"], C::Verdict(Verdict::Resubmit), "ask the applicant to resubmit"),
        (Dialog, &["t"], C::Verdict(Verdict::TrueMatch), "true match: the hit is the applicant"),
        (Dialog, &["o"], C::Verdict(Verdict::FalsePositive), "false positive: the hit is someone else"),
        (Dialog, &["esc"], C::Back, "one step back; from the first step, cancel"),
        (Reason, &["enter"], C::Select, "the reason is done (Alt-Enter: new line)"),
        (Reason, &["tab", "ctrl-t"], C::Templates, "reason templates and the last reason"),
        (Reason, &["esc"], C::Back, "one step back (the text is kept)"),
        (Templates, &["esc", "tab"], C::Back, "back to the reason (a template's own key inserts it)"),
        (Confirm, &["y"], C::Confirm, "save the decision (sent after the grace period)"),
        (Confirm, &["n", "esc"], C::Back, "back to the reason"),
        (Results, &["esc", "enter", "q"], C::Close, "close the summary"),
        (Results, &["u"], C::Undo, "undo the whole decision while its countdown runs"),
        (Prompt, &["enter"], C::Select, "keep the filter, or run the command"),
        (Prompt, &["esc"], C::Cancel, "cancel (clears the filter)"),
        (Prompt, &["tab"], C::Complete, "complete the command"),
        (Outbox, &["j", "down"], C::Down, "next decision"),
        (Outbox, &["k", "up"], C::Up, "previous decision"),
        (Outbox, &["R"], C::Retry, "send a refused decision again"),
        (Outbox, &["D"], C::Drop, "drop a refused or waiting decision (asks why)"),
        (Outbox, &["esc", "q"], C::Close, "close the outbox"),
        (Viewer, &["i", "tab"], C::NextImage, "next image of the case"),
        (Viewer, &["r"], C::Rotate, "rotate by 90°"),
        (Viewer, &["esc", "z", "q"], C::Close, "close the image"),
        (Help, &["j", "down"], C::ScrollDown, "scroll down"),
        (Help, &["k", "up"], C::ScrollUp, "scroll up"),
        (Help, &["pgdown", "space"], C::PageDown, "page down"),
        (Help, &["pgup"], C::PageUp, "page up"),
        (Help, &["g", "home"], C::Top, "to the top"),
        (Help, &["G", "end"], C::Bottom, "to the end"),
        (Help, &["esc", "q", "?"], C::Close, "close the help"),
    ]
};

/// The status-bar hints per context, most useful first; their keys come from the table.
const HINTS: &[(Context, &[Command])] = {
    use Command as C;
    use Context::*;
    &[
        (Queue, &[C::Open, C::Filter, C::Mark, C::MarkAll, C::Decide, C::Undo, C::CommandLine, C::Help, C::Quit]),
        (Case, &[C::Decide, C::NextCase, C::NextImage, C::Zoom, C::Back, C::Undo, C::Help]),
        (Viewer, &[C::NextImage, C::Rotate, C::Close]),
        (Dialog, &[C::Select, C::Toggle, C::Back]),
        (Reason, &[C::Select, C::Templates, C::Back]),
        (Templates, &[C::Back]),
        (Confirm, &[C::Confirm, C::Back]),
        (Results, &[C::Undo, C::Close]),
        (Prompt, &[C::Select, C::Complete, C::Cancel]),
        (Outbox, &[C::Retry, C::Drop, C::Close]),
        (Help, &[C::ScrollDown, C::Close]),
    ]
};

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub context: Context,
    pub chord: Chord,
    pub command: Command,
    pub description: &'static str,
}

/// A rebinding from the config: `[keys.CONTEXT] ACTION = "KEY"` (or a list of keys).
#[derive(Debug, Clone)]
pub struct Override {
    pub context: String,
    pub action: String,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyTable {
    rows: Vec<Binding>,
}

impl Default for KeyTable {
    fn default() -> Self {
        let rows = DEFAULTS
            .iter()
            .flat_map(|(context, keys, command, description)| {
                keys.iter().filter_map(move |k| {
                    Chord::parse(k).ok().map(|chord| Binding {
                        context: *context,
                        chord,
                        command: *command,
                        description,
                    })
                })
            })
            .collect();
        Self { rows }
    }
}

impl KeyTable {
    /// The defaults with the config's rebindings applied. A rebound action loses its
    /// default keys in that context; a key taken from another action moves.
    pub fn with_overrides(overrides: &[Override]) -> Result<Self, (usize, KeyError)> {
        let mut table = Self::default();
        for (i, o) in overrides.iter().enumerate() {
            table.apply(o).map_err(|e| (i, e))?;
        }
        Ok(table)
    }

    fn apply(&mut self, o: &Override) -> Result<(), KeyError> {
        let context =
            Context::parse(&o.context).ok_or_else(|| KeyError::UnknownContext(crate::domain::sanitize(&o.context)))?;
        let known: Vec<(Command, &'static str)> = {
            let mut seen = vec![];
            for (c, _, cmd, desc) in DEFAULTS {
                if *c == context && !seen.iter().any(|(x, _)| x == cmd) {
                    seen.push((*cmd, *desc));
                }
            }
            seen
        };
        let Some((command, description)) =
            Command::parse(&o.action).and_then(|cmd| known.iter().find(|(c, _)| *c == cmd).copied())
        else {
            return Err(KeyError::UnknownAction {
                context: context.name(),
                action: crate::domain::sanitize(&o.action),
                known: known.iter().map(|(c, _)| c.name()).collect::<Vec<_>>().join(", "),
            });
        };
        let chords = o.keys.iter().map(|k| Chord::parse(k)).collect::<Result<Vec<_>, _>>()?;
        self.rows.retain(|b| !(b.context == context && (b.command == command || chords.contains(&b.chord))));
        self.rows.extend(chords.into_iter().map(|chord| Binding { context, chord, command, description }));
        Ok(())
    }

    /// The command a key means in `context`: the context's own rows first, then the
    /// rows that apply there too (`Screens` on the queue and case, `Anywhere` wherever
    /// no text is typed; Ctrl-C even then).
    pub fn lookup(&self, context: Context, key: &KeyEvent) -> Option<Command> {
        let find =
            |ctx: Context| self.rows.iter().find(|b| b.context == ctx && b.chord.matches(key)).map(|b| b.command);
        if context.takes_text() && is_text(key) {
            return None;
        }
        if let Some(cmd) = find(context) {
            return Some(cmd);
        }
        if matches!(context, Context::Queue | Context::Case)
            && let Some(cmd) = find(Context::Screens)
        {
            return Some(cmd);
        }
        match find(Context::Anywhere) {
            Some(Command::QuitNow) => Some(Command::QuitNow),
            Some(cmd) if !context.takes_text() => Some(cmd),
            _ => None,
        }
    }

    /// The keys bound to a command in a context, in table order.
    pub fn keys_for(&self, context: Context, command: Command) -> Vec<Chord> {
        self.rows.iter().filter(|b| b.context == context && b.command == command).map(|b| b.chord).collect()
    }

    /// The first key of a command, as shown in hints and dialogs ("" if unbound).
    pub fn key_label(&self, context: Context, command: Command) -> String {
        self.keys_for(context, command).first().map(|c| c.to_string()).unwrap_or_default()
    }

    /// One row per command: (keys joined, description), grouped by context.
    pub fn sections(&self) -> Vec<(Context, Vec<(String, &'static str)>)> {
        Context::ALL
            .into_iter()
            .filter_map(|ctx| {
                let mut rows: Vec<(Command, Vec<String>, &'static str)> = vec![];
                for b in self.rows.iter().filter(|b| b.context == ctx) {
                    match rows.iter_mut().find(|(c, _, _)| *c == b.command) {
                        Some((_, keys, _)) => keys.push(b.chord.to_string()),
                        None => rows.push((b.command, vec![b.chord.to_string()], b.description)),
                    }
                }
                (!rows.is_empty()).then(|| (ctx, rows.into_iter().map(|(_, k, d)| (k.join(" "), d)).collect()))
            })
            .collect()
    }

    /// The status-bar hint for a context: "Enter open · / filter · …".
    pub fn hints(&self, context: Context) -> String {
        self.hints_where(context, |_| true)
    }

    /// The hint with only the commands that can do something now.
    pub fn hints_where(&self, context: Context, available: impl Fn(Command) -> bool) -> String {
        let commands = HINTS.iter().find(|(c, _)| *c == context).map(|(_, cmds)| *cmds).unwrap_or(&[]);
        commands
            .iter()
            .filter(|cmd| available(**cmd))
            .filter_map(|cmd| {
                let key = [context, Context::Screens, Context::Anywhere]
                    .into_iter()
                    .find_map(|ctx| self.keys_for(ctx, *cmd).first().copied())?;
                Some(format!("{key} {}", cmd.hint(context)))
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }

    /// The README's key table, generated (a test keeps the README in step).
    pub fn markdown(&self) -> String {
        let mut out = String::from("| Where | Keys | Does |\n|---|---|---|\n");
        for (ctx, rows) in self.sections() {
            for (keys, what) in rows {
                let keys = keys.split(' ').map(|k| format!("`{}`", k.replace('|', "\\|"))).collect::<Vec<_>>();
                out.push_str(&format!("| {} | {} | {} |\n", ctx.title(), keys.join(" "), what));
            }
        }
        out
    }
}

/// A key that types a character (no Ctrl or Alt).
fn is_text(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Char(_)) && !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn every_default_key_parses() {
        for (_, keys, _, _) in DEFAULTS {
            for k in *keys {
                assert!(Chord::parse(k).is_ok(), "{k}");
            }
        }
    }

    #[test]
    fn the_issue_defaults_are_bound() {
        let t = KeyTable::default();
        assert_eq!(t.lookup(Context::Queue, &key(KeyCode::Char('/'))), Some(Command::Filter));
        assert_eq!(t.lookup(Context::Queue, &key(KeyCode::Char(':'))), Some(Command::CommandLine));
        assert_eq!(t.lookup(Context::Case, &key(KeyCode::Char(':'))), Some(Command::CommandLine));
        assert_eq!(t.lookup(Context::Queue, &key(KeyCode::Char(' '))), Some(Command::Mark));
        let shift_v = KeyEvent::new(KeyCode::Char('V'), KeyModifiers::SHIFT);
        assert_eq!(t.lookup(Context::Queue, &shift_v), Some(Command::MarkRange));
        assert_eq!(t.lookup(Context::Queue, &key(KeyCode::Char('*'))), Some(Command::MarkAll));
        assert_eq!(t.lookup(Context::Queue, &key(KeyCode::Esc)), Some(Command::Clear));
        assert_eq!(t.lookup(Context::Case, &key(KeyCode::Char('d'))), Some(Command::Decide));
        assert_eq!(t.lookup(Context::Queue, &key(KeyCode::Char('u'))), Some(Command::Undo));
    }

    #[test]
    fn text_contexts_type_printable_keys_but_ctrl_c_still_quits() {
        let t = KeyTable::default();
        assert_eq!(t.lookup(Context::Reason, &key(KeyCode::Char('q'))), None);
        assert_eq!(t.lookup(Context::Prompt, &key(KeyCode::Char('m'))), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(t.lookup(Context::Reason, &ctrl_c), Some(Command::QuitNow));
        assert_eq!(t.lookup(Context::Reason, &key(KeyCode::Tab)), Some(Command::Templates));
        // In a modal, q does not quit the program; m and ? still work.
        assert_eq!(t.lookup(Context::Dialog, &key(KeyCode::Char('q'))), None);
        assert_eq!(t.lookup(Context::Dialog, &key(KeyCode::Char('m'))), Some(Command::ToggleMask));
    }

    #[test]
    fn overrides_rebind_and_bad_ones_are_named() {
        let o = |c: &str, a: &str, k: &[&str]| Override {
            context: c.into(),
            action: a.into(),
            keys: k.iter().map(|s| s.to_string()).collect(),
        };
        let t = KeyTable::with_overrides(&[o("queue", "mark", &["x"])]).unwrap_or_default();
        assert_eq!(t.lookup(Context::Queue, &key(KeyCode::Char('x'))), Some(Command::Mark));
        assert_eq!(t.lookup(Context::Queue, &key(KeyCode::Char(' '))), None);
        assert!(t.hints(Context::Queue).contains("x mark"));
        assert!(matches!(
            KeyTable::with_overrides(&[o("queue", "nope", &["x"])]),
            Err((0, KeyError::UnknownAction { .. }))
        ));
        assert!(matches!(KeyTable::with_overrides(&[o("queue", "mark", &["ctrl-"])]), Err((0, KeyError::BadKey(_)))));
        assert!(matches!(
            KeyTable::with_overrides(&[o("nowhere", "mark", &["x"])]),
            Err((0, KeyError::UnknownContext(_)))
        ));
    }

    #[test]
    fn the_readme_key_table_is_the_default_table() {
        let readme = include_str!("../../README.md");
        let start = readme.find("<!-- keys:start -->").map(|i| i + "<!-- keys:start -->\n".len());
        let end = readme.find("<!-- keys:end -->");
        let (Some(start), Some(end)) = (start, end) else {
            panic!("README.md has no <!-- keys:start --> … <!-- keys:end --> section");
        };
        let expected = KeyTable::default().markdown();
        assert_eq!(&readme[start..end], expected, "README key table is stale; it should read:\n{expected}");
    }
}
