//! The decision dialog (target, verdict, reasons, the typed reason with its templates,
//! the confirmation) and the summary of a bulk decision.

use super::{MASKED, layout, plural, shown_ref, truncate};
use crate::app::keymap::{Command, Context};
use crate::app::{BulkResults, DecisionDialog, DialogStep, Loadable, ResultState, State};
use crate::domain::{CaseRef, TargetId, Verdict};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use std::collections::BTreeMap;

/// A list scrolled so its selected row is in view inside `block` at `area`.
fn scrolled<'a>(lines: Vec<Line<'a>>, selected: usize, block: &Block<'_>, area: Rect) -> Paragraph<'a> {
    let visible = usize::from(block.inner(area).height);
    let first = super::queue::offset(selected, lines.len(), visible);
    Paragraph::new(lines).scroll((u16::try_from(first).unwrap_or(u16::MAX), 0))
}

fn choice(state: &State, selected: bool, text: String) -> Line<'static> {
    if selected {
        Line::styled(format!("▶ {text}"), state.theme().selected())
    } else {
        Line::raw(format!("  {text}"))
    }
}

/// `3 812` for 3812: counts an analyst reads at a glance.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn subject(state: &State, dialog: &DecisionDialog) -> String {
    match dialog.cases.as_slice() {
        [one] => {
            let who = if state.mask { MASKED.to_string() } else { one.applicant.one_line() };
            format!("{} · {who}", shown_ref(state.mask, &one.case_ref))
        }
        many => format!("{} marked cases", many.len()),
    }
}

/// What the decision will do, per provider: "7 × ComplyCube validate confirmed".
pub fn plan(state: &State, dialog: &DecisionDialog, verdict: Verdict) -> Vec<String> {
    let target_id = dialog.target().map(|t| t.id.clone()).unwrap_or(TargetId::Case);
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for c in &dialog.cases {
        let provider = c.case_ref.provider;
        let local = state.capabilities.get(&provider).is_some_and(|cap| cap.is_local(verdict));
        let sends = match state.cases.get(&c.case_ref) {
            Some(Loadable::Ready(case)) => {
                case.targets.iter().find(|t| t.id == target_id).and_then(|t| t.sends(verdict)).map(|s| s.one_line())
            }
            _ => None,
        };
        let what = match (sends, local) {
            (Some(s), _) => s,
            (None, true) => "escalated locally, nothing sent".to_string(),
            (None, false) => verdict.label().to_lowercase(),
        };
        *lines.entry(format!("{} {what}", provider.display_name())).or_default() += 1;
    }
    let mut out: Vec<String> = lines.into_iter().map(|(what, n)| format!("{n} × {what}")).collect();
    out.extend(warnings(state, dialog));
    let kept = reason_kept_by(state, dialog, verdict);
    if !kept.is_empty() {
        out.push(format!(
            "The reason stays in kycdesk's audit log only for {} (not sent with this verdict).",
            kept.join(", ")
        ));
    }
    out
}

/// What the analyst should know before saving, about the cases decided: the evidence's
/// own flags and the same person elsewhere, said at the confirmation too since a bulk
/// decision opens no case view.
fn warnings(state: &State, dialog: &DecisionDialog) -> Vec<String> {
    let flagged = dialog.cases.iter().filter(|c| c.flagged).count();
    let related = dialog.cases.iter().filter(|c| state.related.get(&c.case_ref).is_some_and(|r| !r.is_empty())).count();
    let n = dialog.cases.len();
    let of = |k: usize| if n == 1 { "this case".to_string() } else { format!("{k} of these {n} cases") };
    let mut out = vec![];
    if flagged > 0 {
        out.push(format!("⚠ {}: the evidence is flagged (expired document or a holder who differs)", of(flagged)));
    }
    if related > 0 {
        out.push(format!("⚑ {}: the same person in other cases (see Related cases)", of(related)));
    }
    out
}

/// The providers that will not receive the typed reason with this verdict.
fn reason_kept_by(state: &State, dialog: &DecisionDialog, verdict: Verdict) -> Vec<&'static str> {
    dialog
        .cases
        .iter()
        .map(|c| c.case_ref.provider)
        .filter(|p| state.capabilities.get(p).is_some_and(|cap| !cap.sends_reason(verdict)))
        .map(|p| p.display_name())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

