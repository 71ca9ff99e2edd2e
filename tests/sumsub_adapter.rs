//! The Sumsub adapter against the emulator, over real HTTP on loopback.

mod common;

use common::{TestResult, decision, recorded_decisions, start_emulator, sumsub, sumsub_applicants};
use kycdesk::domain::{Case, CaseRef, LivenessResult, ProviderId, RuleOutcome, TargetId, Verdict};
use kycdesk::emulator::sumsub::{APP_TOKEN, PRODUCTION_TOKEN, SECRET_KEY, WEBHOOK_SECRET};
use kycdesk::providers::sumsub::{Sumsub, payload_digest, signature};
use kycdesk::providers::{MediaFormat, Provider, ProviderError, Unlogged, WebhookError};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

async fn referred(
    emu: &kycdesk::emulator::RunningEmulator,
    s: &Sumsub,
) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let mut out = vec![];
    for id in sumsub_applicants(emu).await? {
        for entry in s.refresh(&CaseRef::new(ProviderId::Sumsub, id)).await?.referred {
            out.push(s.case(&entry.case_ref).await?);
        }
    }
    Ok(out)
}

fn applicant(id: &str) -> CaseRef {
    CaseRef::new(ProviderId::Sumsub, id)
}

#[tokio::test]
async fn on_hold_and_pending_applicants_are_referred_with_steps_and_images() -> TestResult {
    let emu = start_emulator(5).await?;
    let s = sumsub(&emu)?;
    let cases = referred(&emu, &s).await?;
    assert_eq!(cases.len(), 5, "four on hold, one pending; the completed one is settled");
    assert_eq!(cases.iter().filter(|c| c.why_referred.as_str().starts_with("in provider review")).count(), 1);
    let forgery = cases.iter().find(|c| c.why_referred.as_str().contains("FORGERY")).ok_or("forgery")?;
    let identity = forgery.rules.iter().find(|r| r.name.as_str() == "Step IDENTITY").ok_or("identity step")?;
    assert_eq!(identity.outcome, RuleOutcome::Failed);
    assert!(identity.details.iter().any(|f| f.name.as_str() == "Comment shown to the applicant"));
    assert!(identity.details.iter().any(|f| f.name.as_str() == "Internal comment (not for the applicant)"));
    assert!(!forgery.documents.is_empty() && forgery.documents[0].number.is_some());
    let selfie_case =
        cases.iter().find(|c| c.why_referred.as_str().contains("UNSATISFACTORY_PHOTOS")).ok_or("selfie")?;
    assert_eq!(selfie_case.selfie.as_ref().map(|x| x.liveness.result), Some(LivenessResult::NotLive));
    let front = s.media(&forgery.documents[0].sides[0]).await?;
    assert_eq!(front.format, MediaFormat::Jpeg);
    assert_eq!(image::load_from_memory(&front.bytes)?.width(), 1000);
    assert_eq!(forgery.targets[0].reject_reasons.len(), 12, "the reason groups the analyst picks from");
    Ok(())
}

