//! Validation against FrankieOne's official OpenAPI documents, with the documented spec
//! defects (`frankieone.md` §11) handled by the explicit patch list below. The files carry
//! no licence, so they are never copied into this repository: they are read from
//! `$KYCDESK_FRANKIEONE_SPECS`, by default `../shared/specs/frankieone`.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

pub struct Spec {
    docs: Vec<Value>,
    validators: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

const FILES: [&str; 2] = ["frankieOneKYCV2.json", "frankieOneCoreV2.json"];

pub fn spec_dir() -> PathBuf {
    std::env::var_os("KYCDESK_FRANKIEONE_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/specs/frankieone"))
}

/// The patch list: each item is a documented defect, fixed in memory only.
fn patch(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    // 1. `manualStatus` is an allOf of disjoint enums, so nothing validates; it is meant
    //    as "one of these", and the Fraud enum is missing from the list.
    if let Some(s) = schemas.get_mut("Process-Result-Manual-StatusEnum")
        && let Some(parts) = s.get("allOf").cloned()
    {
        let mut any = parts.as_array().cloned().unwrap_or_default();
        any.push(json!({"$ref": "#/components/schemas/Process-Result-Manual-StatusEnum-Fraud"}));
        *s = json!({"anyOf": any});
    }
    // 2. The IDV discriminator values are missing from the `type` enum, and the oneOf
    //    branches do not pin `type`: dispatch on the discriminator instead.
    if let Some(e) = schemas.pointer_mut("/Supplementary-Data-Base/properties/type/enum").and_then(Value::as_array_mut)
    {
        for t in ["IDV_DOCUMENT", "IDV_FACIAL_COMPARISON", "IDV_FACIAL_LIVENESS", "IDV_OCR", "IDV_OCR_COMPARISON"] {
            if !e.iter().any(|v| v == t) {
                e.push(json!(t));
            }
        }
    }
    if let Some(sd) = schemas.get_mut("Supplementary-Data")
        && let Some(mapping) = sd.pointer("/discriminator/mapping").and_then(Value::as_object).cloned()
    {
        let dispatch: Vec<Value> = mapping
            .iter()
            .map(|(t, r)| json!({"if": {"properties": {"type": {"const": t}}, "required": ["type"]}, "then": {"$ref": r}}))
            .collect();
        *sd = json!({"type": "object", "required": ["type"], "allOf": dispatch});
    }
    // 3. Search `matches` is declared as an array of arrays; a flat list is accepted too.
    if let Some(items) = doc.pointer_mut(
        "/paths/~1v2~1search~1serviceprofiles/post/responses/200/content/application~1json/schema/properties/matches/items",
    ) {
        *items = json!({"anyOf": [{"$ref": "#/components/schemas/Search-Matches"}, {"$ref": "#/components/schemas/Search-Match"}]});
    }
    // 4. Example typos (`"AUTH-0002,"`): examples are never used as fixtures here.
    // 5. Formats (`format: "UUID"`, ULIDs under `format: uuid`) are not asserted: see
    //    `should_validate_formats(false)` below.
    // 6. An attachment read with `level=meta` leaves `data` out (documented, §6), though
    //    the schema requires it.
    if let Some(req) = doc.pointer_mut("/components/schemas/Document-Attachment/required").and_then(Value::as_array_mut)
    {
        req.retain(|r| r != "data");
    }
}

impl Spec {
    /// `None` (and a plain message) when the spec files are not there.
    pub fn load() -> Option<Self> {
        let dir = spec_dir();
        let mut docs = vec![];
        for f in FILES {
            let Ok(text) = std::fs::read_to_string(dir.join(f)) else {
                eprintln!(
                    "FrankieOne specs not found at {}: spec validation SKIPPED (set KYCDESK_FRANKIEONE_SPECS)",
                    dir.display()
                );
                return None;
            };
            let Ok(mut doc) = serde_json::from_str::<Value>(&text) else {
                eprintln!("{f} is not JSON: spec validation SKIPPED");
                return None;
            };
            patch(&mut doc);
            docs.push(doc);
        }
        Some(Self { docs, validators: Mutex::new(HashMap::new()) })
    }

    /// The operation (and its document) for a concrete method and path.
    fn operation(&self, method: &str, path: &str) -> Option<(usize, String, &Value)> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        for (i, doc) in self.docs.iter().enumerate() {
            for (template, ops) in doc["paths"].as_object()? {
                let t: Vec<&str> = template.trim_matches('/').split('/').collect();
                let same = t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(a, b)| (a.starts_with('{') && a.ends_with('}')) || a == b);
                if let Some(op) = ops.get(method.to_lowercase()).filter(|_| same) {
                    return Some((i, format!("{method} {template}"), op));
                }
            }
        }
        None
    }

    fn validate(&self, doc: usize, key: String, schema: &Value, instance: &Value) -> Result<(), String> {
        let validator = {
            let mut cache = self.validators.lock().map_err(|e| e.to_string())?;
            match cache.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let mut root = schema.clone();
                    if let Some(o) = root.as_object_mut() {
                        o.insert("components".into(), self.docs[doc]["components"].clone());
                    }
                    let v = jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft7)
                        .should_validate_formats(false)
                        .build(&root)
                        .map_err(|e| format!("{key}: schema does not compile: {e}"))?;
                    let v = std::sync::Arc::new(v);
                    cache.insert(key.clone(), v.clone());
                    v
                }
            }
        };
        let errors: Vec<String> =
            validator.iter_errors(instance).take(5).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(format!("{key}: {}", errors.join("; "))) }
    }

    pub fn check_request(&self, method: &str, path: &str, body: &Value) -> Result<(), String> {
        let (doc, key, op) = self.operation(method, path).ok_or(format!("{method} {path} is not in the spec"))?;
        match op.pointer("/requestBody/content/application~1json/schema") {
            Some(schema) => self.validate(doc, format!("request {key}"), schema, body),
            None if body.is_null() => Ok(()),
            None => Err(format!("{key} takes no body, but one was sent")),
        }
    }

    pub fn check_response(&self, method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
        let (doc, key, op) = self.operation(method, path).ok_or(format!("{method} {path} is not in the spec"))?;
        let response = op["responses"].get(status.to_string()).or_else(|| op["responses"].get("default"));
        let Some(response) = response else { return Err(format!("{key} does not document status {status}")) };
        let response = match response.get("$ref").and_then(Value::as_str) {
            Some(r) => self.docs[doc].pointer(r.trim_start_matches('#')).unwrap_or(response),
            None => response,
        };
        match response.pointer("/content/application~1json/schema") {
            Some(schema) => self.validate(doc, format!("response {status} {key}"), schema, body),
            None => Ok(()),
        }
    }
}
