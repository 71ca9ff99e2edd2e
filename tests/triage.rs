//! Triage in `update`, driven directly (no HTTP, no terminal): filter, marks and ranges,
//! grouping, bulk decisions and their targets, templates, undo, lanes, auto-advance.

use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kycdesk::app::{Action, DialogStep, Effect, Modal, Screen, Settings, State, Template, update};
use kycdesk::domain::{
    Applicant, Capabilities, Case, CaseRef, Decision, DecisionTarget, Lane, ProviderId, QueueEntry, QueueStatus,
    ReasonCode, SafeText, TargetId, Verdict,
};
use std::collections::HashMap;

type R = Result<(), Box<dyn std::error::Error>>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().unwrap_or_default()
}

fn entry(provider: ProviderId, key: &str, check: &str, why: &str, minute: i64) -> QueueEntry {
    QueueEntry {
        case_ref: CaseRef::new(provider, key),
        applicant: SafeText::new(&format!("Applicant {key}")),
        check_type: SafeText::new(check),
        why_referred: SafeText::new(why),
        received_at: t0() - Duration::minutes(100 - minute),
        status: QueueStatus::Pending,
        lane: Lane::New,
        note: None,
    }
}

fn queue() -> Vec<QueueEntry> {
    vec![
        entry(ProviderId::ComplyCube, "cc1", "identity_check", "liveness check", 1),
        entry(ProviderId::Sumsub, "ss1", "identity", "FORGERY", 2),
        entry(ProviderId::ComplyCube, "cc2", "identity_check", "facial similarity", 3),
        entry(ProviderId::ComplyCube, "scr1", "standard_screening_check", "2 screening matches", 4),
        entry(ProviderId::ComplyCube, "cc3", "identity_check", "liveness check", 5),
        entry(ProviderId::IdWise, "iw1", "journey", "FACE_TOO_CLOSE", 6),
    ]
}

fn target(id: TargetId, verdicts: &[Verdict]) -> DecisionTarget {
    DecisionTarget {
        id,
        label: SafeText::new("target"),
        verdicts: verdicts.to_vec(),
        reject_reasons: vec![],
        resubmit_steps: vec![],
        sends: vec![(Verdict::Verify, SafeText::new("validate confirmed"))],
    }
}

fn case_of(e: &QueueEntry) -> Case {
    let mut targets = vec![target(TargetId::Case, &[Verdict::Verify, Verdict::Reject, Verdict::Refer])];
    if e.case_ref.provider == ProviderId::Sumsub {
        targets[0].reject_reasons = vec![ReasonCode { code: "fraud:documentForgery", label: "Forgery" }];
    }
    if e.check_type.as_str().contains("screening") {
        targets = vec![
            target(TargetId::Case, &[Verdict::Verify, Verdict::Reject]),
            target(TargetId::Hit("m1".into()), &[Verdict::TrueMatch, Verdict::FalsePositive]),
            target(TargetId::Hit("m2".into()), &[Verdict::TrueMatch, Verdict::FalsePositive]),
        ];
    }
    Case {
        case_ref: e.case_ref.clone(),
        check_type: e.check_type.clone(),
        status: SafeText::new("complete"),
        why_referred: e.why_referred.clone(),
        created_at: Some(e.received_at),
        applicant: Applicant { name: e.applicant.clone(), ..Applicant::default() },
        documents: vec![],
        selfie: None,
        rules: vec![],
        face_match: None,
        screening: vec![],
        targets,
    }
}

fn caps(native: &[Verdict], codes_required: &[Verdict]) -> Capabilities {
    Capabilities {
        native_verdicts: native.to_vec(),
        reject_reasons: vec![],
        max_reason_chars: 4000,
        idempotency_keys: false,
        lists_pending: true,
        reason_kept_locally: vec![],
        codes_required: codes_required.to_vec(),
    }
}

