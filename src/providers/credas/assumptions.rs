//! Every Credas behaviour the public documentation leaves open, in one place, shared by
//! the adapter and the emulator (`shared/providers/credas.md`, "Open points"). Credas's
//! Swagger is the authority; replace these from it when someone with access checks it.

/// Hosts (documented); every path starts with `/api/v2/ci`.
pub const HOST_PROD: &str = "https://portal.credas.com/api/v2/ci/";
pub const HOST_DEMO: &str = "https://portal.credasdemo.com/api/v2/ci/";

/// The documented supporting-document `result` enum, reused for every `*Result` field.
pub const RESULTS: [&str; 8] = [
    "NotPerformed",
    "AutoPass",
    "AutoFail",
    "PendingManualCheck",
    "ManualPass",
    "ManualFail",
    "ManualRefer",
    "Requested",
];
pub const PENDING_MANUAL_CHECK: i64 = 3;
pub const MANUAL_PASS: i64 = 4;
pub const MANUAL_FAIL: i64 = 5;
pub const MANUAL_REFER: i64 = 6;

pub fn result_name(value: i64) -> &'static str {
    usize::try_from(value).ok().and_then(|i| RESULTS.get(i)).copied().unwrap_or("Unknown")
}

/// Results that need an analyst: pending a manual check, or referred.
pub fn needs_review(value: Option<i64>) -> bool {
    matches!(value, Some(PENDING_MANUAL_CHECK) | Some(MANUAL_REFER))
}

/// `overallResult` after an override: any ManualFail fails it; else anything still
/// pending or referred refers it; else it passes.
pub fn overall(results: &[i64]) -> i64 {
    if results.iter().any(|r| *r == MANUAL_FAIL || *r == 2) {
        MANUAL_FAIL
    } else if results.iter().any(|r| needs_review(Some(*r))) {
        MANUAL_REFER
    } else {
        MANUAL_PASS
    }
}

/// ID document types (documented).
pub const DOCUMENT_TYPES: [&str; 15] = [
    "Unknown",
    "Agents licence",
    "Driving licence",
    "Electoral card",
    "Foreigner identification card",
    "Health card",
    "Job licence",
    "Membership identification card",
    "Military identification card",
    "National identification card",
    "Passport",
    "Proof of age card",
    "Travel permit",
    "Visa",
    "Weapons licence",
];

pub fn document_type_name(value: i64) -> &'static str {
    usize::try_from(value).ok().and_then(|i| DOCUMENT_TYPES.get(i)).copied().unwrap_or("Unknown")
}

/// Decision bodies: `{"reason": "..."}` for liveness and ID document calls (the shape is
/// not documented); the emulator also accepts a bare JSON string.
pub const REASON_FIELD: &str = "reason";

/// The supporting-document review path, spelled as Credas spells it.
pub const SUPPORTING_REVIEW_SEGMENT: &str = "non-biometic-documents";

/// No documented reason limit; kycdesk caps what it sends.
pub const MAX_REASON_CHARS: usize = 4000;

/// Image download is not documented. This path is invented as a placeholder: an array
/// of `{kind, id, base64Image}`; a 404 means "no images", and the PDF report remains.
pub fn images_path(entity: &str, entry: &str) -> String {
    format!("entities/{entity}/idv-entries/{entry}/images")
}
pub const IMAGE_SELFIE: &str = "Selfie";
pub const IMAGE_FRONT: &str = "DocumentFront";
pub const IMAGE_BACK: &str = "DocumentBack";

/// No webhook signature is documented: deployments configure a static shared header,
/// which the inbox requires.
pub const WEBHOOK_AUTH_REQUIRED: bool = true;
/// The header the emulator sends (and `--write-config` configures).
pub const EMULATOR_WEBHOOK_HEADER: &str = "X-Credas-Webhook-Token";

/// Result-status-update payload keys beyond the documented name-check ones (PascalCase).
pub const PAYLOAD_ENTITY: &str = "EntityId";
pub const PAYLOAD_ENTRY: &str = "EntityIdvEntryId";

/// Update types that concern a review element (documented numbers).
pub const UPDATE_LIVENESS: i64 = 3;
pub const UPDATE_ID_DOCUMENT: i64 = 4;
pub const UPDATE_NON_BIOMETRIC: i64 = 5;

/// Failures the portal cannot override; the emulator applies the same rule to the API.
pub const NON_OVERRIDABLE: [&str; 3] = ["policeRecordResult", "compromisedAlertResult", "repeatAttemptsResult"];

/// Decision bodies have no reason-code field (only the `reason` / `comments` text), and
/// nothing says how a code would be carried: a decision with codes is refused before
/// saving rather than having them dropped.
pub const REASON_CODES_CARRIED: bool = false;

/// The adapter sends `Content-Type: application/json` on every PUT. Credas documents no
/// rule for a missing one (ASP.NET Core would likely answer 415), so the emulator stays
/// lenient there rather than invent a status.
pub const JSON_CONTENT_TYPE_REQUIRED: bool = false;

/// How Credas writes dates and times (`dateOfBirth`, `documentBirthDate`,
/// `documentExpiryDate`, `dateCompleted`): the format is not documented; ASP.NET writes a
/// `DateTime` as ISO 8601 without an offset, a date as midnight (assumed). The adapter
/// reads it (and RFC 3339, and a bare date) with the shared date parser.
pub const DATE_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";
