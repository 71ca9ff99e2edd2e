//! The provider seam. Each provider module owns its wire types, their mapping to the
//! domain, its decision calls and its documented-gap assumptions; nothing outside this
//! folder sees a provider's JSON, and nothing inside it knows about the terminal.

pub mod complycube;
pub mod credas;
pub mod frankieone;
pub mod http;
pub mod idwise;
pub mod rate;
pub mod sumsub;

use crate::domain::{
    CallRecord, Capabilities, Case, CaseRef, Decision, DecisionTarget, MediaRef, ProviderId, QueueEntry, ReasonCode,
    Receipt, SafeText, Verdict,
};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// `maybe_sent`: the request may have reached the provider (a timeout or reset after
    /// it was written), so whether it was applied is unknown until the case is read.
    /// The outbox could not record a call (or this sender lost hold of the decision).
    /// `answered`: the call itself went through, so its outcome is unknown to the store.
    #[error("the outbox could not record a {provider} call: {detail}")]
    Outbox { provider: ProviderId, detail: String, answered: bool },
    #[error("could not reach {provider}: {detail}")]
    Transport { provider: ProviderId, detail: String, maybe_sent: bool },
    #[error("{provider} refused the credentials (HTTP {status}): {message}")]
    Auth { provider: ProviderId, status: u16, message: SafeText },
    #[error("{provider} has no such {what}")]
    NotFound { provider: ProviderId, what: String },
    #[error(
        "{provider} kept asking kycdesk to wait (HTTP 429, or 409 with Retry-After); gave up after {waited_secs} s (max_call_secs = {limit_secs})"
    )]
    RateLimited { provider: ProviderId, waited_secs: u64, limit_secs: u64 },
    #[error("{provider} answered HTTP {status} {kind}: {message}{}", param.as_ref().map(|p| format!(" (field: {p})")).unwrap_or_default())]
    Api { provider: ProviderId, status: u16, kind: SafeText, message: SafeText, param: Option<SafeText> },
    #[error("{provider} sent a response kycdesk cannot read: {detail}")]
    Decode { provider: ProviderId, detail: String },
    #[error("{provider} sent more than {limit} bytes; the response was dropped")]
    TooLarge { provider: ProviderId, limit: usize },
    /// Refused by kycdesk before sending: retrying cannot help.
    #[error("not sent to {provider}: {reason}")]
    Refused { provider: ProviderId, reason: String },
    #[error("{provider}: configuration problem: {detail}")]
    Config { provider: ProviderId, detail: String },
}

impl ProviderError {
    /// Worth retrying later: the network, a 5xx, a rate limit.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Transport { .. } | ProviderError::RateLimited { .. } | ProviderError::Outbox { .. } => true,
            ProviderError::Api { status, .. } => *status >= 500 || *status == 429 || *status == 409,
            _ => false,
        }
    }

    /// The provider may have applied the call although kycdesk saw no answer: a timeout
    /// or reset after the request went out, or a 5xx other than 503 (an internal error
    /// or a gateway's timeout may come after the work was done; 503 says the service
    /// took nothing). Such an attempt is reconciled (the case read back) before any resend.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ProviderError::Transport { maybe_sent, .. } => *maybe_sent,
            ProviderError::Outbox { answered, .. } => *answered,
            ProviderError::Api { status, .. } => *status >= 500 && *status != 503,
            _ => false,
        }
    }
}

/// A list is walked for at most this many pages, whatever the provider claims.
pub const MAX_PAGES: u32 = 10_000;

/// One pass of a list-capable provider over what changed since `since`.
#[derive(Debug, Default)]
pub struct PendingScan {
    /// Cases the provider says need a human.
    pub referred: Vec<QueueEntry>,
    /// Cases seen in the scan that no longer need a human.
    pub settled: Vec<CaseRef>,
    /// Where the next scan starts.
    pub watermark: Option<DateTime<Utc>>,
    /// `referred` is everything the provider refers now: its other open cases are settled.
    pub complete: bool,
    /// Cases left out because the provider named them with an id that is not one of
    /// its ids (why, sanitised): reported, never queued, never fatal for the scan.
    pub dropped: Vec<String>,
}

