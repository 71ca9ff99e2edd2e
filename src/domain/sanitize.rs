//! Untrusted text -> safe display text. Every provider string passes through here once,
//! where wire types become domain types, so the UI never prints a raw provider string.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// What a dangerous character becomes: visible, one column wide, never interpreted.
pub const REPLACEMENT: char = '\u{FFFD}';

fn is_unsafe(c: char) -> bool {
    matches!(c,
        // C0 controls except newline, DEL, C1 controls
        '\u{0}'..='\u{9}' | '\u{B}'..='\u{1F}' | '\u{7F}'..='\u{9F}'
        // bidi embeddings, overrides, isolates and marks
        | '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        // zero-width characters and invisible separators
        | '\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

/// What an analyst may put into free text (the reason): printable characters and
/// newlines; no terminal controls (ESC, BEL, OSC), bidi or invisible characters.
pub fn is_typable(c: char) -> bool {
    c == '\n' || !(is_unsafe(c) || c.is_control())
}

/// `raw` with everything [`is_typable`] refuses dropped; CR and CRLF become newlines
/// (terminals paste lines with CR).
pub fn typable(raw: &str) -> String {
    raw.replace("\r\n", "\n").replace('\r', "\n").chars().filter(|c| is_typable(*c)).collect()
}

/// Replaces control, bidi and zero-width characters with [`REPLACEMENT`]; keeps newlines.
pub fn sanitize(raw: &str) -> String {
    raw.chars().map(|c| if is_unsafe(c) { REPLACEMENT } else { c }).collect()
}

/// Text that has been through [`sanitize`]. The only way to build one is through it,
/// so a `SafeText` in the domain model is always safe to draw.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SafeText(String);

impl SafeText {
    pub fn new(raw: &str) -> Self {
        Self(sanitize(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text on one line: newlines become spaces (for table cells and titles).
    pub fn one_line(&self) -> String {
        self.0.replace('\n', " ")
    }
}

impl From<&str> for SafeText {
    fn from(raw: &str) -> Self {
        Self::new(raw)
    }
}

impl From<String> for SafeText {
    fn from(raw: String) -> Self {
        Self::new(&raw)
    }
}

impl fmt::Display for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Text read back from the store is sanitised again: the store is a file on disk too.
impl<'de> Deserialize<'de> for SafeText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Self::new(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typable_keeps_printable_text_and_newlines_only() {
        assert_eq!(typable("Zoë 山田\r\nok\rnext"), "Zoë 山田\nok\nnext");
        assert_eq!(typable("a\u{1b}]0;title\u{7}b\u{9b}31m\tc\u{202e}d\u{200b}e\u{0}"), "a]0;titleb31mcde");
        assert!(is_typable('\n') && is_typable('é') && !is_typable('\u{1b}') && !is_typable('\u{7f}'));
    }

    #[test]
    fn keeps_ordinary_text_and_newlines() {
        assert_eq!(sanitize("Zoë Müller-Łukasz\nline 2"), "Zoë Müller-Łukasz\nline 2");
        assert_eq!(sanitize("山田 太郎 محمد"), "山田 太郎 محمد");
    }

    #[test]
    fn replaces_escape_sequences_and_c0() {
        assert_eq!(sanitize("\u{1b}[2J\u{1b}]0;pwned\u{7}x"), "\u{FFFD}[2J\u{FFFD}]0;pwned\u{FFFD}x");
        assert_eq!(sanitize("a\tb\rc\0d"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}d");
    }

    #[test]
    fn replaces_del_and_c1() {
        assert_eq!(sanitize("a\u{7f}b\u{9b}c\u{85}"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}");
    }

    #[test]
    fn replaces_bidi_and_zero_width() {
        let hostile = "abc\u{202E}fdp.exe\u{2066}\u{200B}\u{200D}\u{FEFF}\u{061C}";
        assert_eq!(sanitize(hostile), "abc\u{FFFD}fdp.exe\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn safe_text_resanitises_on_deserialize() {
        let t: SafeText = serde_json::from_str("\"x\\u001b[31my\"").unwrap_or_default();
        assert_eq!(t.as_str(), "x\u{FFFD}[31my");
        assert_eq!(SafeText::new("a\nb").one_line(), "a b");
    }
}
