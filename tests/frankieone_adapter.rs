//! The FrankieOne adapter against the emulator, over real HTTP on loopback; every
//! exchange is validated against the official OpenAPI documents (patched as listed).

mod common;

use common::{
    TestResult, assert_frankieone_exchanges_match_the_spec, decision, frankieone, recorded_decisions, start_emulator,
};
use kycdesk::domain::{Case, LivenessResult, RuleOutcome, TargetId, Verdict};
use kycdesk::emulator::frankieone::{API_KEY, CUSTOMER_ID};
use kycdesk::providers::frankieone::FrankieOne;
use kycdesk::providers::{MediaFormat, Provider, Unlogged};
use serde_json::{Value, json};

async fn referred(f: &FrankieOne) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let mut out = vec![];
    for e in f.pending(None).await?.referred {
        out.push(f.case(&e.case_ref).await?);
    }
    Ok(out)
}

#[tokio::test]
async fn the_needs_review_search_walks_every_page() -> TestResult {
    let emu = start_emulator(130).await?;
    let f = frankieone(&emu)?;
    let scan = f.pending(None).await?;
    assert_eq!(scan.referred.len(), 130);
    assert!(scan.complete, "a full scan: what is missing from it is settled");
    assert!(scan.referred.iter().all(|e| e.check_type.as_str() == "onboarding-standard"));
    assert!(
        assert_frankieone_exchanges_match_the_spec(&emu).await? >= 2 || common::frankieone_spec::Spec::load().is_none()
    );
    Ok(())
}

#[tokio::test]
async fn cases_carry_aml_hits_idv_results_documents_and_images() -> TestResult {
    let emu = start_emulator(4).await?;
    let f = frankieone(&emu)?;
    let cases = referred(&f).await?;
    assert_eq!(cases.len(), 4);
    let aml = cases.iter().find(|c| !c.screening.is_empty()).ok_or("aml case")?;
    let hit = &aml.screening[0];
    assert!(hit.score.is_some() && !hit.datasets.is_empty() && !hit.countries.is_empty());
    assert!(aml.targets.iter().any(|t| t.id == TargetId::Hit(hit.id.clone())));
    let live = cases
        .iter()
        .find(|c| c.selfie.as_ref().is_some_and(|s| s.liveness.result == LivenessResult::NotLive))
        .ok_or("liveness")?;
    assert!(live.targets.iter().any(|t| matches!(&t.id, TargetId::Element(e) if e.starts_with("idv:"))));
    let face = cases
        .iter()
        .find(|c| c.face_match.as_ref().is_some_and(|m| m.matched == Some(false)))
        .ok_or("face mismatch")?;
    assert_eq!(face.face_match.as_ref().map(|m| m.images.len()), Some(2));
    let doc = &aml.documents[0];
    assert!(doc.number.is_some() && doc.expiry.is_some());
    let front = f.media(&doc.sides[0]).await?;
    assert_eq!(front.format, MediaFormat::Jpeg);
    assert_eq!(image::load_from_memory(&front.bytes)?.width(), 1000);
    let selfie = f.media(aml.selfie.as_ref().and_then(|s| s.media.as_ref()).ok_or("selfie")?).await?;
    assert_eq!(image::load_from_memory(&selfie.bytes)?.width(), 640);
    assert_frankieone_exchanges_match_the_spec(&emu).await?;
    Ok(())
}

