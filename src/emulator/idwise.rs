//! The IDWise API from `shared/providers/idwise.md`: Basic auth with the documented 401
//! codes, journey result (model 3.0), summary (2 s throttle per journey), spot checks,
//! binary images, manual review with its validation and state changes; routes under
//! `journey/…` and the bare form. Webhooks: `Finished Journey` for referred journeys
//! (one delivered twice on purpose), `Manually Reviewed`, `Verification Update Required`.

use super::{Answer, Handled, ImageKind, ImageWrap, Webhook};
use crate::providers::idwise::assumptions;
use axum::http::HeaderMap;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// The emulator's credentials. Not secrets: they open nothing but this.
pub const API_KEY: &str = "kycdesk-emulator-idwise-key";
pub const API_SECRET: &str = "kycdesk-emulator-idwise-secret";

const NAMES: [&str; 12] = [
    "Layla Haddad",
    "Omar Farouk",
    "Sara Lindgren",
    "Mateo Rossi",
    "Aisha Bello",
    "Noah Becker",
    "Zara Khan",
    "Elena Petrova",
    "Yusuf Demir",
    "Mina Park",
    "Tariq Aziz",
    "Lucia Romero",
];
const DOC_TYPES: [&str; 3] = ["Passport", "Identity Card", "Driving Licence"];
/// The journey whose applicant record and document disagree on the birth date.
const BIRTH_DATE_DIFFERS_INDEX: usize = 2;
const DATASETS: [&str; 3] = ["Politically Exposed Person", "Sanctions", "Adverse Media"];
const COUNTRIES: [(&str, &str); 5] = [
    ("United Arab Emirates", "ARE"),
    ("Qatar", "QAT"),
    ("Germany", "DEU"),
    ("United Kingdom", "GBR"),
    ("Egypt", "EGY"),
];

pub struct IdWiseEmu {
    journeys: BTreeMap<String, Value>,
    spot_checks: BTreeMap<String, Value>,
    images: BTreeMap<String, (u64, ImageKind)>,
    summary_last: HashMap<String, Instant>,
    next_event: u64,
}

fn err(status: u16, code: &str, message: &str) -> Answer {
    Answer::json(status, json!({"success": false, "message": message, "error_code": code}))
}

fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Which step failed and why, by journey index: a spread of what analysts see.
enum Failure {
    Liveness(&'static str),
    Expired,
    FaceMismatch,
    Aml,
}

impl IdWiseEmu {
    pub fn new(seed: u64, cases: usize, at: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x1D15E);
        let mut emu = Self {
            journeys: BTreeMap::new(),
            spot_checks: BTreeMap::new(),
            images: BTreeMap::new(),
            summary_last: HashMap::new(),
            next_event: 1,
        };
        let base = at - Duration::hours(4);
        let total = cases + cases / 4;
        for i in 0..total {
            let referred = i < cases;
            let failure = match i % 4 {
                0 => Failure::Liveness(assumptions::LIVENESS_CODES[(i / 4) % assumptions::LIVENESS_CODES.len()].0),
                1 => Failure::Expired,
                2 => Failure::FaceMismatch,
                _ => Failure::Aml,
            };
            let id = hex(&mut rng, 24);
            let mut name = (*NAMES.choose(&mut rng).unwrap_or(&"Alex Doe")).to_string();
            let (mut country, mut code) = *COUNTRIES.choose(&mut rng).unwrap_or(&("Germany", "DEU"));
            let mut birth = (1960 + (i % 40) as i32, 1 + (i % 9) as u32, 10 + (i % 10) as u32);
            let start = base - Duration::minutes(23 * i as i64);
            let img = |rng: &mut StdRng, kind: ImageKind, images: &mut BTreeMap<String, (u64, ImageKind)>| {
                let path = hex(rng, 32);
                images.insert(path.clone(), (rng.random(), kind));
                path
            };
            let front = img(&mut rng, ImageKind::DocumentFront, &mut emu.images);
            let back = img(&mut rng, ImageKind::DocumentBack, &mut emu.images);
            let selfie_path = img(&mut rng, ImageKind::Selfie, &mut emu.images);
            let expired = referred && matches!(failure, Failure::Expired);
            let mismatch = referred && matches!(failure, Failure::FaceMismatch);
            let aml = referred && matches!(failure, Failure::Aml);
            let liveness_code = match failure {
                Failure::Liveness(c) if referred => Some(c),
                _ => None,
            };
            let score = if mismatch { rng.random_range(20..55) } else { rng.random_range(85..99) };
            let mut number = format!("{}{}", code.chars().next().unwrap_or('X'), hex(&mut rng, 8).to_uppercase());
            // Drawn first and replaced after, so every other case stays as it was seeded.
            if i == super::SHARED_IDWISE_INDEX {
                let person = &super::SHARED_CREDAS_IDWISE;
                name = format!("{} {}", person.given, person.family);
                (country, code) = ("United Kingdom", "GBR");
                birth = person.birth;
                number = person.document_number.map(str::to_string).unwrap_or(number);
            }
            let day = |(y, m, d): (i32, u32, u32)| format!("{y:04}-{m:02}-{d:02}");
            // One applicant record gives a birth date a year off the document's.
            let applicant_birth = if i == BIRTH_DATE_DIFFERS_INDEX { (birth.0 + 1, birth.1, birth.2) } else { birth };
            let pass = |ok: bool| if ok { "Passed" } else { "Failed" };
            let documents = json!({"2": {
                "step_title": "Identity Document", "progress": "Completed", "has_passed_rules": !expired,
                "document_type": DOC_TYPES[i % 3],
                "issuing_country": country, "issuing_country_code": code,
                "extracted_fields": {
                    (assumptions::FIELD_FULL_NAME): {"value": name, "read_accuracy": "High", "type": "string"},
                    (assumptions::FIELD_DOCUMENT_NUMBER): {"value": number, "read_accuracy": if i % 5 == 0 { "Low" } else { "High" }, "type": "string"},
                    (assumptions::FIELD_BIRTH_DATE): {"value": day(birth), "read_accuracy": "High", "type": "string"},
                    (assumptions::FIELD_EXPIRY_DATE): {"value": if expired { "2025-03-31" } else { "2030-09-30" }, "read_accuracy": "High", "type": "string"},
                    "Nationality": {"value": code, "read_accuracy": "High", "type": "string"},
                },
                "validation_result": {"validation_outcome": pass(!expired), "validation_checks": [
                    {"name": "MRZ Checksum", "description": "Check digits of the MRZ", "result": "Passed", "result_description": "All check digits valid"},
                    {"name": "Expiry Date", "description": "The document must be valid", "result": pass(!expired),
                        "result_description": if expired { "The document expired on 2025-03-31" } else { "Valid until 2030-09-30" }},
                ]},
                "face_match_result": {"is_matched": !mismatch, "score": score, "images": [
                    {"image_path": selfie_path, "image_source": "Selfie"}, {"image_path": front, "image_source": "Document"}]},
                "images": {"front_image_path": front, "back_image_path": back, "front_cropped_image_path": null, "back_cropped_image_path": null},
            }});
            let selfie = json!({
                "status": if liveness_code.is_some() || mismatch { "Refer" } else { "Complete" },
                "is_live": liveness_code.is_none(), "liveness_status_code": liveness_code,
                "image_path": selfie_path, "video_path": null,
            });
            let rule = |name: &str, ok: bool, description: &str, detail: Option<&str>| {
                json!({"name": name, "result": pass(ok), "description": description, "information": null, "tips": null,
                    "details": detail.map(|d| vec![json!({"title": name, "result": pass(ok), "result_description": d,
                        "reference_object": {"object_key": "document", "instance_key": "2"}})]).unwrap_or_default()})
            };
            let rule_results = json!({
                "document_validation": rule("Document Validation", true, "The document passed the authenticity checks", None),
                "expired_document": rule("Expired Document", !expired, "The document must not be expired", expired.then_some("Expired on 2025-03-31")),
                "same_subject": rule("Same Subject", !mismatch, "The selfie and the document show the same person", mismatch.then_some("Face match score below threshold")),
                "no_aml_records": rule("No AML Records", !aml, "The applicant must not match sanctions or PEP lists", aml.then_some("Matches found on screening lists")),
                "under_age": rule("Under Age", true, "The applicant must be 18 or older", None),
            });
            let matches: Vec<Value> = if aml {
                (0..rng.random_range(1..=2))
                    .map(|k| json!({"score": rng.random_range(60..97), "name": if k == 0 { name.to_string() } else { format!("{name} Al-Sayed") },
                        "countries": [&code[..2]], "datesOfBirth": ["1971-04-02"], "notes": "Listed 2019",
                        "datasets": [DATASETS[k % 3]],
                        "aliases": [], "addresses": [], "sex": "Unknown"}))
                    .collect()
            } else {
                vec![]
            };
            let decision = if referred { "Refer" } else { "Complete" };
            let journey = json!({
                "journey_id": id, "customer_id": "kycdesk-emulator", "journey_definintion_id": "flow-1", "flow_id": "flow-1",
                "reference_number": format!("REF-{:05}", 20_000 + i), "start_time": iso(start), "end_time": iso(start + Duration::minutes(4)),
                "system_decision": decision, "manual_decision": null, "final_decision": decision, "model_version": "3.0",
                "environment_name": "sandbox",
                "documents": documents, "selfie": selfie, "rule_results": rule_results,
                "applicant": {"applicant_id": hex(&mut rng, 16), "profile_image_path": selfie_path, "full_name": name,
                    "personal_number": format!("784-{}", hex(&mut rng, 6)), "birth_date": day(applicant_birth)},
                "aml": {"applicability": "Applicable", "matches": matches}, "screening_checks": {},
            });
            if i % 5 == 0 {
                let live = liveness_code.is_none();
                emu.spot_checks.insert(id.clone(), json!({
                    "journey_id": id, "tenant_id": "kycdesk-emulator", "environment_name": "sandbox",
                    "start_time": iso(start + Duration::days(1)), "end_time": null, "system_decision": null,
                    "reference_number": null, "model_version": null,
                    "selfie": {"status": if live { "Complete" } else { "Refer" }, "is_live": live,
                        "liveness_status_code": liveness_code, "image_path": selfie_path, "video_path": null},
                    "applicant": {"full_name": name},
                    "rule_results": {"selfie_liveness": rule("Selfie Liveness", live, "The selfie must be of a live person", None)},
                    "spot_checks": {"applicant_selfie_face_match": {"is_matched": !mismatch, "score": score,
                        "images": [{"image_path": selfie_path, "image_source": "Selfie"}, {"image_path": selfie_path, "image_source": "Applicant"}]}},
                }));
            }
            emu.journeys.insert(id, journey);
        }
        emu
    }

