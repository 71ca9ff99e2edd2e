//! Screen tests: the real `update` and `draw` on ratatui's `TestBackend`, fed with cases
//! the adapter read from the emulator, compared with `insta` snapshots.

mod common;

use chrono::{TimeZone, Utc};
use common::{complycube, start_emulator};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kycdesk::app::{Action, Effect, State, update};
use kycdesk::domain::{Decision, Lane, ProviderId, QueueEntry, SafeText, TargetId, Verdict};
use kycdesk::media;
use kycdesk::providers::Provider;
use kycdesk::providers::complycube::{ComplyCube, KeyMode};
use kycdesk::sender::Delivery;
use kycdesk::store::OutboxCounts;
use kycdesk::store::{OutboxRow, OutboxState};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui_image::picker::Picker;
use std::collections::HashMap;
use std::sync::Arc;

type R<T> = Result<T, Box<dyn std::error::Error>>;

const WIDTH: u16 = 140;
const HEIGHT: u16 = 44;

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn render(state: &State) -> R<String> {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
    terminal.draw(|f| kycdesk::ui::draw(f, state))?;
    Ok(terminal.backend().to_string())
}

/// Performs the effects `update` asks for, the way the console's jobs do, but in line.
async fn settle(state: &mut State, cc: &ComplyCube, mut effects: Vec<Effect>) -> R<()> {
    let picker = Picker::halfblocks();
    while let Some(effect) = effects.pop() {
        let action = match effect {
            Effect::FetchCase(r) | Effect::Prefetch(r) => {
                Action::CaseLoaded(r.clone(), cc.case(&r).await.map(Box::new).map_err(|e| e.to_string()))
            }
            Effect::FetchMedia { media: m, area, .. } => {
                let bytes = cc.media(&m).await?;
                let picture = media::picture(&picker, &bytes, area).map_err(|e| e.to_string());
                Action::MediaLoaded(m, picture.map(Arc::new))
            }
            Effect::FetchViewerImage { media: m, area, turns, .. } => {
                let bytes = cc.media(&m).await?;
                let result =
                    media::picture_turned(&picker, &bytes, area, turns, false).map(Arc::new).map_err(|e| e.to_string());
                Action::ViewerLoaded { media: m, turns, result }
            }
            _ => continue,
        };
        effects.extend(update(state, action));
    }
    Ok(())
}

async fn setup() -> R<(kycdesk::emulator::RunningEmulator, ComplyCube, State)> {
    let emu = start_emulator(9).await?;
    let cc = complycube(&emu, KeyMode::Live)?;
    let entries: Vec<QueueEntry> = cc.pending(None).await?.referred;
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().ok_or("time")?;
    let caps = HashMap::from([(ProviderId::ComplyCube, cc.capabilities().clone())]);
    let mut state = State::new(
        kycdesk::app::Settings {
            analyst: "ana".into(), banner: "demo · synthetic cases".into(), ..Default::default()
        },
        caps,
        now,
    );
    update(&mut state, kycdesk::ui::resize(WIDTH, HEIGHT));
    let counts = OutboxCounts { saved: 1, sent: 12, escalated: 0, failed: 0, degraded: vec![] };
    update(&mut state, Action::QueueLoaded(Ok((entries, counts))));
    Ok((emu, cc, state))
}

/// Where the first case satisfying `pred` is shown in the queue.
fn view_position(state: &State, pred: impl Fn(&QueueEntry) -> bool) -> Option<usize> {
    state.view.rows.iter().position(|&i| pred(&state.queue[i]))
}

async fn open_first_of(state: &mut State, cc: &ComplyCube, check_type: &str) -> R<()> {
    let index =
        state.view.rows.iter().position(|&i| state.queue[i].check_type.as_str() == check_type).ok_or("no such case")?;
    state.selected = index;
    let effects = update(state, key(KeyCode::Enter));
    settle(state, cc, effects).await
}

#[tokio::test]
async fn queue_screen() -> R<()> {
    let (_emu, _cc, mut state) = setup().await?;
    update(&mut state, key(KeyCode::Char('j')));
    insta::assert_snapshot!(render(&state)?);
    update(&mut state, key(KeyCode::Char('m')));
    let masked = render(&state)?;
    assert!(masked.contains("▒▒▒▒▒▒") && masked.contains("MASKED"));
    Ok(())
}

