//! The ComplyCube adapter against the emulator, over real HTTP on loopback.

mod common;

use common::{TestResult, captured, complycube, decision, recorded_decisions, reference_server, start_emulator};
use kycdesk::domain::{CaseRef, LivenessResult, ProviderId, TargetId, Verdict};
use kycdesk::emulator::complycube::{LIVE_KEY, TEST_KEY};
use kycdesk::providers::complycube::KeyMode;
use kycdesk::providers::{MediaFormat, Provider, ProviderError, Unlogged};
use serde_json::{Value, json};

async fn referred_of_type(cc: &impl Provider, check_type: &str) -> Result<Vec<CaseRef>, ProviderError> {
    let scan = cc.pending(None).await?;
    Ok(scan.referred.into_iter().filter(|e| e.check_type.as_str() == check_type).map(|e| e.case_ref).collect())
}

#[tokio::test]
async fn lists_every_referred_check_across_pages() -> TestResult {
    let emu = start_emulator(130).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let scan = cc.pending(None).await?;
    assert_eq!(scan.referred.len(), 130, "all referred checks over two pages");
    assert!(scan.settled.len() > 30, "clear and pending checks are reported as settled");
    assert!(scan.watermark.is_some());
    assert!(scan.referred.iter().all(|e| e.case_ref.provider == ProviderId::ComplyCube));
    // A later scan from the watermark sees nothing new.
    let again = cc.pending(scan.watermark).await?;
    assert!(again.referred.is_empty());
    Ok(())
}

