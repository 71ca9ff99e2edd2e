//! Dates as providers send them, read once where wire types become domain types: a
//! calendar day is shown `YYYY-MM-DD`, a moment `YYYY-MM-DD HH:MM UTC`, so the screen
//! never shows a raw ISO string beside a formatted one. A date that does not read is kept
//! as (sanitised) text: still shown, never compared.

use super::SafeText;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use std::fmt;

/// How a calendar day is shown everywhere.
pub const DAY_FORMAT: &str = "%Y-%m-%d";
/// How a moment is shown everywhere.
pub const INSTANT_FORMAT: &str = "%Y-%m-%d %H:%M UTC";

/// Longer than any date or date-time any provider sends (`2026-11-17T05:18:00.123456789+05:30`
/// is 35): longer text is not tried as a date at all.
const MAX_DATE_LEN: usize = 40;

/// Naive date-times (no offset: ASP.NET's `DateTime`, Sumsub's `createdAt`), read as UTC.
const NAIVE_FORMATS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];
/// Sumsub's `2025-03-05 04:41:48+0000`.
const SPACED_OFFSET_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f%z";

/// A date from a provider: a calendar day, or the provider's text when it is not one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DateValue {
    Day(NaiveDate),
    Text(SafeText),
}

impl DateValue {
    /// What a provider sent: `None` when it sent nothing (empty or blank).
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return None;
        }
        Some(parse_day(trimmed).map_or_else(|| DateValue::Text(SafeText::new(trimmed)), DateValue::Day))
    }

    /// A date sent in parts (ComplyCube `{day, month, year}`, FrankieOne `Date`); `None`
    /// when the parts are not a real day.
    pub fn from_parts(year: i64, month: i64, day: i64) -> Option<Self> {
        let date =
            NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, u32::try_from(month).ok()?, u32::try_from(day).ok()?)?;
        Some(DateValue::Day(date))
    }

    /// The calendar day, when the provider's date read as one.
    pub fn day(&self) -> Option<NaiveDate> {
        match self {
            DateValue::Day(d) => Some(*d),
            DateValue::Text(_) => None,
        }
    }

    /// As shown: the same text `Display` writes, as display-safe text.
    pub fn text(&self) -> SafeText {
        SafeText::new(&self.to_string())
    }
}

impl fmt::Display for DateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateValue::Day(d) => write!(f, "{}", d.format(DAY_FORMAT)),
            DateValue::Text(t) => f.write_str(t.as_str()),
        }
    }
}

/// `s` starts `YYYY-MM-DD`: the shape every accepted form shares (checked before any
/// parser runs, so `+1980-…`, `1980/01/31` or a number never read as a day).
fn has_iso_day_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// The calendar day of a date or date-time: `1980-01-31`, `2026-11-17T05:18:00Z`, with an
/// offset or fractions, without an offset, or space-separated. A date-time gives the day
/// as written (a birth date sent as midnight `+02:00` is still that day).
pub fn parse_day(raw: &str) -> Option<NaiveDate> {
    let s = raw.trim();
    if s.len() > MAX_DATE_LEN || !has_iso_day_prefix(s) {
        return None;
    }
    let day = NaiveDate::parse_from_str(s.get(..10)?, DAY_FORMAT).ok()?;
    if s.len() == 10 {
        return Some(day);
    }
    // Whatever follows the day must be a time, or the whole is not a date.
    let as_written = DateTime::parse_from_rfc3339(s)
        .map(|t| t.date_naive())
        .ok()
        .or_else(|| DateTime::parse_from_str(s, SPACED_OFFSET_FORMAT).ok().map(|t| t.date_naive()))
        .or_else(|| NAIVE_FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(s, f).ok()).map(|t| t.date()));
    as_written.filter(|d| *d == day)
}

/// A moment: RFC 3339 (any offset, fractions), Sumsub's `YYYY-MM-DD hh:mm:ss+0000`, or a
/// date-time without an offset (read as UTC).
pub fn parse_instant(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if s.len() > MAX_DATE_LEN || !has_iso_day_prefix(s) {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| DateTime::parse_from_str(s, SPACED_OFFSET_FORMAT).ok())
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| NAIVE_FORMATS.iter().find_map(|f| NaiveDateTime::parse_from_str(s, f).ok()).map(|n| n.and_utc()))
}

/// A moment as shown everywhere.
pub fn shown_instant(t: DateTime<Utc>) -> String {
    t.format(INSTANT_FORMAT).to_string()
}