#[tokio::test]
async fn a_degraded_provider_is_named_in_the_status_bar() -> R<()> {
    let (_emu, _cc, mut state) = setup().await?;
    let counts = OutboxCounts { saved: 3, sent: 12, degraded: vec![ProviderId::ComplyCube], ..Default::default() };
    let queue = state.queue.clone();
    update(&mut state, Action::QueueLoaded(Ok((queue, counts))));
    let screen = render(&state)?;
    let status = screen.lines().last().ok_or("no status bar")?;
    assert!(status.contains("⚠ ComplyCube degraded: sending paused, probing"), "{status}");
    assert!(status.contains("3 waiting"), "{status}");
    Ok(())
}

#[tokio::test]
async fn identity_case_with_images() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    open_first_of(&mut state, &cc, "identity").await?;
    let screen = render(&state)?;
    assert!(screen.contains("Liveness:") && screen.contains("Face match"));
    assert!(screen.contains('▀') || screen.contains('▄'), "images drawn as half blocks");
    insta::assert_snapshot!(screen);
    Ok(())
}

#[tokio::test]
async fn decision_dialog_reason_and_confirm() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    open_first_of(&mut state, &cc, "document").await?;
    update(&mut state, key(KeyCode::Char('d')));
    update(&mut state, key(KeyCode::Char('x')));
    // reject on a document check offers ComplyCube's rejection reasons
    update(&mut state, key(KeyCode::Char('j')));
    update(&mut state, key(KeyCode::Char(' ')));
    insta::assert_snapshot!("reasons", render(&state)?);
    update(&mut state, key(KeyCode::Enter));
    // an empty reason is refused
    update(&mut state, key(KeyCode::Enter));
    assert!(render(&state)?.contains("A reason is required"));
    for c in "Expired in 2024; holder to resubmit.".chars() {
        update(&mut state, key(KeyCode::Char(c)));
    }
    insta::assert_snapshot!("reason", render(&state)?);
    update(&mut state, key(KeyCode::Enter));
    insta::assert_snapshot!("confirm", render(&state)?);
    let effects = update(&mut state, key(KeyCode::Char('y')));
    let [Effect::SaveDecisions { drafts, .. }] = effects.as_slice() else {
        return Err(format!("{effects:?}").into());
    };
    let [draft] = drafts.as_slice() else { return Err(format!("{drafts:?}").into()) };
    assert_eq!(draft.reason, "Expired in 2024; holder to resubmit.");
    assert_eq!(draft.reason_codes, vec!["document_has_expired".to_string()]);
    Ok(())
}

#[tokio::test]
async fn screening_case_and_target_choice() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    open_first_of(&mut state, &cc, "standard screening").await?;
    insta::assert_snapshot!("screening_case", render(&state)?);
    update(&mut state, key(KeyCode::Char('d')));
    update(&mut state, key(KeyCode::Char('j')));
    update(&mut state, key(KeyCode::Enter));
    insta::assert_snapshot!("hit_verdicts", render(&state)?);
    Ok(())
}

#[tokio::test]
async fn help_overlay() -> R<()> {
    let (_emu, _cc, mut state) = setup().await?;
    update(&mut state, key(KeyCode::Char('?')));
    insta::assert_snapshot!(render(&state)?);
    update(&mut state, key(KeyCode::Esc));
    assert!(state.modals.is_empty(), "Esc closes the help");
    Ok(())
}

#[tokio::test]
async fn tiny_and_odd_terminal_sizes_never_panic() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    open_first_of(&mut state, &cc, "identity").await?;
    update(&mut state, key(KeyCode::Char('d')));
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (80, 24), (300, 100)] {
        update(&mut state, kycdesk::ui::resize(w, h));
        let mut terminal = Terminal::new(TestBackend::new(w, h))?;
        terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    }
    update(&mut state, key(KeyCode::Esc));
    update(&mut state, key(KeyCode::Char('?')));
    let mut terminal = Terminal::new(TestBackend::new(12, 4))?;
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    update(&mut state, key(KeyCode::Esc));
    // Below the smallest size only the notice is drawn: keys do nothing unseen.
    update(&mut state, kycdesk::ui::resize(30, 8));
    let mut terminal = Terminal::new(TestBackend::new(30, 8))?;
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    assert!(terminal.backend().to_string().contains("terminal too small: 30x8"));
    let modals = state.modals.len();
    for c in ['d', 'm', '?'] {
        update(&mut state, key(KeyCode::Char(c)));
    }
    assert_eq!(state.modals.len(), modals, "no dialog opened while too small");
    assert!(!state.mask, "mask not toggled unseen");
    Ok(())
}

