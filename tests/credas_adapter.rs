//! The Credas adapter against the emulator, over real HTTP on loopback.

mod common;

use common::{TestResult, credas, credas_entities, decision, recorded_decisions, start_emulator};
use kycdesk::domain::{Case, CaseRef, ProviderId, TargetId, Verdict};
use kycdesk::emulator::credas::{API_KEY, WEBHOOK_TOKEN};
use kycdesk::providers::credas::Credas;
use kycdesk::providers::{MediaFormat, Provider, ProviderError, Providers, Unlogged, WebhookError};
use kycdesk::sender::{Delivery, Sender};
use kycdesk::store::{Evidence, SqliteStore, Store};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::sync::Arc;

async fn referred_cases(
    emu: &kycdesk::emulator::RunningEmulator,
    c: &Credas,
) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let mut out = vec![];
    for entity in credas_entities(emu).await? {
        for entry in c.refresh(&CaseRef::new(ProviderId::Credas, entity)).await?.referred {
            out.push(c.case(&entry.case_ref).await?);
        }
    }
    Ok(out)
}

fn element(case: &Case, prefix: &str) -> Option<String> {
    case.targets.iter().find_map(|t| match &t.id {
        TargetId::Element(k) if k.starts_with(prefix) => Some(k.clone()),
        _ => None,
    })
}

#[tokio::test]
async fn entities_map_to_cases_with_per_element_targets() -> TestResult {
    let emu = start_emulator(6).await?;
    let c = credas(&emu)?;
    let entities = credas_entities(&emu).await?;
    let mut referred = 0;
    let mut settled = 0;
    for e in &entities {
        let scan = c.refresh(&CaseRef::new(ProviderId::Credas, e.clone())).await?;
        referred += scan.referred.len();
        settled += scan.settled.len();
    }
    assert_eq!((referred, settled), (6, 1));
    let cases = referred_cases(&emu, &c).await?;
    let liveness_case = cases.iter().find(|k| element(k, "liveness").is_some()).ok_or("liveness")?;
    let selfie = liveness_case.selfie.as_ref().ok_or("selfie")?;
    assert_eq!(
        selfie.liveness.code.as_ref().map(|x| x.as_str()),
        Some("PendingManualCheck"),
        "integers shown as words"
    );
    assert_eq!(liveness_case.targets[0].id, TargetId::Case);
    assert!(
        liveness_case.rules.iter().any(|r| r.name.as_str() == "Police record" && r.description.as_str() == "AutoPass")
    );
    assert!(liveness_case.documents[0].doc_type.as_str() != "Unknown");
    let supporting = cases.iter().find(|k| element(k, "supporting:").is_some()).ok_or("supporting")?;
    assert_eq!(supporting.targets.len(), 3, "whole case, liveness, the supporting document");
    let document = cases.iter().find(|k| element(k, "document:").is_some()).ok_or("document")?;
    assert!(document.targets.iter().any(|t| t.label.as_str().starts_with("ID document:")));
    // Images through the placeholder endpoint.
    let front = c.media(&liveness_case.documents[0].sides[0]).await?;
    assert_eq!(front.format, MediaFormat::Jpeg);
    let selfie_bytes = c.media(selfie.media.as_ref().ok_or("selfie media")?).await?;
    assert_eq!(image::load_from_memory(&selfie_bytes.bytes)?.width(), 640);
    Ok(())
}

