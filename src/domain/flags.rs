//! What the evidence itself says is wrong, worked out from the case alone: documents
//! expired or about to, and a document whose holder (name, date of birth) is not the
//! applicant on record. Pure: the caller says what day it is.

use super::{Case, Document, SafeText};
use chrono::NaiveDate;

/// A document expiring within this many days is flagged.
pub const EXPIRES_SOON_DAYS: i64 = 30;

/// One thing the analyst should see about a document, and which document it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvidenceFlag {
    Expired {
        document: String,
        doc_type: SafeText,
        on: NaiveDate,
    },
    /// Expires today (0 days left) or within [`EXPIRES_SOON_DAYS`].
    ExpiresSoon {
        document: String,
        doc_type: SafeText,
        on: NaiveDate,
        days_left: i64,
    },
    BirthDateDiffers {
        document: String,
        doc_type: SafeText,
        on_document: NaiveDate,
        on_applicant: NaiveDate,
    },
    NameDiffers {
        document: String,
        doc_type: SafeText,
        on_document: SafeText,
        on_applicant: SafeText,
    },
}

impl EvidenceFlag {
    /// The id of the document the flag is about.
    pub fn document(&self) -> &str {
        match self {
            EvidenceFlag::Expired { document, .. }
            | EvidenceFlag::ExpiresSoon { document, .. }
            | EvidenceFlag::BirthDateDiffers { document, .. }
            | EvidenceFlag::NameDiffers { document, .. } => document,
        }
    }

    /// Whether the label carries personal data (a name, a date of birth): mask mode shows
    /// [`EvidenceFlag::masked_label`] instead.
    pub fn is_personal(&self) -> bool {
        matches!(self, EvidenceFlag::BirthDateDiffers { .. } | EvidenceFlag::NameDiffers { .. })
    }

    /// The flag in the analyst's words, e.g. "passport expired on 2025-03-01".
    pub fn label(&self) -> String {
        match self {
            EvidenceFlag::Expired { doc_type, on, .. } => format!("{doc_type} expired on {on}"),
            EvidenceFlag::ExpiresSoon { doc_type, on, days_left: 0, .. } => format!("{doc_type} expires today ({on})"),
            EvidenceFlag::ExpiresSoon { doc_type, on, days_left, .. } => {
                format!("{doc_type} expires on {on}, in {}", days(*days_left))
            }
            EvidenceFlag::BirthDateDiffers { doc_type, on_document, on_applicant, .. } => {
                format!("date of birth on the {doc_type} {on_document} ≠ applicant {on_applicant}")
            }
            EvidenceFlag::NameDiffers { doc_type, on_document, on_applicant, .. } => {
                format!("name on the {doc_type} {} ≠ applicant {}", on_document.one_line(), on_applicant.one_line())
            }
        }
    }

    /// The flag without the person's data, for mask mode.
    pub fn masked_label(&self) -> String {
        match self {
            EvidenceFlag::BirthDateDiffers { doc_type, .. } => {
                format!("date of birth on the {doc_type} ≠ applicant")
            }
            EvidenceFlag::NameDiffers { doc_type, .. } => format!("name on the {doc_type} ≠ applicant"),
            other => other.label(),
        }
    }
}

fn days(n: i64) -> String {
    if n == 1 { "1 day".into() } else { format!("{n} days") }
}

/// Every flag of a case's documents, document by document, on `today`.
pub fn evidence_flags(case: &Case, today: NaiveDate) -> Vec<EvidenceFlag> {
    let mut flags = vec![];
    for doc in &case.documents {
        let id = || doc.id.clone();
        let doc_type = || doc_label(doc);
        if let Some(on) = doc.expiry.as_ref().and_then(|e| e.day()) {
            let days_left = (on - today).num_days();
            if days_left < 0 {
                flags.push(EvidenceFlag::Expired { document: id(), doc_type: doc_type(), on });
            } else if days_left <= EXPIRES_SOON_DAYS {
                flags.push(EvidenceFlag::ExpiresSoon { document: id(), doc_type: doc_type(), on, days_left });
            }
        }
        let on_document = doc.date_of_birth.as_ref().and_then(|d| d.day());
        let on_applicant = case.applicant.date_of_birth.as_ref().and_then(|d| d.day());
        if let (Some(on_document), Some(on_applicant)) = (on_document, on_applicant)
            && on_document != on_applicant
        {
            flags.push(EvidenceFlag::BirthDateDiffers {
                document: id(),
                doc_type: doc_type(),
                on_document,
                on_applicant,
            });
        }
        if let Some(holder) = &doc.holder_name
            && names_differ(holder.as_str(), case.applicant.name.as_str())
        {
            flags.push(EvidenceFlag::NameDiffers {
                document: id(),
                doc_type: doc_type(),
                on_document: holder.clone(),
                on_applicant: case.applicant.name.clone(),
            });
        }
    }
    flags
}

