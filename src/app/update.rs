//! The pure state machine: `update(state, action) -> effects`.

use super::keymap::{Command, command};
use super::{Action, DecisionDialog, DecisionDraft, DialogStep, Effect, Level, Loadable, Notice, Screen, State};
use crate::domain::{CaseRef, SafeText, TargetId, Verdict};
use crate::sender::Delivery;
use crate::store::Evidence;
use crate::ui::layout;
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;
use std::collections::BTreeSet;

/// Cases kept around the selection: one behind, the open one and two ahead, prefetched.
const KEEP_BEHIND: usize = 1;
const PREFETCH_AHEAD: usize = 2;

fn notice(state: &mut State, level: Level, text: impl Into<String>) {
    state.notice = Some(Notice { level, text: text.into() });
}

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) => match command(state, key) {
            Some(cmd) => on_command(state, cmd),
            None => vec![],
        },
        Action::Resize { width, height } => {
            let before = layout::image_area(state.size);
            state.size = Rect::new(0, 0, width, height);
            if layout::image_area(state.size) != before {
                // Re-encode what is on screen for the new size (bytes are cached by the job).
                state.media.clear();
                return media_effects(state);
            }
            vec![]
        }
        Action::Tick(now) => {
            state.now = now;
            vec![]
        }
        Action::QueueLoaded(Ok((entries, counts))) => {
            let current = state.selected_entry().map(|e| e.case_ref.clone()).filter(|_| state.selection_touched);
            state.queue = entries;
            state.counts = counts;
            state.queue_loaded = true;
            if let Some(pos) = current.and_then(|c| state.queue.iter().position(|e| e.case_ref == c)) {
                state.selected = pos;
            }
            state.selected = state.selected.min(state.queue.len().saturating_sub(1));
            if state.queue.is_empty() && state.screen == Screen::Case && state.dialog.is_none() {
                state.screen = Screen::Queue;
            }
            if state.screen == Screen::Case { fetch_around(state) } else { vec![] }
        }
        Action::QueueLoaded(Err(e)) => {
            notice(state, Level::Error, format!("cannot read the queue: {e}"));
            vec![]
        }
        Action::CaseLoaded(case_ref, result) => {
            if !state.cases.contains_key(&case_ref) {
                return vec![]; // evicted while loading
            }
            match result {
                Ok(case) => {
                    state.cases.insert(case_ref, Loadable::Ready(*case));
                    media_effects(state)
                }
                Err(e) => {
                    state.cases.insert(case_ref, Loadable::Failed(SafeText::new(&e)));
                    vec![]
                }
            }
        }
        Action::MediaLoaded(media, result) => {
            if state.media.contains_key(&media) {
                let loaded = match result {
                    Ok(picture) => Loadable::Ready(picture),
                    Err(e) => Loadable::Failed(SafeText::new(&e)),
                };
                state.media.insert(media, loaded);
            }
            vec![]
        }
        Action::DecisionSaved(decision) => {
            let target = decision.target.clone();
            let case_ref = decision.case_ref.clone();
            state.dialog = None;
            state.counts.saved += 1;
            notice(state, Level::Info, format!("Saved: {} on {case_ref}; sending.", decision.verdict.label()));
            match target {
                TargetId::Hit(part) | TargetId::Element(part) => {
                    state.decided_hits.entry(case_ref).or_default().insert(part);
                }
                TargetId::Case => {
                    if let Some(pos) = state.queue.iter().position(|e| e.case_ref == case_ref) {
                        state.queue.remove(pos);
                        state.cases.remove(&case_ref);
                        state.selected = pos.min(state.queue.len().saturating_sub(1));
                    }
                    // The next case opens at once.
                    if state.queue.is_empty() {
                        state.screen = Screen::Queue;
                    } else if state.screen == Screen::Case {
                        return open_selected(state);
                    }
                }
            }
            vec![]
        }
        Action::DecisionNotSaved(error) => {
            if let Some(dialog) = state.dialog.as_mut() {
                dialog.saving = false;
                dialog.error = Some(format!("Not saved: {error}"));
            } else {
                notice(state, Level::Error, format!("Not saved: {error}"));
            }
            vec![]
        }
        Action::Delivered(delivery) => {
            match delivery {
                Delivery::Sent { case_ref, .. } => {
                    notice(state, Level::Info, format!("Delivered to the provider: {case_ref}"))
                }
                Delivery::Escalated { case_ref, .. } => notice(
                    state,
                    Level::Info,
                    format!("Escalated locally (nothing sent to {}): {case_ref}", case_ref.provider.display_name()),
                ),
                Delivery::WillRetry { case_ref, error, .. } => {
                    notice(state, Level::Warn, format!("{case_ref}: not delivered yet, will retry ({error})"))
                }
                Delivery::Failed { case_ref, error, .. } => notice(
                    state,
                    Level::Error,
                    format!("{case_ref}: the provider refused the decision; the case is back in the queue. {error}"),
                ),
            }
            vec![Effect::LoadQueue]
        }
        Action::DeliveryProblem(error) => {
            notice(state, Level::Error, format!("outbox: {error}"));
            vec![]
        }
        Action::Polled(report) => {
            if let Some((provider, error)) = report.failures.first() {
                notice(state, Level::Warn, format!("{provider}: {error}"));
            } else if report.new_cases > 0 {
                notice(state, Level::Info, format!("{} new case(s) in the queue", report.new_cases));
            }
            vec![Effect::LoadQueue]
        }
    }
}

