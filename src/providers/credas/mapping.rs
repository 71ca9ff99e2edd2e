//! Credas wire types -> domain. Every string is sanitised here, once.

use super::{ID, assumptions, wire};
use crate::domain::{
    Applicant, Case, CaseRef, DateValue, DecisionTarget, Document, FaceMatch, Field, Lane, Liveness, LivenessResult,
    MediaRef, QueueEntry, QueueStatus, RuleOutcome, RuleResult, SafeText, Selfie, TargetId, Verdict,
};
use chrono::{DateTime, Utc};

/// Active-check `status` (documented for Right to Work/Rent; assumed for all).
const ACTIVE_CHECK_STATUS: [&str; 10] = [
    "?",
    "Pass",
    "Requested",
    "ActionRequired",
    "Fail",
    "NotPerformed",
    "Refer",
    "UnderReview",
    "Complete",
    "AwaitingData",
];

/// Credas writes ASP.NET `DateTime`s, without an offset (read as UTC) or RFC 3339.
pub use crate::domain::parse_instant as parse_time;

pub fn case_key(entity: &str, entry: &str) -> String {
    format!("{entity}/{entry}")
}

/// A case key back into entity and IDV entry.
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('/')
}

/// Elements of an IDV entry, by target key: `liveness`, `document:{id}`, `supporting:{id}`.
pub const LIVENESS: &str = "liveness";

pub fn referred_elements(entry: &wire::IdentityVerification) -> Vec<String> {
    let mut out = vec![];
    if assumptions::needs_review(entry.liveness_result) {
        out.push(LIVENESS.to_string());
    }
    if assumptions::needs_review(entry.document_result)
        && let Some(doc) = &entry.document_id
    {
        out.push(format!("document:{doc}"));
    }
    for s in &entry.supporting_documents {
        if assumptions::needs_review(s.overall_result) {
            out.push(format!("supporting:{}", s.supporting_document_id));
        }
    }
    out
}

pub fn is_referred(entry: &wire::IdentityVerification) -> bool {
    assumptions::needs_review(entry.overall_result) || !referred_elements(entry).is_empty()
}

fn full_name(summary: &wire::Summary) -> String {
    let parts = [summary.first_name.as_deref(), summary.surname.as_deref()];
    let joined = parts.into_iter().flatten().collect::<Vec<_>>().join(" ");
    if joined.trim().is_empty() { summary.name.clone().unwrap_or_else(|| "(unnamed)".into()) } else { joined }
}

/// What each verdict sends for these elements, in the analyst's words: the calls
/// `plan_decision` makes (one per liveness / ID document, one review for the supporting
/// documents together).
pub fn sends(elements: &[String]) -> Vec<(Verdict, SafeText)> {
    let supporting = elements.iter().filter(|e| e.starts_with("supporting:")).count();
    let says = |action: &str, result: i64| {
        let mut parts = vec![];
        if elements.iter().any(|e| e == LIVENESS) {
            parts.push(format!("{action}-liveness"));
        }
        if elements.iter().any(|e| e.starts_with("document:")) {
            parts.push(format!("id-document {action}"));
        }
        if supporting > 0 {
            let docs = if supporting == 1 {
                "1 supporting document".to_string()
            } else {
                format!("{supporting} supporting documents")
            };
            parts.push(format!("{docs} {}", assumptions::result_name(result)));
        }
        if parts.is_empty() { "nothing: no element awaits review".to_string() } else { parts.join(", ") }
    };
    vec![
        (Verdict::Verify, SafeText::new(&says("verify", assumptions::MANUAL_PASS))),
        (Verdict::Reject, SafeText::new(&says("reject", assumptions::MANUAL_FAIL))),
        (
            Verdict::Refer,
            SafeText::new(&format!("{}, and escalated in kycdesk", says("refer", assumptions::MANUAL_REFER))),
        ),
    ]
}

fn element_label(key: &str, entry: &wire::IdentityVerification) -> String {
    if key == LIVENESS {
        return "Liveness".into();
    }
    if let Some(doc) = key.strip_prefix("document:") {
        let kind = entry.document_type.map(assumptions::document_type_name).unwrap_or("ID document");
        return format!("ID document: {kind} ({doc})");
    }
    let id = key.strip_prefix("supporting:").unwrap_or(key);
    let title = entry
        .supporting_documents
        .iter()
        .find(|s| s.supporting_document_id == id)
        .and_then(|s| s.title.clone())
        .unwrap_or_else(|| "supporting document".into());
    format!("Supporting document: {title}")
}

