//! Credas CI API v2 adapter (`shared/providers/credas.md`).

pub mod assumptions;
mod mapping;
pub mod wire;

use super::http::{HttpSettings, ProviderHttp};
use super::{
    CallLog, ErrorParts, MediaBytes, PendingScan, Provider, ProviderError, Reconciled, SharedHeader, WebhookError,
    WebhookEvent, check_codes, check_reason, check_shared_header, logged_call,
};
use crate::domain::{
    Capabilities, Case, CaseRef, Decision, MediaRef, ProviderId, Receipt, SafeText, TargetId, Verdict,
};
use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

pub use mapping::{case_key, split_key};

const ID: ProviderId = ProviderId::Credas;

pub struct CredasSettings {
    /// Call time and attempt timeout, the same for every provider.
    pub limits: crate::providers::http::CallLimits,
    pub base_url: String,
    pub api_key: SecretString,
    pub webhook_header: Option<SharedHeader>,
}

pub struct Credas {
    http: ProviderHttp,
    capabilities: Capabilities,
    webhook_header: Option<SharedHeader>,
    /// The image endpoint answers all of an entry's images at once; the selfie and both
    /// document sides are asked for together, so the answer is kept for the next asks
    /// (a few entries, in memory only).
    images: tokio::sync::Mutex<lru::LruCache<String, Arc<Vec<wire::Image>>>>,
}

/// Entries whose images are kept: the open case and the ones prefetched around it.
const IMAGE_SETS_KEPT: usize = 4;

fn guid(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        Ok(id)
    } else {
        Err(ProviderError::Decode { provider: ID, detail: format!("'{}' is not a Credas id", SafeText::new(id)) })
    }
}

/// Error bodies are undocumented: the status decides, the raw text explains.
fn error_parts(body: &[u8]) -> ErrorParts {
    let text = String::from_utf8_lossy(body).trim().to_string();
    ErrorParts { kind: None, message: Some(text), param: None }
}

/// One call a decision makes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCall {
    pub path: String,
    pub body: serde_json::Value,
}

/// The calls a verdict means for the chosen elements: `credas.md` §7.3, in one place.
/// Supporting documents go together in one review call.
pub fn plan_decision(
    entity: &str,
    entry: &str,
    elements: &[String],
    verdict: Verdict,
    reason: &str,
) -> Result<Vec<PlannedCall>, ProviderError> {
    let (action, result) = match verdict {
        Verdict::Verify => ("verify", assumptions::MANUAL_PASS),
        Verdict::Reject => ("reject", assumptions::MANUAL_FAIL),
        Verdict::Refer => ("refer", assumptions::MANUAL_REFER),
        other => {
            return Err(ProviderError::Refused { provider: ID, reason: format!("Credas has no '{}'", other.label()) });
        }
    };
    let base = format!("entities/{entity}/idv-entries/{entry}");
    let reason_body = serde_json::json!({ assumptions::REASON_FIELD: reason });
    let mut calls = vec![];
    let mut supporting = vec![];
    for element in elements {
        match element.split_once(':') {
            None if element == mapping::LIVENESS => {
                calls.push(PlannedCall { path: format!("{base}/{action}-liveness"), body: reason_body.clone() })
            }
            Some(("document", doc)) => calls.push(PlannedCall {
                path: format!("{base}/id-document/{}/{action}", guid(doc)?),
                body: reason_body.clone(),
            }),
            Some(("supporting", id)) => supporting.push(wire::SupportingReview {
                id: guid(id)?.to_string(),
                result,
                comments: reason.to_string(),
            }),
            _ => {
                return Err(ProviderError::Refused {
                    provider: ID,
                    reason: format!("unknown Credas element '{}'", SafeText::new(element)),
                });
            }
        }
    }
    if !supporting.is_empty() {
        calls.push(PlannedCall {
            path: format!("{base}/{}/review", assumptions::SUPPORTING_REVIEW_SEGMENT),
            body: serde_json::to_value(&supporting).unwrap_or_default(),
        });
    }
    Ok(calls)
}

