//! The IDWise adapter against the emulator, over real HTTP on loopback.

mod common;

use common::{TestResult, decision, idwise, idwise_journeys, recorded_decisions, start_emulator};
use kycdesk::domain::{Case, CaseRef, LivenessResult, ProviderId, ReasonCode, RuleOutcome, TargetId, Verdict};
use kycdesk::emulator::idwise::{API_KEY, API_SECRET};
use kycdesk::providers::idwise::IdWise;
use kycdesk::providers::{MediaFormat, Provider, ProviderError, Unlogged, WebhookError};
use serde_json::{Value, json};

async fn referred_cases(
    emu: &kycdesk::emulator::RunningEmulator,
    iw: &IdWise,
) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let mut out = vec![];
    for (id, d) in idwise_journeys(emu).await? {
        if d == "Refer" {
            out.push(iw.case(&CaseRef::new(ProviderId::IdWise, id)).await?);
        }
    }
    Ok(out)
}

#[tokio::test]
async fn journeys_map_liveness_codes_rules_face_match_aml_and_spot_checks() -> TestResult {
    let emu = start_emulator(8).await?;
    let iw = idwise(&emu)?;
    let cases = referred_cases(&emu, &iw).await?;
    assert_eq!(cases.len(), 8);
    let live_fail =
        cases.iter().find(|c| c.selfie.as_ref().is_some_and(|s| s.liveness.code.is_some())).ok_or("liveness case")?;
    let liveness = &live_fail.selfie.as_ref().ok_or("selfie")?.liveness;
    assert_eq!(liveness.result, LivenessResult::NotLive);
    let code = liveness.code.as_ref().map(|c| c.as_str().to_string()).unwrap_or_default();
    assert!(code.starts_with("FACE_"), "{code}");
    assert_eq!(
        Some(liveness.description.as_str()),
        kycdesk::providers::idwise::assumptions::liveness_description(&code)
    );
    assert!(live_fail.why_referred.as_str().contains(&code));
    // Every documented code has its description.
    for (code, description) in kycdesk::providers::idwise::assumptions::LIVENESS_CODES {
        assert!(!description.is_empty(), "{code}");
    }

    let expired = cases
        .iter()
        .find(|c| c.rules.iter().any(|r| r.name.as_str() == "Expired Document" && r.outcome == RuleOutcome::Failed))
        .ok_or("expired")?;
    assert_eq!(expired.documents[0].expiry.as_ref().map(|e| e.to_string()).as_deref(), Some("2025-03-31"));
    assert!(
        expired
            .rules
            .iter()
            .any(|r| r.name.as_str() == "Identity Document › Expiry Date" && r.outcome == RuleOutcome::Failed)
    );
    let failed_rule = expired.rules.iter().find(|r| r.name.as_str() == "Expired Document").ok_or("rule")?;
    assert_eq!(failed_rule.details.len(), 1, "rule details are carried");

    let mismatch =
        cases.iter().find(|c| c.face_match.as_ref().is_some_and(|f| f.matched == Some(false))).ok_or("mismatch")?;
    assert!(mismatch.face_match.as_ref().and_then(|f| f.score).is_some_and(|s| s < 60.0));

    let aml = cases.iter().find(|c| !c.screening.is_empty()).ok_or("aml")?;
    assert!(aml.screening.iter().all(|h| h.score.is_some() && !h.datasets.is_empty() && !h.countries.is_empty()));

    let spot =
        cases.iter().find(|c| c.rules.iter().any(|r| r.name.as_str().starts_with("Spot check"))).ok_or("spot check")?;
    assert!(spot.rules.iter().any(|r| r.name.as_str() == "Spot check › applicant selfie face match"));
    assert!(spot.rules.iter().any(|r| r.name.as_str() == "Spot check › Selfie Liveness"));

    // Images are binary, found by image_path.
    let front = iw.media(&live_fail.documents[0].sides[0]).await?;
    assert_eq!(front.format, MediaFormat::Jpeg);
    assert_eq!(image::load_from_memory(&front.bytes)?.width(), 1000);
    let selfie = iw.media(live_fail.selfie.as_ref().and_then(|s| s.media.as_ref()).ok_or("selfie media")?).await?;
    assert_eq!(image::load_from_memory(&selfie.bytes)?.width(), 640);
    Ok(())
}