pub fn draw(frame: &mut Frame<'_>, state: &State, dialog: &DecisionDialog, body: Rect) {
    let keys = &state.settings.keys;
    let area = layout::centered(body, 90, 26);
    frame.render_widget(Clear, area);
    let title = format!(" Decide {} ", subject(state, dialog));
    let block = Block::bordered()
        .title(Line::styled(truncate(&title, usize::from(area.width.saturating_sub(2))), state.theme().heading()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // On a short terminal the summary goes (the title and the list say it) and lists
    // lose their frame, so every step keeps rows to choose from.
    let compact = inner.height < 14;
    let error_rows = match (&dialog.error, compact) {
        (None, true) => 0,
        (Some(_), true) => 1,
        (_, false) => 2,
    };
    let [summary, main, error, hints] = Layout::vertical([
        Constraint::Length(if compact { 0 } else { 2 }),
        Constraint::Fill(1),
        Constraint::Length(error_rows),
        Constraint::Length(1),
    ])
    .areas(inner);
    let frame_of = |title: &str| -> Block<'static> {
        if compact { Block::new().title(title.to_string()) } else { Block::bordered().title(title.to_string()) }
    };

    let target = dialog.target().map(|t| t.label.one_line()).unwrap_or_default();
    let verdict = match dialog.step {
        DialogStep::Loading | DialogStep::Target | DialogStep::Verdict => "—".to_string(),
        _ => dialog.verdict().map(|v| v.label().to_string()).unwrap_or_default(),
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![Span::styled("Target: ", state.theme().label()), Span::raw(target)]),
            Line::from(vec![
                Span::styled("Verdict: ", state.theme().label()),
                Span::styled(verdict, state.theme().key()),
            ]),
        ]),
        summary,
    );

    let context = match dialog.step {
        DialogStep::Reason => Context::Reason,
        DialogStep::Templates => Context::Templates,
        DialogStep::Confirm => Context::Confirm,
        _ => Context::Dialog,
    };
    let mut hint = keys.hints(context);
    match dialog.step {
        DialogStep::Loading => {
            let loaded = dialog
                .cases
                .iter()
                .filter(|c| !matches!(state.cases.get(&c.case_ref), Some(Loadable::Loading) | None))
                .count();
            let text = format!("Loading the cases' details… {loaded} of {}", dialog.cases.len());
            frame.render_widget(Paragraph::new(text).style(state.theme().dim()).block(frame_of("")), main);
            hint = "keys typed now are kept for the dialog · Esc cancel".into();
        }
        DialogStep::Target => {
            let lines: Vec<Line> = dialog
                .targets
                .iter()
                .enumerate()
                .map(|(i, t)| choice(state, i == dialog.target_index, t.label.one_line()))
                .collect();
            let block = frame_of(" What are you deciding? ");
            frame.render_widget(scrolled(lines, dialog.target_index, &block, main).block(block), main);
        }
        DialogStep::Verdict => {
            let verdicts = dialog.target().map(|t| t.verdicts.clone()).unwrap_or_default();
            let mut lines: Vec<Line> = verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let key = keys.key_label(Context::Dialog, Command::Verdict(*v));
                    choice(state, i == dialog.verdict_index, format!("{key}  {}", v.label()))
                })
                .collect();
            if !dialog.left_out.is_empty() {
                lines.push(Line::raw(""));
                lines.push(Line::styled(format!("Left out ({}):", dialog.left_out.len()), state.theme().error()));
                for (r, why) in &dialog.left_out {
                    lines.push(Line::raw(format!("  {}: {why}", shown_ref(state.mask, r))));
                }
            }
            let block = frame_of(" Verdict ");
            frame.render_widget(scrolled(lines, dialog.verdict_index, &block, main).block(block), main);
        }
        DialogStep::ReasonCodes => {
            let lines: Vec<Line> = dialog
                .choices()
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let tick = if dialog.chosen_codes.contains(r.code) { "[x]" } else { "[ ]" };
                    choice(state, i == dialog.codes_index, format!("{tick} {}", r.label))
                })
                .collect();
            let title = if dialog.verdict() == Some(Verdict::Resubmit) {
                " Steps to resubmit (none ticked: every failed step) "
            } else {
                " Rejection reasons "
            };
            let block = frame_of(title);
            frame.render_widget(scrolled(lines, dialog.codes_index, &block, main).block(block), main);
        }
        DialogStep::Reason | DialogStep::Templates => reason_editor(frame, state, dialog, main),
        DialogStep::Confirm => {
            let verdict = dialog.verdict().unwrap_or(Verdict::Verify);
            let n = dialog.cases.len();
            let head = if n == 1 {
                format!("Save this decision: {}?", verdict.label())
            } else {
                format!("Save {} on {n} cases?", verdict.label())
            };
            let mut lines = vec![Line::styled(head, state.theme().heading())];
            for what in plan(state, dialog, verdict) {
                lines.push(Line::raw(format!("  {what}")));
            }
            if !dialog.left_out.is_empty() {
                lines.push(Line::styled(
                    format!("  {} left out, not decided", plural(dialog.left_out.len(), "marked case")),
                    state.theme().error(),
                ));
            }
            if !dialog.chosen_codes.is_empty() {
                let codes: Vec<&str> = dialog.chosen_codes.iter().copied().collect();
                lines.push(Line::from(vec![
                    Span::styled("Reasons: ", state.theme().label()),
                    Span::raw(codes.join(", ")),
                ]));
            }
            lines.push(Line::styled("Reason:", state.theme().label()));
            lines.extend(dialog.reason.lines().iter().map(|l| Line::raw(format!("  {l}"))));
            let secs = state.settings.undo_secs;
            if secs > 0 {
                let undo = keys.key_label(Context::Screens, Command::Undo);
                lines.push(Line::styled(
                    format!("Sent after {secs} s; {undo} takes it back until then."),
                    state.theme().dim(),
                ));
            }
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(frame_of("")), main);
            if dialog.saving {
                hint = "saving…".into();
            }
        }
    }
    if let Some(e) = &dialog.error {
        frame.render_widget(Paragraph::new(e.as_str()).style(state.theme().error()).wrap(Wrap { trim: true }), error);
    }
    frame.render_widget(Paragraph::new(hint).style(state.theme().dim()), hints);
}

