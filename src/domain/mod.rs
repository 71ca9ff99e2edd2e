//! Provider-neutral model. Everything here is already sanitised (`SafeText`); provider
//! adapters build it from their wire types and nothing else sees provider JSON.

pub mod dates;
pub mod flags;
pub mod identity;
pub mod sanitize;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use dates::{DateValue, instant_text, parse_instant, shown_instant};
pub use flags::{EvidenceFlag, evidence_flags};
pub use sanitize::{SafeText, sanitize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderId {
    ComplyCube,
    Credas,
    IdWise,
    Sumsub,
    FrankieOne,
}

impl ProviderId {
    pub const ALL: [ProviderId; 5] =
        [ProviderId::ComplyCube, ProviderId::Credas, ProviderId::IdWise, ProviderId::Sumsub, ProviderId::FrankieOne];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::ComplyCube => "complycube",
            ProviderId::Credas => "credas",
            ProviderId::IdWise => "idwise",
            ProviderId::Sumsub => "sumsub",
            ProviderId::FrankieOne => "frankieone",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            ProviderId::ComplyCube => "ComplyCube",
            ProviderId::Credas => "Credas",
            ProviderId::IdWise => "IDWise",
            ProviderId::Sumsub => "Sumsub",
            ProviderId::FrankieOne => "FrankieOne",
        }
    }

    /// Whether `key` is a case key of this provider: its id alphabet, and as many
    /// `/`-joined parts as its case reference has (fewer for a webhook's hint, which
    /// names the entity only). The one place that says what an id may contain, so a
    /// hostile or broken id never reaches the store, a URL path or the screen.
    pub fn is_case_key(self, key: &str) -> bool {
        // Credas: entity/IDV entry; FrankieOne: entity/service/workflow/execution.
        let (max_parts, extra) = match self {
            ProviderId::ComplyCube | ProviderId::IdWise | ProviderId::Sumsub => (1, ""),
            ProviderId::Credas => (2, ""),
            ProviderId::FrankieOne => (4, "."),
        };
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.len() <= MAX_ID_LEN
                && p != "."
                && p != ".."
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || extra.contains(c))
        };
        key.len() <= MAX_KEY_LEN && key.split('/').count() <= max_parts && key.split('/').all(part_ok)
    }
}

/// Longest single id accepted from any provider (their ids are 24–36 characters).
pub const MAX_ID_LEN: usize = 128;
/// Longest case key (a composite of several ids).
pub const MAX_KEY_LEN: usize = 512;

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefError {
    #[error("unknown provider '{0}' (expected one of complycube, credas, idwise, sumsub, frankieone)")]
    UnknownProvider(String),
    #[error("a case reference looks like provider:id, e.g. complycube:5f1a…; got '{0}'")]
    Malformed(String),
    /// The id has characters (or parts) the provider's ids never have; shown sanitised.
    #[error("'{id}' is not a {provider} case id")]
    BadId { provider: &'static str, id: String },
}

impl FromStr for ProviderId {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderId::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| RefError::UnknownProvider(sanitize(s)))
    }
}

/// A case as the provider names it: one id for ComplyCube, Sumsub and IDWise; a
/// composite key (entity and elements, entity/profile/execution) for the others, which
/// their adapters encode into `key` and decode again. Shown and typed as `provider:key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CaseRef {
    pub provider: ProviderId,
    pub key: String,
}

impl CaseRef {
    /// An already trusted key (built by an adapter from validated parts, or in tests);
    /// anything read from a provider or a user goes through [`CaseRef::checked`].
    pub fn new(provider: ProviderId, key: impl Into<String>) -> Self {
        Self { provider, key: key.into() }
    }

    /// A reference whose key passes the provider's id rules ([`ProviderId::is_case_key`]).
    pub fn checked(provider: ProviderId, key: impl Into<String>) -> Result<Self, RefError> {
        let key = key.into();
        if provider.is_case_key(&key) {
            Ok(Self { provider, key })
        } else {
            Err(RefError::BadId { provider: provider.display_name(), id: shown_id(&key) })
        }
    }