impl PendingScan {
    /// Drops every case whose id breaks its provider's id rules, logging and keeping why.
    /// Adapters return every scan through this, where wire ids become domain ids.
    pub fn checked(mut self) -> Self {
        let mut dropped = std::mem::take(&mut self.dropped);
        let mut keep = |r: &CaseRef| match CaseRef::checked(r.provider, r.key.as_str()) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(provider = %r.provider, error = %e, "case dropped: its id is not a valid id");
                dropped.push(e.to_string());
                false
            }
        };
        self.referred.retain(|e| keep(&e.case_ref));
        self.settled.retain(|r| keep(r));
        self.dropped = dropped;
        self
    }

    /// A scan of the one case `hint` names: an answer about any other case is an
    /// error, so a provider's answer never redirects intake to another case.
    pub fn only_for(self, hint: &CaseRef) -> Result<Self, ProviderError> {
        let other = self.referred.iter().map(|e| &e.case_ref).chain(&self.settled).find(|r| !same_case(hint, r));
        match other {
            Some(r) => Err(ProviderError::Decode {
                provider: hint.provider,
                detail: format!("asked about {hint}, the answer is for '{}'", crate::domain::shown_id(&r.key)),
            }),
            None => Ok(self.checked()),
        }
    }
}

/// An answer read for `asked` must be about `asked`: a response naming another case (or
/// entity, execution) is an error, so nothing read from a response can redirect a
/// decision, or what the analyst sees, to another case. Absent ids are not compared.
pub fn answer_is_for(
    provider: ProviderId,
    what: &str,
    asked: &str,
    answered: Option<&str>,
) -> Result<(), ProviderError> {
    match answered {
        Some(answered) if answered != asked => Err(ProviderError::Decode {
            provider,
            detail: format!(
                "asked for {what} {}, the answer is for '{}'",
                crate::domain::shown_id(asked),
                crate::domain::shown_id(answered)
            ),
        }),
        _ => Ok(()),
    }
}

/// Whether `r` is the case `hint` names: the same reference, or (where a webhook names
/// only the entity, Credas and FrankieOne) a case of that entity.
fn same_case(hint: &CaseRef, r: &CaseRef) -> bool {
    hint.provider == r.provider
        && (hint.key == r.key || r.key.strip_prefix(hint.key.as_str()).is_some_and(|rest| rest.starts_with('/')))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// Missing or wrong signature (or no secret configured to check it with).
    #[error("webhook not authenticated: {0}")]
    Unauthenticated(String),
    #[error("webhook body is malformed: {0}")]
    Malformed(String),
}

/// A verified webhook: which delivery it is (for deduplication) and the cases it names.
/// Webhooks are hints: the inbox re-reads every case before queueing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub delivery_id: String,
    pub cases: Vec<CaseRef>,
}

