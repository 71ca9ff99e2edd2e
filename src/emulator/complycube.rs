//! The ComplyCube API, served faithfully from `shared/providers/complycube.md`: raw-key
//! auth with separate test and live worlds, paged and filtered check lists (200-empty on
//! a bad filter), detail and JSON+base64 downloads, every validate rule with its
//! documented error body, and 429 above the key's rate.

use super::{Answer, Handled, ImageKind, ImageWrap, Recorded, Webhook};
use crate::providers::complycube::{REJECTION_REASONS, assumptions, is_screening};
use chrono::{DateTime, Duration, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;

/// Credentials of the emulator's two worlds. Not secrets: they open nothing but this.
pub const TEST_KEY: &str = "test_kycdesk_emulator_complycube";
pub const LIVE_KEY: &str = "live_kycdesk_emulator_complycube";
/// The secret the emulator signs its ComplyCube webhooks with.
pub const WEBHOOK_SECRET: &str = "kycdesk-emulator-complycube-webhooks";

const FIRST: [&str; 24] = [
    "Amara", "Bilal", "Chiara", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas", "Keiko", "Lars", "Maren",
    "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Soren", "Tomasz", "Uma", "Viktor", "Wren", "Yusuf",
];
const LAST: [&str; 20] = [
    "Okafor",
    "Haddad",
    "Ricci",
    "Volkov",
    "Yilmaz",
    "Nasser",
    "Petrovic",
    "Sato",
    "Moreau",
    "Lindqvist",
    "Tanaka",
    "Berg",
    "Quist",
    "Rahman",
    "Kowalski",
    "Patel",
    "Dubois",
    "Alvarez",
    "Novak",
    "Abara",
];
const COUNTRIES: [&str; 8] = ["GB", "IE", "DE", "FR", "ES", "NL", "PL", "IT"];
const DOC_TYPES: [&str; 3] = ["passport", "driving_license", "national_identity_card"];
/// One synthetic applicant name is hostile on purpose: it shows the sanitiser at work.
const HOSTILE_NAME: &str = "Mallory \u{1b}[31mRed\u{1b}[0m \u{202E}gpj.exe";
/// The document check whose document names the holder by a former surname.
const SURNAME_DIFFERS_INDEX: usize = 7;
const FORMER_SURNAME: &str = "Halvorsen";

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Mode {
    Test,
    Live,
}

struct World {
    /// Newest first, as the API lists them.
    checks: Vec<Value>,
    clients: BTreeMap<String, Value>,
    documents: BTreeMap<String, Value>,
    live_photos: BTreeMap<String, Value>,
    /// Image seeds by `documents/{id}/{side}` or `livePhotos/{id}`.
    image_seeds: BTreeMap<String, u64>,
    /// Document and identity checks validated so far.
    validated: std::collections::HashSet<String>,
}

pub struct ComplyCubeEmu {
    worlds: HashMap<Mode, World>,
    limiters: HashMap<Mode, DefaultDirectRateLimiter>,
}

fn hex_id(rng: &mut StdRng) -> String {
    (0..24).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

fn iso(t: DateTime<Utc>) -> String {
    t.format(assumptions::TIME_FILTER_FORMAT).to_string()
}

fn ymd(y: i32, m: u32, d: u32) -> Value {
    json!({"year": y, "month": m, "day": d})
}

fn seed_world(seed: u64, cases: usize, at: DateTime<Utc>) -> World {
    let newest = at - Duration::hours(5);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = World {
        checks: vec![],
        clients: BTreeMap::new(),
        documents: BTreeMap::new(),
        live_photos: BTreeMap::new(),
        image_seeds: BTreeMap::new(),
        validated: Default::default(),
    };
    // Referred cases, plus settled and pending checks the adapter must leave out.
    let total = cases + cases / 4 + 1;
    for i in 0..total {
        let created = newest - Duration::minutes(17 * i as i64 + rng.random_range(0..9));
        let mut first = *FIRST.choose(&mut rng).unwrap_or(&"Alex");
        let mut last = *LAST.choose(&mut rng).unwrap_or(&"Smith");
        let country = *COUNTRIES.choose(&mut rng).unwrap_or(&"GB");
        let mut dob = (rng.random_range(1950..2005), rng.random_range(1..=12u32), rng.random_range(1..=28u32));
        // Drawn first and replaced after, so every other case stays as it was seeded.
        if i == super::SHARED_COMPLYCUBE_INDEX {
            let person = &super::SHARED_COMPLYCUBE_SUMSUB;
            (first, last, dob) = (person.given, person.family, person.birth);
        }
        let name = if i == 4 { HOSTILE_NAME.to_string() } else { format!("{first} {last}") };
        // One document still carries the holder's former surname.
        let surname_on_document = if i == SURNAME_DIFFERS_INDEX { FORMER_SURNAME } else { last };
        let client_id = hex_id(&mut rng);
        w.clients.insert(
            client_id.clone(),
            json!({
                "id": client_id, "type": "person", "entityName": name,
                "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
                "externalId": format!("cust-{:05}", 10_000 + i),
                "personDetails": {"firstName": if i == 4 { name.as_str() } else { first }, "lastName": if i == 4 { "" } else { last },
                    "dob": format!("{:04}-{:02}-{:02}", dob.0, dob.1, dob.2), "nationality": country, "gender": if rng.random_bool(0.5) { "female" } else { "male" }},
                "createdAt": iso(created - Duration::days(3)), "updatedAt": iso(created - Duration::days(3)),
            }),
        );
        let referred = i < cases;
        let kind = if referred { i % 3 } else { i % 2 };
        let check_id = hex_id(&mut rng);
        let mut check = json!({
            "id": check_id, "clientId": client_id, "entityName": name, "enableMonitoring": false,
            "status": "complete", "createdAt": iso(created), "updatedAt": iso(created),
        });
        let needs_documents = kind != 2;
        let mut document_id = None;
        if needs_documents {
            let doc_id = hex_id(&mut rng);
            let doc_type = *DOC_TYPES.choose(&mut rng).unwrap_or(&"passport");
            let mut imgs = vec![];
            for side in ["front", "back"] {
                w.image_seeds.insert(format!("documents/{doc_id}/{side}"), rng.random());
                imgs.push(json!({
                    "id": hex_id(&mut rng), "fileName": format!("{side}.jpg"), "documentSide": side,
                    "downloadLink": format!("/documents/{doc_id}/download/{side}"), "contentType": "image/jpeg",
                    "createdAt": iso(created), "updatedAt": iso(created),
                }));
            }
            w.documents.insert(
                doc_id.clone(),
                json!({"id": doc_id, "clientId": client_id, "type": doc_type, "classification": "proof_of_identity",
                    "issuingCountry": country, "images": imgs, "createdAt": iso(created), "updatedAt": iso(created)}),
            );
            check["documentId"] = json!(doc_id);
            document_id = Some((doc_id, doc_type));
        }
        let outcome = if referred { "attention" } else { "clear" };
        match kind {
            0 => {
                let lp_id = hex_id(&mut rng);
                w.image_seeds.insert(format!("livePhotos/{lp_id}"), rng.random());
                w.live_photos.insert(
                    lp_id.clone(),
                    json!({"id": lp_id, "clientId": client_id, "downloadLink": format!("/livePhotos/{lp_id}/download"),
                        "contentType": assumptions::LIVE_PHOTO_CONTENT_TYPE, "performLivenessCheck": true,
                        "createdAt": iso(created), "updatedAt": iso(created)}),
                );
                let liveness_fails = referred && rng.random_bool(0.5);
                let face_fails = referred && (!liveness_fails || rng.random_bool(0.2));
                let score = if face_fails { rng.random_range(28..62) } else { rng.random_range(82..99) };
                check["type"] = json!("identity_check");
                check["livePhotoId"] = json!(lp_id);
                check["result"] = json!({"outcome": outcome, "breakdown": {
                    "faceAnalysis": {"faceDetection": "clear", "facialSimilarity": if face_fails { "attention" } else { "clear" },
                        "previouslyEnrolledFace": "clear", "breakdown": {"facialSimilarityScore": score}},
                    "authenticityAnalysis": {"spoofedImageAnalysis": "clear", "livenessCheck": if liveness_fails { "attention" } else { "clear" }},
                    "integrityAnalysis": {"faceDetection": "clear"},
                }});
            }
            1 => {
                let expired = referred && rng.random_bool(0.6);
                let expiry_year = if expired { 2024 } else { 2031 };
                let doc_type = document_id.as_ref().map(|d| d.1).unwrap_or("passport");
                let number: String =
                    (0..9).map(|_| char::from_digit(rng.random_range(0..10), 10).unwrap_or('0')).collect();
                let mut analyses = serde_json::Map::new();
                for (n, key) in assumptions::DOCUMENT_ANALYSES.iter().enumerate() {
                    let flagged = referred && ((expired && *key == "contentAnalysis") || (!expired && n == 1));
                    analyses.insert((*key).to_string(), json!(if flagged { "attention" } else { "clear" }));
                }
                let mut breakdown = json!({"extractedData": {
                    "documentDetails": {"documentType": if doc_type == "national_identity_card" { "national_id" } else { doc_type },
                        "hasTwoSides": true, "documentNumber": number, "issuingCountry": country,
                        "expirationDate": ymd(expiry_year, rng.random_range(1..=12), rng.random_range(1..=28)),
                        "issuingDate": ymd(expiry_year - 10, 3, 14)},
                    "holderDetails": {"firstName": [first], "lastName": [surname_on_document], "dob": ymd(dob.0, dob.1, dob.2), "nationality": country},
                    "mrz": {"line1": format!("P<{country}{}<<{}", surname_on_document.to_uppercase(), first.to_uppercase()), "line2": format!("{number}{country}")},
                }});
                if let Some(b) = breakdown.as_object_mut() {
                    b.extend(analyses);
                }
                check["type"] = json!("document_check");
                check["result"] = json!({"outcome": outcome, "breakdown": breakdown});
            }
            _ => {
                let hits = rng.random_range(1..=3);
                let types = [["pep"].as_slice(), &["sanctions"], &["adverse_media"], &["pep", "adverse_media"]];
                let matches: Vec<Value> = (0..hits)
                    .map(|h| {
                        let namesake = if h == 0 {
                            format!("{first} {last}")
                        } else {
                            format!("{first} {} {last}", ["A.", "M.", "J."][h % 3])
                        };
                        json!({"id": hex_id(&mut rng), "name": namesake, "score": rng.random_range(55..99),
                            "types": types.choose(&mut rng).copied().unwrap_or(&["pep"]),
                            "countries": [COUNTRIES.choose(&mut rng).copied().unwrap_or("GB")],
                            "dateOfBirth": ymd(dob.0 + rng.random_range(-3..=3), dob.1, dob.2)})
                    })
                    .collect();
                let att = |on: bool| if on && referred { "attention" } else { "clear" };
                check["type"] = json!("standard_screening_check");
                check["result"] = json!({"outcome": outcome, "breakdown": {
                    "summary": {
                        "pep": {"level1": att(true), "level2": "clear", "level3": "clear", "level4": "clear"},
                        "watchlist": {"sanctionsLists": att(hits > 1), "otherOfficialLists": "clear", "warCrimes": "clear", "terror": "clear", "otherExclusionLists": "clear", "sanctionsControlAndOwnership": "clear"},
                        "adverseMedia": {"environmentProduction": "clear", "socialLabour": "clear", "competitiveFinancial": att(hits > 2), "regulatory": "clear"},
                        "otherLists": {"associatedEntity": "clear", "organisedCrime": "clear", "financialCrime": "clear", "taxCrime": "clear", "corruption": "clear", "trafficking": "clear"}},
                    "matches": if referred { matches } else { vec![] },
                }});
            }
        }
        if i == total - 1 {
            // One check still running: never listed as referred, and validate refuses it.
            check["status"] = json!("pending");
            if let Some(o) = check.as_object_mut() {
                o.remove("result");
            }
        }
        w.checks.push(check);
    }
    w.checks.sort_by(|a, b| b["createdAt"].as_str().cmp(&a["createdAt"].as_str()));
    w
}

fn err(status: u16, kind: &str, message: &str, param: Option<&str>) -> Answer {
    let mut body = json!({"type": kind, "message": message});
    if let Some(p) = param {
        body["param"] = json!(p);
    }
    Answer::json(status, body)
}

fn not_found(what: &str, id: &str) -> Answer {
    err(404, "resource_not_found", &format!("Invalid {what} id '{id}'"), None)
}

fn limiter(rps: u32) -> DefaultDirectRateLimiter {
    RateLimiter::direct(Quota::per_second(NonZeroU32::new(rps).unwrap_or(NonZeroU32::MIN)))
}

impl ComplyCubeEmu {
    pub fn new(seed: u64, cases: usize, at: DateTime<Utc>) -> Self {
        let mut worlds = HashMap::new();
        worlds.insert(Mode::Test, seed_world(seed, cases, at));
        worlds.insert(Mode::Live, seed_world(seed.wrapping_add(1), cases, at));
        let mut limiters = HashMap::new();
        limiters.insert(Mode::Test, limiter(assumptions::TEST_KEY_RPS));
        limiters.insert(Mode::Live, limiter(assumptions::LIVE_KEY_RPS));
        Self { worlds, limiters }
    }

    /// The webhooks ComplyCube sends about the seeded cases of a world: one
    /// `check.completed.attention` per referred check.
    pub fn seed_webhooks(&self, mode: Mode, out: &mut Vec<Webhook>) {
        let Some(world) = self.worlds.get(&mode) else { return };
        for check in world.checks.iter().filter(|c| c["result"]["outcome"] == "attention") {
            out.push(webhook_event("check.completed.attention", check));
        }
    }

    /// The image behind a download path, with the seed to draw it from.
    pub fn image_seed(&self, mode: Mode, key: &str) -> Option<u64> {
        self.worlds.get(&mode)?.image_seeds.get(key).copied()
    }

    /// Authenticates and rate-limits; `Err` is the answer to send instead.
    pub fn admit(&self, authorization: Option<&str>) -> Result<Mode, Answer> {
        let unauthorized = || err(401, "unauthorized", "The 'Authorization' header is invalid", None);
        let mode = match authorization {
            Some(TEST_KEY) => Mode::Test,
            Some(LIVE_KEY) => Mode::Live,
            // `Bearer <key>` is an unknown key (assumption shared with the adapter).
            Some(other) if assumptions::BEARER_IS_UNKNOWN_KEY && other.starts_with("Bearer ") => {
                return Err(unauthorized());
            }
            _ => return Err(unauthorized()),
        };
        if self.limiters.get(&mode).is_some_and(|l| l.check().is_err()) {
            return Err(err(429, "rate_limit_exceeded", "Too many requests, please slow down", None));
        }
        Ok(mode)
    }

    /// POST and PUT must say `Content-Type: application/json` (documented); without it
    /// the request is refused before its body is read (the answer is assumed).
    pub fn require_json(method: &str, content_type: Option<&str>) -> Result<(), Answer> {
        if !matches!(method, "POST" | "PUT") || content_type.is_some_and(assumptions::is_json_content_type) {
            return Ok(());
        }
        Err(err(
            assumptions::MISSING_CONTENT_TYPE_STATUS,
            assumptions::MISSING_CONTENT_TYPE_KIND,
            assumptions::MISSING_CONTENT_TYPE_MESSAGE,
            None,
        ))
    }

    /// Serves everything but the image bytes, which the caller draws outside the lock.
    pub fn handle(
        &mut self,
        mode: Mode,
        method: &str,
        segments: &[&str],
        query: &[(String, String)],
        body: &[u8],
    ) -> Handled {
        let Some(world) = self.worlds.get_mut(&mode) else {
            return Handled::Answer(err(500, "internal_server_error", "no world", None));
        };
        match (method, segments) {
            ("GET", ["checks"]) => Handled::Answer(list_checks(world, query)),
            ("GET", ["checks", id]) => Handled::Answer(
                find(&world.checks, id).map(|c| Answer::json(200, c.clone())).unwrap_or_else(|| not_found("check", id)),
            ),
            ("GET", ["clients", id]) => Handled::Answer(
                world.clients.get(*id).map(|c| Answer::json(200, c.clone())).unwrap_or_else(|| not_found("client", id)),
            ),
            ("GET", ["documents", id]) => Handled::Answer(
                world
                    .documents
                    .get(*id)
                    .map(|c| Answer::json(200, c.clone()))
                    .unwrap_or_else(|| not_found("document", id)),
            ),
            ("GET", ["livePhotos", id]) => Handled::Answer(
                world
                    .live_photos
                    .get(*id)
                    .map(|c| Answer::json(200, c.clone()))
                    .unwrap_or_else(|| not_found("live photo", id)),
            ),
            ("GET", ["documents", id, "download", side]) => {
                if !world.documents.contains_key(*id) {
                    return Handled::Answer(not_found("document", id));
                }
                match world.image_seeds.get(&format!("documents/{id}/{side}")) {
                    Some(seed) => Handled::Image {
                        seed: *seed,
                        kind: if *side == "back" { ImageKind::DocumentBack } else { ImageKind::DocumentFront },
                        wrap: ImageWrap::Base64Json { file_name: format!("{side}.jpg"), content_type: "image/jpeg" },
                    },
                    None => Handled::Answer(err(
                        400,
                        "invalid_request",
                        "documentSide must be front or back",
                        Some("documentSide"),
                    )),
                }
            }
            ("GET", ["livePhotos", id, "download"]) => match world.image_seeds.get(&format!("livePhotos/{id}")) {
                Some(seed) => Handled::Image {
                    seed: *seed,
                    kind: ImageKind::Selfie,
                    wrap: ImageWrap::Base64Json {
                        file_name: "live_photo.jpg".into(),
                        content_type: assumptions::LIVE_PHOTO_CONTENT_TYPE,
                    },
                },
                None => Handled::Answer(not_found("live photo", id)),
            },
            ("POST", ["checks", id, "validate"]) => {
                let answer = validate(world, id, body);
                let event = (answer.status == 200)
                    .then(|| find(&world.checks, id).map(|c| webhook_event("check.updated", c)))
                    .flatten();
                Handled::Decision(answer, event.into_iter().collect())
            }
            _ => Handled::Answer(err(404, "resource_not_found", "Unknown endpoint", None)),
        }
    }
}

/// A signed ComplyCube event about a check: the check object in `payload`, the
/// signature (hex HMAC-SHA256 of the raw body) in `ComplyCube-Signature`.
fn webhook_event(kind: &str, check: &Value) -> Webhook {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let body = json!({"id": format!("evt_{n:08}"), "type": kind, "resourceType": "check", "payload": check,
        "createdAt": iso(Utc::now())})
    .to_string()
    .into_bytes();
    let signature = crate::providers::complycube::webhook_signature(WEBHOOK_SECRET.as_bytes(), &body);
    Webhook { provider: "complycube", headers: vec![("ComplyCube-Signature".into(), signature)], body }
}

fn find<'a>(checks: &'a [Value], id: &str) -> Option<&'a Value> {
    checks.iter().find(|c| c["id"] == id)
}