#[tokio::test]
async fn approve_reject_and_local_refer() -> TestResult {
    let emu = start_emulator(4).await?;
    let iw = idwise(&emu)?;
    let ids: Vec<String> =
        idwise_journeys(&emu).await?.into_iter().filter(|(_, d)| d == "Refer").map(|(id, _)| id).collect();
    let approve = decision(
        &CaseRef::new(ProviderId::IdWise, ids[0].clone()),
        TargetId::Case,
        Verdict::Verify,
        "Glare only; the face matches.",
    );
    assert_eq!(iw.decide(&approve, &Unlogged).await?.calls.len(), 1);
    assert!(iw.reconcile(&approve).await?.applied());
    let reject = decision(
        &CaseRef::new(ProviderId::IdWise, ids[1].clone()),
        TargetId::Case,
        Verdict::Reject,
        "Expired passport.",
    );
    iw.decide(&reject, &Unlogged).await?;
    let refer = decision(
        &CaseRef::new(ProviderId::IdWise, ids[2].clone()),
        TargetId::Case,
        Verdict::Refer,
        "Senior review please.",
    );
    let receipt = iw.decide(&refer, &Unlogged).await?;
    assert!(receipt.calls.is_empty() && receipt.escalate, "IDWise has no refer: local escalation");
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0]["path"], format!("/journey/v2/manual-review/{}", ids[0]));
    assert_eq!(seen[0]["body"], json!({"new_decision": "Approved", "comment": "Glare only; the face matches."}));
    assert_eq!(seen[1]["body"], json!({"new_decision": "Rejected", "comment": "Expired passport."}));
    assert_eq!(seen[0]["headers"]["authorization"], "[redacted]");
    // A decided journey is no longer referred.
    assert!(iw.refresh(&CaseRef::new(ProviderId::IdWise, ids[0].clone())).await?.referred.is_empty());
    Ok(())
}

