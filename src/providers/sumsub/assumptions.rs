//! Every Sumsub behaviour the public documentation leaves open, in one place, shared by
//! the adapter and the emulator (`shared/providers/sumsub.md`, "Open points").

use crate::domain::ReasonCode;

pub const BASE_URL: &str = "https://api.sumsub.com/";

/// Requests are refused when their timestamp is further than this from the server's
/// clock ("within 1 minute", documented).
pub const MAX_SKEW_SECS: i64 = 60;

/// Rate limits (documented): GET 300 and POST 50 per 5 s; kycdesk spaces requests evenly.
pub const GET_PER_SECOND: u32 = 60;
pub const POST_PER_SECOND: u32 = 10;
pub const LIMIT_WINDOW_SECS: u64 = 5;
pub const GET_PER_WINDOW: usize = 300;
pub const POST_PER_WINDOW: usize = 50;

/// Throttling answers 429 with `Retry-After` (status not stated; assumed).
pub const THROTTLE_STATUS: u16 = 429;

/// Approve/reject right after `pending` answer 409 + `Retry-After` (documented); without
/// the header, wait 10–15 s.
pub const NOT_NOW_STATUS: u16 = 409;
pub const NOT_NOW_DEFAULT_WAIT_SECS: u64 = 10;
/// How long the emulator answers 409 after an applicant became `pending` (assumed).
pub const PENDING_GRACE_SECS: u64 = 2;

/// Referred: on hold, waiting for the client's compliance officer (documented).
pub const ON_HOLD: &str = "onHold";
/// Sumsub itself is still reviewing: queued, shown as "in provider review" (assumed).
pub const PENDING: &str = "pending";

/// Steps `resetStep` accepts in the emulator (the documented examples and their kin).
pub const RESETTABLE_STEPS: [&str; 8] = [
    "IDENTITY",
    "SELFIE",
    "PROOF_OF_RESIDENCE",
    "APPLICANT_DATA",
    "PHONE_VERIFICATION",
    "EMAIL_VERIFICATION",
    "QUESTIONNAIRE",
    "COMPANY_DATA",
];

/// After `resetStep` the applicant goes back to `init` (assumed).
pub const AFTER_RESET_STATUS: &str = "init";

/// Reject `reasons` groups kycdesk offers (documented groups; the catalogue is open).
/// A code is `group:reasonId`; the adapter sends them grouped.
pub const REJECT_REASONS: [ReasonCode; 12] = [
    ReasonCode { code: "fraud:documentForgery", label: "Fraud: document forgery" },
    ReasonCode { code: "fraud:imageManipulation", label: "Fraud: image manipulation" },
    ReasonCode { code: "fraud:stolenIdentity", label: "Fraud: stolen identity" },
    ReasonCode { code: "fraud:multiAccounting", label: "Fraud: multi-accounting" },
    ReasonCode { code: "fraud:fakeContactData", label: "Fraud: fake contact data" },
    ReasonCode { code: "fraud:locationManipulation", label: "Fraud: location manipulation" },
    ReasonCode { code: "fraud:socialEngineering", label: "Fraud: social engineering" },
    ReasonCode { code: "fraud:elderAbuse", label: "Fraud: elder abuse" },
    ReasonCode { code: "finance:chargeback", label: "Finance: chargeback" },
    ReasonCode { code: "finance:suspiciousAccounts", label: "Finance: suspicious accounts" },
    ReasonCode { code: "finance:highRiskPaymentMethod", label: "Finance: high-risk payment method" },
    ReasonCode { code: "finance:moneyMuling", label: "Finance: money muling" },
];

/// Whether a reject must carry `reasons` is undocumented: kycdesk always sends at least
/// one group; the emulator accepts none.
pub const REJECT_NEEDS_REASONS: bool = true;

/// The typed reason goes in `note` (approve and reject).
pub const NOTE_FIELD: &str = "note";

/// Webhook digest: the adapter follows `X-Payload-Digest-Alg`; the emulator sends SHA256.
pub const DIGEST_HEADER: &str = "x-payload-digest";
pub const DIGEST_ALG_HEADER: &str = "x-payload-digest-alg";

/// Longest note kycdesk sends (no documented limit).
pub const MAX_NOTE_CHARS: usize = 4000;

/// `resetStep` takes no body, and no production call takes a moderator comment with a
/// resubmission (RETRY with comments is Dashboard-only; `testCompleted` is sandbox-only):
/// the reason typed on Resubmit stays in kycdesk's audit log.
pub const RESET_STEP_TAKES_A_COMMENT: bool = false;

/// Every request says `Content-Type: application/json`, even with an empty body
/// (documented advice; applied to every POST). What Sumsub answers without it is not
/// documented: the emulator refuses such a POST with 400 in the documented error shape.
pub const JSON_CONTENT_TYPE: &str = "application/json";
pub const MISSING_CONTENT_TYPE_STATUS: u16 = 400;
