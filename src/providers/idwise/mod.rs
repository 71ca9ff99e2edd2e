//! IDWise adapter (`shared/providers/idwise.md`).

pub mod assumptions;
mod mapping;
pub mod wire;

use super::http::{HttpSettings, ProviderHttp};
use super::{
    CallLog, ErrorParts, MediaBytes, PendingScan, Provider, ProviderError, Reconciled, SharedHeader, WebhookError,
    WebhookEvent, check_codes, check_reason, check_shared_header, logged_call,
};
use crate::domain::{
    Capabilities, Case, CaseRef, Decision, MediaRef, ProviderId, ReasonCode, Receipt, SafeText, TargetId, Verdict,
};
use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

const ID: ProviderId = ProviderId::IdWise;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    #[default]
    Eu,
    Uae,
    Qatar,
}

impl Region {
    pub fn host(self) -> &'static str {
        match self {
            Region::Eu => assumptions::HOST_EU,
            Region::Uae => assumptions::HOST_UAE,
            Region::Qatar => assumptions::HOST_QATAR,
        }
    }
}

pub struct IdWiseSettings {
    /// Call time and attempt timeout, the same for every provider.
    pub limits: crate::providers::http::CallLimits,
    /// The region host, or another base URL (the emulator).
    pub base_url: String,
    pub api_key: SecretString,
    pub api_secret: SecretString,
    pub webhook_header: Option<SharedHeader>,
}

pub struct IdWise {
    http: ProviderHttp,
    capabilities: Capabilities,
    webhook_header: Option<SharedHeader>,
    /// When each journey's summary may next be read (documented: every 2 s at most).
    summary_next: Mutex<HashMap<String, Instant>>,
}

fn path_segment(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(id)
    } else {
        Err(ProviderError::Decode { provider: ID, detail: format!("'{}' is not an IDWise id", SafeText::new(id)) })
    }
}

/// `{success: false, message, error_code}` (documented).
fn error_parts(body: &[u8]) -> ErrorParts {
    let e: wire::ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    ErrorParts { kind: e.error_code, message: e.message, param: None }
}

/// The manual review a decision means; `failed_steps` come from the journey summary.
/// The verdict mapping of `idwise.md` §6, in one place. Reason keys (checked against the
/// catalogue by `check_decision`) go at the head of the comment.
pub fn plan_review(decision: &Decision, failed_steps: &[String]) -> Result<Option<wire::ManualReview>, ProviderError> {
    let refuse = |reason: String| ProviderError::Refused { provider: ID, reason };
    if decision.target != TargetId::Case {
        return Err(refuse("an IDWise journey is decided as a whole".into()));
    }
    let comment = assumptions::comment_with_keys(&decision.reason_codes, &decision.reason);
    let review = |new_decision: &str, step_reviews| wire::ManualReview {
        new_decision: new_decision.into(),
        comment: comment.clone(),
        step_reviews,
    };
    match decision.verdict {
        Verdict::Verify => Ok(Some(review("Approved", None))),
        Verdict::Reject => Ok(Some(review("Rejected", None))),
        // No native refer: escalated in kycdesk only.
        Verdict::Refer => Ok(None),
        Verdict::Resubmit => {
            if failed_steps.is_empty() {
                return Err(refuse("no step of this journey failed, so there is nothing to resubmit".into()));
            }
            let steps = failed_steps
                .iter()
                .map(|s| wire::StepReview { step_id: s.clone(), review_decision: "Resubmit".into() })
                .collect();
            Ok(Some(review("Resubmission Requested", Some(steps))))
        }
        other => Err(refuse(format!("IDWise has no '{}'", other.label()))),
    }
}

