//! ComplyCube adapter (`shared/providers/complycube.md`).

pub mod assumptions;
mod mapping;
pub mod wire;

use super::http::{HttpSettings, ProviderHttp};
use super::{
    CallLog, ErrorParts, MediaBytes, PendingScan, Provider, ProviderError, Reconciled, WebhookError, WebhookEvent,
    check_codes, check_reason, logged_call,
};
use crate::domain::{
    CallRecord, Capabilities, Case, CaseRef, Decision, MediaRef, ProviderId, ReasonCode, Receipt, SafeText, TargetId,
    Verdict,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::time::Duration;

const ID: ProviderId = ProviderId::ComplyCube;

/// `rejectionReasons` accepted on `document_check` (documented).
pub const REJECTION_REASONS: [ReasonCode; 6] = [
    ReasonCode { code: "document_appears_fake", label: "Document appears fake" },
    ReasonCode { code: "document_has_expired", label: "Document has expired" },
    ReasonCode { code: "document_is_specimen", label: "Document is a specimen" },
    ReasonCode { code: "document_is_blacklisted", label: "Document is blacklisted" },
    ReasonCode { code: "document_age_below_threshold", label: "Holder below age threshold" },
    ReasonCode { code: "document_misread", label: "Document misread" },
];

pub fn is_screening(check_type: &str) -> bool {
    matches!(check_type, "standard_screening_check" | "extensive_screening_check")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyMode {
    /// Test keys are limited to 5 requests per second.
    #[default]
    Test,
    /// Live keys to 10.
    Live,
}

pub struct ComplyCubeSettings {
    /// Call time and attempt timeout, the same for every provider.
    pub limits: crate::providers::http::CallLimits,
    pub base_url: String,
    pub api_key: SecretString,
    pub mode: KeyMode,
    pub backoff_initial: Duration,
    /// Signing secret of the webhooks; without it every webhook is refused.
    pub webhook_secret: Option<SecretString>,
}

pub struct ComplyCube {
    http: ProviderHttp,
    capabilities: Capabilities,
    webhook_secret: Option<SecretString>,
}

/// Lowercase hex HMAC-SHA256 of the raw body: ComplyCube's webhook signature.
pub fn webhook_signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    // HMAC takes keys of any length, so this never falls back to the empty string.
    <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .map(|mut mac| {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default()
}

/// Check and client events name the check to re-read; both spellings of the event names
/// (`check.complete*`, `check.completed*`) are accepted.
#[derive(serde::Deserialize)]
struct WebhookBody {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

/// One validate call the adapter will make for a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCall {
    pub check_id: String,
    pub body: wire::ValidateRequest,
}

/// Which calls a decision means for a check of this type and these matches: the
/// verdict mapping of `complycube.md` §7.1, in one place.
pub fn plan_decision(check: &wire::Check, decision: &Decision) -> Result<(Vec<PlannedCall>, bool), ProviderError> {
    let refuse = |reason: String| ProviderError::Refused { provider: ID, reason };
    let check_type = check.check_type.as_deref().unwrap_or_default();
    let comment = Some(decision.reason.clone()).filter(|r| !r.is_empty());
    let call = |outcome: &str, match_id: Option<String>, reasons: Option<Vec<String>>| PlannedCall {
        check_id: check.id.clone(),
        body: wire::ValidateRequest {
            outcome: outcome.to_string(),
            match_id,
            rejection_reasons: reasons,
            comment: comment.clone(),
        },
    };
    if is_screening(check_type) {
        if !decision.reason_codes.is_empty() {
            return Err(refuse("a screening check takes no rejection reasons".into()));
        }
        let match_ids = mapping::match_ids(check);
        return match (&decision.target, decision.verdict) {
            // Clearing the applicant means dismissing every hit as a false positive.
            // Only the hits nobody has decided: a confirmed true match stays confirmed.
            // With every hit decided already (a resend after a partial delivery) there
            // is nothing left to send.
            (TargetId::Case, Verdict::Verify) => {
                if match_ids.is_empty() {
                    return Err(refuse("this screening check has no matches to dismiss".into()));
                }
                let undecided = mapping::undecided_matches(check).ok_or_else(|| {
                    refuse(
                        "a match of this check is confirmed but ComplyCube does not say which; decide the hits one by one"
                            .into(),
                    )
                })?;
                Ok((
                    undecided
                        .into_iter()
                        .map(|id| call(assumptions::RESOLVED_FALSE_POSITIVE, Some(id), None))
                        .collect(),
                    false,
                ))
            }
            (TargetId::Case, Verdict::Refer) => Ok((vec![], true)),
            (TargetId::Hit(id), Verdict::TrueMatch | Verdict::FalsePositive) => {
                if !match_ids.contains(id) {
                    return Err(refuse(format!("the check has no match '{}'", SafeText::new(id))));
                }
                let outcome = if decision.verdict == Verdict::TrueMatch {
                    assumptions::RESOLVED_TRUE_MATCH
                } else {
                    assumptions::RESOLVED_FALSE_POSITIVE
                };
                Ok((vec![call(outcome, Some(id.clone()), None)], false))
            }
            (target, verdict) => Err(refuse(format!(
                "a screening check takes Verify or Refer on the case, or True match / False positive on a hit; not {} on {target:?}",
                verdict.label()
            ))),
        };
    }
    if decision.target != TargetId::Case {
        return Err(refuse("a document or identity check is decided as a whole".into()));
    }
    let is_document_check = check_type == "document_check";
    let codes_apply = is_document_check && decision.verdict == Verdict::Reject;
    if !codes_apply && !decision.reason_codes.is_empty() {
        return Err(refuse("rejection reasons apply to rejecting a document check only".into()));
    }
    for code in &decision.reason_codes {
        if !REJECTION_REASONS.iter().any(|r| r.code == code) {
            return Err(refuse(format!("'{}' is not a ComplyCube rejection reason", SafeText::new(code))));
        }
    }
    match decision.verdict {
        Verdict::Verify => Ok((vec![call("confirmed", None, None)], false)),
        Verdict::Reject => {
            let reasons = Some(decision.reason_codes.clone()).filter(|r| !r.is_empty());
            Ok((vec![call("rejected", None, reasons)], false))
        }
        // The provider records who referred it and why; kycdesk escalates it locally too.
        Verdict::Refer => Ok((vec![call("attention", None, None)], true)),
        other => Err(refuse(format!("ComplyCube has no '{}' for this check", other.label()))),
    }
}

impl ComplyCube {
    pub fn new(settings: ComplyCubeSettings) -> Result<Self, ProviderError> {
        let requests_per_second = match settings.mode {
            KeyMode::Test => assumptions::TEST_KEY_RPS,
            KeyMode::Live => assumptions::LIVE_KEY_RPS,
        };
        let http = ProviderHttp::new(
            ID,
            &settings.base_url,
            // The raw key, no scheme (documented).
            vec![(AUTHORIZATION, settings.api_key.expose_secret().to_string())],
            HttpSettings {
                requests_per_second,
                backoff_initial: settings.backoff_initial,
                ..HttpSettings::from(settings.limits)
            },
        )?;
        let capabilities = Capabilities {
            native_verdicts: vec![
                Verdict::Verify,
                Verdict::Reject,
                Verdict::Refer,
                Verdict::TrueMatch,
                Verdict::FalsePositive,
            ],
            reject_reasons: REJECTION_REASONS.to_vec(),
            max_reason_chars: assumptions::MAX_COMMENT_CHARS,
            idempotency_keys: false,
            lists_pending: true,
            reason_kept_locally: vec![],
            codes_required: vec![],
        };
        Ok(Self { http, capabilities, webhook_secret: settings.webhook_secret })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ProviderError> {
        self.http.get_json(path, what, error_parts).await
    }

    /// The check `id`; an answer naming another check is an error, so nothing read
    /// from a response can redirect a decision to another case.
    pub async fn check(&self, id: &str) -> Result<wire::Check, ProviderError> {
        let check: wire::Check = self.get(&format!("checks/{}", path_segment(id)?), "check").await?;
        if check.id != id {
            return Err(ProviderError::Decode {
                provider: ID,
                detail: format!("asked for check {id}, the answer is for '{}'", SafeText::new(&check.id)),
            });
        }
        Ok(check)
    }

    async fn validate(&self, call: &PlannedCall, log: &dyn CallLog) -> Result<CallRecord, ProviderError> {
        let body = serde_json::to_vec(&call.body)
            .map_err(|e| ProviderError::Refused { provider: ID, reason: format!("cannot encode request: {e}") })?;
        let path = format!("checks/{}/validate", path_segment(&call.check_id)?);
        let shown = format!("/v1/{path}");
        logged_call(&self.http, log, Method::POST, &path, shown, Some(body), "check", error_parts).await
    }
}

/// `{type, message, param}` (documented).
fn error_parts(body: &[u8]) -> ErrorParts {
    let e: wire::ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    ErrorParts { kind: e.kind, message: e.message, param: e.param }
}

/// Ids go into URL paths; anything but a plain id is refused rather than escaped.
fn path_segment(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(id)
    } else {
        Err(ProviderError::Decode { provider: ID, detail: format!("'{}' is not a ComplyCube id", SafeText::new(id)) })
    }
}

#[async_trait]
impl Provider for ComplyCube {
    fn id(&self) -> ProviderId {
        ID
    }

    fn http(&self) -> &ProviderHttp {
        &self.http
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn pending(&self, since: Option<DateTime<Utc>>) -> Result<PendingScan, ProviderError> {
        let mut scan = PendingScan { watermark: since, ..PendingScan::default() };
        let mut page = assumptions::FIRST_PAGE;
        let window =
            since.map(|t| format!("&updatedAfter={}", t.format(assumptions::TIME_FILTER_FORMAT))).unwrap_or_default();
        loop {
            let path = format!("checks?page={page}&pageSize={}{window}", assumptions::LIST_PAGE_SIZE);
            let listing: wire::Page<wire::Check> = self.get(&path, "check list").await?;
            for check in &listing.items {
                if let Some(updated) = check.updated_at.as_deref().and_then(mapping::parse_time) {
                    scan.watermark = Some(scan.watermark.map_or(updated, |w| w.max(updated)));
                }
                match mapping::queue_entry(check) {
                    Some(entry) => scan.referred.push(entry),
                    None => scan.settled.push(CaseRef::new(ID, check.id.clone())),
                }
            }
            let last = listing.pages.unwrap_or(page).min(super::MAX_PAGES);
            if page >= last || listing.items.is_empty() {
                break;
            }
            page += 1;
        }
        Ok(scan.checked())
    }

    async fn case(&self, case_ref: &CaseRef) -> Result<Case, ProviderError> {
        let check = self.check(&case_ref.key).await?;
        // What the check names is read side by side: one round trip after the check's.
        let client = async {
            match check.client_id.as_deref() {
                Some(id) => {
                    self.get::<wire::Client>(&format!("clients/{}", path_segment(id)?), "client").await.map(Some)
                }
                None => Ok(None),
            }
        };
        let document = async {
            match check.document_id.as_deref() {
                Some(id) => {
                    self.get::<wire::Document>(&format!("documents/{}", path_segment(id)?), "document").await.map(Some)
                }
                None => Ok(None),
            }
        };
        let live_photo = async {
            match check.live_photo_id.as_deref() {
                Some(id) => self
                    .get::<wire::LivePhoto>(&format!("livePhotos/{}", path_segment(id)?), "live photo")
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let (client, document, live_photo) = futures::try_join!(client, document, live_photo)?;
        Ok(mapping::case(&check, client.as_ref(), document.as_ref(), live_photo.as_ref()))
    }

    async fn media(&self, media: &MediaRef) -> Result<MediaBytes, ProviderError> {
        let path = mapping::download_path(&media.key)
            .ok_or_else(|| ProviderError::Decode { provider: ID, detail: "unknown media reference".into() })?;
        let download: wire::Download = self.get(&path, "image").await?;
        // `contentType` can be `images/jpg`; the bytes decide.
        MediaBytes::from_base64(ID, &download.data)
    }

    fn check_decision(&self, decision: &Decision) -> Result<(), ProviderError> {
        check_reason(ID, &decision.reason, assumptions::MAX_COMMENT_CHARS)?;
        let refuse = |reason: &str| Err(ProviderError::Refused { provider: ID, reason: reason.into() });
        match (&decision.target, decision.verdict) {
            (TargetId::Case, Verdict::Verify | Verdict::Reject | Verdict::Refer) => {}
            (TargetId::Hit(_), Verdict::TrueMatch | Verdict::FalsePositive) => {}
            (TargetId::Hit(_), _) => return refuse("a screening hit is decided as True match or False positive"),
            (TargetId::Element(_), _) => return refuse("ComplyCube decides a check as a whole, or per screening hit"),
            (TargetId::Case, other) => {
                return Err(ProviderError::Refused {
                    provider: ID,
                    reason: format!("ComplyCube has no '{}' for a check", other.label()),
                });
            }
        }
        // `rejectionReasons` go with rejecting a document check; nothing else takes codes.
        let valid: &[ReasonCode] = if decision.verdict == Verdict::Reject { &REJECTION_REASONS } else { &[] };
        check_codes(ID, decision.verdict, &decision.reason_codes, valid)
    }

    async fn decide(&self, decision: &Decision, log: &dyn CallLog) -> Result<Receipt, ProviderError> {
        self.check_decision(decision)?;
        // Read the check first: its type and matches decide the calls, not what the
        // console last showed.
        let check = self.check(&decision.case_ref.key).await?;
        let (calls, escalate) = plan_decision(&check, decision)?;
        let mut records = Vec::with_capacity(calls.len());
        for call in &calls {
            records.push(self.validate(call, log).await?);
        }
        Ok(Receipt { calls: records, escalate })
    }

    fn webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        use hmac::Mac;
        let secret = self
            .webhook_secret
            .as_ref()
            .ok_or_else(|| WebhookError::Unauthenticated("no ComplyCube webhook secret is configured".into()))?;
        let given = headers
            .get(assumptions::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| hex::decode(v.trim()).ok())
            .ok_or_else(|| WebhookError::Unauthenticated("missing or malformed signature header".into()))?;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| WebhookError::Unauthenticated("unusable secret".into()))?;
        mac.update(body);
        // Constant-time comparison, on the raw bytes as received.
        mac.verify_slice(&given).map_err(|_| WebhookError::Unauthenticated("signature does not match".into()))?;
        let event: WebhookBody = serde_json::from_slice(body)
            .map_err(|e| WebhookError::Malformed(format!("not a ComplyCube event: {e}")))?;
        let check_id = event.payload.as_ref().and_then(|p| p.get("id")).and_then(|id| id.as_str());
        let cases = match check_id {
            Some(id) if event.kind.starts_with("check.") && path_segment(id).is_ok() => vec![CaseRef::new(ID, id)],
            Some(_) if event.kind.starts_with("check.") => {
                return Err(WebhookError::Malformed("payload.id is not a check id".into()));
            }
            _ => vec![],
        };
        Ok(WebhookEvent { delivery_id: event.id, cases })
    }

    async fn refresh(&self, hint: &CaseRef) -> Result<PendingScan, ProviderError> {
        let check = self.check(&hint.key).await?;
        let mut scan = PendingScan::default();
        match mapping::queue_entry(&check) {
            Some(entry) => scan.referred.push(entry),
            None => scan.settled.push(hint.clone()),
        }
        scan.only_for(hint)
    }

    async fn reconcile(&self, decision: &Decision) -> Result<Reconciled, ProviderError> {
        let check = self.check(&decision.case_ref.key).await?;
        let outcome = check.result.as_ref().and_then(|r| r.outcome.as_deref()).unwrap_or_default();
        let screening = is_screening(check.check_type.as_deref().unwrap_or_default());
        Ok(match (screening, &decision.target, decision.verdict) {
            (false, TargetId::Case, Verdict::Verify) => (outcome == "clear").into(),
            (false, TargetId::Case, Verdict::Reject) => (outcome == "rejected").into(),
            // Every hit that was undecided is now decided (a confirmed one stays confirmed).
            (true, TargetId::Case, Verdict::Verify) => {
                (outcome == "clear" || mapping::undecided_matches(&check).is_some_and(|u| u.is_empty())).into()
            }
            // The match says how it was validated (assumed field).
            (true, TargetId::Hit(id), Verdict::TrueMatch) => {
                (mapping::match_resolution(&check, id).as_deref() == Some(assumptions::RESOLVED_TRUE_MATCH)).into()
            }
            (true, TargetId::Hit(id), Verdict::FalsePositive) => {
                (mapping::match_resolution(&check, id).as_deref() == Some(assumptions::RESOLVED_FALSE_POSITIVE)).into()
            }
            // Other outcomes look the same applied or not.
            _ => Reconciled::CannotTell,
        })
    }
}

/// Fuzzing hook (`fuzz/`): a check, client, document and live photo from arbitrary JSON
/// through the mapping; what comes out must be safe text and valid ids.
#[cfg(fuzzing)]
pub fn fuzz_mapping(data: &[u8]) -> Option<Case> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let check: wire::Check = serde_json::from_value(v.get("check")?.clone()).ok()?;
    fn part<T: DeserializeOwned>(v: &serde_json::Value, k: &str) -> Option<T> {
        v.get(k).cloned().and_then(|x| serde_json::from_value(x).ok())
    }
    let (client, document, photo): (Option<wire::Client>, Option<wire::Document>, Option<wire::LivePhoto>) =
        (part(&v, "client"), part(&v, "document"), part(&v, "livePhoto"));
    let _ = mapping::queue_entry(&check).map(|e| e.case_ref.is_valid());
    let _ = mapping::undecided_matches(&check);
    Some(mapping::case(&check, client.as_ref(), document.as_ref(), photo.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn screening_check(matches: serde_json::Value, outcome: &str) -> wire::Check {
        serde_json::from_value(json!({"id":"s1","type":"standard_screening_check","status":"complete",
            "result":{"outcome":outcome,"breakdown":{"matches":matches}}}))
        .unwrap_or_default()
    }

    fn decision(target: TargetId, verdict: Verdict) -> Decision {
        Decision {
            id: "d1".into(),
            case_ref: CaseRef::new(ID, "s1"),
            target,
            verdict,
            reason: "Namesakes.".into(),
            reason_codes: vec![],
            analyst: "ana".into(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn whole_check_verify_dismisses_only_the_undecided_matches() -> Result<(), ProviderError> {
        let c =
            screening_check(json!([{"id":"m1","resolution":"confirmed"},{"id":"m2"},{"id":"m3"}]), "match_confirmed");
        let (calls, escalate) = plan_decision(&c, &decision(TargetId::Case, Verdict::Verify))?;
        assert!(!escalate);
        let ids: Vec<Option<&str>> = calls.iter().map(|c| c.body.match_id.as_deref()).collect();
        assert_eq!(ids, vec![Some("m2"), Some("m3")]);
        assert!(calls.iter().all(|c| c.body.outcome == "rejected"));
        // Unknown which match is confirmed: refused rather than overwriting it.
        let unnamed = screening_check(json!([{"id":"m1"},{"id":"m2"}]), "match_confirmed");
        assert!(matches!(
            plan_decision(&unnamed, &decision(TargetId::Case, Verdict::Verify)),
            Err(ProviderError::Refused { .. })
        ));
        // All decided (a resend after a partial delivery): nothing left to send.
        let done = screening_check(json!([{"id":"m1","resolution":"rejected"}]), "clear");
        assert!(plan_decision(&done, &decision(TargetId::Case, Verdict::Verify))?.0.is_empty());
        Ok(())
    }

    #[test]
    fn reason_codes_outside_the_catalogue_are_refused_with_the_valid_ones() {
        let cc = ComplyCube::new(ComplyCubeSettings {
            limits: Default::default(),
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: "k".to_string().into(),
            mode: KeyMode::Test,
            backoff_initial: Duration::from_millis(1),
            webhook_secret: None,
        });
        let Ok(cc) = cc else { return };
        let mut reject = decision(TargetId::Case, Verdict::Reject);
        reject.reason_codes = vec!["document_has_expired".into()];
        assert!(cc.check_decision(&reject).is_ok());
        reject.reason_codes = vec!["bad_vibes".into()];
        let message = cc.check_decision(&reject).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("'bad_vibes' is not a ComplyCube code for Reject"), "{message}");
        assert!(message.contains("document_has_expired, document_is_specimen"), "{message}");
        let mut verify = decision(TargetId::Case, Verdict::Verify);
        verify.reason_codes = vec!["document_has_expired".into()];
        let message = cc.check_decision(&verify).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("takes no reason codes with Verify"), "{message}");
        assert!(cc.check_decision(&decision(TargetId::Hit("m1".into()), Verdict::Verify)).is_err());
        assert!(cc.check_decision(&decision(TargetId::Case, Verdict::Resubmit)).is_err());
        // Against the target the case offered: an identity check has no reasons to tick.
        let identity: wire::Check = serde_json::from_value(
            json!({"id":"c1","type":"identity_check","status":"complete","result":{"outcome":"attention"}}),
        )
        .unwrap_or_default();
        let case = mapping::case(&identity, None, None, None);
        let mut reject = decision(TargetId::Case, Verdict::Reject);
        reject.reason_codes = vec!["document_has_expired".into()];
        let message = cc.check_decision_on(&reject, &case.targets[0]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("takes no reason codes with Reject"), "{message}");
    }

    #[test]
    fn webhook_signature_matches_the_agreed_vector() {
        // Vector from complycube.md §4.2 (computed, not published by ComplyCube).
        let body = br#"{"id":"evt_001","type":"check.completed","resourceType":"check","payload":{"id":"chk_001"},"createdAt":"2024-01-01T00:00:00.000Z"}"#;
        assert_eq!(
            webhook_signature(b"cc-webhook-secret", body),
            "326feb1996a797ffc7469a9510a2cde55ed808613c3d6db9fcba8d0b26b09098"
        );
    }
}