fn state() -> State {
    let all = [Verdict::Verify, Verdict::Reject, Verdict::Refer, Verdict::TrueMatch, Verdict::FalsePositive];
    let capabilities = HashMap::from([
        (ProviderId::ComplyCube, caps(&all, &[])),
        (ProviderId::Sumsub, caps(&[Verdict::Verify, Verdict::Reject], &[Verdict::Reject])),
        (ProviderId::IdWise, caps(&[Verdict::Verify, Verdict::Reject], &[])),
    ]);
    let settings = Settings {
        analyst: "ana".into(),
        templates: vec![Template {
            key: 'g',
            verdict: Some(Verdict::Verify),
            text: "Glare; selfie matches.".into(),
            codes: vec![],
        }],
        ..Settings::default()
    };
    let mut s = State::new(settings, capabilities, t0());
    update(&mut s, kycdesk::ui::resize(160, 48));
    update(&mut s, Action::QueueLoaded(Ok((queue(), Default::default()))));
    s
}

fn press(s: &mut State, code: KeyCode) -> Vec<Effect> {
    update(s, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn typed(s: &mut State, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| press(s, KeyCode::Char(c))).collect()
}

/// Performs the effects a job would, from the synthetic cases; returns the saves.
fn settle(s: &mut State, mut effects: Vec<Effect>) -> Vec<Effect> {
    let mut saves = vec![];
    while let Some(effect) = effects.pop() {
        match effect {
            Effect::FetchCase(r) | Effect::Prefetch(r) => {
                let case = s.queue.iter().find(|e| e.case_ref == r).map(case_of).ok_or("unknown".to_string());
                effects.extend(update(s, Action::CaseLoaded(r, case.map(Box::new))));
            }
            e @ Effect::SaveDecisions { .. } => saves.push(e),
            _ => {}
        }
    }
    saves
}

fn shown(s: &State) -> Vec<String> {
    s.view.rows.iter().map(|&i| s.queue[i].case_ref.key.clone()).collect()
}

fn drafts(saves: &[Effect]) -> Vec<(String, TargetId, Verdict, String, bool)> {
    saves
        .iter()
        .flat_map(|e| match e {
            Effect::SaveDecisions { drafts, .. } => drafts
                .iter()
                .map(|d| (d.case_ref.key.clone(), d.target.clone(), d.verdict, d.reason.clone(), d.closes_case))
                .collect(),
            _ => vec![],
        })
        .collect()
}

/// What the save job reports back.
fn saved(s: &mut State, saves: &[Effect], send_after: DateTime<Utc>) -> Vec<Effect> {
    let decisions = saves
        .iter()
        .flat_map(|e| match e {
            Effect::SaveDecisions { drafts, .. } => drafts.clone(),
            _ => vec![],
        })
        .enumerate()
        .map(|(i, d)| Decision {
            id: format!("d{i}"),
            case_ref: d.case_ref,
            target: d.target,
            verdict: d.verdict,
            reason: d.reason,
            reason_codes: d.reason_codes,
            analyst: "ana".into(),
            created_at: t0(),
        })
        .collect();
    update(s, Action::DecisionsSaved { decisions, send_after })
}

#[test]
fn filter_as_you_type_then_mark_all_and_bulk_verify_with_a_template() -> R {
    let mut s = state();
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "cube iden");
    assert_eq!(shown(&s), ["cc1", "cc2", "cc3"], "filtered while typing");
    press(&mut s, KeyCode::Enter);
    assert!(s.modals.is_empty());
    press(&mut s, KeyCode::Char('*'));
    assert_eq!(s.marks.len(), 3);
    let effects = press(&mut s, KeyCode::Char('d'));
    assert_eq!(effects.iter().filter(|e| matches!(e, Effect::FetchCase(_))).count(), 3, "details of every marked case");
    // Keys typed while the cases load are kept for the dialog.
    press(&mut s, KeyCode::Char('v'));
    let saves = settle(&mut s, effects);
    assert!(saves.is_empty());
    assert_eq!(s.dialog().map(|d| d.step), Some(DialogStep::Reason), "the typed-ahead v chose Verify");
    press(&mut s, KeyCode::Tab);
    press(&mut s, KeyCode::Char('g'));
    assert_eq!(s.dialog().map(|d| d.reason_text()), Some("Glare; selfie matches.".to_string()));
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.dialog().map(|d| d.step), Some(DialogStep::Confirm));
    let saves = press(&mut s, KeyCode::Char('y'));
    let d = drafts(&saves);
    assert_eq!(d.len(), 3, "one save effect with every case: {saves:?}");
    assert!(
        d.iter().all(|(_, t, v, r, _)| *t == TargetId::Case && *v == Verdict::Verify && r == "Glare; selfie matches.")
    );
    assert_eq!(saves.len(), 1, "all in one save (one transaction)");
    saved(&mut s, &saves, t0() + Duration::seconds(5));
    assert!(s.marks.is_empty());
    assert!(matches!(s.modals.last(), Some(Modal::Results(r)) if r.rows.len() == 3));
    let awaiting: Vec<String> =
        s.queue.iter().filter(|e| e.lane == Lane::Awaiting).map(|e| e.case_ref.key.clone()).collect();
    assert_eq!(awaiting.len(), 3);
    Ok(())
}

