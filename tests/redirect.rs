//! A provider answer never redirects a decision or a case: each adapter, asked about one
//! case, refuses an answer about another (the emulator swaps the id in its answer), and
//! a decision goes to the id the analyst decided.

mod common;

use common::*;
use kycdesk::domain::{CaseRef, ProviderId, TargetId, Verdict};
use kycdesk::emulator::RunningEmulator;
use kycdesk::providers::{Provider, ProviderError, Unlogged};
use serde_json::json;

/// From now on, every answer of `provider` names `other` where it named `asked`.
async fn swap_ids(emu: &RunningEmulator, provider: &str, asked: &str, other: &str) -> TestResult {
    let status = reqwest::Client::new()
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"provider": provider, "count": 1000, "replace": [[asked, other]]}))
        .send()
        .await?
        .status();
    assert!(status.is_success());
    Ok(())
}

fn is_redirect(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Decode { detail, .. } if detail.contains("the answer is for"))
}

/// The case, a refresh and a decision of `case_ref` with the answers swapped to another
/// case: the reads are errors; nothing is decided on the other case.
async fn refuses_the_swap(
    emu: &RunningEmulator,
    provider: &dyn Provider,
    case_ref: &CaseRef,
    hint: &CaseRef,
    other: &str,
) -> TestResult {
    let case = provider.case(case_ref).await;
    assert!(matches!(&case, Err(e) if is_redirect(e)), "{}: case() took {case:?}", provider.id());
    let scan = provider.refresh(hint).await;
    assert!(matches!(&scan, Err(e) if is_redirect(e)), "{}: refresh() took {scan:?}", provider.id());
    let decision = decision(case_ref, TargetId::Case, Verdict::Reject, "Document forged.");
    let _ = provider.decide(&decision, &Unlogged).await;
    for d in recorded_decisions(&emu.base_url()).await? {
        let path = d["path"].as_str().unwrap_or_default();
        assert!(!path.contains(other), "{}: a decision went to the other case: {path}", provider.id());
    }
    Ok(())
}

#[tokio::test]
async fn sumsub_refuses_an_answer_about_another_applicant() -> TestResult {
    let emu = start_emulator(3).await?;
    let ids = sumsub_applicants(&emu).await?;
    let (asked, other) = (&ids[0], &ids[1]);
    swap_ids(&emu, "sumsub", asked, other).await?;
    let case_ref = CaseRef::new(ProviderId::Sumsub, asked.as_str());
    let adapter = sumsub(&emu)?;
    refuses_the_swap(&emu, &adapter, &case_ref, &case_ref, other).await?;
    // The decision went to the applicant decided, whatever the answers said.
    let sent = recorded_decisions(&emu.base_url()).await?;
    assert!(sent.iter().all(|d| d["path"].as_str().unwrap_or_default().contains(asked.as_str())), "{sent:?}");
    Ok(())
}

#[tokio::test]
async fn idwise_refuses_an_answer_about_another_journey() -> TestResult {
    let emu = start_emulator(3).await?;
    let ids = idwise_journeys(&emu).await?;
    let (asked, other) = (&ids[0].0, &ids[1].0);
    swap_ids(&emu, "idwise", asked, other).await?;
    let case_ref = CaseRef::new(ProviderId::IdWise, asked.as_str());
    refuses_the_swap(&emu, &idwise(&emu)?, &case_ref, &case_ref, other).await
}

#[tokio::test]
async fn credas_refuses_an_answer_about_another_entity() -> TestResult {
    let emu = start_emulator(3).await?;
    let ids = credas_entities(&emu).await?;
    let (asked, other) = (&ids[0], &ids[1]);
    let adapter = credas(&emu)?;
    let hint = CaseRef::new(ProviderId::Credas, asked.as_str());
    let scan = adapter.refresh(&hint).await?;
    let case_ref = scan.referred.first().map(|e| e.case_ref.clone()).ok_or("no referred Credas entry")?;
    swap_ids(&emu, "credas", asked, other).await?;
    refuses_the_swap(&emu, &adapter, &case_ref, &hint, other).await
}

#[tokio::test]
async fn frankieone_refuses_an_answer_about_another_entity() -> TestResult {
    let emu = start_emulator(3).await?;
    let adapter = frankieone(&emu)?;
    let scan = adapter.pending(None).await?;
    let refs: Vec<CaseRef> = scan.referred.iter().map(|e| e.case_ref.clone()).collect();
    let entity = |r: &CaseRef| r.key.split('/').next().unwrap_or_default().to_string();
    let case_ref = refs.first().ok_or("no referred FrankieOne case")?.clone();
    let other = refs.iter().map(entity).find(|e| *e != entity(&case_ref)).ok_or("one entity only")?;
    swap_ids(&emu, "frankieone", &entity(&case_ref), &other).await?;
    let hint = CaseRef::new(ProviderId::FrankieOne, entity(&case_ref));
    refuses_the_swap(&emu, &adapter, &case_ref, &hint, &other).await
}

#[tokio::test]
async fn complycube_refuses_an_answer_about_another_check() -> TestResult {
    let emu = start_emulator(3).await?;
    let adapter = complycube(&emu, kycdesk::providers::complycube::KeyMode::Test)?;
    let refs: Vec<CaseRef> = adapter.pending(None).await?.referred.into_iter().map(|e| e.case_ref).collect();
    let (asked, other) = (&refs[0], &refs[1]);
    swap_ids(&emu, "complycube", &asked.key, &other.key).await?;
    refuses_the_swap(&emu, &adapter, asked, asked, &other.key).await
}