fn on_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    match cmd {
        Command::Quit => {
            state.should_quit = true;
            vec![]
        }
        Command::Help => {
            state.help = !state.help;
            vec![]
        }
        Command::ToggleMask => {
            state.mask = !state.mask;
            vec![]
        }
        Command::Refresh => vec![Effect::Poll, Effect::LoadQueue],
        Command::Up => move_selection(state, -1),
        Command::Down => move_selection(state, 1),
        Command::PageUp if state.screen == Screen::Case => scroll(state, -10),
        Command::PageDown if state.screen == Screen::Case => scroll(state, 10),
        Command::PageUp => move_selection(state, -(page(state) as isize)),
        Command::PageDown => move_selection(state, page(state) as isize),
        Command::Top => move_selection(state, isize::MIN / 2),
        Command::Bottom => move_selection(state, isize::MAX / 2),
        Command::Open => open_selected(state),
        Command::Back => {
            state.screen = Screen::Queue;
            vec![]
        }
        Command::NextCase => {
            if state.selected + 1 < state.queue.len() {
                state.selected += 1;
                open_selected(state)
            } else {
                notice(state, Level::Info, "last case in the queue");
                vec![]
            }
        }
        Command::PrevCase => {
            if state.selected > 0 {
                state.selected -= 1;
                open_selected(state)
            } else {
                vec![]
            }
        }
        Command::NextImage => {
            state.image_index = state.image_index.wrapping_add(1);
            vec![]
        }
        Command::ScrollUp => scroll(state, -1),
        Command::ScrollDown => scroll(state, 1),
        Command::Decide => open_dialog(state),
        Command::DialogUp
        | Command::DialogDown
        | Command::DialogSelect
        | Command::DialogToggle
        | Command::DialogBack
        | Command::DialogConfirm
        | Command::DialogHotkey(_)
        | Command::Type(_) => dialog_command(state, cmd),
    }
}

fn page(state: &State) -> usize {
    usize::from(state.size.height.saturating_sub(6)).max(1)
}

fn scroll(state: &mut State, by: i32) -> Vec<Effect> {
    state.detail_scroll = (i32::from(state.detail_scroll) + by).clamp(0, i32::from(u16::MAX)) as u16;
    vec![]
}

fn move_selection(state: &mut State, by: isize) -> Vec<Effect> {
    if state.queue.is_empty() {
        return vec![];
    }
    state.selection_touched = true;
    let last = state.queue.len() - 1;
    state.selected = state.selected.saturating_add_signed(by).min(last);
    if state.screen == Screen::Case { open_selected(state) } else { vec![] }
}

fn open_selected(state: &mut State) -> Vec<Effect> {
    if state.selected_entry().is_none() {
        return vec![];
    }
    state.selection_touched = true;
    state.screen = Screen::Case;
    state.image_index = 0;
    state.detail_scroll = 0;
    fetch_around(state)
}