impl Credas {
    pub fn new(settings: CredasSettings) -> Result<Self, ProviderError> {
        let http = ProviderHttp::new(
            ID,
            &settings.base_url,
            vec![(HeaderName::from_static("x-api-key"), settings.api_key.expose_secret().to_string())],
            // No documented limit: stay gentle, and wait out a 429 should one come.
            HttpSettings {
                requests_per_second: 10,
                backoff_initial: Duration::from_secs(2),
                ..HttpSettings::from(settings.limits)
            },
        )?;
        Ok(Self {
            http,
            capabilities: Capabilities {
                native_verdicts: vec![Verdict::Verify, Verdict::Reject, Verdict::Refer],
                reject_reasons: vec![],
                max_reason_chars: assumptions::MAX_REASON_CHARS,
                idempotency_keys: false,
                lists_pending: false,
                reason_kept_locally: vec![],
                codes_required: vec![],
            },
            webhook_header: settings.webhook_header,
            images: tokio::sync::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(IMAGE_SETS_KEPT).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ProviderError> {
        self.http.get_json(path, what, error_parts).await
    }

    /// The entity's summary; an answer naming another entity is an error.
    pub async fn summary(&self, entity: &str) -> Result<wire::Summary, ProviderError> {
        let summary: wire::Summary = self.get(&format!("entities/{}/summary", guid(entity)?), "entity").await?;
        super::answer_is_for(ID, "entity", entity, Some(&summary.id))?;
        Ok(summary)
    }

    fn parts(case_ref: &CaseRef) -> Result<(&str, &str), ProviderError> {
        let (entity, entry) = split_key(&case_ref.key)
            .ok_or_else(|| ProviderError::Decode { provider: ID, detail: "a Credas case is entity/entry".into() })?;
        Ok((guid(entity)?, guid(entry)?))
    }

    async fn entry(&self, case_ref: &CaseRef) -> Result<(wire::Summary, wire::IdentityVerification), ProviderError> {
        let (entity, entry) = Self::parts(case_ref)?;
        let summary = self.summary(entity).await?;
        let found = summary
            .identity_verifications
            .iter()
            .find(|v| v.entry_id == entry)
            .cloned()
            .ok_or_else(|| ProviderError::NotFound { provider: ID, what: "IDV entry".into() })?;
        Ok((summary, found))
    }

    /// An entry's images, fetched once for the asks that come together. Holding the lock
    /// across the fetch makes concurrent asks for the same entry wait for one request.
    async fn images(&self, entity: &str, entry: &str) -> Result<Arc<Vec<wire::Image>>, ProviderError> {
        let mut kept = self.images.lock().await;
        if let Some(images) = kept.get(entry) {
            return Ok(Arc::clone(images));
        }
        let images = match self.get(&assumptions::images_path(guid(entity)?, guid(entry)?), "images").await {
            Ok(images) => Arc::new(images),
            Err(ProviderError::NotFound { .. }) => Arc::new(vec![]),
            Err(e) => return Err(e),
        };
        kept.put(entry.to_string(), Arc::clone(&images));
        Ok(images)
    }
}

#[async_trait]
impl Provider for Credas {
    fn id(&self) -> ProviderId {
        ID
    }

    fn http(&self) -> &ProviderHttp {
        &self.http
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn case(&self, case_ref: &CaseRef) -> Result<Case, ProviderError> {
        let (entity_id, _) = Self::parts(case_ref)?;
        // None of the three needs another's answer: one round trip.
        let entity_path = format!("entities/{entity_id}");
        let entity = self.get::<wire::Entity>(&entity_path, "entity");
        let checks = async {
            let path = format!("entities/{entity_id}/active-checks");
            Ok(self.get::<Vec<wire::ActiveCheck>>(&path, "active checks").await.unwrap_or_default())
        };
        let (entity, (summary, entry), checks) = futures::try_join!(entity, self.entry(case_ref), checks)?;
        super::answer_is_for(ID, "entity", entity_id, Some(&entity.id))?;
        // The image endpoint is undocumented: images are offered, and a 404 on it shows
        // as "no image" in their panes.
        Ok(mapping::case(&entity, &summary, &entry, &checks, true))
    }

    async fn media(&self, media: &MediaRef) -> Result<MediaBytes, ProviderError> {
        let mut parts = media.key.splitn(3, '/');
        let (Some(entity), Some(entry), Some(kind)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ProviderError::Decode { provider: ID, detail: "unknown media reference".into() });
        };
        let images = self.images(entity, entry).await?;
        let image = images
            .iter()
            .find(|i| i.kind.as_deref() == Some(kind))
            .and_then(|i| i.base64_image.as_deref())
            .ok_or_else(|| ProviderError::NotFound { provider: ID, what: "image".into() })?;
        MediaBytes::from_base64(ID, image)
    }

    fn check_decision(&self, decision: &Decision) -> Result<(), ProviderError> {
        check_reason(ID, &decision.reason, assumptions::MAX_REASON_CHARS)?;
        if !matches!(decision.verdict, Verdict::Verify | Verdict::Reject | Verdict::Refer) {
            return Err(ProviderError::Refused {
                provider: ID,
                reason: format!("Credas has no '{}'", decision.verdict.label()),
            });
        }
        // Only `reason` / `comments` text goes to Credas: a code would be dropped.
        if assumptions::REASON_CODES_CARRIED {
            return Ok(());
        }
        check_codes(ID, decision.verdict, &decision.reason_codes, &[])
    }

    async fn decide(&self, decision: &Decision, log: &dyn CallLog) -> Result<Receipt, ProviderError> {
        self.check_decision(decision)?;
        let (entity, entry_id) = Self::parts(&decision.case_ref)?;
        // Re-read: only elements still awaiting review are sent, so a retry after a
        // partial failure sends what is left.
        let (_, entry) = self.entry(&decision.case_ref).await?;
        let referred = mapping::referred_elements(&entry);
        let elements = match &decision.target {
            TargetId::Case => referred,
            TargetId::Element(key) if referred.contains(key) => vec![key.clone()],
            TargetId::Element(_) => vec![],
            TargetId::Hit(_) => {
                return Err(ProviderError::Refused {
                    provider: ID,
                    reason: "Credas screening hits are read-only".into(),
                });
            }
        };
        let calls = plan_decision(entity, entry_id, &elements, decision.verdict, &decision.reason)?;
        let mut records = vec![];
        for call in calls {
            let body = serde_json::to_vec(&call.body)
                .map_err(|e| ProviderError::Refused { provider: ID, reason: format!("cannot encode request: {e}") })?;
            let shown = format!("/api/v2/ci/{}", call.path);
            records.push(
                logged_call(
                    &self.http,
                    log,
                    Method::PUT,
                    &call.path,
                    shown,
                    Some(body),
                    "IDV entry element",
                    error_parts,
                )
                .await?,
            );
        }
        Ok(Receipt { calls: records, escalate: decision.verdict == Verdict::Refer })
    }

    async fn reconcile(&self, decision: &Decision) -> Result<Reconciled, ProviderError> {
        let (_, entry) = self.entry(&decision.case_ref).await?;
        let remaining = mapping::referred_elements(&entry);
        Ok(match (&decision.target, decision.verdict) {
            // A refer leaves elements referred, applied or not.
            (_, Verdict::Refer) => Reconciled::CannotTell,
            (TargetId::Case, _) => remaining.is_empty().into(),
            (TargetId::Element(key), _) => (!remaining.contains(key)).into(),
            // Hits are read-only: no call was made.
            (TargetId::Hit(_), _) => Reconciled::NotApplied,
        })
    }

    fn webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        check_shared_header(headers, self.webhook_header.as_ref(), assumptions::WEBHOOK_AUTH_REQUIRED)?;
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        let delivery_id = super::body_digest(body);
        // Process webhooks (`ProcessId`, `Status`) name no entity: nothing to queue.
        if value.get("UpdateType").is_none() {
            return Ok(WebhookEvent { delivery_id, cases: vec![] });
        }
        let update: wire::ResultStatusUpdate = serde_json::from_value(value)
            .map_err(|e| WebhookError::Malformed(format!("not a Credas result status update: {e}")))?;
        // `Payload` is JSON inside a string: parsed twice.
        let payload: serde_json::Value = serde_json::from_str(&update.payload)
            .map_err(|e| WebhookError::Malformed(format!("Payload is not JSON: {e}")))?;
        let entity = payload
            .get(assumptions::PAYLOAD_ENTITY)
            .and_then(|e| e.as_str())
            .ok_or_else(|| WebhookError::Malformed("Payload has no EntityId".into()))?;
        if guid(entity).is_err() {
            return Err(WebhookError::Malformed("EntityId is not a Credas id".into()));
        }
        Ok(WebhookEvent { delivery_id, cases: vec![CaseRef::new(ID, entity)] })
    }

    /// The hint is an entity: every IDV entry of it is queued or settled.
    async fn refresh(&self, hint: &CaseRef) -> Result<PendingScan, ProviderError> {
        let summary = self.summary(&hint.key).await?;
        let (referred, settled) = mapping::queue_entries(&summary);
        PendingScan { referred, settled, ..PendingScan::default() }.only_for(hint)
    }
}

/// Fuzzing hook (`fuzz/`): an entity, summary and checks from arbitrary JSON through the
/// mapping.
#[cfg(fuzzing)]
pub fn fuzz_mapping(data: &[u8]) -> Option<Case> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let entity: wire::Entity = serde_json::from_value(v.get("entity")?.clone()).ok()?;
    let summary: wire::Summary = serde_json::from_value(v.get("summary")?.clone()).ok()?;
    let checks: Vec<wire::ActiveCheck> =
        v.get("checks").cloned().and_then(|x| serde_json::from_value(x).ok()).unwrap_or_default();
    let _ = mapping::queue_entries(&summary);
    let entry = summary.identity_verifications.first()?;
    Some(mapping::case(&entity, &summary, entry, &checks, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_case_verdict_covers_each_element_with_supporting_documents_together() -> Result<(), ProviderError> {
        let elements = vec![
            "liveness".to_string(),
            "document:0f0f0f0f-0000-0000-0000-000000000001".to_string(),
            "supporting:0f0f0f0f-0000-0000-0000-000000000002".to_string(),
            "supporting:0f0f0f0f-0000-0000-0000-000000000003".to_string(),
        ];
        let calls = plan_decision("e", "n", &elements, Verdict::Reject, "Forged bill.")?;
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].path, "entities/e/idv-entries/n/reject-liveness");
        assert_eq!(calls[0].body, serde_json::json!({"reason": "Forged bill."}));
        assert_eq!(calls[1].path, "entities/e/idv-entries/n/id-document/0f0f0f0f-0000-0000-0000-000000000001/reject");
        assert_eq!(calls[2].path, "entities/e/idv-entries/n/non-biometic-documents/review");
        assert_eq!(calls[2].body.as_array().map(Vec::len), Some(2));
        assert_eq!(calls[2].body[0]["result"], 5);
        assert_eq!(calls[2].body[0]["comments"], "Forged bill.");
        assert!(plan_decision("e", "n", &elements, Verdict::Resubmit, "x").is_err());
        Ok(())
    }

    #[test]
    fn sends_say_which_calls_go_and_codes_are_refused() {
        let text = |elements: &[&str], v: Verdict| {
            let elements: Vec<String> = elements.iter().map(|e| e.to_string()).collect();
            mapping::sends(&elements).into_iter().find(|(x, _)| *x == v).map(|(_, t)| t.to_string()).unwrap_or_default()
        };
        let all = ["liveness", "document:d1", "supporting:s1", "supporting:s2"];
        assert_eq!(
            text(&all, Verdict::Verify),
            "verify-liveness, id-document verify, 2 supporting documents ManualPass"
        );
        assert_eq!(
            text(&all, Verdict::Reject),
            "reject-liveness, id-document reject, 2 supporting documents ManualFail"
        );
        assert_eq!(
            text(&all, Verdict::Refer),
            "refer-liveness, id-document refer, 2 supporting documents ManualRefer, and escalated in kycdesk"
        );
        assert_eq!(text(&["supporting:s1"], Verdict::Verify), "1 supporting document ManualPass");
        let credas = Credas::new(CredasSettings {
            limits: Default::default(),
            base_url: "http://127.0.0.1:1/".into(),
            api_key: "k".to_string().into(),
            webhook_header: None,
        });
        let Ok(credas) = credas else { return };
        let mut d = Decision {
            id: "d".into(),
            case_ref: CaseRef::new(ID, "e/n"),
            target: TargetId::Case,
            verdict: Verdict::Reject,
            reason: "Forged bill.".into(),
            reason_codes: vec![],
            analyst: "ana".into(),
            created_at: chrono::Utc::now(),
        };
        assert!(credas.check_decision(&d).is_ok());
        d.reason_codes = vec!["FORGERY".into()];
        let message = credas.check_decision(&d).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("Credas takes no reason codes with Reject"), "{message}");
    }
}
