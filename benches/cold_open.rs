//! A case opened cold, as the console opens it: the case's details from its provider,
//! then every image of it, all at once. Against the emulator acting out a network
//! latency on every request (default 150 ms; `KYCDESK_BENCH_LATENCY_MS`). Prints, per
//! provider, the median and worst time to the details and to the last image, and what
//! that is in round trips. Run with `cargo bench --bench cold_open`.

// Benchmark harness code, not shipped: a failed setup may stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kycdesk::config::{self, Config};
use kycdesk::domain::{CaseRef, ProviderId};
use kycdesk::emulator::{self, EmulatorOptions};
use kycdesk::intake::{inbox, poller};
use kycdesk::store::{SqliteStore, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CASES: usize = 8;
const SEED: u64 = 7;

async fn listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

fn providers_for(base: &str) -> kycdesk::providers::Providers {
    let config = Config::from_file(config::emulator_config(base, true), None, true).unwrap();
    config.providers_with_webhooks().unwrap()
}

/// Every seeded case's reference, as intake finds them (the poll and the webhooks),
/// from an emulator without latency.
async fn case_refs() -> Vec<CaseRef> {
    let inbox_listener = listener().await;
    let inbox_url = format!("http://{}", inbox_listener.local_addr().unwrap());
    let options = EmulatorOptions {
        seed: SEED,
        cases: CASES,
        push_webhooks_to: Some(inbox_url),
        webhook_world: emulator::complycube::Mode::Live,
        ..EmulatorOptions::default()
    };
    let fast = emulator::spawn(listener().await, options).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let providers = providers_for(&fast.base_url());
    inbox::spawn(inbox_listener, Arc::clone(&store), providers.clone()).unwrap();
    poller::poll_once(&store, &providers).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let queue = store.open_queue().unwrap();
        if queue.len() >= CASES * ProviderId::ALL.len() || Instant::now() > deadline {
            let refs: Vec<CaseRef> = queue.into_iter().map(|e| e.case_ref).collect();
            // The emulator draws an image the first time it is asked for (a real provider
            // has it stored): drawn here, so the timed run measures the link, not drawing.
            for case_ref in &refs {
                let provider = providers.require(case_ref.provider).unwrap();
                let case = provider.case(case_ref).await.unwrap();
                for media in case.media() {
                    provider.media(&media).await.unwrap();
                }
            }
            return refs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn main() {
    let latency_ms: u64 = std::env::var("KYCDESK_BENCH_LATENCY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let refs = case_refs().await;
        let options = EmulatorOptions {
            seed: SEED,
            cases: CASES,
            latency: Duration::from_millis(latency_ms),
            ..EmulatorOptions::default()
        };
        let slow = emulator::spawn(listener().await, options).unwrap();
        let providers = providers_for(&slow.base_url());
        println!("cold case open at {latency_ms} ms latency, {CASES} cases per provider (median / worst)");
        println!("{:<11} {:>17} {:>27} {:>12}", "provider", "details", "details + every image", "round trips");
        for id in ProviderId::ALL {
            let provider = providers.require(id).unwrap();
            let (mut details, mut whole) = (vec![], vec![]);
            for case_ref in refs.iter().filter(|r| r.provider == id) {
                // One at a time, a window apart: each open is cold, with the rate limit's
                // window empty (the previous case's calls would otherwise share it).
                tokio::time::sleep(Duration::from_secs(1) + kycdesk::providers::rate::WINDOW_MARGIN).await;
                let started = Instant::now();
                let case = provider.case(case_ref).await.unwrap();
                details.push(started.elapsed());
                let images = case.media();
                let fetched = futures::future::join_all(images.iter().map(|m| provider.media(m))).await;
                assert!(fetched.iter().all(Result::is_ok), "{id}: an image failed");
                whole.push(started.elapsed());
            }
            details.sort();
            whole.sort();
            let ms = |d: Duration| d.as_millis();
            let trips = percentile(&whole, 0.5).as_secs_f64() / (latency_ms.max(1) as f64 / 1000.0);
            println!(
                "{:<11} {:>7} / {:>4} ms {:>17} / {:>4} ms {:>12.1}",
                id.display_name(),
                ms(percentile(&details, 0.5)),
                ms(percentile(&details, 1.0)),
                ms(percentile(&whole, 0.5)),
                ms(percentile(&whole, 1.0)),
                trips
            );
        }
    });
}
