//! Every provider's webhook parsing on arbitrary bodies, correctly signed so the parser
//! is reached: never panics, and every case it names has a valid id.
#![no_main]

use kycdesk::providers::{Provider, SharedHeader};
use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::LazyLock;
use std::time::Duration;

const SECRET: &str = "fuzz-secret";
const BASE: &str = "http://127.0.0.1:9/";

fn shared() -> Option<SharedHeader> {
    Some(SharedHeader { name: HeaderName::from_static("x-fuzz-token"), value: SECRET.to_string().into() })
}

struct All(Vec<Box<dyn Provider>>);

static PROVIDERS: LazyLock<Option<All>> = LazyLock::new(|| {
    use kycdesk::providers::*;
    Some(All(vec![
        Box::new(
            complycube::ComplyCube::new(complycube::ComplyCubeSettings {
                base_url: BASE.into(),
                api_key: "k".to_string().into(),
                mode: complycube::KeyMode::Test,
                backoff_initial: Duration::from_millis(1),
                webhook_secret: Some(SECRET.to_string().into()),
            })
            .ok()?,
        ),
        Box::new(
            sumsub::Sumsub::new(sumsub::SumsubSettings {
                base_url: BASE.into(),
                app_token: "t".to_string().into(),
                secret_key: "s".to_string().into(),
                webhook_secret: Some(SECRET.to_string().into()),
                backoff_initial: Duration::from_millis(1),
            })
            .ok()?,
        ),
        Box::new(
            idwise::IdWise::new(idwise::IdWiseSettings {
                base_url: BASE.into(),
                api_key: "k".to_string().into(),
                api_secret: "s".to_string().into(),
                webhook_header: shared(),
            })
            .ok()?,
        ),
        Box::new(
            credas::Credas::new(credas::CredasSettings {
                base_url: BASE.into(),
                api_key: "k".to_string().into(),
                webhook_header: shared(),
            })
            .ok()?,
        ),
        Box::new(
            frankieone::FrankieOne::new(frankieone::FrankieOneSettings {
                base_url: BASE.into(),
                api_key: "k".to_string().into(),
                customer_id: "12345678-1234-1234-1234-123456789012".into(),
                customer_child_id: None,
                analyst: "fuzz".into(),
                webhook_header: shared(),
            })
            .ok()?,
        ),
    ]))
});

fuzz_target!(|body: &[u8]| {
    let Some(All(providers)) = PROVIDERS.as_ref() else { return };
    let mut headers = HeaderMap::new();
    let sign = |h: &mut HeaderMap, name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    sign(&mut headers, "x-fuzz-token", SECRET.into());
    sign(
        &mut headers,
        "complycube-signature",
        kycdesk::providers::complycube::webhook_signature(SECRET.as_bytes(), body),
    );
    if let Some(d) = kycdesk::providers::sumsub::payload_digest(SECRET.as_bytes(), "HMAC_SHA256_HEX", body) {
        sign(&mut headers, "x-payload-digest", d);
    }
    for p in providers {
        if let Ok(event) = p.webhook(&headers, body) {
            for case in &event.cases {
                assert!(case.is_valid(), "{} named an invalid case id {:?}", p.id(), case.key);
            }
        }
    }
});
