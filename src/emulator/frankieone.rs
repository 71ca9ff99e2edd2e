//! The FrankieOne v2 API, from `shared/providers/frankieone.md` and the official OpenAPI
//! files: header auth with the documented error bodies, the needs-review search with
//! nested `matches`, individuals, service profiles, executions, process results, documents
//! with base64 attachments at `level=base64`, the execution override and the AML/IDV
//! result resolutions. Every exchange is kept for spec validation in the tests.

use super::{Answer, Handled, ImageKind};
use crate::providers::frankieone::assumptions;
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The emulator's credentials. Not secrets: they open nothing but this.
pub const API_KEY: &str = "kycdesk-emulator-frankieone-key";
pub const CUSTOMER_ID: &str = "0f1e0000-0000-4000-8000-0000000f1e00";
const SERVICE: &str = "KYC";
const WORKFLOW: &str = "onboarding-standard";
const AML_STATUSES: [&str; 7] = [
    "TRUE_POSITIVE",
    "FALSE_POSITIVE",
    "TRUE_POSITIVE_ACCEPT",
    "TRUE_POSITIVE_REJECT",
    "UNKNOWN",
    "UNKNOWN_ACCEPT",
    "UNKNOWN_REJECT",
];
const IDV_STATUSES: [&str; 2] = ["CLEAR", "REJECTED"];
const EXECUTION_STATUSES: [&str; 14] = [
    "UNCHECKED",
    "IN_PROGRESS",
    "REVIEW",
    "PASS",
    "FAIL",
    "COMPLETE",
    "INCOMPLETE",
    "NEEDS_APPROVAL",
    "APPROVED",
    "REJECTED",
    "BLOCKED",
    "CLEAR",
    "URGENT",
    "MONITOR",
];

const HIT_COUNTRIES: [&str; 3] = ["AUS", "NZL", "GBR"];
const GIVEN: [&str; 10] =
    ["Charlotte", "Jack", "Olivia", "William", "Mia", "Thomas", "Isabella", "Lucas", "Ruby", "Henry"];
const FAMILY: [&str; 10] =
    ["Nguyen", "Smith", "Papadopoulos", "Kelly", "Singh", "O'Brien", "Rossi", "Wong", "Murphy", "Ali"];

pub struct FrankieOneEmu {
    individuals: BTreeMap<String, Value>,
    /// The one service profile of each individual.
    profiles: BTreeMap<String, Value>,
    /// Workflow results by entity.
    executions: BTreeMap<String, Value>,
    results: BTreeMap<String, Vec<Value>>,
    documents: BTreeMap<String, Value>,
    /// Image seeds by attachment id.
    images: BTreeMap<String, (u64, ImageKind)>,
    next_request: u64,
}

fn uuid(rng: &mut StdRng) -> String {
    let h = |rng: &mut StdRng, n: usize| -> String {
        (0..n).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
    };
    format!("{}-{}-4{}-a{}-{}", h(rng, 8), h(rng, 4), h(rng, 3), h(rng, 3), h(rng, 12))
}