impl IdWise {
    pub fn new(settings: IdWiseSettings) -> Result<Self, ProviderError> {
        let credentials = format!("{}:{}", settings.api_key.expose_secret(), settings.api_secret.expose_secret());
        let basic =
            format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, credentials));
        // No documented rate limit besides the summary's; stay gentle.
        let http = ProviderHttp::new(
            ID,
            &settings.base_url,
            vec![(AUTHORIZATION, basic)],
            HttpSettings {
                requests_per_second: 10,
                backoff_initial: Duration::from_secs(2),
                ..HttpSettings::from(settings.limits)
            },
        )?;
        Ok(Self {
            http,
            capabilities: Capabilities {
                native_verdicts: vec![Verdict::Verify, Verdict::Reject, Verdict::Resubmit],
                reject_reasons: assumptions::DEFAULT_REASON_KEYS.to_vec(),
                max_reason_chars: assumptions::MAX_COMMENT_CHARS,
                idempotency_keys: false,
                lists_pending: false,
                reason_kept_locally: vec![],
                codes_required: vec![],
            },
            webhook_header: settings.webhook_header,
            summary_next: Mutex::new(HashMap::new()),
        })
    }

    /// The tenant's Studio reason keys an analyst may tick on Reject; each goes into the
    /// comment as `[KEY]` (the API has no reason field).
    pub fn with_reason_keys(mut self, keys: Vec<ReasonCode>) -> Self {
        self.capabilities.reject_reasons = keys;
        self
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ProviderError> {
        self.http.get_json(path, what, error_parts).await
    }

    /// The journey `id`; an answer naming another journey is an error.
    pub async fn journey(&self, id: &str) -> Result<wire::Journey, ProviderError> {
        let j: wire::Journey = self.get(&assumptions::journey_path(path_segment(id)?), "journey").await?;
        super::answer_is_for(ID, "journey", id, Some(&j.journey_id))?;
        Ok(j)
    }

    /// The summary, waiting if this journey's was read less than 2 s ago.
    pub async fn summary(&self, id: &str) -> Result<wire::Summary, ProviderError> {
        let id = path_segment(id)?;
        let interval = Duration::from_millis(assumptions::SUMMARY_MIN_INTERVAL_MS);
        let wait_until = {
            let mut next = self.summary_next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let at = next.get(id).copied().filter(|t| *t > now).unwrap_or(now);
            next.insert(id.to_string(), at + interval);
            at
        };
        tokio::time::sleep_until(wait_until).await;
        let summary: wire::Summary = self.get(&assumptions::summary_path(id), "journey summary").await?;
        super::answer_is_for(ID, "journey", id, summary.journey_id.as_deref())?;
        Ok(summary)
    }

    async fn spot_check(&self, id: &str) -> Result<Option<wire::SpotCheck>, ProviderError> {
        match self.get(&assumptions::spot_check_path(path_segment(id)?), "spot check").await {
            Ok(s) => Ok(Some(s)),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Steps the summary reports as failed: each needs a review decision on resubmission.
    async fn failed_steps(&self, id: &str) -> Result<Vec<String>, ProviderError> {
        let summary = self.summary(id).await?;
        Ok(summary
            .step_summaries
            .iter()
            .filter(|s| s.result.as_ref().and_then(|r| r.has_passed_rules) == Some(false))
            .map(|s| s.definition.step_id.clone())
            .collect())
    }
}

#[async_trait]
impl Provider for IdWise {
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
        // Side by side: one round trip.
        let (journey, spot) = futures::try_join!(self.journey(&case_ref.key), self.spot_check(&case_ref.key))?;
        Ok(mapping::case(&journey, spot.as_ref(), &self.capabilities.reject_reasons))
    }

    async fn media(&self, media: &MediaRef) -> Result<MediaBytes, ProviderError> {
        let path = assumptions::image_path(path_segment(&media.key)?);
        let response = self.http.call(Method::GET, &path, None, "image", error_parts).await?;
        MediaBytes::sniffed(ID, response.body)
    }

    fn check_decision(&self, decision: &Decision) -> Result<(), ProviderError> {
        check_reason(ID, &decision.reason, assumptions::MAX_COMMENT_CHARS)?;
        // Only the tenant's reason keys, only on Reject: every other code would be lost.
        let valid: &[ReasonCode] =
            if decision.verdict == Verdict::Reject { &self.capabilities.reject_reasons } else { &[] };
        check_codes(ID, decision.verdict, &decision.reason_codes, valid)?;
        let review = plan_review(decision, &["step".into()])?;
        let chars = review.as_ref().map_or(0, |r| r.comment.chars().count());
        if chars > assumptions::MAX_COMMENT_CHARS {
            return Err(ProviderError::Refused {
                provider: ID,
                reason: format!(
                    "the comment with its reason keys is {chars} characters; kycdesk sends IDWise at most {}",
                    assumptions::MAX_COMMENT_CHARS
                ),
            });
        }
        Ok(())
    }

    async fn decide(&self, decision: &Decision, log: &dyn CallLog) -> Result<Receipt, ProviderError> {
        self.check_decision(decision)?;
        let id = path_segment(&decision.case_ref.key)?.to_string();
        let failed = if decision.verdict == Verdict::Resubmit { self.failed_steps(&id).await? } else { vec![] };
        let Some(review) = plan_review(decision, &failed)? else {
            return Ok(Receipt { calls: vec![], escalate: true });
        };
        let body = serde_json::to_vec(&review)
            .map_err(|e| ProviderError::Refused { provider: ID, reason: format!("cannot encode request: {e}") })?;
        let path = assumptions::manual_review_path(&id);
        let shown = format!("/{path}");
        let record =
            logged_call(&self.http, log, Method::POST, &path, shown, Some(body), "journey", error_parts).await?;
        Ok(Receipt { calls: vec![record], escalate: false })
    }

    async fn reconcile(&self, decision: &Decision) -> Result<Reconciled, ProviderError> {
        let journey = self.journey(&decision.case_ref.key).await?;
        Ok(match decision.verdict {
            Verdict::Verify => (journey.manual_decision.as_deref() == Some("Approved")).into(),
            Verdict::Reject => (journey.manual_decision.as_deref() == Some("Rejected")).into(),
            Verdict::Resubmit => (journey.system_decision.as_deref() == Some("Incomplete")).into(),
            _ => Reconciled::CannotTell,
        })
    }

    fn webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        check_shared_header(headers, self.webhook_header.as_ref(), assumptions::WEBHOOK_AUTH_REQUIRED)?;
        let envelope: wire::WebhookEnvelope =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(format!("not an IDWise event: {e}")))?;
        let journey = envelope.body.journey_id;
        if path_segment(&journey).is_err() {
            return Err(WebhookError::Malformed("journeyId is not an IDWise id".into()));
        }
        let delivery_id = envelope.body.event_id.unwrap_or_else(|| super::body_digest(body));
        // Every journey event is worth a re-read: Refer queues it, a decision settles it.
        Ok(WebhookEvent { delivery_id, cases: vec![CaseRef::new(ID, journey)] })
    }

    async fn refresh(&self, hint: &CaseRef) -> Result<PendingScan, ProviderError> {
        let journey = self.journey(&hint.key).await?;
        let mut scan = PendingScan::default();
        match mapping::queue_entry(&journey) {
            Some(entry) => scan.referred.push(entry),
            None => scan.settled.push(hint.clone()),
        }
        scan.only_for(hint)
    }
}

/// Fuzzing hook (`fuzz/`): a journey and spot check from arbitrary JSON through the
/// mapping.
#[cfg(fuzzing)]
pub fn fuzz_mapping(data: &[u8]) -> Option<Case> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    let journey: wire::Journey = serde_json::from_value(v.get("journey")?.clone()).ok()?;
    let spot: Option<wire::SpotCheck> = v.get("spotCheck").cloned().and_then(|x| serde_json::from_value(x).ok());
    let _ = mapping::queue_entry(&journey);
    Some(mapping::case(&journey, spot.as_ref(), &[]))
}