fn reason_editor(frame: &mut Frame<'_>, state: &State, dialog: &DecisionDialog, area: Rect) {
    let verdict = dialog.verdict().unwrap_or(Verdict::Verify);
    let mut templates: Vec<(char, String)> = state.templates_for(verdict).map(|t| (t.key, t.text.clone())).collect();
    if let Some(last) = state.last_reasons.get(&verdict) {
        templates.push(('.', format!("last: {last}")));
    }
    let list_height = if dialog.step == DialogStep::Templates { (templates.len() as u16 + 2).max(3) } else { 1 };
    let [editor_area, list_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(list_height.min(area.height / 2))]).areas(area);
    let count = dialog.reason_chars();
    let limit =
        if dialog.max_chars == usize::MAX { String::new() } else { format!(" / {}", grouped(dialog.max_chars)) };
    let counter = format!(" {}{limit} ", grouped(count));
    let over = count > dialog.max_chars;
    let mut editor = dialog.reason.clone();
    let kept = reason_kept_by(state, dialog, verdict);
    let title = if kept.is_empty() {
        " Reason (required) ".to_string()
    } else {
        editor.set_placeholder_text("Why? kycdesk's audit log keeps this text.");
        format!(" Reason (required; not sent to {}: kept in kycdesk's audit log) ", kept.join(", "))
    };
    editor.set_block(Block::bordered().title(title).title_bottom(
        Line::styled(counter, if over { state.theme().error() } else { state.theme().dim() }).right_aligned(),
    ));
    frame.render_widget(&editor, editor_area);
    if dialog.step == DialogStep::Templates {
        let lines: Vec<Line> = if templates.is_empty() {
            vec![Line::styled("No template for this verdict ([[templates]] in the config).", state.theme().dim())]
        } else {
            templates
                .iter()
                .map(|(k, text)| {
                    Line::from(vec![
                        Span::styled(format!(" {k} "), state.theme().key()),
                        Span::raw(truncate(text, usize::from(area.width.saturating_sub(6)))),
                    ])
                })
                .collect()
        };
        frame
            .render_widget(Paragraph::new(lines).block(Block::bordered().title(" Templates: press a key ")), list_area);
    } else if !templates.is_empty() {
        let key = state.settings.keys.key_label(Context::Reason, Command::Templates);
        let names: Vec<String> = templates.iter().map(|(k, _)| k.to_string()).collect();
        frame.render_widget(
            Paragraph::new(format!("{key} lists the reason templates (keys {})", names.join(" ")))
                .style(state.theme().dim()),
            list_area,
        );
    }
}

pub fn draw_results(frame: &mut Frame<'_>, state: &State, results: &BulkResults, body: Rect) {
    let area = layout::centered(body, 90, (results.rows.len() as u16 + 6).min(body.height));
    frame.render_widget(Clear, area);
    let done = results.rows.iter().filter(|(_, s)| !matches!(s, ResultState::Saved | ResultState::Retrying(_))).count();
    let title = format!(" {} on {} cases: {done} settled ", results.verdict.label(), results.rows.len());
    let mut lines: Vec<Line> = results
        .rows
        .iter()
        .map(|(case_ref, s)| {
            let (word, style) = match s {
                ResultState::Saved => ("saved, waiting to send".to_string(), state.theme().dim()),
                ResultState::Sent => ("sent to the provider".to_string(), state.theme().level(crate::app::Level::Info)),
                ResultState::Escalated => ("escalated locally".to_string(), state.theme().escalated()),
                ResultState::Retrying(e) => (format!("will retry: {e}"), state.theme().level(crate::app::Level::Warn)),
                ResultState::Refused(e) => (format!("refused: {e}"), state.theme().error()),
                ResultState::Withdrawn => ("withdrawn (undone)".to_string(), state.theme().dim()),
            };
            Line::from(vec![Span::raw(format!("  {:<40} ", case_label(state, case_ref))), Span::styled(word, style)])
        })
        .collect();
    for (r, why) in &results.left_out {
        lines.push(Line::styled(format!("  {}: left out, {why}", shown_ref(state.mask, r)), state.theme().error()));
    }
    // Once every case has gone out (or was undone), u has nothing left to take back.
    let undoable = results.rows.iter().any(|(_, s)| matches!(s, ResultState::Saved)) && !state.undo.is_empty();
    let hint = state.settings.keys.hints_where(Context::Results, |cmd| undoable || cmd != Command::Undo);
    lines.push(Line::styled(format!("  {hint}"), state.theme().dim()));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Line::styled(title, state.theme().heading()))),
        area,
    );
}

fn case_label(state: &State, r: &CaseRef) -> String {
    truncate(&shown_ref(state.mask, r), 40)
}