#[test]
fn space_marks_and_moves_v_marks_a_range_esc_clears_marks_then_filter() {
    let mut s = state();
    press(&mut s, KeyCode::Char(' '));
    assert_eq!(s.selected, 1);
    press(&mut s, KeyCode::Char('j'));
    press(&mut s, KeyCode::Char('j'));
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char('V'), KeyModifiers::SHIFT)));
    let mut marked: Vec<String> = s.marks.iter().map(|m| m.key.clone()).collect();
    marked.sort();
    assert_eq!(marked, ["cc1", "cc2", "scr1", "ss1"]);
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "cube");
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Esc);
    assert!(s.marks.is_empty(), "Esc clears the marks first");
    assert!(s.view.is_filtered());
    press(&mut s, KeyCode::Esc);
    assert!(!s.view.is_filtered(), "then the filter");
    assert_eq!(s.view.rows.len(), 6);
}

#[test]
fn group_why_puts_like_with_like_and_counts() {
    let mut s = state();
    press(&mut s, KeyCode::Char(':'));
    typed(&mut s, "group why");
    press(&mut s, KeyCode::Enter);
    let groups: Vec<(String, usize)> = s.view.groups.iter().map(|g| (g.label.clone(), g.len)).collect();
    assert!(groups.contains(&("liveness check".into(), 2)), "{groups:?}");
    let pos = s.view.groups.iter().find(|g| g.label == "liveness check").map(|g| g.start).unwrap_or(99);
    assert_eq!(shown(&s)[pos..pos + 2], ["cc1", "cc3"]);
    press(&mut s, KeyCode::Char(':'));
    typed(&mut s, "nonsense");
    press(&mut s, KeyCode::Enter);
    assert!(s.notice.as_ref().is_some_and(|n| n.text.contains("unknown command ':nonsense'")));
}

#[test]
fn bulk_over_different_cases_offers_only_common_verdicts_and_requires_codes_at_their_step() -> R {
    let mut s = state();
    for _ in 0..2 {
        press(&mut s, KeyCode::Char(' '));
    }
    let effects = press(&mut s, KeyCode::Char('d'));
    settle(&mut s, effects);
    let dialog = s.dialog().ok_or("dialog")?;
    assert_eq!(dialog.cases.len(), 2);
    // Sumsub rejects only with a reason group, and the ComplyCube case shares none.
    assert_eq!(dialog.targets[0].verdicts, [Verdict::Verify, Verdict::Refer]);
    assert!(dialog.targets[0].reject_reasons.is_empty(), "no reason code in common");
    press(&mut s, KeyCode::Esc);
    // A Sumsub reject alone: the reason group step refuses to go on without one.
    let mut s = state();
    press(&mut s, KeyCode::Char('j'));
    let effects = press(&mut s, KeyCode::Char('d'));
    settle(&mut s, effects);
    press(&mut s, KeyCode::Char('x'));
    assert_eq!(s.dialog().map(|d| d.step), Some(DialogStep::ReasonCodes));
    press(&mut s, KeyCode::Enter);
    let d = s.dialog().ok_or("dialog")?;
    assert_eq!(d.step, DialogStep::ReasonCodes);
    assert!(d.error.as_deref().is_some_and(|e| e.contains("Sumsub needs at least one reason")));
    press(&mut s, KeyCode::Char(' '));
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.dialog().map(|d| d.step), Some(DialogStep::Reason));
    Ok(())
}

