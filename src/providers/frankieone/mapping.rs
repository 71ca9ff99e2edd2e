//! FrankieOne JSON -> domain. Every string is sanitised here, once. The documents are
//! deep and mostly optional, so they are read as JSON values, field by field.

use super::{ID, assumptions};
use crate::domain::{
    Applicant, Case, CaseRef, DateValue, DecisionTarget, Document, FaceMatch, Field, Lane, Liveness, LivenessResult,
    MediaRef, QueueEntry, QueueStatus, RuleOutcome, RuleResult, SafeText, ScreeningHit, Selfie, TargetId, Verdict,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// entity / service / workflow / execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseKey {
    pub entity: String,
    pub service: String,
    pub workflow: String,
    pub execution: String,
}

impl CaseKey {
    pub fn parse(key: &str) -> Option<Self> {
        let mut p = key.split('/');
        let k = CaseKey {
            entity: p.next()?.to_string(),
            service: p.next()?.to_string(),
            workflow: p.next()?.to_string(),
            execution: p.next()?.to_string(),
        };
        p.next().is_none().then_some(k)
    }

    pub fn key(&self) -> String {
        format!("{}/{}/{}/{}", self.entity, self.service, self.workflow, self.execution)
    }
}

fn s(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    s(v).and_then(crate::domain::parse_instant)
}

/// The service profiles of a search answer, nested (`[[…]]`, documented) or flat.
pub fn matched_profiles(answer: &Value) -> Vec<Value> {
    let mut out = vec![];
    for m in answer["matches"].as_array().into_iter().flatten() {
        match m {
            Value::Array(inner) => out.extend(inner.iter().map(|x| x["serviceProfile"].clone())),
            other => out.push(other["serviceProfile"].clone()),
        }
    }
    out.into_iter().filter(|p| p.is_object()).collect()
}

fn is_referred(summary: &Value) -> bool {
    let status = s(&summary["status"]).unwrap_or_default();
    assumptions::REFERRED_STATUSES.contains(&status) && summary["statusOverrideAt"].is_null()
}

fn key_of(profile: &Value, summary: &Value) -> Option<CaseKey> {
    Some(CaseKey {
        entity: s(&profile["entityId"])?.to_string(),
        service: s(&profile["serviceName"])?.to_string(),
        workflow: s(&summary["workflowName"])?.to_string(),
        execution: s(&summary["workflowExecutionId"])?.to_string(),
    })
}