fn why_referred(entry: &wire::IdentityVerification) -> String {
    let parts: Vec<String> = referred_elements(entry)
        .iter()
        .map(|k| match k.split_once(':') {
            Some(("document", _)) => "ID document".to_string(),
            Some(("supporting", _)) => "supporting document".to_string(),
            _ => k.clone(),
        })
        .collect();
    if parts.is_empty() {
        format!("overall {}", assumptions::result_name(entry.overall_result.unwrap_or(-1)))
    } else {
        parts.join(", ")
    }
}

pub fn queue_entries(summary: &wire::Summary) -> (Vec<QueueEntry>, Vec<CaseRef>) {
    let mut referred = vec![];
    let mut settled = vec![];
    for entry in &summary.identity_verifications {
        let case_ref = CaseRef::new(ID, case_key(&summary.id, &entry.entry_id));
        if !is_referred(entry) {
            settled.push(case_ref);
            continue;
        }
        referred.push(QueueEntry {
            case_ref,
            applicant: SafeText::new(&full_name(summary)),
            check_type: SafeText::new("identity verification"),
            why_referred: SafeText::new(&why_referred(entry)),
            received_at: entry.date_completed.as_deref().and_then(parse_time).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            status: QueueStatus::Pending,
            lane: Lane::New,
            note: None,
        });
    }
    (referred, settled)
}

fn outcome(value: Option<i64>) -> RuleOutcome {
    match value {
        Some(1 | 4) => RuleOutcome::Passed,
        Some(2 | 5) => RuleOutcome::Failed,
        Some(3 | 6) => RuleOutcome::NeedsReview,
        _ => RuleOutcome::CouldNotApply,
    }
}