    /// Journey ids with their system decision (for tests; IDWise itself lists nothing).
    pub fn journey_ids(&self) -> Vec<(String, String)> {
        self.journeys
            .iter()
            .map(|(id, j)| (id.clone(), j["system_decision"].as_str().unwrap_or("").to_string()))
            .collect()
    }

    fn event(&mut self, event: &str, body: Value) -> Webhook {
        let mut body = body;
        body["eventId"] = json!(format!("idw-evt-{:06}", self.next_event));
        self.next_event += 1;
        Webhook {
            provider: "idwise",
            headers: vec![],
            body: json!({"event": event, "body": body}).to_string().into_bytes(),
        }
    }

    fn journey_event(&mut self, event: &str, id: &str) -> Option<Webhook> {
        let j = self.journeys.get(id)?.clone();
        Some(self.event(
            event,
            json!({"journeyId": id, "referenceNo": j["reference_number"], "systemDecision": j["system_decision"],
                "manualDecision": j["manual_decision"], "finalDecision": j["final_decision"]}),
        ))
    }

    /// `Finished Journey` for every referred journey; the first one twice, with the same
    /// `eventId`, as IDWise's retries do.
    pub fn seed_webhooks(&self, out: &mut Vec<Webhook>) {
        let mut copy = Self { journeys: self.journeys.clone(), ..Self::empty() };
        let referred: Vec<String> =
            self.journeys.iter().filter(|(_, j)| j["system_decision"] == "Refer").map(|(id, _)| id.clone()).collect();
        for (n, id) in referred.iter().enumerate() {
            if let Some(w) = copy.journey_event("Finished Journey", id) {
                if n == 0 {
                    out.push(w.clone());
                }
                out.push(w);
            }
        }
    }

