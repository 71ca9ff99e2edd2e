//! The decision dialog: target, verdict, rejection reasons, the typed reason, confirm.

use super::{layout, theme};
use crate::app::{DecisionDialog, DialogStep};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

fn hotkey(v: crate::domain::Verdict) -> char {
    use crate::domain::Verdict::*;
    match v {
        Verify => 'v',
        Reject => 'x',
        Refer => 'f',
        Resubmit => 's',
        TrueMatch => 't',
        FalsePositive => 'o',
    }
}

fn choice(selected: bool, text: String) -> Line<'static> {
    if selected { Line::styled(format!("▶ {text}"), theme::selected()) } else { Line::raw(format!("  {text}")) }
}

pub fn draw(frame: &mut Frame<'_>, dialog: &DecisionDialog, body: Rect) {
    let area = layout::centered(body, 84, 22);
    frame.render_widget(Clear, area);
    let title = format!(" Decide {} · {} ", dialog.case_ref, dialog.applicant.one_line());
    let block = Block::bordered().title(Line::styled(title, theme::heading()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [summary, main, error, hints] =
        Layout::vertical([Constraint::Length(2), Constraint::Fill(1), Constraint::Length(2), Constraint::Length(1)])
            .areas(inner);

    let target = dialog.target().map(|t| t.label.one_line()).unwrap_or_default();
    let verdict = match dialog.step {
        DialogStep::Target => "—".to_string(),
        _ => dialog.verdict().map(|v| v.label().to_string()).unwrap_or_default(),
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![Span::styled("Target: ", theme::label()), Span::raw(target)]),
            Line::from(vec![Span::styled("Verdict: ", theme::label()), Span::styled(verdict, theme::key())]),
        ]),
        summary,
    );

    let hint = match dialog.step {
        DialogStep::Target => {
            let lines: Vec<Line> = dialog
                .targets
                .iter()
                .enumerate()
                .map(|(i, t)| choice(i == dialog.target_index, t.label.one_line()))
                .collect();
            frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" What are you deciding? ")), main);
            "j/k choose · Enter next · Esc cancel"
        }
        DialogStep::Verdict => {
            let verdicts = dialog.target().map(|t| t.verdicts.clone()).unwrap_or_default();
            let lines: Vec<Line> = verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| choice(i == dialog.verdict_index, format!("[{}] {}", hotkey(*v), v.label())))
                .collect();
            frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Verdict ")), main);
            "letter or j/k + Enter · Esc back"
        }
        DialogStep::ReasonCodes => {
            let reasons = dialog.choices().to_vec();
            let lines: Vec<Line> = reasons
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let tick = if dialog.chosen_codes.contains(r.code) { "[x]" } else { "[ ]" };
                    choice(i == dialog.codes_index, format!("{tick} {}", r.label))
                })
                .collect();
            frame.render_widget(
                Paragraph::new(lines).block(Block::bordered().title(
                    if dialog.verdict() == Some(crate::domain::Verdict::Resubmit) {
                        " Steps to resubmit (none ticked: every failed step) "
                    } else {
                        " Rejection reasons "
                    },
                )),
                main,
            );
            "Space tick · Enter next · Esc back"
        }
        DialogStep::Reason => {
            let mut editor = dialog.reason.clone();
            editor.set_block(Block::bordered().title(" Reason (required) "));
            frame.render_widget(&editor, main);
            "type the reason · Enter next · Alt+Enter new line · Esc back"
        }
        DialogStep::Confirm => {
            let mut lines = vec![Line::styled("Save this decision?", theme::heading()), Line::raw("")];
            if !dialog.chosen_codes.is_empty() {
                let codes: Vec<&str> = dialog.chosen_codes.iter().copied().collect();
                lines.push(Line::from(vec![Span::styled("Reasons: ", theme::label()), Span::raw(codes.join(", "))]));
            }
            lines.push(Line::styled("Reason:", theme::label()));
            lines.extend(dialog.reason.lines().iter().map(|l| Line::raw(format!("  {l}"))));
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered()), main);
            if dialog.saving { "saving…" } else { "y save and send · n/Esc back to the reason" }
        }
    };
    if let Some(e) = &dialog.error {
        frame.render_widget(Paragraph::new(e.as_str()).style(theme::error()).wrap(Wrap { trim: true }), error);
    }
    frame.render_widget(Paragraph::new(hint).style(theme::dim()), hints);
}