/// Delivery id of a webhook that carries none of its own: the hash of its bytes.
pub fn body_digest(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

/// What a provider's error body says, in the parts they all have in some form.
#[derive(Debug, Default)]
pub struct ErrorParts {
    pub kind: Option<String>,
    pub message: Option<String>,
    pub param: Option<String>,
}

/// A provider's non-success answer as an error: the status decides the kind, the body
/// gives the words.
pub fn status_error(provider: ProviderId, status: u16, what: &str, parts: ErrorParts) -> ProviderError {
    let message = SafeText::new(parts.message.as_deref().filter(|m| !m.trim().is_empty()).unwrap_or("(no message)"));
    match status {
        401 | 403 => ProviderError::Auth { provider, status, message },
        404 => ProviderError::NotFound { provider, what: what.to_string() },
        _ => ProviderError::Api {
            provider,
            status,
            kind: SafeText::new(parts.kind.as_deref().unwrap_or("error")),
            message,
            param: parts.param.as_deref().map(SafeText::new),
        },
    }
}

/// The reason rules every provider shares: present, and within what it accepts.
pub fn check_reason(provider: ProviderId, reason: &str, max_chars: usize) -> Result<(), ProviderError> {
    if reason.trim().is_empty() {
        return Err(ProviderError::Refused { provider, reason: "a decision needs a reason".into() });
    }
    let chars = reason.chars().count();
    if chars > max_chars {
        return Err(ProviderError::Refused {
            provider,
            reason: format!(
                "the reason is {chars} characters; {} accepts at most {max_chars}",
                provider.display_name()
            ),
        });
    }
    Ok(())
}

/// Every reason code of a decision must be one `valid` offers for its verdict (ComplyCube
/// `rejectionReasons`, Sumsub reason groups or steps, …): anything else is refused
/// before saving, with the codes that would do, so nothing is silently dropped.
pub fn check_codes(
    provider: ProviderId,
    verdict: Verdict,
    codes: &[String],
    valid: &[ReasonCode],
) -> Result<(), ProviderError> {
    let Some(bad) = codes.iter().find(|c| !valid.iter().any(|v| v.code == c.as_str())) else {
        return Ok(());
    };
    let reason = if valid.is_empty() {
        format!(
            "{} takes no reason codes with {} (got '{}'); put the reason in words",
            provider.display_name(),
            verdict.label(),
            SafeText::new(bad)
        )
    } else {
        let names: Vec<&str> = valid.iter().map(|v| v.code).collect();
        format!(
            "'{}' is not a {} code for {}; valid: {}",
            SafeText::new(bad),
            provider.display_name(),
            verdict.label(),
            names.join(", ")
        )
    };
    Err(ProviderError::Refused { provider, reason })
}

/// A decision against the target `case()` offered for it: the same target, one of its
/// verdicts, and only codes from its catalogue (`DecisionTarget::choices`).
pub fn check_target(provider: ProviderId, decision: &Decision, target: &DecisionTarget) -> Result<(), ProviderError> {
    let refuse = |reason: String| Err(ProviderError::Refused { provider, reason });
    if target.id != decision.target {
        return refuse("the decision is not for this target".into());
    }
    if !target.verdicts.contains(&decision.verdict) {
        let names: Vec<&str> = target.verdicts.iter().map(|v| v.label()).collect();
        return refuse(format!("{} takes {}; not {}", target.label, names.join(", "), decision.verdict.label()));
    }
    check_codes(provider, decision.verdict, &decision.reason_codes, target.choices(decision.verdict))
}

/// A static header a deployment configures on a provider's webhooks, where the provider
/// documents no signature.
pub struct SharedHeader {
    pub name: reqwest::header::HeaderName,
    pub value: secrecy::SecretString,
}

/// Checks a shared header. Comparing digests keeps the comparison's timing independent
/// of how much of the secret a guess got right.
pub fn check_shared_header(
    headers: &HeaderMap,
    expected: Option<&SharedHeader>,
    required: bool,
) -> Result<(), WebhookError> {
    use secrecy::ExposeSecret;
    let Some(expected) = expected else {
        return if required {
            Err(WebhookError::Unauthenticated("no shared webhook header is configured".into()))
        } else {
            Ok(())
        };
    };
    let given = headers.get(&expected.name).map(|v| v.as_bytes()).unwrap_or_default();
    if body_digest(given) == body_digest(expected.value.expose_secret().as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::Unauthenticated(format!("missing or wrong {} header", expected.name)))
    }
}

/// Image bytes with the format found by sniffing them, never by trusting a header.
#[derive(Debug, Clone)]
pub struct MediaBytes {
    pub bytes: Bytes,
    pub format: MediaFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFormat {
    Jpeg,
    Png,
    Pdf,
}

impl MediaBytes {
    /// Image bytes as a provider sent them: the format comes from the bytes, never from a
    /// header (ComplyCube says `images/jpg`).
    pub fn sniffed(provider: ProviderId, bytes: Bytes) -> Result<Self, ProviderError> {
        let format = MediaFormat::sniff(&bytes)
            .ok_or_else(|| ProviderError::Decode { provider, detail: "image is neither JPEG, PNG nor PDF".into() })?;
        Ok(Self { bytes, format })
    }

    /// Base64 text inside JSON (ComplyCube, Credas, FrankieOne).
    pub fn from_base64(provider: ProviderId, text: &str) -> Result<Self, ProviderError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| ProviderError::Decode { provider, detail: format!("image data is not base64: {e}") })?;
        Self::sniffed(provider, bytes.into())
    }
}

impl MediaFormat {
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(MediaFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(MediaFormat::Png)
        } else if bytes.starts_with(b"%PDF") {
            Some(MediaFormat::Pdf)
        } else {
            None
        }
    }
}

