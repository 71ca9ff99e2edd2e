//! FrankieOne v2 adapter (`shared/providers/frankieone.md`, `shared/specs/frankieone/`).

pub mod assumptions;
mod mapping;

use super::http::{HttpSettings, ProviderHttp};
use super::{
    CallLog, ErrorParts, MediaBytes, PendingScan, Provider, ProviderError, Reconciled, SharedHeader, WebhookError,
    WebhookEvent, check_codes, check_reason, check_shared_header, logged_call,
};
use crate::domain::{
    Capabilities, Case, CaseRef, Decision, MediaRef, ProviderId, Receipt, SafeText, TargetId, Verdict,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;

pub use mapping::{CaseKey, OpenKind, OpenResult};

const ID: ProviderId = ProviderId::FrankieOne;

pub struct FrankieOneSettings {
    /// Call time and attempt timeout, the same for every provider.
    pub limits: crate::providers::http::CallLimits,
    pub base_url: String,
    pub api_key: SecretString,
    pub customer_id: String,
    pub customer_child_id: Option<String>,
    /// Sent as `X-Frankie-Username`, for FrankieOne's audit trail.
    pub analyst: String,
    pub webhook_header: Option<SharedHeader>,
}

pub struct FrankieOne {
    http: ProviderHttp,
    capabilities: Capabilities,
    webhook_header: Option<SharedHeader>,
}

/// `{errorCode, errorMsg, details[{issue, issueLocation}], requestId}` (documented).
fn error_parts(body: &[u8]) -> ErrorParts {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let issues: Vec<String> =
        v["details"].as_array().into_iter().flatten().filter_map(|d| d["issue"].as_str().map(str::to_string)).collect();
    let msg = v["errorMsg"].as_str().map(str::to_string);
    let message = match (msg, issues.is_empty()) {
        (Some(m), false) => Some(format!("{m}: {}", issues.join("; "))),
        (m, _) => m,
    };
    ErrorParts { kind: v["errorCode"].as_str().map(str::to_string), message, param: None }
}

fn segment(s: &str) -> Result<&str, ProviderError> {
    if !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        Ok(s)
    } else {
        Err(ProviderError::Decode { provider: ID, detail: format!("'{}' is not a FrankieOne id", SafeText::new(s)) })
    }
}

/// The PATCH calls a decision makes, in order: path and body (`frankieone.md` §7 and
/// `providers/README.md` §3, in one place). Verify on the execution first resolves the
/// results still open (`open`, read just before): AML hits as false positives, IDV
/// results as clear; then it approves.
pub fn plan_decision(
    key: &CaseKey,
    decision: &Decision,
    open: &[OpenResult],
) -> Result<Vec<(String, Value)>, ProviderError> {
    let refuse = |reason: String| ProviderError::Refused { provider: ID, reason };
    let comment = json!({"text": decision.reason, "entityId": key.entity, "entityType": "INDIVIDUAL"});
    let entity = segment(&key.entity)?;
    let resolve = |class: &str, ids: Vec<&str>, status: &str| -> Result<(String, Value), ProviderError> {
        let ids = ids.into_iter().map(segment).collect::<Result<Vec<_>, _>>()?;
        Ok((
            format!("v2/individuals/{entity}/results/{class}"),
            json!({"processResults": ids, "manualStatus": status, "comment": comment}),
        ))
    };
    match (&decision.target, decision.verdict) {
        (TargetId::Case, v @ (Verdict::Verify | Verdict::Reject | Verdict::Refer)) => {
            let mut calls = vec![];
            if v == Verdict::Verify {
                let of =
                    |kind: OpenKind| open.iter().filter(|o| o.kind == kind).map(|o| o.id.as_str()).collect::<Vec<_>>();
                let (hits, idv) = (of(OpenKind::AmlHit), of(OpenKind::Idv));
                if !hits.is_empty() {
                    calls.push(resolve("aml", hits, assumptions::AML_FALSE_POSITIVE)?);
                }
                if !idv.is_empty() {
                    calls.push(resolve("idv", idv, assumptions::IDV_CLEAR)?);
                }
            }
            let status = match v {
                Verdict::Verify => assumptions::VERIFY_STATUS,
                Verdict::Reject => assumptions::REJECT_STATUS,
                _ => assumptions::REFER_STATUS,
            };
            let path = format!(
                "v2/individuals/{entity}/serviceprofiles/{}/workflows/{}/executions/{}",
                segment(&key.service)?,
                segment(&key.workflow)?,
                segment(&key.execution)?
            );
            calls.push((path, json!({"status": status, "comment": comment})));
            Ok(calls)
        }
        (TargetId::Hit(pro), v @ (Verdict::TrueMatch | Verdict::FalsePositive)) => {
            let status =
                if v == Verdict::TrueMatch { assumptions::AML_TRUE_MATCH } else { assumptions::AML_FALSE_POSITIVE };
            Ok(vec![resolve("aml", vec![pro.as_str()], status)?])
        }
        (TargetId::Element(element), v @ (Verdict::Verify | Verdict::Reject)) => {
            let pro = element.strip_prefix("idv:").ok_or_else(|| refuse("unknown FrankieOne element".into()))?;
            let status = if v == Verdict::Verify { assumptions::IDV_CLEAR } else { assumptions::IDV_REJECTED };
            Ok(vec![resolve("idv", vec![pro], status)?])
        }
        (_, v) => Err(refuse(format!("FrankieOne takes no '{}' on this target", v.label()))),
    }
}