#[tokio::test]
async fn decisions_patch_the_execution_and_the_results() -> TestResult {
    let emu = start_emulator(4).await?;
    let f = frankieone(&emu)?;
    let cases = referred(&f).await?;
    let aml = cases.iter().find(|c| !c.screening.is_empty()).ok_or("aml")?;
    let (entity, rest) = aml.case_ref.key.split_once('/').ok_or("key")?;
    let execution = rest.rsplit('/').next().ok_or("execution")?;
    let hit = aml.screening[0].id.clone();
    let fp = decision(&aml.case_ref, TargetId::Hit(hit.clone()), Verdict::FalsePositive, "Different date of birth.");
    f.decide(&fp, &Unlogged).await?;
    assert!(f.reconcile(&fp).await?.applied());
    let verify =
        decision(&aml.case_ref, TargetId::Case, Verdict::Verify, "Hits are namesakes; ID and selfie verified.");
    // Verify resolves whatever is still open before it approves.
    let open_before = f.case(&aml.case_ref).await?.targets[0].sends(Verdict::Verify).map(|t| t.to_string());
    let verify_calls = f.decide(&verify, &Unlogged).await?.calls.len();
    assert!(f.reconcile(&verify).await?.applied());
    let live = cases
        .iter()
        .find(|c| c.selfie.as_ref().is_some_and(|s| s.liveness.result == LivenessResult::NotLive))
        .ok_or("liveness")?;
    let idv = live
        .targets
        .iter()
        .find_map(|t| match &t.id {
            TargetId::Element(e) if e.starts_with("idv:") => Some(e.clone()),
            _ => None,
        })
        .ok_or("idv target")?;
    f.decide(&decision(&live.case_ref, TargetId::Element(idv.clone()), Verdict::Reject, "Screen replay."), &Unlogged)
        .await?;
    let refer = decision(&live.case_ref, TargetId::Case, Verdict::Refer, "Needs a senior reviewer.");
    assert!(f.decide(&refer, &Unlogged).await?.escalate);

    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(seen.len(), 3 + verify_calls);
    assert_eq!(verify_calls > 1, open_before.as_deref().is_some_and(|t| t.starts_with("resolves")), "{open_before:?}");
    let approve = verify_calls; // the verify calls follow the false positive; approving is the last
    for call in &seen[1..approve] {
        let status = call["body"]["manualStatus"].as_str().unwrap_or_default();
        assert!(["FALSE_POSITIVE", "CLEAR"].contains(&status), "{call}");
    }
    let seen: Vec<Value> = [&seen[..1], &seen[approve..]].concat();
    assert_eq!(seen[0]["method"], "PATCH");
    assert_eq!(seen[0]["path"], format!("/v2/individuals/{entity}/results/aml"));
    assert_eq!(
        seen[0]["body"],
        json!({"processResults": [hit], "manualStatus": "FALSE_POSITIVE",
            "comment": {"text": "Different date of birth.", "entityId": entity, "entityType": "INDIVIDUAL"}})
    );
    assert_eq!(
        seen[1]["path"],
        format!("/v2/individuals/{entity}/serviceprofiles/KYC/workflows/onboarding-standard/executions/{execution}")
    );
    assert_eq!(seen[1]["body"]["status"], "APPROVED");
    assert_eq!(seen[1]["headers"]["x-frankie-username"], "ana@example.com");
    assert_eq!(seen[1]["headers"]["x-frankie-customerid"], CUSTOMER_ID);
    assert_eq!(seen[1]["headers"]["api_key"], "[redacted]");
    assert!(seen[2]["path"].as_str().is_some_and(|p| p.ends_with("/results/idv")));
    assert_eq!(seen[2]["body"]["manualStatus"], "REJECTED");
    assert_eq!(seen[3]["body"]["status"], "NEEDS_APPROVAL");
    // Overridden executions leave the needs-review search.
    let left: Vec<String> = f.pending(None).await?.referred.into_iter().map(|e| e.case_ref.key).collect();
    assert!(!left.contains(&aml.case_ref.key) && !left.contains(&live.case_ref.key));
    assert_frankieone_exchanges_match_the_spec(&emu).await?;
    Ok(())
}

