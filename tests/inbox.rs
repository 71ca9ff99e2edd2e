//! The webhook inbox over loopback HTTP, with the adapters and emulator behind it.

mod common;

use common::{complycube, start_emulator};
use kycdesk::domain::QueueStatus;
use kycdesk::emulator::complycube::{Mode, WEBHOOK_SECRET};
use kycdesk::emulator::{self, EmulatorOptions};
use kycdesk::intake::inbox;
use kycdesk::providers::complycube::{KeyMode, webhook_signature};
use kycdesk::providers::{Provider, Providers};
use kycdesk::store::{SqliteStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

type R = Result<(), Box<dyn std::error::Error>>;

struct Setup {
    emu: emulator::RunningEmulator,
    store: Arc<dyn Store>,
    inbox: String,
    _dir: tempfile::TempDir,
}

async fn setup() -> Result<Setup, Box<dyn std::error::Error>> {
    setup_with(inbox::InboxLimits::default()).await
}

async fn setup_with(limits: inbox::InboxLimits) -> Result<Setup, Box<dyn std::error::Error>> {
    let emu = start_emulator(6).await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.sqlite3"))?);
    let mut providers = Providers::default();
    providers.insert(Arc::new(complycube(&emu, KeyMode::Test)?));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = inbox::spawn_with(listener, Arc::clone(&store), providers, limits)?;
    Ok(Setup { emu, store, inbox: format!("http://{addr}"), _dir: dir })
}

fn event(id: &str, check_id: &str) -> Vec<u8> {
    json!({"id": id, "type": "check.completed.attention", "resourceType": "check", "payload": {"id": check_id},
        "createdAt": "2026-11-20T09:00:00.000Z"})
    .to_string()
    .into_bytes()
}

async fn post(
    url: &str,
    provider: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut r = reqwest::Client::new().post(format!("{url}/webhooks/{provider}")).body(body);
    if let Some(sig) = signature {
        r = r.header("ComplyCube-Signature", sig);
    }
    let response = r.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn first_referred(s: &Setup) -> Result<String, Box<dyn std::error::Error>> {
    let cc = complycube(&s.emu, KeyMode::Test)?;
    Ok(cc.pending(None).await?.referred.remove(0).case_ref.key)
}

#[tokio::test]
async fn signed_webhooks_queue_the_case_once() -> R {
    let s = setup().await?;
    let check = first_referred(&s).await?;
    let body = event("evt_a", &check);
    let sig = webhook_signature(WEBHOOK_SECRET.as_bytes(), &body);
    let (status, answer) = post(&s.inbox, "complycube", body.clone(), Some(sig.clone())).await?;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["new_cases"], 1);
    let queue = s.store.open_queue()?;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].case_ref.key, check);
    assert_eq!(queue[0].status, QueueStatus::Pending);
    // The provider retries the same delivery: nothing changes.
    let (status, answer) = post(&s.inbox, "complycube", body, Some(sig)).await?;
    assert_eq!((status, answer["duplicate"].as_bool()), (200, Some(true)));
    assert_eq!(s.store.open_queue()?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn bad_signatures_are_401_and_change_nothing() -> R {
    let s = setup().await?;
    let check = first_referred(&s).await?;
    let body = event("evt_b", &check);
    let wrong = webhook_signature(b"not-the-secret", &body);
    assert_eq!(post(&s.inbox, "complycube", body.clone(), Some(wrong)).await?.0, 401);
    assert_eq!(post(&s.inbox, "complycube", body.clone(), None).await?.0, 401);
    assert_eq!(post(&s.inbox, "complycube", body.clone(), Some("zz-not-hex".into())).await?.0, 401);
    // A signature over other bytes (re-serialised JSON) does not pass either.
    let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(&body)?)?;
    let tampered = [&body[..], b" "].concat();
    assert_eq!(
        post(&s.inbox, "complycube", tampered, Some(webhook_signature(WEBHOOK_SECRET.as_bytes(), &reserialised)))
            .await?
            .0,
        401
    );
    assert!(s.store.open_queue()?.is_empty());
    Ok(())
}

