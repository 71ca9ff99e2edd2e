//! IDWise wire types (journey model 3.0). snake_case, except inside `aml` and webhook
//! bodies, which are camelCase. Lenient: every field optional.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Journey {
    pub journey_id: String,
    #[serde(default)]
    pub reference_number: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub system_decision: Option<String>,
    #[serde(default)]
    pub manual_decision: Option<String>,
    #[serde(default)]
    pub final_decision: Option<String>,
    #[serde(default)]
    pub documents: BTreeMap<String, Document>,
    #[serde(default)]
    pub selfie: Option<Selfie>,
    #[serde(default)]
    pub rule_results: BTreeMap<String, Rule>,
    #[serde(default)]
    pub applicant: Option<Applicant>,
    #[serde(default)]
    pub aml: Option<Aml>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Document {
    #[serde(default)]
    pub step_title: Option<String>,
    #[serde(default)]
    pub progress: Option<String>,
    #[serde(default)]
    pub has_passed_rules: Option<bool>,
    #[serde(default)]
    pub document_type: Option<String>,
    #[serde(default)]
    pub issuing_country: Option<String>,
    #[serde(default)]
    pub issuing_country_code: Option<String>,
    #[serde(default)]
    pub extracted_fields: BTreeMap<String, ExtractedField>,
    #[serde(default)]
    pub validation_result: Option<ValidationResult>,
    #[serde(default)]
    pub face_match_result: Option<FaceMatchResult>,
    #[serde(default)]
    pub images: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExtractedField {
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub read_accuracy: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ValidationResult {
    #[serde(default)]
    pub validation_outcome: Option<String>,
    #[serde(default)]
    pub validation_checks: Vec<ValidationCheck>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ValidationCheck {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub result_description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct FaceMatchResult {
    #[serde(default)]
    pub is_matched: Option<bool>,
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub images: Vec<FaceMatchImage>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct FaceMatchImage {
    #[serde(default)]
    pub image_path: Option<String>,
    #[serde(default)]
    pub image_source: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Selfie {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub is_live: Option<bool>,
    #[serde(default)]
    pub liveness_status_code: Option<String>,
    #[serde(default)]
    pub image_path: Option<String>,
    #[serde(default)]
    pub video_path: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Rule {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub information: Option<String>,
    #[serde(default)]
    pub tips: Option<String>,
    #[serde(default)]
    pub details: Vec<RuleDetail>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RuleDetail {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub result_description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Applicant {
    #[serde(default)]
    pub applicant_id: Option<String>,
    #[serde(default)]
    pub profile_image_path: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub personal_number: Option<String>,
    #[serde(default)]
    pub birth_date: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Aml {
    #[serde(default)]
    pub applicability: Option<String>,
    #[serde(default)]
    pub matches: Vec<AmlMatch>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmlMatch {
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub countries: Vec<String>,
    #[serde(default)]
    pub dates_of_birth: Vec<String>,
    #[serde(default)]
    pub notes: Option<serde_json::Value>,
    #[serde(default)]
    pub datasets: Vec<String>,
    #[serde(default)]
    pub sex: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Summary {
    #[serde(default)]
    pub journey_id: Option<String>,
    #[serde(default)]
    pub is_completed: Option<bool>,
    #[serde(default)]
    pub step_summaries: Vec<StepSummary>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StepSummary {
    #[serde(default)]
    pub definition: StepDefinition,
    #[serde(default)]
    pub result: Option<StepResult>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StepDefinition {
    #[serde(default)]
    pub step_id: String,
    #[serde(default)]
    pub step_type: Option<String>,
    #[serde(default)]
    pub step_title: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StepResult {
    #[serde(default)]
    pub has_passed_rules: Option<bool>,
    #[serde(default)]
    pub is_concluded: Option<bool>,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SpotCheck {
    #[serde(default)]
    pub journey_id: Option<String>,
    #[serde(default)]
    pub system_decision: Option<String>,
    #[serde(default)]
    pub selfie: Option<Selfie>,
    #[serde(default)]
    pub rule_results: BTreeMap<String, Rule>,
    #[serde(default)]
    pub spot_checks: Option<SpotChecks>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SpotChecks {
    #[serde(default)]
    pub applicant_selfie_face_match: Option<FaceMatchResult>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StepReview {
    pub step_id: String,
    pub review_decision: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ManualReview {
    pub new_decision: String,
    pub comment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_reviews: Option<Vec<StepReview>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct WebhookEnvelope {
    pub event: String,
    pub body: WebhookBody,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    #[serde(default)]
    pub event_id: Option<String>,
    pub journey_id: String,
    #[serde(default)]
    pub system_decision: Option<String>,
}