fn doc_label(doc: &Document) -> SafeText {
    if doc.doc_type.is_empty() { SafeText::new("document") } else { doc.doc_type.clone() }
}

/// A name as comparable words: lower case, transliterated to ASCII by `deunicode`
/// (`Zoë` = `zoe`, `ß` = `ss`, `Łukasz` = `lukasz`), apostrophes dropped (`O'Brien` = `obrien`), every other non-letter a word break
/// (`SMITH, John`, `Anne-Marie`, a replaced control character). Shared by every place that
/// asks whether two names are the same person's.
pub fn name_words(name: &str) -> Vec<String> {
    let mut folded = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '\'' | '’' | 'ʼ' | '`') {
            continue;
        }
        match c {
            c if c.is_ascii_alphanumeric() => folded.push(c.to_ascii_lowercase()),
            // Latin letters only: other scripts stay as written, since a transliteration
            // would make different names (山田, 山下) look alike.
            c if c.is_alphanumeric() && is_latin(c) => match deunicode::deunicode_char(c) {
                Some(plain) => {
                    folded.extend(plain.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()))
                }
                None => folded.extend(c.to_lowercase()),
            },
            c if c.is_alphanumeric() => folded.extend(c.to_lowercase()),
            _ => folded.push(' '),
        }
    }
    folded.split_whitespace().map(str::to_string).collect()
}

/// Latin-1 Supplement to Latin Extended-B, and Latin Extended Additional.
fn is_latin(c: char) -> bool {
    matches!(c, '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}')
}

/// Whether two names are not the same person's. Order, case, accents, spacing and
/// punctuation do not count, nor words only one side has (a middle name, a second
/// surname), and an initial stands for any word it begins; a given name or surname that
/// differs does. An empty name says nothing, so it differs from nothing.
pub fn names_differ(a: &str, b: &str) -> bool {
    let (a, b) = (name_words(a), name_words(b));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    !covered(&short, &long)
}