#[test]
fn undo_inside_the_grace_period_withdraws_and_the_case_returns() {
    let mut s = state();
    let effects = press(&mut s, KeyCode::Enter);
    settle(&mut s, effects);
    let effects = press(&mut s, KeyCode::Char('d'));
    settle(&mut s, effects);
    press(&mut s, KeyCode::Char('v'));
    typed(&mut s, "Looks right.");
    press(&mut s, KeyCode::Enter);
    let saves = press(&mut s, KeyCode::Char('y'));
    let after = saved(&mut s, &saves, t0() + Duration::seconds(5));
    // The next case opens at once.
    assert_eq!(s.screen, Screen::Case);
    assert_eq!(s.selected_entry().map(|e| e.case_ref.key.clone()), Some("ss1".to_string()));
    assert!(after.iter().any(|e| matches!(e, Effect::FetchCase(_)) || matches!(e, Effect::LoadQueue)));
    assert_eq!(s.undo_left(), Some(5));
    update(&mut s, Action::Tick(t0() + Duration::seconds(2)));
    assert_eq!(s.undo_left(), Some(3));
    let effects = press(&mut s, KeyCode::Char('u'));
    assert_eq!(effects, [Effect::Withdraw(vec!["d0".into()])]);
    update(
        &mut s,
        Action::Withdrawn {
            decision_ids: vec!["d0".into()],
            result: Ok(vec![CaseRef::new(ProviderId::ComplyCube, "cc1")]),
        },
    );
    assert_eq!(s.selected_entry().map(|e| e.case_ref.key.clone()), Some("cc1".to_string()));
    assert!(s.queue.iter().all(|e| e.lane == Lane::New));
    // Nothing left to undo; past the window u says so.
    assert!(press(&mut s, KeyCode::Char('u')).is_empty());
}

#[test]
fn a_hit_decision_keeps_a_screening_check_open_until_the_last_hit() -> R {
    let mut s = state();
    let pos = shown(&s).iter().position(|k| k == "scr1").ok_or("scr1")?;
    s.selected = pos;
    let effects = press(&mut s, KeyCode::Enter);
    settle(&mut s, effects);
    let effects = press(&mut s, KeyCode::Char('d'));
    settle(&mut s, effects);
    press(&mut s, KeyCode::Char('j'));
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Char('t'));
    typed(&mut s, "Same person.");
    press(&mut s, KeyCode::Enter);
    let saves = press(&mut s, KeyCode::Char('y'));
    assert_eq!(
        drafts(&saves),
        [("scr1".into(), TargetId::Hit("m1".into()), Verdict::TrueMatch, "Same person.".into(), false)]
    );
    saved(&mut s, &saves, t0());
    assert!(s.queue.iter().any(|e| e.case_ref.key == "scr1" && e.lane == Lane::New), "the check stays in the queue");
    assert!(s.notice.as_ref().is_some_and(|n| n.text.contains("still undecided")));
    // The last hit closes it.
    let effects = press(&mut s, KeyCode::Char('d'));
    settle(&mut s, effects);
    let labels: Vec<TargetId> =
        s.dialog().map(|d| d.targets.iter().map(|t| t.id.clone()).collect()).unwrap_or_default();
    assert_eq!(labels, [TargetId::Case, TargetId::Hit("m2".into())]);
    press(&mut s, KeyCode::Char('j'));
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Char('o'));
    typed(&mut s, "Namesake.");
    press(&mut s, KeyCode::Enter);
    let saves = press(&mut s, KeyCode::Char('y'));
    assert!(drafts(&saves)[0].4, "the last open hit closes the case");
    Ok(())
}

#[test]
fn d_while_the_case_loads_waits_and_read_only_refuses() {
    let mut s = state();
    let effects = press(&mut s, KeyCode::Enter);
    // d before the case has arrived: the dialog waits; v typed meanwhile is not a command.
    press(&mut s, KeyCode::Char('d'));
    assert_eq!(s.dialog().map(|d| d.step), Some(DialogStep::Loading));
    press(&mut s, KeyCode::Char('v'));
    assert_eq!(s.screen, Screen::Case);
    settle(&mut s, effects);
    assert_eq!(s.dialog().and_then(|d| d.verdict()), Some(Verdict::Verify));
    assert_eq!(s.dialog().map(|d| d.step), Some(DialogStep::Reason));
    let mut s = state();
    press(&mut s, KeyCode::Char(':'));
    typed(&mut s, "readonly");
    press(&mut s, KeyCode::Enter);
    assert!(press(&mut s, KeyCode::Char('d')).is_empty());
    assert!(s.dialog().is_none());
}

