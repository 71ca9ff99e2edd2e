//! The pure state machine: `update(state, action) -> effects`.

use super::command_line::{self, Typed};
use super::keymap::{Command, Context};
use super::{
    Action, BulkResults, DecisionDialog, DecisionDraft, DialogCase, DialogStep, Effect, ImageViewer, Level, Loadable,
    MadeDecision, Modal, Notice, OutboxView, Prompt, PromptKind, ResultState, Screen, State, Undo,
};
use crate::domain::{Case, CaseRef, DecisionTarget, Lane, MediaRef, ReasonCode, SafeText, TargetId, Verdict};
use crate::sender::Delivery;
use crate::store::{Evidence, OutboxState};
use crate::ui::plural;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui_textarea::{TextArea, WrapMode};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Cases kept around the selection: one behind, the open one and two ahead, prefetched.
const KEEP_BEHIND: usize = 1;

fn notice(state: &mut State, level: Level, text: impl Into<String>) {
    state.notice = Some(Notice { level, text: text.into(), masked: None, at: state.now });
}

/// A notice that names a case: mask mode shows it without the case's id.
fn notice_about(state: &mut State, level: Level, case_ref: &CaseRef, text: impl Fn(&str) -> String) {
    let masked = Some(text(&crate::ui::shown_ref(true, case_ref)));
    state.notice = Some(Notice { level, text: text(&case_ref.to_string()), masked, at: state.now });
}

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) => on_key(state, key),
        Action::Mouse(event) => on_mouse(state, event),
        Action::Paste(text) => on_paste(state, &text),
        Action::Resize { width, height, image_area, viewer_area } => {
            state.size = Rect::new(0, 0, width, height);
            let mut effects = vec![];
            if viewer_area != state.viewer_area {
                state.viewer_area = viewer_area;
                effects.extend(viewer_effects(state));
            }
            if image_area != state.image_area {
                state.image_area = image_area;
                // Re-encode what is on screen for the new size (bytes are cached by the job).
                state.media.clear();
                effects.extend(media_effects(state));
            }
            effects
        }
        Action::Tick(now) => {
            state.now = now;
            state.undo.retain(|u| u.until > now);
            if state.notice.as_ref().is_some_and(|n| now - n.at > n.lasts()) {
                state.notice = None;
            }
            vec![]
        }
        Action::QueueLoaded(Ok((entries, counts))) => {
            let current = state.selected_entry().map(|e| e.case_ref.clone()).filter(|_| state.selection_touched);
            state.queue = entries;
            state.counts = counts;
            state.queue_loaded = true;
            let decidable: BTreeSet<&CaseRef> =
                state.queue.iter().filter(|e| e.lane != Lane::Awaiting).map(|e| &e.case_ref).collect();
            state.marks.retain(|m| decidable.contains(m));
            rebuild_view(state);
            if let Some(c) = current {
                let still_here = state.view.rows.iter().any(|&i| state.queue[i].case_ref == c);
                if still_here {
                    select_case(state, &c);
                } else if state.screen == Screen::Case && state.dialog().is_none() {
                    // Never let another case slide in under the analyst's eyes.
                    state.screen = Screen::Queue;
                    notice(
                        state,
                        Level::Info,
                        format!("{c} left the queue (decided elsewhere, or settled by the provider)"),
                    );
                }
            }
            if state.view.rows.is_empty() && state.screen == Screen::Case && state.dialog().is_none() {
                state.screen = Screen::Queue;
            }
            if state.screen == Screen::Case { fetch_around(state) } else { vec![] }
        }
        Action::QueueRowsSkipped(skipped) => {
            // Said once when the count changes, not on every reload.
            if skipped.len() != state.skipped_rows.len()
                && let Some(first) = skipped.first()
            {
                let n = plural(skipped.len(), "unreadable queue row");
                notice(state, Level::Error, format!("{n} skipped (first: {first}); the rest of the queue is loaded"));
            }
            state.skipped_rows = skipped;
            vec![]
        }
        Action::QueueLoaded(Err(e)) => {
            notice(state, Level::Error, format!("cannot read the queue: {e}"));
            vec![]
        }
        Action::CaseLoaded(case_ref, result) => {
            if !state.cases.contains_key(&case_ref) {
                return vec![]; // evicted while loading
            }
            let mut effects = vec![];
            let loaded = match result {
                Ok(case) => {
                    let keys = crate::domain::identity::identity_keys(&case);
                    effects.push(Effect::RelateCase { case_ref: case_ref.clone(), keys });
                    Loadable::Ready(*case)
                }
                Err(e) => Loadable::Failed(SafeText::new(&e)),
            };
            state.cases.insert(case_ref, loaded);
            effects.extend(media_effects(state));
            effects.extend(prepare_dialog(state));
            effects
        }
        Action::DecisionsLoaded(case_ref, made) => {
            state.made.insert(case_ref, made);
            vec![]
        }
        Action::RelatedFound(refs) => refs
            .into_iter()
            .filter_map(|case_ref| match state.cases.get(&case_ref) {
                Some(Loadable::Ready(case)) => {
                    Some(Effect::RelateCase { keys: crate::domain::identity::identity_keys(case), case_ref })
                }
                _ => None,
            })
            .collect(),
        Action::RelatedLoaded(case_ref, result) => {
            match result {
                // Only for a case still held: one evicted meanwhile is looked up again on return.
                Ok(related) if state.cases.contains_key(&case_ref) => {
                    state.related.insert(case_ref, related);
                }
                Ok(_) => {}
                Err(e) => notice(state, Level::Warn, format!("related cases of {case_ref} not looked up: {e}")),
            }
            vec![]
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
        Action::ViewerLoaded { media, turns, result } => {
            if let Some(Modal::Image(v)) = state.modals.iter_mut().rev().find(|m| matches!(m, Modal::Image(_))) {
                let shown = v.turns == turns && viewed_media(&state.cases, v).as_ref() == Some(&media);
                if shown {
                    v.picture = match result {
                        Ok(p) => Loadable::Ready(p),
                        Err(e) => Loadable::Failed(SafeText::new(&e)),
                    };
                }
            }
            vec![]
        }
        Action::DecisionsSaved { decisions, send_after } => on_saved(state, decisions, send_after),
        Action::DecisionNotSaved(error) => {
            match dialog_mut(state) {
                Some(dialog) => {
                    dialog.saving = false;
                    dialog.error = Some(format!("Not saved: {error}"));
                }
                None => notice(state, Level::Error, format!("Not saved: {error}")),
            }
            vec![]
        }
        Action::Withdrawn { decision_ids, result: Ok(cases) } => {
            for made in state.made.values_mut() {
                made.retain(|m| !decision_ids.contains(&m.decision_id));
            }
            set_results(state, &cases, ResultState::Withdrawn);
            state.counts.saved = state.counts.saved.saturating_sub(cases.len() as u64);
            notice(state, Level::Info, format!("Undone: {} back in the queue.", plural(cases.len(), "case")));
            if let Some(first) = cases.first() {
                state.selection_touched = true;
                let back: HashSet<&CaseRef> = cases.iter().collect();
                for e in state.queue.iter_mut().filter(|e| back.contains(&e.case_ref)) {
                    e.lane =
                        if e.status == crate::domain::QueueStatus::Escalated { Lane::Escalated } else { Lane::New };
                }
                rebuild_view(state);
                select_case(state, first);
            }
            vec![Effect::LoadQueue]
        }
        Action::Withdrawn { result: Err(e), .. } => {
            notice(state, Level::Error, format!("Not undone: {e}"));
            vec![Effect::LoadQueue]
        }
        Action::Delivered(delivery) => {
            let (case_ref, result) = match &delivery {
                Delivery::Sent { case_ref, .. } => {
                    notice_about(state, Level::Info, case_ref, |r| format!("Delivered to the provider: {r}"));
                    (case_ref.clone(), ResultState::Sent)
                }
                Delivery::Escalated { case_ref, .. } => {
                    let provider = case_ref.provider.display_name();
                    notice_about(state, Level::Info, case_ref, |r| {
                        format!("Escalated locally (nothing sent to {provider}): {r}")
                    });
                    (case_ref.clone(), ResultState::Escalated)
                }
                Delivery::WillRetry { case_ref, error, .. } => {
                    let error = SafeText::new(error);
                    notice_about(state, Level::Warn, case_ref, |r| {
                        format!("{r}: not delivered yet, will retry ({})", error.one_line())
                    });
                    (case_ref.clone(), ResultState::Retrying(error))
                }
                Delivery::Failed { case_ref, error, .. } => {
                    let error = SafeText::new(error);
                    notice_about(state, Level::Error, case_ref, |r| {
                        format!(
                            "{r}: the provider refused the decision; it is in the refused lane. {}",
                            error.one_line()
                        )
                    });
                    (case_ref.clone(), ResultState::Refused(error))
                }
            };
            let made_state = match &result {
                ResultState::Sent | ResultState::Escalated => Some((OutboxState::Sent, None)),
                ResultState::Refused(e) => Some((OutboxState::Failed, Some(e.clone()))),
                ResultState::Retrying(e) => Some((OutboxState::Saved, Some(e.clone()))),
                _ => None,
            };
            if let (Some((s, err)), Some(made)) = (made_state, state.made.get_mut(&case_ref)) {
                for m in made.iter_mut().filter(|m| matches!(m.state, OutboxState::Saved | OutboxState::Sending)) {
                    m.state = s;
                    m.error = err.clone();
                }
            }
            // The counts follow at once; the queue read that follows confirms them.
            match &result {
                ResultState::Sent => state.counts.sent += 1,
                ResultState::Escalated => state.counts.escalated += 1,
                ResultState::Refused(_) => state.counts.failed += 1,
                _ => {}
            }
            if !matches!(result, ResultState::Retrying(_)) {
                state.counts.saved = state.counts.saved.saturating_sub(1);
            }
            set_results(state, std::slice::from_ref(&case_ref), result);
            state.undo.retain(|u| !u.cases.contains(&case_ref));
            vec![Effect::LoadQueue]
        }
        Action::DeliveryProblem(error) => {
            notice(state, Level::Error, format!("outbox: {error}"));
            vec![]
        }
        Action::Polled(report) => {
            if let Some((provider, error)) = report.failures.first() {
                notice(state, Level::Warn, format!("{provider}: {error}"));
            } else if let Some((provider, reason)) = report.dropped.first() {
                let count = report.dropped.len();
                notice(state, Level::Warn, format!("{provider}: {count} case(s) left out, bad id: {reason}"));
            }
            vec![Effect::LoadQueue]
        }
        Action::OutboxLoaded(result) => {
            if let Some(Modal::Outbox(view)) = state.modals.iter_mut().rev().find(|m| matches!(m, Modal::Outbox(_))) {
                view.rows = match result {
                    Ok(rows) => Loadable::Ready(rows),
                    Err(e) => Loadable::Failed(SafeText::new(&e)),
                };
                let len = match &view.rows {
                    Loadable::Ready(r) => r.len(),
                    _ => 0,
                };
                view.selected = view.selected.min(len.saturating_sub(1));
            }
            vec![]
        }
        Action::OutboxChanged(result) => {
            match result {
                Ok(text) => notice(state, Level::Info, text),
                Err(e) => notice(state, Level::Error, e),
            }
            vec![Effect::LoadOutbox, Effect::LoadQueue]
        }
        Action::Opened(Ok(case_ref)) => {
            notice_about(state, Level::Info, &case_ref, |r| format!("{r} is in the queue"));
            if let Some(pos) = state.view.rows.iter().position(|&i| state.queue[i].case_ref == case_ref) {
                state.selected = pos;
                return open_selected(state);
            }
            state.pending_open = Some(case_ref);
            vec![Effect::LoadQueue]
        }
        Action::Opened(Err(e)) => {
            notice(state, Level::Error, format!("cannot open: {e}"));
            vec![]
        }
    }
}