#[async_trait]
pub trait Provider: Send + Sync {
    fn id(&self) -> ProviderId;
    /// The one client its calls go through (for sharing its rate budget).
    fn http(&self) -> &http::ProviderHttp;
    fn capabilities(&self) -> &Capabilities;
    /// List-capable providers: what needs review since `since`. The others list nothing:
    /// the inbox feeds their queue.
    async fn pending(&self, since: Option<DateTime<Utc>>) -> Result<PendingScan, ProviderError> {
        Ok(PendingScan { watermark: since, ..PendingScan::default() })
    }
    /// The case, mapped and sanitised.
    async fn case(&self, case_ref: &CaseRef) -> Result<Case, ProviderError>;
    async fn media(&self, media: &MediaRef) -> Result<MediaBytes, ProviderError>;
    /// Checks a decision against the provider's rules without sending anything.
    fn check_decision(&self, decision: &Decision) -> Result<(), ProviderError>;
    /// `check_decision`, and the decision against the target the case offered for it
    /// (its verdicts and its catalogue of codes): what to call before saving when the
    /// case is at hand.
    fn check_decision_on(&self, decision: &Decision, target: &DecisionTarget) -> Result<(), ProviderError> {
        check_target(self.id(), decision, target)?;
        self.check_decision(decision)
    }
    /// Applies a decision; may be several calls, each through `log` (`logged_call`), so
    /// a retry skips the calls an earlier attempt completed.
    async fn decide(&self, decision: &Decision, log: &dyn CallLog) -> Result<Receipt, ProviderError>;
    /// After an attempt whose last call was never answered (a timeout, a reset, a
    /// crash): is the decision applied at the provider, as far as its state shows?
    async fn reconcile(&self, decision: &Decision) -> Result<Reconciled, ProviderError>;
    /// Verifies and parses a webhook on its raw bytes.
    fn webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, WebhookError>;
    /// Re-reads what a webhook named: which of its cases need review now, and which not.
    async fn refresh(&self, hint: &CaseRef) -> Result<PendingScan, ProviderError>;
}

/// What the provider's state says of a decision whose last call went unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconciled {
    Applied,
    NotApplied,
    /// The provider's state looks the same whether or not the call was applied (a refer
    /// that leaves the case referred): resending could apply it twice, and not resending
    /// could lose it, so an analyst decides.
    CannotTell,
}

impl Reconciled {
    pub fn applied(self) -> bool {
        self == Reconciled::Applied
    }
}

impl From<bool> for Reconciled {
    fn from(applied: bool) -> Self {
        if applied { Reconciled::Applied } else { Reconciled::NotApplied }
    }
}

/// Where a decision's provider calls are recorded as they happen. None of the five
/// providers documents request idempotency keys (shared/providers/README.md §3), so
/// exactly-once rests on this record and on reading the case back.
#[async_trait]
pub trait CallLog: Send + Sync {
    /// The answer to `step` if an earlier attempt got it: the call is not sent again.
    fn done(&self, step: &str) -> Option<CallRecord>;
    /// Just before `step` goes out; an error means it must not go out.
    async fn starting(&self, step: &str) -> Result<(), ProviderError>;
    /// `step` was answered (success or refusal alike: either way it is settled).
    async fn finished(&self, step: &str, record: &CallRecord) -> Result<(), ProviderError>;
}

/// Nothing recorded: one attempt's calls, for tools and tests that hold no outbox.
pub struct Unlogged;

#[async_trait]
impl CallLog for Unlogged {
    fn done(&self, _step: &str) -> Option<CallRecord> {
        None
    }
    async fn starting(&self, _step: &str) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn finished(&self, _step: &str, _record: &CallRecord) -> Result<(), ProviderError> {
        Ok(())
    }
}

/// One decision call through the log: skipped if an earlier attempt completed it,
/// recorded as in flight before it goes out and as done when it succeeds. `shown_path`
/// is the path as the receipt and the audit log show it. The step is the call itself
/// (method, path and a digest of the body), so a re-planned retry that sends the same
/// call finds it done.
#[allow(clippy::too_many_arguments)]
pub async fn logged_call(
    http: &http::ProviderHttp,
    log: &dyn CallLog,
    method: reqwest::Method,
    path: &str,
    shown_path: String,
    body: Option<Vec<u8>>,
    what: &str,
    read_error: fn(&[u8]) -> ErrorParts,
) -> Result<CallRecord, ProviderError> {
    let digest = body_digest(body.as_deref().unwrap_or_default());
    let step = format!("{method} {path} {}", &digest[..16]);
    if let Some(done) = log.done(&step) {
        return Ok(done);
    }
    log.starting(&step).await?;
    let response = http.call(method.clone(), path, body, what, read_error).await?;
    let record = CallRecord::of(method.as_str(), shown_path, &response);
    log.finished(&step, &record).await?;
    Ok(record)
}

/// The configured providers, by id.
#[derive(Clone, Default)]
pub struct Providers {
    by_id: BTreeMap<ProviderId, Arc<dyn Provider>>,
}

impl Providers {
    pub fn insert(&mut self, provider: Arc<dyn Provider>) {
        self.by_id.insert(provider.id(), provider);
    }