/// A provider's timestamp for a field: formatted when it reads, else its text (sanitised).
pub fn instant_text(raw: &str) -> SafeText {
    match parse_instant(raw) {
        Some(t) => SafeText::new(&shown_instant(t)),
        None => SafeText::new(raw.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn reads_every_form_providers_send() {
        assert_eq!(parse_day("1980-01-31"), day(1980, 1, 31));
        assert_eq!(parse_day(" 1980-01-31 "), day(1980, 1, 31));
        assert_eq!(parse_day("2026-11-17T05:18:00Z"), day(2026, 11, 17));
        assert_eq!(parse_day("2026-11-17T05:18:00.123Z"), day(2026, 11, 17));
        assert_eq!(parse_day("2026-11-17T05:18:00+05:30"), day(2026, 11, 17));
        // The day as written, not moved to UTC: a birth date at midnight +02:00.
        assert_eq!(parse_day("1990-02-01T00:00:00+02:00"), day(1990, 2, 1));
        // ASP.NET `DateTime` (Credas), without an offset, with and without fractions.
        assert_eq!(parse_day("1980-01-31T00:00:00"), day(1980, 1, 31));
        assert_eq!(parse_day("1980-01-31T00:00:00.0000000"), day(1980, 1, 31));
        // Sumsub's spaced forms.
        assert_eq!(parse_day("2025-03-05 04:41:48"), day(2025, 3, 5));
        assert_eq!(parse_day("2025-03-05 04:41:48+0000"), day(2025, 3, 5));
    }

    #[test]
    fn refuses_what_is_not_a_day() {
        for bad in [
            "",
            "   ",
            "9999-99-99",
            "2025-02-30",
            "1980-13-01",
            "1980/01/31",
            "31/01/1980",
            "01/31/1980",
            "+1980-01-31",
            "1985",
            "1980-01",
            "19800131",
            "1980-01-31 garbage",
            "1980-01-31T25:00:00Z",
            "1980-01-31\u{1b}[2J",
            "\u{1b}]0;1980-01-31\u{7}",
            "１９８０-01-31",
            "1980-01-3é",
        ] {
            assert_eq!(parse_day(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hostile_text_stays_text_sanitised_and_never_panics() {
        assert_eq!(DateValue::parse(""), None);
        assert_eq!(DateValue::parse(" \n "), None);
        let huge = format!("1980-01-31{}", "9".repeat(10_000));
        assert_eq!(parse_day(&huge), None);
        assert_eq!(parse_instant(&huge), None);
        assert!(matches!(DateValue::parse(&huge), Some(DateValue::Text(_))));
        let junk = "\u{1b}[31m1980-01-31\u{7}\u{202e}";
        let Some(DateValue::Text(t)) = DateValue::parse(junk) else {
            panic!("a hostile date read as a day");
        };
        assert!(!t.as_str().contains('\u{1b}') && !t.as_str().contains('\u{202e}'), "{t:?}");
        assert_eq!(DateValue::parse("9999-99-99").map(|d| d.to_string()).as_deref(), Some("9999-99-99"));
        assert_eq!(DateValue::parse("12 Rajab 1445 AH").map(|d| d.day()), Some(None));
        // Multi-byte text where the day would end: no slicing panic.
        assert_eq!(parse_day("1980-01-é1"), None);
        assert_eq!(parse_day("ééééééééééé"), None);
    }

    #[test]
    fn days_show_in_one_format() {
        assert_eq!(DateValue::parse("1980-01-31T00:00:00").map(|d| d.to_string()).as_deref(), Some("1980-01-31"));
        assert_eq!(DateValue::from_parts(1970, 2, 1).map(|d| d.to_string()).as_deref(), Some("1970-02-01"));
        assert_eq!(DateValue::from_parts(1970, 2, 30), None);
        assert_eq!(DateValue::from_parts(i64::MAX, 1, 1), None);
        assert_eq!(DateValue::from_parts(1970, -1, 1), None);
        assert_eq!(DateValue::parse("1980-01-31").map(|d| d.text().to_string()).as_deref(), Some("1980-01-31"));
    }

    #[test]
    fn moments_show_in_utc_minutes() {
        let at = |s: &str| parse_instant(s).map(shown_instant);
        assert_eq!(at("2026-11-17T05:18:00Z").as_deref(), Some("2026-11-17 05:18 UTC"));
        assert_eq!(at("2026-11-17T05:18:59.999Z").as_deref(), Some("2026-11-17 05:18 UTC"));
        assert_eq!(at("2026-11-17T10:48:00+05:30").as_deref(), Some("2026-11-17 05:18 UTC"));
        assert_eq!(at("2026-11-17T05:18:00").as_deref(), Some("2026-11-17 05:18 UTC"));
        assert_eq!(at("2026-11-17 05:18:00+0000").as_deref(), Some("2026-11-17 05:18 UTC"));
        assert_eq!(at("2026-11-17 05:18:00").as_deref(), Some("2026-11-17 05:18 UTC"));
        assert_eq!(at("2026-11-17"), None, "a day is not a moment");
        assert_eq!(at("yesterday"), None);
        assert_eq!(instant_text("2026-11-17T05:18:00.000Z").as_str(), "2026-11-17 05:18 UTC");
        assert_eq!(instant_text("soon\u{1b}[2J").as_str(), "soon\u{FFFD}[2J");
    }
}