impl FrankieOne {
    pub fn new(settings: FrankieOneSettings) -> Result<Self, ProviderError> {
        let mut headers = vec![
            (HeaderName::from_static("api_key"), settings.api_key.expose_secret().to_string()),
            (HeaderName::from_static("x-frankie-customerid"), settings.customer_id.clone()),
            (HeaderName::from_static("x-frankie-channel"), assumptions::CHANNEL.to_string()),
            (HeaderName::from_static("x-frankie-username"), settings.analyst.clone()),
        ];
        if let Some(child) = &settings.customer_child_id {
            headers.push((HeaderName::from_static("x-frankie-customerchildid"), child.clone()));
        }
        let http = ProviderHttp::new(
            ID,
            &settings.base_url,
            headers,
            HttpSettings {
                requests_per_second: assumptions::REQUESTS_PER_SECOND,
                backoff_initial: Duration::from_secs(2),
                ..HttpSettings::from(settings.limits)
            },
        )?;
        Ok(Self {
            http,
            capabilities: Capabilities {
                native_verdicts: vec![
                    Verdict::Verify,
                    Verdict::Reject,
                    Verdict::Refer,
                    Verdict::TrueMatch,
                    Verdict::FalsePositive,
                ],
                reject_reasons: vec![],
                max_reason_chars: assumptions::MAX_COMMENT_CHARS,
                idempotency_keys: false,
                lists_pending: true,
                reason_kept_locally: vec![],
                codes_required: vec![],
            },
            webhook_header: settings.webhook_header,
        })
    }

    async fn get(&self, path: &str, what: &str) -> Result<Value, ProviderError> {
        self.http.get_json(path, what, error_parts).await
    }

    /// The execution `key` names; an answer about another execution or entity is an error.
    async fn execution(&self, key: &CaseKey, level: &str) -> Result<Value, ProviderError> {
        let v: Value = self
            .get(
                &format!(
                    "v2/individuals/{}/serviceprofiles/{}/workflows/{}/executions/{}?level={level}",
                    segment(&key.entity)?,
                    segment(&key.service)?,
                    segment(&key.workflow)?,
                    segment(&key.execution)?
                ),
                "workflow execution",
            )
            .await?;
        let execution = v["workflowResult"]["workflowExecutionId"].as_str();
        super::answer_is_for(ID, "workflow execution", &key.execution, execution)?;
        super::answer_is_for(ID, "entity", &key.entity, v["individual"]["entityId"].as_str())?;
        Ok(v)
    }

    async fn results(&self, key: &CaseKey) -> Result<Value, ProviderError> {
        self.get(&format!("v2/individuals/{}/results", segment(&key.entity)?), "process results").await
    }

    fn key(case_ref: &CaseRef) -> Result<CaseKey, ProviderError> {
        CaseKey::parse(&case_ref.key).ok_or_else(|| ProviderError::Decode {
            provider: ID,
            detail: "a FrankieOne case is entity/service/workflow/execution".into(),
        })
    }
}

#[async_trait]
impl Provider for FrankieOne {
    fn id(&self) -> ProviderId {
        ID
    }