#[tokio::test]
async fn decisions_are_signed_and_shaped_as_documented() -> TestResult {
    let emu = start_emulator(5).await?;
    let s = sumsub(&emu)?;
    let cases = referred(&emu, &s).await?;
    let on_hold: Vec<&Case> = cases.iter().filter(|c| c.why_referred.as_str().starts_with("on hold")).collect();
    let approve =
        decision(&on_hold[0].case_ref, TargetId::Case, Verdict::Verify, "Font difference is a known printing variant.");
    s.decide(&approve, &Unlogged).await?;
    assert!(s.reconcile(&approve).await?.applied());
    let mut reject = decision(&on_hold[1].case_ref, TargetId::Case, Verdict::Reject, "Forged date of birth.");
    reject.reason_codes =
        vec!["fraud:documentForgery".into(), "fraud:imageManipulation".into(), "finance:chargeback".into()];
    s.decide(&reject, &Unlogged).await?;
    let resubmit = decision(&on_hold[2].case_ref, TargetId::Case, Verdict::Resubmit, "Please upload a sharper photo.");
    s.decide(&resubmit, &Unlogged).await?;
    assert!(s.reconcile(&resubmit).await?.applied());
    let refer = decision(&on_hold[3].case_ref, TargetId::Case, Verdict::Refer, "Second opinion.");
    assert!(s.decide(&refer, &Unlogged).await?.escalate);
    let seen = recorded_decisions(&emu.base_url()).await?;
    assert_eq!(seen.len(), 3, "refer is local");
    assert_eq!(seen[0]["path"], format!("/resources/applicants/{}/-/approve", on_hold[0].case_ref.key));
    assert_eq!(seen[0]["body"], json!({"note": "Font difference is a known printing variant."}));
    assert_eq!(seen[0]["headers"]["x-app-access-sig"], "[redacted]");
    assert!(seen[0]["headers"]["x-app-access-ts"].as_str().is_some_and(|t| t.len() == 10), "seconds");
    assert_eq!(
        seen[1]["body"],
        json!({"note": "Forged date of birth.", "reasons": {"finance": ["chargeback"], "fraud": ["documentForgery", "imageManipulation"]}})
    );
    let failed_step = on_hold[2]
        .rules
        .iter()
        .find(|r| r.name.as_str().starts_with("Step ") && r.outcome == RuleOutcome::Failed)
        .map(|r| r.name.as_str().trim_start_matches("Step ").to_string())
        .ok_or("failed step")?;
    assert_eq!(seen[2]["path"], format!("/resources/applicants/{}/resetStep/{failed_step}", on_hold[2].case_ref.key));
    assert_eq!(seen[2]["body"], Value::Null, "resetStep takes no body");
    assert!(seen.iter().all(|d| d["headers"]["content-type"] == "application/json"), "{seen:?}");
    // What the console was told each verdict sends, and that a resubmission's reason stays here.
    let sends = |v| on_hold[2].targets[0].sends(v).map(|t| t.to_string());
    assert_eq!(sends(Verdict::Resubmit), Some(format!("resetStep {failed_step}")));
    assert_eq!(sends(Verdict::Refer).as_deref(), Some("escalated locally, nothing sent"));
    assert!(!s.capabilities().sends_reason(Verdict::Resubmit));
    assert!(s.capabilities().sends_reason(Verdict::Verify) && s.capabilities().sends_reason(Verdict::Reject));
    // A reject needs a reason group; refused before sending.
    let bare = decision(&on_hold[3].case_ref, TargetId::Case, Verdict::Reject, "x");
    assert!(matches!(s.decide(&bare, &Unlogged).await, Err(ProviderError::Refused { .. })));
    Ok(())
}

