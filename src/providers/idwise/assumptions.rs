//! Every IDWise behaviour the public documentation leaves open, in one place, shared by
//! the adapter and the emulator (`shared/providers/idwise.md`, "Open points").

/// Region hosts (documented). The adapter always calls the `journey/…` path form.
pub const HOST_EU: &str = "https://api.idwise.com/";
pub const HOST_UAE: &str = "https://api-uae.idwise.com/";
pub const HOST_QATAR: &str = "https://api-qat.idwise.com/";

/// Paths (the reference gives only some; the rest follow the third-party description
/// under the documented `journey/` prefix). The emulator also serves the bare forms.
pub fn journey_path(journey_id: &str) -> String {
    format!("journey/v2/get/{journey_id}")
}
pub fn summary_path(journey_id: &str) -> String {
    format!("journey/v2/summary/{journey_id}")
}
pub fn spot_check_path(journey_id: &str) -> String {
    format!("journey/v2/spot-checks/{journey_id}")
}
pub fn manual_review_path(journey_id: &str) -> String {
    format!("journey/v2/manual-review/{journey_id}")
}
pub fn image_path(image_path: &str) -> String {
    format!("journey/image/{image_path}")
}

/// Summary may be called no more often than every 2 s (documented), per journey (assumed).
pub const SUMMARY_MIN_INTERVAL_MS: u64 = 2000;

/// The emulator's answer to a faster summary call (status and code assumed).
pub const THROTTLE_STATUS: u16 = 429;
pub const THROTTLE_CODE: &str = "too_many_requests";

/// Status of `missing_requested_resource` (code documented, status assumed).
pub const NOT_FOUND_STATUS: u16 = 404;

/// 400 bodies for a bad manual review use this code (assumed).
pub const INVALID_REQUEST_CODE: &str = "invalid_request";

/// Manual review answers 200 `{"success": true}` (assumed); the adapter re-reads instead.
pub const REVIEW_OK_BODY: &str = r#"{"success":true}"#;

/// No documented comment limit; kycdesk caps the reason it sends at this many characters.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// No webhook authentication is documented. A deployment may configure a static shared
/// header; without one, webhooks are accepted and always re-read before use.
pub const WEBHOOK_AUTH_REQUIRED: bool = false;

/// `system_decision` may also be `Approved`/`Rejected` (third-party samples); both are
/// treated as decided.
pub const REFERRED_DECISION: &str = "Refer";

/// Every document image key ends with this (the docs disagree on the exact names).
pub const IMAGE_KEY_SUFFIX: &str = "_image_path";

/// Liveness failure codes and what they mean, for the analyst. The list is open: an
/// unknown code is shown raw.
pub const LIVENESS_CODES: [(&str, &str); 10] = [
    ("FACE_TOO_CLOSE", "the face is too close to the camera"),
    ("FACE_CLOSE_TO_BORDER", "the face is too close to the edge of the image"),
    ("FACE_CROPPED", "the face is cropped: part of it is outside the image"),
    ("FACE_IS_OCCLUDED", "part of the face is covered (hand, mask, hair, glasses)"),
    ("FACE_NOT_FOUND", "no face was found in the selfie"),
    ("TOO_MANY_FACES", "more than one face is in the selfie"),
    ("FACE_TOO_SMALL", "the face is too small in the image"),
    ("BAD_QUALITY_IMAGE", "the selfie is blurred or of too low a resolution"),
    ("FACE_ANGLE_TOO_LARGE", "the face is tilted or turned too far from the camera"),
    ("NOT_LIVE", "the liveness model judged the face not live (photo, screen, mask)"),
];

pub fn liveness_description(code: &str) -> Option<&'static str> {
    LIVENESS_CODES.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
}

/// Reason codes: IDWise Studio lets admins define reason keys (e.g. `RESUBMIT_BAD_QUALITY`),
/// but the manual-review API has no field for one (documented absence). kycdesk carries
/// the ticked keys at the head of `comment`, `"[<KEY>] <free text>"` (idwise.md §6,
/// assumed), several as `"[K1] [K2] <free text>"`; the whole comment counts against
/// `MAX_COMMENT_CHARS`.
pub const REASON_KEYS_IN_COMMENT: bool = true;

/// The comment a review carries: the reason keys, then the analyst's words.
pub fn comment_with_keys(keys: &[String], text: &str) -> String {
    if !REASON_KEYS_IN_COMMENT || keys.is_empty() {
        return text.to_string();
    }
    let prefix: Vec<String> = keys.iter().map(|k| format!("[{k}]")).collect();
    format!("{} {text}", prefix.join(" "))
}

/// Studio reason keys are each tenant's own: kycdesk ships none, and a deployment lists
/// its Reject keys (`IdWise::with_reason_keys`). A key not listed is refused before saving.
pub const DEFAULT_REASON_KEYS: [crate::domain::ReasonCode; 0] = [];

/// Manual review is posted with `Content-Type: application/json` (documented). Without
/// it the emulator answers 400 `invalid_request` (status and code assumed, as for other
/// malformed reviews).
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// `extracted_fields` names the adapter reads. The names are not documented (the field
/// is a map of "<Field Name>"); these are the ones IDWise's samples show, and the ones
/// the emulator sends. Values are ISO dates where they are dates (assumed, as
/// `applicant.birth_date` is documented to be).
pub const FIELD_FULL_NAME: &str = "Full Name";
pub const FIELD_FIRST_NAME: &str = "First Name";
pub const FIELD_LAST_NAME: &str = "Last Name";
pub const FIELD_BIRTH_DATE: &str = "Birth Date";
pub const FIELD_EXPIRY_DATE: &str = "Expiry Date";
pub const FIELD_DOCUMENT_NUMBER: &str = "Document Number";

/// Extracted fields about the document rather than its holder: shown in mask mode.
pub const DOCUMENT_FACT_FIELDS: [&str; 5] =
    [FIELD_EXPIRY_DATE, "Issue Date", "Document Type", "Issuing Country", "Issuing Country Code"];