    fn http(&self) -> &ProviderHttp {
        &self.http
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Walks every page of the needs-review search. The result is the whole set, so the
    /// poller settles what is no longer in it.
    async fn pending(&self, _since: Option<DateTime<Utc>>) -> Result<PendingScan, ProviderError> {
        let body = serde_json::to_vec(&assumptions::needs_review_search())
            .map_err(|e| ProviderError::Decode { provider: ID, detail: e.to_string() })?;
        let mut scan = PendingScan { complete: true, ..PendingScan::default() };
        let mut page = 1u32;
        loop {
            let path = format!("v2/search/serviceprofiles?page={page}&limit={}", assumptions::SEARCH_PAGE_LIMIT);
            let response = self.http.call(Method::POST, &path, Some(body.clone()), "search", error_parts).await?;
            let v: Value = serde_json::from_slice(&response.body)
                .map_err(|e| ProviderError::Decode { provider: ID, detail: format!("search: {e}") })?;
            let profiles = mapping::matched_profiles(&v);
            for profile in &profiles {
                scan.referred.extend(mapping::queue_entries(profile));
            }
            let total = v["meta"]["total"].as_u64().unwrap_or(0);
            if profiles.is_empty()
                || u64::from(page) * u64::from(assumptions::SEARCH_PAGE_LIMIT) >= total
                || page >= super::MAX_PAGES
            {
                break;
            }
            page += 1;
        }
        Ok(scan.checked())
    }

    async fn case(&self, case_ref: &CaseRef) -> Result<Case, ProviderError> {
        let key = Self::key(case_ref)?;
        // None needs another's answer: one round trip.
        let documents_path = format!("v2/individuals/{}/documents?level=meta", segment(&key.entity)?);
        let profile_path =
            format!("v2/individuals/{}/serviceprofiles/{}", segment(&key.entity)?, segment(&key.service)?);
        let (execution, results, documents, profile) = futures::try_join!(
            self.execution(&key, "meta"),
            self.results(&key),
            self.get(&documents_path, "documents"),
            self.get(&profile_path, "service profile"),
        )?;
        Ok(mapping::case(&key, &execution, &results, &documents, &profile["serviceProfile"]))
    }

    async fn media(&self, media: &MediaRef) -> Result<MediaBytes, ProviderError> {
        let mut parts = media.key.splitn(3, '/');
        let (Some(entity), Some(document), Some(attachment)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(ProviderError::Decode { provider: ID, detail: "unknown media reference".into() });
        };
        let doc = self
            .get(
                &format!(
                    "v2/individuals/{}/documents/{}?level={}",
                    segment(entity)?,
                    segment(document)?,
                    assumptions::IMAGE_LEVEL
                ),
                "document",
            )
            .await?;
        let data = doc["attachments"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["attachmentId"] == attachment)
            .and_then(|a| a["data"]["base64"].as_str())
            .ok_or_else(|| ProviderError::NotFound { provider: ID, what: "image".into() })?;
        MediaBytes::from_base64(ID, data)
    }

    fn check_decision(&self, decision: &Decision) -> Result<(), ProviderError> {
        check_reason(ID, &decision.reason, assumptions::MAX_COMMENT_CHARS)?;
        // No reason-code field anywhere in FrankieOne's decision bodies: refused, not dropped.
        if !assumptions::REASON_CODES_CARRIED {
            check_codes(ID, decision.verdict, &decision.reason_codes, &[])?;
        }
        plan_decision(&Self::key(&decision.case_ref)?, decision, &[]).map(|_| ())
    }

    async fn decide(&self, decision: &Decision, log: &dyn CallLog) -> Result<Receipt, ProviderError> {
        self.check_decision(decision)?;
        let key = Self::key(&decision.case_ref)?;
        // What is open now, not what the console last showed; a resend after a partial
        // delivery finds the results already resolved and only approves.
        let open = if assumptions::VERIFY_RESOLVES_OPEN_RESULTS
            && decision.target == TargetId::Case
            && decision.verdict == Verdict::Verify
        {
            mapping::open_results(&self.results(&key).await?)
        } else {
            vec![]
        };
        let mut records = vec![];
        for (path, body) in plan_decision(&key, decision, &open)? {
            let bytes = serde_json::to_vec(&body)
                .map_err(|e| ProviderError::Refused { provider: ID, reason: format!("cannot encode request: {e}") })?;
            let shown = format!("/{path}");
            records.push(
                logged_call(&self.http, log, Method::PATCH, &path, shown, Some(bytes), "case", error_parts).await?,
            );
        }
        Ok(Receipt { calls: records, escalate: decision.verdict == Verdict::Refer })
    }

    async fn reconcile(&self, decision: &Decision) -> Result<Reconciled, ProviderError> {
        let key = Self::key(&decision.case_ref)?;
        // The last call decides (the execution's status, or the result's resolution).
        let planned = plan_decision(&key, decision, &[])?;
        let Some((_, body)) = planned.last() else { return Ok(Reconciled::NotApplied) };
        match &decision.target {
            TargetId::Case => {
                let execution = self.execution(&key, "meta").await?;
                Ok((execution["workflowResult"]["status"] == body["status"]).into())
            }
            TargetId::Hit(pro) | TargetId::Element(pro) => {
                let pro = pro.trim_start_matches("idv:");
                let r = self
                    .get(
                        &format!("v2/individuals/{}/results/{}", segment(&key.entity)?, segment(pro)?),
                        "process result",
                    )
                    .await?;
                Ok((r["processResult"]["manualStatus"] == body["manualStatus"]).into())
            }
        }
    }

    fn webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        check_shared_header(headers, self.webhook_header.as_ref(), assumptions::WEBHOOK_AUTH_REQUIRED)?;
        let v: Value = serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        let entity = v["entityId"].as_str().ok_or_else(|| WebhookError::Malformed("no entityId".into()))?;
        if segment(entity).is_err() {
            return Err(WebhookError::Malformed("entityId is not a FrankieOne id".into()));
        }
        let delivery_id = v["requestId"].as_str().map(str::to_string).unwrap_or_else(|| super::body_digest(body));
        Ok(WebhookEvent { delivery_id, cases: vec![CaseRef::new(ID, entity)] })
    }

