//! Every ComplyCube behaviour the public documentation leaves open, in one place, shared
//! by the adapter and the emulator (see `shared/providers/complycube.md`, "Open points").
//! When real behaviour becomes known, change it here and both sides follow.

/// Outcomes that mean "a human must look". `attention` is documented; `not_processed`
/// appears in newer document-check material only, and is treated as needing review too.
pub const REFERRED_OUTCOMES: [&str; 2] = ["attention", "not_processed"];

/// `page` is 1-based: the docs say it "must be greater than 1", read as "at least 1".
pub const FIRST_PAGE: u32 = 1;

/// Page size the adapter asks for when walking `GET /v1/checks` (documented max 1000).
pub const LIST_PAGE_SIZE: u32 = 100;

/// Time-window filters (`updatedAfter` …) take ISO 8601 UTC; the format is not stated.
pub const TIME_FILTER_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// Check filter attributes the emulator accepts besides the time window. `type` is
/// documented (the SDK uses it); the others are plausible, unconfirmed. An unknown
/// filter gives 200 with no items (documented), so the adapter filters locally instead.
pub const CHECK_FILTERS: [&str; 3] = ["type", "clientId", "status"];

/// Characters a filter value may hold (documented: `A-Z a-z 0-9 $ - _ * .` and space).
pub fn filter_value_allowed(value: &str) -> bool {
    value.chars().all(|c| c.is_ascii_alphanumeric() || "$-_*. +:".contains(c))
}

/// `Authorization: Bearer <key>` is treated as an unknown key (401): only the raw key is
/// documented, and the adapter never adds a scheme.
pub const BEARER_IS_UNKNOWN_KEY: bool = true;

/// The validate response echoes the requested `outcome`; the adapter re-reads the check
/// rather than trusting it.
pub const VALIDATE_ECHOES_OUTCOME: bool = true;

/// Re-validating an already validated check overwrites it, so a resend is harmless.
pub const REVALIDATE_OVERWRITES: bool = true;

/// Match fields beyond `id` (emulator adds them; the console shows unknown fields raw).
pub const MATCH_NAME: &str = "name";
pub const MATCH_SCORE: &str = "score";
pub const MATCH_TYPES: &str = "types";

/// Analysis section keys inside document and identity breakdowns; the console renders
/// whatever keys arrive, these are the ones the emulator emits.
pub const DOCUMENT_ANALYSES: [&str; 5] =
    ["mrzAnalysis", "consistencyAnalysis", "contentAnalysis", "formatAnalysis", "forensicAnalysis"];

/// Webhook signature header (third-party name), read case-insensitively.
pub const SIGNATURE_HEADER: &str = "complycube-signature";

/// Rate limits (documented, v1.7.3): requests per second by key mode.
pub const TEST_KEY_RPS: u32 = 5;
pub const LIVE_KEY_RPS: u32 = 10;

/// Documented recommendation: back off from 30 s after a 429.
pub const BACKOFF_INITIAL_SECS: u64 = 30;

/// Longest `comment` validate accepts (documented).
pub const MAX_COMMENT_CHARS: usize = 4000;

/// Live photos download with this (invalid, documented) content type; the adapter sniffs.
pub const LIVE_PHOTO_CONTENT_TYPE: &str = "images/jpg";

/// Every POST/PUT carries `Content-Type: application/json` (documented). What ComplyCube
/// answers without it is not: the emulator refuses it as a bad request, in the documented
/// error shape (`400` is the documented status for a malformed request; `415` is not in
/// ComplyCube's list of status codes).
pub const JSON_CONTENT_TYPE: &str = "application/json";
pub const MISSING_CONTENT_TYPE_STATUS: u16 = 400;
pub const MISSING_CONTENT_TYPE_KIND: &str = "invalid_request";
pub const MISSING_CONTENT_TYPE_MESSAGE: &str = "The Content-Type header must be application/json";

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters).
pub fn is_json_content_type(value: &str) -> bool {
    value.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case(JSON_CONTENT_TYPE))
}

/// After validation a match carries the outcome it was validated with under this key
/// (`confirmed` = true match, `rejected` = false positive). Undocumented (match fields
/// beyond `id` are not); the emulator sets it. Without it the adapter cannot tell which
/// hits are decided, so it will not dismiss "the rest" of a `match_confirmed` check.
pub const MATCH_RESOLUTION: &str = "resolution";
pub const RESOLVED_TRUE_MATCH: &str = "confirmed";
pub const RESOLVED_FALSE_POSITIVE: &str = "rejected";

/// The check outcome after any match is confirmed (documented).
pub const MATCH_CONFIRMED: &str = "match_confirmed";

/// A `match_confirmed` check still takes validations of its other matches (each call is
/// per match; the docs set no rule against it), and stays `match_confirmed` while any
/// match is confirmed; it turns `clear` only when every match is rejected.
pub const VALIDATE_AFTER_MATCH_CONFIRMED: bool = true;

/// The name parts of `extractedData.holderDetails`, in reading order. `firstName` is
/// documented as an array; `middleName` and `lastName` are taken to be the same (a plain
/// string is read too). The holder's `dob` is a structured `{day, month, year}` date, as
/// every date inside results is (documented).
pub const HOLDER_NAME_PARTS: [&str; 3] = ["firstName", "middleName", "lastName"];