/// The sizes every screen is laid out for: a wide terminal, a classic SSH session and the
/// smallest supported.
const SIZES: [(u16, u16); 3] = [(200, 50), (80, 24), (40, 10)];

/// What mask mode must hide, from the cases the state holds: ids, names, dates of birth,
/// document numbers, and each longer word of a name (a cut name still shows it).
fn personal_strings(state: &State) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for e in &state.queue {
        out.push(e.case_ref.key.clone());
        out.push(e.applicant.one_line());
    }
    for case in state.cases.values() {
        let kycdesk::app::Loadable::Ready(case) = case else { continue };
        out.push(case.case_ref.key.clone());
        out.push(case.applicant.name.one_line());
        out.extend(case.applicant.date_of_birth.iter().map(|d| d.to_string()));
        for d in &case.documents {
            out.extend(d.number.iter().map(|n| n.one_line()));
            out.extend(d.holder_name.iter().map(|n| n.one_line()));
            out.extend(d.date_of_birth.iter().map(|n| n.to_string()));
            out.extend(d.fields.iter().filter(|f| f.personal).map(|f| f.value.one_line()));
        }
        out.extend(case.applicant.fields.iter().filter(|f| f.personal).map(|f| f.value.one_line()));
        for h in &case.screening {
            out.push(h.name.one_line());
            out.extend(h.dates_of_birth.iter().map(|d| d.to_string()));
        }
    }
    let words: Vec<String> =
        out.iter().flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>()).collect();
    out.extend(words.into_iter().filter(|w| w.chars().count() >= 5));
    out.retain(|s| s.chars().count() >= 4);
    out.sort();
    out.dedup();
    out
}

/// Renders the state as it stands at every size, in colour and without, masked and not;
/// checks that no colour is written under NO_COLOR (and the cursor row is in reverse
/// video), that nothing personal shows when masked, and snapshots the lot.
async fn every_size_theme_and_mask(name: &str, state: &mut State, cc: &ComplyCube) -> R<()> {
    use kycdesk::ui::theme::Theme;
    use ratatui::style::{Color, Modifier};
    let personal = personal_strings(state);
    let mut out = String::new();
    for (w, h) in SIZES {
        let mut seen: Vec<(String, String)> = vec![];
        for theme in [Theme::Default, Theme::NoColor] {
            for mask in [false, true] {
                state.settings.theme = theme;
                state.mask = mask;
                let effects = update(state, kycdesk::ui::resize(w, h));
                settle(state, cc, effects).await?;
                let mut terminal = Terminal::new(TestBackend::new(w, h))?;
                terminal.draw(|f| kycdesk::ui::draw(f, state))?;
                let buffer = terminal.backend().buffer().clone();
                let screen = terminal.backend().to_string();
                let label = format!("{w}x{h} {theme:?}{}", if mask { " masked" } else { "" });
                if theme == Theme::NoColor {
                    for cell in buffer.content() {
                        assert!(
                            cell.fg == Color::Reset && cell.bg == Color::Reset,
                            "{name} {label}: a colour under NO_COLOR at {cell:?}"
                        );
                        if cell.symbol() == "▶" {
                            assert!(cell.modifier.contains(Modifier::REVERSED), "{name} {label}: ▶ row not reversed");
                        }
                    }
                }
                if mask {
                    for p in &personal {
                        assert!(!screen.contains(p.as_str()), "{name} {label}: {p:?} shows while masked:\n{screen}");
                    }
                }
                match seen.iter().find(|(_, s)| *s == screen) {
                    Some((same, _)) => out.push_str(&format!("── {label}: as {same}\n")),
                    None => out.push_str(&format!("── {label}\n{screen}\n")),
                }
                seen.push((label, screen));
            }
        }
    }
    state.settings.theme = Theme::Default;
    state.mask = false;
    let effects = update(state, kycdesk::ui::resize(WIDTH, HEIGHT));
    settle(state, cc, effects).await?;
    insta::assert_snapshot!(name, out);
    Ok(())
}

/// Mask mode on the screen as it stands: nothing personal of any held case shows.
fn masked_hides_the_person(state: &mut State) -> R<()> {
    let personal = personal_strings(state);
    state.mask = true;
    let screen = render(state)?;
    state.mask = false;
    for p in &personal {
        assert!(!screen.contains(p.as_str()), "{p:?} shows while masked:\n{screen}");
    }
    Ok(())
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        update(state, key(KeyCode::Char(c)));
    }
}

