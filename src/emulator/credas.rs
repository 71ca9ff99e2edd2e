//! The Credas CI API v2 from `shared/providers/credas.md`: `X-API-KEY` (403 otherwise),
//! entity, summary and active checks with integer enums, the six override PUTs and the
//! supporting-document review with their rules, the placeholder image endpoint, and
//! result-status-update webhooks (double-encoded `Payload`) behind a static header.

use super::{Answer, Handled, ImageKind, Webhook};
use crate::providers::credas::assumptions;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The emulator's credentials. Not secrets: they open nothing but this.
pub const API_KEY: &str = "kycdesk-emulator-credas-key";
pub const WEBHOOK_TOKEN: &str = "kycdesk-emulator-credas-webhooks";
const CLIENT_ID: &str = "0c1e0000-0000-4000-8000-00000000c1e0";

const FIRST: [&str; 10] = ["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Arthur", "Freya", "Leo", "Grace"];
const LAST: [&str; 10] =
    ["Whitfield", "Osei", "Hughes", "Kaur", "Fletcher", "Nowak", "Brennan", "Adeyemi", "Lloyd", "Marsh"];
const DOC_TYPES: [i64; 3] = [10, 2, 9];
const SUPPORTING: [&str; 3] = ["Utility bill", "Bank statement", "Council tax statement"];
/// The entry whose document's birth date differs from the entity's.
const BIRTH_DATE_DIFFERS_INDEX: usize = 5;

pub struct CredasEmu {
    entities: BTreeMap<String, Value>,
    summaries: BTreeMap<String, Value>,
    active_checks: BTreeMap<String, Value>,
    /// Image seeds by IDV entry.
    images: BTreeMap<String, u64>,
}

fn guid(rng: &mut StdRng) -> String {
    let h = |rng: &mut StdRng, n: usize| -> String {
        (0..n).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
    };
    format!("{}-{}-4{}-8{}-{}", h(rng, 8), h(rng, 4), h(rng, 3), h(rng, 3), h(rng, 12))
}

/// ASP.NET Core problem details, as Credas's stack would answer (assumed).
fn problem(status: u16, title: &str, field: &str, message: &str) -> Answer {
    Answer::json(status, json!({"title": title, "status": status, "errors": {field: [message]}}))
}

