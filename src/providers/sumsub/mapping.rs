//! Sumsub wire types -> domain. Every string is sanitised here, once.

use super::{ID, assumptions, wire};
use crate::domain::{
    Applicant, Case, CaseRef, DateValue, DecisionTarget, Document, Field, Lane, Liveness, LivenessResult, MediaRef,
    QueueEntry, QueueStatus, RuleOutcome, RuleResult, SafeText, Selfie, TargetId, Verdict,
};
use chrono::{DateTime, Utc};

/// Sumsub writes `2025-03-05 04:41:48` (and `+0000` forms) as well as RFC 3339.
pub use crate::domain::parse_instant as parse_time;

fn status(a: &wire::Applicant) -> &str {
    a.review.as_ref().and_then(|r| r.review_status.as_deref()).unwrap_or("")
}

pub fn is_referred(a: &wire::Applicant) -> bool {
    matches!(status(a), assumptions::ON_HOLD | assumptions::PENDING)
}

fn name(a: &wire::Applicant) -> String {
    let info = a.info.clone().unwrap_or_default();
    let n = [info.first_name, info.last_name].into_iter().flatten().collect::<Vec<_>>().join(" ");
    if n.trim().is_empty() { a.external_user_id.clone().unwrap_or_else(|| "(unnamed)".into()) } else { n }
}