    /// Whether this reference's key passes its provider's id rules.
    pub fn is_valid(&self) -> bool {
        self.provider.is_case_key(&self.key)
    }
}

/// A rejected id as an error message may show it: sanitised, and cut short (an id can
/// be 10,000 characters of anything).
pub fn shown_id(raw: &str) -> String {
    shown_text(raw, 80)
}

/// Untrusted text for a message: sanitised, at most `max` characters and a `…`.
pub fn shown_text(raw: &str, max: usize) -> String {
    let mut shown: String = sanitize(raw).chars().take(max).collect();
    if raw.chars().count() > max {
        shown.push('…');
    }
    shown
}

impl fmt::Display for CaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.key)
    }
}

impl FromStr for CaseRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (provider, key) = s.split_once(':').ok_or_else(|| RefError::Malformed(shown_id(s)))?;
        if key.is_empty() {
            return Err(RefError::Malformed(shown_id(s)));
        }
        CaseRef::checked(provider.parse()?, key)
    }
}

/// Where a case stands in kycdesk's own queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    /// Waiting for an analyst.
    Pending,
    /// Referred onwards: sits in the escalated lane for a senior reviewer.
    Escalated,
    /// A decision is saved in the outbox.
    Decided,
    /// The provider no longer reports it as needing review.
    Closed,
}

impl QueueStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Pending => "pending",
            QueueStatus::Escalated => "escalated",
            QueueStatus::Decided => "decided",
            QueueStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Escalated, Self::Decided, Self::Closed].into_iter().find(|q| q.as_str() == s)
    }
}

/// Which part of the working queue a case sits in, as the store derives it from the
/// case's status and its decisions. Intake always produces `New`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// A referral waiting for an analyst.
    #[default]
    New,
    /// The provider refused the last decision: decide it again (the note says why).
    Refused,
    /// Referred onwards (a local refer): waits for a senior reviewer.
    Escalated,
    /// Decided; the decision is saved and waits for delivery (grace period or retrying).
    Awaiting,
}

impl Lane {
    pub const ALL: [Lane; 4] = [Lane::New, Lane::Refused, Lane::Escalated, Lane::Awaiting];

    pub fn label(self) -> &'static str {
        match self {
            Lane::New => "new",
            Lane::Refused => "refused",
            Lane::Escalated => "escalated",
            Lane::Awaiting => "awaiting delivery",
        }
    }
}

/// A queue row: what intake learned about a case without opening it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub case_ref: CaseRef,
    pub applicant: SafeText,
    pub check_type: SafeText,
    pub why_referred: SafeText,
    pub received_at: DateTime<Utc>,
    pub status: QueueStatus,
    /// Set by the store when it reads the queue.
    #[serde(default)]
    pub lane: Lane,
    /// What the row needs said beside it: the provider's refusal, the delivery error.
    #[serde(default)]
    pub note: Option<SafeText>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: SafeText,
    pub value: SafeText,
    /// About the person (a name, a number, an address, a date of birth, their own id):
    /// mask mode hides it. What is about the check instead stays visible.
    pub personal: bool,
}

impl Field {
    /// A value about the person; also what an unknown field is taken for, so it is
    /// masked unless a mapping knows better.
    pub fn new(name: &str, value: &str) -> Self {
        Self { name: SafeText::new(name), value: SafeText::new(value), personal: true }
    }

    /// A value about the check, not the person: a score, a result, a rule or check
    /// detail, a provider status, when the check ran, an issuing country, a document type.
    pub fn fact(name: &str, value: &str) -> Self {
        Self { personal: false, ..Self::new(name, value) }
    }

    /// A date about the person (a date of birth), shown `YYYY-MM-DD` when it reads.
    pub fn personal_date(name: &str, raw: &str) -> Self {
        Self::new(name, DateValue::parse(raw).map(|d| d.to_string()).unwrap_or_default().as_str())
    }