#[tokio::test]
async fn queue_and_prompts_at_every_size() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    update(&mut state, key(KeyCode::Char('j')));
    every_size_theme_and_mask("matrix_queue", &mut state, &cc).await?;
    type_text(&mut state, "/ident");
    every_size_theme_and_mask("matrix_filter", &mut state, &cc).await?;
    update(&mut state, key(KeyCode::Esc));
    update(&mut state, key(KeyCode::Char('?')));
    every_size_theme_and_mask("matrix_help", &mut state, &cc).await?;
    Ok(())
}

#[tokio::test]
async fn case_views_at_every_size() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    open_first_of(&mut state, &cc, "identity").await?;
    every_size_theme_and_mask("matrix_identity_case", &mut state, &cc).await?;
    let effects = update(&mut state, key(KeyCode::Char('z')));
    settle(&mut state, &cc, effects).await?;
    every_size_theme_and_mask("matrix_image_viewer", &mut state, &cc).await?;
    update(&mut state, key(KeyCode::Esc));
    update(&mut state, key(KeyCode::Esc));
    open_first_of(&mut state, &cc, "standard screening").await?;
    every_size_theme_and_mask("matrix_screening_case", &mut state, &cc).await?;
    Ok(())
}

/// Without colours images are a placeholder until the analyst asks for greys.
#[tokio::test]
async fn greys_on_request_without_colours() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    state.settings.theme = kycdesk::ui::theme::Theme::NoColor;
    open_first_of(&mut state, &cc, "identity").await?;
    let screen = render(&state)?;
    assert!(screen.contains("draws it in greys") && !screen.contains('▀'), "{screen}");
    type_text(&mut state, ":shades");
    let effects = update(&mut state, key(KeyCode::Enter));
    assert!(
        !effects.is_empty() && effects.iter().all(|e| matches!(e, Effect::FetchMedia { grey: true, .. })),
        "{effects:?}"
    );
    settle(&mut state, &cc, effects).await?;
    let screen = render(&state)?;
    assert!(screen.contains('▀') || screen.contains('▄'), "{screen}");
    Ok(())
}

#[tokio::test]
async fn decision_steps_at_every_size() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    open_first_of(&mut state, &cc, "document").await?;
    update(&mut state, key(KeyCode::Char('d')));
    every_size_theme_and_mask("matrix_verdict", &mut state, &cc).await?;
    update(&mut state, key(KeyCode::Char('x')));
    update(&mut state, key(KeyCode::Char(' ')));
    every_size_theme_and_mask("matrix_reasons", &mut state, &cc).await?;
    update(&mut state, key(KeyCode::Enter));
    type_text(&mut state, "Expired in 2024; holder to resubmit.");
    every_size_theme_and_mask("matrix_reason", &mut state, &cc).await?;
    update(&mut state, key(KeyCode::Enter));
    every_size_theme_and_mask("matrix_confirm", &mut state, &cc).await?;
    let effects = update(&mut state, key(KeyCode::Char('y')));
    let [Effect::SaveDecisions { drafts, .. }] = effects.as_slice() else {
        return Err(format!("{effects:?}").into());
    };
    let decisions: Vec<Decision> = drafts
        .iter()
        .map(|d| Decision {
            id: "id-1".into(),
            case_ref: d.case_ref.clone(),
            target: d.target.clone(),
            verdict: d.verdict,
            reason: d.reason.clone(),
            reason_codes: d.reason_codes.clone(),
            analyst: "ana".into(),
            created_at: state.now,
        })
        .collect();
    let send_after = state.now + chrono::Duration::seconds(5);
    update(&mut state, Action::DecisionsSaved { decisions, send_after });
    every_size_theme_and_mask("matrix_saved", &mut state, &cc).await?;
    type_text(&mut state, ":outbox");
    update(&mut state, key(KeyCode::Enter));
    update(&mut state, Action::OutboxLoaded(Ok(vec![])));
    every_size_theme_and_mask("matrix_outbox", &mut state, &cc).await?;
    Ok(())
}

/// Settles effects against any provider (the IDWise adapter here).
async fn settle_with(state: &mut State, p: &dyn Provider, mut effects: Vec<Effect>) -> R<()> {
    let picker = Picker::halfblocks();
    while let Some(effect) = effects.pop() {
        let action = match effect {
            Effect::FetchCase(r) | Effect::Prefetch(r) => {
                Action::CaseLoaded(r.clone(), p.case(&r).await.map(Box::new).map_err(|e| e.to_string()))
            }
            Effect::FetchMedia { media: m, area, .. } => {
                let bytes = p.media(&m).await?;
                Action::MediaLoaded(m, media::picture(&picker, &bytes, area).map(Arc::new).map_err(|e| e.to_string()))
            }
            _ => continue,
        };
        effects.extend(update(state, action));
    }
    Ok(())
}