#[tokio::test]
async fn test_and_live_keys_see_separate_worlds() -> TestResult {
    let emu = start_emulator(6).await?;
    let test_ids: Vec<CaseRef> =
        complycube(&emu, KeyMode::Test)?.pending(None).await?.referred.into_iter().map(|e| e.case_ref).collect();
    let live = complycube(&emu, KeyMode::Live)?;
    let err = live.case(&test_ids[0]).await;
    assert!(matches!(err, Err(ProviderError::NotFound { .. })), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn identity_check_detail_and_images() -> TestResult {
    let emu = start_emulator(6).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let refs = referred_of_type(&cc, "identity").await?;
    let case = cc.case(&refs[0]).await?;
    assert_eq!(case.documents.len(), 1);
    assert_eq!(case.documents[0].sides.len(), 2);
    let selfie = case.selfie.clone().ok_or("selfie")?;
    assert_ne!(selfie.liveness.result, LivenessResult::Unknown);
    assert!(!selfie.liveness.description.is_empty());
    let fm = case.face_match.clone().ok_or("face match")?;
    assert!(fm.score.is_some());
    assert!(!case.rules.is_empty());
    assert!(case.applicant.date_of_birth.is_some());

    let front = cc.media(&case.documents[0].sides[0]).await?;
    assert_eq!(front.format, MediaFormat::Jpeg);
    let img = image::load_from_memory(&front.bytes)?;
    assert_eq!((img.width(), img.height()), (1000, 630));
    // The live photo arrives as `images/jpg`; the bytes decide.
    let live = cc.media(selfie.media.as_ref().ok_or("live photo")?).await?;
    assert_eq!(live.format, MediaFormat::Jpeg);
    assert_eq!(image::load_from_memory(&live.bytes)?.width(), 640);
    Ok(())
}

#[tokio::test]
async fn document_and_screening_details() -> TestResult {
    let emu = start_emulator(6).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let doc = cc.case(&referred_of_type(&cc, "document").await?[0]).await?;
    let d = &doc.documents[0];
    assert!(d.number.is_some() && d.expiry.is_some() && d.country.is_some());
    assert!(d.fields.iter().any(|f| f.name.as_str().contains("Mrz")));
    assert_eq!(doc.targets.len(), 1);
    let screening = cc.case(&referred_of_type(&cc, "standard screening").await?[0]).await?;
    assert!(!screening.screening.is_empty());
    assert!(screening.screening.iter().all(|h| h.score.is_some() && !h.datasets.is_empty()));
    assert_eq!(screening.targets.len(), 1 + screening.screening.len());
    Ok(())
}

#[tokio::test]
async fn hostile_names_arrive_sanitised() -> TestResult {
    let emu = start_emulator(6).await?;
    let cc = complycube(&emu, KeyMode::Test)?;
    let scan = cc.pending(None).await?;
    let hostile = scan.referred.iter().find(|e| e.applicant.as_str().contains("Mallory")).ok_or("hostile case")?;
    assert!(!hostile.applicant.as_str().contains('\u{1b}'));
    assert!(!hostile.applicant.as_str().contains('\u{202E}'));
    Ok(())
}

#[tokio::test]
async fn verify_identity_sends_confirmed_with_comment() -> TestResult {
    let emu = start_emulator(6).await?;
    let cc = complycube(&emu, KeyMode::Test)?;
    let r = referred_of_type(&cc, "identity").await?.remove(0);
    let d = decision(&r, TargetId::Case, Verdict::Verify, "Selfie matches; glare on photo.");
    let receipt = cc.decide(&d, &Unlogged).await?;
    assert_eq!(receipt.calls.len(), 1);
    assert!(!receipt.escalate);
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["method"], "POST");
    assert_eq!(seen[0]["path"], format!("/v1/checks/{}/validate", r.key));
    assert_eq!(seen[0]["body"], json!({"outcome": "confirmed", "comment": "Selfie matches; glare on photo."}));
    assert_eq!(seen[0]["headers"]["authorization"], "[redacted]");
    assert_eq!(seen[0]["headers"]["content-type"], "application/json");
    assert!(cc.reconcile(&d).await?.applied(), "the check is now clear");
    assert!(!cc.pending(None).await?.referred.iter().any(|e| e.case_ref == r));
    Ok(())
}

#[tokio::test]
async fn reject_document_with_reasons_and_refer() -> TestResult {
    let emu = start_emulator(6).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let refs = referred_of_type(&cc, "document").await?;
    let mut reject = decision(&refs[0], TargetId::Case, Verdict::Reject, "Expired in 2024.");
    reject.reason_codes = vec!["document_has_expired".into()];
    cc.decide(&reject, &Unlogged).await?;
    assert!(cc.reconcile(&reject).await?.applied());
    let refer = decision(&refs[1], TargetId::Case, Verdict::Refer, "Needs a second look at the MRZ.");
    let receipt = cc.decide(&refer, &Unlogged).await?;
    assert!(receipt.escalate, "refer escalates locally too");
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(
        seen[0]["body"],
        json!({"outcome": "rejected", "rejectionReasons": ["document_has_expired"], "comment": "Expired in 2024."})
    );
    assert_eq!(seen[1]["body"], json!({"outcome": "attention", "comment": "Needs a second look at the MRZ."}));
    Ok(())
}

#[tokio::test]
async fn screening_decisions_go_per_match() -> TestResult {
    let emu = start_emulator(9).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let refs = referred_of_type(&cc, "standard screening").await?;
    let case = cc.case(&refs[0]).await?;
    // Verify = every hit dismissed as a false positive.
    let clear = decision(&refs[0], TargetId::Case, Verdict::Verify, "Namesakes: different DOB and country.");
    assert_eq!(cc.decide(&clear, &Unlogged).await?.calls.len(), case.screening.len());
    let seen = recorded_decisions(&emu.base_url()).await?;
    for (hit, call) in case.screening.iter().zip(&seen) {
        assert_eq!(
            call["body"],
            json!({"outcome": "rejected", "matchId": hit.id, "comment": "Namesakes: different DOB and country."})
        );
    }
    assert!(cc.reconcile(&clear).await?.applied());
    // A true match on another check.
    let other = cc.case(&refs[1]).await?;
    let hit = other.screening[0].id.clone();
    let true_match =
        decision(&refs[1], TargetId::Hit(hit.clone()), Verdict::TrueMatch, "Same person: DOB and photo match.");
    cc.decide(&true_match, &Unlogged).await?;
    let last = recorded_decisions(&emu.base_url()).await?.pop().ok_or("decision")?;
    assert_eq!(last["body"]["outcome"], "confirmed");
    assert_eq!(last["body"]["matchId"], hit);
    let after = cc.check(&refs[1].key).await?;
    assert_eq!(after.result.and_then(|r| r.outcome).as_deref(), Some("match_confirmed"));
    // Reject is not a screening verdict: refused before sending.
    let wrong = decision(&refs[2], TargetId::Case, Verdict::Reject, "x");
    assert!(matches!(cc.decide(&wrong, &Unlogged).await, Err(ProviderError::Refused { .. })));
    Ok(())
}

#[tokio::test]
async fn a_long_reason_is_refused_before_sending() -> TestResult {
    let emu = start_emulator(3).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let r = cc.pending(None).await?.referred.remove(0).case_ref;
    let d = decision(&r, TargetId::Case, Verdict::Verify, &"x".repeat(4001));
    let err = cc.decide(&d, &Unlogged).await;
    match err {
        Err(e @ ProviderError::Refused { .. }) => assert!(e.to_string().contains("4000"), "{e}"),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    assert!(recorded_decisions(&emu.base_url()).await?.is_empty(), "nothing was sent");
    Ok(())
}

#[tokio::test]
async fn rate_limit_answers_are_waited_out() -> TestResult {
    let emu = start_emulator(3).await?;
    let client = reqwest::Client::new();
    client
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"provider": "complycube", "status": 429, "count": 2, "retry_after_secs": 0}))
        .send()
        .await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    assert_eq!(cc.pending(None).await?.referred.len(), 3);
    Ok(())
}