fn list_checks(world: &World, query: &[(String, String)]) -> Answer {
    let empty = |page: u64, size: u64| {
        Answer::json(200, json!({"page": page, "pageSize": size, "totalItems": 0, "pages": 0, "items": []}))
    };
    let mut page = u64::from(assumptions::FIRST_PAGE);
    let mut size = 100u64;
    let mut filters: Vec<(&str, &str)> = vec![];
    let mut windows: Vec<(&str, DateTime<Utc>)> = vec![];
    for (k, v) in query {
        match k.as_str() {
            "page" => match v.parse::<u64>() {
                Ok(p) if p >= 1 => page = p,
                _ => {
                    return err(400, "invalid_request", "page must be a positive integer", Some("page"));
                }
            },
            "pageSize" => match v.parse::<u64>() {
                Ok(s) if (1..=1000).contains(&s) => size = s,
                _ => {
                    return err(400, "invalid_request", "pageSize must be between 1 and 1000", Some("pageSize"));
                }
            },
            "createdAfter" | "createdBefore" | "updatedAfter" | "updatedBefore" => {
                match DateTime::parse_from_rfc3339(v) {
                    Ok(t) => windows.push((k.as_str(), t.with_timezone(&Utc))),
                    // A filter it cannot read: documented 200 with no results.
                    Err(_) => return empty(page, size),
                }
            }
            key if assumptions::CHECK_FILTERS.contains(&key) && assumptions::filter_value_allowed(v) => {
                filters.push((key, v.as_str()))
            }
            _ => return empty(page, size),
        }
    }
    let time = |c: &Value, field: &str| {
        c[field].as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
    };
    let selected: Vec<&Value> = world
        .checks
        .iter()
        .filter(|c| filters.iter().all(|(k, v)| c[*k].as_str() == Some(*v)))
        .filter(|c| {
            windows.iter().all(|(k, t)| match *k {
                "createdAfter" => time(c, "createdAt").is_some_and(|x| x > *t),
                "createdBefore" => time(c, "createdAt").is_some_and(|x| x < *t),
                "updatedAfter" => time(c, "updatedAt").is_some_and(|x| x > *t),
                _ => time(c, "updatedAt").is_some_and(|x| x < *t),
            })
        })
        .collect();
    let total = selected.len() as u64;
    let pages = total.div_ceil(size);
    let start = ((page - 1) * size) as usize;
    let items: Vec<Value> = selected.into_iter().skip(start).take(size as usize).cloned().collect();
    Answer::json(200, json!({"page": page, "pageSize": size, "totalItems": total, "pages": pages, "items": items}))
}