fn humanize(field: &str) -> String {
    let base = field.trim_end_matches("Result");
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn media(entity: &str, entry: &str, kind: &str, label: &str) -> MediaRef {
    MediaRef { provider: ID, key: format!("{entity}/{entry}/{kind}"), label: SafeText::new(label) }
}

pub fn case(
    entity: &wire::Entity,
    summary: &wire::Summary,
    entry: &wire::IdentityVerification,
    active_checks: &[wire::ActiveCheck],
    has_images: bool,
) -> Case {
    let mut fields = vec![];
    let mut push = |field: fn(&str, &str) -> Field, name: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            fields.push(field(name, v));
        }
    };
    push(Field::new, "Entity id", Some(&entity.id));
    push(Field::new, "Email", entity.email_address.as_deref());
    push(Field::new, "Phone", entity.phone_number.as_deref());
    push(Field::new, "Registration code", entity.registration_code.as_deref());
    if let Some(a) = &summary.address {
        let line = [&a.address_line1, &a.address_line2, &a.town, &a.county, &a.postcode]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        push(Field::new, "Address", Some(&line));
    }
    push(Field::fact, "Process", entry.process_id.as_deref());
    let kind = entry.document_type.map(assumptions::document_type_name).unwrap_or("ID document");
    let sides = if has_images {
        vec![
            media(&summary.id, &entry.entry_id, assumptions::IMAGE_FRONT, &format!("{kind} front")),
            media(&summary.id, &entry.entry_id, assumptions::IMAGE_BACK, &format!("{kind} back")),
        ]
    } else {
        vec![]
    };
    let documents = vec![Document {
        id: entry.document_id.clone().unwrap_or_default(),
        doc_type: SafeText::new(kind),
        country: entry.document_issuing_country_code.as_deref().map(SafeText::new),
        number: entry.document_number.as_deref().map(SafeText::new),
        expiry: entry.document_expiry_date.as_deref().and_then(DateValue::parse),
        // An IDV entry carries the document's birth date but no name read off it (none
        // documented; `nameMatchResult` is Credas's own comparison, shown as a result).
        holder_name: None,
        date_of_birth: entry.document_birth_date.as_deref().and_then(DateValue::parse),
        sides,
        fields: entry
            .document_birth_date
            .as_deref()
            .map(|d| vec![Field::personal_date("Date of birth on document", d)])
            .unwrap_or_default(),
    }];
    let liveness_value = entry.liveness_result;
    let liveness = Liveness {
        result: match liveness_value {
            Some(1 | 4) => LivenessResult::Live,
            Some(2 | 5) => LivenessResult::NotLive,
            _ => LivenessResult::Unknown,
        },
        code: liveness_value.map(|v| SafeText::new(assumptions::result_name(v))),
        description: SafeText::new(match liveness_value {
            Some(3) => "Credas could not decide liveness automatically: check the selfie by hand",
            Some(6) => "liveness was referred by a reviewer",
            Some(2 | 5) => "the selfie failed the liveness check",
            Some(1 | 4) => "the selfie passed the liveness check",
            _ => "liveness was not performed",
        }),
    };
    let selfie = Some(Selfie {
        media: has_images.then(|| media(&summary.id, &entry.entry_id, assumptions::IMAGE_SELFIE, "selfie")),
        liveness,
    });
    let mut rules: Vec<RuleResult> = entry
        .results()
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(field, v)| {
            let value = v.unwrap_or(-1);
            let needs = assumptions::needs_review(*v);
            RuleResult {
                name: SafeText::new(&humanize(field)),
                outcome: outcome(*v),
                description: SafeText::new(&format!(
                    "{}{}",
                    assumptions::result_name(value),
                    if needs { " — awaiting a reviewer" } else { "" }
                )),
                details: vec![],
            }
        })
        .collect();
    for s in &entry.supporting_documents {
        rules.push(RuleResult {
            name: SafeText::new(&format!("Supporting document: {}", s.title.as_deref().unwrap_or("untitled"))),
            outcome: outcome(s.overall_result),
            description: SafeText::new(assumptions::result_name(s.overall_result.unwrap_or(-1))),
            details: vec![Field::fact("Id", &s.supporting_document_id)],
        });
    }
    for c in active_checks.iter().filter(|c| c.idv_entry_id.as_deref().is_none_or(|e| e == entry.entry_id)) {
        let status =
            c.status.and_then(|s| usize::try_from(s).ok()).and_then(|s| ACTIVE_CHECK_STATUS.get(s)).unwrap_or(&"?");
        rules.push(RuleResult {
            name: SafeText::new(&format!("Active check: {}", c.name.as_deref().unwrap_or("check"))),
            outcome: match *status {
                "Pass" | "Complete" => RuleOutcome::Passed,
                "Fail" | "Refer" | "ActionRequired" => RuleOutcome::Failed,
                _ => RuleOutcome::CouldNotApply,
            },
            description: SafeText::new(status),
            details: vec![],
        });
    }
    let face_match = entry.face_match_result.map(|v| FaceMatch {
        // Credas documents no numeric score.
        score: None,
        matched: match v {
            1 | 4 => Some(true),
            2 | 5 => Some(false),
            _ => None,
        },
        images: vec![],
    });
    let whole = [Verdict::Verify, Verdict::Reject, Verdict::Refer];
    let referred = referred_elements(entry);
    let mut targets = vec![DecisionTarget {
        id: TargetId::Case,
        label: SafeText::new("Every element awaiting review"),
        verdicts: whole.to_vec(),
        reject_reasons: vec![],
        resubmit_steps: vec![],
        sends: sends(&referred),
    }];
    targets.extend(referred.into_iter().map(|key| DecisionTarget {
        label: SafeText::new(&element_label(&key, entry)),
        sends: sends(std::slice::from_ref(&key)),
        id: TargetId::Element(key),
        verdicts: whole.to_vec(),
        reject_reasons: vec![],
        resubmit_steps: vec![],
    }));
    Case {
        case_ref: CaseRef::new(ID, case_key(&summary.id, &entry.entry_id)),
        check_type: SafeText::new("identity verification"),
        status: SafeText::new(&format!("overall {}", assumptions::result_name(entry.overall_result.unwrap_or(-1)))),
        why_referred: SafeText::new(&why_referred(entry)),
        created_at: entry.date_completed.as_deref().and_then(parse_time),
        applicant: Applicant {
            name: SafeText::new(&full_name(summary)),
            date_of_birth: summary.date_of_birth.as_deref().and_then(DateValue::parse),
            nationality: None,
            fields,
        },
        documents,
        selfie,
        rules,
        face_match,
        screening: vec![],
        targets,
    }
}