fn ulid(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut s = String::from("01K");
    for _ in 0..23 {
        s.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    s
}

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn error(status: u16, code: &str, message: &str, issue: &str, location: &str) -> Answer {
    Answer::json(
        status,
        json!({"errorCode": code, "errorMsg": message, "details": [{"issue": issue, "issueLocation": location}],
            "requestId": "01KEMULATOR0000000000000000"}),
    )
}

/// A `Date`: its parts and the normalized form.
fn date(y: i32, m: u32, d: u32) -> Value {
    json!({"year": y.to_string(), "month": format!("{m:02}"), "day": format!("{d:02}"), "normalized": format!("{y}-{m:02}-{d:02}")})
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12].iter().zip(&parts).all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl FrankieOneEmu {
    pub fn new(seed: u64, cases: usize, at: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xF1);
        let mut emu = Self {
            individuals: BTreeMap::new(),
            profiles: BTreeMap::new(),
            executions: BTreeMap::new(),
            results: BTreeMap::new(),
            documents: BTreeMap::new(),
            images: BTreeMap::new(),
            next_request: 1,
        };
        let base = at - Duration::hours(1);
        for i in 0..cases + cases / 4 {
            let referred = i < cases;
            let entity = uuid(&mut rng);
            let given = *GIVEN.choose(&mut rng).unwrap_or(&"Sam");
            let family = *FAMILY.choose(&mut rng).unwrap_or(&"Lee");
            let created = base - Duration::minutes(29 * i as i64);
            let (y, m, d) = (1960 + (i % 40) as i32, 1 + (i % 12) as u32, 1 + (i % 27) as u32);
            let individual = json!({
                "entityId": entity, "entityType": "INDIVIDUAL", "createdAt": iso(created), "schemaVersion": 2,
                "name": {"givenName": given, "familyName": family, "displayName": format!("{given} {family}")},
                "dateOfBirth": {"year": y.to_string(), "month": format!("{m:02}"), "day": format!("{d:02}"), "normalized": format!("{y}-{m:02}-{d:02}")},
                "nationality": "AUS",
                "emailAddresses": [{"type": "PERSONAL", "email": format!("{}.{}@example.com.au", given.to_lowercase(), family.to_lowercase().replace('\'', ""))}],
            });
            // Documents: a passport (front) and a selfie.
            let passport = uuid(&mut rng);
            let selfie = uuid(&mut rng);
            let front = uuid(&mut rng);
            let face = uuid(&mut rng);
            emu.images.insert(front.clone(), (rng.random(), ImageKind::DocumentFront));
            emu.images.insert(face.clone(), (rng.random(), ImageKind::Selfie));
            let attachment = |id: &str, side: &str, name: &str| {
                json!({"attachmentId": id, "filename": name, "mimeType": "image/jpeg", "side": side, "type": "PHOTO",
                    "retrievalStatus": "EXCLUDED", "createdAt": iso(created)})
            };
            emu.documents.insert(entity.clone(), json!({
                "IDENTITY": [{"documentId": passport, "entityId": entity, "type": "PASSPORT", "class": "IDENTITY", "country": "AUS",
                    "primaryIdentifier": format!("PA{:07}", rng.random_range(0..10_000_000)), "issueDate": date(2019, 5, 1),
                    "expiryDate": match i % 4 {
                        3 => date(2025, 5, 1),
                        // Runs out within 30 days of the emulator's today.
                        1 => {
                            let (y, m, d) = super::days_after(at, 20);
                            date(y, m, d)
                        }
                        _ => date(2029, 5, 1),
                    },
                    "attachments": [attachment(&front, "FRONT", "passport.jpg")], "createdAt": iso(created)}],
                "OTHER": [{"documentId": selfie, "entityId": entity, "type": assumptions::SELFIE_DOCUMENT_TYPE, "class": "OTHER", "country": "AUS",
                    "attachments": [attachment(&face, "FRONT", "selfie.jpg")], "createdAt": iso(created)}],
            }));
            let execution = ulid(&mut rng);
            let request = ulid(&mut rng);
            // What went wrong: AML hits, failed liveness, a face mismatch, an expired document.
            let mut pros = vec![];
            let mut issues = vec![];
            let pro_base = |rng: &mut StdRng, step: &str, class: &str, result: &str, sd: Value| {
                json!({"processResultId": ulid(rng), "schemaVersion": 2, "entityId": entity, "requestId": request,
                    "stepName": step, "stepType": step, "objectType": "INDIVIDUAL", "objectId": entity,
                    "createdAt": iso(created), "updatedAt": iso(created), "class": class, "result": result,
                    "systemStatus": "VALID", "state": "COMPLETED", "supplementaryData": sd})
            };
            if referred && (i % 4 == 0 || i % 4 == 3) {
                for h in 0..=(i % 2) {
                    let namesake = if h == 0 { format!("{given} {family}") } else { format!("{given} A. {family}") };
                    let sd = json!({"type": "AML", "serviceProvider": "emulated-screening", "searchId": format!("S-{i}-{h}"),
                        "matchData": {"name": namesake, "spReferenceId": format!("SP-{i}-{h}"), "strength": 60 + rng.random_range(0..39),
                            "date": format!("{}", y + h as i32), "countries": [{"code": HIT_COUNTRIES[h % 3]}]},
                        "pepData": if h == 0 { json!([{"countryCode": "AUS", "sourceName": "Emulated PEP list", "position": "Local councillor", "level": "2"}]) } else { json!([]) },
                        "sanctionData": if h == 1 { json!([{"countryCode": "AUS", "sourceName": "Emulated sanctions list", "sourceReason": "Asset freeze"}]) } else { json!([]) },
                        "mediaData": []});
                    pros.push(pro_base(&mut rng, "AML", "AML", "HIT", sd));
                }
                issues.push(json!({"category": "AML", "issue": if i % 2 == 0 { "PEP" } else { "SANCTION" }, "severity": "REVIEW", "isCleared": false, "workflowExecutionId": execution}));
            }
            let liveness_fail = referred && i % 4 == 1;
            let face_fail = referred && i % 4 == 2;
            let liveness = json!({"type": "IDV_FACIAL_LIVENESS", "outcomeRaw": if liveness_fail { "spoof_suspected" } else { "live" },
                "resultMap": {"liveness": {"originalName": "liveness", "confidence": if liveness_fail { 0.21 } else { 0.97 },
                    "confidenceThreshold": 0.8, "resultNormalized": if liveness_fail { "FAIL" } else { "PASS" },
                    "description": if liveness_fail { "Screen replay suspected" } else { "Live person" }}},
                "requiredElements": ["liveness"], "comparedSelfieId": selfie, "comparedSelfieAttachmentId": face});
            pros.push(pro_base(&mut rng, "IDV", "IDV", if liveness_fail { "FAIL" } else { "CLEAR" }, liveness));
            let comparison = json!({"type": "IDV_FACIAL_COMPARISON", "outcomeRaw": if face_fail { "mismatch" } else { "match" },
                "resultMap": {"face": {"originalName": "face", "confidence": if face_fail { 38.0 } else { 92.0 }, "confidenceThreshold": 70.0,
                    "resultNormalized": if face_fail { "FAIL" } else { "PASS" }, "description": "Selfie against the passport portrait"}},
                "requiredElements": ["face"], "comparedDocumentId": passport, "comparedDocumentAttachmentId": front,
                "comparedSelfieId": selfie, "comparedSelfieAttachmentId": face});
            pros.push(pro_base(&mut rng, "IDV", "IDV", if face_fail { "FAIL" } else { "CLEAR" }, comparison));
            if liveness_fail {
                issues.push(json!({"category": "BIOMETRICS", "issue": "LIVENESS_DETECTION", "severity": "REVIEW", "isCleared": false, "workflowExecutionId": execution}));
            }
            if face_fail {
                issues.push(json!({"category": "BIOMETRICS", "issue": "DOCUMENT_COMPARISON", "severity": "REVIEW", "isCleared": false, "workflowExecutionId": execution}));
            }
            if referred && i % 4 == 3 {
                issues.push(json!({"category": "EXPIRY", "issue": "BAD_DATA_DOCUMENT", "severity": "WARNING", "isCleared": false, "workflowExecutionId": execution}));
            }
            let status = if referred { "REVIEW" } else { "PASS" };
            let step_results = vec![
                json!({"stepResultId": ulid(&mut rng), "workflowExecutionId": execution, "stepName": "AML",
                    "result": if pros.iter().any(|p| p["class"] == "AML") { "HIT" } else { "CLEAR" }, "startedAt": iso(created), "endedAt": iso(created)}),
                json!({"stepResultId": ulid(&mut rng), "workflowExecutionId": execution, "stepName": "IDV",
                    "result": if liveness_fail || face_fail { "FAIL" } else { "PASS" }, "startedAt": iso(created), "endedAt": iso(created)}),
            ];
            let summary = json!({"schemaVersion": 2, "workflowName": WORKFLOW, "workflowExecutionId": execution,
                "workflowExecutionState": "COMPLETED", "status": status, "isManual": false,
                "steps": {"order": ["AML", "IDV"], "passed": [], "failed": [], "incomplete": [], "notApplicable": []},
                "startedAt": iso(created), "endedAt": iso(created + Duration::seconds(40)), "issues": issues, "lifecyclePhase": "ONBOARDING"});
            let profile_id = uuid(&mut rng);
            emu.profiles.insert(entity.clone(), json!({"serviceProfileId": profile_id, "latestWorkflowExecutionId": execution,
                "entityId": entity, "entityName": format!("{given} {family}"), "entityType": "INDIVIDUAL", "schemaVersion": 2,
                "createdAt": iso(created), "serviceName": SERVICE, "currentWorkflowName": WORKFLOW, "state": "ACTIVE",
                "workflowSummaries": [summary.clone()]}));
            let mut result = summary;
            if let Some(o) = result.as_object_mut() {
                o.extend([
                    ("workflowId".into(), json!("wf-onboarding-standard")),
                    ("requestId".into(), json!(request)),
                    ("entityId".into(), json!(entity)),
                    ("entityType".into(), json!("INDIVIDUAL")),
                    ("serviceProfileId".into(), json!(profile_id)),
                    ("result".into(), json!(status)),
                    ("workflowExecutionType".into(), json!("EXECUTE")),
                    ("workflowStepResults".into(), json!(step_results)),
                    ("createdAt".into(), json!(iso(created))),
                ]);
            }
            emu.executions.insert(entity.clone(), result);
            emu.results.insert(entity.clone(), pros);
            emu.individuals.insert(entity, individual);
        }
        emu
    }

    pub fn entity_ids(&self) -> Vec<String> {
        self.individuals.keys().cloned().collect()
    }

    fn request_id(&mut self) -> String {
        self.next_request += 1;
        format!("01KREQ{:020}", self.next_request)
    }

    fn authenticate(headers: &HeaderMap) -> Result<(), Answer> {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        match h("api_key") {
            None => Err(error(401, "AUTH-0401", "Unauthorized", "No api key provided. Access denied.", "request")),
            Some(API_KEY) if h("x-frankie-customerid") == Some(CUSTOMER_ID) => Ok(()),
            Some(_) => Err(error(
                401,
                "AUTH-0002",
                "Unauthorized",
                "Invalid Authentication provided. Access denied.",
                "request",
            )),
        }
    }

    pub fn handle(
        &mut self,
        method: &str,
        segments: &[&str],
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Handled {
        if let Err(a) = Self::authenticate(headers) {
            return Handled::Answer(a);
        }
        if let ["v2", "individuals", entity, ..] = segments
            && !is_uuid(entity)
        {
            return Handled::Answer(error(
                400,
                "API-0400",
                "Multiple Errors: See Issues list",
                &format!("entityId in path must be of type uuid: \"{entity}\""),
                "VALIDATE-entityId",
            ));
        }
        // Request bodies are JSON and say so (the spec's only request content type).
        let typed = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| {
            t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(assumptions::JSON_CONTENT_TYPE))
        });
        if !body.is_empty() && !typed {
            let answer = error(
                400,
                "API-0400",
                "Multiple Errors: See Issues list",
                "Content-Type must be application/json",
                "header.Content-Type",
            );
            return if method == "PATCH" { Handled::Decision(answer, vec![]) } else { Handled::Answer(answer) };
        }
        let level = query.iter().find(|(k, _)| k == "level").map(|(_, v)| v.as_str()).unwrap_or("meta");
        let not_found =
            || error(404, "ENT-1010", "Unable to retrieve requested entity", "entity not found", "entityId");
        let request_id = self.request_id();
        match (method, segments) {
            ("POST", ["v2", "search", "serviceprofiles"]) => Handled::Answer(self.search(query, body, &request_id)),
            ("GET", ["v2", "individuals", e]) => Handled::Answer(match self.individuals.get(*e) {
                Some(i) => Answer::json(
                    200,
                    json!({"individual": i, "serviceProfiles": [self.profiles.get(*e)], "requestId": request_id}),
                ),
                None => not_found(),
            }),
            ("GET", ["v2", "individuals", e, "serviceprofiles", service]) => {
                Handled::Answer(match self.profiles.get(*e) {
                    Some(p) if *service == SERVICE => {
                        Answer::json(200, json!({"serviceProfile": p, "requestId": request_id}))
                    }
                    _ => not_found(),
                })
            }
            ("GET", ["v2", "individuals", e, "serviceprofiles", _, "workflows", _, "executions", x]) => {
                Handled::Answer(match (self.executions.get(*e), self.individuals.get(*e)) {
                    (Some(r), Some(i)) if r["workflowExecutionId"] == *x => {
                        Answer::json(200, json!({"requestId": request_id, "workflowResult": r, "individual": i}))
                    }
                    _ => not_found(),
                })
            }
            ("PATCH", ["v2", "individuals", e, "serviceprofiles", _, "workflows", _, "executions", x]) => {
                Handled::Decision(self.override_execution(e, x, headers, body, &request_id), vec![])
            }
            ("GET", ["v2", "individuals", e, "results"]) => Handled::Answer(match self.results.get(*e) {
                Some(r) => Answer::json(
                    200,
                    json!({"meta": {"page": 1, "total": r.len(), "limit": 100, "count": r.len()},
                    "requestId": request_id, "processResults": r}),
                ),
                None => not_found(),
            }),
            ("GET", ["v2", "individuals", e, "results", id]) => Handled::Answer(
                match self.results.get(*e).and_then(|r| r.iter().find(|p| p["processResultId"] == *id)) {
                    Some(p) => Answer::json(200, json!({"requestId": request_id, "processResult": p})),
                    None => not_found(),
                },
            ),
            ("PATCH", ["v2", "individuals", e, "results", class @ ("aml" | "idv")]) => {
                Handled::Decision(self.resolve(e, class, headers, body, &request_id), vec![])
            }
            ("GET", ["v2", "individuals", e, "documents"]) => match self.documents.get(*e) {
                Some(d) => self.with_images(d.clone(), level),
                None => Handled::Answer(not_found()),
            },
            ("GET", ["v2", "individuals", e, "documents", id]) => {
                let doc = self.documents.get(*e).and_then(|d| {
                    ["IDENTITY", "OTHER"]
                        .iter()
                        .flat_map(|c| d[*c].as_array().cloned().unwrap_or_default())
                        .find(|x| x["documentId"] == *id)
                });
                match doc {
                    Some(d) => self.with_images(d, level),
                    None => Handled::Answer(error(
                        404,
                        "DOC-1010",
                        "Unable to retrieve requested document",
                        "document not found",
                        "documentId",
                    )),
                }
            }
            _ => Handled::Answer(error(404, "API-0404", "Not found", "unknown endpoint", "path")),
        }
    }

    /// `level=base64` puts the attachment bytes inline (drawn outside the lock).
    fn with_images(&self, doc: Value, level: &str) -> Handled {
        if level != assumptions::IMAGE_LEVEL {
            return Handled::Answer(Answer::json(200, doc));
        }
        let images = self.images.iter().map(|(id, (seed, kind))| (id.clone(), *seed, *kind)).collect();
        Handled::JsonWithImages { body: doc, images }
    }

    fn search(&self, query: &[(String, String)], body: &[u8], request_id: &str) -> Answer {
        let num =
            |k: &str, d: u64| query.iter().find(|(q, _)| q == k).and_then(|(_, v)| v.parse::<u64>().ok()).unwrap_or(d);
        let (page, limit) = (num("page", 1).max(1), num("limit", 20).max(1));
        let Ok(req) = serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body }) else {
            return error(400, "API-0400", "Multiple Errors: See Issues list", "body is not JSON", "body");
        };
        let wanted: Vec<(Vec<String>, String)> = req["filters"]["workflowExecutionStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                let statuses = f["status"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect();
                (statuses, f["overrideType"].as_str().unwrap_or("ALL").to_string())
            })
            .collect();
        for (statuses, override_type) in &wanted {
            if statuses.iter().any(|s| !EXECUTION_STATUSES.contains(&s.as_str()))
                || !["ONLY_OVERRIDDEN", "EXCLUDE_OVERRIDDEN", "ALL"].contains(&override_type.as_str())
            {
                return error(
                    400,
                    "API-0400",
                    "Multiple Errors: See Issues list",
                    "invalid workflowExecutionStatuses",
                    "filters",
                );
            }
        }
        let selected: Vec<&Value> = self
            .profiles
            .values()
            .filter(|p| {
                let summary = &p["workflowSummaries"][0];
                let overridden = !summary["statusOverrideAt"].is_null();
                wanted.is_empty()
                    || wanted.iter().any(|(statuses, o)| {
                        statuses.iter().any(|s| summary["status"] == s.as_str())
                            && match o.as_str() {
                                "EXCLUDE_OVERRIDDEN" => !overridden,
                                "ONLY_OVERRIDDEN" => overridden,
                                _ => true,
                            }
                    })
            })
            .collect();
        let total = selected.len();
        let items: Vec<Value> = selected
            .into_iter()
            .skip(((page - 1) * limit) as usize)
            .take(limit as usize)
            .map(|p| json!({"serviceProfile": p, "confidence": 1.0, "fieldsMatched": []}))
            .collect();
        let count = items.len();
        // `matches` is an array of arrays, as the spec and the docs show.
        let matches = if assumptions::MATCHES_NESTED { json!([items]) } else { json!(items) };
        Answer::json(
            200,
            json!({"meta": {"page": page, "total": total, "limit": limit, "count": count, "sort": "desc", "sortFields": ["updatedAt"]},
            "requestId": request_id, "matches": matches}),
        )
    }

    fn override_execution(
        &mut self,
        entity: &str,
        execution: &str,
        headers: &HeaderMap,
        body: &[u8],
        request_id: &str,
    ) -> Answer {
        let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
            return error(400, "API-0400", "Multiple Errors: See Issues list", "body must be a JSON object", "body");
        };
        // An override without `status` means UNCHECKED (documented).
        let status = req.get("status").and_then(Value::as_str).unwrap_or("UNCHECKED");
        if !EXECUTION_STATUSES.contains(&status) {
            return error(
                400,
                "API-0400",
                "Multiple Errors: See Issues list",
                "status is not a Workflow-Execution-ResultEnum value",
                "status",
            );
        }
        let by = headers.get("x-frankie-username").and_then(|v| v.to_str().ok()).unwrap_or("api").to_string();
        let now = iso(Utc::now());
        let Some(result) = self.executions.get_mut(entity).filter(|r| r["workflowExecutionId"] == execution) else {
            return error(
                404,
                "ENT-1010",
                "Unable to retrieve requested entity",
                "execution not found",
                "workflowExecutionId",
            );
        };
        for (k, v) in [
            ("status", json!(status)),
            ("statusOverrideAt", json!(now)),
            ("statusOverrideBy", json!(by)),
            ("statusOverrideRequestId", json!(request_id)),
            ("updatedAt", json!(now)),
            ("updatedBy", json!(by)),
        ] {
            result[k] = v.clone();
            if let Some(summary) = self.profiles.get_mut(entity).and_then(|p| p["workflowSummaries"].get_mut(0))
                && k != "updatedAt"
                && k != "updatedBy"
            {
                summary[k] = v;
            }
        }
        Answer::json(200, json!({"requestId": request_id, "workflowResult": result}))
    }

    fn resolve(&mut self, entity: &str, class: &str, headers: &HeaderMap, body: &[u8], request_id: &str) -> Answer {
        let bad =
            |issue: &str, location: &str| error(400, "API-0400", "Multiple Errors: See Issues list", issue, location);
        let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
            return bad("body must be a JSON object", "body");
        };
        let (allowed, pro_class): (&[&str], &str) =
            if class == "aml" { (&AML_STATUSES, "AML") } else { (&IDV_STATUSES, "IDV") };
        let Some(status) = req.get("manualStatus").and_then(Value::as_str).filter(|s| allowed.contains(s)) else {
            return bad("manualStatus is not a value of this result class", "manualStatus");
        };
        let ids: Vec<String> = req
            .get("processResults")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        if ids.is_empty() {
            return bad("processResults must name at least one process result", "processResults");
        }
        let by = headers.get("x-frankie-username").and_then(|v| v.to_str().ok()).unwrap_or("api").to_string();
        let Some(pros) = self.results.get_mut(entity) else {
            return error(404, "ENT-1010", "Unable to retrieve requested entity", "entity not found", "entityId");
        };
        if ids.iter().any(|id| !pros.iter().any(|p| p["processResultId"] == id.as_str() && p["class"] == pro_class)) {
            return bad("processResults names a result that is not of this class", "processResults");
        }
        let now = iso(Utc::now());
        let mut changed = vec![];
        for p in pros.iter_mut().filter(|p| ids.iter().any(|id| p["processResultId"] == id.as_str())) {
            p["manualStatus"] = json!(status);
            p["updatedAt"] = json!(now);
            p["updatedBy"] = json!(by);
            changed.push(p.clone());
        }
        Answer::json(200, json!({"requestId": request_id, "processResults": changed}))
    }
}