fn rebuild_view(state: &mut State) {
    state.view.rebuild(&state.queue);
    if let Some(c) = state.pending_open.take() {
        if state.queue.iter().any(|e| e.case_ref == c) {
            select_case(state, &c);
            state.screen = Screen::Case;
        } else {
            state.pending_open = Some(c);
        }
    }
    state.selected = state.selected.min(state.view.rows.len().saturating_sub(1));
}

fn select_case(state: &mut State, case_ref: &CaseRef) {
    if let Some(pos) = state.view.rows.iter().position(|&i| state.queue[i].case_ref == *case_ref) {
        state.selected = pos;
    }
}

// ---------------------------------------------------------------------------------
// keys

/// The mouse, when enabled (`mouse = true`): the wheel does what the arrow keys do
/// where the pointer is; a click on a queue row selects it, a click on the selected
/// row opens it.
fn on_mouse(state: &mut State, event: crossterm::event::MouseEvent) -> Vec<Effect> {
    use crossterm::event::{MouseButton, MouseEventKind};
    let context = state.context();
    let step = |down: bool| match context {
        Context::Case | Context::Help => Some(if down { Command::ScrollDown } else { Command::ScrollUp }),
        Context::Queue | Context::Dialog | Context::Outbox => Some(if down { Command::Down } else { Command::Up }),
        _ => None,
    };
    match event.kind {
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => match step(event.kind == MouseEventKind::ScrollDown) {
            Some(cmd) => on_command(state, context, cmd),
            None => vec![],
        },
        MouseEventKind::Down(MouseButton::Left) if context == Context::Queue => {
            let body = crate::ui::layout::frame(state.size).body;
            let Some(line) = event.row.checked_sub(body.y + crate::ui::queue::FIRST_LINE) else { return vec![] };
            let lines = crate::ui::queue::visible_lines(state, body);
            match lines.get(usize::from(line)) {
                Some(crate::ui::queue::QueueLine::Case(pos)) if *pos == state.selected => {
                    on_command(state, context, Command::Open)
                }
                Some(crate::ui::queue::QueueLine::Case(pos)) => {
                    let by = *pos as isize - state.selected as isize;
                    move_selection(state, by)
                }
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    // Two Esc presses in quick succession reach the program as one Alt-Esc.
    if key.code == KeyCode::Esc && key.modifiers.contains(KeyModifiers::ALT) {
        let single = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
        let mut effects = on_key(state, single);
        effects.extend(on_key(state, single));
        return effects;
    }
    // While the dialog's cases load, keys are kept for it (Esc cancels, Ctrl-C quits).
    if let Some(Modal::Decision(d)) = state.modals.last_mut()
        && d.step == DialogStep::Loading
    {
        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c {
            state.should_quit = true;
        } else if key.code == KeyCode::Esc {
            state.modals.pop();
        } else {
            d.typed_ahead.push(key);
        }
        return vec![];
    }
    let context = state.context();
    let cmd = state.settings.keys.lookup(context, &key);
    // Nothing is drawn but the "too small" notice: a key must not act unseen.
    let (min_w, min_h) = crate::ui::MIN_SIZE;
    if (state.size.width < min_w || state.size.height < min_h) && cmd != Some(Command::QuitNow) {
        return vec![];
    }
    match cmd {
        Some(cmd) => on_command(state, context, cmd),
        None => on_unbound(state, context, key),
    }
}

/// Keys no row binds: typing into an editor, a template's key.
fn on_unbound(state: &mut State, context: Context, key: KeyEvent) -> Vec<Effect> {
    match context {
        Context::Reason => {
            // The reason goes to the provider and the audit log: printable text only
            // (Enter makes the newlines; a raw ESC, BEL or OSC byte never gets in).
            if let KeyCode::Char(c) = key.code
                && !crate::domain::sanitize::is_typable(c)
            {
                return vec![];
            }
            if let Some(d) = dialog_mut(state) {
                d.error = None;
                d.reason.input(key);
            }
            vec![]
        }
        Context::Prompt => {
            let Some(Modal::Prompt(p)) = state.modals.last_mut() else { return vec![] };
            match key.code {
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => p.text.clear(),
                KeyCode::Char(c) if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
                    p.text.push(c)
                }
                KeyCode::Backspace => {
                    p.text.pop();
                }
                _ => return vec![],
            }
            prompt_changed(state)
        }
        Context::Templates => match key.code {
            KeyCode::Char(c) => insert_template(state, c),
            _ => vec![],
        },
        _ => vec![],
    }
}

fn on_paste(state: &mut State, text: &str) -> Vec<Effect> {
    // Pasted text is untrusted like any other input: only printable text and newlines.
    let clean = crate::domain::sanitize::typable(text);
    match state.context() {
        Context::Reason => {
            if let Some(d) = dialog_mut(state) {
                d.error = None;
                d.reason.insert_str(clean);
            }
            vec![]
        }
        Context::Prompt => {
            if let Some(Modal::Prompt(p)) = state.modals.last_mut() {
                p.text.push_str(&clean.replace('\n', " "));
            }
            prompt_changed(state)
        }
        _ => vec![],
    }
}

fn on_command(state: &mut State, context: Context, cmd: Command) -> Vec<Effect> {
    if cmd != Command::Quit && matches!(context, Context::Queue | Context::Case) {
        state.quit_armed = false;
    }
    match (cmd, context) {
        (Command::QuitNow, _) => {
            state.should_quit = true;
            vec![]
        }
        (Command::Quit, _) => quit(state),
        (Command::Help, Context::Help) => {
            state.modals.pop();
            vec![]
        }
        (Command::Help, _) => {
            state.modals.push(Modal::Help { scroll: 0 });
            vec![]
        }
        (Command::ToggleMask, _) => {
            state.mask = !state.mask;
            vec![]
        }
        (Command::CommandLine, _) => {
            state.modals.push(Modal::Prompt(Prompt {
                kind: PromptKind::Command,
                text: String::new(),
                decision_id: None,
            }));
            vec![]
        }
        (Command::Refresh, _) => vec![Effect::Poll, Effect::LoadQueue],
        (Command::Decide, _) => decide(state),
        (Command::Undo, _) => undo(state),
        (_, Context::Queue) => queue_command(state, cmd),
        (_, Context::Case) => case_command(state, cmd),
        (_, Context::Dialog | Context::Reason | Context::Templates | Context::Confirm) => dialog_command(state, cmd),
        (_, Context::Prompt) => prompt_command(state, cmd),
        (_, Context::Outbox) => outbox_command(state, cmd),
        (_, Context::Viewer) => viewer_command(state, cmd),
        (_, Context::Help) => {
            let furthest = i32::from(crate::ui::help::max_scroll(state));
            if let Some(Modal::Help { scroll }) = state.modals.last_mut() {
                let to = match cmd {
                    Command::ScrollDown => i32::from(*scroll) + 1,
                    Command::ScrollUp => i32::from(*scroll) - 1,
                    Command::PageDown => i32::from(*scroll) + 10,
                    Command::PageUp => i32::from(*scroll) - 10,
                    Command::Top => 0,
                    Command::Bottom => furthest,
                    _ => i32::from(*scroll),
                };
                *scroll = u16::try_from(to.clamp(0, furthest)).unwrap_or(0);
            }
            if cmd == Command::Close {
                state.modals.pop();
            }
            vec![]
        }
        (Command::Close, Context::Results) => {
            state.modals.pop();
            vec![]
        }
        _ => vec![],
    }
}

fn queue_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    match cmd {
        Command::Up => move_selection(state, -1),
        Command::Down => move_selection(state, 1),
        Command::PageUp => move_selection(state, -(page(state) as isize)),
        Command::PageDown => move_selection(state, page(state) as isize),
        Command::Top => move_selection(state, isize::MIN / 2),
        Command::Bottom => move_selection(state, isize::MAX / 2),
        Command::Open => open_selected(state),
        Command::Filter => {
            let text = state.view.filter.clone();
            state.modals.push(Modal::Prompt(Prompt { kind: PromptKind::Filter, text, decision_id: None }));
            vec![]
        }
        Command::Mark => {
            let Some(entry) = state.selected_entry() else { return vec![] };
            let (case_ref, lane) = (entry.case_ref.clone(), entry.lane);
            if lane == Lane::Awaiting {
                notice(state, Level::Warn, "already decided: it waits for delivery (u undoes it while it can)");
            } else if !state.marks.remove(&case_ref) {
                state.marks.insert(case_ref.clone());
                state.mark_anchor = Some(case_ref);
            }
            move_selection(state, 1)
        }
        Command::MarkRange if state.view.rows.is_empty() => vec![],
        Command::MarkRange => {
            let anchor = state
                .mark_anchor
                .as_ref()
                .and_then(|a| state.view.rows.iter().position(|&i| state.queue[i].case_ref == *a));
            let (from, to) = match anchor {
                Some(a) => (a.min(state.selected), a.max(state.selected)),
                None => (state.selected, state.selected),
            };
            let n = mark_rows(state, from..to.min(state.view.rows.len().saturating_sub(1)) + 1);
            if let Some(e) = state.selected_entry() {
                state.mark_anchor = Some(e.case_ref.clone());
            }
            notice(state, Level::Info, format!("{} marked ({} in all)", plural(n, "case"), state.marks.len()));
            vec![]
        }
        Command::NextGroup | Command::PrevGroup => {
            let starts: Vec<usize> = state.view.groups.iter().map(|g| g.start).collect();
            let target = if cmd == Command::NextGroup {
                starts.iter().copied().find(|s| *s > state.selected)
            } else {
                starts.iter().copied().rev().find(|s| *s < state.selected)
            };
            match target {
                Some(pos) => {
                    state.selected_touched_to(pos);
                }
                None => notice(state, Level::Info, "no more groups that way"),
            }
            vec![]
        }
        Command::MarkGroup => {
            let Some(group) = state.view.group_at(state.selected).cloned() else { return vec![] };
            let n = mark_rows(state, group.start..group.start + group.len);
            let hint = state.settings.keys.key_label(Context::Screens, Command::Decide);
            let label = if group.label.is_empty() { group.lane.label().to_string() } else { group.label.clone() };
            let them = if n == 1 { "it" } else { "them" };
            notice(state, Level::Info, format!("{} marked ({label}): {hint} decides {them}", plural(n, "case")));
            vec![]
        }
        Command::MarkAll => {
            let n = mark_rows(state, 0..state.view.rows.len());
            let hint = state.settings.keys.key_label(Context::Screens, Command::Decide);
            if n == 0 {
                notice(state, Level::Warn, "nothing to mark: no case shown can be decided");
            } else {
                let them = if n == 1 { "it" } else { "them all" };
                notice(state, Level::Info, format!("{} marked: {hint} decides {them}", plural(n, "case")));
            }
            vec![]
        }
        Command::Clear => {
            if !state.marks.is_empty() {
                state.marks.clear();
                state.mark_anchor = None;
                notice(state, Level::Info, "marks cleared");
            } else if state.view.is_filtered() {
                set_filter(state, "");
            }
            vec![]
        }
        _ => vec![],
    }
}

/// Marks the cases shown at these view positions that can still be decided (not those
/// awaiting delivery); returns how many.
fn mark_rows(state: &mut State, positions: std::ops::Range<usize>) -> usize {
    let rows = state.view.rows.get(positions).unwrap_or(&[]);
    let refs: Vec<CaseRef> = rows
        .iter()
        .map(|&i| &state.queue[i])
        .filter(|e| e.lane != Lane::Awaiting)
        .map(|e| e.case_ref.clone())
        .collect();
    let n = refs.len();
    state.marks.extend(refs);
    n
}

fn case_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    match cmd {
        Command::Back => {
            state.screen = Screen::Queue;
            vec![]
        }
        Command::NextCase => {
            if state.selected + 1 < state.view.rows.len() {
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
        Command::WholeValues => {
            state.whole_values = !state.whole_values;
            vec![]
        }
        Command::Zoom => {
            let Some(case) = state.open_case() else {
                notice(state, Level::Info, "the case is still loading");
                return vec![];
            };
            let media = case.media();
            if media.is_empty() {
                notice(state, Level::Info, "this case has no image");
                return vec![];
            }
            let sides = case.documents.iter().map(|d| d.sides.len()).sum::<usize>();
            // The document side the upper pane shows, else the first image.
            let index = if sides > 0 { state.image_index % sides } else { 0 };
            let case_ref = case.case_ref.clone();
            state.modals.push(Modal::Image(ImageViewer { case_ref, index, turns: 0, picture: Loadable::Loading }));
            viewer_effects(state)
        }
        Command::ScrollUp => scroll(state, -1),
        Command::ScrollDown => scroll(state, 1),
        Command::PageUp => scroll(state, -10),
        Command::PageDown => scroll(state, 10),
        _ => vec![],
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
    if state.view.rows.is_empty() {
        return vec![];
    }
    state.selection_touched = true;
    let last = state.view.rows.len() - 1;
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

// ---------------------------------------------------------------------------------
// filter and command line

fn set_filter(state: &mut State, text: &str) {
    let current = state.selected_entry().map(|e| e.case_ref.clone());
    state.view.set_filter(text, &state.queue);
    state.selected = 0;
    let keep = text.is_empty() || state.screen == Screen::Case;
    if let Some(c) = current.filter(|_| keep) {
        let still_shown = state.view.rows.iter().any(|&i| state.queue[i].case_ref == c);
        if still_shown {
            select_case(state, &c);
        } else if state.screen == Screen::Case {
            state.screen = Screen::Queue;
        }
    }
}

fn prompt_changed(state: &mut State) -> Vec<Effect> {
    if let Some(Modal::Prompt(Prompt { kind: PromptKind::Filter, text, .. })) = state.modals.last() {
        let text = text.clone();
        set_filter(state, &text);
    }
    vec![]
}

fn prompt_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    let Some(Modal::Prompt(prompt)) = state.modals.last_mut() else { return vec![] };
    match (prompt.kind, cmd) {
        (PromptKind::Command, Command::Complete) => {
            let before = prompt.text.clone();
            prompt.text = command_line::complete(&before);
            if prompt.text == before {
                let options = command_line::candidates(&before);
                if !options.is_empty() {
                    notice(state, Level::Info, format!("one of: {}", options.join(" ")));
                }
            }
            vec![]
        }
        (PromptKind::Filter, Command::Cancel) => {
            state.modals.pop();
            set_filter(state, "");
            vec![]
        }
        (_, Command::Cancel) => {
            state.modals.pop();
            vec![]
        }
        (PromptKind::Filter, Command::Select) => {
            state.modals.pop();
            let n = state.view.rows.len();
            if state.view.is_filtered() {
                notice(state, Level::Info, format!("filter kept: {} of {}", n, state.queue.len()));
            }
            vec![]
        }
        (PromptKind::Command, Command::Select) => {
            let text = prompt.text.clone();
            state.modals.pop();
            match command_line::parse(&text) {
                Ok(typed) => run_typed(state, typed),
                Err(e) => {
                    notice(state, Level::Warn, e);
                    vec![]
                }
            }
        }
        (PromptKind::DropReason, Command::Select) => {
            let reason = prompt.text.trim().to_string();
            if reason.is_empty() {
                notice(state, Level::Warn, "say why the decision is dropped; the audit log keeps it");
                return vec![];
            }
            let decision_id = prompt.decision_id.clone().unwrap_or_default();
            state.modals.pop();
            vec![Effect::DropDecision { decision_id, reason }]
        }
        _ => vec![],
    }
}

fn run_typed(state: &mut State, typed: Typed) -> Vec<Effect> {
    match typed {
        Typed::Open(case_ref) => {
            if !state.capabilities.contains_key(&case_ref.provider) {
                notice(state, Level::Warn, format!("{} is not configured", case_ref.provider.display_name()));
                return vec![];
            }
            notice_about(state, Level::Info, &case_ref, |r| format!("fetching {r}…"));
            vec![Effect::OpenById(case_ref)]
        }
        Typed::Filter(text) => {
            set_filter(state, &text);
            vec![]
        }
        Typed::Sort(sort) => {
            state.view.sort = sort;
            regroup(state);
            notice(state, Level::Info, format!("sorted by {} within each lane", sort.name()));
            vec![]
        }
        Typed::Group(group) => {
            state.view.group = group;
            regroup(state);
            let text = match group {
                Some(g) => format!("grouped by {}", g.name()),
                None => "not grouped".to_string(),
            };
            notice(state, Level::Info, text);
            vec![]
        }
        Typed::Mask => {
            state.mask = !state.mask;
            vec![]
        }
        Typed::Shades => {
            state.grey_images = !state.grey_images;
            let text = match (state.theme().colours(), state.grey_images) {
                (true, _) => "images are in colour here (greys are for terminals without colours)",
                (false, true) => "images in greys",
                (false, false) => "images as placeholders",
            };
            notice(state, Level::Info, text);
            // Decoded again in the new way.
            state.media.clear();
            let mut effects = media_effects(state);
            effects.extend(viewer_effects(state));
            effects
        }
        Typed::ReadOnly => {
            if state.settings.read_only {
                notice(state, Level::Info, "read-only: set by the config or --read-only for this session");
            } else {
                state.read_only = !state.read_only;
                let text = if state.read_only { "read-only: decisions are off" } else { "decisions are on again" };
                notice(state, Level::Info, text);
            }
            vec![]
        }
        Typed::Help => {
            state.modals.push(Modal::Help { scroll: 0 });
            vec![]
        }
        Typed::Outbox => {
            state.modals.push(Modal::Outbox(OutboxView { rows: Loadable::Loading, selected: 0 }));
            vec![Effect::LoadOutbox]
        }
        Typed::Quit => quit(state),
    }
}

/// Quits, unless decisions still wait to be sent: then it says so first, and the same
/// key again quits (they go out at the next start).
fn quit(state: &mut State) -> Vec<Effect> {
    let waiting = state.counts.saved;
    if waiting == 0 || state.quit_armed {
        state.should_quit = true;
        return vec![];
    }
    state.quit_armed = true;
    let key = state.settings.keys.key_label(Context::Screens, Command::Quit);
    notice(
        state,
        Level::Warn,
        format!(
            "{} not sent yet (grace period or retrying): they go out at the next start or with `kycdesk send`. {key} again quits.",
            plural(waiting as usize, "decision")
        ),
    );
    vec![]
}

fn regroup(state: &mut State) {
    let current = state.selected_entry().map(|e| e.case_ref.clone()).filter(|_| state.selection_touched);
    rebuild_view(state);
    state.selected = 0;
    if let Some(c) = current {
        select_case(state, &c);
    }
}

/// The media a viewer shows, while its case is held.
fn viewed_media(cases: &HashMap<CaseRef, Loadable<crate::domain::Case>>, v: &ImageViewer) -> Option<MediaRef> {
    match cases.get(&v.case_ref) {
        Some(Loadable::Ready(case)) => {
            let media = case.media();
            (!media.is_empty()).then(|| media[v.index % media.len()].clone())
        }
        _ => None,
    }
}

/// Asks for the viewer's picture at the viewer's size and turn.
fn viewer_effects(state: &mut State) -> Vec<Effect> {
    let area = state.viewer_area;
    let drawn = state.pictures_drawn();
    let grey = state.grey();
    let Some(Modal::Image(v)) = state.modals.iter_mut().rev().find(|m| matches!(m, Modal::Image(_))) else {
        return vec![];
    };
    let Some(media) = viewed_media(&state.cases, v) else { return vec![] };
    if !drawn || area.width == 0 || area.height == 0 {
        return vec![];
    }
    v.picture = Loadable::Loading;
    vec![Effect::FetchViewerImage { media, area, turns: v.turns, grey }]
}

fn viewer_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    let Some(Modal::Image(v)) = state.modals.last_mut() else { return vec![] };
    match cmd {
        Command::Close => {
            state.modals.pop();
            vec![]
        }
        Command::NextImage => {
            v.index = v.index.wrapping_add(1);
            v.turns = 0;
            viewer_effects(state)
        }
        Command::Rotate => {
            v.turns = (v.turns + 1) % 4;
            viewer_effects(state)
        }
        _ => vec![],
    }
}

fn outbox_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    let Some(Modal::Outbox(view)) = state.modals.last_mut() else { return vec![] };
    let rows = match &view.rows {
        Loadable::Ready(rows) => rows.as_slice(),
        _ => &[],
    };
    match cmd {
        Command::Down => view.selected = (view.selected + 1).min(rows.len().saturating_sub(1)),
        Command::Up => view.selected = view.selected.saturating_sub(1),
        Command::Close => {
            state.modals.pop();
        }
        Command::Retry => match rows.get(view.selected) {
            Some(row) if row.state == OutboxState::Failed => {
                return vec![Effect::RetryDecision(row.decision.id.clone())];
            }
            Some(_) => notice(state, Level::Warn, "only a refused decision can be sent again"),
            None => {}
        },
        Command::Drop => match rows.get(view.selected) {
            Some(row) if matches!(row.state, OutboxState::Failed | OutboxState::Saved) => {
                let id = row.decision.id.clone();
                state.modals.push(Modal::Prompt(Prompt {
                    kind: PromptKind::DropReason,
                    text: String::new(),
                    decision_id: Some(id),
                }));
            }
            Some(_) => notice(state, Level::Warn, "only a refused or waiting decision can be dropped"),
            None => {}
        },
        _ => {}
    }
    vec![]
}

// ---------------------------------------------------------------------------------
// prefetch

/// The cases worth holding: the open one first, then the ones ahead (prefetched), then
/// the one behind. Prefetch off holds the open case only.
fn window(state: &State) -> Vec<CaseRef> {
    let sel = state.selected;
    let rows = &state.view.rows;
    let prefetch = state.settings.prefetch;
    let ahead = (sel..=sel + prefetch).filter(|i| *i < rows.len());
    let behind = sel.saturating_sub(if prefetch == 0 { 0 } else { KEEP_BEHIND })..sel;
    ahead.chain(behind).map(|i| state.queue[rows[i]].case_ref.clone()).collect()
}

/// What is still loading among `which`: fetches to stop when it is let go.
fn still_loading<K: Clone, V>(map: &HashMap<K, Loadable<V>>, which: impl Fn(&K) -> bool) -> Vec<K> {
    map.iter().filter(|(k, v)| matches!(v, Loadable::Loading) && which(k)).map(|(k, _)| k.clone()).collect()
}

fn fetch_around(state: &mut State) -> Vec<Effect> {
    let keep = window(state);
    let in_dialog: Vec<CaseRef> =
        state.dialog().map(|d| d.cases.iter().map(|c| c.case_ref.clone()).collect()).unwrap_or_default();
    let held = |r: &CaseRef| keep.contains(r) || in_dialog.contains(r);
    let left = still_loading(&state.cases, |r| !held(r));
    state.cases.retain(|r, _| held(r));
    state.made.retain(|r, _| held(r));
    state.related.retain(|r, _| held(r));
    let mut effects = vec![];
    for (i, r) in keep.iter().enumerate() {
        if !state.cases.contains_key(r) {
            state.cases.insert(r.clone(), Loadable::Loading);
            // The first is the open case.
            effects.push(if i == 0 { Effect::FetchCase(r.clone()) } else { Effect::Prefetch(r.clone()) });
        }
    }
    if !left.is_empty() {
        effects.push(Effect::Cancel { cases: left, media: vec![] });
    }
    effects.extend(media_effects(state));
    effects
}

/// Media of the held cases that is neither loaded nor loading; drops the rest, and
/// stops the fetches of what is dropped while loading.
fn media_effects(state: &mut State) -> Vec<Effect> {
    if !state.pictures_drawn() {
        return vec![];
    }
    let area = state.image_area;
    let mut wanted = vec![];
    for (i, r) in window(state).into_iter().enumerate() {
        if let Some(Loadable::Ready(case)) = state.cases.get(&r) {
            wanted.extend(case.media().into_iter().map(|m| (m, i > 0)));
        }
    }
    let is_wanted = |m: &MediaRef| wanted.iter().any(|(w, _)| w == m);
    let left = still_loading(&state.media, |m| !is_wanted(m));
    state.media.retain(|m, _| is_wanted(m));
    let mut effects = vec![];
    if !left.is_empty() {
        effects.push(Effect::Cancel { cases: vec![], media: left });
    }
    for (media, ahead) in wanted {
        if !state.media.contains_key(&media) && area.width > 0 && area.height > 0 {
            state.media.insert(media.clone(), Loadable::Loading);
            effects.push(Effect::FetchMedia { media, area, grey: state.grey(), ahead });
        }
    }
    effects
}

// ---------------------------------------------------------------------------------
// decisions

/// Decisions that still stand on a target (not refused, withdrawn or dropped).
fn standing(made: Option<&Vec<MadeDecision>>, target: &TargetId) -> bool {
    made.is_some_and(|m| {
        m.iter().any(|d| {
            d.target == *target && matches!(d.state, OutboxState::Saved | OutboxState::Sending | OutboxState::Sent)
        })
    })
}

fn undecided_targets(state: &State, case: &crate::domain::Case) -> Vec<DecisionTarget> {
    let made = state.made.get(&case.case_ref);
    case.targets.iter().filter(|t| !standing(made, &t.id)).cloned().collect()
}

fn decide(state: &mut State) -> Vec<Effect> {
    if state.read_only {
        notice(state, Level::Warn, "read-only: decisions are off in this session");
        return vec![];
    }
    let cases: Vec<CaseRef> = if state.marks.is_empty() {
        match state.selected_entry() {
            Some(e) if e.lane == Lane::Awaiting => {
                notice(
                    state,
                    Level::Warn,
                    "already decided: it waits for delivery (u undoes it while it can; :outbox shows it)",
                );
                return vec![];
            }
            Some(e) => vec![e.case_ref.clone()],
            None => {
                notice(state, Level::Warn, "no case to decide here");
                return vec![];
            }
        }
    } else {
        // The marked cases shown, in the order shown. Marks the filter hides are not
        // decided unseen: the dialog lists them as left out.
        state
            .view
            .rows
            .iter()
            .map(|&i| &state.queue[i].case_ref)
            .filter(|r| state.marks.contains(*r))
            .cloned()
            .collect()
    };
    let shown: HashSet<&CaseRef> = cases.iter().collect();
    let mut hidden: Vec<(CaseRef, String)> = state
        .marks
        .iter()
        .filter(|m| !shown.contains(m))
        .map(|m| (m.clone(), "marked but hidden by the filter: not decided".to_string()))
        .collect();
    hidden.sort();
    if cases.is_empty() {
        notice(
            state,
            Level::Warn,
            format!("the {} marked are all hidden by the filter (Esc clears it)", plural(hidden.len(), "case")),
        );
        return vec![];
    }
    let mut effects = vec![];
    for r in &cases {
        if !state.cases.contains_key(r) {
            state.cases.insert(r.clone(), Loadable::Loading);
            effects.push(Effect::FetchCase(r.clone()));
        }
    }
    let by_ref: HashMap<&CaseRef, &crate::domain::QueueEntry> = state.queue.iter().map(|e| (&e.case_ref, e)).collect();
    let applicant = |r: &CaseRef| by_ref.get(r).map(|e| e.applicant.clone()).unwrap_or_default();
    let dialog_cases = cases
        .iter()
        .map(|r| DialogCase { case_ref: r.clone(), applicant: applicant(r), open_targets: 0, flagged: false })
        .collect();
    let mut reason = TextArea::default();
    reason.set_placeholder_text("Why? The provider and the audit log keep this text.");
    reason.set_wrap_mode(WrapMode::Word);
    state.modals.push(Modal::Decision(Box::new(DecisionDialog {
        cases: dialog_cases,
        left_out: hidden,
        targets: vec![],
        target_index: 0,
        verdict_index: 0,
        codes_index: 0,
        chosen_codes: BTreeSet::new(),
        reason,
        step: DialogStep::Loading,
        error: None,
        saving: false,
        typed_ahead: vec![],
        max_chars: usize::MAX,
    })));
    effects.extend(prepare_dialog(state));
    effects
}

fn dialog_mut(state: &mut State) -> Option<&mut DecisionDialog> {
    state.modals.iter_mut().rev().find_map(|m| match m {
        Modal::Decision(d) => Some(d.as_mut()),
        _ => None,
    })
}

fn close_dialog(state: &mut State) {
    if let Some(pos) = state.modals.iter().rposition(|m| matches!(m, Modal::Decision(_))) {
        state.modals.remove(pos);
    }
}

/// Once every case of a loading dialog is here: its targets and verdicts, then the keys
/// typed meanwhile.
fn prepare_dialog(state: &mut State) -> Vec<Effect> {
    let Some(dialog) = state.dialog() else { return vec![] };
    if dialog.step != DialogStep::Loading {
        return vec![];
    }
    let refs: Vec<CaseRef> = dialog.cases.iter().map(|c| c.case_ref.clone()).collect();
    if refs.iter().any(|r| matches!(state.cases.get(r), Some(Loadable::Loading) | None)) {
        return vec![];
    }
    let single = refs.len() == 1;
    let today = state.now.date_naive();
    let flagged = |case: &Case| !crate::domain::flags::evidence_flags(case, today).is_empty();
    let mut included = vec![];
    let mut left_out = vec![];
    let mut targets: Vec<DecisionTarget> = vec![];
    for r in &refs {
        match state.cases.get(r) {
            Some(Loadable::Ready(case)) => {
                let open = undecided_targets(state, case);
                let partial = open.iter().filter(|t| t.id != TargetId::Case).count();
                if single {
                    targets = open;
                    included.push((r.clone(), partial, flagged(case)));
                } else if let Some(whole) = open.iter().find(|t| t.id == TargetId::Case) {
                    targets.push(whole.clone());
                    included.push((r.clone(), partial, flagged(case)));
                } else {
                    left_out.push((r.clone(), "nothing left to decide on the whole case".to_string()));
                }
            }
            Some(Loadable::Failed(e)) => left_out.push((r.clone(), format!("could not be loaded: {}", e.one_line()))),
            _ => {}
        }
    }
    let max_chars = included
        .iter()
        .filter_map(|(r, ..)| state.capabilities.get(&r.provider).map(|c| c.max_reason_chars))
        .min()
        .unwrap_or(usize::MAX);
    let needs_codes: HashSet<Verdict> = included
        .iter()
        .filter_map(|(r, ..)| state.capabilities.get(&r.provider))
        .flat_map(|c| c.codes_required.iter().copied())
        .collect();
    let targets = if single { targets } else { common_target(&targets, included.len(), &needs_codes) };
    let problem = if included.is_empty() {
        Some(match left_out.first() {
            Some((r, why)) => format!("cannot decide {}: {why}", crate::ui::shown_ref(state.mask, r)),
            None => "nothing to decide".to_string(),
        })
    } else if targets.iter().all(|t| t.verdicts.is_empty()) {
        Some("the marked cases have no verdict in common: mark cases of one kind (:group why helps)".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        close_dialog(state);
        notice(state, Level::Warn, problem);
        return vec![];
    }
    let Some(dialog) = dialog_mut(state) else { return vec![] };
    dialog.cases.retain(|c| included.iter().any(|(r, ..)| *r == c.case_ref));
    for c in dialog.cases.iter_mut() {
        if let Some((_, open, flagged)) = included.iter().find(|(r, ..)| *r == c.case_ref) {
            (c.open_targets, c.flagged) = (*open, *flagged);
        }
    }
    dialog.left_out.extend(left_out);
    dialog.step = if targets.len() > 1 { DialogStep::Target } else { DialogStep::Verdict };
    dialog.targets = targets;
    dialog.max_chars = max_chars;
    let typed = std::mem::take(&mut dialog.typed_ahead);
    let mut effects = vec![];
    for key in typed {
        effects.extend(on_key(state, key));
    }
    effects
}

/// The whole-case target of a bulk decision: the verdicts (and reasons) every case
/// allows, in the first case's order.
fn common_target(targets: &[DecisionTarget], cases: usize, needs_codes: &HashSet<Verdict>) -> Vec<DecisionTarget> {
    let Some(first) = targets.first() else { return vec![] };
    let all_have = |f: &dyn Fn(&DecisionTarget) -> bool| targets.iter().all(f);
    let verdicts = first.verdicts.iter().copied().filter(|v| all_have(&|t| t.verdicts.contains(v))).collect();
    let common_codes = |pick: fn(&DecisionTarget) -> &Vec<ReasonCode>| -> Vec<ReasonCode> {
        pick(first).iter().filter(|c| all_have(&|t| pick(t).iter().any(|x| x.code == c.code))).cloned().collect()
    };
    let mut target = DecisionTarget {
        id: TargetId::Case,
        label: SafeText::new(&format!("The whole case, for each of {cases} cases")),
        verdicts,
        reject_reasons: common_codes(|t| &t.reject_reasons),
        resubmit_steps: common_codes(|t| &t.resubmit_steps),
        sends: vec![],
    };
    // A verdict a provider takes only with a ticked reason is not offered when the cases
    // share no reason to tick.
    let offered: Vec<Verdict> = target
        .verdicts
        .iter()
        .copied()
        .filter(|v| !needs_codes.contains(v) || !target.choices(*v).is_empty())
        .collect();
    target.verdicts = offered;
    vec![target]
}

fn after_verdict(dialog: &mut DecisionDialog) {
    dialog.chosen_codes.clear();
    dialog.codes_index = 0;
    dialog.step = if dialog.choices().is_empty() { DialogStep::Reason } else { DialogStep::ReasonCodes };
}

fn dialog_command(state: &mut State, cmd: Command) -> Vec<Effect> {
    let evidence = evidence(state);
    let offered: std::collections::HashMap<CaseRef, Vec<DecisionTarget>> = state
        .dialog()
        .map(|d| {
            d.cases
                .iter()
                .filter_map(|c| match state.cases.get(&c.case_ref) {
                    Some(Loadable::Ready(case)) => Some((c.case_ref.clone(), case.targets.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let codes_required = codes_required(state);
    let Some(dialog) = dialog_mut(state) else { return vec![] };
    if dialog.saving {
        return vec![];
    }
    dialog.error = None;
    match (dialog.step, cmd) {
        (_, Command::Back) => {
            dialog.step = match dialog.step {
                DialogStep::Loading | DialogStep::Target => {
                    close_dialog(state);
                    return vec![];
                }
                DialogStep::Verdict if dialog.targets.len() > 1 => DialogStep::Target,
                DialogStep::Verdict => {
                    close_dialog(state);
                    return vec![];
                }
                DialogStep::ReasonCodes => DialogStep::Verdict,
                DialogStep::Reason if !dialog.choices().is_empty() => DialogStep::ReasonCodes,
                DialogStep::Reason => DialogStep::Verdict,
                DialogStep::Templates | DialogStep::Confirm => DialogStep::Reason,
            };
        }
        (DialogStep::Target, Command::Up) => dialog.target_index = dialog.target_index.saturating_sub(1),
        (DialogStep::Target, Command::Down) => {
            dialog.target_index = (dialog.target_index + 1).min(dialog.targets.len().saturating_sub(1))
        }
        (DialogStep::Target, Command::Select) => {
            dialog.verdict_index = 0;
            dialog.step = DialogStep::Verdict;
        }
        (DialogStep::Verdict, Command::Up) => dialog.verdict_index = dialog.verdict_index.saturating_sub(1),
        (DialogStep::Verdict, Command::Down) => {
            let n = dialog.target().map(|t| t.verdicts.len()).unwrap_or(0);
            dialog.verdict_index = (dialog.verdict_index + 1).min(n.saturating_sub(1));
        }
        (DialogStep::Target | DialogStep::Verdict, Command::Verdict(v)) => {
            match dialog.target().and_then(|t| t.verdicts.iter().position(|x| *x == v)) {
                Some(p) => {
                    dialog.verdict_index = p;
                    after_verdict(dialog);
                }
                None => dialog.error = Some(format!("{} is not a verdict for this target", v.label())),
            }
        }
        (DialogStep::Verdict, Command::Select) => after_verdict(dialog),
        (DialogStep::ReasonCodes, Command::Up) => dialog.codes_index = dialog.codes_index.saturating_sub(1),
        (DialogStep::ReasonCodes, Command::Down) => {
            let n = dialog.choices().len();
            dialog.codes_index = (dialog.codes_index + 1).min(n.saturating_sub(1));
        }
        (DialogStep::ReasonCodes, Command::Toggle) => {
            if let Some(code) = dialog.choices().get(dialog.codes_index).map(|r| r.code)
                && !dialog.chosen_codes.remove(code)
            {
                dialog.chosen_codes.insert(code);
            }
        }
        (DialogStep::ReasonCodes, Command::Select) => {
            if dialog.chosen_codes.is_empty() && codes_required.is_some() {
                dialog.error = codes_required;
            } else {
                dialog.step = DialogStep::Reason;
            }
        }
        (DialogStep::Reason, Command::Templates) => dialog.step = DialogStep::Templates,
        (DialogStep::Reason, Command::Select) => {
            let text = dialog.reason_text();
            let chars = text.chars().count();
            if text.is_empty() {
                dialog.error = Some("A reason is required: say why, in words the next reviewer can follow.".into());
            } else if chars > dialog.max_chars {
                dialog.error = Some(format!(
                    "The reason is {chars} characters; at most {} are accepted here. Shorten it.",
                    dialog.max_chars
                ));
            } else {
                dialog.step = DialogStep::Confirm;
            }
        }
        (DialogStep::Confirm, Command::Confirm) => {
            let (Some(target), Some(verdict)) = (dialog.target().map(|t| t.id.clone()), dialog.verdict()) else {
                return vec![];
            };
            dialog.saving = true;
            let reason = dialog.reason_text();
            let reason_codes: Vec<String> = dialog.chosen_codes.iter().map(|c| c.to_string()).collect();
            let drafts = dialog
                .cases
                .iter()
                .map(|c| {
                    let closes_case = target == TargetId::Case || c.open_targets <= 1;
                    DecisionDraft {
                        case_ref: c.case_ref.clone(),
                        target: target.clone(),
                        verdict,
                        reason: reason.clone(),
                        reason_codes: reason_codes.clone(),
                        closes_case,
                        evidence: evidence.get(&c.case_ref).cloned().unwrap_or_default(),
                        offered: offered.get(&c.case_ref).and_then(|ts| ts.iter().find(|t| t.id == target).cloned()),
                    }
                })
                .collect();
            return vec![Effect::SaveDecisions { drafts, undo_secs: state.settings.undo_secs }];
        }
        _ => {}
    }
    vec![]
}

/// Why the chosen verdict needs at least one ticked reason, if it does.
fn codes_required(state: &State) -> Option<String> {
    let dialog = state.dialog()?;
    let verdict = dialog.verdict()?;
    let providers: Vec<&str> = dialog
        .cases
        .iter()
        .map(|c| c.case_ref.provider)
        .filter(|p| state.capabilities.get(p).is_some_and(|cap| cap.codes_required.contains(&verdict)))
        .map(|p| p.display_name())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    (!providers.is_empty()).then(|| {
        format!("{} needs at least one reason ticked for {} (Space ticks).", providers.join(", "), verdict.label())
    })
}

fn insert_template(state: &mut State, key: char) -> Vec<Effect> {
    let Some(verdict) = state.dialog().and_then(|d| d.verdict()) else { return vec![] };
    let found = if key == '.' {
        state.last_reasons.get(&verdict).map(|text| (text.clone(), vec![]))
    } else {
        state.templates_for(verdict).find(|t| t.key == key).map(|t| (t.text.clone(), t.codes.clone()))
    };
    let Some(dialog) = dialog_mut(state) else { return vec![] };
    match found {
        Some((text, codes)) => {
            dialog.reason.insert_str(text);
            let ticks: Vec<&'static str> =
                dialog.choices().iter().filter(|c| codes.iter().any(|x| x == c.code)).map(|c| c.code).collect();
            let missing: Vec<&String> = codes.iter().filter(|c| !ticks.contains(&c.as_str())).collect();
            dialog.chosen_codes.extend(ticks);
            dialog.step = DialogStep::Reason;
            if !missing.is_empty() {
                let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
                dialog.error = Some(format!("not offered here, so not ticked: {}", names.join(", ")));
            }
        }
        None => dialog.error = Some(format!("no template on '{key}' for {}", verdict.label())),
    }
    vec![]
}

fn on_saved(
    state: &mut State,
    decisions: Vec<crate::domain::Decision>,
    send_after: chrono::DateTime<chrono::Utc>,
) -> Vec<Effect> {
    let left_out = state.dialog().map(|d| d.left_out.clone()).unwrap_or_default();
    close_dialog(state);
    let Some(first) = decisions.first() else { return vec![] };
    let verdict = first.verdict;
    let bulk = decisions.len() > 1;
    state.counts.saved += decisions.len() as u64;
    // The clock ticks once a second: start the countdown from the save, not the last tick.
    state.now = state.now.max(first.created_at);
    state.last_reasons.insert(verdict, first.reason.clone());
    let position = state.selected;
    let mut closed = vec![];
    for d in &decisions {
        state.made.entry(d.case_ref.clone()).or_default().push(MadeDecision {
            decision_id: d.id.clone(),
            target: d.target.clone(),
            verdict: d.verdict,
            state: OutboxState::Saved,
            error: None,
            analyst: d.analyst.clone(),
            at: d.created_at,
            reason: d.reason.clone(),
        });
        state.marks.remove(&d.case_ref);
        let still_open = match state.cases.get(&d.case_ref) {
            Some(Loadable::Ready(case)) => undecided_targets(state, case).iter().any(|t| t.id != TargetId::Case),
            _ => false,
        };
        if d.target == TargetId::Case || !still_open {
            closed.push(d.case_ref.clone());
        }
    }
    // The decided cases move to the awaiting lane now; the store's next read agrees.
    let closed: HashSet<CaseRef> = closed.into_iter().collect();
    for e in state.queue.iter_mut().filter(|e| closed.contains(&e.case_ref)) {
        e.lane = Lane::Awaiting;
    }
    rebuild_view(state);
    let cases: Vec<CaseRef> = decisions.iter().map(|d| d.case_ref.clone()).collect();
    if send_after > state.now {
        state.undo.push(Undo {
            decision_ids: decisions.iter().map(|d| d.id.clone()).collect(),
            cases: cases.clone(),
            verdict,
            until: send_after,
        });
    }
    let undo_key = state.settings.keys.key_label(Context::Screens, Command::Undo);
    let undo_hint =
        if send_after > state.now { format!(" {undo_key} undoes it while the countdown runs.") } else { String::new() };
    let many = plural(decisions.len(), "case");
    let what = |r: &str| if bulk { many.clone() } else { r.to_string() };
    if closed.is_empty() {
        let open = match state.cases.get(&first.case_ref) {
            Some(Loadable::Ready(case)) => {
                undecided_targets(state, case).iter().filter(|t| t.id != TargetId::Case).count()
            }
            _ => 0,
        };
        let open = plural(open, "part");
        notice_about(state, Level::Info, &first.case_ref, |r| {
            format!(
                "Saved: {} on {}. {open} still undecided: the case stays in the queue until they are settled.{undo_hint}",
                verdict.label(),
                what(r)
            )
        });
        return vec![Effect::LoadQueue];
    }
    notice_about(state, Level::Info, &first.case_ref, |r| {
        format!("Saved: {} on {}.{undo_hint}", verdict.label(), what(r))
    });
    if bulk {
        state.modals.push(Modal::Results(BulkResults {
            verdict,
            rows: cases.iter().map(|c| (c.clone(), ResultState::Saved)).collect(),
            left_out,
        }));
    }
    let mut effects = vec![Effect::LoadQueue];
    if state.screen == Screen::Case && !bulk {
        // The next case of the same filter and group opens at once (it was prefetched).
        state.selected = next_decidable(state, position);
        if state.selected_entry().is_some_and(|e| e.lane != Lane::Awaiting) {
            effects.extend(open_selected(state));
        } else {
            state.screen = Screen::Queue;
        }
    }
    effects
}

/// The first row at or after `from` that can still be decided, else the last one before.
fn next_decidable(state: &State, from: usize) -> usize {
    let rows = &state.view.rows;
    let ok = |pos: &usize| state.queue[rows[*pos]].lane != Lane::Awaiting;
    (from..rows.len()).find(ok).or_else(|| (0..from.min(rows.len())).rev().find(ok)).unwrap_or(0)
}

fn set_results(state: &mut State, cases: &[CaseRef], result: ResultState) {
    for m in state.modals.iter_mut() {
        if let Modal::Results(r) = m {
            for (c, s) in r.rows.iter_mut() {
                if cases.contains(c) {
                    *s = result.clone();
                }
            }
        }
    }
}

fn undo(state: &mut State) -> Vec<Effect> {
    let now = state.now;
    state.undo.retain(|u| u.until > now);
    match state.undo.pop() {
        Some(u) => {
            notice(state, Level::Info, format!("Undoing {} on {}…", u.verdict.label(), plural(u.cases.len(), "case")));
            vec![Effect::Withdraw(u.decision_ids)]
        }
        _ => {
            let secs = state.settings.undo_secs;
            let text = if secs == 0 {
                "undo is off (undo_secs = 0 in the config)".to_string()
            } else {
                format!("nothing to undo: a decision can be taken back for {secs} s after it is saved")
            };
            notice(state, Level::Info, text);
            vec![]
        }
    }
}

/// The images of each dialog case that were drawn, by hash.
fn evidence(state: &State) -> std::collections::HashMap<CaseRef, Evidence> {
    let mut out = std::collections::HashMap::new();
    let Some(dialog) = state.dialog() else { return out };
    for c in &dialog.cases {
        if let Some(Loadable::Ready(case)) = state.cases.get(&c.case_ref) {
            let media_sha256 = case
                .media()
                .iter()
                .filter_map(|m| match state.media.get(m) {
                    Some(Loadable::Ready(p)) => Some(p.sha256.clone()),
                    _ => None,
                })
                .collect();
            out.insert(c.case_ref.clone(), Evidence { media_sha256 });
        }
    }
    out
}