#[tokio::test]
async fn idwise_journey_with_liveness_code_rules_and_face_match() -> R<()> {
    let emu = start_emulator(4).await?;
    let iw = common::idwise(&emu)?;
    let mut entries = vec![];
    for (id, _) in common::idwise_journeys(&emu).await? {
        entries.extend(iw.refresh(&kycdesk::domain::CaseRef::new(ProviderId::IdWise, id)).await?.referred);
    }
    entries.sort_by_key(|e| e.received_at);
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().ok_or("time")?;
    let caps = HashMap::from([(ProviderId::IdWise, iw.capabilities().clone())]);
    let mut state = State::new(
        kycdesk::app::Settings { analyst: "ana".into(), banner: String::new(), ..Default::default() },
        caps,
        now,
    );
    update(&mut state, kycdesk::ui::resize(WIDTH, HEIGHT));
    update(&mut state, Action::QueueLoaded(Ok((entries, OutboxCounts::default()))));
    insta::assert_snapshot!("idwise_queue", render(&state)?);
    // The journey that failed liveness.
    state.selected =
        view_position(&state, |e| e.why_referred.as_str().starts_with("FACE_")).ok_or("liveness journey")?;
    let effects = update(&mut state, key(KeyCode::Enter));
    settle_with(&mut state, &iw, effects).await?;
    let screen = render(&state)?;
    assert!(screen.contains("NOT LIVE") && screen.contains("Face match"), "{screen}");
    insta::assert_snapshot!("idwise_case", screen);
    masked_hides_the_person(&mut state)?;
    update(&mut state, key(KeyCode::PageDown));
    assert!(render(&state)?.contains("Same Subject"), "the rules below the fold");
    update(&mut state, key(KeyCode::PageUp));
    update(&mut state, key(KeyCode::Char('d')));
    update(&mut state, key(KeyCode::Char('s')));
    assert!(render(&state)?.contains("Verdict: Resubmit"));
    Ok(())
}

#[tokio::test]
async fn credas_case_offers_each_element_as_a_target() -> R<()> {
    let emu = start_emulator(4).await?;
    let credas = common::credas(&emu)?;
    let mut entries = vec![];
    for entity in common::credas_entities(&emu).await? {
        entries.extend(credas.refresh(&kycdesk::domain::CaseRef::new(ProviderId::Credas, entity)).await?.referred);
    }
    entries.sort_by_key(|e| e.received_at);
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().ok_or("time")?;
    let caps = HashMap::from([(ProviderId::Credas, credas.capabilities().clone())]);
    let mut state = State::new(
        kycdesk::app::Settings { analyst: "ana".into(), banner: String::new(), ..Default::default() },
        caps,
        now,
    );
    state.images_enabled = false;
    update(&mut state, kycdesk::ui::resize(WIDTH, HEIGHT));
    update(&mut state, Action::QueueLoaded(Ok((entries, OutboxCounts::default()))));
    state.selected =
        view_position(&state, |e| e.why_referred.as_str().contains("supporting")).ok_or("supporting case")?;
    let effects = update(&mut state, key(KeyCode::Enter));
    settle_with(&mut state, &credas, effects).await?;
    insta::assert_snapshot!("credas_case", render(&state)?);
    masked_hides_the_person(&mut state)?;
    update(&mut state, key(KeyCode::Char('d')));
    let dialog = render(&state)?;
    assert!(dialog.contains("Liveness") && dialog.contains("Supporting document:"));
    insta::assert_snapshot!("credas_targets", dialog);
    Ok(())
}

async fn state_for(p: &dyn Provider, entries: Vec<QueueEntry>) -> R<State> {
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().ok_or("time")?;
    let caps = HashMap::from([(p.id(), p.capabilities().clone())]);
    let mut state = State::new(
        kycdesk::app::Settings { analyst: "ana".into(), banner: String::new(), ..Default::default() },
        caps,
        now,
    );
    update(&mut state, kycdesk::ui::resize(WIDTH, HEIGHT));
    let mut entries = entries;
    entries.sort_by_key(|e| e.received_at);
    update(&mut state, Action::QueueLoaded(Ok((entries, OutboxCounts::default()))));
    Ok(state)
}