impl CredasEmu {
    pub fn new(seed: u64, cases: usize, at: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xC4ED45);
        let mut emu = Self {
            entities: BTreeMap::new(),
            summaries: BTreeMap::new(),
            active_checks: BTreeMap::new(),
            images: BTreeMap::new(),
        };
        let base = at - Duration::hours(3);
        for i in 0..cases + cases / 4 {
            let referred = i < cases;
            let entity = guid(&mut rng);
            let entry = guid(&mut rng);
            let document = guid(&mut rng);
            let mut first = *FIRST.choose(&mut rng).unwrap_or(&"Sam");
            let mut last = *LAST.choose(&mut rng).unwrap_or(&"Lee");
            let completed = (base - Duration::minutes(31 * i as i64)).format(assumptions::DATE_TIME_FORMAT).to_string();
            let mut birth = (1955 + (i % 45) as i32, 1 + (i % 12) as u32, 1 + (i % 28) as u32);
            // What needs a reviewer: liveness, the ID document, a supporting document; one
            // entry also has a police-record failure no override may clear.
            let pattern = if referred { if i == 3 { 3 } else { i % 3 } } else { 9 };
            let r = |needs: bool| if needs { assumptions::PENDING_MANUAL_CHECK } else { 1 };
            let liveness = r(pattern == 0 || pattern == 2);
            let document_result = r(pattern == 1 || pattern == 3);
            let supporting: Vec<Value> = if pattern == 2 {
                vec![json!({"supportingDocumentId": guid(&mut rng), "title": SUPPORTING[i % 3], "isForRtx": false,
                    "dateCompleted": completed, "overallResult": assumptions::MANUAL_REFER})]
            } else {
                vec![
                    json!({"supportingDocumentId": guid(&mut rng), "title": SUPPORTING[(i + 1) % 3], "isForRtx": false,
                    "dateCompleted": completed, "overallResult": 1}),
                ]
            };
            let police = if pattern == 3 { 2 } else { 1 };
            let overall = if referred { assumptions::PENDING_MANUAL_CHECK } else { 1 };
            let mut number = format!("{}{:07}", ["P", "D", "N"][i % 3], rng.random_range(0..10_000_000));
            // Drawn first and replaced after, so every other case stays as it was seeded.
            if i == super::SHARED_CREDAS_INDEX {
                let person = &super::SHARED_CREDAS_IDWISE;
                (first, last, birth) = (person.given, person.family, person.birth);
                number = person.document_number.map(str::to_string).unwrap_or(number);
            }
            let midnight = |(y, m, d): (i32, u32, u32)| format!("{y:04}-{m:02}-{d:02}T00:00:00");
            // One document gives a birth date a day off the entity's.
            let birth_on_document =
                if i == BIRTH_DATE_DIFFERS_INDEX { (birth.0, birth.1, birth.2 % 28 + 1) } else { birth };
            emu.entities.insert(
                entity.clone(),
                json!({"processActors": [], "id": entity, "firstName": first, "surname": last, "dateCreated": completed,
                    "emailAddress": format!("{}.{}@example.org", first.to_lowercase(), last.to_lowercase()),
                    "phoneNumber": format!("+4477009{:05}", i), "entityTags": [], "registrationCode": format!("RC{:06}", 300_000 + i),
                    "status": 2, "accountType": 1}),
            );
            emu.summaries.insert(
                entity.clone(),
                json!({"id": entity, "name": format!("{first} {last}"), "firstName": first, "surname": last,
                    "dateCreated": completed, "emailAddress": format!("{}.{}@example.org", first.to_lowercase(), last.to_lowercase()),
                    "dateOfBirth": midnight(birth),
                    "address": {"addressLine1": format!("{} Station Road", 10 + i), "addressLine2": null, "town": "Leeds",
                        "county": "West Yorkshire", "postcode": "LS1 4AP"},
                    "entityTags": [], "status": 2, "accountType": 1,
                    "identityVerifications": [{
                        "entityId": entity, "dateCompleted": completed, "processId": guid(&mut rng), "overallResult": overall,
                        "entryId": entry, "documentId": document, "documentType": DOC_TYPES[i % 3],
                        "livenessResult": liveness, "documentResult": document_result, "visualAnalysisResult": if pattern == 1 { 2 } else { 1 },
                        "nfcResult": 0, "ageValidationResult": 1, "policeRecordResult": police, "compromisedAlertResult": 1,
                        "repeatAttemptsResult": 1, "nameMatchResult": 1, "faceMatchResult": if pattern == 0 { 3 } else { 1 },
                        "documentNumber": number, "documentExpiryDate": midnight(if pattern == 1 { (2025, 6, 30) } else { (2031, 2, 28) }),
                        "documentBirthDate": midnight(birth_on_document),
                        "documentIssuingCountryCode": "GBR", "supportingDocuments": supporting}],
                    "addressMortalityChecks": []}),
            );
            emu.active_checks.insert(
                entity.clone(),
                json!([{"entityId": entity, "type": 1, "name": "Identity verification", "status": if referred { 6 } else { 1 },
                    "lastCheckedDate": completed, "requestedDate": completed, "idvEntryId": entry, "isOnGoingMonitoring": false,
                    "isManuallyChecked": false, "submittedBy": null, "requestedBy": null, "rtxCheckId": null,
                    "canReview": referred, "legislation": null}]),
            );
            emu.images.insert(entry, rng.random());
        }
        emu
    }

    fn webhook(update_type: i64, entity: &str, entry: &str, result: i64) -> Webhook {
        let payload = json!({assumptions::PAYLOAD_ENTITY: entity, "ClientId": CLIENT_ID, assumptions::PAYLOAD_ENTRY: entry, "Result": result});
        let body = json!({"UpdateType": update_type, "Payload": payload.to_string()});
        Webhook {
            provider: "credas",
            headers: vec![(assumptions::EMULATOR_WEBHOOK_HEADER.into(), WEBHOOK_TOKEN.into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// A result-status update for every entity with an entry awaiting review.
    pub fn seed_webhooks(&self, out: &mut Vec<Webhook>) {
        for (entity, summary) in &self.summaries {
            for entry in summary["identityVerifications"].as_array().into_iter().flatten() {
                if entry["overallResult"] == assumptions::PENDING_MANUAL_CHECK {
                    let id = entry["entryId"].as_str().unwrap_or_default();
                    out.push(Self::webhook(
                        assumptions::UPDATE_ID_DOCUMENT,
                        entity,
                        id,
                        assumptions::PENDING_MANUAL_CHECK,
                    ));
                }
            }
        }
    }

    /// Entity ids (for tests; Credas itself lists nothing).
    pub fn entity_ids(&self) -> Vec<String> {
        self.entities.keys().cloned().collect()
    }

    pub fn handle(&mut self, method: &str, segments: &[&str], headers: &HeaderMap, body: &[u8]) -> Handled {
        // Header names are case-insensitive; only X-API-KEY is looked at.
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
            return Handled::Answer(Answer::empty(403));
        }
        // Undocumented for Credas: lenient unless the assumption says otherwise.
        let typed = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
        if assumptions::JSON_CONTENT_TYPE_REQUIRED && method == "PUT" && !typed {
            return Handled::Decision(problem(415, "Unsupported Media Type", "body", "Send application/json"), vec![]);
        }
        let not_found = || problem(404, "Not Found", "id", "No such entity");
        match (method, segments) {
            ("GET", ["entities", id]) => {
                Handled::Answer(self.entities.get(*id).map(|e| Answer::json(200, e.clone())).unwrap_or_else(not_found))
            }
            ("GET", ["entities", id, "summary"]) => {
                Handled::Answer(self.summaries.get(*id).map(|s| Answer::json(200, s.clone())).unwrap_or_else(not_found))
            }
            ("GET", ["entities", id, "active-checks"]) => Handled::Answer(
                self.active_checks.get(*id).map(|s| Answer::json(200, s.clone())).unwrap_or_else(not_found),
            ),
            ("GET", ["entities", id, "idv-entries", entry, "images"]) => {
                match (self.summaries.contains_key(*id), self.images.get(*entry)) {
                    (true, Some(seed)) => Handled::ImageSet {
                        items: vec![
                            (assumptions::IMAGE_SELFIE, *seed, ImageKind::Selfie),
                            (assumptions::IMAGE_FRONT, seed.wrapping_add(1), ImageKind::DocumentFront),
                            (assumptions::IMAGE_BACK, seed.wrapping_add(2), ImageKind::DocumentBack),
                        ],
                    },
                    _ => Handled::Answer(not_found()),
                }
            }
            ("PUT", ["entities", id, "idv-entries", entry, action]) if action.ends_with("-liveness") => {
                let verb = action.trim_end_matches("-liveness");
                let answer = self.override_element(id, entry, "livenessResult", verb, body);
                self.decided(answer, assumptions::UPDATE_LIVENESS, id, entry)
            }
            ("PUT", ["entities", id, "idv-entries", entry, "id-document", doc, verb]) => {
                let known = self.entry_value(id, entry).is_some_and(|e| e["documentId"] == *doc);
                if !known {
                    return Handled::Decision(problem(404, "Not Found", "idDocumentId", "No such ID document"), vec![]);
                }
                let answer = self.override_element(id, entry, "documentResult", verb, body);
                self.decided(answer, assumptions::UPDATE_ID_DOCUMENT, id, entry)
            }
            ("PUT", ["entities", id, "idv-entries", entry, segment, "review"])
                if *segment == assumptions::SUPPORTING_REVIEW_SEGMENT =>
            {
                let answer = self.review_supporting(id, entry, body);
                self.decided(answer, assumptions::UPDATE_NON_BIOMETRIC, id, entry)
            }
            _ => Handled::Answer(problem(404, "Not Found", "path", "Unknown endpoint")),
        }
    }

    fn decided(&self, answer: Answer, update_type: i64, entity: &str, entry: &str) -> Handled {
        let webhooks = if answer.status == 200 {
            let overall = self.entry_value(entity, entry).and_then(|e| e["overallResult"].as_i64()).unwrap_or(0);
            vec![Self::webhook(update_type, entity, entry, overall)]
        } else {
            vec![]
        };
        Handled::Decision(answer, webhooks)
    }

    fn entry_value(&self, entity: &str, entry: &str) -> Option<&Value> {
        self.summaries.get(entity)?["identityVerifications"].as_array()?.iter().find(|e| e["entryId"] == entry)
    }

    fn entry_mut(&mut self, entity: &str, entry: &str) -> Option<&mut Value> {
        self.summaries.get_mut(entity)?["identityVerifications"]
            .as_array_mut()?
            .iter_mut()
            .find(|e| e["entryId"] == entry)
    }

    fn recompute_overall(entry: &mut Value) {
        let mut results: Vec<i64> =
            ["livenessResult", "documentResult"].iter().filter_map(|k| entry[*k].as_i64()).collect();
        results.extend(
            entry["supportingDocuments"].as_array().into_iter().flatten().filter_map(|s| s["overallResult"].as_i64()),
        );
        entry["overallResult"] = json!(assumptions::overall(&results));
    }

    /// `{"reason": "..."}` or a bare JSON string; blank is refused.
    fn reason(body: &[u8]) -> Option<String> {
        match serde_json::from_slice::<Value>(body).ok()? {
            Value::String(s) => Some(s),
            Value::Object(o) => o
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(assumptions::REASON_FIELD))
                .and_then(|(_, v)| v.as_str().map(str::to_string)),
            _ => None,
        }
        .filter(|r| !r.trim().is_empty())
    }

    fn override_element(&mut self, entity: &str, entry: &str, field: &str, verb: &str, body: &[u8]) -> Answer {
        let result = match verb {
            "verify" => assumptions::MANUAL_PASS,
            "reject" => assumptions::MANUAL_FAIL,
            "refer" => assumptions::MANUAL_REFER,
            _ => return problem(404, "Not Found", "path", "Unknown endpoint"),
        };
        let Some(value) = self.entry_value(entity, entry) else {
            return problem(404, "Not Found", "entryId", "No such IDV entry");
        };
        if Self::reason(body).is_none() {
            return problem(400, "One or more validation errors occurred.", "reason", "The reason field is required.");
        }
        if let Some(blocker) = assumptions::NON_OVERRIDABLE.iter().find(|k| value[**k] == 2) {
            return problem(400, "Result cannot be overridden", blocker, "This failure cannot be overridden.");
        }
        let Some(entry_value) = self.entry_mut(entity, entry) else {
            return problem(404, "Not Found", "entryId", "No such IDV entry");
        };
        entry_value[field] = json!(result);
        Self::recompute_overall(entry_value);
        Answer::empty(200)
    }

    fn review_supporting(&mut self, entity: &str, entry: &str, body: &[u8]) -> Answer {
        let Some(value) = self.entry_value(entity, entry) else {
            return problem(404, "Not Found", "entryId", "No such IDV entry");
        };
        let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
            return problem(400, "One or more validation errors occurred.", "body", "The body must be an array.");
        };
        // Property names bind case-insensitively, as ASP.NET does.
        let get = |item: &Value, name: &str| -> Option<Value> {
            item.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        };
        let known: Vec<String> = value["supportingDocuments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["supportingDocumentId"].as_str().map(str::to_string))
            .collect();
        let mut changes = vec![];
        for item in &items {
            let id = get(item, "id").and_then(|v| v.as_str().map(str::to_string));
            let result = get(item, "result").and_then(|v| v.as_i64());
            match (id, result) {
                (Some(id), Some(r)) if known.contains(&id) && (0..=7).contains(&r) => changes.push((id, r)),
                (Some(id), Some(_)) if !known.contains(&id) => {
                    return problem(
                        400,
                        "One or more validation errors occurred.",
                        "id",
                        "Unknown supporting document.",
                    );
                }
                _ => {
                    return problem(400, "One or more validation errors occurred.", "result", "result must be 0 to 7.");
                }
            }
        }
        let Some(entry_value) = self.entry_mut(entity, entry) else {
            return problem(404, "Not Found", "entryId", "No such IDV entry");
        };
        for (id, r) in changes {
            for s in entry_value["supportingDocuments"].as_array_mut().into_iter().flatten() {
                if s["supportingDocumentId"] == id {
                    s["overallResult"] = json!(r);
                }
            }
        }
        Self::recompute_overall(entry_value);
        Answer::empty(200)
    }
}
