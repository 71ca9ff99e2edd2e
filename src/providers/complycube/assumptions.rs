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