#[tokio::test]
async fn sumsub_applicant_with_steps_comments_and_reason_groups() -> R<()> {
    let emu = start_emulator(4).await?;
    let s = common::sumsub(&emu)?;
    let mut entries = vec![];
    for id in common::sumsub_applicants(&emu).await? {
        entries.extend(s.refresh(&kycdesk::domain::CaseRef::new(ProviderId::Sumsub, id)).await?.referred);
    }
    let mut state = state_for(&s, entries).await?;
    state.selected = view_position(&state, |e| e.why_referred.as_str().contains("FORGERY")).ok_or("forgery")?;
    let effects = update(&mut state, key(KeyCode::Enter));
    settle_with(&mut state, &s, effects).await?;
    let screen = render(&state)?;
    assert!(screen.contains("Comment shown to the applicant") && screen.contains("Internal comment"));
    insta::assert_snapshot!("sumsub_case", screen);
    masked_hides_the_person(&mut state)?;
    update(&mut state, key(KeyCode::Char('d')));
    update(&mut state, key(KeyCode::Char('x')));
    insta::assert_snapshot!("sumsub_reason_groups", render(&state)?);
    Ok(())
}

#[tokio::test]
async fn frankieone_execution_with_aml_hits() -> R<()> {
    let emu = start_emulator(4).await?;
    let f = common::frankieone(&emu)?;
    let entries = f.pending(None).await?.referred;
    let mut state = state_for(&f, entries).await?;
    state.selected = view_position(&state, |e| e.why_referred.as_str().contains("pep")).ok_or("pep case")?;
    let effects = update(&mut state, key(KeyCode::Enter));
    settle_with(&mut state, &f, effects).await?;
    let screen = render(&state)?;
    assert!(screen.contains("Screening hits") && screen.contains("PEP"));
    insta::assert_snapshot!("frankieone_case", screen);
    masked_hides_the_person(&mut state)?;
    update(&mut state, key(KeyCode::Char('d')));
    let targets = render(&state)?;
    assert!(targets.contains("Hit:") && targets.contains("IDV result:"));
    insta::assert_snapshot!("frankieone_targets", targets);
    Ok(())
}

/// Lanes, groups, marks and the filter on the queue; the filter prompt in the status line.
#[tokio::test]
async fn queue_with_lanes_groups_marks_and_filter() -> R<()> {
    let (_emu, _cc, mut state) = setup().await?;
    let mut entries = state.queue.clone();
    entries[0].lane = Lane::Refused;
    entries[0].note = Some(SafeText::new("HTTP 422 invalid_request: comment is required"));
    entries[1].lane = Lane::Escalated;
    entries[2].lane = Lane::Awaiting;
    update(&mut state, Action::QueueLoaded(Ok((entries, OutboxCounts::default()))));
    for c in ":group why".chars() {
        update(&mut state, key(KeyCode::Char(c)));
    }
    update(&mut state, key(KeyCode::Enter));
    update(&mut state, key(KeyCode::Char(' ')));
    update(&mut state, key(KeyCode::Char(' ')));
    let screen = render(&state)?;
    assert!(screen.contains("Refused by the provider") && screen.contains("Awaiting delivery"));
    assert!(screen.contains("2 marked"));
    insta::assert_snapshot!("queue_lanes_groups", screen);
    update(&mut state, key(KeyCode::Char('/')));
    for c in "identity".chars() {
        update(&mut state, key(KeyCode::Char(c)));
    }
    let screen = render(&state)?;
    assert!(screen.contains("filter: identity"));
    insta::assert_snapshot!("queue_filter_prompt", screen);
    Ok(())
}

