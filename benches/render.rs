//! Frame budgets from DESIGN.md: a frame with 1,000,000 queued cases under 2 ms; the
//! next (prefetched) case on screen within one frame; `update` for navigation, a filter
//! keystroke, mark-all and opening a bulk decision over 1,000,000 cases within 16 ms.
//! `cargo bench --bench render` (a name filter after `--` picks some).

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
use std::time::{Duration, Instant};

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

fn press(s: &mut State, code: KeyCode) {
    update(s, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

/// Times `step` alone, `reset` (untimed) putting the state back before each run.
fn timed(s: &mut State, iters: u64, reset: impl Fn(&mut State), step: impl Fn(&mut State)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        reset(s);
        let start = Instant::now();
        step(s);
        total += start.elapsed();
    }
    total
}

fn frames(c: &mut Criterion) {
    for n in [1_000, 100_000, 1_000_000] {
        let mut sized = state(n);
        for (w, h) in [(240, 70), (80, 24)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
            update(&mut sized, kycdesk::ui::resize(w, h));
            c.bench_function(&format!("frame: queue of {n} at {w}x{h}"), |b| {
                b.iter(|| terminal.draw(|f| kycdesk::ui::draw(f, black_box(&sized))).map(|_| ()))
            });
        }
    }
}

fn next_case(c: &mut Criterion) {
    let mut terminal = Terminal::new(TestBackend::new(240, 70)).expect("test backend");
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

fn updates(c: &mut Criterion) {
    let mut s = state(1_000_000);
    let mut group = c.benchmark_group("update over 1,000,000");
    group.sample_size(10);
    group.bench_function("navigation: j", |b| {
        b.iter(|| {
            update(&mut s, key('j'));
            if s.selected + 2 >= s.view.rows.len() {
                s.selected = 0;
            }
        })
    });
    let cleared = |s: &mut State| {
        while !s.modals.is_empty() {
            press(s, KeyCode::Esc);
        }
        if s.view.is_filtered() {
            press(s, KeyCode::Esc);
        }
        s.marks.clear();
    };
    // The filter prompt open with `text` typed.
    let typed = |s: &mut State, text: &str| {
        cleared(s);
        press(s, KeyCode::Char('/'));
        for ch in text.chars() {
            update_char(s, ch);
        }
    };
    group.bench_function("filter: first keystroke", |b| {
        b.iter_custom(|iters| timed(&mut s, iters, |s| typed(s, ""), |s| update_char(s, '7')))
    });
    group.bench_function("filter: a further keystroke", |b| {
        b.iter_custom(|iters| timed(&mut s, iters, |s| typed(s, "number 7"), |s| update_char(s, '7')))
    });
    group.bench_function("filter: a keystroke taken back", |b| {
        b.iter_custom(|iters| timed(&mut s, iters, |s| typed(s, "number 77"), |s| press(s, KeyCode::Backspace)))
    });
    group.bench_function("mark all shown: *", |b| {
        b.iter_custom(|iters| timed(&mut s, iters, cleared, |s| update_char(s, '*')))
    });
    group.bench_function("bulk decision over 1,000 marked: d", |b| {
        b.iter_custom(|iters| {
            timed(
                &mut s,
                iters,
                |s| {
                    typed(s, "number 1234");
                    press(s, KeyCode::Enter);
                    update_char(s, '*');
                },
                |s| update_char(s, 'd'),
            )
        })
    });
    group.finish();
}

fn update_char(s: &mut State, ch: char) {
    update(s, key(ch));
}

fn benches(c: &mut Criterion) {
    frames(c);
    next_case(c);
    updates(c);
}

criterion_group!(render, benches);
criterion_main!(render);
