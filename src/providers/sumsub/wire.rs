//! Sumsub wire types (camelCase), lenient.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applicant {
    pub id: String,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub inspection_id: Option<String>,
    #[serde(default)]
    pub external_user_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub info: Option<Info>,
    #[serde(default)]
    pub review: Option<Review>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub dob: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub id_docs: Vec<IdDoc>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdDoc {
    #[serde(default)]
    pub id_doc_type: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub valid_until: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub dob: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    #[serde(default)]
    pub level_name: Option<String>,
    #[serde(default)]
    pub create_date: Option<String>,
    #[serde(default)]
    pub review_date: Option<String>,
    #[serde(default)]
    pub review_status: Option<String>,
    #[serde(default)]
    pub review_result: Option<ReviewResult>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewResult {
    #[serde(default)]
    pub review_answer: Option<String>,
    #[serde(default)]
    pub reject_labels: Vec<String>,
    #[serde(default)]
    pub review_reject_type: Option<String>,
    #[serde(default)]
    pub moderation_comment: Option<String>,
    #[serde(default)]
    pub client_comment: Option<String>,
}

/// `requiredIdDocsStatus`: step name -> status (a step not yet submitted is `null`).
pub type RequiredIdDocsStatus = BTreeMap<String, Option<StepStatus>>;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    #[serde(default)]
    pub review_result: Option<ReviewResult>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub id_doc_type: Option<String>,
    #[serde(default)]
    pub image_ids: Vec<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default)]
    pub items: Vec<MetadataItem>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataItem {
    pub id: serde_json::Value,
    #[serde(default)]
    pub id_doc_def: Option<IdDocDef>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub deactivated: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdDocDef {
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub id_doc_type: Option<String>,
    #[serde(default)]
    pub id_doc_sub_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub applicant_id: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub review_status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub error_name: Option<String>,
}