/// The cases worth holding: the open one first, then the ones ahead (prefetched), then
/// the one behind.
fn window(state: &State) -> Vec<CaseRef> {
    let sel = state.selected;
    let ahead = (sel..=sel + PREFETCH_AHEAD).filter(|i| *i < state.queue.len());
    let behind = sel.saturating_sub(KEEP_BEHIND)..sel;
    ahead.chain(behind).map(|i| state.queue[i].case_ref.clone()).collect()
}

fn fetch_around(state: &mut State) -> Vec<Effect> {
    let keep = window(state);
    state.cases.retain(|r, _| keep.contains(r));
    let mut effects = vec![];
    for r in &keep {
        if !state.cases.contains_key(r) {
            state.cases.insert(r.clone(), Loadable::Loading);
            effects.push(Effect::FetchCase(r.clone()));
        }
    }
    effects.extend(media_effects(state));
    effects
}

/// Media of the held cases that is neither loaded nor loading; drops the rest.
fn media_effects(state: &mut State) -> Vec<crate::app::Effect> {
    if !state.images_enabled {
        return vec![];
    }
    let area = layout::image_area(state.size);
    let mut wanted = vec![];
    for r in window(state) {
        if let Some(Loadable::Ready(case)) = state.cases.get(&r) {
            wanted.extend(case.media());
        }
    }
    state.media.retain(|m, _| wanted.contains(m));
    let mut effects = vec![];
    for media in wanted {
        if !state.media.contains_key(&media) && area.width > 0 && area.height > 0 {
            state.media.insert(media.clone(), Loadable::Loading);
            effects.push(Effect::FetchMedia { media, area });
        }
    }
    effects
}

fn open_dialog(state: &mut State) -> Vec<Effect> {
    let Some(case) = state.open_case() else {
        notice(state, Level::Warn, "the case is still loading");
        return vec![];
    };
    let decided = state.decided_hits.get(&case.case_ref);
    let targets: Vec<_> = case
        .targets
        .iter()
        .filter(|t| match &t.id {
            TargetId::Hit(h) | TargetId::Element(h) => !decided.is_some_and(|d| d.contains(h)),
            TargetId::Case => true,
        })
        .cloned()
        .collect();
    let mut reason = TextArea::default();
    reason.set_placeholder_text("Why? The provider and the audit log keep this text.");
    let single_target = targets.len() == 1;
    state.dialog = Some(DecisionDialog {
        case_ref: case.case_ref.clone(),
        applicant: case.applicant.name.clone(),
        targets,
        target_index: 0,
        verdict_index: 0,
        codes_index: 0,
        chosen_codes: BTreeSet::new(),
        reason,
        step: if single_target { DialogStep::Verdict } else { DialogStep::Target },
        error: None,
        saving: false,
    });
    vec![]
}

fn hotkey_verdict(c: char) -> Option<Verdict> {
    match c {
        'v' => Some(Verdict::Verify),
        'x' => Some(Verdict::Reject),
        'f' => Some(Verdict::Refer),
        's' => Some(Verdict::Resubmit),
        't' => Some(Verdict::TrueMatch),
        'o' => Some(Verdict::FalsePositive),
        _ => None,
    }
}

