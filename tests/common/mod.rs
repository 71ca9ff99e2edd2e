#![allow(dead_code)]

pub mod cli;
pub mod frankieone_spec;
pub mod tmux;

use kycdesk::emulator::{self, EmulatorOptions, RunningEmulator};
use kycdesk::providers::complycube::{ComplyCube, ComplyCubeSettings, KeyMode};
use std::time::Duration;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub async fn start_emulator(cases: usize) -> Result<RunningEmulator, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    Ok(emulator::spawn(listener, EmulatorOptions { seed: 11, cases, ..EmulatorOptions::default() })?)
}

pub fn complycube(emu: &RunningEmulator, mode: KeyMode) -> Result<ComplyCube, Box<dyn std::error::Error>> {
    let key = match mode {
        KeyMode::Test => emulator::complycube::TEST_KEY,
        KeyMode::Live => emulator::complycube::LIVE_KEY,
    };
    Ok(ComplyCube::new(ComplyCubeSettings {
        limits: Default::default(),
        base_url: format!("{}/complycube/v1", emu.base_url()),
        api_key: key.to_string().into(),
        mode,
        backoff_initial: Duration::from_millis(100),
        webhook_secret: Some(emulator::complycube::WEBHOOK_SECRET.to_string().into()),
    })?)
}

pub fn idwise(emu: &RunningEmulator) -> Result<kycdesk::providers::idwise::IdWise, Box<dyn std::error::Error>> {
    Ok(kycdesk::providers::idwise::IdWise::new(kycdesk::providers::idwise::IdWiseSettings {
        limits: Default::default(),
        base_url: format!("{}/idwise/", emu.base_url()),
        api_key: emulator::idwise::API_KEY.to_string().into(),
        api_secret: emulator::idwise::API_SECRET.to_string().into(),
        webhook_header: None,
    })?)
}

