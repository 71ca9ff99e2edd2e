//! Sumsub adapter (`shared/providers/sumsub.md`): every request signed over the exact
//! timestamp, method, URI and body bytes.

pub mod assumptions;
mod mapping;
pub mod wire;

use super::http::{HttpSettings, ProviderHttp};
use super::{
    CallLog, ErrorParts, MediaBytes, PendingScan, Provider, ProviderError, Reconciled, WebhookError, WebhookEvent,
    check_codes, check_reason, logged_call,
};
use crate::domain::{
    Capabilities, Case, CaseRef, Decision, MediaRef, ProviderId, ReasonCode, Receipt, SafeText, TargetId, Verdict,
};
use async_trait::async_trait;
use hmac::Mac;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;

const ID: ProviderId = ProviderId::Sumsub;

/// `X-App-Access-Sig`: lowercase hex HMAC-SHA256 over ts + METHOD + URI + body bytes.
pub fn signature(secret: &[u8], ts: &str, method: &str, uri: &str, body: &[u8]) -> String {
    <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .map(|mut mac| {
            mac.update(ts.as_bytes());
            mac.update(method.to_ascii_uppercase().as_bytes());
            mac.update(uri.as_bytes());
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default()
}

/// `X-Payload-Digest` of a webhook body, by the algorithm named in
/// `X-Payload-Digest-Alg`; `None` for an algorithm Sumsub does not use.
pub fn payload_digest(secret: &[u8], alg: &str, body: &[u8]) -> Option<String> {
    fn hmac_hex<
        D: hmac::digest::core_api::BlockSizeUser + Clone + hmac::digest::Digest + hmac::digest::FixedOutputReset,
    >(
        secret: &[u8],
        body: &[u8],
    ) -> Option<String>
    where
        hmac::SimpleHmac<D>: Mac,
    {
        let mut mac = <hmac::SimpleHmac<D> as Mac>::new_from_slice(secret).ok()?;
        mac.update(body);
        Some(hex::encode(mac.finalize().into_bytes()))
    }
    match alg {
        "HMAC_SHA1_HEX" => hmac_hex::<sha1::Sha1>(secret, body),
        "HMAC_SHA256_HEX" => hmac_hex::<sha2::Sha256>(secret, body),
        "HMAC_SHA512_HEX" => hmac_hex::<sha2::Sha512>(secret, body),
        _ => None,
    }
}

pub struct SumsubSettings {
    /// Call time and attempt timeout, the same for every provider.
    pub limits: crate::providers::http::CallLimits,
    pub base_url: String,
    pub app_token: SecretString,
    pub secret_key: SecretString,
    /// The webhook's own secret (not the app token's).
    pub webhook_secret: Option<SecretString>,
    /// First wait after a 429, or a 409 without `Retry-After`.
    pub backoff_initial: Duration,
}

pub struct Sumsub {
    http: ProviderHttp,
    capabilities: Capabilities,
    webhook_secret: Option<SecretString>,
}

fn error_parts(body: &[u8]) -> ErrorParts {
    let e: wire::ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    ErrorParts { kind: e.error_name, message: e.description, param: None }
}

fn id_segment(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(ProviderError::Decode { provider: ID, detail: format!("'{}' is not a Sumsub id", SafeText::new(id)) })
    }
}

/// The calls a decision means (`sumsub.md` §7, in one place): path and body.
pub fn plan_decision(
    decision: &Decision,
    steps_to_reset: &[String],
) -> Result<Vec<(String, serde_json::Value)>, ProviderError> {
    let refuse = |reason: String| ProviderError::Refused { provider: ID, reason };
    if decision.target != TargetId::Case {
        return Err(refuse("a Sumsub applicant is decided as a whole".into()));
    }
    let id = id_segment(&decision.case_ref.key)?;
    let note = serde_json::json!({ assumptions::NOTE_FIELD: decision.reason });
    match decision.verdict {
        Verdict::Verify => Ok(vec![(format!("resources/applicants/{id}/-/approve"), note)]),
        Verdict::Reject => {
            let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for code in &decision.reason_codes {
                let known = assumptions::REJECT_REASONS.iter().any(|r| r.code == code);
                let (group, reason) = code.split_once(':').filter(|_| known).ok_or_else(|| {
                    refuse(format!("'{}' is not one of kycdesk's Sumsub reject reasons", SafeText::new(code)))
                })?;
                groups.entry(group).or_default().push(reason);
            }
            if assumptions::REJECT_NEEDS_REASONS && groups.is_empty() {
                return Err(refuse("pick at least one reject reason (fraud or finance) for Sumsub".into()));
            }
            let body = serde_json::json!({ assumptions::NOTE_FIELD: decision.reason, "reasons": groups });
            Ok(vec![(format!("resources/applicants/{id}/-/reject"), body)])
        }
        Verdict::Resubmit => {
            // The steps the analyst ticked, or else every step that failed.
            let chosen: Vec<String> = decision.reason_codes.clone();
            if let Some(bad) = chosen.iter().find(|s| !assumptions::RESETTABLE_STEPS.contains(&s.as_str())) {
                return Err(refuse(format!("Sumsub cannot reset step '{}'", SafeText::new(bad))));
            }
            let steps = if chosen.is_empty() { steps_to_reset } else { &chosen[..] };
            if steps.is_empty() {
                return Err(refuse("no step of this applicant failed, so there is nothing to resubmit".into()));
            }
            Ok(steps
                .iter()
                .map(|s| (format!("resources/applicants/{id}/resetStep/{s}"), serde_json::Value::Null))
                .collect())
        }
        // No native refer: escalated in kycdesk only.
        Verdict::Refer => Ok(vec![]),
        other => Err(refuse(format!("Sumsub has no '{}'", other.label()))),
    }
}

/// The steps `resetStep` takes, as codes an analyst may pick.
pub fn resettable_steps() -> Vec<ReasonCode> {
    assumptions::RESETTABLE_STEPS.iter().map(|s| ReasonCode { code: s, label: s }).collect()
}

impl Sumsub {
    pub fn new(settings: SumsubSettings) -> Result<Self, ProviderError> {
        let secret = settings.secret_key;
        let signer: super::http::Signer = Box::new(move |method, uri, body| {
            let ts = chrono::Utc::now().timestamp().to_string();
            let sig = signature(secret.expose_secret().as_bytes(), &ts, method.as_str(), uri, body);
            [("x-app-access-ts", ts), ("x-app-access-sig", sig)]
                .into_iter()
                .filter_map(|(n, v)| Some((HeaderName::from_static(n), HeaderValue::from_str(&v).ok()?)))
                .collect()
        });
        let http = ProviderHttp::new(
            ID,
            &settings.base_url,
            vec![(HeaderName::from_static("x-app-token"), settings.app_token.expose_secret().to_string())],
            HttpSettings {
                requests_per_second: assumptions::GET_PER_SECOND,
                write_requests_per_second: Some(assumptions::POST_PER_SECOND),
                backoff_initial: settings.backoff_initial,
                also_wait_out: &[assumptions::NOT_NOW_STATUS],
                ..HttpSettings::from(settings.limits)
            },
        )?
        .with_signer(signer);
        Ok(Self {
            http,
            capabilities: Capabilities {
                native_verdicts: vec![Verdict::Verify, Verdict::Reject, Verdict::Resubmit],
                reject_reasons: assumptions::REJECT_REASONS.to_vec(),
                max_reason_chars: assumptions::MAX_NOTE_CHARS,
                idempotency_keys: false,
                lists_pending: false,
                // `resetStep` takes no body: the typed reason cannot reach Sumsub.
                reason_kept_locally: if assumptions::RESET_STEP_TAKES_A_COMMENT {
                    vec![]
                } else {
                    vec![Verdict::Resubmit]
                },
                codes_required: vec![Verdict::Reject],
            },
            webhook_secret: settings.webhook_secret,
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ProviderError> {
        self.http.get_json(path, what, error_parts).await
    }

    /// The applicant `id`; an answer naming another applicant is an error.
    pub async fn applicant(&self, id: &str) -> Result<wire::Applicant, ProviderError> {
        let a: wire::Applicant =
            self.get(&format!("resources/applicants/{}/one", id_segment(id)?), "applicant").await?;
        super::answer_is_for(ID, "applicant", id, Some(&a.id))?;
        Ok(a)
    }

    async fn steps(&self, id: &str) -> Result<wire::RequiredIdDocsStatus, ProviderError> {
        self.get(&format!("resources/applicants/{}/requiredIdDocsStatus", id_segment(id)?), "applicant steps").await
    }
}

#[async_trait]
impl Provider for Sumsub {
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
        // None needs another's answer: one round trip.
        let metadata_path = format!("resources/applicants/{}/metadata/resources", id_segment(&case_ref.key)?);
        let (applicant, steps, metadata) = futures::try_join!(
            self.applicant(&case_ref.key),
            self.steps(&case_ref.key),
            self.get::<wire::Metadata>(&metadata_path, "image metadata"),
        )?;
        Ok(mapping::case(&applicant, &steps, &metadata))
    }

    async fn media(&self, media: &MediaRef) -> Result<MediaBytes, ProviderError> {
        let (inspection, image) = media
            .key
            .split_once('/')
            .ok_or_else(|| ProviderError::Decode { provider: ID, detail: "unknown media reference".into() })?;
        let image: i64 = image
            .parse()
            .map_err(|_| ProviderError::Decode { provider: ID, detail: "image ids are numbers".into() })?;
        let path = format!("resources/inspections/{}/resources/{image}", id_segment(inspection)?);
        let response = self.http.call(Method::GET, &path, None, "image", error_parts).await?;
        MediaBytes::sniffed(ID, response.body)
    }

    fn check_decision(&self, decision: &Decision) -> Result<(), ProviderError> {
        check_reason(ID, &decision.reason, assumptions::MAX_NOTE_CHARS)?;
        let steps = resettable_steps();
        let valid: &[ReasonCode] = match decision.verdict {
            Verdict::Reject => &assumptions::REJECT_REASONS,
            Verdict::Resubmit => &steps,
            _ => &[],
        };
        check_codes(ID, decision.verdict, &decision.reason_codes, valid)?;
        plan_decision(decision, &["IDENTITY".into()]).map(|_| ())
    }

    async fn decide(&self, decision: &Decision, log: &dyn CallLog) -> Result<Receipt, ProviderError> {
        self.check_decision(decision)?;
        let steps = if decision.verdict == Verdict::Resubmit {
            mapping::steps_to_reset(&self.steps(&decision.case_ref.key).await?)
        } else {
            vec![]
        };
        let calls = plan_decision(decision, &steps)?;
        if calls.is_empty() {
            return Ok(Receipt { calls: vec![], escalate: true });
        }
        let mut records = vec![];
        for (path, body) in calls {
            // A body-less call (`resetStep`) still goes as JSON with an empty body, so
            // it carries `Content-Type: application/json` as Sumsub advises.
            let bytes = if body.is_null() {
                vec![]
            } else {
                serde_json::to_vec(&body).map_err(|e| ProviderError::Refused {
                    provider: ID,
                    reason: format!("cannot encode request: {e}"),
                })?
            };
            let bytes = Some(bytes);
            let shown = format!("/{path}");
            records
                .push(logged_call(&self.http, log, Method::POST, &path, shown, bytes, "applicant", error_parts).await?);
        }
        Ok(Receipt { calls: records, escalate: false })
    }

    async fn reconcile(&self, decision: &Decision) -> Result<Reconciled, ProviderError> {
        let a = self.applicant(&decision.case_ref.key).await?;
        let review = a.review.unwrap_or_default();
        let answer = review.review_result.and_then(|r| r.review_answer);
        let status = review.review_status.unwrap_or_default();
        Ok(match decision.verdict {
            Verdict::Verify => (status == "completed" && answer.as_deref() == Some("GREEN")).into(),
            Verdict::Reject => (status == "completed" && answer.as_deref() == Some("RED")).into(),
            // Every step it resets is reset: not only the first (which alone moves the
            // applicant back to `init`).
            Verdict::Resubmit => {
                let red = mapping::steps_to_reset(&self.steps(&decision.case_ref.key).await?);
                let chosen = &decision.reason_codes;
                let left = if chosen.is_empty() { !red.is_empty() } else { chosen.iter().any(|c| red.contains(c)) };
                (status == assumptions::AFTER_RESET_STATUS && !left).into()
            }
            _ => Reconciled::CannotTell,
        })
    }

    fn webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        let secret = self
            .webhook_secret
            .as_ref()
            .ok_or_else(|| WebhookError::Unauthenticated("no Sumsub webhook secret is configured".into()))?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let alg = header(assumptions::DIGEST_ALG_HEADER).unwrap_or("HMAC_SHA256_HEX");
        let given = header(assumptions::DIGEST_HEADER)
            .and_then(|d| hex::decode(d).ok())
            .ok_or_else(|| WebhookError::Unauthenticated("missing or malformed X-Payload-Digest".into()))?;
        let expected =
            payload_digest(secret.expose_secret().as_bytes(), alg, body).and_then(|d| hex::decode(d).ok()).ok_or_else(
                || WebhookError::Unauthenticated(format!("unknown digest algorithm {}", SafeText::new(alg))),
            )?;
        // Constant-time comparison of the two digests.
        let same =
            given.len() == expected.len() && given.iter().zip(&expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same {
            return Err(WebhookError::Unauthenticated("payload digest does not match".into()));
        }
        let event: wire::Webhook =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(format!("not a Sumsub event: {e}")))?;
        if id_segment(&event.applicant_id).is_err() {
            return Err(WebhookError::Malformed("applicantId is not a Sumsub id".into()));
        }
        // Deliveries repeat byte for byte; the body's hash identifies one.
        Ok(WebhookEvent { delivery_id: super::body_digest(body), cases: vec![CaseRef::new(ID, event.applicant_id)] })
    }

    async fn refresh(&self, hint: &CaseRef) -> Result<PendingScan, ProviderError> {
        let a = self.applicant(&hint.key).await?;
        let mut scan = PendingScan::default();
        match mapping::queue_entry(&a) {
            Some(entry) => scan.referred.push(entry),
            None => scan.settled.push(hint.clone()),
        }
        scan.only_for(hint)
    }
}

/// Fuzzing hook (`fuzz/`): an applicant, its steps and image metadata from arbitrary
/// JSON through the mapping.
#[cfg(fuzzing)]
pub fn fuzz_mapping(data: &[u8]) -> Option<Case> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let a: wire::Applicant = serde_json::from_value(v.get("applicant")?.clone()).ok()?;
    let steps: wire::RequiredIdDocsStatus =
        v.get("steps").cloned().and_then(|x| serde_json::from_value(x).ok()).unwrap_or_default();
    let metadata: wire::Metadata = serde_json::from_value(v.get("metadata")?.clone()).ok()?;
    let _ = mapping::queue_entry(&a);
    let _ = mapping::steps_to_reset(&steps);
    Some(mapping::case(&a, &steps, &metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resubmission_keeps_its_reason_locally() {
        let s = Sumsub::new(SumsubSettings {
            limits: Default::default(),
            base_url: "http://127.0.0.1:1/".into(),
            app_token: "sbx:t".to_string().into(),
            secret_key: "k".to_string().into(),
            webhook_secret: None,
            backoff_initial: Duration::from_millis(1),
        });
        let Ok(s) = s else { return };
        let caps = s.capabilities();
        assert_eq!(caps.reason_kept_locally, vec![Verdict::Resubmit]);
        assert!(!caps.sends_reason(Verdict::Resubmit));
        assert!(!caps.sends_reason(Verdict::Refer), "local: nothing is sent");
        assert!(caps.sends_reason(Verdict::Verify) && caps.sends_reason(Verdict::Reject));
    }

    /// The vectors of sumsub.md §3.1.
    #[test]
    fn request_signatures_match_the_vectors() {
        let key = b"SoMe_SeCrEt_KeY";
        let ts = "1607551635";
        assert_eq!(
            signature(key, ts, "GET", "/resources/applicants/5b73b82f0a975a3b46429758/one", b""),
            "a5ef842da52f6f106555c27cbbbe8a66c37ac77817056ff7731d1bb8811e73c2"
        );
        assert_eq!(
            signature(key, ts, "post", "/resources/applicants/687fb2373fc85ad66b5d8744/-/approve", b"{}"),
            "54db13abd62d59b0dfbc8b6dd601d20ac857709800e55fbe71781dd6ccf13f94"
        );
        assert_eq!(
            signature(
                key,
                ts,
                "POST",
                "/resources/applicants/687fb2373fc85ad66b5d8744/-/reject",
                br#"{"note":"Example note","reasons":{"fraud":["documentForgery"]}}"#
            ),
            "9bcb80ed1784e6d84fd4f9d272808bdd7ba03a019e82c270583cc1e408f5b604"
        );
    }

    /// The vectors of sumsub.md §4.3.
    #[test]
    fn webhook_digests_match_the_vectors() {
        let body = br#"{"applicantId":"5cb56e8e0a975a35f333cb83","type":"applicantReviewed","reviewResult":{"reviewAnswer":"GREEN"},"reviewStatus":"completed"}"#;
        let key = b"webhook-secret";
        assert_eq!(
            payload_digest(key, "HMAC_SHA256_HEX", body).as_deref(),
            Some("192a2da2197e14f0a78b4e831589191c34052d1ecfccebc85bbea84cb717ee86")
        );
        assert_eq!(
            payload_digest(key, "HMAC_SHA1_HEX", body).as_deref(),
            Some("816b6af58aa23b46739df8a56ecc36996f6472c1")
        );
        assert_eq!(
            payload_digest(key, "HMAC_SHA512_HEX", body).as_deref(),
            Some(
                "2ef40f29c6bdbc6f19210338375404876e7e502398299a8364a49012cf2fb9b371a4eaa0e09c02ef9b6d3d32c1849bf6445665df867e19b7375d1763733286e7"
            )
        );
        assert_eq!(payload_digest(key, "MD5", body), None);
    }
}
