//! Colours and styles, in one place.

use crate::app::Level;
use crate::domain::{LivenessResult, RuleOutcome};
use ratatui::style::{Color, Modifier, Style};

/// How the console is coloured: `theme` in the config, or no colour at all when
/// `NO_COLOR` is set (https://no-color.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Default,
    HighContrast,
    NoColor,
}

impl Theme {
    /// `theme = "default" | "high-contrast"` in the config.
    pub fn parse(name: &str) -> Option<Theme> {
        match name {
            "default" => Some(Theme::Default),
            "high-contrast" => Some(Theme::HighContrast),
            _ => None,
        }
    }
}

pub const ACCENT: Color = Color::Cyan;

pub fn title() -> Style {
    Style::new().fg(Color::Black).bg(ACCENT).add_modifier(Modifier::BOLD)
}

pub fn heading() -> Style {
    Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)
}

pub fn label() -> Style {
    Style::new().fg(Color::Gray)
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn selected() -> Style {
    Style::new().bg(Color::Rgb(40, 60, 90)).add_modifier(Modifier::BOLD)
}

/// A marked row: stands out without looking selected.
pub fn marked() -> Style {
    Style::new().fg(Color::Yellow)
}

pub fn escalated() -> Style {
    Style::new().fg(Color::Magenta)
}

pub fn key() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

pub fn error() -> Style {
    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
}

pub fn level(level: Level) -> Style {
    match level {
        Level::Info => Style::new().fg(Color::Green),
        Level::Warn => Style::new().fg(Color::Yellow),
        Level::Error => error(),
    }
}

pub fn rule(outcome: RuleOutcome) -> (&'static str, Style) {
    match outcome {
        RuleOutcome::Passed => ("✔", Style::new().fg(Color::Green)),
        RuleOutcome::Failed => ("✘", Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)),
        RuleOutcome::CouldNotApply => ("–", Style::new().fg(Color::Yellow)),
    }
}

pub fn liveness(result: LivenessResult) -> (&'static str, Style) {
    match result {
        LivenessResult::Live => ("LIVE", Style::new().fg(Color::Green).add_modifier(Modifier::BOLD)),
        LivenessResult::NotLive => ("NOT LIVE", Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)),
        LivenessResult::Unknown => ("UNKNOWN", Style::new().fg(Color::Yellow)),
    }
}