#[tokio::test]
async fn resubmission_names_every_failed_step() -> TestResult {
    let emu = start_emulator(4).await?;
    let iw = idwise(&emu)?;
    let cases = referred_cases(&emu, &iw).await?;
    let live_fail =
        cases.iter().find(|c| c.selfie.as_ref().is_some_and(|s| s.liveness.code.is_some())).ok_or("liveness")?;
    let id = live_fail.case_ref.key.clone();
    let resubmit = decision(
        &CaseRef::new(ProviderId::IdWise, id.clone()),
        TargetId::Case,
        Verdict::Resubmit,
        "Retake the selfie further from the camera.",
    );
    iw.decide(&resubmit, &Unlogged).await?;
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(
        seen[0]["body"],
        json!({"new_decision": "Resubmission Requested", "comment": "Retake the selfie further from the camera.",
            "step_reviews": [{"step_id": "3", "review_decision": "Resubmit"}]})
    );
    assert!(iw.reconcile(&resubmit).await?.applied(), "the journey went back to Incomplete");
    // An AML-only referral has no failed step: nothing to resubmit, refused before sending.
    let aml = cases.iter().find(|c| !c.screening.is_empty()).ok_or("aml")?;
    let err = iw
        .decide(
            &decision(
                &CaseRef::new(ProviderId::IdWise, aml.case_ref.key.clone()),
                TargetId::Case,
                Verdict::Resubmit,
                "x",
            ),
            &Unlogged,
        )
        .await;
    assert!(matches!(err, Err(ProviderError::Refused { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn webhooks_name_the_journey_and_bad_bodies_are_malformed() -> TestResult {
    let emu = start_emulator(2).await?;
    let iw = idwise(&emu)?;
    let body = br#"{"event":"Finished Journey","body":{"eventId":"e1","journeyId":"abc123","systemDecision":"Refer","extra":1}}"#;
    let event = iw.webhook(&Default::default(), body)?;
    assert_eq!(event.delivery_id, "e1");
    assert_eq!(event.cases, vec![CaseRef::new(ProviderId::IdWise, "abc123")]);
    assert!(matches!(iw.webhook(&Default::default(), b"[]"), Err(WebhookError::Malformed(_))));
    let hostile = br#"{"event":"Finished Journey","body":{"journeyId":"../../x"}}"#;
    assert!(matches!(iw.webhook(&Default::default(), hostile), Err(WebhookError::Malformed(_))));
    Ok(())
}

/// The emulator's own rules, straight over HTTP.
#[tokio::test]
async fn emulator_enforces_the_documented_rules() -> TestResult {
    use base64::Engine;
    let emu = start_emulator(4).await?;
    let base = format!("{}/idwise", emu.base_url());
    let ids = idwise_journeys(&emu).await?;
    let referred = ids.iter().find(|(_, d)| d == "Refer").map(|(id, _)| id.clone()).ok_or("journey")?;
    let http = reqwest::Client::new();
    let basic =
        |k: &str, s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{k}:{s}")));
    let good = basic(API_KEY, API_SECRET);
    let code = |v: &Value| v["error_code"].as_str().unwrap_or_default().to_string();

    let r: Value = http.get(format!("{base}/journey/v2/get/{referred}")).send().await?.json().await?;
    assert_eq!(code(&r), "missing_authorization_header");
    let r: Value = http
        .get(format!("{base}/journey/v2/get/{referred}"))
        .header("Authorization", "Bearer x")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(code(&r), "invalid_authentication_format");
    let r: Value = http
        .get(format!("{base}/journey/v2/get/{referred}"))
        .header("Authorization", basic(API_KEY, "nope"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(code(&r), "invalid_credentials");
    // Both path forms.
    for path in [format!("journey/v2/get/{referred}"), format!("v2/get/{referred}")] {
        let r = http.get(format!("{base}/{path}")).header("Authorization", &good).send().await?;
        assert_eq!(r.status(), 200, "{path}");
    }
    let missing = http
        .get(format!("{base}/journey/v2/get/ffffffffffffffffffffffff"))
        .header("Authorization", &good)
        .send()
        .await?;
    assert_eq!(missing.status(), 404);
    // Summary: at most every 2 s per journey.
    let first = http.get(format!("{base}/journey/v2/summary/{referred}")).header("Authorization", &good).send().await?;
    assert_eq!(first.status(), 200);
    let again = http.get(format!("{base}/journey/v2/summary/{referred}")).header("Authorization", &good).send().await?;
    assert_eq!(again.status(), 429);

    let review = |body: Value| {
        http.post(format!("{base}/journey/v2/manual-review/{referred}"))
            .header("Authorization", &good)
            .json(&body)
            .send()
    };
    assert_eq!(review(json!({"new_decision": "Maybe", "comment": "x"})).await?.status(), 400);
    assert_eq!(review(json!({"new_decision": "Resubmission Requested", "comment": "x"})).await?.status(), 400);
    assert_eq!(
        review(json!({"new_decision": "Resubmission Requested", "comment": "x", "step_reviews": []})).await?.status(),
        400,
        "a failed step is left out"
    );
    assert_eq!(review(json!({"new_decision": "Resubmission Requested", "comment": "x", "step_reviews": [{"step_id": "9", "review_decision": "Resubmit"}]})).await?.status(), 400);
    let ok = review(json!({"new_decision": "Resubmission Requested", "comment": "x",
        "step_reviews": [{"step_id": "2", "review_decision": "Resubmit"}, {"step_id": "3", "review_decision": "Resubmit"}]})).await?;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await?, json!({"success": true}));
    // Now Incomplete: no further review.
    assert_eq!(review(json!({"new_decision": "Approved", "comment": "x"})).await?.status(), 400);
    // A review is posted as JSON and says so (documented): the same body untyped is refused.
    let untyped = http
        .post(format!("{base}/journey/v2/manual-review/{referred}"))
        .header("Authorization", &good)
        .body(json!({"new_decision": "Approved", "comment": "x"}).to_string())
        .send()
        .await?;
    assert_eq!(untyped.status(), 400);
    let untyped: Value = untyped.json().await?;
    assert_eq!(untyped["error_code"], "invalid_request");
    assert!(untyped["message"].as_str().is_some_and(|m| m.contains("Content-Type")), "{untyped}");
    let unknown = http
        .post(format!("{base}/journey/v2/manual-review/ffffffffffffffffffffffff"))
        .header("Authorization", &good)
        .json(&json!({"new_decision": "Approved"}))
        .send()
        .await?;
    assert_eq!(unknown.status(), 404);
    Ok(())
}

/// Studio reason keys have no field in the API: a ticked key goes at the head of the
/// comment as `[KEY]` (idwise.md §6); a key the deployment did not list is refused.
#[tokio::test]
async fn reason_keys_ride_in_the_comment_and_unknown_ones_are_refused() -> TestResult {
    let emu = start_emulator(4).await?;
    let keys = vec![
        ReasonCode { code: "REJECT_FORGED_DOCUMENT", label: "Forged document" },
        ReasonCode { code: "REJECT_UNDERAGE", label: "Under age" },
    ];
    let iw = idwise(&emu)?.with_reason_keys(keys.clone());
    let cases = referred_cases(&emu, &iw).await?;
    let case = &cases[0];
    let whole = &case.targets[0];
    assert_eq!(whole.reject_reasons, keys, "the target offers the tenant's keys");
    assert_eq!(
        whole.sends(Verdict::Reject).map(|t| t.as_str()),
        Some("manual review Rejected, ticked reason keys at the head of the comment")
    );
    assert_eq!(whole.sends(Verdict::Refer).map(|t| t.as_str()), Some("escalated locally, nothing sent"));
    assert!(whole.sends(Verdict::Resubmit).is_some_and(|t| t.as_str().starts_with("Resubmission Requested")));
    let mut reject = decision(&case.case_ref, TargetId::Case, Verdict::Reject, "Font mismatch on the DOB line.");
    reject.reason_codes = vec!["REJECT_FORGED_DOCUMENT".into(), "REJECT_UNDERAGE".into()];
    iw.check_decision_on(&reject, whole)?;
    iw.decide(&reject, &Unlogged).await?;
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(
        seen[0]["body"],
        json!({"new_decision": "Rejected", "comment": "[REJECT_FORGED_DOCUMENT] [REJECT_UNDERAGE] Font mismatch on the DOB line."})
    );
    // Refused before anything is saved or sent: an unknown key, a key on another verdict,
    // and a comment the keys push over the limit.
    reject.reason_codes = vec!["REJECT_MADE_UP".into()];
    let message = iw.check_decision(&reject).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("valid: REJECT_FORGED_DOCUMENT, REJECT_UNDERAGE"), "{message}");
    let mut verify = decision(&case.case_ref, TargetId::Case, Verdict::Verify, "Fine.");
    verify.reason_codes = vec!["REJECT_UNDERAGE".into()];
    assert!(iw.check_decision(&verify).is_err());
    let mut long = decision(&case.case_ref, TargetId::Case, Verdict::Reject, &"x".repeat(3990));
    long.reason_codes = vec!["REJECT_UNDERAGE".into()];
    let message = iw.check_decision(&long).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("with its reason keys"), "{message}");
    // Without configured keys, every code is refused.
    let plain = idwise(&emu)?;
    let mut coded = decision(&case.case_ref, TargetId::Case, Verdict::Reject, "x");
    coded.reason_codes = vec!["REJECT_UNDERAGE".into()];
    let message = plain.check_decision(&coded).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("IDWise takes no reason codes with Reject"), "{message}");
    assert_eq!(recorded_decisions(&emu.base_url()).await?.len(), 1);
    Ok(())
}

/// Against IDWise's reference (idwise.md §2, §6), on a stand-in that knows nothing of the
/// emulator: Basic key:secret, the documented path, `Content-Type: application/json`.
#[tokio::test]
async fn manual_review_follows_the_provider_reference() -> TestResult {
    fn answer(_method: &str, _path: &str) -> (u16, Value) {
        (200, json!({"success": true}))
    }
    let (base, captures, _server) = common::reference_server(answer).await?;
    let iw = IdWise::new(kycdesk::providers::idwise::IdWiseSettings {
        limits: Default::default(),
        base_url: format!("{base}/"),
        api_key: "key".to_string().into(),
        api_secret: "secret".to_string().into(),
        webhook_header: None,
    })?;
    let r = CaseRef::new(ProviderId::IdWise, "5f1a2b3c4d5e6f7a8b9c0d1e");
    iw.decide(&decision(&r, TargetId::Case, Verdict::Verify, "Glare only."), &Unlogged).await?;
    let seen = common::captured(&captures);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/journey/v2/manual-review/5f1a2b3c4d5e6f7a8b9c0d1e");
    let header = |n: &str| seen[0].headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    assert_eq!(header("authorization").as_deref(), Some("Basic a2V5OnNlY3JldA=="), "base64(key:secret)");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[0].body)?,
        json!({"new_decision": "Approved", "comment": "Glare only."})
    );
    Ok(())
}

#[tokio::test]
async fn documents_carry_the_holder_as_read_and_one_birth_date_differs() -> TestResult {
    use kycdesk::domain::{EvidenceFlag, evidence_flags};
    use kycdesk::emulator::{SHARED_CREDAS_IDWISE, seeded_today};
    let emu = start_emulator(8).await?;
    let cases = referred_cases(&emu, &idwise(&emu)?).await?;
    for case in &cases {
        let doc = &case.documents[0];
        assert_eq!(doc.holder_name.as_ref(), Some(&case.applicant.name), "{}", case.case_ref);
        assert!(doc.date_of_birth.as_ref().and_then(|d| d.day()).is_some(), "{}", case.case_ref);
        let field = |name: &str| doc.fields.iter().find(|f| f.name.as_str() == name);
        assert!(doc.expiry.is_some(), "{}", case.case_ref);
        // Shown as the document's own, not repeated as fields (unless poorly read).
        assert!(field("Full Name").is_none() && field("Expiry Date").is_none(), "{:?}", doc.fields);
        assert!(case.rules.iter().flat_map(|r| &r.details).all(|f| !f.personal), "rule details are results");
    }
    let flags: Vec<EvidenceFlag> = cases.iter().flat_map(|c| evidence_flags(c, seeded_today())).collect();
    let differs: Vec<String> =
        flags.iter().filter(|f| matches!(f, EvidenceFlag::BirthDateDiffers { .. })).map(EvidenceFlag::label).collect();
    assert_eq!(differs.len(), 1, "{flags:?}");
    assert!(differs[0].starts_with("date of birth on the "), "{}", differs[0]);
    assert!(flags.iter().all(|f| !matches!(f, EvidenceFlag::NameDiffers { .. })), "{flags:?}");
    let shared = cases
        .iter()
        .find(|c| {
            c.applicant.name.as_str() == format!("{} {}", SHARED_CREDAS_IDWISE.given, SHARED_CREDAS_IDWISE.family)
        })
        .ok_or("the applicant also seen at Credas")?;
    assert_eq!(shared.documents[0].number.as_ref().map(|n| n.as_str()), SHARED_CREDAS_IDWISE.document_number);
    Ok(())
}
