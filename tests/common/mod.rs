#![allow(dead_code)]

pub mod cli;
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
        base_url: format!("{}/complycube/v1", emu.base_url()),
        api_key: key.to_string().into(),
        mode,
        backoff_initial: Duration::from_millis(100),
        webhook_secret: Some(emulator::complycube::WEBHOOK_SECRET.to_string().into()),
    })?)
}