#[test]
fn a_pasted_reason_arrives_at_once() {
    let mut s = state();
    let effects = press(&mut s, KeyCode::Enter);
    settle(&mut s, effects);
    let effects = press(&mut s, KeyCode::Char('d'));
    settle(&mut s, effects);
    press(&mut s, KeyCode::Char('v'));
    let long = "x".repeat(5000);
    update(&mut s, Action::Paste(format!("{long}\u{1b}[2J")));
    assert_eq!(s.dialog().map(|d| d.reason_chars()), Some(5003), "control characters dropped");
    press(&mut s, KeyCode::Enter);
    assert!(s.dialog().and_then(|d| d.error.clone()).is_some_and(|e| e.contains("at most 4000")));
}

#[test]
fn the_reason_takes_printable_text_and_newlines_only() {
    let mut s = state();
    let effects = press(&mut s, KeyCode::Enter);
    settle(&mut s, effects);
    let effects = press(&mut s, KeyCode::Char('d'));
    settle(&mut s, effects);
    press(&mut s, KeyCode::Char('v'));
    // Raw controls typed one by one (a terminal that passes bytes through).
    typed(&mut s, "ok\u{1b}]0;pwned\u{7}\u{9b}\u{202e}.");
    // An OSC title, BEL and a bidi override pasted; CR and CRLF line ends.
    update(&mut s, Action::Paste("\r\nline\u{1b}]52;c;eA==\u{7}\rnext\u{200b}".into()));
    let reason = s.dialog().map(|d| d.reason_text()).unwrap_or_default();
    assert_eq!(reason, "ok]0;pwned.\nline]52;c;eA==\nnext");
}

#[test]
fn open_by_id_fetches_the_case_and_opens_it_once_queued() {
    let mut s = state();
    press(&mut s, KeyCode::Char(':'));
    typed(&mut s, "open complycube fresh1");
    let effects = press(&mut s, KeyCode::Enter);
    let wanted = CaseRef::new(ProviderId::ComplyCube, "fresh1");
    assert_eq!(effects, [Effect::OpenById(wanted.clone())]);
    let effects = update(&mut s, Action::Opened(Ok(wanted.clone())));
    assert_eq!(effects, [Effect::LoadQueue]);
    let mut q = queue();
    q.push(entry(ProviderId::ComplyCube, "fresh1", "identity_check", "liveness check", 90));
    let effects = update(&mut s, Action::QueueLoaded(Ok((q, Default::default()))));
    assert_eq!(s.screen, Screen::Case);
    assert_eq!(s.selected_entry().map(|e| e.case_ref.clone()), Some(wanted.clone()));
    assert!(effects.contains(&Effect::FetchCase(wanted)));
    press(&mut s, KeyCode::Char(':'));
    typed(&mut s, "open acme 1");
    press(&mut s, KeyCode::Enter);
    assert!(s.notice.as_ref().is_some_and(|n| n.text.contains("unknown provider")));
}

#[test]
fn help_and_hints_follow_a_rebinding_from_the_config() -> R {
    use kycdesk::app::keymap::{KeyTable, Override};
    let keys = KeyTable::with_overrides(&[Override {
        context: "queue".into(),
        action: "mark".into(),
        keys: vec!["x".into()],
    }])
    .map_err(|(_, e)| e)?;
    let mut s = state();
    s.settings.keys = keys;
    let render = |s: &State| -> Result<String, Box<dyn std::error::Error>> {
        let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 80))?;
        terminal.draw(|f| kycdesk::ui::draw(f, s))?;
        Ok(terminal.backend().to_string())
    };
    assert!(render(&s)?.contains("x mark"), "the status-bar hint");
    press(&mut s, KeyCode::Char('x'));
    assert_eq!(s.marks.len(), 1, "the new key marks");
    press(&mut s, KeyCode::Char(' '));
    assert_eq!(s.marks.len(), 1, "the old one no longer does");
    press(&mut s, KeyCode::Char('?'));
    let help = render(&s)?;
    let row = help.lines().find(|l| l.contains("mark or unmark the case")).unwrap_or_default();
    assert!(row.contains(" x ") && !row.contains("Space"), "{row}");
    Ok(())
}