#[tokio::test]
async fn element_decisions_hit_the_documented_paths() -> TestResult {
    let emu = start_emulator(6).await?;
    let c = credas(&emu)?;
    let cases = referred_cases(&emu, &c).await?;
    let liveness_case = cases
        .iter()
        .find(|k| element(k, "liveness").is_some() && element(k, "supporting:").is_none())
        .ok_or("liveness")?;
    let (entity, entry) = liveness_case.case_ref.key.split_once('/').ok_or("key")?;
    let d = decision(
        &liveness_case.case_ref,
        TargetId::Element("liveness".into()),
        Verdict::Verify,
        "Selfie checked by hand.",
    );
    assert_eq!(c.decide(&d, &Unlogged).await?.calls.len(), 1);
    assert!(c.reconcile(&d).await?.applied());
    let document_case = cases
        .iter()
        .find(|k| {
            element(k, "document:").is_some()
                && !k.rules.iter().any(|r| r.name.as_str() == "Police record" && r.description.as_str() == "AutoFail")
        })
        .ok_or("document")?;
    let key = element(document_case, "document:").ok_or("doc element")?;
    let doc_id = key.trim_start_matches("document:");
    let refer =
        decision(&document_case.case_ref, TargetId::Element(key.clone()), Verdict::Refer, "Second pair of eyes.");
    assert!(c.decide(&refer, &Unlogged).await?.escalate, "refer is native and escalates locally too");
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(seen[0]["method"], "PUT");
    assert_eq!(seen[0]["path"], format!("/api/v2/ci/entities/{entity}/idv-entries/{entry}/verify-liveness"));
    assert_eq!(seen[0]["body"], json!({"reason": "Selfie checked by hand."}));
    assert_eq!(seen[0]["headers"]["x-api-key"], "[redacted]");
    let (e2, n2) = document_case.case_ref.key.split_once('/').ok_or("key")?;
    assert_eq!(seen[1]["path"], format!("/api/v2/ci/entities/{e2}/idv-entries/{n2}/id-document/{doc_id}/refer"));
    Ok(())
}

/// A whole-case verdict: one decision in the outbox, one audit record per element call.
#[tokio::test]
async fn whole_case_verdict_is_one_decision_with_an_audit_record_per_call() -> TestResult {
    let emu = start_emulator(6).await?;
    let c = Arc::new(credas(&emu)?);
    let cases = referred_cases(&emu, &c).await?;
    let case = cases.iter().find(|k| element(k, "supporting:").is_some()).ok_or("supporting")?;
    let supporting_id = element(case, "supporting:").ok_or("element")?.trim_start_matches("supporting:").to_string();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory()?);
    let d = decision(&case.case_ref, TargetId::Case, Verdict::Reject, "Address proof is altered.");
    store.save_decision(&d, &Evidence::default())?;
    let mut providers = Providers::default();
    providers.insert(c.clone());
    let sender = Sender::new(Arc::clone(&store), providers);
    let delivered = sender.deliver_now(&d.id).await?;
    assert!(matches!(delivered, Some(Delivery::Sent { .. })), "{delivered:?}");
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(seen.len(), 2);
    assert!(seen[0]["path"].as_str().is_some_and(|p| p.ends_with("/reject-liveness")));
    assert!(seen[1]["path"].as_str().is_some_and(|p| p.ends_with("/non-biometic-documents/review")));
    assert_eq!(seen[1]["body"], json!([{"id": supporting_id, "result": 5, "comments": "Address proof is altered."}]));
    assert_eq!(store.outbox_counts()?.sent, 1);
    assert_eq!(store.verify_audit()?, 3, "decided + one record per element call");
    assert!(c.reconcile(&d).await?.applied());
    Ok(())
}

#[tokio::test]
async fn a_failure_no_override_may_clear_is_refused_for_good() -> TestResult {
    let emu = start_emulator(6).await?;
    let c = credas(&emu)?;
    let cases = referred_cases(&emu, &c).await?;
    let blocked = cases
        .iter()
        .find(|k| k.rules.iter().any(|r| r.name.as_str() == "Police record" && r.description.as_str() == "AutoFail"))
        .ok_or("police record case")?;
    let err = c.decide(&decision(&blocked.case_ref, TargetId::Case, Verdict::Verify, "Looks fine."), &Unlogged).await;
    match err {
        Err(e @ ProviderError::Api { status: 400, .. }) => {
            assert!(!e.is_transient());
            assert!(e.to_string().contains("cannot be overridden"), "{e}");
        }
        other => return Err(format!("expected a 400, got {other:?}").into()),
    }
    Ok(())
}

