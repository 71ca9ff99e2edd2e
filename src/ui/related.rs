//! The case view's "Related cases": other cases about the same person, at any of the
//! providers, which no provider's own dashboard can show.

use super::MASKED;
use crate::app::State;
use crate::domain::Case;
use crate::domain::identity::{RelatedCase, Standing};
use ratatui::text::{Line, Span};

/// Related cases listed one by one; the rest are counted.
const LISTED: usize = 8;

/// The section as the case view places it (after a blank line), or nothing when the
/// store knows of no other case about this person.
pub fn lines(state: &State, case: &Case) -> Vec<Line<'static>> {
    let Some(related) = state.related.get(&case.case_ref).filter(|r| !r.is_empty()) else {
        return vec![];
    };
    let mut lines = vec![
        Line::raw(""),
        Line::from(vec![
            Span::styled("Related cases", state.theme().heading()),
            Span::styled("  same person, any provider · :open PROVIDER ID opens one", state.theme().dim()),
        ]),
    ];
    lines.extend(related.iter().take(LISTED).map(|r| line(state, r)));
    if related.len() > LISTED {
        lines.push(Line::styled(format!("  and {} more", related.len() - LISTED), state.theme().dim()));
    }
    lines
}

fn line(state: &State, related: &RelatedCase) -> Line<'static> {
    let (id, name) = if state.mask {
        (MASKED.to_string(), MASKED.to_string())
    } else {
        let name = related
            .applicant
            .as_ref()
            .map(|n| crate::domain::shown_text(&n.one_line(), super::case::VALUE_CAP))
            .unwrap_or_else(|| "(name not held)".into());
        (related.case_ref.key.clone(), name)
    };
    let matched: Vec<&str> = related.matched.iter().map(|k| k.label()).collect();
    Line::from(vec![
        Span::styled("⚑ ", state.theme().key()),
        Span::raw(format!("{} {id}  ", related.case_ref.provider.display_name())),
        Span::raw(format!("{name}  ")),
        Span::styled(matched.join(", "), state.theme().label()),
        Span::styled(format!(" · {}", standing(&related.standing)), state.theme().dim()),
    ])
}

/// "decided Reject 2026-11-30 14:02 UTC", "in the queue (new)".
fn standing(standing: &Standing) -> String {
    match standing {
        Standing::Queued(lane) => format!("in the queue ({})", lane.label()),
        Standing::Decided { verdict, at } => format!("decided {} {}", verdict.label(), at.format("%Y-%m-%d %H:%M UTC")),
        Standing::Settled => "no longer referred, not decided in kycdesk".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::IdentityKind;
    use crate::domain::{Applicant, CaseRef, Lane, ProviderId, SafeText, Verdict};
    use chrono::TimeZone;

    fn case() -> Case {
        Case {
            case_ref: CaseRef::new(ProviderId::ComplyCube, "c1"),
            check_type: SafeText::new("identity"),
            status: SafeText::new("pending"),
            why_referred: SafeText::new("liveness"),
            created_at: None,
            applicant: Applicant { name: SafeText::new("Jane Doe"), ..Applicant::default() },
            documents: vec![],
            selfie: None,
            rules: vec![],
            face_match: None,
            screening: vec![],
            targets: vec![],
        }
    }

    fn related(n: usize) -> Vec<RelatedCase> {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 30, 14, 2, 0).single().unwrap_or_default();
        (0..n)
            .map(|i| RelatedCase {
                case_ref: CaseRef::new(ProviderId::Sumsub, format!("65f{i}a1")),
                applicant: (i != 1).then(|| SafeText::new("DOE, Jane")),
                matched: vec![IdentityKind::NameAndBirth],
                standing: if i == 0 {
                    Standing::Decided { verdict: Verdict::Reject, at }
                } else {
                    Standing::Queued(Lane::New)
                },
            })
            .collect()
    }

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    fn state_with(n: usize) -> State {
        let mut state = State::new(Default::default(), Default::default(), chrono::Utc::now());
        state.related.insert(case().case_ref, related(n));
        state
    }

    #[test]
    fn nothing_at_all_without_related_cases() {
        let mut state = State::new(Default::default(), Default::default(), chrono::Utc::now());
        assert!(lines(&state, &case()).is_empty());
        state.related.insert(case().case_ref, vec![]);
        assert!(lines(&state, &case()).is_empty());
    }

    #[test]
    fn each_related_case_says_who_what_matched_and_where_it_stands() {
        let shown = text(&lines(&state_with(2), &case()));
        assert_eq!(shown[0], "");
        assert!(shown[1].starts_with("Related cases") && shown[1].contains(":open PROVIDER ID"), "{}", shown[1]);
        assert_eq!(
            shown[2],
            "⚑ Sumsub 65f0a1  DOE, Jane  same name and date of birth · decided Reject 2026-11-30 14:02 UTC"
        );
        assert_eq!(shown[3], "⚑ Sumsub 65f1a1  (name not held)  same name and date of birth · in the queue (new)");
        assert_eq!(shown.len(), 4);
    }

    #[test]
    fn eight_are_listed_and_the_rest_counted() {
        let shown = text(&lines(&state_with(11), &case()));
        assert_eq!(shown.iter().filter(|l| l.starts_with('⚑')).count(), 8);
        assert_eq!(shown.last().map(String::as_str), Some("  and 3 more"));
    }

    #[test]
    fn mask_mode_hides_the_id_and_the_name_only() {
        let mut state = state_with(1);
        state.mask = true;
        let shown = text(&lines(&state, &case()));
        assert_eq!(
            shown[2],
            format!("⚑ Sumsub {MASKED}  {MASKED}  same name and date of birth · decided Reject 2026-11-30 14:02 UTC")
        );
        assert!(!shown.iter().any(|l| l.contains("65f0a1") || l.contains("Jane")));
    }
}
