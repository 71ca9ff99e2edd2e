//! The Sumsub API from `shared/providers/sumsub.md`: request signatures checked on the
//! exact URI and body bytes with a ±60 s clock window, sandbox/production tokens,
//! applicants with review, steps and image metadata, binary images, approve (409 on
//! `reasons`), reject (FINAL, `EXTERNAL_DECISION_REJECTION`), `resetStep`, 409 +
//! `Retry-After` just after `pending`, GET 300 / POST 50 per 5 s, and digest-signed
//! webhooks.

use super::{Answer, Handled, ImageKind, ImageWrap, Webhook};
use crate::providers::sumsub::{assumptions, payload_digest, signature};
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

/// The emulator's credentials. Not secrets: they open nothing but this.
pub const APP_TOKEN: &str = "sbx:kycdesk-emulator-token";
pub const PRODUCTION_TOKEN: &str = "prd:kycdesk-emulator-token";
pub const SECRET_KEY: &str = "kycdesk-emulator-sumsub-secret";
pub const WEBHOOK_SECRET: &str = "kycdesk-emulator-sumsub-webhooks";

const FIRST: [&str; 10] = ["Mei", "Jakub", "Sofia", "Ibrahim", "Chloe", "Arjun", "Nora", "Diego", "Hiroshi", "Leila"];
const LAST: [&str; 10] = ["Chen", "Novak", "Costa", "Musa", "Laurent", "Iyer", "Berg", "Santos", "Mori", "Karimi"];
const HOLDS: [(&str, &str, &str); 4] = [
    ("FORGERY", "IDENTITY", "Font on the date of birth line differs from the template"),
    ("UNSATISFACTORY_PHOTOS", "SELFIE", "Selfie is blurred; face partly out of frame"),
    ("SANCTIONS", "IDENTITY", "Possible match on a sanctions list; verify the date of birth"),
    ("DOCUMENT_PAGE_MISSING", "IDENTITY", "Back side of the ID card is missing"),
];

/// Which applicants (`i % 5`) hold a document that expires soon.
const EXPIRES_SOON_EVERY_FIFTH: usize = 1;

pub struct SumsubEmu {
    applicants: BTreeMap<String, Value>,
    steps: BTreeMap<String, Value>,
    images: BTreeMap<(String, i64), (u64, ImageKind)>,
    pending_until: HashMap<String, Instant>,
    gets: VecDeque<Instant>,
    posts: VecDeque<Instant>,
}

fn err(status: u16, description: &str) -> Answer {
    Answer::json(status, json!({"code": status, "description": description, "correlationId": format!("emu-{status}")}))
}

fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

fn review_result(
    answer: &str,
    labels: &[&str],
    moderation: Option<&str>,
    client: Option<&str>,
    kind: Option<&str>,
) -> Value {
    json!({"reviewAnswer": answer, "rejectLabels": labels, "reviewRejectType": kind, "moderationComment": moderation,
        "clientComment": client})
}