/// Seeded IDWise journeys: (id, system decision).
pub async fn idwise_journeys(emu: &RunningEmulator) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let cases: serde_json::Value = reqwest::get(format!("{}/_emulator/cases", emu.base_url())).await?.json().await?;
    Ok(cases["idwise"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| Some((c["id"].as_str()?.to_string(), c["system_decision"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

pub fn credas(emu: &RunningEmulator) -> Result<kycdesk::providers::credas::Credas, Box<dyn std::error::Error>> {
    use kycdesk::providers::SharedHeader;
    Ok(kycdesk::providers::credas::Credas::new(kycdesk::providers::credas::CredasSettings {
        limits: Default::default(),
        base_url: format!("{}/credas/api/v2/ci/", emu.base_url()),
        api_key: emulator::credas::API_KEY.to_string().into(),
        webhook_header: Some(SharedHeader {
            name: reqwest::header::HeaderName::from_static("x-credas-webhook-token"),
            value: emulator::credas::WEBHOOK_TOKEN.to_string().into(),
        }),
    })?)
}

/// Seeded Credas entity ids.
pub async fn credas_entities(emu: &RunningEmulator) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let cases: serde_json::Value = reqwest::get(format!("{}/_emulator/cases", emu.base_url())).await?.json().await?;
    Ok(cases["credas"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
        .unwrap_or_default())
}

/// A decision as an analyst would make it.
pub fn decision(
    case_ref: &kycdesk::domain::CaseRef,
    target: kycdesk::domain::TargetId,
    verdict: kycdesk::domain::Verdict,
    reason: &str,
) -> kycdesk::domain::Decision {
    kycdesk::domain::Decision {
        id: format!("d-{}-{}", case_ref.key, verdict.as_str()),
        case_ref: case_ref.clone(),
        target,
        verdict,
        reason: reason.into(),
        reason_codes: vec![],
        analyst: "ana".into(),
        created_at: chrono::Utc::now(),
    }
}

/// Every decision request the emulator received.
pub async fn recorded_decisions(base: &str) -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
    Ok(reqwest::get(format!("{base}/_emulator/decisions")).await?.json().await?)
}

pub fn sumsub(emu: &RunningEmulator) -> Result<kycdesk::providers::sumsub::Sumsub, Box<dyn std::error::Error>> {
    Ok(kycdesk::providers::sumsub::Sumsub::new(kycdesk::providers::sumsub::SumsubSettings {
        limits: Default::default(),
        base_url: format!("{}/sumsub/", emu.base_url()),
        app_token: emulator::sumsub::APP_TOKEN.to_string().into(),
        secret_key: emulator::sumsub::SECRET_KEY.to_string().into(),
        webhook_secret: Some(emulator::sumsub::WEBHOOK_SECRET.to_string().into()),
        backoff_initial: Duration::from_millis(200),
    })?)
}

/// Seeded Sumsub applicant ids.
pub async fn sumsub_applicants(emu: &RunningEmulator) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let cases: serde_json::Value = reqwest::get(format!("{}/_emulator/cases", emu.base_url())).await?.json().await?;
    Ok(cases["sumsub"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect())
        .unwrap_or_default())
}

pub fn frankieone(
    emu: &RunningEmulator,
) -> Result<kycdesk::providers::frankieone::FrankieOne, Box<dyn std::error::Error>> {
    Ok(kycdesk::providers::frankieone::FrankieOne::new(kycdesk::providers::frankieone::FrankieOneSettings {
        limits: Default::default(),
        base_url: format!("{}/frankieone/", emu.base_url()),
        api_key: emulator::frankieone::API_KEY.to_string().into(),
        customer_id: emulator::frankieone::CUSTOMER_ID.into(),
        customer_child_id: None,
        analyst: "ana@example.com".into(),
        webhook_header: None,
    })?)
}

/// Validates every FrankieOne exchange the emulator saw: the adapter's requests against
/// the request schemas, the emulator's answers against the response schemas.
pub async fn assert_frankieone_exchanges_match_the_spec(
    emu: &RunningEmulator,
) -> Result<usize, Box<dyn std::error::Error>> {
    let Some(spec) = frankieone_spec::Spec::load() else { return Ok(0) };
    let exchanges: Vec<serde_json::Value> =
        reqwest::get(format!("{}/_emulator/exchanges", emu.base_url())).await?.json().await?;
    let mut problems = vec![];
    for x in &exchanges {
        let (method, path) = (x["method"].as_str().unwrap_or_default(), x["path"].as_str().unwrap_or_default());
        if let Err(e) = spec.check_request(method, path, &x["request"]) {
            problems.push(e);
        }
        if let Err(e) = spec.check_response(method, path, x["status"].as_u64().unwrap_or(0) as u16, &x["response"]) {
            problems.push(e);
        }
    }
    if problems.is_empty() { Ok(exchanges.len()) } else { Err(problems.join("\n").into()) }
}

/// A request as it reached a stand-in for the real provider.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

pub type Captures = std::sync::Arc<std::sync::Mutex<Vec<Captured>>>;

/// A stand-in for a provider that knows nothing of the emulator: it records every request
/// exactly as it arrived and answers with `answer(method, path)`. Tests pin the adapter's
/// requests against the provider's documentation with it, not against the emulator's
/// reading of that documentation.
pub async fn reference_server(
    answer: fn(&str, &str) -> (u16, serde_json::Value),
) -> Result<(String, Captures, tokio::task::JoinHandle<()>), Box<dyn std::error::Error>> {
    use axum::response::IntoResponse;
    let captures: Captures = Default::default();
    let seen = std::sync::Arc::clone(&captures);
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method,
              uri: axum::http::Uri,
              headers: axum::http::HeaderMap,
              body: axum::body::Bytes| {
            let seen = std::sync::Arc::clone(&seen);
            async move {
                let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
                let (status, json) = answer(method.as_str(), &path);
                if let Ok(mut seen) = seen.lock() {
                    seen.push(Captured { method: method.to_string(), path, headers, body: body.to_vec() });
                }
                let status = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK);
                (status, axum::Json(json)).into_response()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, captures, server))
}

/// What the stand-in recorded so far.
pub fn captured(captures: &Captures) -> Vec<Captured> {
    captures.lock().map(|c| c.clone()).unwrap_or_default()
}