#[tokio::test]
async fn malformed_oversized_and_unknown_are_refused_and_the_inbox_goes_on() -> R {
    let s = setup().await?;
    let garbage = b"{not json".to_vec();
    let sig = webhook_signature(WEBHOOK_SECRET.as_bytes(), &garbage);
    assert_eq!(post(&s.inbox, "complycube", garbage, Some(sig)).await?.0, 400);
    let bad_id =
        json!({"id": "evt_c", "type": "check.completed", "payload": {"id": "../../etc"}}).to_string().into_bytes();
    let sig = webhook_signature(WEBHOOK_SECRET.as_bytes(), &bad_id);
    assert_eq!(post(&s.inbox, "complycube", bad_id, Some(sig)).await?.0, 400);
    let huge = vec![b' '; inbox::MAX_BODY_BYTES + 1];
    let sig = webhook_signature(WEBHOOK_SECRET.as_bytes(), &huge);
    assert_eq!(post(&s.inbox, "complycube", huge, Some(sig)).await?.0, 413);
    assert_eq!(post(&s.inbox, "acme", b"{}".to_vec(), None).await?.0, 404);
    assert_eq!(post(&s.inbox, "sumsub", b"{}".to_vec(), None).await?.0, 404, "not configured");
    // Still serving.
    let check = first_referred(&s).await?;
    let body = event("evt_d", &check);
    let sig = webhook_signature(WEBHOOK_SECRET.as_bytes(), &body);
    assert_eq!(post(&s.inbox, "complycube", body, Some(sig)).await?.0, 200);
    Ok(())
}

#[tokio::test]
async fn a_provider_outage_is_503_so_the_provider_retries() -> R {
    let s = setup().await?;
    let check = first_referred(&s).await?;
    reqwest::Client::new()
        .post(format!("{}/_emulator/faults", s.emu.base_url()))
        .json(&json!({"provider": "complycube", "status": 500, "count": 1}))
        .send()
        .await?;
    let body = event("evt_e", &check);
    let sig = webhook_signature(WEBHOOK_SECRET.as_bytes(), &body);
    assert_eq!(post(&s.inbox, "complycube", body.clone(), Some(sig.clone())).await?.0, 503);
    assert!(s.store.open_queue()?.is_empty());
    // The retry is not taken for a duplicate.
    assert_eq!(post(&s.inbox, "complycube", body, Some(sig)).await?.0, 200);
    assert_eq!(s.store.open_queue()?.len(), 1);
    Ok(())
}

/// The emulator pushes signed webhooks for its seeded cases, retrying until an inbox
/// that starts later takes them.
#[tokio::test]
async fn emulator_pushes_to_an_inbox_that_starts_later() -> R {
    let inbox_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let inbox_addr = inbox_listener.local_addr()?;
    drop(inbox_listener); // nothing listens yet: the first pushes fail
    let emu_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let emu = emulator::spawn(
        emu_listener,
        EmulatorOptions {
            seed: 3,
            cases: 5,
            push_webhooks_to: Some(format!("http://{inbox_addr}")),
            webhook_world: Mode::Test,
            ..EmulatorOptions::default()
        },
    )?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.sqlite3"))?);
    let mut providers = Providers::default();
    providers.insert(Arc::new(complycube(&emu, KeyMode::Test)?));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listener = tokio::net::TcpListener::bind(inbox_addr).await?;
    inbox::spawn(listener, Arc::clone(&store), providers)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.open_queue()?.len() < 5 {
        if Instant::now() > deadline {
            return Err(format!("only {} cases arrived", store.open_queue()?.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Slow clients (a byte at a time, headers or body) are cut off after the header and
/// body timeouts and never hold every connection slot for long: a real webhook sent
/// while they hold them all is still answered.
#[tokio::test]
async fn slow_clients_are_timed_out_and_a_real_webhook_still_gets_in() -> R {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = inbox::InboxLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        max_connections: 8,
    };
    let s = setup_with(limits).await?;
    let addr = s.inbox.trim_start_matches("http://").to_string();

    // Every slot taken: half trickle their headers, half their body, one byte per 100 ms.
    let mut slow = vec![];
    for i in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await?;
        let head = if i % 2 == 0 {
            "POST /webhooks/complycube HTTP/1.1\r\n".to_string()
        } else {
            "POST /webhooks/complycube HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n".to_string()
        };
        stream.write_all(head.as_bytes()).await?;
        slow.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut answer = vec![];
            loop {
                tokio::select! {
                    read = stream.read_to_end(&mut answer) => { let _ = read; break; }
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        if stream.write_all(b"x").await.is_err() { break; }
                    }
                }
                if started.elapsed() > Duration::from_secs(20) {
                    break;
                }
            }
            (started.elapsed(), String::from_utf8_lossy(&answer).into_owned())
        }));
    }

    let check = first_referred(&s).await?;
    let body = event("evt_slow", &check);
    let sig = webhook_signature(WEBHOOK_SECRET.as_bytes(), &body);
    let started = Instant::now();
    assert_eq!(post(&s.inbox, "complycube", body, Some(sig)).await?.0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "answered once the slow ones were cut: {:?}",
        started.elapsed()
    );

    for (i, client) in slow.into_iter().enumerate() {
        let (took, answer) = client.await?;
        assert!(took < Duration::from_secs(5), "slow client {i} cut off after {took:?}");
        if i % 2 == 1 {
            assert!(answer.starts_with("HTTP/1.1 408"), "a slow body is told so: {answer:?}");
        }
    }
    Ok(())
}