#[test]
fn marking_nothing_and_deciding_nothing_say_so() {
    let mut s = state();
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "zzzz");
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Char('*'));
    assert!(s.notice.as_ref().is_some_and(|n| n.text.contains("nothing to mark")));
    assert!(press(&mut s, KeyCode::Char('d')).is_empty());
    assert!(s.notice.as_ref().is_some_and(|n| n.text.contains("no case to decide")));
}

#[test]
fn jump_between_groups_and_mark_one_group() {
    let mut s = state();
    press(&mut s, KeyCode::Char(':'));
    typed(&mut s, "group why");
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.selected, 0, "grouping starts at the top while the analyst has not moved");
    let target = s.view.groups.iter().position(|g| g.label == "liveness check").unwrap_or(99);
    for _ in 0..target {
        press(&mut s, KeyCode::Char(']'));
    }
    assert_eq!(s.view.group_at(s.selected).map(|g| g.label.as_str()), Some("liveness check"));
    press(&mut s, KeyCode::Char('+'));
    let mut marked: Vec<String> = s.marks.iter().map(|m| m.key.clone()).collect();
    marked.sort();
    assert_eq!(marked, ["cc1", "cc3"]);
    press(&mut s, KeyCode::Char('['));
    assert!(s.view.groups.iter().any(|g| g.start == s.selected));
}

#[test]
fn quitting_with_decisions_waiting_says_so_first() {
    let mut s = state();
    update(&mut s, Action::QueueLoaded(Ok((queue(), kycdesk::store::OutboxCounts { saved: 2, ..Default::default() }))));
    press(&mut s, KeyCode::Char('q'));
    assert!(!s.should_quit);
    assert!(s.notice.as_ref().is_some_and(|n| n.text.contains("2 decisions not sent yet")));
    press(&mut s, KeyCode::Char('q'));
    assert!(s.should_quit, "the second q quits");
    let mut s = state();
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
    assert!(s.should_quit, "Ctrl-C quits at once");
}

#[test]
fn v_on_an_empty_view_does_nothing_and_hidden_marks_are_not_decided() {
    let mut s = state();
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "zzzz");
    press(&mut s, KeyCode::Enter);
    update(&mut s, Action::Key(KeyEvent::new(KeyCode::Char('V'), KeyModifiers::SHIFT)));
    assert!(s.marks.is_empty());
    // Mark two, filter to one of them: d decides the one shown and lists the other.
    let mut s = state();
    press(&mut s, KeyCode::Char(' '));
    press(&mut s, KeyCode::Char(' '));
    press(&mut s, KeyCode::Char('/'));
    typed(&mut s, "cube");
    press(&mut s, KeyCode::Enter);
    let effects = press(&mut s, KeyCode::Char('d'));
    settle(&mut s, effects);
    let d = s.dialog().map(|d| (d.cases.len(), d.left_out.len()));
    assert_eq!(d, Some((1, 1)), "the hidden mark is left out, not decided");
}

#[test]
fn two_saves_in_their_grace_periods_are_undone_newest_first() {
    let mut s = state();
    for key in ["cc1", "ss1"] {
        let d = Decision {
            id: format!("id-{key}"),
            case_ref: s
                .queue
                .iter()
                .find(|e| e.case_ref.key == key)
                .map(|e| e.case_ref.clone())
                .unwrap_or_else(|| CaseRef::new(ProviderId::ComplyCube, key)),
            target: TargetId::Case,
            verdict: Verdict::Verify,
            reason: "ok".into(),
            reason_codes: vec![],
            analyst: "ana".into(),
            created_at: t0(),
        };
        update(&mut s, Action::DecisionsSaved { decisions: vec![d], send_after: t0() + Duration::seconds(5) });
    }
    assert_eq!(press(&mut s, KeyCode::Char('u')), [Effect::Withdraw(vec!["id-ss1".into()])]);
    assert_eq!(press(&mut s, KeyCode::Char('u')), [Effect::Withdraw(vec!["id-cc1".into()])]);
    assert!(press(&mut s, KeyCode::Char('u')).is_empty());
}

