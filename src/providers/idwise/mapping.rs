//! IDWise wire types -> domain. Every string is sanitised here, once.

use super::{ID, assumptions, wire};
use crate::domain::{
    Applicant, Case, CaseRef, DateValue, DecisionTarget, Document, FaceMatch, Field, Lane, Liveness, LivenessResult,
    MediaRef, QueueEntry, QueueStatus, ReasonCode, RuleOutcome, RuleResult, SafeText, ScreeningHit, Selfie, TargetId,
    Verdict,
};
use chrono::{DateTime, Utc};

pub use crate::domain::parse_instant as parse_time;

/// Referred: the system said Refer and nobody has decided since.
pub fn is_referred(j: &wire::Journey) -> bool {
    j.system_decision.as_deref() == Some(assumptions::REFERRED_DECISION) && j.manual_decision.is_none()
}

fn outcome(result: Option<&str>) -> RuleOutcome {
    match result {
        Some("Passed") => RuleOutcome::Passed,
        Some("Failed") => RuleOutcome::Failed,
        _ => RuleOutcome::CouldNotApply,
    }
}

pub fn media(image_path: &str, label: &str) -> MediaRef {
    MediaRef { provider: ID, key: image_path.to_string(), label: SafeText::new(label) }
}

/// `FACE_TOO_CLOSE` and the others, with what they mean.
pub fn liveness(selfie: &wire::Selfie) -> Liveness {
    let code = selfie.liveness_status_code.as_deref();
    let result = match (selfie.is_live, selfie.status.as_deref()) {
        (Some(true), _) => LivenessResult::Live,
        (Some(false), _) => LivenessResult::NotLive,
        (None, Some("Complete")) => LivenessResult::Live,
        _ => LivenessResult::Unknown,
    };
    let description = match code {
        Some(c) => assumptions::liveness_description(c)
            .map(str::to_string)
            .unwrap_or_else(|| format!("IDWise code {c} (not in kycdesk's list; see the IDWise docs)")),
        None if result == LivenessResult::Live => "IDWise found the selfie live".into(),
        None => format!("selfie status: {}", selfie.status.as_deref().unwrap_or("unknown")),
    };
    Liveness { result, code: code.map(SafeText::new), description: SafeText::new(&description) }
}

fn why_referred(j: &wire::Journey) -> String {
    let mut reasons: Vec<String> = j
        .rule_results
        .values()
        .filter(|r| r.result.as_deref() == Some("Failed"))
        .map(|r| r.name.clone().unwrap_or_default().to_lowercase())
        .collect();
    if let Some(code) = j.selfie.as_ref().and_then(|s| s.liveness_status_code.as_deref()) {
        reasons.insert(0, code.to_string());
    }
    if reasons.is_empty() { "system decision Refer".into() } else { reasons.join(", ") }
}

