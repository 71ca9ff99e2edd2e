//! ComplyCube wire types -> domain. Every string is sanitised here, once.

use super::{ID, assumptions, is_screening, wire};
use crate::domain::{
    Applicant, Case, CaseRef, DateValue, DecisionTarget, Document, FaceMatch, Field, Lane, Liveness, LivenessResult,
    MediaRef, QueueEntry, QueueStatus, RuleOutcome, RuleResult, SafeText, ScreeningHit, Selfie, TargetId, Verdict,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use crate::domain::parse_instant as parse_time;

fn outcome_of(check: &wire::Check) -> &str {
    check.result.as_ref().and_then(|r| r.outcome.as_deref()).unwrap_or_default()
}

pub fn is_referred(check: &wire::Check) -> bool {
    check.status.as_deref() == Some("complete") && assumptions::REFERRED_OUTCOMES.contains(&outcome_of(check))
}

fn breakdown(check: &wire::Check) -> Option<&Map<String, Value>> {
    check.result.as_ref()?.breakdown.as_ref()?.as_object()
}

pub fn match_ids(check: &wire::Check) -> Vec<String> {
    matches(check).iter().filter_map(|m| m.get("id")?.as_str().map(str::to_string)).collect()
}

/// Each match's id and the outcome it was validated with, if it says.
fn match_resolutions(check: &wire::Check) -> Vec<(String, Option<String>)> {
    matches(check)
        .iter()
        .filter_map(|m| {
            let id = m.get("id")?.as_str()?.to_string();
            let resolution = m.get(assumptions::MATCH_RESOLUTION).and_then(Value::as_str).map(str::to_string);
            Some((id, resolution))
        })
        .collect()
}

/// How one match was validated, if the check says.
pub fn match_resolution(check: &wire::Check, match_id: &str) -> Option<String> {
    match_resolutions(check).into_iter().find(|(id, _)| id == match_id).and_then(|(_, r)| r)
}

/// The matches nobody has validated yet; `None` when the check is `match_confirmed` but
/// no match says which one was confirmed (then "the rest" cannot be told apart).
pub fn undecided_matches(check: &wire::Check) -> Option<Vec<String>> {
    let all = match_resolutions(check);
    let confirmed_known = all.iter().any(|(_, r)| r.as_deref() == Some(assumptions::RESOLVED_TRUE_MATCH));
    if outcome_of(check) == assumptions::MATCH_CONFIRMED && !confirmed_known {
        return None;
    }
    Some(all.into_iter().filter(|(_, r)| r.is_none()).map(|(id, _)| id).collect())
}

/// A match's validation in the analyst's words.
fn resolution_words(resolution: &str) -> String {
    match resolution {
        assumptions::RESOLVED_TRUE_MATCH => "true match (confirmed)".into(),
        assumptions::RESOLVED_FALSE_POSITIVE => "false positive (dismissed)".into(),
        other => other.replace('_', " "),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn matches(check: &wire::Check) -> Vec<&Map<String, Value>> {
    breakdown(check)
        .and_then(|b| b.get("matches"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

/// `faceAnalysis` -> `Face analysis`.
fn humanize(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else if c == '_' {
            out.push(' ');
        } else if i == 0 {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn rule_outcome(value: &str) -> Option<RuleOutcome> {
    match value {
        "clear" => Some(RuleOutcome::Passed),
        "attention" | "rejected" | "match_confirmed" => Some(RuleOutcome::Failed),
        "not_processed" => Some(RuleOutcome::CouldNotApply),
        _ => None,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        // A timestamp anywhere in a breakdown reads like every other on screen.
        Value::String(s) => {
            Some(crate::domain::parse_instant(s).map_or_else(|| s.clone(), crate::domain::shown_instant))
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => structured_date(o),
        _ => None,
    }
}

/// Dates inside results are `{day, month, year}` (documented).
fn structured_date(o: &Map<String, Value>) -> Option<String> {
    structured_day(o).map(|d| d.to_string())
}

fn structured_day(o: &Map<String, Value>) -> Option<DateValue> {
    let n = |k: &str| o.get(k).and_then(Value::as_i64);
    DateValue::from_parts(n("year")?, n("month")?, n("day")?)
}

/// A date as ComplyCube sends it: structured inside results, a string on the client.
fn date_value(v: &Value) -> Option<DateValue> {
    match v {
        Value::Object(o) => structured_day(o),
        Value::String(s) => DateValue::parse(s),
        _ => None,
    }
}

/// Extracted document details that are about the document, not its holder.
const DOCUMENT_FACTS: [&str; 7] =
    ["documentType", "hasTwoSides", "issuingCountry", "expirationDate", "expiryDate", "issuingDate", "issueDate"];

/// The holder's name from `extractedData.holderDetails` (see `HOLDER_NAME_PARTS`).
fn holder_name(holder: &Map<String, Value>) -> Option<String> {
    let words = |key: &str| -> Vec<String> {
        match holder.get(key) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => vec![],
        }
    };
    let name = assumptions::HOLDER_NAME_PARTS.into_iter().flat_map(words).collect::<Vec<_>>().join(" ");
    (!name.trim().is_empty()).then_some(name)
}

/// Turns a breakdown section into rule results: each leaf with an outcome word becomes a
/// rule; other scalar leaves become details of the section's first rule (or of the
/// section above, when it has none). Unknown keys render as found.
fn rules_from(prefix: &str, section: &Map<String, Value>, out: &mut Vec<RuleResult>) -> Vec<Field> {
    let first_rule = out.len();
    let mut details = Vec::new();
    let mut own_outcome = None;
    let name_of = |key: &str| {
        if prefix.is_empty() { humanize(key) } else { format!("{prefix} › {}", humanize(key)) }
    };
    for (key, value) in section {
        match value {
            Value::String(s) if rule_outcome(s).is_some() => {
                let outcome = rule_outcome(s).unwrap_or(RuleOutcome::CouldNotApply);
                if key == "outcome" || key == "result" {
                    own_outcome = Some(outcome);
                } else {
                    out.push(RuleResult {
                        name: SafeText::new(&name_of(key)),
                        outcome,
                        description: SafeText::new(&describe(key, s)),
                        details: vec![],
                    });
                }
            }
            Value::Object(inner) if structured_date(inner).is_none() => {
                let leftover = rules_from(&name_of(key), inner, out);
                details.extend(leftover);
            }
            other => {
                // A result breakdown's leaves are about the check (scores, flags).
                if let Some(text) = scalar(other) {
                    details.push(Field::fact(&humanize(key), &text));
                }
            }
        }
    }
    if let Some(outcome) = own_outcome {
        out.push(RuleResult { name: SafeText::new(prefix), outcome, description: SafeText::default(), details });
        return vec![];
    }
    match out.get_mut(first_rule) {
        Some(rule) => {
            rule.details.extend(details);
            vec![]
        }
        None => details,
    }
}

/// What an analyst should read into a failed analysis.
fn describe(key: &str, value: &str) -> String {
    let what = match key {
        "livenessCheck" => "the live photo may not be of a live person (photo of a screen, printout or mask)",
        "spoofedImageAnalysis" => "the image may have been digitally altered or replayed",
        "facialSimilarity" => "the selfie and the document portrait may not be the same person",
        "faceDetection" => "a face could not be found reliably",
        "previouslyEnrolledFace" => "this face was seen on another client",
        "mrzAnalysis" => "the machine-readable zone did not read or check cleanly",
        "consistencyAnalysis" => "data on the document is inconsistent across fields or sides",
        "contentAnalysis" => "document content looks wrong (dates, expiry, checksums)",
        "formatAnalysis" => "the layout does not match the template for this document",
        "forensicAnalysis" => "signs of tampering were found",
        _ => "",
    };
    match (value, what.is_empty()) {
        ("clear", _) => "clear".to_string(),
        ("not_processed", _) => "not processed by the provider".to_string(),
        (_, true) => value.replace('_', " "),
        (_, false) => what.to_string(),
    }
}

fn why_referred(check: &wire::Check) -> String {
    if is_screening(check.check_type.as_deref().unwrap_or_default()) {
        let n = matches(check).len();
        let all = plural(n, "screening match", "screening matches");
        return match undecided_matches(check) {
            Some(u) if u.len() == n => all,
            Some(u) => format!("{all}, {} undecided", u.len()),
            None => format!("{all}, one confirmed"),
        };
    }
    let mut flagged = Vec::new();
    let mut rules = Vec::new();
    if let Some(b) = breakdown(check) {
        let _unplaced = rules_from("", b, &mut rules);
    }
    for rule in &rules {
        if rule.outcome != RuleOutcome::Passed {
            let name = rule.name.as_str();
            flagged.push(name.rsplit(" › ").next().unwrap_or(name).to_lowercase());
        }
    }
    flagged.dedup();
    if flagged.is_empty() { format!("outcome {}", outcome_of(check)) } else { flagged.join(", ") }
}

pub fn queue_entry(check: &wire::Check) -> Option<QueueEntry> {
    if !is_referred(check) {
        return None;
    }
    let received = check.updated_at.as_deref().or(check.created_at.as_deref()).and_then(parse_time);
    Some(QueueEntry {
        case_ref: CaseRef::new(ID, check.id.clone()),
        applicant: SafeText::new(check.entity_name.as_deref().unwrap_or("(unnamed)")),
        check_type: SafeText::new(&check_label(check)),
        why_referred: SafeText::new(&why_referred(check)),
        received_at: received.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        status: QueueStatus::Pending,
        lane: Lane::New,
        note: None,
    })
}

fn check_label(check: &wire::Check) -> String {
    check.check_type.as_deref().unwrap_or("check").trim_end_matches("_check").replace('_', " ")
}

pub fn download_path(media_key: &str) -> Option<String> {
    let parts: Vec<&str> = media_key.split('/').collect();
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match parts.as_slice() {
        ["doc", id, side] if ok(id) && matches!(*side, "front" | "back") => {
            Some(format!("documents/{id}/download/{side}"))
        }
        ["live", id] if ok(id) => Some(format!("livePhotos/{id}/download")),
        _ => None,
    }
}

fn applicant(check: &wire::Check, client: Option<&wire::Client>) -> Applicant {
    let person = client.and_then(|c| c.person_details.as_ref());
    let full_name = person
        .map(|p| {
            [p.first_name.as_deref(), p.middle_name.as_deref(), p.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|n| !n.trim().is_empty())
        .or_else(|| client.and_then(|c| c.entity_name.clone()))
        .or_else(|| check.entity_name.clone())
        .unwrap_or_else(|| "(unnamed)".into());
    let mut fields = Vec::new();
    if let Some(c) = client {
        let mut push = |field: fn(&str, &str) -> Field, name: &str, v: &Option<String>| {
            if let Some(v) = v {
                fields.push(field(name, v));
            }
        };
        push(Field::new, "Client id", &Some(c.id.clone()));
        push(Field::fact, "Type", &c.client_type);
        push(Field::new, "Email", &c.email);
        push(Field::new, "Mobile", &c.mobile);
        push(Field::new, "External id", &c.external_id);
        if let Some(p) = person {
            push(Field::new, "Gender", &p.gender);
            push(Field::new, "Birth country", &p.birth_country);
        }
        push(Field::fact_instant, "Client since", &c.created_at);
    }
    Applicant {
        name: SafeText::new(&full_name),
        date_of_birth: person.and_then(|p| p.dob.as_deref()).and_then(DateValue::parse),
        nationality: person.and_then(|p| p.nationality.as_deref()).map(SafeText::new),
        fields,
    }
}

fn document(check: &wire::Check, doc: &wire::Document) -> Document {
    let extracted = breakdown(check).and_then(|b| b.get("extractedData")).and_then(Value::as_object);
    let details = extracted.and_then(|e| e.get("documentDetails")).and_then(Value::as_object);
    let holder = extracted.and_then(|e| e.get("holderDetails")).and_then(Value::as_object);
    let get = |k: &str| details.and_then(|d| d.get(k)).and_then(scalar).map(|s| SafeText::new(&s));
    let get_date = |k: &str| details.and_then(|d| d.get(k)).and_then(date_value);
    let mut fields = Vec::new();
    if let Some(extracted) = extracted {
        for (section, value) in extracted {
            let Some(obj) = value.as_object() else {
                continue;
            };
            for (k, v) in obj {
                let text = match v {
                    Value::Array(items) => items.iter().filter_map(scalar).collect::<Vec<_>>().join(" "),
                    other => scalar(other).unwrap_or_default(),
                };
                if !text.is_empty() {
                    let name = format!("{} › {}", humanize(section), humanize(k));
                    let fact = section == "documentDetails" && DOCUMENT_FACTS.contains(&k.as_str());
                    fields.push(if fact { Field::fact(&name, &text) } else { Field::new(&name, &text) });
                }
            }
        }
    }
    let mut sides: Vec<MediaRef> = doc
        .images
        .iter()
        .filter_map(|img| {
            let side = img.document_side.as_deref()?;
            matches!(side, "front" | "back").then(|| MediaRef {
                provider: ID,
                key: format!("doc/{}/{side}", doc.id),
                label: SafeText::new(&format!(
                    "{} {side}",
                    doc.doc_type.as_deref().unwrap_or("document").replace('_', " ")
                )),
            })
        })
        .collect();
    sides.sort_by(|a, b| b.key.cmp(&a.key)); // front before back
    Document {
        id: doc.id.clone(),
        doc_type: SafeText::new(&doc.doc_type.as_deref().unwrap_or("unknown").replace('_', " ")),
        country: doc.issuing_country.as_deref().map(SafeText::new),
        number: get("documentNumber"),
        expiry: get_date("expirationDate").or_else(|| get_date("expiryDate")),
        holder_name: holder.and_then(holder_name).map(|n| SafeText::new(&n)),
        date_of_birth: holder.and_then(|h| h.get("dob")).and_then(date_value),
        sides,
        fields,
    }
}

fn liveness_from(check: &wire::Check) -> Liveness {
    let auth = breakdown(check).and_then(|b| b.get("authenticityAnalysis")).and_then(Value::as_object);
    let value = auth.and_then(|a| a.get("livenessCheck")).and_then(Value::as_str);
    let spoof = auth.and_then(|a| a.get("spoofedImageAnalysis")).and_then(Value::as_str);
    match (value, spoof) {
        (Some("clear"), Some("attention")) => Liveness {
            result: LivenessResult::NotLive,
            code: Some(SafeText::new("spoofedImageAnalysis: attention")),
            description: SafeText::new(&describe("spoofedImageAnalysis", "attention")),
        },
        (Some("clear"), _) => Liveness {
            result: LivenessResult::Live,
            code: Some(SafeText::new("livenessCheck: clear")),
            description: SafeText::new("ComplyCube found the live photo to be of a live person"),
        },
        (Some(v), _) => Liveness {
            result: if v == "attention" { LivenessResult::NotLive } else { LivenessResult::Unknown },
            code: Some(SafeText::new(&format!("livenessCheck: {v}"))),
            description: SafeText::new(&describe("livenessCheck", v)),
        },
        (None, _) => Liveness {
            result: LivenessResult::Unknown,
            code: None,
            description: SafeText::new("no liveness analysis in this check"),
        },
    }
}

fn face_match(check: &wire::Check, doc: Option<&Document>, selfie: Option<&MediaRef>) -> Option<FaceMatch> {
    let face = breakdown(check)?.get("faceAnalysis")?.as_object()?;
    let score = face
        .get("breakdown")
        .and_then(|b| b.get("facialSimilarityScore"))
        .and_then(Value::as_f64)
        .filter(|s| (0.0..=100.0).contains(s));
    let matched = face.get("facialSimilarity").and_then(Value::as_str).map(|v| v == "clear");
    let mut images: Vec<MediaRef> = doc.and_then(|d| d.sides.first().cloned()).into_iter().collect();
    images.extend(selfie.cloned());
    Some(FaceMatch { score, matched, images })
}

fn screening_hits(check: &wire::Check) -> Vec<ScreeningHit> {
    let dates = |v: Option<&Value>| -> Vec<DateValue> {
        match v {
            Some(Value::Array(a)) => a.iter().filter_map(date_value).collect(),
            Some(other) => date_value(other).into_iter().collect(),
            None => vec![],
        }
    };
    let strings = |v: Option<&Value>| -> Vec<SafeText> {
        match v {
            Some(Value::Array(a)) => a.iter().filter_map(scalar).map(|s| SafeText::new(&s)).collect(),
            Some(other) => scalar(other).map(|s| vec![SafeText::new(&s)]).unwrap_or_default(),
            None => vec![],
        }
    };
    matches(check)
        .into_iter()
        .filter_map(|m| {
            let id = m.get("id")?.as_str()?.to_string();
            let known = [
                "id",
                assumptions::MATCH_NAME,
                assumptions::MATCH_SCORE,
                assumptions::MATCH_TYPES,
                "countries",
                "dateOfBirth",
                "datesOfBirth",
                assumptions::MATCH_RESOLUTION,
            ];
            let extra = m
                .iter()
                .filter(|(k, _)| !known.contains(&k.as_str()))
                .map(|(k, v)| Field::new(&humanize(k), &scalar(v).unwrap_or_else(|| v.to_string())))
                .collect();
            let mut dobs = dates(m.get("datesOfBirth"));
            dobs.extend(dates(m.get("dateOfBirth")));
            Some(ScreeningHit {
                name: SafeText::new(m.get(assumptions::MATCH_NAME).and_then(Value::as_str).unwrap_or("(no name)")),
                score: m.get(assumptions::MATCH_SCORE).and_then(Value::as_f64),
                datasets: strings(m.get(assumptions::MATCH_TYPES)),
                countries: strings(m.get("countries")),
                dates_of_birth: dobs,
                extra,
                resolution: m
                    .get(assumptions::MATCH_RESOLUTION)
                    .and_then(Value::as_str)
                    .map(|r| SafeText::new(&resolution_words(r))),
                id,
            })
        })
        .collect()
}

/// What each verdict sends, in the analyst's words: the mapping `plan_decision` performs.
const SENDS_LOCAL_ONLY: &str = "escalated locally, nothing sent";

fn targets(check: &wire::Check, hits: &[ScreeningHit]) -> Vec<DecisionTarget> {
    let sends = |pairs: &[(Verdict, &str)]| pairs.iter().map(|(v, s)| (*v, SafeText::new(s))).collect::<Vec<_>>();
    if is_screening(check.check_type.as_deref().unwrap_or_default()) {
        let undecided = undecided_matches(check);
        let (label, mut verdicts, mut whole_sends) = match &undecided {
            Some(u) if !u.is_empty() && u.len() == hits.len() => (
                "Whole check (Verify dismisses every hit as a false positive)".to_string(),
                vec![Verdict::Verify],
                vec![(
                    Verdict::Verify,
                    SafeText::new(&format!("{} dismissed as false positive", plural(u.len(), "hit", "hits"))),
                )],
            ),
            Some(u) if !u.is_empty() => (
                format!(
                    "Whole check (Verify dismisses the {} still undecided as false positive)",
                    plural(u.len(), "hit", "hits")
                ),
                vec![Verdict::Verify],
                vec![(
                    Verdict::Verify,
                    SafeText::new(&format!("{} dismissed as false positive", plural(u.len(), "hit", "hits"))),
                )],
            ),
            Some(_) => ("Whole check (every hit is decided)".to_string(), vec![], vec![]),
            None => (
                "Whole check (a match is confirmed, ComplyCube does not say which: decide the hits one by one)"
                    .to_string(),
                vec![],
                vec![],
            ),
        };
        verdicts.push(Verdict::Refer);
        whole_sends.push((Verdict::Refer, SafeText::new(SENDS_LOCAL_ONLY)));
        let mut targets = vec![DecisionTarget {
            id: TargetId::Case,
            label: SafeText::new(&label),
            verdicts,
            reject_reasons: vec![],
            resubmit_steps: vec![],
            sends: whole_sends,
        }];
        targets.extend(hits.iter().map(|h| DecisionTarget {
            id: TargetId::Hit(h.id.clone()),
            label: SafeText::new(&match &h.resolution {
                Some(r) => format!("Hit: {} (decided: {r})", h.name),
                None => format!("Hit: {}", h.name),
            }),
            verdicts: vec![Verdict::TrueMatch, Verdict::FalsePositive],
            reject_reasons: vec![],
            resubmit_steps: vec![],
            sends: sends(&[
                (Verdict::TrueMatch, "match confirmed"),
                (Verdict::FalsePositive, "match dismissed as false positive"),
            ]),
        }));
        targets
    } else {
        vec![DecisionTarget {
            id: TargetId::Case,
            label: SafeText::new("Whole check"),
            verdicts: vec![Verdict::Verify, Verdict::Reject, Verdict::Refer],
            reject_reasons: if check.check_type.as_deref() == Some("document_check") {
                super::REJECTION_REASONS.to_vec()
            } else {
                vec![]
            },
            resubmit_steps: vec![],
            sends: sends(&[
                (Verdict::Verify, "validate confirmed"),
                (Verdict::Reject, "validate rejected"),
                (Verdict::Refer, "validate attention, and escalated in kycdesk"),
            ]),
        }]
    }
}

pub fn case(
    check: &wire::Check,
    client: Option<&wire::Client>,
    doc: Option<&wire::Document>,
    live_photo: Option<&wire::LivePhoto>,
) -> Case {
    let documents: Vec<Document> = doc.map(|d| document(check, d)).into_iter().collect();
    let selfie_media = live_photo.map(|lp| MediaRef {
        provider: ID,
        key: format!("live/{}", lp.id),
        label: SafeText::new("live photo"),
    });
    let selfie = live_photo.map(|_| Selfie { media: selfie_media.clone(), liveness: liveness_from(check) });
    let mut rules = Vec::new();
    if let Some(b) = breakdown(check) {
        let skipped: Map<String, Value> = b
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "extractedData" | "matches"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let _unplaced = rules_from("", &skipped, &mut rules);
    }
    let hits = screening_hits(check);
    Case {
        case_ref: CaseRef::new(ID, check.id.clone()),
        check_type: SafeText::new(&check_label(check)),
        status: SafeText::new(&format!("{} / {}", check.status.as_deref().unwrap_or("?"), outcome_of(check))),
        why_referred: SafeText::new(&why_referred(check)),
        created_at: check.created_at.as_deref().and_then(parse_time),
        applicant: applicant(check, client),
        face_match: face_match(check, documents.first(), selfie_media.as_ref()),
        documents,
        selfie,
        rules,
        targets: targets(check, &hits),
        screening: hits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> wire::Check {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn referred_means_complete_and_attention() {
        let c = |status: &str, outcome: &str| check(json!({"id":"c1","status":status,"result":{"outcome":outcome}}));
        assert!(is_referred(&c("complete", "attention")));
        assert!(is_referred(&c("complete", "not_processed")));
        assert!(!is_referred(&c("complete", "clear")));
        assert!(!is_referred(&c("pending", "attention")));
    }

    #[test]
    fn identity_check_maps_liveness_face_match_and_rules() {
        let c = check(json!({
            "id":"chk1","clientId":"cl1","livePhotoId":"lp1","documentId":"d1","entityName":"Ada \u{1b}[2JLovelace",
            "type":"identity_check","status":"complete","createdAt":"2026-11-01T10:00:00.000Z",
            "result":{"outcome":"attention","breakdown":{
                "faceAnalysis":{"faceDetection":"clear","facialSimilarity":"attention","breakdown":{"facialSimilarityScore":41}},
                "authenticityAnalysis":{"livenessCheck":"attention","spoofedImageAnalysis":"clear"}}}
        }));
        let doc: wire::Document = serde_json::from_value(json!({"id":"d1","type":"passport","issuingCountry":"GB",
            "images":[{"documentSide":"back"},{"documentSide":"front"}]}))
        .unwrap_or_default();
        let lp: wire::LivePhoto = serde_json::from_value(json!({"id":"lp1"})).unwrap_or_default();
        let case = case(&c, None, Some(&doc), Some(&lp));
        assert_eq!(case.applicant.name.as_str(), "Ada \u{FFFD}[2JLovelace");
        let selfie = case.selfie.as_ref().map(|s| s.liveness.result);
        assert_eq!(selfie, Some(LivenessResult::NotLive));
        let fm = case.face_match.clone().unwrap_or(FaceMatch { score: None, matched: None, images: vec![] });
        assert_eq!(fm.score, Some(41.0));
        assert_eq!(fm.matched, Some(false));
        assert_eq!(fm.images.len(), 2);
        assert_eq!(case.documents[0].sides[0].key, "doc/d1/front");
        let failed: Vec<&str> =
            case.rules.iter().filter(|r| r.outcome == RuleOutcome::Failed).map(|r| r.name.as_str()).collect();
        assert_eq!(failed, vec!["Authenticity analysis › Liveness check", "Face analysis › Facial similarity"]);
        assert_eq!(case.targets.len(), 1);
        assert_eq!(why_referred(&c), "liveness check, facial similarity");
    }

    #[test]
    fn screening_check_has_a_target_per_hit() {
        let c = check(
            json!({"id":"chk2","type":"standard_screening_check","status":"complete","result":{"outcome":"attention",
            "breakdown":{"summary":{"pep":{"level1":"attention"}},
            "matches":[{"id":"m1","name":"J. Doe","score":87.5,"types":["pep"],"countries":["GB"],"dateOfBirth":{"day":1,"month":2,"year":1970}},{"id":"m2"}]}}}),
        );
        let case = case(&c, None, None, None);
        assert_eq!(case.screening.len(), 2);
        assert_eq!(case.screening[0].dates_of_birth[0].to_string(), "1970-02-01");
        assert_eq!(case.targets.len(), 3);
        assert_eq!(case.targets[1].verdicts, vec![Verdict::TrueMatch, Verdict::FalsePositive]);
        assert_eq!(match_ids(&c), vec!["m1", "m2"]);
        assert_eq!(why_referred(&c), "2 screening matches");
    }

    fn sends_of(target: &DecisionTarget) -> Vec<(Verdict, &str)> {
        target.sends.iter().map(|(v, s)| (*v, s.as_str())).collect()
    }

    #[test]
    fn identity_and_document_checks_say_what_each_verdict_sends() {
        for kind in ["identity_check", "document_check"] {
            let c = check(json!({"id":"c1","type":kind,"status":"complete","result":{"outcome":"attention"}}));
            let targets = targets(&c, &[]);
            assert_eq!(
                sends_of(&targets[0]),
                vec![
                    (Verdict::Verify, "validate confirmed"),
                    (Verdict::Reject, "validate rejected"),
                    (Verdict::Refer, "validate attention, and escalated in kycdesk"),
                ]
            );
            // Every offered verdict says what it sends.
            assert!(targets[0].verdicts.iter().all(|v| targets[0].sends(*v).is_some()));
        }
    }

    fn screening(matches: Value, outcome: &str) -> wire::Check {
        check(json!({"id":"s1","type":"standard_screening_check","status":"complete",
            "result":{"outcome":outcome,"breakdown":{"matches":matches}}}))
    }

    #[test]
    fn screening_verify_counts_the_undecided_hits() {
        let fresh =
            screening(json!([{"id":"m1","name":"A"},{"id":"m2","name":"B"},{"id":"m3","name":"C"}]), "attention");
        let case = case(&fresh, None, None, None);
        assert_eq!(
            sends_of(&case.targets[0]),
            vec![
                (Verdict::Verify, "3 hits dismissed as false positive"),
                (Verdict::Refer, "escalated locally, nothing sent")
            ]
        );
        assert_eq!(case.targets[0].label.as_str(), "Whole check (Verify dismisses every hit as a false positive)");
        assert_eq!(
            sends_of(&case.targets[1]),
            vec![
                (Verdict::TrueMatch, "match confirmed"),
                (Verdict::FalsePositive, "match dismissed as false positive")
            ]
        );
        assert_eq!(why_referred(&fresh), "3 screening matches");
    }

    #[test]
    fn a_match_confirmed_check_still_shows_its_undecided_hits() {
        let c = screening(
            json!([{"id":"m1","name":"A","resolution":"confirmed"},{"id":"m2","name":"B"},{"id":"m3","name":"C","resolution":"rejected"}]),
            "match_confirmed",
        );
        assert_eq!(undecided_matches(&c), Some(vec!["m2".to_string()]));
        let case = case(&c, None, None, None);
        assert_eq!(case.status.as_str(), "complete / match_confirmed");
        assert_eq!(why_referred(&c), "3 screening matches, 1 undecided");
        let resolutions: Vec<Option<&str>> =
            case.screening.iter().map(|h| h.resolution.as_ref().map(SafeText::as_str)).collect();
        assert_eq!(resolutions, vec![Some("true match (confirmed)"), None, Some("false positive (dismissed)")]);
        assert_eq!(case.targets[0].verdicts, vec![Verdict::Verify, Verdict::Refer]);
        assert_eq!(
            case.targets[0].sends(Verdict::Verify).map(SafeText::as_str),
            Some("1 hit dismissed as false positive")
        );
        assert_eq!(case.targets[1].label.as_str(), "Hit: A (decided: true match (confirmed))");
        assert_eq!(case.targets[2].label.as_str(), "Hit: B");
        // The undecided hit can still be decided on its own.
        assert_eq!(case.targets[2].verdicts, vec![Verdict::TrueMatch, Verdict::FalsePositive]);
    }

    #[test]
    fn a_confirmed_match_that_is_not_named_offers_no_whole_check_verify() {
        let c = screening(json!([{"id":"m1"},{"id":"m2"}]), "match_confirmed");
        assert_eq!(undecided_matches(&c), None);
        let case = case(&c, None, None, None);
        assert_eq!(case.targets[0].verdicts, vec![Verdict::Refer]);
        assert_eq!(why_referred(&c), "2 screening matches, one confirmed");
        let all_decided = screening(json!([{"id":"m1","resolution":"confirmed"}]), "match_confirmed");
        assert_eq!(case_targets_verdicts(&all_decided), vec![Verdict::Refer]);
    }

    fn case_targets_verdicts(c: &wire::Check) -> Vec<Verdict> {
        case(c, None, None, None).targets[0].verdicts.clone()
    }

    #[test]
    fn document_checks_give_the_holder_as_read_and_say_what_is_personal() {
        let c = check(json!({"id":"c1","type":"document_check","status":"complete","result":{"outcome":"attention",
            "breakdown":{"extractedData":{
                "documentDetails":{"documentType":"passport","documentNumber":"123456789","issuingCountry":"GB",
                    "expirationDate":{"year":2025,"month":3,"day":1}},
                "holderDetails":{"firstName":["Ada","Mary"],"lastName":["Lovelace"],"dob":{"year":1990,"month":2,"day":1}}},
                "contentAnalysis":"attention","checkedAt":"2026-11-17T10:48:00+05:30"}}}));
        let doc: wire::Document = serde_json::from_value(json!({"id":"d1","type":"passport"})).unwrap_or_default();
        let case = case(&c, None, Some(&doc), None);
        let d = &case.documents[0];
        assert_eq!(d.holder_name.as_ref().map(SafeText::as_str), Some("Ada Mary Lovelace"));
        assert_eq!(d.date_of_birth.as_ref().map(|x| x.to_string()).as_deref(), Some("1990-02-01"));
        assert_eq!(d.expiry.as_ref().map(|x| x.to_string()).as_deref(), Some("2025-03-01"));
        let personal: Vec<(&str, bool)> = d.fields.iter().map(|f| (f.name.as_str(), f.personal)).collect();
        assert!(personal.contains(&("Document details › Document number", true)), "{personal:?}");
        assert!(personal.contains(&("Document details › Issuing country", false)), "{personal:?}");
        assert!(personal.contains(&("Holder details › Last name", true)), "{personal:?}");
        let detail = case.rules.iter().flat_map(|r| &r.details).find(|f| f.name.as_str() == "Checked at");
        assert_eq!(detail.map(|f| (f.value.as_str(), f.personal)), Some(("2026-11-17 05:18 UTC", false)));
    }

    #[test]
    fn media_keys_become_download_paths_and_nothing_else() {
        assert_eq!(download_path("doc/d1/front").as_deref(), Some("documents/d1/download/front"));
        assert_eq!(download_path("live/lp1").as_deref(), Some("livePhotos/lp1/download"));
        assert_eq!(download_path("doc/../x/front"), None);
        assert_eq!(download_path("doc/d1/side"), None);
    }
}