fn dialog_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    let max_chars = state
        .dialog
        .as_ref()
        .and_then(|d| state.capabilities.get(&d.case_ref.provider))
        .map(|c| c.max_reason_chars)
        .unwrap_or(usize::MAX);
    let evidence = evidence(state);
    let Some(dialog) = state.dialog.as_mut() else {
        return vec![];
    };
    if dialog.saving {
        return vec![];
    }
    dialog.error = None;
    let reject_codes =
        |d: &DecisionDialog| d.verdict().is_some_and(|v| d.target().is_some_and(|t| !t.choices(v).is_empty()));
    match (dialog.step, cmd) {
        (_, Command::DialogBack) => {
            dialog.step = match dialog.step {
                DialogStep::Target => {
                    state.dialog = None;
                    return vec![];
                }
                DialogStep::Verdict if dialog.targets.len() > 1 => DialogStep::Target,
                DialogStep::Verdict => {
                    state.dialog = None;
                    return vec![];
                }
                DialogStep::ReasonCodes => DialogStep::Verdict,
                DialogStep::Reason if reject_codes(dialog) => DialogStep::ReasonCodes,
                DialogStep::Reason => DialogStep::Verdict,
                DialogStep::Confirm => DialogStep::Reason,
            };
        }
        (DialogStep::Target, Command::DialogUp) => dialog.target_index = dialog.target_index.saturating_sub(1),
        (DialogStep::Target, Command::DialogDown) => {
            dialog.target_index = (dialog.target_index + 1).min(dialog.targets.len().saturating_sub(1))
        }
        (DialogStep::Target, Command::DialogSelect) => {
            dialog.verdict_index = 0;
            dialog.step = DialogStep::Verdict;
        }
        (DialogStep::Verdict, Command::DialogUp) => dialog.verdict_index = dialog.verdict_index.saturating_sub(1),
        (DialogStep::Verdict, Command::DialogDown) => {
            let n = dialog.target().map(|t| t.verdicts.len()).unwrap_or(0);
            dialog.verdict_index = (dialog.verdict_index + 1).min(n.saturating_sub(1));
        }
        (DialogStep::Verdict, Command::DialogHotkey(c)) => {
            let pos = hotkey_verdict(c).and_then(|v| dialog.target()?.verdicts.iter().position(|x| *x == v));
            match pos {
                Some(p) => {
                    dialog.verdict_index = p;
                    dialog.chosen_codes.clear();
                    dialog.codes_index = 0;
                    dialog.step = if reject_codes(dialog) { DialogStep::ReasonCodes } else { DialogStep::Reason };
                }
                None => dialog.error = Some("that verdict is not available here".into()),
            }
        }
        (DialogStep::Verdict, Command::DialogSelect) => {
            dialog.chosen_codes.clear();
            dialog.codes_index = 0;
            dialog.step = if reject_codes(dialog) { DialogStep::ReasonCodes } else { DialogStep::Reason };
        }
        (DialogStep::ReasonCodes, Command::DialogUp) => dialog.codes_index = dialog.codes_index.saturating_sub(1),
        (DialogStep::ReasonCodes, Command::DialogDown) => {
            let n = dialog.choices().len();
            dialog.codes_index = (dialog.codes_index + 1).min(n.saturating_sub(1));
        }
        (DialogStep::ReasonCodes, Command::DialogToggle) => {
            if let Some(code) = dialog.choices().get(dialog.codes_index).map(|r| r.code)
                && !dialog.chosen_codes.remove(code)
            {
                dialog.chosen_codes.insert(code);
            }
        }
        (DialogStep::ReasonCodes, Command::DialogSelect) => dialog.step = DialogStep::Reason,
        (DialogStep::Reason, Command::Type(key)) => {
            dialog.reason.input(key);
        }
        (DialogStep::Reason, Command::DialogSelect) => {
            let text = dialog.reason_text();
            let chars = text.chars().count();
            if text.is_empty() {
                dialog.error = Some("A reason is required: say why, in words the next reviewer can follow.".into());
            } else if chars > max_chars {
                dialog.error = Some(format!(
                    "The reason is {chars} characters; {} accepts at most {max_chars}. Shorten it.",
                    dialog.case_ref.provider.display_name()
                ));
            } else {
                dialog.step = DialogStep::Confirm;
            }
        }
        (DialogStep::Confirm, Command::DialogConfirm) => {
            let (Some(target), Some(verdict)) = (dialog.target().map(|t| t.id.clone()), dialog.verdict()) else {
                return vec![];
            };
            dialog.saving = true;
            let draft = DecisionDraft {
                case_ref: dialog.case_ref.clone(),
                target,
                verdict,
                reason: dialog.reason_text(),
                reason_codes: dialog.chosen_codes.iter().map(|c| c.to_string()).collect(),
            };
            return vec![Effect::SaveDecision { draft, evidence }];
        }
        _ => {}
    }
    vec![]
}

/// The images of the open case that were drawn, by hash.
fn evidence(state: &State) -> Evidence {
    let Some(case) = state.open_case() else {
        return Evidence::default();
    };
    let media_sha256 = case
        .media()
        .iter()
        .filter_map(|m| match state.media.get(m) {
            Some(Loadable::Ready(p)) => Some(p.sha256.clone()),
            _ => None,
        })
        .collect();
    Evidence { media_sha256 }
}