    pub fn get(&self, id: ProviderId) -> Option<&Arc<dyn Provider>> {
        self.by_id.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.by_id.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every provider's rate limit spent in `sends`, shared by every process that
    /// attaches the same log (the store): see [`rate`].
    pub fn share_rate(&self, sends: &Arc<dyn rate::SharedSends>) {
        for provider in self.iter() {
            provider.http().share_rate(sends);
        }
    }

    pub fn require(&self, id: ProviderId) -> Result<&Arc<dyn Provider>, ProviderError> {
        self.get(id)
            .ok_or(ProviderError::Config { provider: id, detail: "not configured in this kycdesk config".into() })
    }
}

impl CallRecord {
    /// What a delivered call looked like, for the outbox and the audit log.
    pub fn of(method: &str, path: String, response: &http::HttpResponse) -> Self {
        CallRecord {
            method: method.to_string(),
            path,
            status: response.status.as_u16(),
            answer: SafeText::new(&String::from_utf8_lossy(&response.body)).one_line(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> QueueEntry {
        QueueEntry {
            case_ref: CaseRef::new(ProviderId::ComplyCube, key),
            applicant: SafeText::new("A"),
            check_type: SafeText::new("t"),
            why_referred: SafeText::new("w"),
            received_at: Utc::now(),
            status: crate::domain::QueueStatus::Pending,
            lane: crate::domain::Lane::New,
            note: None,
        }
    }

    #[test]
    fn a_case_with_a_bad_id_is_dropped_with_a_reason_and_the_rest_kept() {
        let scan = PendingScan {
            referred: vec![entry("chk_1"), entry("chk 2"), entry("chk\u{1b}]0;x")],
            settled: vec![CaseRef::new(ProviderId::ComplyCube, "a/b"), CaseRef::new(ProviderId::ComplyCube, "ok")],
            ..PendingScan::default()
        }
        .checked();
        let kept: Vec<&str> = scan.referred.iter().map(|e| e.case_ref.key.as_str()).collect();
        assert_eq!(kept, ["chk_1"]);
        assert_eq!(scan.settled, [CaseRef::new(ProviderId::ComplyCube, "ok")]);
        assert_eq!(scan.dropped.len(), 3);
        assert!(scan.dropped[0].contains("'chk 2' is not a ComplyCube case id"), "{:?}", scan.dropped);
        assert!(scan.dropped.iter().all(|d| !d.contains('\u{1b}')));
    }

    #[test]
    fn an_answer_about_another_case_is_an_error() {
        let p = ProviderId::Sumsub;
        assert!(answer_is_for(p, "applicant", "a1", Some("a1")).is_ok());
        assert!(answer_is_for(p, "applicant", "a1", None).is_ok());
        let Err(ProviderError::Decode { detail, .. }) = answer_is_for(p, "applicant", "a1", Some("a2\u{1b}[2J")) else {
            panic!("accepted an answer about another applicant");
        };
        assert!(detail.contains("'a2\u{FFFD}[2J'"), "{detail}");
    }

    #[test]
    fn a_scan_about_another_case_is_an_error() {
        let hint = CaseRef::new(ProviderId::ComplyCube, "chk_1");
        let scan = || PendingScan { referred: vec![entry("chk_2")], ..PendingScan::default() };
        assert!(matches!(scan().only_for(&hint), Err(ProviderError::Decode { .. })));
        let own = PendingScan { referred: vec![entry("chk_1")], ..PendingScan::default() };
        assert_eq!(own.only_for(&hint).map(|s| s.referred.len()).ok(), Some(1));
        // An entity hint covers the cases of that entity, and no other entity's.
        let entity = CaseRef::new(ProviderId::Credas, "e1");
        assert!(same_case(&entity, &CaseRef::new(ProviderId::Credas, "e1/x")));
        assert!(!same_case(&entity, &CaseRef::new(ProviderId::Credas, "e10/x")));
        assert!(!same_case(&entity, &CaseRef::new(ProviderId::Sumsub, "e1")));
    }

    #[test]
    fn sniffs_formats_from_bytes() {
        assert_eq!(MediaFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(MediaFormat::Jpeg));
        assert_eq!(MediaFormat::sniff(b"\x89PNG\r\n\x1a\n...."), Some(MediaFormat::Png));
        assert_eq!(MediaFormat::sniff(b"%PDF-1.7"), Some(MediaFormat::Pdf));
        assert_eq!(MediaFormat::sniff(b"GIF89a"), None);
    }
}