    fn empty() -> Self {
        Self {
            journeys: BTreeMap::new(),
            spot_checks: BTreeMap::new(),
            images: BTreeMap::new(),
            summary_last: HashMap::new(),
            next_event: 1_000_000,
        }
    }

    fn authenticate(headers: &HeaderMap) -> Result<(), Answer> {
        let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Err(err(401, "missing_authorization_header", "The Authorization header is missing"));
        };
        let decoded = value
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let Some((key, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(err(401, "invalid_authentication_format", "Use HTTP Basic with API key and secret"));
        };
        if key == API_KEY && secret == API_SECRET {
            Ok(())
        } else {
            Err(err(401, "invalid_credentials", "The API key or secret is not valid"))
        }
    }

    fn summary(&self, j: &Value) -> Value {
        let doc_passed = j["documents"]["2"]["has_passed_rules"].as_bool().unwrap_or(true);
        let selfie_passed = j["selfie"]["status"] == "Complete";
        let step = |id: &str, kind: &str, title: &str, passed: bool| {
            json!({"definition": {"step_id": id, "step_type": kind, "step_title": title},
                "result": {"has_passed_rules": passed, "is_concluded": true, "status": "Submitted",
                    "error_user_feedback_code": null, "error_user_feedback_title": null, "error_user_feedback_details": null}})
        };
        let rules: BTreeMap<String, Value> = j["rule_results"]
            .as_object()
            .map(|o| o.iter().map(|(k, r)| (k.clone(), json!({"name": r["name"], "result": r["result"]}))).collect())
            .unwrap_or_default();
        json!({"journey_id": j["journey_id"], "is_completed": j["system_decision"] != "Incomplete",
            "step_summaries": [step("2", "Document", "Identity Document", doc_passed), step("3", "Selfie", "Selfie", selfie_passed)],
            "result": {"interim_rule_assessment": if doc_passed && selfie_passed { "Passed" } else { "Failed" }, "interim_rule_details": rules}})
    }