#[tokio::test]
async fn a_409_with_retry_after_is_waited_out() -> TestResult {
    let emu = start_emulator(5).await?;
    let s = sumsub(&emu)?;
    let id = sumsub_applicants(&emu).await?.remove(0);
    reqwest::Client::new()
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"provider": "sumsub", "status": 409, "retry_after_secs": 1, "count": 1, "path_contains": "/-/approve"}))
        .send()
        .await?;
    s.decide(&decision(&applicant(&id), TargetId::Case, Verdict::Verify, "Fine."), &Unlogged).await?;
    assert_eq!(recorded_decisions(&emu.base_url()).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn webhook_digests_are_checked_with_the_named_algorithm() -> TestResult {
    let emu = start_emulator(1).await?;
    let s = sumsub(&emu)?;
    let body = br#"{"applicantId":"5cb56e8e0a975a35f333cb83","type":"applicantOnHold","reviewStatus":"onHold","createdAtMs":"2025-03-05 04:41:48.321"}"#;
    let with = |alg: &str, digest: &str| -> Result<HeaderMap, Box<dyn std::error::Error>> {
        let mut h = HeaderMap::new();
        h.insert("x-payload-digest", HeaderValue::from_str(digest)?);
        h.insert("x-payload-digest-alg", HeaderValue::from_str(alg)?);
        Ok(h)
    };
    for alg in ["HMAC_SHA1_HEX", "HMAC_SHA256_HEX", "HMAC_SHA512_HEX"] {
        let digest = payload_digest(WEBHOOK_SECRET.as_bytes(), alg, body).ok_or("digest")?;
        let event = s.webhook(&with(alg, &digest)?, body)?;
        assert_eq!(event.cases, vec![applicant("5cb56e8e0a975a35f333cb83")], "{alg}");
    }
    let wrong = payload_digest(b"app-token-secret", "HMAC_SHA256_HEX", body).ok_or("digest")?;
    assert!(matches!(s.webhook(&with("HMAC_SHA256_HEX", &wrong)?, body), Err(WebhookError::Unauthenticated(_))));
    let sha1 = payload_digest(WEBHOOK_SECRET.as_bytes(), "HMAC_SHA1_HEX", body).ok_or("digest")?;
    assert!(
        matches!(s.webhook(&with("HMAC_SHA256_HEX", &sha1)?, body), Err(WebhookError::Unauthenticated(_))),
        "the named algorithm decides"
    );
    assert!(matches!(s.webhook(&with("MD5", &sha1)?, body), Err(WebhookError::Unauthenticated(_))));
    assert!(matches!(s.webhook(&HeaderMap::new(), body), Err(WebhookError::Unauthenticated(_))));
    Ok(())
}

/// The emulator checks signatures the way Sumsub documents them.
#[tokio::test]
async fn emulator_verifies_signatures_and_enforces_the_rules() -> TestResult {
    let emu = start_emulator(5).await?;
    let ids = sumsub_applicants(&emu).await?;
    let http = reqwest::Client::new();
    let base = emu.base_url();
    let send = |method: &str, path: String, body: &'static str, ts: i64, token: &'static str, key: &'static str| {
        let uri = format!("/sumsub{path}");
        let ts = ts.to_string();
        let sig = signature(key.as_bytes(), &ts, method, &uri, body.as_bytes());
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut r = http
            .request(m, format!("{base}{uri}"))
            .header("X-App-Token", token)
            .header("X-App-Access-Ts", ts)
            .header("X-App-Access-Sig", sig);
        if method == "POST" {
            r = r.header("Content-Type", "application/json").body(body);
        }
        r.send()
    };
    let now = chrono::Utc::now().timestamp();
    let one = format!("/resources/applicants/{}/one", ids[0]);
    assert_eq!(send("GET", one.clone(), "", now, APP_TOKEN, SECRET_KEY).await?.status(), 200);
    let bad: Value = send("GET", one.clone(), "", now, APP_TOKEN, "wrong-secret").await?.json().await?;
    assert_eq!((bad["code"].as_i64(), bad["description"].as_str()), (Some(401), Some("Invalid signature")));
    assert_eq!(send("GET", one.clone(), "", now - 120, APP_TOKEN, SECRET_KEY).await?.status(), 401, "stale timestamp");
    assert_eq!(send("GET", one.clone(), "", now, "sbx:unknown", SECRET_KEY).await?.status(), 401);
    assert_eq!(
        send("GET", one.clone(), "", now, PRODUCTION_TOKEN, SECRET_KEY).await?.status(),
        401,
        "other environment"
    );
    // The query string is part of what is signed.
    let with_query = format!("{one}?fields=info");
    assert_eq!(send("GET", with_query, "", now, APP_TOKEN, SECRET_KEY).await?.status(), 200);
    let approve = format!("/resources/applicants/{}/-/approve", ids[1]);
    let r = send("POST", approve.clone(), r#"{"reasons":{"fraud":["documentForgery"]}}"#, now, APP_TOKEN, SECRET_KEY)
        .await?;
    assert_eq!(r.status(), 409, "reasons on approve");
    assert_eq!(send("POST", approve, "", now, APP_TOKEN, SECRET_KEY).await?.status(), 400, "the body must be present");
    let reset = format!("/resources/applicants/{}/resetStep/NOT_A_STEP", ids[1]);
    assert_eq!(send("POST", reset, "", now, APP_TOKEN, SECRET_KEY).await?.status(), 400);
    // A POST says it is JSON, even with an empty body: a signed resetStep without it is refused.
    let reset = format!("/sumsub/resources/applicants/{}/resetStep/IDENTITY", ids[1]);
    let ts = now.to_string();
    let untyped = http
        .post(format!("{base}{reset}"))
        .header("X-App-Token", APP_TOKEN)
        .header("X-App-Access-Ts", &ts)
        .header("X-App-Access-Sig", signature(SECRET_KEY.as_bytes(), &ts, "POST", &reset, b""))
        .send()
        .await?;
    assert_eq!(untyped.status(), 400);
    let untyped: Value = untyped.json().await?;
    assert!(untyped["description"].as_str().is_some_and(|d| d.contains("Content-Type")), "{untyped}");
    // POST: 50 per 5 s.
    let mut limited = false;
    for _ in 0..55 {
        let r = send(
            "POST",
            "/resources/applicants/000000000000000000000000/-/approve".into(),
            "{}",
            now,
            APP_TOKEN,
            SECRET_KEY,
        )
        .await?;
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
            limited = true;
            break;
        }
    }
    assert!(limited, "the 51st POST in 5 s is throttled");
    Ok(())
}