#[tokio::test]
async fn webhooks_need_the_shared_header_and_parse_the_double_encoded_payload() -> TestResult {
    let emu = start_emulator(2).await?;
    let c = credas(&emu)?;
    let entity = "0f0f0f0f-1111-4222-8333-444444444444";
    let payload = json!({"EntityId": entity, "ClientId": "c", "EntityIdvEntryId": "e", "Result": 3}).to_string();
    let body = json!({"UpdateType": 4, "Payload": payload}).to_string().into_bytes();
    let mut headers = HeaderMap::new();
    headers.insert("x-credas-webhook-token", HeaderValue::from_static(WEBHOOK_TOKEN));
    let event = c.webhook(&headers, &body)?;
    assert_eq!(event.cases, vec![CaseRef::new(ProviderId::Credas, entity)]);
    assert!(matches!(c.webhook(&HeaderMap::new(), &body), Err(WebhookError::Unauthenticated(_))));
    let mut wrong = HeaderMap::new();
    wrong.insert("x-credas-webhook-token", HeaderValue::from_static("guess"));
    assert!(matches!(c.webhook(&wrong, &body), Err(WebhookError::Unauthenticated(_))));
    let process =
        json!({"ProcessId": "p", "ClientId": "c", "Status": 2, "StatusDescription": "The process is complete"});
    assert!(c.webhook(&headers, process.to_string().as_bytes())?.cases.is_empty());
    let single = json!({"UpdateType": 4, "Payload": {"EntityId": entity}}).to_string();
    assert!(
        matches!(c.webhook(&headers, single.as_bytes()), Err(WebhookError::Malformed(_))),
        "Payload must be a string"
    );
    // Without a configured header every Credas webhook is refused.
    let open = Credas::new(kycdesk::providers::credas::CredasSettings {
        limits: Default::default(),
        base_url: format!("{}/credas/api/v2/ci/", emu.base_url()),
        api_key: API_KEY.to_string().into(),
        webhook_header: None,
    })?;
    assert!(matches!(open.webhook(&headers, &body), Err(WebhookError::Unauthenticated(_))));
    Ok(())
}

#[tokio::test]
async fn emulator_enforces_the_documented_rules() -> TestResult {
    let emu = start_emulator(6).await?;
    let c = credas(&emu)?;
    let base = format!("{}/credas/api/v2/ci", emu.base_url());
    let http = reqwest::Client::new();
    let entities = credas_entities(&emu).await?;
    let no_key = http.get(format!("{base}/entities/{}", entities[0])).send().await?;
    assert_eq!(no_key.status(), 403, "a bad or missing key is 403, not 401");
    let lower = http.get(format!("{base}/entities/{}", entities[0])).header("x-api-key", API_KEY).send().await?;
    assert_eq!(lower.status(), 200);
    let cases = referred_cases(&emu, &c).await?;
    let case = cases.iter().find(|k| element(k, "supporting:").is_some()).ok_or("supporting")?;
    let (entity, entry) = case.case_ref.key.split_once('/').ok_or("key")?;
    let put = |path: String, body: Value| {
        http.put(format!("{base}/entities/{entity}/idv-entries/{entry}/{path}"))
            .header("X-API-KEY", API_KEY)
            .json(&body)
            .send()
    };
    assert_eq!(put("verify-liveness".into(), json!({"reason": "  "})).await?.status(), 400);
    let bare = put("verify-liveness".into(), json!("Checked by hand.")).await?;
    assert_eq!(bare.status(), 200, "a bare JSON string is accepted as the reason");
    let sid = element(case, "supporting:").ok_or("element")?.trim_start_matches("supporting:").to_string();
    assert_eq!(
        put("non-biometic-documents/review".into(), json!([{"id": "nope", "result": 4, "comments": "x"}]))
            .await?
            .status(),
        400
    );
    assert_eq!(
        put("non-biometic-documents/review".into(), json!([{"id": sid, "result": 9, "comments": "x"}])).await?.status(),
        400
    );
    assert_eq!(put("non-biometic-documents/review".into(), json!({"id": sid})).await?.status(), 400);
    let pascal =
        put("non-biometic-documents/review".into(), json!([{"Id": sid, "Result": 4, "Comments": "Fine."}])).await?;
    assert_eq!(pascal.status(), 200, "property names bind case-insensitively");
    assert_eq!(
        put("non-biometric-documents/review".into(), json!([])).await?.status(),
        404,
        "only the documented spelling exists"
    );
    assert!(c.refresh(&CaseRef::new(ProviderId::Credas, entity)).await?.referred.is_empty(), "everything decided");
    Ok(())
}