    pub fn handle(&mut self, method: &str, segments: &[&str], headers: &HeaderMap, body: &[u8]) -> Handled {
        if let Err(answer) = Self::authenticate(headers) {
            return Handled::Answer(answer);
        }
        // Both path forms are served: `journey/v2/…` (documented) and `v2/…`.
        let segments = match segments {
            ["journey", rest @ ..] => rest,
            other => other,
        };
        let missing = || err(assumptions::NOT_FOUND_STATUS, "missing_requested_resource", "No such journey");
        match (method, segments) {
            ("GET", ["v2", "get", id]) => {
                Handled::Answer(self.journeys.get(*id).map(|j| Answer::json(200, j.clone())).unwrap_or_else(missing))
            }
            ("GET", ["v2", "summary", id]) => {
                let Some(j) = self.journeys.get(*id) else { return Handled::Answer(missing()) };
                let now = Instant::now();
                let too_soon = self.summary_last.get(*id).is_some_and(|last| {
                    now.duration_since(*last).as_millis() < u128::from(assumptions::SUMMARY_MIN_INTERVAL_MS)
                });
                if too_soon {
                    return Handled::Answer(err(
                        assumptions::THROTTLE_STATUS,
                        assumptions::THROTTLE_CODE,
                        "Call the summary no more than every 2 seconds",
                    ));
                }
                let summary = self.summary(j);
                self.summary_last.insert(id.to_string(), now);
                Handled::Answer(Answer::json(200, summary))
            }
            ("GET", ["v2", "spot-checks", id]) => Handled::Answer(
                self.spot_checks
                    .get(*id)
                    .map(|s| Answer::json(200, s.clone()))
                    .unwrap_or_else(|| err(404, "missing_requested_resource", "No spot check for this journey")),
            ),
            ("GET", ["image", path]) => match self.images.get(*path) {
                Some((seed, kind)) => Handled::Image { seed: *seed, kind: *kind, wrap: ImageWrap::Binary },
                None => Handled::Answer(err(404, "missing_requested_resource", "No such image")),
            },
            ("POST", ["v2", "manual-review", id]) => {
                // Posted as JSON, and saying so (documented).
                let typed = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| {
                    t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(assumptions::JSON_CONTENT_TYPE))
                });
                if !typed {
                    let answer = err(400, assumptions::INVALID_REQUEST_CODE, "Content-Type must be application/json");
                    return Handled::Decision(answer, vec![]);
                }
                let answer = self.manual_review(id, body);
                let webhooks =
                    match (answer.status, self.journeys.get(*id).map(|j| j["system_decision"] == "Incomplete")) {
                        (200, Some(true)) => {
                            let steps: Vec<Value> = serde_json::from_slice::<Value>(body)
                                .ok()
                                .and_then(|b| b["step_reviews"].as_array().cloned())
                                .unwrap_or_default()
                                .into_iter()
                                .filter(|s| s["review_decision"] == "Resubmit")
                                .map(|s| json!({"stepId": s["step_id"], "reasonCode": "RESUBMIT"}))
                                .collect();
                            vec![self.event(
                                "Verification Update Required",
                                json!({"journeyId": id, "trigger": "Manual Review", "requiredSteps": steps}),
                            )]
                        }
                        (200, _) => self.journey_event("Manually Reviewed", id).into_iter().collect(),
                        _ => vec![],
                    };
                Handled::Decision(answer, webhooks)
            }
            _ => Handled::Answer(err(404, "missing_requested_resource", "Unknown endpoint")),
        }
    }

    fn manual_review(&mut self, id: &str, body: &[u8]) -> Answer {
        let bad = |message: &str| err(400, assumptions::INVALID_REQUEST_CODE, message);
        let Some(journey) = self.journeys.get(id) else {
            return err(404, "missing_requested_resource", "No such journey");
        };
        let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
            return bad("The body must be a JSON object");
        };
        let decision = match req.get("new_decision").and_then(Value::as_str) {
            Some(d @ ("Approved" | "Rejected" | "Resubmission Requested")) => d.to_string(),
            _ => return bad("new_decision must be Approved, Rejected or Resubmission Requested"),
        };
        if req.get("comment").is_some_and(|c| !c.is_string()) {
            return bad("comment must be a string");
        }
        if journey["system_decision"] == "Incomplete" {
            return bad("The journey is not complete");
        }
        let summary = self.summary(journey);
        let failed: Vec<String> = summary["step_summaries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["result"]["has_passed_rules"] == false)
                    .filter_map(|s| s["definition"]["step_id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut resubmit = vec![];
        if decision == "Resubmission Requested" {
            let Some(reviews) = req.get("step_reviews").and_then(Value::as_array) else {
                return bad("step_reviews is required for Resubmission Requested");
            };
            let mut reviewed = vec![];
            for r in reviews {
                let (Some(step), Some(d)) = (r["step_id"].as_str(), r["review_decision"].as_str()) else {
                    return bad("each step review needs step_id and review_decision");
                };
                if !matches!(d, "Resubmit" | "Approve") {
                    return bad("review_decision must be Resubmit or Approve");
                }
                let known = summary["step_summaries"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|s| s["definition"]["step_id"] == step));
                if !known {
                    return bad("step_reviews names a step this journey does not have");
                }
                reviewed.push(step.to_string());
                if d == "Resubmit" {
                    resubmit.push(step.to_string());
                }
            }
            if let Some(missing) = failed.iter().find(|f| !reviewed.contains(f)) {
                return bad(&format!("step {missing} failed and needs a review decision"));
            }
        }
        let Some(journey) = self.journeys.get_mut(id) else { return err(404, "missing_requested_resource", "gone") };
        if decision == "Resubmission Requested" {
            journey["manual_decision"] = Value::Null;
            journey["system_decision"] = json!("Incomplete");
            journey["final_decision"] = json!("Incomplete");
            for step in &resubmit {
                if let Some(doc) = journey["documents"].get_mut(step.as_str()) {
                    doc["progress"] = json!("NotStarted");
                }
                if step == "3" {
                    journey["selfie"]["status"] = json!("Not Started");
                }
            }
        } else {
            journey["manual_decision"] = json!(decision);
            journey["final_decision"] = json!(decision);
        }
        Answer::json(200, serde_json::from_str(assumptions::REVIEW_OK_BODY).unwrap_or(Value::Null))
    }
}