/// A provider that answers 429 with Retry-After forever: the call gives up within its
/// time (`max_call_secs`) with a message saying so, instead of waiting without end.
#[tokio::test]
async fn endless_retry_after_gives_up_within_the_call_time() -> TestResult {
    let emu = start_emulator(3).await?;
    let client = reqwest::Client::new();
    client
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"provider": "complycube", "status": 429, "count": 10_000, "retry_after_secs": 1}))
        .send()
        .await?;
    let limits = kycdesk::providers::http::CallLimits {
        max_call_time: std::time::Duration::from_secs(4),
        request_timeout: std::time::Duration::from_secs(1),
    };
    let settings = |emu: &kycdesk::emulator::RunningEmulator| kycdesk::providers::complycube::ComplyCubeSettings {
        limits,
        base_url: format!("{}/complycube/v1", emu.base_url()),
        api_key: LIVE_KEY.to_string().into(),
        mode: KeyMode::Live,
        backoff_initial: std::time::Duration::from_millis(10),
        webhook_secret: None,
    };
    let cc = kycdesk::providers::complycube::ComplyCube::new(settings(&emu))?;
    let started = std::time::Instant::now();
    let result = cc.pending(None).await;
    let took = started.elapsed();
    match result {
        Err(e @ ProviderError::RateLimited { .. }) => {
            assert!(e.to_string().contains("max_call_secs = 4"), "{e}");
        }
        other => return Err(format!("expected a rate-limit give-up, got {other:?}").into()),
    }
    // Waits of 1 s (+ jitter) are taken while the next attempt still ends within 4 s.
    assert!(took >= std::time::Duration::from_secs(2), "it waited as asked: {took:?}");
    assert!(took < std::time::Duration::from_secs(4), "within the call time: {took:?}");

    // Asked to wait longer than the whole call may take: it gives up at once.
    let emu = start_emulator(3).await?;
    let cc = kycdesk::providers::complycube::ComplyCube::new(settings(&emu))?;
    client
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"provider": "complycube", "status": 429, "count": 10_000, "retry_after_secs": 3600}))
        .send()
        .await?;
    let started = std::time::Instant::now();
    assert!(matches!(cc.pending(None).await, Err(ProviderError::RateLimited { .. })));
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    Ok(())
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error() -> TestResult {
    let emu = start_emulator(3).await?;
    let cc = kycdesk::providers::complycube::ComplyCube::new(kycdesk::providers::complycube::ComplyCubeSettings {
        limits: Default::default(),
        base_url: format!("{}/complycube/v1", emu.base_url()),
        api_key: "wrong".to_string().into(),
        mode: KeyMode::Test,
        backoff_initial: std::time::Duration::from_millis(10),
        webhook_secret: None,
    })?;
    let err = cc.pending(None).await;
    match err {
        Err(e @ ProviderError::Auth { status: 401, .. }) => {
            assert!(e.to_string().contains("Authorization"))
        }
        other => return Err(format!("expected 401, got {other:?}").into()),
    }
    Ok(())
}