#[tokio::test]
async fn each_target_says_what_it_sends_and_codes_are_refused() -> TestResult {
    let emu = start_emulator(6).await?;
    let c = credas(&emu)?;
    let cases = referred_cases(&emu, &c).await?;
    for case in &cases {
        for target in &case.targets {
            for v in &target.verdicts {
                let text = target.sends(*v).map(|t| t.to_string()).unwrap_or_default();
                assert!(!text.is_empty() && !text.contains("Credas"), "{:?} {v:?}: {text}", target.id);
            }
            assert!(
                target.sends(Verdict::Refer).is_some_and(|t| t.as_str().ends_with(", and escalated in kycdesk")),
                "Credas refers natively and kycdesk escalates too"
            );
        }
    }
    let case = cases.iter().find(|c| element(c, "liveness").is_some()).ok_or("liveness element")?;
    let liveness = case.targets.iter().find(|t| t.id == TargetId::Element("liveness".into())).ok_or("target")?;
    assert_eq!(liveness.sends(Verdict::Verify).map(|t| t.as_str()), Some("verify-liveness"));
    let mut coded = decision(&case.case_ref, TargetId::Case, Verdict::Reject, "Printed photo held to the camera.");
    coded.reason_codes = vec!["SPOOF".into()];
    assert!(matches!(c.check_decision(&coded), Err(ProviderError::Refused { .. })));
    assert!(c.check_decision_on(&coded, &case.targets[0]).is_err());
    assert!(recorded_decisions(&emu.base_url()).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn entries_carry_the_document_birth_date_and_one_differs() -> TestResult {
    use kycdesk::domain::{EvidenceFlag, evidence_flags};
    use kycdesk::emulator::{SHARED_CREDAS_IDWISE, seeded_today};
    let emu = start_emulator(6).await?;
    let cases = referred_cases(&emu, &credas(&emu)?).await?;
    for case in &cases {
        let doc = &case.documents[0];
        // ASP.NET date-times (`1979-03-08T00:00:00`) arrive as days.
        assert!(case.applicant.date_of_birth.as_ref().and_then(|d| d.day()).is_some(), "{}", case.case_ref);
        assert!(doc.date_of_birth.as_ref().and_then(|d| d.day()).is_some(), "{}", case.case_ref);
        assert!(doc.expiry.as_ref().and_then(|d| d.day()).is_some(), "{}", case.case_ref);
        assert!(doc.holder_name.is_none(), "Credas sends no name read off the document");
        let personal = |name: &str| case.applicant.fields.iter().find(|f| f.name.as_str() == name).map(|f| f.personal);
        assert_eq!(
            (personal("Entity id"), personal("Address"), personal("Process")),
            (Some(true), Some(true), Some(false))
        );
    }
    let flags: Vec<EvidenceFlag> = cases.iter().flat_map(|c| evidence_flags(c, seeded_today())).collect();
    let differs: Vec<&EvidenceFlag> =
        flags.iter().filter(|f| matches!(f, EvidenceFlag::BirthDateDiffers { .. })).collect();
    assert_eq!(differs.len(), 1, "{flags:?}");
    assert!(flags.iter().any(|f| matches!(f, EvidenceFlag::Expired { .. })), "{flags:?}");
    let shared = cases
        .iter()
        .find(|c| {
            c.applicant.name.as_str() == format!("{} {}", SHARED_CREDAS_IDWISE.given, SHARED_CREDAS_IDWISE.family)
        })
        .ok_or("the applicant also seen at IDWise")?;
    assert_eq!(shared.documents[0].number.as_ref().map(|n| n.as_str()), SHARED_CREDAS_IDWISE.document_number);
    assert_eq!(shared.applicant.date_of_birth.as_ref().map(|d| d.to_string()).as_deref(), Some("1979-03-08"));
    Ok(())
}