/// Every word of `short` pairs with a distinct word of `long` (equal, or an initial of it).
fn covered(short: &[String], long: &[String]) -> bool {
    let mut used = vec![false; long.len()];
    // Whole words first, so an initial cannot take the word a full match needs.
    let mut initials = vec![];
    for word in short {
        match long.iter().enumerate().position(|(i, w)| !used[i] && w == word) {
            Some(i) => used[i] = true,
            None => initials.push(word),
        }
    }
    initials.into_iter().all(|word| {
        let initial = word.chars().count() == 1;
        let found = long.iter().enumerate().position(|(i, w)| !used[i] && initial && w.starts_with(word.as_str()));
        found.map(|i| used[i] = true).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Applicant, CaseRef, DateValue, ProviderId};

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn doc(id: &str, expiry: Option<&str>, holder: Option<&str>, dob: Option<&str>) -> Document {
        Document {
            id: id.into(),
            doc_type: SafeText::new("passport"),
            country: None,
            number: None,
            expiry: expiry.and_then(DateValue::parse),
            holder_name: holder.map(SafeText::new),
            date_of_birth: dob.and_then(DateValue::parse),
            sides: vec![],
            fields: vec![],
        }
    }

    fn case(name: &str, dob: Option<&str>, documents: Vec<Document>) -> Case {
        Case {
            case_ref: CaseRef::new(ProviderId::Sumsub, "a1"),
            check_type: SafeText::new("kyc"),
            status: SafeText::new("onHold"),
            why_referred: SafeText::new("x"),
            created_at: None,
            applicant: Applicant {
                name: SafeText::new(name),
                date_of_birth: dob.and_then(DateValue::parse),
                ..Applicant::default()
            },
            documents,
            selfie: None,
            rules: vec![],
            face_match: None,
            screening: vec![],
            targets: vec![],
        }
    }

    const TODAY: &str = "2026-11-20";

    #[test]
    fn expired_and_expiring_documents_are_flagged_by_the_day() {
        let c = case(
            "John Smith",
            None,
            vec![
                doc("old", Some("2025-03-01"), None, None),
                doc("yesterday", Some("2026-11-19"), None, None),
                doc("today", Some("2026-11-20"), None, None),
                doc("soon", Some("2026-12-20"), None, None),
                doc("later", Some("2026-12-21"), None, None),
                doc("unreadable", Some("soon-ish"), None, None),
                doc("none", None, None, None),
            ],
        );
        let flags = evidence_flags(&c, date(TODAY));
        let labels: Vec<(&str, String)> = flags.iter().map(|f| (f.document(), f.label())).collect();
        assert_eq!(
            labels,
            vec![
                ("old", "passport expired on 2025-03-01".to_string()),
                ("yesterday", "passport expired on 2026-11-19".to_string()),
                ("today", "passport expires today (2026-11-20)".to_string()),
                ("soon", "passport expires on 2026-12-20, in 30 days".to_string()),
            ]
        );
        assert!(matches!(flags[3], EvidenceFlag::ExpiresSoon { days_left: 30, .. }));
        assert!(flags.iter().all(|f| !f.is_personal() && f.masked_label() == f.label()));
    }

    #[test]
    fn a_different_date_of_birth_is_flagged_with_both_dates() {
        let c = case(
            "John Smith",
            Some("1990-01-02"),
            vec![doc("d1", None, None, Some("1990-02-01")), doc("d2", None, None, Some("1990-01-02T00:00:00"))],
        );
        let flags = evidence_flags(&c, date(TODAY));
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].document(), "d1");
        assert_eq!(flags[0].label(), "date of birth on the passport 1990-02-01 ≠ applicant 1990-01-02");
        assert!(flags[0].is_personal());
        assert_eq!(flags[0].masked_label(), "date of birth on the passport ≠ applicant");
        // Nothing to compare: no flag.
        let unknown = case("John Smith", Some("around 1990"), vec![doc("d1", None, None, Some("1990-02-01"))]);
        assert!(evidence_flags(&unknown, date(TODAY)).is_empty());
        let missing = case("John Smith", None, vec![doc("d1", None, None, Some("1990-02-01"))]);
        assert!(evidence_flags(&missing, date(TODAY)).is_empty());
    }

    #[test]
    fn the_same_name_written_differently_is_not_flagged() {
        for (on_document, on_applicant) in [
            ("SMITH, John", "John Smith"),
            ("JOHN SMITH", "john smith"),
            ("  John   Smith ", "John Smith"),
            ("Zoë Müller-Łukasz", "Zoe Muller Lukasz"),
            ("José Álvarez", "JOSE ALVAREZ"),
            ("Seán O'Brien", "Sean OBrien"),
            ("John Michael Smith", "John Smith"),
            ("John Smith", "SMITH John Michael"),
            ("J. Smith", "John Smith"),
            ("Groß Anna", "Anna Gross"),
            ("SMITH<<JOHN", "John Smith"),
        ] {
            assert!(!names_differ(on_document, on_applicant), "{on_document} / {on_applicant}");
        }
    }

    #[test]
    fn a_different_surname_or_given_name_is_flagged() {
        for (on_document, on_applicant) in [
            ("John Smyth", "John Smith"),
            ("Jane Smith", "John Smith"),
            ("SMITH, Jane", "John Smith"),
            ("John Michael Jones", "John Smith"),
            ("K. Smith", "John Smith"),
            ("John John", "John Smith"),
        ] {
            assert!(names_differ(on_document, on_applicant), "{on_document} / {on_applicant}");
        }
        let c = case("Mei Chen", None, vec![doc("d1", None, Some("CHEN-WALKER, Mei"), None)]);
        assert!(evidence_flags(&c, date(TODAY)).is_empty(), "a second surname on one side only");
        let c = case("Mei Chen", None, vec![doc("d1", None, Some("WALKER, Mei"), None)]);
        let flags = evidence_flags(&c, date(TODAY));
        assert_eq!(flags.len(), 1);
        assert_eq!(flags[0].label(), "name on the passport WALKER, Mei ≠ applicant Mei Chen");
        assert_eq!(flags[0].masked_label(), "name on the passport ≠ applicant");
    }

    #[test]
    fn names_with_nothing_comparable_are_not_flagged() {
        assert!(!names_differ("", "John Smith"));
        assert!(!names_differ("\u{FFFD}\u{FFFD}", "John Smith"));
        assert!(!names_differ("John Smith", " , . "));
        assert_eq!(name_words("山田 太郎"), vec!["山田", "太郎"]);
        assert!(names_differ("山田 太郎", "田中 太郎"));
        assert_eq!(name_words("Mallory \u{FFFD}[31mRed"), vec!["mallory", "31mred"]);
    }
}