/// A bulk verify: the templates list, the confirmation with what goes to the provider,
/// the per-case results.
#[tokio::test]
async fn bulk_decision_templates_confirmation_and_results() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    state.settings.templates = vec![kycdesk::app::Template {
        key: 'g',
        verdict: Some(Verdict::Verify),
        text: "Glare on the selfie; it matches the document photo.".into(),
        codes: vec![],
    }];
    for c in "/identity".chars() {
        update(&mut state, key(KeyCode::Char(c)));
    }
    update(&mut state, key(KeyCode::Enter));
    update(&mut state, key(KeyCode::Char('*')));
    let effects = update(&mut state, key(KeyCode::Char('d')));
    settle(&mut state, &cc, effects).await?;
    update(&mut state, key(KeyCode::Char('v')));
    update(&mut state, key(KeyCode::Tab));
    insta::assert_snapshot!("bulk_templates", render(&state)?);
    update(&mut state, key(KeyCode::Char('g')));
    update(&mut state, key(KeyCode::Enter));
    let screen = render(&state)?;
    assert!(screen.contains("× ComplyCube"), "what goes to the provider, per provider");
    insta::assert_snapshot!("bulk_confirm", screen);
    let effects = update(&mut state, key(KeyCode::Char('y')));
    let [Effect::SaveDecisions { drafts, undo_secs: 5 }] = effects.as_slice() else {
        return Err(format!("{effects:?}").into());
    };
    let decisions = drafts
        .iter()
        .map(|d| Decision {
            id: format!("id-{}", d.case_ref.key),
            case_ref: d.case_ref.clone(),
            target: d.target.clone(),
            verdict: d.verdict,
            reason: d.reason.clone(),
            reason_codes: d.reason_codes.clone(),
            analyst: "ana".into(),
            created_at: state.now,
        })
        .collect::<Vec<_>>();
    let first = decisions[0].clone();
    let send_after = state.now + chrono::Duration::seconds(5);
    update(&mut state, Action::DecisionsSaved { decisions, send_after });
    update(
        &mut state,
        Action::Delivered(Delivery::Failed {
            decision_id: first.id.clone(),
            case_ref: first.case_ref.clone(),
            error: "ComplyCube answered HTTP 422: check is not complete".into(),
        }),
    );
    let screen = render(&state)?;
    assert!(screen.contains("refused: ComplyCube answered HTTP 422"));
    insta::assert_snapshot!("bulk_results", screen);
    Ok(())
}

/// The outbox view and the command line.
#[tokio::test]
async fn outbox_view_and_command_line() -> R<()> {
    let (_emu, _cc, mut state) = setup().await?;
    for c in ":outb".chars() {
        update(&mut state, key(KeyCode::Char(c)));
    }
    update(&mut state, key(KeyCode::Tab));
    let screen = render(&state)?;
    assert!(screen.contains(":outbox "), "Tab completes");
    insta::assert_snapshot!("command_line", screen);
    let effects = update(&mut state, key(KeyCode::Enter));
    assert_eq!(effects, [Effect::LoadOutbox]);
    let entry = state.queue[0].clone();
    let row = |id: &str, s: OutboxState, error: Option<&str>| OutboxRow {
        decision: Decision {
            id: id.into(),
            case_ref: entry.case_ref.clone(),
            target: TargetId::Case,
            verdict: Verdict::Reject,
            reason: "Expired document.".into(),
            reason_codes: vec![],
            analyst: "ana".into(),
            created_at: state.now,
        },
        state: s,
        attempts: 1,
        last_error: error.map(String::from),
        next_attempt_at: state.now,
        send_after: state.now,
    };
    let rows = vec![
        row("a", OutboxState::Failed, Some("HTTP 422: check is not complete")),
        row("b", OutboxState::Sent, None),
        row("c", OutboxState::Withdrawn, None),
    ];
    update(&mut state, Action::OutboxLoaded(Ok(rows)));
    let screen = render(&state)?;
    assert!(screen.contains("refused") && screen.contains("withdrawn"));
    insta::assert_snapshot!("outbox_view", screen);
    assert_eq!(update(&mut state, key(KeyCode::Char('R'))), [Effect::RetryDecision("a".into())]);
    Ok(())
}

/// `z`: the document full-screen with its counter; `r` turns it, `i` moves on, Esc closes.
#[tokio::test]
async fn image_viewer_full_screen() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    open_first_of(&mut state, &cc, "identity").await?;
    assert!(render(&state)?.contains(" 1/3 "), "the pane counts the case's images");
    let effects = update(&mut state, key(KeyCode::Char('z')));
    assert!(matches!(effects.as_slice(), [Effect::FetchViewerImage { turns: 0, .. }]), "{effects:?}");
    settle(&mut state, &cc, effects).await?;
    let screen = render(&state)?;
    assert!(screen.contains("front 1/3") && (screen.contains('▀') || screen.contains('▄')));
    insta::assert_snapshot!("image_viewer", screen);
    let effects = update(&mut state, key(KeyCode::Char('r')));
    assert!(matches!(effects.as_slice(), [Effect::FetchViewerImage { turns: 1, .. }]));
    settle(&mut state, &cc, effects).await?;
    assert!(render(&state)?.contains("turned 90°"));
    let effects = update(&mut state, key(KeyCode::Char('i')));
    settle(&mut state, &cc, effects).await?;
    assert!(render(&state)?.contains("back 2/3"));
    update(&mut state, key(KeyCode::Esc));
    assert!(state.modals.is_empty());
    Ok(())
}