    /// The hint is an entity: its service profiles' latest executions are re-read.
    async fn refresh(&self, hint: &CaseRef) -> Result<PendingScan, ProviderError> {
        let individual = self.get(&format!("v2/individuals/{}", segment(&hint.key)?), "individual").await?;
        let mut scan = PendingScan::default();
        for profile in individual["serviceProfiles"].as_array().into_iter().flatten() {
            scan.referred.extend(mapping::queue_entries(profile));
            scan.settled.extend(mapping::settled(profile));
        }
        scan.only_for(hint)
    }
}

/// Fuzzing hook (`fuzz/`): search answers, executions and results from arbitrary JSON
/// through the mapping.
#[cfg(fuzzing)]
pub fn fuzz_mapping(data: &[u8]) -> Option<Case> {
    let v: Value = serde_json::from_slice(data).ok()?;
    for profile in mapping::matched_profiles(&v["search"]) {
        let _ = mapping::queue_entries(&profile);
        let _ = mapping::settled(&profile);
    }
    let _ = mapping::open_results(&v["results"]);
    let key = CaseKey { entity: "e".into(), service: "KYC".into(), workflow: "w".into(), execution: "x".into() };
    Some(mapping::case(&key, &v["execution"], &v["results"], &v["documents"], &v["profile"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_resolves_open_results_before_it_approves() -> Result<(), ProviderError> {
        let key = CaseKey { entity: "e1".into(), service: "KYC".into(), workflow: "w".into(), execution: "x1".into() };
        let decision = Decision {
            id: "d".into(),
            case_ref: CaseRef::new(ID, key.key()),
            target: TargetId::Case,
            verdict: Verdict::Verify,
            reason: "Namesakes.".into(),
            reason_codes: vec![],
            analyst: "ana".into(),
            created_at: chrono::Utc::now(),
        };
        let open = vec![
            OpenResult { id: "A1".into(), kind: OpenKind::AmlHit, name: "X".into() },
            OpenResult { id: "A2".into(), kind: OpenKind::AmlHit, name: "Y".into() },
            OpenResult { id: "I1".into(), kind: OpenKind::Idv, name: "IDV facial liveness".into() },
        ];
        let calls = plan_decision(&key, &decision, &open)?;
        let paths: Vec<&str> = calls.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "v2/individuals/e1/results/aml",
                "v2/individuals/e1/results/idv",
                "v2/individuals/e1/serviceprofiles/KYC/workflows/w/executions/x1"
            ]
        );
        assert_eq!(calls[0].1["processResults"], json!(["A1", "A2"]));
        assert_eq!(calls[0].1["manualStatus"], "FALSE_POSITIVE");
        assert_eq!(calls[1].1["manualStatus"], "CLEAR");
        assert_eq!(calls[2].1["status"], "APPROVED");
        // Reject and Refer touch only the execution.
        for verdict in [Verdict::Reject, Verdict::Refer] {
            let d = Decision { verdict, ..decision.clone() };
            assert_eq!(plan_decision(&key, &d, &open)?.len(), 1);
        }
        Ok(())
    }
}