fn issues_text(summary: &Value) -> String {
    let issues: Vec<String> = summary["issues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["isCleared"] != true)
        .filter_map(|i| s(&i["issue"]).map(|x| x.to_lowercase().replace('_', " ")))
        .collect();
    let status = s(&summary["status"]).unwrap_or("?").to_string();
    if issues.is_empty() { status } else { format!("{status}: {}", issues.join(", ")) }
}

/// Queue entries for a service profile: one per referred latest execution.
pub fn queue_entries(profile: &Value) -> Vec<QueueEntry> {
    profile["workflowSummaries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| is_referred(w))
        .filter_map(|w| {
            let key = key_of(profile, w)?;
            Some(QueueEntry {
                case_ref: CaseRef::new(ID, key.key()),
                applicant: SafeText::new(s(&profile["entityName"]).unwrap_or("(unnamed)")),
                check_type: SafeText::new(&key.workflow),
                why_referred: SafeText::new(&issues_text(w)),
                received_at: parse_time(&w["endedAt"])
                    .or_else(|| parse_time(&w["startedAt"]))
                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                status: QueueStatus::Pending,
                lane: Lane::New,
                note: None,
            })
        })
        .collect()
}

/// Executions of a profile that no longer need review.
pub fn settled(profile: &Value) -> Vec<CaseRef> {
    profile["workflowSummaries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| !is_referred(w))
        .filter_map(|w| key_of(profile, w).map(|k| CaseRef::new(ID, k.key())))
        .collect()
}

fn name_of(individual: &Value) -> String {
    let n = &individual["name"];
    if let Some(d) = s(&n["displayName"]) {
        return d.to_string();
    }
    let parts: Vec<&str> = ["givenName", "middleName", "familyName"].iter().filter_map(|k| s(&n[*k])).collect();
    if parts.is_empty() { "(unnamed)".into() } else { parts.join(" ") }
}

/// A `Date` object: `normalized` (ISO, read-only), else `year`/`month`/`day` (strings),
/// else `unstructured` (a non-Gregorian date, kept as text); a plain string is read too.
fn date(d: &Value) -> Option<DateValue> {
    let part = |k: &str| s(&d[k]).and_then(|p| p.parse::<i64>().ok());
    s(d).and_then(DateValue::parse)
        .or_else(|| s(&d["normalized"]).and_then(DateValue::parse))
        .or_else(|| DateValue::from_parts(part("year")?, part("month")?, part("day")?))
        .or_else(|| s(&d["unstructured"]).and_then(DateValue::parse))
}

fn dob(individual: &Value) -> Option<DateValue> {
    date(&individual["dateOfBirth"])
}

fn pro_outcome(result: &str) -> RuleOutcome {
    match result {
        "CLEAR" | "MATCH" | "NO_MATCH" | "CLEAR_AUTO" | "OVERRIDE" => RuleOutcome::Passed,
        "HIT" | "FAIL" | "REJECTED" | "SUSPECTED" | "INVALID_MATCH" | "PARTIAL_MATCH" | "BAD_DATA" => {
            RuleOutcome::Failed
        }
        _ => RuleOutcome::CouldNotApply,
    }
}

fn step_outcome(result: &str) -> RuleOutcome {
    match result {
        "PASS" | "CLEAR" | "CLEARED" | "MATCH" | "COMPLETE" | "HIT_REJECTED" => RuleOutcome::Passed,
        "FAIL" | "HIT" | "PARTIAL" | "NO_MATCH" | "EXPIRED" | "ERROR" | "HIT_ACCEPTED" => RuleOutcome::Failed,
        _ => RuleOutcome::CouldNotApply,
    }
}

fn media(entity: &str, document: &str, attachment: &str, label: &str) -> MediaRef {
    MediaRef { provider: ID, key: format!("{entity}/{document}/{attachment}"), label: SafeText::new(label) }
}

fn strings(v: &Value, field: &str) -> Vec<SafeText> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| if field.is_empty() { s(x) } else { s(&x[field]) })
        .map(SafeText::new)
        .collect()
}

/// The process results that count: those FrankieOne has not marked stale.
fn valid_results(results: &Value) -> Vec<&Value> {
    results["processResults"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["systemStatus"].is_null() || p["systemStatus"] == "VALID")
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKind {
    /// An AML hit nobody resolved: Verify dismisses it as a false positive.
    AmlHit,
    /// An IDV result that did not pass and nobody resolved: Verify clears it.
    Idv,
}

/// A process result still waiting for a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenResult {
    pub id: String,
    pub kind: OpenKind,
    /// The hit's name, or the IDV result's kind (`IDV facial liveness`).
    pub name: String,
}

fn idv_name(pro: &Value) -> String {
    let kind = s(&pro["supplementaryData"]["type"]).unwrap_or("IDV");
    match kind.split_once('_') {
        Some((head, rest)) => format!("{head} {}", rest.replace('_', " ").to_lowercase()),
        None => kind.to_string(),
    }
}

/// What Verify on the execution resolves before it approves (`providers/README.md` §3).
pub fn open_results(results: &Value) -> Vec<OpenResult> {
    if !assumptions::VERIFY_RESOLVES_OPEN_RESULTS {
        return vec![];
    }
    valid_results(results)
        .into_iter()
        .filter(|p| s(&p["manualStatus"]).is_none())
        .filter_map(|p| {
            let id = s(&p["processResultId"])?.to_string();
            match s(&p["class"])? {
                "AML" => Some(OpenResult {
                    id,
                    kind: OpenKind::AmlHit,
                    name: s(&p["supplementaryData"]["matchData"]["name"]).unwrap_or("(no name)").to_string(),
                }),
                "IDV" if pro_outcome(s(&p["result"]).unwrap_or_default()) != RuleOutcome::Passed => {
                    Some(OpenResult { id, kind: OpenKind::Idv, name: idv_name(p) })
                }
                _ => None,
            }
        })
        .collect()
}

/// How many open results a sentence names before it says "and N more".
const OPEN_NAMED: usize = 4;

/// What Verify on the execution sends, in the analyst's words.
pub fn verify_sends(open: &[OpenResult]) -> String {
    if open.is_empty() {
        return "approves the execution".into();
    }
    let mut parts: Vec<String> = open
        .iter()
        .take(OPEN_NAMED)
        .map(|o| match o.kind {
            OpenKind::AmlHit => format!("AML hit '{}' false positive", o.name),
            OpenKind::Idv => format!("{} clear", o.name),
        })
        .collect();
    if open.len() > OPEN_NAMED {
        parts.push(format!("{} more", open.len() - OPEN_NAMED));
    }
    let n = open.len();
    format!(
        "resolves {n} open result{} first ({}), then approves the execution",
        if n == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

fn sends(pairs: &[(Verdict, &str)]) -> Vec<(Verdict, SafeText)> {
    pairs.iter().map(|(v, t)| (*v, SafeText::new(t))).collect()
}

pub fn case(key: &CaseKey, execution: &Value, results: &Value, documents: &Value, profile: &Value) -> Case {
    let wr = &execution["workflowResult"];
    let individual = &execution["individual"];
    let entity = key.entity.as_str();
    // Documents and their images; the selfie is the SELF_IMAGE document.
    let mut docs = vec![];
    let mut selfie_media = None;
    for class in ["IDENTITY", "SUPPORTING", "OTHER"] {
        for d in documents[class].as_array().into_iter().flatten() {
            let doc_id = s(&d["documentId"]).unwrap_or_default().to_string();
            let doc_type = s(&d["type"]).unwrap_or("document").to_string();
            let sides: Vec<MediaRef> = d["attachments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| {
                    let side = s(&a["side"]).unwrap_or("FRONT").to_lowercase();
                    Some(media(
                        entity,
                        &doc_id,
                        s(&a["attachmentId"])?,
                        &format!("{} {side}", doc_type.replace('_', " ").to_lowercase()),
                    ))
                })
                .collect();
            if doc_type == assumptions::SELFIE_DOCUMENT_TYPE {
                selfie_media = sides.into_iter().next().map(|m| MediaRef { label: SafeText::new("selfie"), ..m });
                continue;
            }
            docs.push(Document {
                id: doc_id,
                doc_type: SafeText::new(&doc_type.replace('_', " ").to_lowercase()),
                country: s(&d["country"]).map(SafeText::new),
                number: s(&d["primaryIdentifier"]).map(SafeText::new),
                expiry: date(&d["expiryDate"]),
                // The Document schema carries no holder name or date of birth (only some
                // supplementary types have names, e.g. a birth certificate); what OCR read
                // goes into the entity, not the document.
                holder_name: None,
                date_of_birth: None,
                sides,
                fields: [
                    ("Issued", date(&d["issueDate"]).map(|d| d.to_string())),
                    ("Class", s(&d["class"]).map(str::to_string)),
                ]
                .into_iter()
                .filter_map(|(l, v)| v.map(|v| Field::fact(l, &v)))
                .collect(),
            });
        }
    }
    // Process results of this execution's entity: AML hits and IDV results.
    let pros = valid_results(results);
    let mut screening = vec![];
    let mut rules = vec![];
    let mut targets = vec![DecisionTarget {
        id: TargetId::Case,
        label: SafeText::new("Workflow execution (Refer sets NEEDS_APPROVAL)"),
        verdicts: vec![Verdict::Verify, Verdict::Reject, Verdict::Refer],
        reject_reasons: vec![],
        resubmit_steps: vec![],
        sends: vec![
            (Verdict::Verify, SafeText::new(&verify_sends(&open_results(results)))),
            (Verdict::Reject, SafeText::new("rejects the execution")),
            (Verdict::Refer, SafeText::new("sets the execution to NEEDS_APPROVAL, and escalated in kycdesk")),
        ],
    }];
    let mut liveness = None;
    let mut face_match = None;
    for p in &pros {
        let id = s(&p["processResultId"]).unwrap_or_default().to_string();
        let class = s(&p["class"]).unwrap_or_default();
        let result = s(&p["result"]).unwrap_or_default();
        let manual = s(&p["manualStatus"]);
        let sd = &p["supplementaryData"];
        match class {
            "AML" => {
                let md = &sd["matchData"];
                let mut datasets = vec![];
                for (field, label) in [
                    ("pepData", "PEP"),
                    ("sanctionData", "Sanction"),
                    ("watchlistData", "Watchlist"),
                    ("mediaData", "Adverse media"),
                ] {
                    if sd[field].as_array().is_some_and(|a| !a.is_empty()) {
                        datasets.push(SafeText::new(label));
                    }
                }
                let mut extra = vec![];
                for item in sd["pepData"].as_array().into_iter().flatten() {
                    if let Some(pos) = s(&item["position"]).or(s(&item["sourceName"])) {
                        extra.push(Field::new("PEP", pos));
                    }
                }
                for item in sd["sanctionData"].as_array().into_iter().flatten() {
                    if let Some(src) = s(&item["sourceName"]) {
                        // Which list and why: about the listing, not the person.
                        extra.push(Field::fact(
                            "Sanction list",
                            &format!("{src} {}", s(&item["sourceReason"]).unwrap_or_default()),
                        ));
                    }
                }
                for item in sd["mediaData"].as_array().into_iter().flatten() {
                    if let Some(t) = s(&item["title"]) {
                        extra.push(Field::new("Media", t));
                    }
                }
                let name = s(&md["name"]).unwrap_or("(no name)");
                screening.push(ScreeningHit {
                    id: id.clone(),
                    name: SafeText::new(name),
                    score: md["strength"].as_f64(),
                    datasets,
                    countries: strings(&md["countries"], "code"),
                    // Often a year alone (`1985`): kept as text.
                    dates_of_birth: date(&md["date"]).into_iter().collect(),
                    extra,
                    resolution: manual.map(SafeText::new),
                });
                if manual.is_none() {
                    targets.push(DecisionTarget {
                        id: TargetId::Hit(id),
                        label: SafeText::new(&format!("Hit: {name}")),
                        verdicts: vec![Verdict::TrueMatch, Verdict::FalsePositive],
                        reject_reasons: vec![],
                        resubmit_steps: vec![],
                        sends: sends(&[
                            (Verdict::TrueMatch, "hit resolved as true positive (TRUE_POSITIVE_REJECT)"),
                            (Verdict::FalsePositive, "hit resolved as false positive"),
                        ]),
                    });
                }
            }
            "IDV" => {
                let kind = s(&sd["type"]).unwrap_or("IDV");
                let details: Vec<Field> = sd["resultMap"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| {
                        Field::fact(
                            k,
                            &format!(
                                "{} {}",
                                s(&v["resultNormalized"]).unwrap_or("?"),
                                s(&v["description"]).unwrap_or_default()
                            ),
                        )
                    })
                    .collect();
                if kind == "IDV_FACIAL_LIVENESS" {
                    liveness = Some(Liveness {
                        result: match pro_outcome(result) {
                            RuleOutcome::Passed => LivenessResult::Live,
                            RuleOutcome::Failed => LivenessResult::NotLive,
                            RuleOutcome::NeedsReview | RuleOutcome::CouldNotApply => LivenessResult::Unknown,
                        },
                        code: s(&sd["outcomeRaw"]).map(SafeText::new),
                        description: SafeText::new(&format!("FrankieOne liveness result {result}")),
                    });
                }
                if kind == "IDV_FACIAL_COMPARISON" {
                    let score =
                        sd["resultMap"].as_object().and_then(|m| m.values().find_map(|v| v["confidence"].as_f64()));
                    face_match = Some(FaceMatch {
                        score,
                        matched: Some(pro_outcome(result) == RuleOutcome::Passed),
                        images: vec![],
                    });
                }
                rules.push(RuleResult {
                    name: SafeText::new(&kind.replace('_', " ").to_lowercase()),
                    outcome: pro_outcome(result),
                    description: SafeText::new(&format!(
                        "{result}{}",
                        manual.map(|m| format!(" (resolved: {m})")).unwrap_or_default()
                    )),
                    details,
                });
                if manual.is_none() {
                    targets.push(DecisionTarget {
                        id: TargetId::Element(format!("idv:{id}")),
                        label: SafeText::new(&format!("IDV result: {}", kind.replace('_', " ").to_lowercase())),
                        verdicts: vec![Verdict::Verify, Verdict::Reject],
                        reject_reasons: vec![],
                        resubmit_steps: vec![],
                        sends: sends(&[
                            (Verdict::Verify, "IDV result resolved as clear"),
                            (Verdict::Reject, "IDV result resolved as rejected"),
                        ]),
                    });
                }
            }
            _ => {}
        }
    }
    for step in wr["workflowStepResults"].as_array().into_iter().flatten() {
        let result = s(&step["result"]).unwrap_or("UNCHECKED");
        rules.push(RuleResult {
            name: SafeText::new(&format!("Step {}", s(&step["stepName"]).unwrap_or("?"))),
            outcome: step_outcome(result),
            description: SafeText::new(result),
            details: vec![],
        });
    }
    for issue in wr["issues"].as_array().into_iter().flatten() {
        rules.push(RuleResult {
            name: SafeText::new(&format!("Issue {}", s(&issue["issue"]).unwrap_or("?"))),
            outcome: if issue["isCleared"] == true { RuleOutcome::Passed } else { RuleOutcome::Failed },
            description: SafeText::new(&format!(
                "{} / {}",
                s(&issue["category"]).unwrap_or("?"),
                s(&issue["severity"]).unwrap_or("?")
            )),
            details: vec![],
        });
    }
    let selfie = (liveness.is_some() || selfie_media.is_some()).then(|| Selfie {
        media: selfie_media,
        liveness: liveness.unwrap_or(Liveness {
            result: LivenessResult::Unknown,
            code: None,
            description: SafeText::new("no liveness result"),
        }),
    });
    if let (Some(fm), Some(doc), Some(sm)) =
        (face_match.as_mut(), docs.first(), selfie.as_ref().and_then(|x| x.media.clone()))
    {
        fm.images = doc.sides.iter().take(1).cloned().chain(std::iter::once(sm)).collect();
    }
    let mut fields = vec![Field::new("Entity id", entity)];
    let personal: fn(&str, &str) -> Field = Field::new;
    for (field, label, v) in [
        (personal, "Gender", &individual["gender"]["gender"]),
        (Field::fact, "Service profile", &profile["state"]),
        // Staff names: not the applicant's, but masked for screen sharing all the same.
        (personal, "Assignee", &profile["assignee"]),
        (personal, "Reviewer", &profile["reviewer"]),
    ] {
        if let Some(v) = s(v) {
            fields.push(field(label, v));
        }
    }
    for e in individual["emailAddresses"].as_array().into_iter().flatten() {
        if let Some(v) = s(&e["email"]) {
            fields.push(Field::new("Email", v));
        }
    }
    Case {
        case_ref: CaseRef::new(ID, key.key()),
        check_type: SafeText::new(&key.workflow),
        status: SafeText::new(&format!(
            "{} / {}",
            s(&wr["workflowExecutionState"]).unwrap_or("?"),
            s(&wr["status"]).or(s(&wr["result"])).unwrap_or("?")
        )),
        why_referred: SafeText::new(&issues_text(wr)),
        created_at: parse_time(&wr["startedAt"]),
        applicant: Applicant {
            name: SafeText::new(&name_of(individual)),
            date_of_birth: dob(individual),
            nationality: s(&individual["nationality"]).map(SafeText::new),
            fields,
        },
        documents: docs,
        selfie,
        rules,
        face_match,
        screening,
        targets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn results() -> Value {
        json!({"processResults": [
            {"processResultId": "A1", "class": "AML", "result": "HIT", "systemStatus": "VALID",
                "supplementaryData": {"type": "AML", "matchData": {"name": "Lucas Smith"}}},
            {"processResultId": "A2", "class": "AML", "result": "HIT", "manualStatus": "TRUE_POSITIVE_REJECT",
                "supplementaryData": {"type": "AML", "matchData": {"name": "L. Smith"}}},
            {"processResultId": "I1", "class": "IDV", "result": "FAIL",
                "supplementaryData": {"type": "IDV_FACIAL_LIVENESS"}},
            {"processResultId": "I2", "class": "IDV", "result": "CLEAR",
                "supplementaryData": {"type": "IDV_FACIAL_COMPARISON"}},
            {"processResultId": "A3", "class": "AML", "result": "HIT", "systemStatus": "STALE",
                "supplementaryData": {"type": "AML", "matchData": {"name": "Old"}}},
        ]})
    }

    #[test]
    fn open_results_are_unresolved_hits_and_failed_idv() {
        let open = open_results(&results());
        let ids: Vec<(&str, OpenKind)> = open.iter().map(|o| (o.id.as_str(), o.kind)).collect();
        assert_eq!(ids, vec![("A1", OpenKind::AmlHit), ("I1", OpenKind::Idv)]);
        assert_eq!(
            verify_sends(&open),
            "resolves 2 open results first (AML hit 'Lucas Smith' false positive, IDV facial liveness clear), then approves the execution"
        );
        assert_eq!(verify_sends(&[]), "approves the execution");
        let many: Vec<OpenResult> =
            (0..6).map(|i| OpenResult { id: format!("A{i}"), kind: OpenKind::AmlHit, name: format!("N{i}") }).collect();
        let text = verify_sends(&many);
        assert!(text.starts_with("resolves 6 open results first (AML hit 'N0' false positive,"), "{text}");
        assert!(text.contains("'N3' false positive, 2 more)"), "{text}");
    }

    #[test]
    fn every_target_says_what_each_verdict_sends() {
        let key = CaseKey { entity: "e".into(), service: "KYC".into(), workflow: "w".into(), execution: "x".into() };
        let case = case(&key, &json!({}), &results(), &json!({}), &json!({}));
        for t in &case.targets {
            for v in &t.verdicts {
                assert!(t.sends(*v).is_some_and(|s| !s.is_empty()), "{:?} {v:?}", t.id);
            }
        }
        let whole = &case.targets[0];
        assert_eq!(whole.sends(Verdict::Reject).map(SafeText::as_str), Some("rejects the execution"));
        assert_eq!(
            whole.sends(Verdict::Refer).map(SafeText::as_str),
            Some("sets the execution to NEEDS_APPROVAL, and escalated in kycdesk")
        );
        assert!(whole.sends(Verdict::Verify).is_some_and(|s| s.as_str().starts_with("resolves 2 open results first")));
    }
}