#[tokio::test]
async fn emulator_enforces_the_documented_rules() -> TestResult {
    let emu = start_emulator(2).await?;
    let base = format!("{}/frankieone", emu.base_url());
    let http = reqwest::Client::new();
    let ids: Value = reqwest::get(format!("{}/_emulator/cases", emu.base_url())).await?.json().await?;
    let entity = ids["frankieone"][0].as_str().ok_or("entity")?.to_string();
    let no_key: Value = http.get(format!("{base}/v2/individuals/{entity}")).send().await?.json().await?;
    assert_eq!(no_key["errorCode"], "AUTH-0401");
    let bad_key: Value = http
        .get(format!("{base}/v2/individuals/{entity}"))
        .header("api_key", "nope")
        .header("X-Frankie-CustomerID", CUSTOMER_ID)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(bad_key["errorCode"], "AUTH-0002");
    let auth = |r: reqwest::RequestBuilder| r.header("api_key", API_KEY).header("X-Frankie-CustomerID", CUSTOMER_ID);
    let no_customer = http.get(format!("{base}/v2/individuals/{entity}")).header("api_key", API_KEY).send().await?;
    assert_eq!(no_customer.status(), 401);
    let not_uuid: Value = auth(http.get(format!("{base}/v2/individuals/test"))).send().await?.json().await?;
    assert_eq!(not_uuid["errorCode"], "API-0400");
    assert_eq!(not_uuid["details"][0]["issueLocation"], "VALIDATE-entityId");
    let missing = auth(http.get(format!("{base}/v2/individuals/00000000-0000-4000-8000-000000000000"))).send().await?;
    assert_eq!(missing.status(), 404);
    // Bodies are JSON and say so: the same body typed as text is refused, and changes nothing.
    let pros: Value = auth(http.get(format!("{base}/v2/individuals/{entity}/results"))).send().await?.json().await?;
    let aml = pros["processResults"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["class"] == "AML"))
        .and_then(|p| p["processResultId"].as_str())
        .unwrap_or_default()
        .to_string();
    let untyped = auth(http.patch(format!("{base}/v2/individuals/{entity}/results/aml")))
        .header("Content-Type", "text/plain")
        .body(json!({"processResults": [aml], "manualStatus": "FALSE_POSITIVE"}).to_string())
        .send()
        .await?;
    assert_eq!(untyped.status(), 400);
    let untyped: Value = untyped.json().await?;
    assert_eq!(untyped["errorCode"], "API-0400");
    assert_eq!(untyped["details"][0]["issueLocation"], "header.Content-Type");
    let after: Value = auth(http.get(format!("{base}/v2/individuals/{entity}/results"))).send().await?.json().await?;
    assert_eq!(after["processResults"], pros["processResults"], "a refused resolution changes nothing");
    let bad_status = auth(http.patch(format!("{base}/v2/individuals/{entity}/results/aml")))
        .json(&json!({"processResults": ["x"], "manualStatus": "CLEAR"}))
        .send()
        .await?;
    assert_eq!(bad_status.status(), 400, "CLEAR is an IDV status, not an AML one");
    // Documents: `meta` leaves the bytes out, `base64` puts them in.
    let meta: Value =
        auth(http.get(format!("{base}/v2/individuals/{entity}/documents?level=meta"))).send().await?.json().await?;
    assert_eq!(meta["IDENTITY"][0]["attachments"][0]["retrievalStatus"], "EXCLUDED");
    assert!(meta["IDENTITY"][0]["attachments"][0]["data"].is_null());
    let b64: Value =
        auth(http.get(format!("{base}/v2/individuals/{entity}/documents?level=base64"))).send().await?.json().await?;
    assert!(b64["IDENTITY"][0]["attachments"][0]["data"]["base64"].as_str().is_some_and(|d| d.len() > 10_000));
    Ok(())
}

