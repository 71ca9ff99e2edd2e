//! Frame budgets from DESIGN.md: a frame with 100,000 queued cases at 240x70 under 2 ms;
//! the next (prefetched) case on screen within one frame.

// Benchmark harness code, not shipped: a failed setup may stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kycdesk::app::{Action, State, update};
use kycdesk::domain::{
    Applicant, Case, CaseRef, DecisionTarget, Field, Lane, ProviderId, QueueEntry, QueueStatus, RuleOutcome,
    RuleResult, SafeText, TargetId, Verdict,
};
use kycdesk::store::OutboxCounts;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::HashMap;
use std::hint::black_box;

fn entries(n: usize) -> Vec<QueueEntry> {
    let base = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
    (0..n)
        .map(|i| QueueEntry {
            case_ref: CaseRef::new(ProviderId::ComplyCube, format!("{i:024x}")),
            applicant: SafeText::new(&format!("Applicant Number {i}")),
            check_type: SafeText::new("identity"),
            why_referred: SafeText::new("liveness check, facial similarity"),
            received_at: base + chrono::Duration::seconds(i as i64),
            status: QueueStatus::Pending,
            lane: Lane::New,
            note: None,
        })
        .collect()
}

fn case(r: &CaseRef) -> Case {
    Case {
        case_ref: r.clone(),
        check_type: SafeText::new("identity"),
        status: SafeText::new("complete / attention"),
        why_referred: SafeText::new("liveness check"),
        created_at: None,
        applicant: Applicant {
            name: SafeText::new("Applicant"),
            date_of_birth: kycdesk::domain::DateValue::parse("1980-01-01"),
            nationality: Some(SafeText::new("GB")),
            fields: (0..8).map(|i| Field::new(&format!("Field {i}"), "value")).collect(),
        },
        documents: vec![],
        selfie: None,
        rules: (0..12)
            .map(|i| RuleResult {
                name: SafeText::new(&format!("Rule {i}")),
                outcome: if i == 0 { RuleOutcome::Failed } else { RuleOutcome::Passed },
                description: SafeText::new("description"),
                details: vec![],
            })
            .collect(),
        face_match: None,
        screening: vec![],
        targets: vec![DecisionTarget {
            id: TargetId::Case,
            label: SafeText::new("Whole check"),
            verdicts: vec![Verdict::Verify],
            reject_reasons: vec![],
            resubmit_steps: vec![],
            sends: vec![],
        }],
    }
}

fn state(n: usize) -> State {
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).single().unwrap_or_default();
    let mut s = State::new(kycdesk::app::Settings::default(), HashMap::new(), now);
    update(&mut s, kycdesk::ui::resize(240, 70));
    update(&mut s, Action::QueueLoaded(Ok((entries(n), OutboxCounts::default()))));
    s.selected = n / 2;
    s
}

fn key(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn benches(c: &mut Criterion) {
    let mut terminal = match Terminal::new(TestBackend::new(240, 70)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    let queue = state(100_000);
    c.bench_function("frame: queue of 100,000 at 240x70", |b| {
        b.iter(|| terminal.draw(|f| kycdesk::ui::draw(f, black_box(&queue))).map(|_| ()))
    });

    // Next case already prefetched: the keypress and the frame that shows it.
    let mut s = state(100_000);
    let refs: Vec<CaseRef> = s.queue.iter().map(|e| e.case_ref.clone()).collect();
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    c.bench_function("next prefetched case: update + frame", |b| {
        b.iter(|| {
            for r in &refs[s.selected.saturating_sub(1)..(s.selected + 3).min(refs.len())] {
                update(&mut s, Action::CaseLoaded(r.clone(), Ok(Box::new(case(r)))));
            }
            update(&mut s, key('n'));
            let _ = terminal.draw(|f| kycdesk::ui::draw(f, &s));
            if s.selected + 4 >= refs.len() {
                s.selected = refs.len() / 2;
            }
        })
    });
}

criterion_group!(render, benches);
criterion_main!(render);