#[tokio::test]
async fn resubmission_resets_the_steps_the_analyst_picked() -> TestResult {
    let emu = start_emulator(5).await?;
    let s = sumsub(&emu)?;
    let cases = referred(&emu, &s).await?;
    let case = cases.iter().find(|c| c.why_referred.as_str().contains("FORGERY")).ok_or("forgery")?;
    let offered: Vec<&str> = case.targets[0].choices(Verdict::Resubmit).iter().map(|c| c.code).collect();
    assert_eq!(offered, vec!["IDENTITY"], "the failed steps are offered");
    let mut picked =
        decision(&case.case_ref, TargetId::Case, Verdict::Resubmit, "Upload the passport again, without glare.");
    picked.reason_codes = vec!["IDENTITY".into(), "SELFIE".into()];
    s.decide(&picked, &Unlogged).await?;
    let paths: Vec<String> = recorded_decisions(&emu.base_url())
        .await?
        .iter()
        .filter_map(|d| d["path"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        paths,
        vec![
            format!("/resources/applicants/{}/resetStep/IDENTITY", case.case_ref.key),
            format!("/resources/applicants/{}/resetStep/SELFIE", case.case_ref.key)
        ]
    );
    let mut bad = decision(&case.case_ref, TargetId::Case, Verdict::Resubmit, "x");
    bad.reason_codes = vec!["NOT_A_STEP".into()];
    assert!(matches!(s.decide(&bad, &Unlogged).await, Err(ProviderError::Refused { .. })));
    Ok(())
}

/// Against Sumsub's own reference (sumsub.md §2, §7), on a stand-in that knows nothing of
/// the emulator: every POST says it is JSON, `resetStep` goes without a body, approve
/// carries `note`.
#[tokio::test]
async fn posts_follow_the_provider_reference() -> TestResult {
    fn answer(method: &str, _path: &str) -> (u16, Value) {
        // No step results (requiredIdDocsStatus); the decisions answer like the docs.
        if method == "GET" { (200, json!({})) } else { (200, json!({"ok": 1})) }
    }
    let (base, captures, _server) = common::reference_server(answer).await?;
    let s = kycdesk::providers::sumsub::Sumsub::new(kycdesk::providers::sumsub::SumsubSettings {
        limits: Default::default(),
        base_url: format!("{base}/"),
        app_token: "sbx:token".to_string().into(),
        secret_key: "secret".to_string().into(),
        webhook_secret: None,
        backoff_initial: std::time::Duration::from_millis(10),
    })?;
    let mut resubmit = decision(&applicant("5cb56e8e0a975a35f333cb83"), TargetId::Case, Verdict::Resubmit, "Glare.");
    resubmit.reason_codes = vec!["IDENTITY".into()];
    s.decide(&resubmit, &Unlogged).await?;
    s.decide(&decision(&applicant("5cb56e8e0a975a35f333cb83"), TargetId::Case, Verdict::Verify, "Fine."), &Unlogged)
        .await?;
    let seen: Vec<common::Captured> = common::captured(&captures).into_iter().filter(|c| c.method == "POST").collect();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/resources/applicants/5cb56e8e0a975a35f333cb83/resetStep/IDENTITY");
    assert!(seen[0].body.is_empty(), "resetStep takes no body");
    assert_eq!(seen[1].path, "/resources/applicants/5cb56e8e0a975a35f333cb83/-/approve");
    assert_eq!(serde_json::from_slice::<Value>(&seen[1].body)?, json!({"note": "Fine."}));
    for c in &seen {
        assert_eq!(c.method, "POST");
        let header = |n: &str| c.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(header("content-type").as_deref(), Some("application/json"), "{}", c.path);
        assert_eq!(header("x-app-token").as_deref(), Some("sbx:token"));
        let ts = header("x-app-access-ts").ok_or("timestamp")?;
        let expected = signature(b"secret", &ts, "POST", &c.path, &c.body);
        assert_eq!(header("x-app-access-sig"), Some(expected), "signed over the exact bytes sent");
    }
    Ok(())
}

#[tokio::test]
async fn codes_outside_the_catalogue_are_refused_with_the_valid_ones() -> TestResult {
    let emu = start_emulator(5).await?;
    let s = sumsub(&emu)?;
    let cases = referred(&emu, &s).await?;
    let case = cases.iter().find(|c| c.why_referred.as_str().contains("FORGERY")).ok_or("forgery")?;
    let mut reject = decision(&case.case_ref, TargetId::Case, Verdict::Reject, "Forged.");
    reject.reason_codes = vec!["fraud:madeUp".into()];
    let message = s.check_decision(&reject).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("'fraud:madeUp' is not a Sumsub code for Reject; valid: fraud:documentForgery"),
        "{message}"
    );
    // No group ticked: refused before saving.
    reject.reason_codes.clear();
    assert!(matches!(s.check_decision(&reject), Err(ProviderError::Refused { .. })));
    // A step Sumsub resets, but not one this applicant failed: the target refuses it.
    let mut resubmit = decision(&case.case_ref, TargetId::Case, Verdict::Resubmit, "Again.");
    resubmit.reason_codes = vec!["PHONE_VERIFICATION".into()];
    assert!(s.check_decision(&resubmit).is_ok());
    let message = s.check_decision_on(&resubmit, &case.targets[0]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("valid: IDENTITY"), "{message}");
    let mut verify = decision(&case.case_ref, TargetId::Case, Verdict::Verify, "Fine.");
    verify.reason_codes = vec!["IDENTITY".into()];
    assert!(s.check_decision(&verify).is_err(), "approve takes no reasons");
    assert!(recorded_decisions(&emu.base_url()).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn id_docs_carry_the_holder_as_read_and_dates_as_days() -> TestResult {
    use kycdesk::domain::{EvidenceFlag, evidence_flags};
    use kycdesk::emulator::{SHARED_COMPLYCUBE_SUMSUB, seeded_today};
    let emu = start_emulator(5).await?;
    let cases = referred(&emu, &sumsub(&emu)?).await?;
    for case in &cases {
        let doc = &case.documents[0];
        assert!(case.applicant.date_of_birth.as_ref().and_then(|d| d.day()).is_some(), "{}", case.case_ref);
        assert!(doc.date_of_birth.as_ref().and_then(|d| d.day()).is_some(), "{}", case.case_ref);
        assert!(doc.expiry.as_ref().and_then(|d| d.day()).is_some(), "{}", case.case_ref);
        assert_eq!(doc.holder_name.as_ref(), Some(&case.applicant.name), "{}", case.case_ref);
        // Ids, email and names are the person's; the level and review status are not.
        let personal = |name: &str| case.applicant.fields.iter().find(|f| f.name.as_str() == name).map(|f| f.personal);
        assert_eq!((personal("Applicant id"), personal("Email")), (Some(true), Some(true)));
        assert_eq!((personal("Level"), personal("Review status")), (Some(false), Some(false)));
        assert!(doc.fields.iter().all(|f| f.personal), "names and dates of birth on the document");
    }
    let shared = cases
        .iter()
        .find(|c| {
            c.applicant.name.as_str()
                == format!("{} {}", SHARED_COMPLYCUBE_SUMSUB.given, SHARED_COMPLYCUBE_SUMSUB.family)
        })
        .ok_or("the applicant also seen at ComplyCube")?;
    assert_eq!(shared.applicant.date_of_birth.as_ref().map(|d| d.to_string()).as_deref(), Some("1984-06-12"));
    let soon: Vec<EvidenceFlag> = cases
        .iter()
        .flat_map(|c| evidence_flags(c, seeded_today()))
        .filter(|f| matches!(f, EvidenceFlag::ExpiresSoon { .. }))
        .collect();
    assert!(!soon.is_empty(), "a document runs out within 30 days");
    assert!(soon[0].label().contains("expires on 2026-12-"), "{}", soon[0].label());
    Ok(())
}

/// A pass over the outbox delivers several cases' decisions at once: six over a link
/// with 200 ms round trips take about one or two, not six or more one after another.
#[tokio::test]
async fn a_pass_delivers_several_decisions_at_once() -> TestResult {
    use kycdesk::providers::Providers;
    use kycdesk::sender::{Delivery, Sender};
    use kycdesk::store::{SqliteStore, Store};
    use std::sync::Arc;
    let fast = start_emulator(8).await?;
    let s = sumsub(&fast)?;
    let cases = referred(&fast, &s).await?;
    let latency = std::time::Duration::from_millis(200);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let options = kycdesk::emulator::EmulatorOptions { seed: 11, cases: 8, latency, ..Default::default() };
    let slow = kycdesk::emulator::spawn(listener, options)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory()?);
    let decidable: Vec<&Case> = cases
        .iter()
        .filter(|c| c.targets.iter().any(|t| t.id == TargetId::Case && t.verdicts.contains(&Verdict::Verify)))
        .take(6)
        .collect();
    assert_eq!(decidable.len(), 6);
    for case in &decidable {
        store.save_decision(
            &decision(&case.case_ref, TargetId::Case, Verdict::Verify, "Checked."),
            &Default::default(),
        )?;
    }
    let mut providers = Providers::default();
    providers.insert(Arc::new(sumsub(&slow)?));
    let delivered = Sender::new(Arc::clone(&store), providers).deliver_all_waiting().await?;
    assert_eq!(delivered.iter().filter(|d| matches!(d, Delivery::Sent { .. })).count(), 6, "{delivered:?}");
    // Every decision's first call reached the provider within one round trip of the
    // first (one just submitted is answered "not now" and waits, as Sumsub asks).
    let served: Vec<Value> = reqwest::get(format!("{}/_emulator/requests", slow.base_url())).await?.json().await?;
    let posts: Vec<u64> = served.iter().filter(|r| r["method"] == "POST").filter_map(|r| r["at_ms"].as_u64()).collect();
    let first = posts.iter().min().copied().unwrap_or_default();
    let together = posts.iter().filter(|at| **at < first + latency.as_millis() as u64).count();
    assert!(together >= 6, "only {together} of six decisions went out together: {posts:?}");
    Ok(())
}