/// Verify on an execution with unresolved AML hits and a failed IDV result says which it
/// resolves and how, resolves them first, then approves; a resend only approves.
#[tokio::test]
async fn verify_resolves_the_open_results_first_then_approves() -> TestResult {
    let emu = start_emulator(8).await?;
    let f = frankieone(&emu)?;
    let cases = referred(&f).await?;
    let failed_idv =
        |c: &Case| c.rules.iter().any(|r| r.name.as_str().starts_with("idv") && r.outcome == RuleOutcome::Failed);
    let case = cases
        .iter()
        .find(|c| !c.screening.is_empty() && failed_idv(c))
        .or_else(|| cases.iter().find(|c| !c.screening.is_empty()))
        .ok_or("a case with AML hits")?;
    let entity = case.case_ref.key.split('/').next().ok_or("entity")?.to_string();
    let hits: Vec<String> = case.screening.iter().map(|h| h.id.clone()).collect();
    let sends = case.targets[0].sends(Verdict::Verify).map(|t| t.to_string()).unwrap_or_default();
    let idv_open = failed_idv(case);
    let n = hits.len()
        + usize::from(idv_open)
            * case
                .rules
                .iter()
                .filter(|r| r.name.as_str().starts_with("idv") && r.outcome == RuleOutcome::Failed)
                .count();
    let names: Vec<String> =
        case.screening.iter().take(4).map(|h| format!("AML hit '{}' false positive", h.name)).collect();
    assert!(sends.starts_with(&format!("resolves {n} open result")), "{sends}");
    assert!(sends.contains(&names.join(", ")), "{sends}");
    assert_eq!(sends.contains(" clear"), idv_open, "{sends}");
    assert!(sends.ends_with("then approves the execution"), "{sends}");

    let verify = decision(&case.case_ref, TargetId::Case, Verdict::Verify, "Namesakes; selfie checked by hand.");
    let receipt = f.decide(&verify, &Unlogged).await?;
    assert_eq!(receipt.calls.len(), 2 + usize::from(idv_open));
    let seen = recorded_decisions(&emu.base_url()).await?;
    let comment = json!({"text": "Namesakes; selfie checked by hand.", "entityId": entity, "entityType": "INDIVIDUAL"});
    assert_eq!(seen[0]["path"], format!("/v2/individuals/{entity}/results/aml"));
    assert_eq!(seen[0]["body"], json!({"processResults": hits, "manualStatus": "FALSE_POSITIVE", "comment": comment}));
    if idv_open {
        assert_eq!(seen[1]["path"], format!("/v2/individuals/{entity}/results/idv"));
        assert_eq!(seen[1]["body"]["manualStatus"], "CLEAR");
    }
    let last = seen.last().ok_or("approve")?;
    assert!(last["path"].as_str().is_some_and(|p| p.contains("/executions/")));
    assert_eq!(last["body"], json!({"status": "APPROVED", "comment": comment}));
    assert!(seen.iter().all(|c| c["status"] == 200), "{seen:?}");
    // Nothing is left open; the case says so, and a resend only approves.
    let after = f.case(&case.case_ref).await?;
    assert!(after.screening.iter().all(|h| h.resolution.as_ref().is_some_and(|r| r.as_str() == "FALSE_POSITIVE")));
    assert!(f.reconcile(&verify).await?.applied());
    assert_eq!(f.decide(&verify, &Unlogged).await?.calls.len(), 1);
    assert_eq!(after.targets[0].sends(Verdict::Verify).map(|t| t.as_str()), Some("approves the execution"));
    assert_frankieone_exchanges_match_the_spec(&emu).await?;
    Ok(())
}

#[tokio::test]
async fn reason_codes_are_refused_before_saving() -> TestResult {
    let emu = start_emulator(2).await?;
    let f = frankieone(&emu)?;
    let case = referred(&f).await?.remove(0);
    let mut reject = decision(&case.case_ref, TargetId::Case, Verdict::Reject, "Forged passport.");
    reject.reason_codes = vec!["FORGERY".into()];
    let message = f.check_decision(&reject).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("FrankieOne takes no reason codes with Reject"), "{message}");
    assert!(f.decide(&reject, &Unlogged).await.is_err());
    assert!(recorded_decisions(&emu.base_url()).await?.is_empty(), "nothing was sent");
    reject.reason_codes.clear();
    assert!(f.check_decision_on(&reject, &case.targets[0]).is_ok());
    Ok(())
}