/// Related cases under the applicant: the same person at Sumsub (decided) and again at
/// ComplyCube (queued); in mask mode the ids and names are hidden, the rest stays.
#[tokio::test]
async fn related_cases_under_the_applicant() -> R<()> {
    use kycdesk::domain::CaseRef;
    use kycdesk::domain::identity::{IdentityKind, RelatedCase, Standing};
    let (_emu, cc, mut state) = setup().await?;
    open_first_of(&mut state, &cc, "identity").await?;
    let open = state.selected_entry().map(|e| e.case_ref.clone()).ok_or("an open case")?;
    let decided_at = Utc.with_ymd_and_hms(2026, 11, 20, 14, 2, 0).single().ok_or("time")?;
    let related = vec![
        RelatedCase {
            case_ref: CaseRef::new(ProviderId::ComplyCube, "5f1a2b3c4d5e6f7a8b9c0d1e"),
            applicant: Some(SafeText::new("Jane Doe")),
            matched: vec![IdentityKind::Document],
            standing: Standing::Queued(Lane::New),
        },
        RelatedCase {
            case_ref: CaseRef::new(ProviderId::Sumsub, "65f0c1d2e3f4a5b6c7d8e9a1"),
            applicant: Some(SafeText::new("DOE, Jane")),
            matched: vec![IdentityKind::NameAndBirth, IdentityKind::Document],
            standing: Standing::Decided { verdict: Verdict::Reject, at: decided_at },
        },
    ];
    update(&mut state, Action::RelatedLoaded(open, Ok(related)));
    let screen = render(&state)?;
    assert!(screen.contains("Related cases") && screen.contains("65f0c1d2e3f4a5b6c7d8e9a1"), "{screen}");
    insta::assert_snapshot!("related_cases", screen);
    update(&mut state, key(KeyCode::Char('m')));
    let masked = render(&state)?;
    assert!(masked.contains("Related cases") && !masked.contains("65f0c1d2e3f4a5b6c7d8e9a1"), "{masked}");
    assert!(!masked.contains("DOE, Jane"));
    insta::assert_snapshot!("related_cases_masked", masked);
    Ok(())
}

/// Kitty and sixel hold a whole picture in one cell. The frame after a case switch must
/// still update every other cell: the details shown are the new case's, never the last.
#[tokio::test]
async fn a_kitty_picture_does_not_keep_the_last_cases_details_on_screen() -> R<()> {
    let (_emu, cc, mut state) = setup().await?;
    let mut picker = Picker::halfblocks();
    picker.set_protocol_type(ratatui_image::picker::ProtocolType::Kitty);
    let settle_kitty = async |state: &mut State, mut effects: Vec<Effect>| -> R<()> {
        while let Some(effect) = effects.pop() {
            let action = match effect {
                Effect::FetchCase(r) | Effect::Prefetch(r) => {
                    Action::CaseLoaded(r.clone(), cc.case(&r).await.map(Box::new).map_err(|e| e.to_string()))
                }
                Effect::FetchMedia { media: m, area, .. } => {
                    let picture = media::picture(&picker, &cc.media(&m).await?, area).map_err(|e| e.to_string());
                    Action::MediaLoaded(m, picture.map(Arc::new))
                }
                _ => continue,
            };
            effects.extend(update(state, action));
        }
        Ok(())
    };
    let identities: Vec<usize> = (0..state.view.rows.len())
        .filter(|&p| state.queue[state.view.rows[p]].check_type.as_str() == "identity")
        .collect();
    let (first, second) = (identities[0], identities[1]);
    state.selected = first;
    let effects = update(&mut state, key(KeyCode::Enter));
    settle_kitty(&mut state, effects).await?;
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    let name_of = |state: &State, pos: usize| state.queue[state.view.rows[pos]].applicant.as_str().to_string();
    let before = name_of(&state, first);
    assert!(terminal.backend().to_string().contains(&before), "the first case is on screen");
    state.selected = second - 1;
    let effects = update(&mut state, key(KeyCode::Char('n')));
    settle_kitty(&mut state, effects).await?;
    terminal.draw(|f| kycdesk::ui::draw(f, &state))?;
    let screen = terminal.backend().to_string();
    let after = name_of(&state, second);
    assert_ne!(before, after);
    assert!(screen.contains(&after), "the new case's details are drawn:\n{screen}");
    assert!(!screen.contains(&before), "nothing of the last case is left:\n{screen}");
    Ok(())
}
