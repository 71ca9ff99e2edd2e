//! Credas CI v2 wire types: camelCase REST bodies with integer enums; PascalCase webhooks.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entity {
    pub id: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub account_type: Option<i64>,
    #[serde(default)]
    pub registration_code: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub identity_verifications: Vec<IdentityVerification>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub address_line2: Option<String>,
    #[serde(default)]
    pub town: Option<String>,
    #[serde(default)]
    pub county: Option<String>,
    #[serde(default)]
    pub postcode: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityVerification {
    pub entry_id: String,
    #[serde(default)]
    pub entity_id: Option<String>,
    #[serde(default)]
    pub date_completed: Option<String>,
    #[serde(default)]
    pub process_id: Option<String>,
    #[serde(default)]
    pub overall_result: Option<i64>,
    #[serde(default)]
    pub document_id: Option<String>,
    #[serde(default)]
    pub document_type: Option<i64>,
    #[serde(default)]
    pub liveness_result: Option<i64>,
    #[serde(default)]
    pub document_result: Option<i64>,
    #[serde(default)]
    pub visual_analysis_result: Option<i64>,
    #[serde(default)]
    pub nfc_result: Option<i64>,
    #[serde(default)]
    pub age_validation_result: Option<i64>,
    #[serde(default)]
    pub police_record_result: Option<i64>,
    #[serde(default)]
    pub compromised_alert_result: Option<i64>,
    #[serde(default)]
    pub repeat_attempts_result: Option<i64>,
    #[serde(default)]
    pub name_match_result: Option<i64>,
    #[serde(default)]
    pub face_match_result: Option<i64>,
    #[serde(default)]
    pub document_number: Option<String>,
    #[serde(default)]
    pub document_expiry_date: Option<String>,
    #[serde(default)]
    pub document_birth_date: Option<String>,
    #[serde(default)]
    pub document_issuing_country_code: Option<String>,
    #[serde(default)]
    pub supporting_documents: Vec<SupportingDocument>,
}

impl IdentityVerification {
    /// The sub-check results, by their documented field names.
    pub fn results(&self) -> [(&'static str, Option<i64>); 11] {
        [
            ("livenessResult", self.liveness_result),
            ("documentResult", self.document_result),
            ("faceMatchResult", self.face_match_result),
            ("visualAnalysisResult", self.visual_analysis_result),
            ("nfcResult", self.nfc_result),
            ("ageValidationResult", self.age_validation_result),
            ("nameMatchResult", self.name_match_result),
            ("policeRecordResult", self.police_record_result),
            ("compromisedAlertResult", self.compromised_alert_result),
            ("repeatAttemptsResult", self.repeat_attempts_result),
            ("overallResult", self.overall_result),
        ]
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportingDocument {
    pub supporting_document_id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub is_for_rtx: Option<bool>,
    #[serde(default)]
    pub date_completed: Option<String>,
    #[serde(default)]
    pub overall_result: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveCheck {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<i64>,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub idv_entry_id: Option<String>,
    #[serde(default)]
    pub can_review: Option<bool>,
    #[serde(default)]
    pub is_manually_checked: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Image {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "base64Image", default)]
    pub base64_image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SupportingReview {
    pub id: String,
    pub result: i64,
    pub comments: String,
}

/// The result-status-update webhook: `Payload` is JSON inside a string.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultStatusUpdate {
    pub update_type: i64,
    pub payload: String,
}
