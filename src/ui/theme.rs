//! Colours and styles, in one place. Every state also has a symbol or a word beside its
//! colour, so no theme carries meaning by colour alone.

use crate::app::Level;
use crate::domain::{LivenessResult, RuleOutcome};
use ratatui::style::{Color, Modifier, Style};

/// How the console is coloured: `theme` in the config, or no colour at all when
/// `NO_COLOR` is set (https://no-color.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Default,
    /// Black and white with the brightest accents: projectors, low-vision analysts,
    /// terminals with washed-out palettes.
    HighContrast,
    /// Attributes only (bold, reverse, underline): nothing depends on a colour.
    NoColor,
}

const BOLD: Modifier = Modifier::BOLD;

impl Theme {
    /// `theme = "default" | "high-contrast"` in the config.
    pub fn parse(name: &str) -> Option<Theme> {
        match name {
            "default" => Some(Theme::Default),
            "high-contrast" => Some(Theme::HighContrast),
            _ => None,
        }
    }

    pub fn colours(self) -> bool {
        self != Theme::NoColor
    }

    /// `style` in colour, or `plain` without.
    fn pick(self, default: Style, high_contrast: Style, plain: Style) -> Style {
        match self {
            Theme::Default => default,
            Theme::HighContrast => high_contrast,
            Theme::NoColor => plain,
        }
    }

    pub fn title(self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::Cyan).add_modifier(BOLD),
            Style::new().fg(Color::Black).bg(Color::White).add_modifier(BOLD),
            Style::new().add_modifier(BOLD | Modifier::REVERSED),
        )
    }

    pub fn heading(self) -> Style {
        self.pick(
            Style::new().fg(Color::Cyan).add_modifier(BOLD),
            Style::new().fg(Color::LightCyan).add_modifier(BOLD),
            Style::new().add_modifier(BOLD),
        )
    }

    pub fn label(self) -> Style {
        self.pick(Style::new().fg(Color::Gray), Style::new().fg(Color::White), Style::new())
    }

    /// Hints and secondary text: readable, never the thing to look at first.
    pub fn dim(self) -> Style {
        self.pick(Style::new().fg(Color::DarkGray), Style::new().fg(Color::White), Style::new())
    }

    /// The cursor row: reverse video wherever colours may be missing or washed out.
    pub fn selected(self) -> Style {
        self.pick(
            Style::new().bg(Color::Rgb(40, 60, 90)).add_modifier(BOLD),
            Style::new().add_modifier(BOLD | Modifier::REVERSED),
            Style::new().add_modifier(BOLD | Modifier::REVERSED),
        )
    }

    /// A marked row: stands out without looking selected (it also carries `●`).
    pub fn marked(self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow),
            Style::new().fg(Color::LightYellow).add_modifier(BOLD),
            Style::new().add_modifier(Modifier::UNDERLINED),
        )
    }

    pub fn escalated(self) -> Style {
        self.pick(Style::new().fg(Color::Magenta), Style::new().fg(Color::LightMagenta), Style::new())
    }

    pub fn key(self) -> Style {
        self.pick(
            Style::new().fg(Color::Yellow).add_modifier(BOLD),
            Style::new().fg(Color::LightYellow).add_modifier(BOLD),
            Style::new().add_modifier(BOLD),
        )
    }

    pub fn error(self) -> Style {
        self.pick(
            Style::new().fg(Color::Red).add_modifier(BOLD),
            Style::new().fg(Color::LightRed).add_modifier(BOLD),
            Style::new().add_modifier(BOLD),
        )
    }

    pub fn good(self) -> Style {
        self.pick(Style::new().fg(Color::Green), Style::new().fg(Color::LightGreen), Style::new())
    }

    pub fn warn(self) -> Style {
        self.pick(Style::new().fg(Color::Yellow), Style::new().fg(Color::LightYellow), Style::new())
    }

    pub fn level(self, level: Level) -> Style {
        match level {
            Level::Info => self.good(),
            Level::Warn => self.warn(),
            Level::Error => self.error(),
        }
    }

    pub fn rule(self, outcome: RuleOutcome) -> (&'static str, Style) {
        match outcome {
            RuleOutcome::Passed => ("✔", self.good()),
            RuleOutcome::Failed => ("✘", self.error()),
            RuleOutcome::NeedsReview => ("?", self.warn().add_modifier(Modifier::BOLD)),
            RuleOutcome::CouldNotApply => ("–", self.warn()),
        }
    }

    pub fn liveness(self, result: LivenessResult) -> (&'static str, Style) {
        match result {
            LivenessResult::Live => ("LIVE", self.good().add_modifier(BOLD)),
            LivenessResult::NotLive => ("NOT LIVE", self.error()),
            LivenessResult::Unknown => ("UNKNOWN", self.warn()),
        }
    }
}

/// A 24-bit colour as the nearest of the 256-colour palette's cube and grey ramp (the
/// palette every terminal in use has); any other colour unchanged.
pub fn indexed(color: Color) -> Color {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let Color::Rgb(r, g, b) = color else { return color };
    let nearest_level = |v: u8| (0..6u8).min_by_key(|i| LEVELS[usize::from(*i)].abs_diff(v)).unwrap_or(0);
    let distance = |(r2, g2, b2): (u8, u8, u8)| {
        let d = |a: u8, b: u8| u32::from(a.abs_diff(b)).pow(2);
        d(r, r2) + d(g, g2) + d(b, b2)
    };
    let (ri, gi, bi) = (nearest_level(r), nearest_level(g), nearest_level(b));
    let cube = (LEVELS[usize::from(ri)], LEVELS[usize::from(gi)], LEVELS[usize::from(bi)]);
    // The greys 232..=255 are 8, 18, ..., 238.
    let mean = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    let step = u8::try_from((mean.saturating_sub(3) / 10).min(23)).unwrap_or(23);
    let grey = 8 + 10 * step;
    if distance((grey, grey, grey)) < distance(cube) {
        Color::Indexed(232 + step)
    } else {
        Color::Indexed(16 + 36 * ri + 6 * gi + bi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_24_bit_colour_becomes_its_nearest_in_the_256_palette() {
        assert_eq!(indexed(Color::Rgb(0, 0, 0)), Color::Indexed(16));
        assert_eq!(indexed(Color::Rgb(255, 255, 255)), Color::Indexed(231));
        assert_eq!(indexed(Color::Rgb(250, 5, 0)), Color::Indexed(196));
        assert_eq!(
            indexed(Color::Rgb(128, 128, 128)),
            Color::Indexed(244),
            "a grey from the ramp, nearer than the cube's"
        );
        assert_eq!(indexed(Color::Reset), Color::Reset);
        assert_eq!(indexed(Color::Indexed(3)), Color::Indexed(3));
    }
}