/// Sends a raw request, waiting out the emulator's rate limit as a client must.
async fn paced(request: reqwest::RequestBuilder) -> Result<reqwest::Response, reqwest::Error> {
    loop {
        let Some(attempt) = request.try_clone() else {
            return request.send().await;
        };
        let response = attempt.send().await?;
        if response.status() != 429 {
            return Ok(response);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The emulator's own rules, straight over HTTP: what the adapter relies on.
#[tokio::test]
async fn emulator_enforces_the_documented_rules() -> TestResult {
    let emu = start_emulator(9).await?;
    let base = format!("{}/complycube/v1", emu.base_url());
    let http = reqwest::Client::new();
    let get = |path: &str, key: &str| paced(http.get(format!("{base}/{path}")).header("Authorization", key));

    assert_eq!(get("checks", "nope").await?.status(), 401);
    assert_eq!(get("checks", &format!("Bearer {LIVE_KEY}")).await?.status(), 401);
    let bad_filter: Value = get("checks?outcome[ne]=clear", LIVE_KEY).await?.json().await?;
    assert_eq!(bad_filter["items"], json!([]), "an invalid filter is 200 with no results");
    let bad_size = get("checks?pageSize=5000", LIVE_KEY).await?;
    assert_eq!(bad_size.status(), 400);
    let typed: Value = get("checks?type=document_check", LIVE_KEY).await?.json().await?;
    assert!(
        typed["items"].as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|c| c["type"] == "document_check"))
    );
    let missing: Value = get("checks/000000000000000000000000", LIVE_KEY).await?.json().await?;
    assert_eq!(missing["type"], "resource_not_found");

    let all: Value = get("checks?pageSize=1000", LIVE_KEY).await?.json().await?;
    let items = all["items"].as_array().ok_or("items")?;
    let id_of = |pred: &dyn Fn(&Value) -> bool| {
        items.iter().find(|c| pred(c)).and_then(|c| c["id"].as_str()).unwrap_or_default().to_string()
    };
    let identity = id_of(&|c| c["type"] == "identity_check" && c["status"] == "complete");
    let screening = id_of(&|c| c["type"] == "standard_screening_check" && c["result"]["outcome"] == "attention");
    let pending = id_of(&|c| c["status"] == "pending");
    let validate = |id: &str, body: Value| {
        paced(http.post(format!("{base}/checks/{id}/validate")).header("Authorization", LIVE_KEY).json(&body))
    };
    let expect = |status: u16, param: Option<&'static str>| {
        move |r: (u16, Value)| {
            assert_eq!(r.0, status, "{}", r.1);
            if let Some(p) = param {
                assert_eq!(r.1["param"], p, "{}", r.1);
            }
        }
    };
    async fn read(r: reqwest::Response) -> Result<(u16, Value), reqwest::Error> {
        let s = r.status().as_u16();
        Ok((s, r.json().await?))
    }
    expect(400, Some("outcome"))(read(validate(&identity, json!({"outcome": "pending"})).await?).await?);
    expect(400, Some("outcome"))(read(validate(&identity, json!({"comment": "x"})).await?).await?);
    expect(400, Some("comment"))(
        read(validate(&identity, json!({"outcome": "confirmed", "comment": "x".repeat(4001)})).await?).await?,
    );
    expect(400, Some("rejectionReasons"))(
        read(validate(&identity, json!({"outcome": "rejected", "rejectionReasons": ["document_has_expired"]})).await?)
            .await?,
    );
    expect(400, Some("userSuppliedData"))(
        read(validate(&identity, json!({"outcome": "confirmed", "userSuppliedData": {}})).await?).await?,
    );
    expect(400, Some("matchId"))(read(validate(&screening, json!({"outcome": "rejected"})).await?).await?);
    expect(400, Some("matchId"))(
        read(validate(&screening, json!({"outcome": "rejected", "matchId": "nope"})).await?).await?,
    );
    let (status, body) = read(validate(&pending, json!({"outcome": "confirmed"})).await?).await?;
    assert_eq!((status, body["type"].as_str()), (422, Some("pending_check_unmodifiable")));
    let not_json = paced(
        http.post(format!("{base}/checks/{identity}/validate"))
            .header("Authorization", LIVE_KEY)
            .header("Content-Type", "application/json")
            .body("{"),
    )
    .await?;
    assert_eq!(not_json.status(), 400);
    // POST must carry `Content-Type: application/json` (documented): valid JSON without it
    // is refused, before anything changes.
    let untyped = paced(
        http.post(format!("{base}/checks/{identity}/validate"))
            .header("Authorization", LIVE_KEY)
            .body(r#"{"outcome":"rejected"}"#),
    )
    .await?;
    expect(400, None)(read(untyped).await?);
    let as_text = paced(
        http.post(format!("{base}/checks/{identity}/validate"))
            .header("Authorization", LIVE_KEY)
            .header("Content-Type", "text/plain")
            .body(r#"{"outcome":"rejected"}"#),
    )
    .await?;
    let (status, body) = read(as_text).await?;
    assert_eq!((status, body["type"].as_str()), (400, Some("invalid_request")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("Content-Type")), "{body}");
    let still: Value = get(&format!("checks/{identity}"), LIVE_KEY).await?.json().await?;
    assert_eq!(still["result"]["outcome"], "attention", "a refused validate changes nothing");
    let typed_with_charset = paced(
        http.post(format!("{base}/checks/{identity}/validate"))
            .header("Authorization", LIVE_KEY)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(r#"{"outcome":"attention"}"#),
    )
    .await?;
    assert_eq!(typed_with_charset.status(), 200);
    let ok: Value = validate(&identity, json!({"outcome": "confirmed", "comment": "fine"})).await?.json().await?;
    assert_eq!(ok, json!({"outcome": "confirmed"}));
    // Re-validating overwrites (retries are harmless).
    assert_eq!(validate(&identity, json!({"outcome": "confirmed"})).await?.status(), 200);
    // Every decision request is recorded, refused ones included, in order.
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(seen.len(), 14);
    assert_eq!(seen[0]["status"], 400);
    assert_eq!(seen[9]["status"], 400, "no Content-Type");
    assert_eq!(seen[13]["status"], 200);

    // A test key above 5 requests per second gets 429 rate_limit_exceeded.
    let burst = futures::future::join_all(
        (0..12).map(|_| http.get(format!("{base}/checks?pageSize=1")).header("Authorization", TEST_KEY).send()),
    )
    .await;
    let limited = burst.into_iter().filter_map(Result::ok).filter(|r| r.status() == 429).count();
    assert!(limited > 0, "a burst of 12 on a test key is limited");

    http.post(format!("{}/_emulator/reset", emu.base_url())).send().await?;
    assert!(recorded_decisions(&emu.base_url()).await?.is_empty());
    Ok(())
}

/// The adapter's requests against ComplyCube's own reference (complycube.md §2, §7), on a
/// stand-in that knows nothing of the emulator: raw key, `Content-Type: application/json`
/// on the POST, the documented path and body.
#[tokio::test]
async fn validate_requests_follow_the_provider_reference() -> TestResult {
    fn answer(method: &str, path: &str) -> (u16, Value) {
        match (method, path) {
            ("GET", "/v1/checks/5f1a2b3c4d5e6f7a8b9c0d1e") => (
                200,
                json!({"id": "5f1a2b3c4d5e6f7a8b9c0d1e", "clientId": "c1", "type": "document_check",
                    "status": "complete", "result": {"outcome": "attention"}}),
            ),
            // The documented example answer.
            ("POST", _) => (200, json!({"outcome": "rejected"})),
            _ => (404, json!({"type": "resource_not_found", "message": "Invalid check id"})),
        }
    }
    let (base, captures, _server) = reference_server(answer).await?;
    let cc = kycdesk::providers::complycube::ComplyCube::new(kycdesk::providers::complycube::ComplyCubeSettings {
        limits: Default::default(),
        base_url: format!("{base}/v1"),
        api_key: "test_the_raw_key".to_string().into(),
        mode: KeyMode::Test,
        backoff_initial: std::time::Duration::from_millis(10),
        webhook_secret: None,
    })?;
    let r = CaseRef::new(ProviderId::ComplyCube, "5f1a2b3c4d5e6f7a8b9c0d1e");
    let mut reject = decision(&r, TargetId::Case, Verdict::Reject, "Expired passport, checked by reviewer.");
    reject.reason_codes = vec!["document_has_expired".into()];
    cc.decide(&reject, &Unlogged).await?;
    let seen = captured(&captures);
    let post = seen.iter().find(|c| c.method == "POST").ok_or("no POST reached the stand-in")?;
    assert_eq!(post.path, "/v1/checks/5f1a2b3c4d5e6f7a8b9c0d1e/validate");
    let header = |name: &str| post.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(header("content-type"), "application/json", "every POST says it is JSON (documented)");
    assert_eq!(header("authorization"), "test_the_raw_key", "the raw key, no scheme (documented)");
    let body: Value = serde_json::from_slice(&post.body)?;
    // The documented example body, field for field.
    assert_eq!(
        body,
        json!({"outcome": "rejected", "rejectionReasons": ["document_has_expired"], "comment": "Expired passport, checked by reviewer."})
    );
    // Every request with a body is typed, whatever the method.
    for c in seen.iter().filter(|c| !c.body.is_empty()) {
        assert_eq!(c.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    }
    Ok(())
}

/// ComplyCube turns a screening check `match_confirmed` at its first confirmed match; the
/// other hits stay on the case with what was decided, and can still be decided.
#[tokio::test]
async fn a_match_confirmed_check_keeps_its_other_hits_decidable() -> TestResult {
    let emu = start_emulator(9).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let refs = referred_of_type(&cc, "standard screening").await?;
    // The check with the most hits.
    let mut chosen: Option<(CaseRef, kycdesk::domain::Case)> = None;
    for r in &refs {
        let case = cc.case(r).await?;
        if chosen.as_ref().is_none_or(|(_, c)| c.screening.len() < case.screening.len()) {
            chosen = Some((r.clone(), case));
        }
    }
    let (r, case) = chosen.filter(|(_, c)| c.screening.len() >= 2).ok_or("a screening check with two hits or more")?;
    let first = case.screening[0].id.clone();
    let confirm = decision(&r, TargetId::Hit(first.clone()), Verdict::TrueMatch, "Same DOB and photo.");
    assert!(!cc.reconcile(&confirm).await?.applied(), "not applied yet");
    cc.decide(&confirm, &Unlogged).await?;
    assert!(cc.reconcile(&confirm).await?.applied(), "the match says it is confirmed");
    let after = cc.case(&r).await?;
    assert_eq!(after.status.as_str(), "complete / match_confirmed");
    assert_eq!(after.screening.len(), case.screening.len(), "every hit is still shown");
    assert_eq!(after.screening[0].resolution.as_ref().map(|t| t.as_str()), Some("true match (confirmed)"));
    assert!(after.screening[1..].iter().all(|h| h.resolution.is_none()), "the others are undecided");
    let undecided = case.screening.len() - 1;
    let whole = &after.targets[0];
    assert_eq!(whole.verdicts, vec![Verdict::Verify, Verdict::Refer]);
    let expected = if undecided == 1 {
        "1 hit dismissed as false positive".to_string()
    } else {
        format!("{undecided} hits dismissed as false positive")
    };
    assert_eq!(whole.sends(Verdict::Verify).map(|t| t.as_str()), Some(expected.as_str()));
    assert!(after.why_referred.as_str().ends_with(&format!("{undecided} undecided")), "{}", after.why_referred);
    // One more hit on its own, then the rest with the whole-check Verify.
    let second = after.screening[1].id.clone();
    cc.decide(&decision(&r, TargetId::Hit(second.clone()), Verdict::FalsePositive, "Different country."), &Unlogged)
        .await?;
    let before = recorded_decisions(&emu.base_url()).await?.len();
    let rest = decision(&r, TargetId::Case, Verdict::Verify, "The others are namesakes.");
    let receipt = cc.decide(&rest, &Unlogged).await?;
    assert_eq!(receipt.calls.len(), undecided - 1, "only the hits still undecided");
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert!(seen[before..].iter().all(|c| c["body"]["matchId"] != first && c["body"]["matchId"] != second));
    assert!(seen.iter().all(|c| c["status"] == 200), "{seen:?}");
    let last = cc.check(&r.key).await?;
    assert_eq!(last.result.and_then(|x| x.outcome).as_deref(), Some("match_confirmed"), "the true match stands");
    assert!(cc.reconcile(&rest).await?.applied(), "nothing is left undecided");
    let settled = cc.case(&r).await?;
    assert!(settled.screening.iter().all(|h| h.resolution.is_some()));
    assert!(!settled.targets[0].verdicts.contains(&Verdict::Verify), "nothing left to dismiss");
    Ok(())
}

#[tokio::test]
async fn document_checks_carry_the_holder_as_read() -> TestResult {
    use kycdesk::domain::{EvidenceFlag, evidence_flags};
    use kycdesk::emulator::{SHARED_COMPLYCUBE_SUMSUB, seeded_today};
    let emu = start_emulator(12).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let mut flags = vec![];
    let mut names = vec![];
    for case_ref in referred_of_type(&cc, "document").await? {
        let case = cc.case(&case_ref).await?;
        let d = &case.documents[0];
        assert!(d.holder_name.is_some(), "{case_ref}");
        assert!(d.date_of_birth.as_ref().and_then(|x| x.day()).is_some(), "{case_ref}");
        assert!(d.expiry.as_ref().and_then(|x| x.day()).is_some(), "{case_ref}");
        let personal = |part: &str| d.fields.iter().find(|f| f.name.as_str().ends_with(part)).map(|f| f.personal);
        assert_eq!(personal("Document number"), Some(true));
        assert_eq!(personal("Document type"), Some(false));
        assert_eq!(personal("Issuing country"), Some(false));
        assert_eq!(personal("Dob"), Some(true));
        let since = case.applicant.fields.iter().find(|f| f.name.as_str() == "Client since").ok_or("client since")?;
        assert!(!since.personal && since.value.as_str().ends_with(" UTC"), "{:?}", since.value);
        names.push((case.applicant.name.to_string(), case.applicant.date_of_birth.as_ref().map(|x| x.to_string())));
        flags.extend(evidence_flags(&case, seeded_today()));
    }
    let surname: Vec<String> =
        flags.iter().filter(|f| matches!(f, EvidenceFlag::NameDiffers { .. })).map(EvidenceFlag::label).collect();
    assert!(surname.iter().any(|l| l.contains("Halvorsen")), "{surname:?}");
    let shared = format!("{} {}", SHARED_COMPLYCUBE_SUMSUB.given, SHARED_COMPLYCUBE_SUMSUB.family);
    assert!(names.contains(&(shared, Some("1984-06-12".into()))), "{names:?}");
    Ok(())
}