pub fn queue_entry(j: &wire::Journey) -> Option<QueueEntry> {
    if !is_referred(j) {
        return None;
    }
    let received = j.end_time.as_deref().or(j.start_time.as_deref()).and_then(parse_time);
    Some(QueueEntry {
        case_ref: CaseRef::new(ID, j.journey_id.clone()),
        applicant: SafeText::new(j.applicant.as_ref().and_then(|a| a.full_name.as_deref()).unwrap_or("(unnamed)")),
        check_type: SafeText::new("journey"),
        why_referred: SafeText::new(&why_referred(j)),
        received_at: received.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        status: QueueStatus::Pending,
        lane: Lane::New,
        note: None,
    })
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn document(step: &str, d: &wire::Document) -> Document {
    let field = |name: &str| {
        d.extracted_fields.get(name).and_then(|f| f.value.as_ref()).map(value_text).filter(|s| !s.is_empty())
    };
    let doc_type = d.document_type.clone().unwrap_or_else(|| "document".into());
    let sides = d
        .images
        .iter()
        .filter(|(k, _)| k.ends_with(assumptions::IMAGE_KEY_SUFFIX) && !k.contains("cropped"))
        .filter_map(|(k, v)| {
            let side = k.trim_end_matches(assumptions::IMAGE_KEY_SUFFIX).replace('_', " ");
            v.as_deref().map(|p| media(p, &format!("{doc_type} {side}")))
        })
        .collect();
    let fields = d
        .extracted_fields
        .iter()
        .filter(|(_, f)| f.kind.as_deref() != Some("image"))
        // What the document's own fields show (number, expiry, holder) is not repeated,
        // unless its read was poor: then the warning is worth the line.
        .filter(|(name, f)| !LIFTED.contains(&name.as_str()) || f.read_accuracy.as_deref() == Some("Low"))
        .filter_map(|(name, f)| {
            let mut value = f.value.as_ref().map(value_text)?;
            if name.to_lowercase().contains("date")
                && let Some(day) = DateValue::parse(&value)
            {
                value = day.to_string();
            }
            let accuracy =
                f.read_accuracy.as_deref().filter(|a| *a == "Low").map(|_| "  (low read accuracy)").unwrap_or("");
            let text = format!("{value}{accuracy}");
            let fact = assumptions::DOCUMENT_FACT_FIELDS.contains(&name.as_str());
            Some(if fact { Field::fact(name, &text) } else { Field::new(name, &text) })
        })
        .collect();
    let holder_name = field(assumptions::FIELD_FULL_NAME).or_else(|| {
        let parts: Vec<String> =
            [assumptions::FIELD_FIRST_NAME, assumptions::FIELD_LAST_NAME].into_iter().filter_map(field).collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    Document {
        id: step.to_string(),
        doc_type: SafeText::new(&doc_type),
        country: d.issuing_country.as_deref().or(d.issuing_country_code.as_deref()).map(SafeText::new),
        number: field(assumptions::FIELD_DOCUMENT_NUMBER).map(|s| SafeText::new(&s)),
        expiry: field(assumptions::FIELD_EXPIRY_DATE).and_then(|s| DateValue::parse(&s)),
        holder_name: holder_name.map(|n| SafeText::new(&n)),
        date_of_birth: field(assumptions::FIELD_BIRTH_DATE).and_then(|s| DateValue::parse(&s)),
        sides,
        fields,
    }
}

/// Extracted fields shown as the document's own (number, expiry, holder as read).
const LIFTED: [&str; 6] = [
    assumptions::FIELD_FULL_NAME,
    assumptions::FIELD_FIRST_NAME,
    assumptions::FIELD_LAST_NAME,
    assumptions::FIELD_DOCUMENT_NUMBER,
    assumptions::FIELD_EXPIRY_DATE,
    assumptions::FIELD_BIRTH_DATE,
];

fn rule(name_prefix: &str, key: &str, r: &wire::Rule) -> RuleResult {
    let name = r.name.clone().unwrap_or_else(|| key.replace('_', " "));
    RuleResult {
        name: SafeText::new(&format!("{name_prefix}{name}")),
        outcome: outcome(r.result.as_deref()),
        description: SafeText::new(r.description.as_deref().unwrap_or_default()),
        details: r
            .details
            .iter()
            .map(|d| {
                let text = format!(
                    "{}{}",
                    d.result.as_deref().unwrap_or("?"),
                    d.result_description.as_deref().map(|x| format!(" — {x}")).unwrap_or_default()
                );
                Field::fact(d.title.as_deref().unwrap_or("detail"), &text)
            })
            .collect(),
    }
}

fn face_match_of(fm: &wire::FaceMatchResult, label: &str) -> FaceMatch {
    FaceMatch {
        score: fm.score.filter(|s| (0.0..=100.0).contains(s)),
        matched: fm.is_matched,
        images: fm
            .images
            .iter()
            .filter_map(|i| {
                let source = i.image_source.as_deref().unwrap_or("image");
                i.image_path.as_deref().map(|p| media(p, &format!("{label} {}", source.to_lowercase())))
            })
            .collect(),
    }
}

/// The journey's steps that failed, by title, as the journey result names them: what a
/// resubmission asks again (the summary, read when deciding, gives their ids).
fn failed_steps(j: &wire::Journey) -> Vec<String> {
    let mut out: Vec<String> = j
        .documents
        .iter()
        .filter(|(_, d)| d.has_passed_rules == Some(false))
        .map(|(id, d)| d.step_title.clone().unwrap_or_else(|| format!("step {id}")))
        .collect();
    if j.selfie.as_ref().is_some_and(|s| s.status.as_deref().is_some_and(|st| st != "Complete")) {
        out.push("Selfie".into());
    }
    out
}

/// What each verdict sends, in the analyst's words: the mapping `plan_review` performs.
fn sends(j: &wire::Journey, has_keys: bool) -> Vec<(Verdict, SafeText)> {
    let failed = failed_steps(j);
    let resubmit = if failed.is_empty() {
        "Resubmission Requested for every failed step".to_string()
    } else {
        format!("Resubmission Requested for the failed steps ({})", failed.join(", "))
    };
    let reject = if has_keys {
        "manual review Rejected, ticked reason keys at the head of the comment"
    } else {
        "manual review Rejected"
    };
    vec![
        (Verdict::Verify, SafeText::new("manual review Approved")),
        (Verdict::Reject, SafeText::new(reject)),
        (Verdict::Resubmit, SafeText::new(&resubmit)),
        (Verdict::Refer, SafeText::new("escalated locally, nothing sent")),
    ]
}

pub fn case(j: &wire::Journey, spot_check: Option<&wire::SpotCheck>, reason_keys: &[ReasonCode]) -> Case {
    let applicant = j.applicant.clone().unwrap_or_default();
    let mut fields = vec![];
    if let Some(id) = &applicant.applicant_id {
        fields.push(Field::new("Applicant id", id));
    }
    if let Some(n) = &applicant.personal_number {
        fields.push(Field::new("Personal number", n));
    }
    if let Some(r) = &j.reference_number {
        fields.push(Field::fact("Reference", r));
    }
    for (label, value) in [("System decision", &j.system_decision), ("Manual decision", &j.manual_decision)] {
        if let Some(v) = value {
            fields.push(Field::fact(label, v));
        }
    }
    let documents: Vec<Document> = j.documents.iter().map(|(step, d)| document(step, d)).collect();
    let mut rules: Vec<RuleResult> = j.rule_results.iter().map(|(k, r)| rule("", k, r)).collect();
    for (step, d) in &j.documents {
        for check in d.validation_result.iter().flat_map(|v| &v.validation_checks) {
            rules.push(RuleResult {
                name: SafeText::new(&format!(
                    "{} › {}",
                    d.step_title.as_deref().unwrap_or(step),
                    check.name.as_deref().unwrap_or("check")
                )),
                outcome: outcome(check.result.as_deref()),
                description: SafeText::new(
                    check.result_description.as_deref().or(check.description.as_deref()).unwrap_or_default(),
                ),
                details: vec![],
            });
        }
    }
    let selfie = j
        .selfie
        .as_ref()
        .map(|s| Selfie { media: s.image_path.as_deref().map(|p| media(p, "selfie")), liveness: liveness(s) });
    let mut face_match =
        j.documents.values().find_map(|d| d.face_match_result.as_ref()).map(|fm| face_match_of(fm, "face match"));
    if let Some(spot) = spot_check {
        for (k, r) in &spot.rule_results {
            let mut spot_rule = rule("Spot check › ", k, r);
            // The spot check's own selfie explains its liveness rule.
            if k == "selfie_liveness"
                && let Some(selfie) = &spot.selfie
                && selfie.liveness_status_code.is_some()
            {
                let l = liveness(selfie);
                let code = l.code.as_ref().map(|c| c.to_string()).unwrap_or_default();
                spot_rule.details.push(Field::fact("Liveness code", &format!("{code} — {}", l.description)));
            }
            rules.push(spot_rule);
        }
        if let Some(fm) = spot.spot_checks.as_ref().and_then(|s| s.applicant_selfie_face_match.as_ref()) {
            let score = fm.score.map(|s| format!("{s:.0}/100")).unwrap_or_else(|| "no score".into());
            rules.push(RuleResult {
                name: SafeText::new("Spot check › applicant selfie face match"),
                outcome: if fm.is_matched == Some(true) { RuleOutcome::Passed } else { RuleOutcome::Failed },
                description: SafeText::new(&format!("score {score}")),
                details: vec![],
            });
            if face_match.is_none() {
                face_match = Some(face_match_of(fm, "spot check"));
            }
        }
    }
    let screening = j
        .aml
        .iter()
        .flat_map(|a| &a.matches)
        .enumerate()
        .map(|(i, m)| ScreeningHit {
            id: format!("aml-{i}"),
            name: SafeText::new(m.name.as_deref().unwrap_or("(no name)")),
            score: m.score,
            datasets: m.datasets.iter().map(|d| SafeText::new(d)).collect(),
            countries: m.countries.iter().map(|c| SafeText::new(c)).collect(),
            dates_of_birth: m.dates_of_birth.iter().filter_map(|d| DateValue::parse(d)).collect(),
            extra: [("Sex", m.sex.clone()), ("Notes", m.notes.as_ref().map(value_text))]
                .into_iter()
                .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| Field::new(k, &v)))
                .collect(),
            // IDWise has no per-hit decision: hits are decided with the journey.
            resolution: None,
        })
        .collect();
    Case {
        case_ref: CaseRef::new(ID, j.journey_id.clone()),
        check_type: SafeText::new("journey"),
        status: SafeText::new(&format!(
            "system {} / final {}",
            j.system_decision.as_deref().unwrap_or("?"),
            j.final_decision.as_deref().unwrap_or("?")
        )),
        why_referred: SafeText::new(&why_referred(j)),
        created_at: j.start_time.as_deref().and_then(parse_time),
        applicant: Applicant {
            name: SafeText::new(applicant.full_name.as_deref().unwrap_or("(unnamed)")),
            date_of_birth: applicant.birth_date.as_deref().and_then(DateValue::parse),
            nationality: None,
            fields,
        },
        documents,
        selfie,
        rules,
        face_match,
        screening,
        targets: vec![DecisionTarget {
            id: TargetId::Case,
            label: SafeText::new("Whole journey (Refer escalates in kycdesk; IDWise has no refer)"),
            verdicts: vec![Verdict::Verify, Verdict::Reject, Verdict::Resubmit, Verdict::Refer],
            reject_reasons: reason_keys.to_vec(),
            resubmit_steps: vec![],
            sends: sends(j, !reason_keys.is_empty()),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_name_the_failed_steps_and_keys_go_first_in_the_comment() {
        let j: wire::Journey = serde_json::from_value(serde_json::json!({
            "journey_id": "j1", "system_decision": "Refer",
            "documents": {"2": {"step_title": "Identity Document", "has_passed_rules": false}},
            "selfie": {"status": "Refer"}
        }))
        .unwrap_or_default();
        let text = |v: Verdict| {
            sends(&j, false).into_iter().find(|(x, _)| *x == v).map(|(_, t)| t.to_string()).unwrap_or_default()
        };
        assert_eq!(text(Verdict::Resubmit), "Resubmission Requested for the failed steps (Identity Document, Selfie)");
        assert_eq!(text(Verdict::Verify), "manual review Approved");
        assert_eq!(text(Verdict::Reject), "manual review Rejected");
        assert_eq!(text(Verdict::Refer), "escalated locally, nothing sent");
        let keys = vec!["A".to_string(), "B".to_string()];
        assert_eq!(assumptions::comment_with_keys(&keys, "Forged."), "[A] [B] Forged.");
        assert_eq!(assumptions::comment_with_keys(&[], "Forged."), "Forged.");
    }
}