fn validate(world: &mut World, id: &str, body: &[u8]) -> Answer {
    let Some(index) = world.checks.iter().position(|c| c["id"] == id) else {
        return not_found("check", id);
    };
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return err(400, "invalid_request", "The request body must be a JSON object", None);
    };
    let check = &world.checks[index];
    let check_type = check["type"].as_str().unwrap_or_default().to_string();
    let outcome = match req.get("outcome").and_then(Value::as_str) {
        Some(o @ ("confirmed" | "rejected" | "attention")) => o.to_string(),
        Some(_) => {
            return err(
                400,
                "invalid_request",
                "outcome must be one of confirmed, rejected, attention",
                Some("outcome"),
            );
        }
        None => {
            return err(400, "invalid_request", "outcome is required", Some("outcome"));
        }
    };
    if let Some(comment) = req.get("comment") {
        match comment.as_str() {
            Some(c) if c.chars().count() <= assumptions::MAX_COMMENT_CHARS => {}
            Some(_) => {
                return err(400, "invalid_request", "comment must be at most 4000 characters", Some("comment"));
            }
            None => {
                return err(400, "invalid_request", "comment must be a string", Some("comment"));
            }
        }
    }
    let is_document = check_type == "document_check";
    for field in ["rejectionReasons", "userSuppliedData"] {
        if req.contains_key(field) && !is_document {
            return err(400, "invalid_request", &format!("{field} is only allowed for document checks"), Some(field));
        }
    }
    if let Some(reasons) = req.get("rejectionReasons") {
        let ok = reasons.as_array().is_some_and(|a| {
            a.iter().all(|r| r.as_str().is_some_and(|r| REJECTION_REASONS.iter().any(|known| known.code == r)))
        });
        if !ok {
            return err(
                400,
                "invalid_request",
                "rejectionReasons contains an unknown reason",
                Some("rejectionReasons"),
            );
        }
    }
    if check["status"] == "pending" {
        return err(422, "pending_check_unmodifiable", "A pending check cannot be modified", None);
    }
    if !assumptions::REVALIDATE_OVERWRITES && !is_screening(&check_type) && world.validated.contains(id) {
        return err(422, "invalid_check_update", "The check outcome was already validated", None);
    }
    let screening = is_screening(&check_type);
    if screening
        && !assumptions::VALIDATE_AFTER_MATCH_CONFIRMED
        && check["result"]["outcome"] == assumptions::MATCH_CONFIRMED
    {
        return err(422, "invalid_check_update", "A match of this check is already confirmed", None);
    }
    let match_id = req.get("matchId").and_then(Value::as_str);
    let now = iso(Utc::now());
    let check = &mut world.checks[index];
    if screening {
        let Some(match_id) = match_id else {
            return err(400, "invalid_request", "matchId is required for screening checks", Some("matchId"));
        };
        let Some(matches) = check["result"]["breakdown"]["matches"].as_array_mut() else {
            return err(400, "invalid_request", &format!("Invalid match id '{match_id}'"), Some("matchId"));
        };
        let Some(m) = matches.iter_mut().find(|m| m["id"] == match_id) else {
            return err(400, "invalid_request", &format!("Invalid match id '{match_id}'"), Some("matchId"));
        };
        // Which way each match went stays on the match (assumed), and the other matches
        // of a `match_confirmed` check can still be validated.
        m[assumptions::MATCH_RESOLUTION] = json!(outcome);
        let resolutions: Vec<Option<&str>> =
            matches.iter().map(|m| m[assumptions::MATCH_RESOLUTION].as_str()).collect();
        let new_outcome = if resolutions.contains(&Some(assumptions::RESOLVED_TRUE_MATCH)) {
            assumptions::MATCH_CONFIRMED
        } else if resolutions.iter().all(|r| *r == Some(assumptions::RESOLVED_FALSE_POSITIVE)) {
            "clear"
        } else {
            "attention"
        };
        check["result"]["outcome"] = json!(new_outcome);
    } else {
        if match_id.is_some() {
            return err(400, "invalid_request", "matchId is only allowed for screening checks", Some("matchId"));
        }
        let new_outcome = match outcome.as_str() {
            "confirmed" => "clear",
            "rejected" => "rejected",
            _ => "attention",
        };
        check["result"]["outcome"] = json!(new_outcome);
        world.validated.insert(id.to_string());
    }
    check["updatedAt"] = json!(now);
    let answered =
        if assumptions::VALIDATE_ECHOES_OUTCOME { json!(outcome) } else { check["result"]["outcome"].clone() };
    Answer::json(200, json!({"outcome": answered}))
}

impl Recorded {
    /// Credentials never reach the control API.
    pub fn redact_header(name: &str, value: &str) -> String {
        match name.to_ascii_lowercase().as_str() {
            "authorization" | "x-api-key" | "api_key" | "x-app-token" | "x-app-access-sig" => "[redacted]".into(),
            _ => value.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic_and_mixed() {
        let a = seed_world(42, 12, super::super::seeded_at());
        let b = seed_world(42, 12, super::super::seeded_at());
        assert_eq!(a.checks, b.checks);
        let referred = a.checks.iter().filter(|c| c["result"]["outcome"] == "attention").count();
        assert_eq!(referred, 12);
        let types: std::collections::BTreeSet<&str> = a.checks.iter().filter_map(|c| c["type"].as_str()).collect();
        assert!(
            types.contains("identity_check")
                && types.contains("document_check")
                && types.contains("standard_screening_check")
        );
        assert!(a.checks.iter().any(|c| c["status"] == "pending"));
    }
}