/// The validator itself: it refuses what the spec refuses, and the patch list lets
/// through what the documented defects would wrongly refuse.
#[test]
fn the_spec_validator_catches_bad_bodies() -> TestResult {
    let Some(spec) = common::frankieone_spec::Spec::load() else { return Ok(()) };
    let aml = "/v2/individuals/3fa85f64-5717-4562-b3fc-2c963f66afa6/results/aml";
    assert!(
        spec.check_request("PATCH", aml, &json!({"processResults": ["01K"], "manualStatus": "FALSE_POSITIVE"})).is_ok()
    );
    assert!(spec.check_request("PATCH", aml, &json!({"processResults": ["01K"], "manualStatus": "CLEAR"})).is_err());
    let execution = "/v2/individuals/e/serviceprofiles/KYC/workflows/w/executions/x";
    assert!(spec.check_request("PATCH", execution, &json!({"status": "APPROVED"})).is_ok());
    assert!(spec.check_request("PATCH", execution, &json!({"status": "MAYBE"})).is_err());
    // Patch 1: a process result with a manual status validates at all.
    let pro = json!({"requestId": "01K", "processResult": {"processResultId": "01K", "class": "AML", "manualStatus": "FALSE_POSITIVE",
        "supplementaryData": {"type": "AML", "serviceProvider": "x", "matchData": {"name": "n", "spReferenceId": "r"}}}});
    assert!(spec.check_response("GET", "/v2/individuals/e/results/01K", 200, &pro).is_ok());
    // Patch 2: IDV supplementary data validates, and dispatch still checks the branch.
    let idv = json!({"requestId": "01K", "processResult": {"processResultId": "01K", "class": "IDV",
        "supplementaryData": {"type": "IDV_FACIAL_LIVENESS", "resultMap": {"liveness": {"confidence": 0.9}}}}});
    assert!(spec.check_response("GET", "/v2/individuals/e/results/01K", 200, &idv).is_ok());
    let broken = json!({"requestId": "01K", "processResult": {"supplementaryData": {"type": "AML", "matchData": {"name": "n"}}}});
    assert!(
        spec.check_response("GET", "/v2/individuals/e/results/01K", 200, &broken).is_err(),
        "AML needs serviceProvider"
    );
    // Patch 3: flat and nested `matches` both pass.
    let profile = json!({"serviceProfile": {"entityId": "e"}, "confidence": 1.0});
    for matches in [json!([[profile.clone()]]), json!([profile])] {
        assert!(spec.check_response("POST", "/v2/search/serviceprofiles", 200, &json!({"matches": matches})).is_ok());
    }
    Ok(())
}

#[tokio::test]
async fn documents_are_flagged_expired_or_expiring_by_their_days() -> TestResult {
    use kycdesk::domain::{EvidenceFlag, evidence_flags};
    use kycdesk::emulator::seeded_today;
    let emu = start_emulator(4).await?;
    let mut flags = vec![];
    for case in referred(&frankieone(&emu)?).await? {
        assert!(case.applicant.date_of_birth.as_ref().and_then(|d| d.day()).is_some());
        for doc in &case.documents {
            assert!(doc.expiry.as_ref().and_then(|d| d.day()).is_some());
            // FrankieOne documents carry no holder data.
            assert!(doc.holder_name.is_none() && doc.date_of_birth.is_none());
            assert!(doc.fields.iter().all(|f| !f.personal), "issue date and class are about the document");
        }
        flags.extend(evidence_flags(&case, seeded_today()));
    }
    assert!(flags.iter().any(|f| matches!(f, EvidenceFlag::Expired { .. })), "{flags:?}");
    assert!(flags.iter().any(|f| matches!(f, EvidenceFlag::ExpiresSoon { days_left: 20, .. })), "{flags:?}");
    Ok(())
}