fn red_steps(steps: &wire::RequiredIdDocsStatus) -> Vec<String> {
    steps
        .iter()
        .filter(|(_, s)| {
            s.as_ref().and_then(|s| s.review_result.as_ref()).and_then(|r| r.review_answer.as_deref()) == Some("RED")
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Steps the applicant would redo on a resubmission: the ones that came back RED.
pub fn steps_to_reset(steps: &wire::RequiredIdDocsStatus) -> Vec<String> {
    red_steps(steps)
}

fn why(a: &wire::Applicant, steps: Option<&wire::RequiredIdDocsStatus>) -> String {
    if status(a) == assumptions::PENDING {
        return "in provider review (Sumsub is still checking)".into();
    }
    let labels: Vec<String> =
        a.review.as_ref().and_then(|r| r.review_result.as_ref()).map(|r| r.reject_labels.clone()).unwrap_or_default();
    let mut parts = vec!["on hold".to_string()];
    if !labels.is_empty() {
        parts.push(labels.join(", "));
    } else if let Some(steps) = steps {
        parts.extend(red_steps(steps));
    }
    parts.join(": ")
}

pub fn queue_entry(a: &wire::Applicant) -> Option<QueueEntry> {
    if !is_referred(a) {
        return None;
    }
    let received =
        a.review.as_ref().and_then(|r| r.create_date.as_deref()).or(a.created_at.as_deref()).and_then(parse_time);
    Some(QueueEntry {
        case_ref: CaseRef::new(ID, a.id.clone()),
        applicant: SafeText::new(&name(a)),
        check_type: SafeText::new(
            &a.review.as_ref().and_then(|r| r.level_name.clone()).unwrap_or_else(|| "applicant".into()),
        ),
        why_referred: SafeText::new(&why(a, None)),
        received_at: received.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        status: QueueStatus::Pending,
        lane: Lane::New,
        note: None,
    })
}

fn outcome(r: Option<&wire::ReviewResult>) -> RuleOutcome {
    match r.and_then(|r| r.review_answer.as_deref()) {
        Some("GREEN") => RuleOutcome::Passed,
        Some("RED") => RuleOutcome::Failed,
        _ => RuleOutcome::CouldNotApply,
    }
}

/// `moderationComment` may be shown to the applicant, `clientComment` must not: labelled so.
fn review_fields(r: &wire::ReviewResult) -> Vec<Field> {
    let mut f = vec![];
    if !r.reject_labels.is_empty() {
        f.push(Field::fact("Reject labels", &r.reject_labels.join(", ")));
    }
    if let Some(t) = &r.review_reject_type {
        f.push(Field::fact("Reject type", t));
    }
    // The comments are free text that may name the person: personal.
    if let Some(c) = &r.moderation_comment {
        f.push(Field::new("Comment shown to the applicant", c));
    }
    if let Some(c) = &r.client_comment {
        f.push(Field::new("Internal comment (not for the applicant)", c));
    }
    f
}

fn media(inspection: &str, image: i64, label: &str) -> MediaRef {
    MediaRef { provider: ID, key: format!("{inspection}/{image}"), label: SafeText::new(label) }
}

pub fn case(a: &wire::Applicant, steps: &wire::RequiredIdDocsStatus, metadata: &wire::Metadata) -> Case {
    let inspection = a.inspection_id.clone().unwrap_or_default();
    let info = a.info.clone().unwrap_or_default();
    let side_of = |image: i64| -> Option<String> {
        metadata
            .iter_items()
            .find(|m| m.id.as_i64() == Some(image) || m.id.as_str() == Some(&image.to_string()))
            .and_then(|m| m.id_doc_def.as_ref()?.id_doc_sub_type.clone())
    };
    let mut fields = vec![];
    let personal: fn(&str, &str) -> Field = Field::new;
    let fact: fn(&str, &str) -> Field = Field::fact;
    for (field, label, v) in [
        (personal, "Applicant id", Some(a.id.clone())),
        (personal, "External user id", a.external_user_id.clone()),
        (personal, "Email", a.email.clone()),
        (personal, "Phone", a.phone.clone()),
        (fact, "Inspection", a.inspection_id.clone()),
        (fact, "Level", a.review.as_ref().and_then(|r| r.level_name.clone())),
        (fact, "Review status", a.review.as_ref().and_then(|r| r.review_status.clone())),
    ] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            fields.push(field(label, &v));
        }
    }
    let mut documents = vec![];
    let mut selfie = None;
    let mut rules = vec![];
    for (step, status) in steps {
        let result = status.as_ref().and_then(|s| s.review_result.as_ref());
        rules.push(RuleResult {
            name: SafeText::new(&format!("Step {step}")),
            outcome: if status.is_none() { RuleOutcome::CouldNotApply } else { outcome(result) },
            description: SafeText::new(match (status.is_none(), result.and_then(|r| r.review_answer.as_deref())) {
                (true, _) => "not submitted",
                (_, Some("GREEN")) => "passed",
                (_, Some("RED")) => "failed",
                _ => "not checked yet",
            }),
            details: result.map(review_fields).unwrap_or_default(),
        });
        let Some(status) = status else { continue };
        if step == "SELFIE" {
            selfie = Some(Selfie {
                media: status.image_ids.first().map(|i| media(&inspection, *i, "selfie")),
                liveness: Liveness {
                    result: match outcome(result) {
                        RuleOutcome::Passed => LivenessResult::Live,
                        RuleOutcome::Failed => LivenessResult::NotLive,
                        RuleOutcome::NeedsReview | RuleOutcome::CouldNotApply => LivenessResult::Unknown,
                    },
                    code: result
                        .filter(|r| !r.reject_labels.is_empty())
                        .map(|r| SafeText::new(&r.reject_labels.join(", "))),
                    description: SafeText::new(
                        result.and_then(|r| r.client_comment.as_deref().or(r.moderation_comment.as_deref())).unwrap_or(
                            match outcome(result) {
                                RuleOutcome::Passed => "Sumsub accepted the selfie and liveness",
                                RuleOutcome::Failed => "Sumsub rejected the selfie or liveness",
                                RuleOutcome::NeedsReview | RuleOutcome::CouldNotApply => "selfie not reviewed yet",
                            },
                        ),
                    ),
                },
            });
            continue;
        }
        if status.image_ids.is_empty() {
            continue;
        }
        let doc_type = status.id_doc_type.clone().unwrap_or_else(|| step.clone());
        let known = info.id_docs.iter().find(|d| d.id_doc_type.as_deref() == Some(doc_type.as_str()));
        let sides = status
            .image_ids
            .iter()
            .enumerate()
            .map(|(n, id)| {
                // The first image is the front (third-party); metadata says so where it can.
                let side =
                    side_of(*id).unwrap_or_else(|| if n == 0 { "FRONT_SIDE".into() } else { "BACK_SIDE".into() });
                media(
                    &inspection,
                    *id,
                    &format!("{} {}", doc_type.replace('_', " ").to_lowercase(), side.replace('_', " ").to_lowercase()),
                )
            })
            .collect();
        documents.push(Document {
            id: step.clone(),
            doc_type: SafeText::new(&doc_type.replace('_', " ").to_lowercase()),
            country: status.country.as_deref().or(known.and_then(|k| k.country.as_deref())).map(SafeText::new),
            number: known.and_then(|k| k.number.as_deref()).map(SafeText::new),
            expiry: known.and_then(|k| k.valid_until.as_deref()).and_then(DateValue::parse),
            holder_name: known.and_then(holder_name).map(|n| SafeText::new(&n)),
            date_of_birth: known.and_then(|k| k.dob.as_deref()).and_then(DateValue::parse),
            sides,
            fields: known
                .map(|k| {
                    let mut f: Vec<Field> = [("First name", &k.first_name), ("Last name", &k.last_name)]
                        .into_iter()
                        .filter_map(|(l, v)| v.as_deref().map(|v| Field::new(l, v)))
                        .collect();
                    f.extend(k.dob.as_deref().map(|d| Field::personal_date("Date of birth", d)));
                    f
                })
                .unwrap_or_default(),
        });
    }
    if let Some(r) = a.review.as_ref().and_then(|r| r.review_result.as_ref()) {
        rules.insert(
            0,
            RuleResult {
                name: SafeText::new("Review"),
                outcome: outcome(Some(r)),
                description: SafeText::new(r.review_answer.as_deref().unwrap_or("no answer")),
                details: review_fields(r),
            },
        );
    }
    Case {
        case_ref: CaseRef::new(ID, a.id.clone()),
        check_type: SafeText::new(
            &a.review.as_ref().and_then(|r| r.level_name.clone()).unwrap_or_else(|| "applicant".into()),
        ),
        status: SafeText::new(status(a)),
        why_referred: SafeText::new(&why(a, Some(steps))),
        created_at: a.created_at.as_deref().and_then(parse_time),
        applicant: Applicant {
            name: SafeText::new(&name(a)),
            date_of_birth: info.dob.as_deref().and_then(DateValue::parse),
            nationality: info.country.as_deref().map(SafeText::new),
            fields,
        },
        documents,
        selfie,
        rules,
        face_match: None,
        screening: vec![],
        targets: vec![DecisionTarget {
            id: TargetId::Case,
            label: SafeText::new("Applicant (Refer escalates in kycdesk; Sumsub has no refer)"),
            verdicts: vec![Verdict::Verify, Verdict::Reject, Verdict::Resubmit, Verdict::Refer],
            reject_reasons: assumptions::REJECT_REASONS.to_vec(),
            resubmit_steps: assumptions::RESETTABLE_STEPS
                .iter()
                .filter(|s| red_steps(steps).iter().any(|r| r == *s))
                .map(|s| crate::domain::ReasonCode { code: s, label: s })
                .collect(),
            sends: sends(&steps_to_reset(steps)),
        }],
    }
}

/// The name on an ID document as Sumsub read it (`idDocs[].firstName`, `lastName`).
fn holder_name(doc: &wire::IdDoc) -> Option<String> {
    let name =
        [doc.first_name.as_deref(), doc.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    (!name.trim().is_empty()).then_some(name)
}

/// What each verdict sends, in the analyst's words: the mapping `plan_decision` performs.
fn sends(failed: &[String]) -> Vec<(Verdict, SafeText)> {
    let resubmit = if failed.is_empty() {
        "resetStep of the picked steps (no step failed)".to_string()
    } else {
        format!("resetStep {}", failed.join(", "))
    };
    vec![
        (Verdict::Verify, SafeText::new("approve")),
        (Verdict::Reject, SafeText::new("reject (final), with the ticked reason groups")),
        (Verdict::Resubmit, SafeText::new(&resubmit)),
        (Verdict::Refer, SafeText::new("escalated locally, nothing sent")),
    ]
}

impl wire::Metadata {
    fn iter_items(&self) -> impl Iterator<Item = &wire::MetadataItem> {
        self.items.iter().filter(|i| i.deactivated != Some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_says_what_it_sends() {
        let text = |failed: &[&str], v: Verdict| {
            let failed: Vec<String> = failed.iter().map(|s| s.to_string()).collect();
            sends(&failed).into_iter().find(|(x, _)| *x == v).map(|(_, t)| t.to_string()).unwrap_or_default()
        };
        assert_eq!(text(&["IDENTITY", "SELFIE"], Verdict::Resubmit), "resetStep IDENTITY, SELFIE");
        assert_eq!(text(&[], Verdict::Resubmit), "resetStep of the picked steps (no step failed)");
        assert_eq!(text(&[], Verdict::Verify), "approve");
        assert_eq!(text(&[], Verdict::Reject), "reject (final), with the ticked reason groups");
        assert_eq!(text(&[], Verdict::Refer), "escalated locally, nothing sent");
    }
}
