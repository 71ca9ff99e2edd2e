//! Every FrankieOne behaviour the public documentation leaves open, in one place, shared
//! by the adapter and the emulator (`shared/providers/frankieone.md`, "Open points").

pub const HOST_UAT: &str = "https://api.uat.frankie.one/";
pub const HOST_PRODUCTION: &str = "https://api.frankie.one/";

/// Execution statuses that mean "an analyst must look" (the selection is assumed).
pub const REFERRED_STATUSES: [&str; 4] = ["REVIEW", "NEEDS_APPROVAL", "BLOCKED", "URGENT"];

/// The search the adapter sends; a filters-only body is accepted (assumed).
pub fn needs_review_search() -> serde_json::Value {
    serde_json::json!({"filters": {
        "entityTypes": ["INDIVIDUAL"],
        "workflowExecutionScope": "LAST",
        "workflowExecutionStatuses": [{"status": REFERRED_STATUSES, "overrideType": "EXCLUDE_OVERRIDDEN"}],
    }})
}

pub const SEARCH_PAGE_LIMIT: u32 = 100;

/// The search answers `matches` as an array of arrays (spec and docs); a flat list is
/// accepted too.
pub const MATCHES_NESTED: bool = true;

/// Verdicts on the workflow execution (the Refer mapping is the least certain).
pub const VERIFY_STATUS: &str = "APPROVED";
pub const REJECT_STATUS: &str = "REJECTED";
pub const REFER_STATUS: &str = "NEEDS_APPROVAL";

/// Screening hits and IDV results resolved per process result.
pub const AML_TRUE_MATCH: &str = "TRUE_POSITIVE_REJECT";
pub const AML_FALSE_POSITIVE: &str = "FALSE_POSITIVE";
pub const IDV_CLEAR: &str = "CLEAR";
pub const IDV_REJECTED: &str = "REJECTED";

/// Images come only as base64 inside documents read with `level=base64`; a `data.uri`
/// is never returned (assumed).
pub const IMAGE_LEVEL: &str = "base64";

/// The selfie is a document of type `SELF_IMAGE` (assumed from the Document-Type enum).
pub const SELFIE_DOCUMENT_TYPE: &str = "SELF_IMAGE";

/// What the adapter calls itself in `X-Frankie-Channel`.
pub const CHANNEL: &str = "kycdesk";

/// No comment limit is documented; kycdesk caps what it sends.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// Webhooks: the optional JWT does not bind the body, so a webhook is only a hint; an
/// optional shared header may be configured.
pub const WEBHOOK_AUTH_REQUIRED: bool = false;

/// Execute-workflow is limited to 20 TPS; nothing else is published.
pub const REQUESTS_PER_SECOND: u32 = 20;

/// No FrankieOne decision body has a reason-code field (only `comment.text`), and the
/// docs state no convention for carrying one: a decision with reason codes is refused
/// before saving rather than having its codes dropped.
pub const REASON_CODES_CARRIED: bool = false;

/// Verify on an execution resolves what is still open first (`providers/README.md` §3):
/// AML hits without a `manualStatus` as `FALSE_POSITIVE`, IDV results that did not pass
/// and have no `manualStatus` as `CLEAR`; then it overrides the execution to `APPROVED`.
/// Passed IDV results need no resolution and are left alone (assumed).
pub const VERIFY_RESOLVES_OPEN_RESULTS: bool = true;

/// Request bodies are `application/json` and nothing else (the spec's only request
/// content type). The spec lists no 415, so a body of another or no type is refused as
/// a validation error: 400 `API-0400` (assumed).
pub const JSON_CONTENT_TYPE: &str = "application/json";