    /// When something happened at the provider, shown `YYYY-MM-DD HH:MM UTC`.
    pub fn fact_instant(name: &str, raw: &str) -> Self {
        Self { name: SafeText::new(name), value: instant_text(raw), personal: false }
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Applicant {
    pub name: SafeText,
    pub date_of_birth: Option<DateValue>,
    pub nationality: Option<SafeText>,
    pub fields: Vec<Field>,
}

/// An image the provider holds; `key` is opaque to everyone but the adapter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MediaRef {
    pub provider: ProviderId,
    pub key: String,
    pub label: SafeText,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub id: String,
    pub doc_type: SafeText,
    pub country: Option<SafeText>,
    pub number: Option<SafeText>,
    pub expiry: Option<DateValue>,
    /// The holder's name as read off the document (not the applicant record), where
    /// the provider sends it.
    pub holder_name: Option<SafeText>,
    /// The holder's date of birth as read off the document, where the provider sends it.
    pub date_of_birth: Option<DateValue>,
    pub sides: Vec<MediaRef>,
    pub fields: Vec<Field>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LivenessResult {
    Live,
    NotLive,
    Unknown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Liveness {
    pub result: LivenessResult,
    pub code: Option<SafeText>,
    /// What the code means, in words an analyst can act on.
    pub description: SafeText,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Selfie {
    pub media: Option<MediaRef>,
    pub liveness: Liveness,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleOutcome {
    Passed,
    Failed,
    /// The provider left it to a person (Credas's PendingManualCheck, ManualRefer):
    /// asked of the analyst, not failed.
    NeedsReview,
    CouldNotApply,
}

impl RuleOutcome {
    pub fn label(self) -> &'static str {
        match self {
            RuleOutcome::Passed => "Passed",
            RuleOutcome::Failed => "Failed",
            RuleOutcome::NeedsReview => "Needs review",
            RuleOutcome::CouldNotApply => "Could not apply",
        }
    }

    /// How much it asks of the analyst: failed first (why the case is here), then what
    /// is left to a person, then the rest.
    pub fn urgency(self) -> u8 {
        match self {
            RuleOutcome::Failed => 0,
            RuleOutcome::NeedsReview => 1,
            RuleOutcome::CouldNotApply | RuleOutcome::Passed => 2,
        }
    }

    /// Failed or left to a person: said under "What failed".
    pub fn is_open(self) -> bool {
        self.urgency() < 2
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RuleResult {
    pub name: SafeText,
    pub outcome: RuleOutcome,
    pub description: SafeText,
    pub details: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaceMatch {
    /// 0–100.
    pub score: Option<f64>,
    pub matched: Option<bool>,
    pub images: Vec<MediaRef>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScreeningHit {
    pub id: String,
    pub name: SafeText,
    pub score: Option<f64>,
    pub datasets: Vec<SafeText>,
    pub countries: Vec<SafeText>,
    pub dates_of_birth: Vec<DateValue>,
    /// Fields the adapter does not model, shown raw (but sanitised).
    pub extra: Vec<Field>,
    /// Already decided at the provider, if known.
    pub resolution: Option<SafeText>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Verify,
    Reject,
    Refer,
    Resubmit,
    /// A screening hit is the applicant.
    TrueMatch,
    /// A screening hit is someone else.
    FalsePositive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Verify => "verify",
            Verdict::Reject => "reject",
            Verdict::Refer => "refer",
            Verdict::Resubmit => "resubmit",
            Verdict::TrueMatch => "true_match",
            Verdict::FalsePositive => "false_positive",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Verify => "Verify",
            Verdict::Reject => "Reject",
            Verdict::Refer => "Refer",
            Verdict::Resubmit => "Resubmit",
            Verdict::TrueMatch => "True match",
            Verdict::FalsePositive => "False positive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Verify, Self::Reject, Self::Refer, Self::Resubmit, Self::TrueMatch, Self::FalsePositive]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What a decision applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum TargetId {
    /// The whole case.
    Case,
    /// One screening hit, decided as true match or false positive.
    Hit(String),
    /// One element of a case the provider decides separately (Credas liveness, ID
    /// document, supporting document); the key is the adapter's.
    Element(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DecisionTarget {
    pub id: TargetId,
    pub label: SafeText,
    pub verdicts: Vec<Verdict>,
    /// Structured reasons the analyst may tick when rejecting this target.
    pub reject_reasons: Vec<ReasonCode>,
    /// Steps the analyst may pick on Resubmit; none picked means every failed step.
    pub resubmit_steps: Vec<ReasonCode>,
    /// What each verdict sends to the provider, in the analyst's words (e.g. "validate
    /// confirmed", "3 hits dismissed as false positive"); the bulk confirmation lists it.
    pub sends: Vec<(Verdict, SafeText)>,
}

impl DecisionTarget {
    /// What the analyst may tick for a verdict (reject reasons, steps to resubmit).
    pub fn choices(&self, verdict: Verdict) -> &[ReasonCode] {
        match verdict {
            Verdict::Reject => &self.reject_reasons,
            Verdict::Resubmit => &self.resubmit_steps,
            _ => &[],
        }
    }

    /// What `verdict` sends, if the adapter said.
    pub fn sends(&self, verdict: Verdict) -> Option<&SafeText> {
        self.sends.iter().find(|(v, _)| *v == verdict).map(|(_, what)| what)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReasonCode {
    pub code: &'static str,
    pub label: &'static str,
}

/// What a provider can do, declared by its adapter.
#[derive(Clone, Debug, PartialEq)]
pub struct Capabilities {
    /// Verdicts the provider takes natively; the others are local to kycdesk.
    pub native_verdicts: Vec<Verdict>,
    /// Structured reasons the analyst may add on reject.
    pub reject_reasons: Vec<ReasonCode>,
    /// Longest reason the provider accepts, in characters.
    pub max_reason_chars: usize,
    pub idempotency_keys: bool,
    /// Whether intake polls a list endpoint (otherwise the inbox feeds the queue).
    pub lists_pending: bool,
    /// Verdicts whose typed reason the provider cannot take: it stays in the audit log
    /// only (the dialog says so). Local verdicts (not in `native_verdicts`) are always so.
    pub reason_kept_locally: Vec<Verdict>,
    /// Verdicts that need at least one structured reason ticked (Sumsub reject groups).
    pub codes_required: Vec<Verdict>,
}

impl Capabilities {
    /// The verdict is kycdesk's alone: nothing goes to the provider.
    pub fn is_local(&self, verdict: Verdict) -> bool {
        !self.native_verdicts.contains(&verdict)
    }

    /// The typed reason reaches the provider with this verdict.
    pub fn sends_reason(&self, verdict: Verdict) -> bool {
        !self.is_local(verdict) && !self.reason_kept_locally.contains(&verdict)
    }
}

/// A case opened for review: everything the detail panes show.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub case_ref: CaseRef,
    pub check_type: SafeText,
    pub status: SafeText,
    pub why_referred: SafeText,
    pub created_at: Option<DateTime<Utc>>,
    pub applicant: Applicant,
    pub documents: Vec<Document>,
    pub selfie: Option<Selfie>,
    pub rules: Vec<RuleResult>,
    pub face_match: Option<FaceMatch>,
    pub screening: Vec<ScreeningHit>,
    pub targets: Vec<DecisionTarget>,
}

impl Case {
    /// The queue row for a case read directly (by id, or by a headless decision).
    pub fn queue_entry(&self, seen_at: DateTime<Utc>) -> QueueEntry {
        QueueEntry {
            case_ref: self.case_ref.clone(),
            applicant: self.applicant.name.clone(),
            check_type: self.check_type.clone(),
            why_referred: self.why_referred.clone(),
            received_at: self.created_at.unwrap_or(seen_at),
            status: QueueStatus::Pending,
            lane: Lane::New,
            note: None,
        }
    }

    /// Every image of the case, documents first, in display order.
    pub fn media(&self) -> Vec<MediaRef> {
        let mut all: Vec<MediaRef> = self.documents.iter().flat_map(|d| d.sides.clone()).collect();
        if let Some(m) = self.selfie.as_ref().and_then(|s| s.media.clone()) {
            all.push(m);
        }
        if let Some(fm) = &self.face_match {
            for m in &fm.images {
                if !all.contains(m) {
                    all.push(m.clone());
                }
            }
        }
        all
    }
}

/// A decision as the analyst made it. Saved to the outbox before anything is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub case_ref: CaseRef,
    pub target: TargetId,
    pub verdict: Verdict,
    pub reason: String,
    pub reason_codes: Vec<String>,
    pub analyst: String,
    pub created_at: DateTime<Utc>,
}

/// One provider call a decision made, as recorded in the outbox and audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub answer: String,
}

/// What delivering a decision achieved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub calls: Vec<CallRecord>,
    /// The case goes to the escalated lane (a local refer, alone or beside a provider call).
    pub escalate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ref_round_trips() {
        let r: CaseRef = "complycube:5f1a2b".parse().unwrap_or_else(|_| CaseRef::new(ProviderId::Sumsub, "x"));
        assert_eq!(r, CaseRef::new(ProviderId::ComplyCube, "5f1a2b"));
        assert_eq!(r.to_string(), "complycube:5f1a2b");
    }

    #[test]
    fn case_ref_rejects_bad_input() {
        assert!(matches!("nope".parse::<CaseRef>(), Err(RefError::Malformed(_))));
        assert!(matches!("acme:1".parse::<CaseRef>(), Err(RefError::UnknownProvider(_))));
        assert!(matches!("complycube:".parse::<CaseRef>(), Err(RefError::Malformed(_))));
        assert!(matches!("complycube:a b".parse::<CaseRef>(), Err(RefError::BadId { .. })));
        assert!(matches!("complycube:\u{1b}[2J".parse::<CaseRef>(), Err(RefError::BadId { .. })));
    }

    #[test]
    fn each_provider_has_its_own_id_alphabet() {
        use ProviderId::*;
        for ok in ["5f1a2b", "chk_001", "a-b"] {
            for p in ProviderId::ALL {
                assert!(p.is_case_key(ok), "{p} {ok}");
            }
        }
        // One part where the provider names a case by one id.
        for p in [ComplyCube, IdWise, Sumsub] {
            assert!(!p.is_case_key("a/b"), "{p}");
        }
        assert!(Credas.is_case_key("3fa85f64-5717/77"));
        assert!(!Credas.is_case_key("a/b/c"));
        assert!(FrankieOne.is_case_key("3fa85f64/KYC/AUS-Basic.v2/01HN9X"));
        assert!(!FrankieOne.is_case_key("a/b/c/d/e"));
        assert!(!ComplyCube.is_case_key("1.2"), "a dot is FrankieOne's only");
        let hostile = ["", "a b", "a\u{1b}]0;x\u{7}", "a\u{202e}b", "a\u{200b}", "a%2fb", "a\\b", "é", "a?b", "a#b"];
        for p in ProviderId::ALL {
            for bad in hostile {
                assert!(!p.is_case_key(bad), "{p} {bad:?}");
            }
            assert!(!p.is_case_key(&"a".repeat(MAX_ID_LEN + 1)), "{p}");
        }
        assert!(!FrankieOne.is_case_key("e/../w/x"), "no path traversal");
        assert!(!Credas.is_case_key("e//x"), "no empty part");
    }

    #[test]
    fn a_bad_id_is_reported_sanitised_and_short() {
        let long = format!("\u{1b}]52;c;{}\u{7}", "A".repeat(10_000));
        let Err(RefError::BadId { id, .. }) = CaseRef::checked(ProviderId::Sumsub, long) else {
            panic!("accepted a hostile id");
        };
        assert!(!id.contains('\u{1b}') && id.chars().count() <= 81, "{id}");
        assert!(CaseRef::checked(ProviderId::Sumsub, "5b73b82f0a975a3b46429758").is_ok());
    }

    #[test]
    fn verdict_names_round_trip() {
        for v in [Verdict::Verify, Verdict::Reject, Verdict::Refer, Verdict::TrueMatch, Verdict::FalsePositive] {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
        }
    }
}