#[test]
fn the_open_case_leaving_the_queue_returns_to_the_queue() {
    let mut s = state();
    let effects = press(&mut s, KeyCode::Enter);
    settle(&mut s, effects);
    assert_eq!(s.screen, Screen::Case);
    let rest: Vec<QueueEntry> = queue().into_iter().filter(|e| e.case_ref.key != "cc1").collect();
    update(&mut s, Action::QueueLoaded(Ok((rest, Default::default()))));
    assert_eq!(s.screen, Screen::Queue, "no other case slides in");
    assert!(s.notice.as_ref().is_some_and(|n| n.text.contains("left the queue")));
}

/// The help scrolls to either end, and never past its last line: a key back up moves.
#[test]
fn help_goes_to_its_end_and_back() {
    let mut s = state();
    update(&mut s, kycdesk::ui::resize(80, 24));
    press(&mut s, KeyCode::Char('?'));
    let scroll = |s: &State| match s.modals.last() {
        Some(kycdesk::app::Modal::Help { scroll }) => Some(*scroll),
        _ => None,
    };
    let furthest = kycdesk::ui::help::max_scroll(&s);
    assert!(furthest > 0, "the keys do not fit in 24 rows");
    press(&mut s, KeyCode::Char('G'));
    assert_eq!(scroll(&s), Some(furthest));
    press(&mut s, KeyCode::PageDown);
    assert_eq!(scroll(&s), Some(furthest), "not past the end");
    press(&mut s, KeyCode::Char('k'));
    assert_eq!(scroll(&s), Some(furthest - 1));
    press(&mut s, KeyCode::Home);
    assert_eq!(scroll(&s), Some(0));
}

#[test]
fn prefetch_fetches_the_cases_ahead_and_prefetch_0_only_the_open_one() {
    let fetched = |effects: &[Effect]| -> Vec<String> {
        let mut keys: Vec<String> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::FetchCase(r) | Effect::Prefetch(r) => Some(r.key.clone()),
                _ => None,
            })
            .collect();
        keys.sort();
        keys
    };
    let mut s = state();
    assert_eq!(fetched(&press(&mut s, KeyCode::Enter)), ["cc1", "cc2", "ss1"], "the open case and two ahead");
    assert_eq!(fetched(&press(&mut s, KeyCode::Char('n'))), ["scr1"]);
    let mut off = state();
    off.settings.prefetch = 0;
    assert_eq!(fetched(&press(&mut off, KeyCode::Enter)), ["cc1"]);
    assert_eq!(fetched(&press(&mut off, KeyCode::Char('n'))), ["ss1"]);
    assert_eq!(fetched(&press(&mut off, KeyCode::Char('n'))), ["cc2"]);
    assert_eq!(fetched(&press(&mut off, KeyCode::Char('p'))), ["ss1"], "nothing is held behind either");
}

#[test]
fn fetches_of_cases_left_behind_are_stopped() {
    let mut s = state();
    press(&mut s, KeyCode::Enter);
    press(&mut s, KeyCode::Esc);
    press(&mut s, KeyCode::Char('G'));
    let effects = press(&mut s, KeyCode::Enter);
    let mut stopped: Vec<String> = effects
        .iter()
        .flat_map(|e| match e {
            Effect::Cancel { cases, .. } => cases.iter().map(|r| r.key.clone()).collect(),
            _ => vec![],
        })
        .collect();
    stopped.sort();
    assert_eq!(stopped, ["cc1", "cc2", "ss1"], "{effects:?}");
    assert!(effects.contains(&Effect::FetchCase(CaseRef::new(ProviderId::IdWise, "iw1"))), "the open case goes first");
    assert!(effects.contains(&Effect::Prefetch(CaseRef::new(ProviderId::ComplyCube, "cc3"))), "the one behind is held");
}