impl SumsubEmu {
    pub fn new(seed: u64, cases: usize, at: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5B5B);
        let mut emu = Self {
            applicants: BTreeMap::new(),
            steps: BTreeMap::new(),
            images: BTreeMap::new(),
            pending_until: HashMap::new(),
            gets: VecDeque::new(),
            posts: VecDeque::new(),
        };
        let base = at - Duration::hours(2);
        for i in 0..cases + cases / 4 {
            let id = hex(&mut rng, 24);
            let inspection = hex(&mut rng, 24);
            let mut first = *FIRST.choose(&mut rng).unwrap_or(&"Alex");
            let mut last = *LAST.choose(&mut rng).unwrap_or(&"Doe");
            let mut birth = (1960 + (i % 40) as i32, 1 + (i % 12) as u32, 1 + (i % 27) as u32);
            // Drawn first and replaced after, so every other case stays as it was seeded.
            if i == super::SHARED_SUMSUB_INDEX {
                let person = &super::SHARED_COMPLYCUBE_SUMSUB;
                (first, last, birth) = (person.given, person.family, person.birth);
            }
            let dob = format!("{:04}-{:02}-{:02}", birth.0, birth.1, birth.2);
            // Some documents run out within 30 days of the emulator's today.
            let valid_until = if i % 5 == EXPIRES_SOON_EVERY_FIFTH {
                super::days_after(at, 12 + i as u64 % 10)
            } else {
                (2032, 4, 30)
            };
            let valid_until = format!("{:04}-{:02}-{:02}", valid_until.0, valid_until.1, valid_until.2);
            let created = base - Duration::minutes(19 * i as i64);
            let country = ["DEU", "FRA", "ESP", "POL", "NLD"][i % 5];
            let status = if i >= cases {
                "completed"
            } else if i % 5 == 4 {
                assumptions::PENDING
            } else {
                assumptions::ON_HOLD
            };
            let (label, failed_step, comment) = HOLDS[i % HOLDS.len()];
            let on_hold = status == assumptions::ON_HOLD;
            let image_base = 100_000 + (i as i64) * 10;
            let doc_type = ["PASSPORT", "ID_CARD", "DRIVERS"][i % 3];
            let number = format!("{}{}", &country[..1], hex(&mut rng, 8).to_uppercase());
            let step_result = |step: &str| {
                if on_hold && step == failed_step {
                    review_result("RED", &[label], Some(comment), Some("Checked by Sumsub's automation"), Some("RETRY"))
                } else if status == "completed" || on_hold {
                    review_result("GREEN", &[], None, None, None)
                } else {
                    Value::Null
                }
            };
            let mut identity_images = vec![image_base];
            if doc_type != "PASSPORT" {
                identity_images.push(image_base + 1);
            }
            emu.images.insert((inspection.clone(), image_base), (rng.random(), ImageKind::DocumentFront));
            emu.images.insert((inspection.clone(), image_base + 1), (rng.random(), ImageKind::DocumentBack));
            emu.images.insert((inspection.clone(), image_base + 2), (rng.random(), ImageKind::Selfie));
            let mut identity = json!({"country": country, "idDocType": doc_type, "imageIds": identity_images});
            let mut selfie = json!({"country": country, "idDocType": "SELFIE", "imageIds": [image_base + 2]});
            for (step, value) in [("IDENTITY", &mut identity), ("SELFIE", &mut selfie)] {
                let r = step_result(step);
                if !r.is_null() {
                    value["reviewResult"] = r;
                }
            }
            emu.steps.insert(id.clone(), json!({"IDENTITY": identity, "SELFIE": selfie, "PROOF_OF_RESIDENCE": null}));
            let review = json!({
                "reviewId": hex(&mut rng, 5), "attemptId": hex(&mut rng, 5), "attemptCnt": 1, "levelName": "basic-kyc-level",
                "createDate": created.format("%Y-%m-%d %H:%M:%S+0000").to_string(),
                "reviewDate": created.format("%Y-%m-%d %H:%M:%S+0000").to_string(),
                "reviewStatus": status, "priority": 0,
                "reviewResult": if on_hold {
                    review_result("RED", &[label], Some(comment), Some("Needs a compliance officer"), Some("RETRY"))
                } else if status == "completed" { review_result("GREEN", &[], None, None, None) } else { Value::Null },
            });
            emu.applicants.insert(id.clone(), json!({
                "id": id, "createdAt": created.format("%Y-%m-%d %H:%M:%S").to_string(), "key": "KYCDESKEMU", "clientId": "kycdesk-emulator",
                "inspectionId": inspection, "externalUserId": format!("user-{:05}", 40_000 + i),
                "email": format!("{}.{}@example.net", first.to_lowercase(), last.to_lowercase()), "lang": "en", "type": "individual",
                "info": {"firstName": first, "lastName": last, "dob": dob,
                    "country": country, "idDocs": [{"idDocType": doc_type, "country": country, "number": number,
                        "validUntil": valid_until, "firstName": first, "lastName": last, "dob": dob}]},
                "requiredIdDocs": {"docSets": [{"idDocSetType": "IDENTITY", "types": [doc_type]}, {"idDocSetType": "SELFIE", "types": ["SELFIE"]}]},
                "review": review,
            }));
            if status == assumptions::PENDING {
                emu.pending_until
                    .insert(id, Instant::now() + std::time::Duration::from_secs(assumptions::PENDING_GRACE_SECS));
            }
        }
        emu
    }

    fn event(kind: &str, applicant: &Value) -> Webhook {
        let now = Utc::now();
        let body = json!({
            "applicantId": applicant["id"], "inspectionId": applicant["inspectionId"], "applicantType": "individual",
            "correlationId": format!("emu-{}", now.timestamp_nanos_opt().unwrap_or_default()), "levelName": applicant["review"]["levelName"],
            "sandboxMode": true, "externalUserId": applicant["externalUserId"], "type": kind,
            "reviewStatus": applicant["review"]["reviewStatus"], "reviewResult": applicant["review"]["reviewResult"],
            "createdAt": now.format("%Y-%m-%d %H:%M:%S+0000").to_string(),
            // A string, not epoch milliseconds (documented trap).
            "createdAtMs": now.format("%Y-%m-%d %H:%M:%S%.3f").to_string(), "clientId": "kycdesk-emulator",
        })
        .to_string()
        .into_bytes();
        let digest = payload_digest(WEBHOOK_SECRET.as_bytes(), "HMAC_SHA256_HEX", &body).unwrap_or_default();
        Webhook {
            provider: "sumsub",
            headers: vec![
                ("X-Payload-Digest".into(), digest),
                ("X-Payload-Digest-Alg".into(), "HMAC_SHA256_HEX".into()),
            ],
            body,
        }
    }

    /// `applicantOnHold` and `applicantPending` for the seeded applicants.
    pub fn seed_webhooks(&self, out: &mut Vec<Webhook>) {
        for a in self.applicants.values() {
            match a["review"]["reviewStatus"].as_str() {
                Some(assumptions::ON_HOLD) => out.push(Self::event("applicantOnHold", a)),
                Some(assumptions::PENDING) => out.push(Self::event("applicantPending", a)),
                _ => {}
            }
        }
    }

    pub fn applicant_ids(&self) -> Vec<String> {
        self.applicants.keys().cloned().collect()
    }

    fn authenticate(&self, method: &str, uri: &str, headers: &HeaderMap, body: &[u8]) -> Result<bool, Answer> {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let (Some(token), Some(ts), Some(sig)) = (h("x-app-token"), h("x-app-access-ts"), h("x-app-access-sig")) else {
            return Err(err(401, "Missing authentication headers"));
        };
        let sandbox = match token {
            APP_TOKEN => true,
            PRODUCTION_TOKEN => false,
            _ => return Err(err(401, "App token not found")),
        };
        let Ok(seconds) = ts.parse::<i64>() else { return Err(err(401, "Invalid X-App-Access-Ts: seconds expected")) };
        if (Utc::now().timestamp() - seconds).abs() > assumptions::MAX_SKEW_SECS {
            return Err(err(401, "Request timestamp X-App-Access-Ts is out of the allowed range (±60 s)"));
        }
        if signature(SECRET_KEY.as_bytes(), ts, method, uri, body) != sig {
            return Err(err(401, "Invalid signature"));
        }
        Ok(sandbox)
    }

    fn throttle(&mut self, method: &str) -> Option<Answer> {
        let now = Instant::now();
        let window = std::time::Duration::from_secs(assumptions::LIMIT_WINDOW_SECS);
        let (log, limit) = if method == "GET" {
            (&mut self.gets, assumptions::GET_PER_WINDOW)
        } else {
            (&mut self.posts, assumptions::POST_PER_WINDOW)
        };
        while log.front().is_some_and(|t| now.duration_since(*t) > window) {
            log.pop_front();
        }
        if log.len() >= limit {
            return Some(err(assumptions::THROTTLE_STATUS, "Too many requests").retry_after(1));
        }
        log.push_back(now);
        None
    }

    pub fn handle(&mut self, method: &str, segments: &[&str], uri: &str, headers: &HeaderMap, body: &[u8]) -> Handled {
        let sandbox = match self.authenticate(method, uri, headers, body) {
            Ok(s) => s,
            Err(a) => return Handled::Answer(a),
        };
        if let Some(a) = self.throttle(method) {
            return Handled::Answer(a);
        }
        // Every seeded applicant is sandbox data: a production token may not see it.
        if !sandbox {
            return Handled::Answer(err(401, "The token belongs to another environment"));
        }
        let missing = || err(404, "Applicant not found");
        // Every POST says it is JSON, even with an empty body (documented advice; what
        // Sumsub answers without it is assumed).
        let typed = headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| {
            t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(assumptions::JSON_CONTENT_TYPE))
        });
        if method == "POST" && !typed {
            let answer = err(assumptions::MISSING_CONTENT_TYPE_STATUS, "Content-Type must be application/json");
            return match segments {
                ["resources", "applicants", _, "-", "approve" | "reject"]
                | ["resources", "applicants", _, "resetStep", _] => Handled::Decision(answer, vec![]),
                _ => Handled::Answer(answer),
            };
        }
        match (method, segments) {
            ("GET", ["resources", "applicants", id, "one"]) => {
                Handled::Answer(self.applicants.get(*id).map(|a| Answer::json(200, a.clone())).unwrap_or_else(missing))
            }
            ("GET", ["resources", "applicants", id, "status"]) => Handled::Answer(
                self.applicants.get(*id).map(|a| Answer::json(200, a["review"].clone())).unwrap_or_else(missing),
            ),
            ("GET", ["resources", "applicants", id, "requiredIdDocsStatus"]) => {
                Handled::Answer(self.steps.get(*id).map(|s| Answer::json(200, s.clone())).unwrap_or_else(missing))
            }
            ("GET", ["resources", "applicants", id, "metadata", "resources"]) => {
                let Some(a) = self.applicants.get(*id) else { return Handled::Answer(missing()) };
                let inspection = a["inspectionId"].as_str().unwrap_or_default().to_string();
                let items: Vec<Value> = self
                    .images
                    .iter()
                    .filter(|((insp, _), _)| *insp == inspection)
                    .map(|((_, image), (_, kind))| {
                        let (doc_type, sub) = match kind {
                            ImageKind::Selfie => ("SELFIE", Value::Null),
                            ImageKind::DocumentFront => (a["info"]["idDocs"][0]["idDocType"].as_str().unwrap_or("PASSPORT"), json!("FRONT_SIDE")),
                            ImageKind::DocumentBack => (a["info"]["idDocs"][0]["idDocType"].as_str().unwrap_or("PASSPORT"), json!("BACK_SIDE")),
                        };
                        json!({"id": image, "previewId": image + 5, "addedDate": a["createdAt"],
                            "fileMetadata": {"fileName": format!("{image}.jpg"), "fileType": "jpeg", "fileSize": 120000},
                            "idDocDef": {"country": a["info"]["country"], "idDocType": doc_type, "idDocSubType": sub},
                            "source": if *kind == ImageKind::Selfie { "liveness" } else { "fileupload" }, "deactivated": false})
                    })
                    .collect();
                let total = items.len();
                Handled::Answer(Answer::json(200, json!({"items": items, "totalItems": total})))
            }
            ("GET", ["resources", "inspections", inspection, "resources", image]) => {
                match image.parse::<i64>().ok().and_then(|i| self.images.get(&(inspection.to_string(), i))) {
                    Some((seed, kind)) => Handled::Image { seed: *seed, kind: *kind, wrap: ImageWrap::Binary },
                    None => Handled::Answer(err(404, "Image not found")),
                }
            }
            ("POST", ["resources", "applicants", id, "-", verb @ ("approve" | "reject")]) => {
                let answer = self.review(id, verb, body);
                let webhooks = (answer.status == 200)
                    .then(|| self.applicants.get(*id).map(|a| Self::event("applicantReviewed", a)))
                    .flatten()
                    .into_iter()
                    .collect();
                Handled::Decision(answer, webhooks)
            }
            ("POST", ["resources", "applicants", id, "resetStep", step]) => {
                Handled::Decision(self.reset_step(id, step), vec![])
            }
            _ => Handled::Answer(err(404, "Not found")),
        }
    }

    fn review(&mut self, id: &str, verb: &str, body: &[u8]) -> Answer {
        if !self.applicants.contains_key(id) {
            return err(404, "Applicant not found");
        }
        let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
            return err(400, "The request body must be a JSON object (send {} when empty)");
        };
        if verb == "approve" && req.contains_key("reasons") {
            return err(409, "When approving an applicant reasons must not be provided");
        }
        if req.get("note").is_some_and(|n| !n.is_string()) {
            return err(400, "note must be a string");
        }
        if let Some(reasons) = req.get("reasons") {
            let ok = reasons.as_object().is_some_and(|groups| {
                groups.values().all(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
            });
            if !ok {
                return err(400, "reasons must map group ids to arrays of reason ids");
            }
        }
        if self.pending_until.get(id).is_some_and(|t| Instant::now() < *t) {
            return err(409, "The applicant was just sent to pending; retry shortly").retry_after(1);
        }
        let Some(a) = self.applicants.get_mut(id) else { return err(404, "Applicant not found") };
        a["review"]["reviewStatus"] = json!("completed");
        a["review"]["reviewResult"] = if verb == "approve" {
            review_result("GREEN", &[], None, None, None)
        } else {
            let mut labels: Vec<Value> =
                a["review"]["reviewResult"]["rejectLabels"].as_array().cloned().unwrap_or_default();
            labels.push(json!("EXTERNAL_DECISION_REJECTION"));
            json!({"reviewAnswer": "RED", "rejectLabels": labels, "reviewRejectType": "FINAL",
                "moderationComment": a["review"]["reviewResult"]["moderationComment"], "clientComment": req.get("note")})
        };
        Answer::json(200, a.clone())
    }

    fn reset_step(&mut self, id: &str, step: &str) -> Answer {
        let Some(steps) = self.steps.get_mut(id) else { return err(404, "Applicant not found") };
        if !assumptions::RESETTABLE_STEPS.contains(&step) {
            return err(400, &format!("Step {step} cannot be reset"));
        }
        steps[step] = Value::Null;
        if let Some(a) = self.applicants.get_mut(id) {
            a["review"]["reviewStatus"] = json!(assumptions::AFTER_RESET_STATUS);
        }
        Answer::json(200, json!({"ok": 1}))
    }
}
