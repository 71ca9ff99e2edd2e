//! The case view: details on the left, document and selfie images on the right.

use super::{MASKED, layout, shown_id, shown_ref, truncate};
use crate::app::keymap::Context;
use crate::app::{ImageViewer, Loadable, MadeDecision, Picture, State};
use crate::domain::flags::EvidenceFlag;
use crate::domain::{Case, Field, MediaRef, SafeText};
use crate::domain::{Lane, TargetId};
use crate::store::OutboxState;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Paragraph, Wrap};
use std::sync::Arc;

pub fn draw(frame: &mut Frame<'_>, state: &State, body: Rect) {
    let panes = layout::case_panes(body);
    let Some(entry) = state.selected_entry() else {
        return;
    };
    let title = format!(" {} · {} ", shown_ref(state.mask, &entry.case_ref), entry.check_type.one_line());
    let title = truncate(&title, usize::from(body.width.saturating_sub(2)));
    let block = Block::bordered().title(Line::styled(title, state.theme().heading()));
    match state.cases.get(&entry.case_ref) {
        Some(Loadable::Ready(case)) => {
            let text = details(case, state);
            let p = Paragraph::new(text).block(block).wrap(Wrap { trim: false }).scroll((state.detail_scroll, 0));
            let (doc, selfie) = pane_media(case, state.image_index);
            if (doc.is_none() && selfie.is_none()) || !layout::images_beside(body) {
                // Nothing to look at (a screening check), or no room beside the details
                // (the full-screen viewer still shows them): the details take the width.
                frame.render_widget(p, body);
                return;
            }
            frame.render_widget(p, panes.details);
            let all = case.media();
            image_pane(frame, state, panes.document, doc.as_ref(), "Document", &all, None);
            let beside = selfie.as_ref().filter(|m| case.selfie.as_ref().and_then(|s| s.media.as_ref()) == Some(*m));
            let evidence = beside.map(|_| selfie_evidence(state, case));
            image_pane(frame, state, panes.selfie, selfie.as_ref(), "Selfie", &all, evidence);
        }
        Some(Loadable::Failed(e)) => {
            let text = vec![
                Line::styled("This case could not be loaded:", state.theme().error()),
                Line::raw(e.one_line()),
                Line::raw(""),
                Line::styled("n/p moves to another case; r polls again; Esc goes back.", state.theme().dim()),
            ];
            frame.render_widget(Paragraph::new(text).block(block).wrap(Wrap { trim: false }), panes.details);
        }
        _ => {
            frame.render_widget(
                Paragraph::new("Loading the case…").style(state.theme().dim()).block(block),
                panes.details,
            );
        }
    }
}

/// Upper pane: the document sides in turn; lower pane: the selfie (or, without one,
/// the next document side).
fn pane_media(case: &Case, index: usize) -> (Option<MediaRef>, Option<MediaRef>) {
    let sides: Vec<MediaRef> = case.documents.iter().flat_map(|d| d.sides.clone()).collect();
    let selfie = case.selfie.as_ref().and_then(|s| s.media.clone());
    let doc = (!sides.is_empty()).then(|| sides[index % sides.len()].clone());
    let lower = selfie.or_else(|| (sides.len() > 1).then(|| sides[(index + 1) % sides.len()].clone()));
    (doc, lower)
}

/// "passport front 1/3": which of the case's images this is.
fn counted(media: &MediaRef, all: &[MediaRef]) -> String {
    match all.iter().position(|m| m == media) {
        Some(i) => format!("{} {}/{}", media.label.one_line(), i + 1, all.len()),
        None => media.label.one_line(),
    }
}

/// What is judged on the selfie, on its pane: the liveness result and code, the face
/// match score, and (bottom line) what the code means.
fn selfie_evidence(state: &State, case: &Case) -> (Line<'static>, Option<Line<'static>>) {
    let theme = state.theme();
    let mut spans = vec![];
    let mut about = None;
    let mut code = None;
    if let Some(selfie) = &case.selfie {
        let (word, style) = theme.liveness(selfie.liveness.result);
        let mark = if selfie.liveness.result == crate::domain::LivenessResult::NotLive { "✘ " } else { "" };
        spans.push(Span::styled(format!(" {mark}{word}"), style));
        code = selfie.liveness.code.as_ref().map(|c| c.one_line());
        let description = selfie.liveness.description.one_line();
        if !description.is_empty() {
            about = Some(Line::styled(format!(" {description} "), theme.dim()));
        }
    }
    // The score before the code: on a narrow pane the title is cut from the end.
    if let Some(fm) = &case.face_match {
        let (mark, style) = match fm.matched {
            Some(false) => ("✘ ", theme.error()),
            Some(true) => ("✔ ", theme.good()),
            None => ("", theme.label()),
        };
        let score = match (fm.score, fm.matched) {
            (Some(s), _) => format!("match {s:.0}/100"),
            (None, Some(true)) => "same person".into(),
            (None, Some(false)) => "not a match".into(),
            (None, None) => "match: no score".into(),
        };
        spans.push(Span::styled(format!(" · {mark}{score}"), style));
    }
    if let Some(code) = code {
        spans.push(Span::raw(format!(" · {code}")));
    }
    spans.push(Span::raw(" "));
    (Line::from(spans), about)
}

fn image_pane(
    frame: &mut Frame<'_>,
    state: &State,
    area: Rect,
    media: Option<&MediaRef>,
    fallback: &str,
    all: &[MediaRef],
    evidence: Option<(Line<'static>, Option<Line<'static>>)>,
) {
    let title = media.map(|m| counted(m, all)).unwrap_or_else(|| fallback.to_string());
    // The evidence follows the label in one title, cut by the frame where it is narrow:
    // the label always shows.
    let mut spans = vec![Span::styled(format!(" {title} "), state.theme().heading())];
    let mut bottom = None;
    if let Some((line, about)) = evidence {
        spans.push(Span::raw("·"));
        spans.extend(line.spans);
        bottom = about;
    }
    let mut block = Block::bordered().title(Line::from(spans));
    if let Some(about) = bottom {
        block = block.title_bottom(about);
    }
    let inner = layout::inner(area);
    frame.render_widget(block, area);
    let message = |frame: &mut Frame<'_>, text: String, style: Style| {
        frame.render_widget(Paragraph::new(text).style(style).wrap(Wrap { trim: true }), inner);
    };
    let Some(media) = media else {
        return message(frame, "no image in this case".into(), state.theme().dim());
    };
    if state.mask {
        return message(frame, "image hidden (mask mode; m to show)".into(), state.theme().dim());
    }
    if let Some(why) = no_picture(state) {
        return message(frame, format!("[{}] {why}", media.label.one_line()), state.theme().dim());
    }
    match state.media.get(media) {
        Some(Loadable::Ready(picture)) => draw_picture(frame, state, picture, inner),
        Some(Loadable::Failed(e)) => {
            message(frame, format!("image not shown: {}", e.one_line()), state.theme().error())
        }
        _ => message(frame, "loading image…".into(), state.theme().dim()),
    }
}

/// One image of the case over the whole body: for reading a document's small print.
pub fn draw_viewer(frame: &mut Frame<'_>, state: &State, viewer: &ImageViewer, body: Rect) {
    frame.render_widget(ratatui::widgets::Clear, body);
    let media = match state.cases.get(&viewer.case_ref) {
        Some(Loadable::Ready(case)) => {
            let all = case.media();
            (!all.is_empty()).then(|| {
                let m = all[viewer.index % all.len()].clone();
                (counted(&m, &all), m)
            })
        }
        _ => None,
    };
    let turned =
        if viewer.turns > 0 { format!(" · turned {}°", u16::from(viewer.turns) * 90) } else { String::new() };
    let title = media.as_ref().map(|(t, _)| format!(" {t}{turned} ")).unwrap_or_else(|| " Image ".into());
    let hint = state.settings.keys.hints(Context::Viewer);
    let block = Block::bordered()
        .title(Line::styled(title, state.theme().heading()))
        .title_bottom(Line::styled(format!(" {hint} "), state.theme().dim()));
    let inner = layout::inner(body);
    frame.render_widget(block, body);
    let message = |frame: &mut Frame<'_>, text: String, style: Style| {
        frame.render_widget(Paragraph::new(text).style(style).wrap(Wrap { trim: true }), inner);
    };
    if media.is_none() {
        return message(frame, "no image in this case".into(), state.theme().dim());
    }
    if state.mask {
        return message(frame, "image hidden (mask mode; m to show)".into(), state.theme().dim());
    }
    if let Some(why) = no_picture(state) {
        let label = media.as_ref().map(|(t, _)| t.clone()).unwrap_or_default();
        return message(frame, format!("[{label}] {why}"), state.theme().dim());
    }
    match &viewer.picture {
        Loadable::Ready(picture) => draw_picture(frame, state, picture, inner),
        Loadable::Failed(e) => message(frame, format!("image not shown: {}", e.one_line()), state.theme().error()),
        Loadable::Loading => message(frame, "loading image…".into(), state.theme().dim()),
    }
}

/// Why no picture is drawn, when none is: images off, or a terminal without colours
/// (where half blocks are noise) unless the analyst asked for greys.
fn no_picture(state: &State) -> Option<&'static str> {
    if !state.images_enabled {
        Some("image not drawn: images are off in this session (image_protocol)")
    } else if !state.pictures_drawn() {
        Some("image not drawn: colours are off (NO_COLOR); :shades draws it in greys")
    } else {
        None
    }
}

fn draw_picture(frame: &mut Frame<'_>, state: &State, picture: &Arc<Picture>, inner: Rect) {
    let area = Rect::new(inner.x, inner.y, picture.area.width.min(inner.width), picture.area.height.min(inner.height));
    frame.render_widget(ratatui_image::Image::new(&picture.protocol), area);
    let buffer = frame.buffer_mut();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let Some(cell) = buffer.cell_mut((x, y)) else { continue };
            // Kitty and sixel put a whole picture's escape sequence in one cell.
            // Measured as text it is thousands of columns wide, and ratatui's diff
            // (ratatui-core 0.1.2) steps over that many cells: the rest of the frame
            // would keep the previous case's text. It covers one cell; the others are
            // marked skipped.
            if cell.symbol().contains('\u{1b}') {
                cell.set_diff_option(ratatui::buffer::CellDiffOption::ForcedWidth(std::num::NonZeroU16::MIN));
            }
            // Half blocks are two colours per cell; in the 256-colour palette each is
            // a third of the bytes, and neighbours share one more often, so it is not
            // resent. (Kitty and sixel cells carry no colours.)
            if state.settings.low_bandwidth {
                cell.fg = super::theme::indexed(cell.fg);
                cell.bg = super::theme::indexed(cell.bg);
            }
        }
    }
}

/// Longest value the case view shows unless asked for whole values: a 10,000-character
/// name must not push the liveness and face match results below the fold.
pub const VALUE_CAP: usize = 200;

/// A provider value as the case view shows it: cut at [`VALUE_CAP`] characters with a
/// note saying how to see it whole, unless whole values are on.
fn capped(state: &State, text: &str) -> String {
    let chars = text.chars().count();
    if state.whole_values || chars <= VALUE_CAP {
        return text.to_string();
    }
    let key = state.settings.keys.key_label(Context::Case, crate::app::keymap::Command::WholeValues);
    let head: String = text.chars().take(VALUE_CAP).collect();
    format!("{head}… ({chars} characters; {key} shows them whole)")
}

fn masked(state: &State, text: &SafeText) -> String {
    if state.mask { MASKED.to_string() } else { capped(state, text.as_str()) }
}

fn field_lines(lines: &mut Vec<Line<'static>>, fields: &[Field], indent: &str, state: &State) {
    for f in fields {
        lines.push(Line::from(vec![
            Span::styled(format!("{indent}{}: ", capped(state, f.name.as_str())), state.theme().label()),
            Span::raw(if f.personal { masked(state, &f.value) } else { capped(state, f.value.as_str()) }),
        ]));
    }
}

fn heading(lines: &mut Vec<Line<'static>>, state: &State, text: &str) {
    if !lines.is_empty() {
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled(text.to_string(), state.theme().heading()));
}

fn kv(lines: &mut Vec<Line<'static>>, state: &State, key: &str, value: String) {
    lines.push(Line::from(vec![Span::styled(format!("{key}: "), state.theme().label()), Span::raw(value)]));
}

/// `kv` for a provider value, cut like every long value.
fn kv_capped(lines: &mut Vec<Line<'static>>, state: &State, key: &str, value: &str) {
    kv(lines, state, key, capped(state, value));
}

fn standing(d: &MadeDecision) -> bool {
    matches!(d.state, OutboxState::Saved | OutboxState::Sending | OutboxState::Sent)
}

/// "False positive · sent", as the case view shows a decision made on a part of it.
fn made_label(state_: &State, case_ref: &crate::domain::CaseRef, d: &MadeDecision) -> String {
    let local = state_.capabilities.get(&case_ref.provider).is_some_and(|c| c.is_local(d.verdict));
    let state = match d.state {
        OutboxState::Sent if local => "escalated locally, nothing sent",
        OutboxState::Saved => "saved, waiting to send",
        OutboxState::Sending => "sending",
        OutboxState::Sent => "sent",
        OutboxState::Failed => "refused by the provider",
        OutboxState::Withdrawn => "withdrawn",
        OutboxState::Dropped => "dropped",
    };
    let mut text = format!("decision: {} · {state}", d.verdict.label());
    if let Some(e) = &d.error {
        text.push_str(&format!(" ({e})"));
    }
    text.push_str(&format!(" · {} {}", d.analyst, d.at.format("%Y-%m-%d %H:%M UTC")));
    text
}

/// What failed, first: the reasons the case is here, each with a symbol, before the
/// details that explain them.
fn what_failed(lines: &mut Vec<Line<'static>>, case: &Case, flags: &[EvidenceFlag], state: &State) {
    use crate::domain::RuleOutcome;
    let theme = state.theme();
    let marked = |outcome: RuleOutcome, text: String| {
        let (mark, style) = theme.rule(outcome);
        Line::from(vec![Span::styled(format!("{mark} "), style), Span::raw(text)])
    };
    let mut found = vec![];
    if let Some(selfie) = &case.selfie
        && selfie.liveness.result != crate::domain::LivenessResult::Live
    {
        let (word, _) = theme.liveness(selfie.liveness.result);
        let code = selfie.liveness.code.as_ref().map(|c| format!(" {}", c.one_line())).unwrap_or_default();
        let what = capped(state, selfie.liveness.description.as_str());
        let text = format!("liveness {word}{code}: {what}");
        // Undecided is not failed: it is asked of the analyst.
        let outcome = match selfie.liveness.result {
            crate::domain::LivenessResult::NotLive => RuleOutcome::Failed,
            _ => RuleOutcome::NeedsReview,
        };
        found.push(marked(outcome, text));
    }
    if let Some(fm) = case.face_match.as_ref().filter(|fm| fm.matched == Some(false)) {
        let score = fm.score.map(|s| format!(" ({s:.0}/100)")).unwrap_or_default();
        found.push(marked(RuleOutcome::Failed, format!("face match: NOT the same person{score}")));
    }
    // A failed rule that only restates the liveness result is said once.
    let liveness_said = case.selfie.as_ref().map(|s| s.liveness.description.as_str()).filter(|_| !found.is_empty());
    for rule in case
        .rules
        .iter()
        .filter(|r| r.outcome.is_open())
        .filter(|r| liveness_said.is_none_or(|said| said != r.description.as_str()))
    {
        let about = if rule.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", capped(state, rule.description.as_str()))
        };
        let text = format!("{}{about}", capped(state, rule.name.as_str()));
        found.push(marked(rule.outcome, text));
    }
    for flag in flags {
        found.push(flag_line(state, flag));
    }
    if !case.screening.is_empty() {
        let n = case.screening.len();
        let best = case
            .screening
            .iter()
            .filter_map(|h| h.score)
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        let best = best.map(|s| format!(", best score {s:.0}")).unwrap_or_default();
        found.push(Line::from(vec![
            Span::styled("● ", theme.error()),
            Span::raw(format!("{n} screening hit{}{best}", if n == 1 { "" } else { "s" })),
        ]));
    }
    if let Some(related) = state.related.get(&case.case_ref).filter(|r| !r.is_empty()) {
        let providers: std::collections::BTreeSet<&str> =
            related.iter().map(|r| r.case_ref.provider.display_name()).collect();
        let n = related.len();
        found.push(Line::from(vec![
            Span::styled("⚑ ", theme.key()),
            Span::raw(format!(
                "the same person in {n} other case{} ({}): see Related cases",
                if n == 1 { "" } else { "s" },
                providers.into_iter().collect::<Vec<_>>().join(", ")
            )),
        ]));
    }
    if found.is_empty() {
        return;
    }
    lines.push(Line::styled("What failed", theme.heading()));
    lines.extend(found);
    lines.push(Line::raw(""));
}

/// An evidence flag with its symbol; in mask mode without the person's data.
fn flag_line(state: &State, flag: &EvidenceFlag) -> Line<'static> {
    let label = if state.mask && flag.is_personal() { flag.masked_label() } else { flag.label() };
    Line::from(vec![
        Span::styled("⚠ ", state.theme().warn().add_modifier(ratatui::style::Modifier::BOLD)),
        Span::raw(label),
    ])
}

/// Up to this many passed checks are listed one by one.
const FOLD_PASSES_ABOVE: usize = 8;

pub fn details(case: &Case, state: &State) -> Text<'static> {
    let mut lines: Vec<Line<'static>> = vec![];
    if let Some(entry) = state.selected_entry().filter(|e| e.case_ref == case.case_ref && e.lane == Lane::Refused) {
        let why = entry.note.as_ref().map(|n| n.to_string()).unwrap_or_default();
        lines.push(Line::styled(format!("✘ The provider refused the last decision: {why}"), state.theme().error()));
        lines.push(Line::styled("  Decide it again, or drop the decision from :outbox.", state.theme().dim()));
    }
    // Worked out once per frame, said at the top and beside each document.
    let flags = crate::domain::flags::evidence_flags(case, state.now.date_naive());
    what_failed(&mut lines, case, &flags, state);
    kv_capped(&mut lines, state, "Status", case.status.as_str());
    kv_capped(&mut lines, state, "Referred for", case.why_referred.as_str());
    if let Some(at) = case.created_at {
        kv(&mut lines, state, "Created", at.format("%Y-%m-%d %H:%M UTC").to_string());
    }

    heading(&mut lines, state, "Applicant");
    kv(&mut lines, state, "Name", masked(state, &case.applicant.name));
    if let Some(dob) = &case.applicant.date_of_birth {
        kv(&mut lines, state, "Date of birth", masked(state, &dob.text()));
    }
    if let Some(n) = &case.applicant.nationality {
        kv(&mut lines, state, "Nationality", masked(state, n));
    }
    field_lines(&mut lines, &case.applicant.fields, "", state);
    lines.extend(super::related::lines(state, case));

    if !case.screening.is_empty() {
        heading(&mut lines, state, "Screening hits");
        let made = state.made.get(&case.case_ref);
        let undecided = case
            .screening
            .iter()
            .filter(|h| !made.is_some_and(|m| m.iter().any(|d| d.target == TargetId::Hit(h.id.clone()) && standing(d))))
            .count();
        if made.is_some_and(|m| m.iter().any(|d| matches!(d.target, TargetId::Hit(_)) && standing(d))) && undecided > 0
        {
            lines.push(Line::styled(
                format!(
                    "{undecided} of {} hits still undecided: settle them, or decide the whole case",
                    case.screening.len()
                ),
                state.theme().key(),
            ));
        }
        for hit in &case.screening {
            let score = hit.score.map(|s| format!("{s:.0}")).unwrap_or_else(|| "?".into());
            let mut spans = vec![
                Span::styled("● ", state.theme().error()),
                Span::raw(masked(state, &hit.name)),
                Span::styled(format!("  score {score}"), state.theme().label()),
            ];
            let decision = made.and_then(|m| m.iter().rev().find(|d| d.target == TargetId::Hit(hit.id.clone())));
            if let Some(d) = decision {
                spans.push(Span::styled(
                    format!("  {}", made_label(state, &case.case_ref, d)),
                    state.theme().level(crate::app::Level::Info),
                ));
            } else if let Some(r) = &hit.resolution {
                spans.push(Span::styled(format!("  resolved: {}", capped(state, r.as_str())), state.theme().dim()));
            }
            lines.push(Line::from(spans));
            let join = |v: &[SafeText]| capped(state, &v.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "));
            if !hit.datasets.is_empty() {
                kv(&mut lines, state, "    Lists", join(&hit.datasets));
            }
            if !hit.countries.is_empty() {
                kv(&mut lines, state, "    Countries", join(&hit.countries));
            }
            if !hit.dates_of_birth.is_empty() {
                let dates = if state.mask {
                    MASKED.to_string()
                } else {
                    join(&hit.dates_of_birth.iter().map(|d| d.text()).collect::<Vec<_>>())
                };
                kv(&mut lines, state, "    Dates of birth", dates);
            }
            field_lines(&mut lines, &hit.extra, "    ", state);
            let id = shown_id(state.mask, &capped(state, &hit.id));
            lines.push(Line::styled(format!("    id {id}"), state.theme().dim()));
        }
    }
    for doc in &case.documents {
        heading(&mut lines, state, &format!("Document: {}", capped(state, doc.doc_type.as_str())));
        if let Some(c) = &doc.country {
            kv_capped(&mut lines, state, "Country", c.as_str());
        }
        if let Some(n) = &doc.number {
            kv(&mut lines, state, "Number", masked(state, n));
        }
        if let Some(e) = &doc.expiry {
            kv_capped(&mut lines, state, "Expiry", &e.to_string());
        }
        if let Some(name) = &doc.holder_name {
            kv(&mut lines, state, "Holder (as read)", masked(state, name));
        }
        if let Some(dob) = &doc.date_of_birth {
            kv(&mut lines, state, "Date of birth (as read)", masked(state, &dob.text()));
        }
        // What the document itself says is wrong, beside the document.
        for flag in flags.iter().filter(|f| f.document() == doc.id) {
            lines.push(flag_line(state, flag));
        }
        field_lines(&mut lines, &doc.fields, "", state);
    }

    if let Some(selfie) = &case.selfie {
        heading(&mut lines, state, "Selfie and liveness");
        let (word, style) = state.theme().liveness(selfie.liveness.result);
        let mut spans = vec![Span::styled("Liveness: ", state.theme().label()), Span::styled(word, style)];
        if let Some(code) = &selfie.liveness.code {
            spans.push(Span::raw(format!("  {}", capped(state, code.as_str()))));
        }
        lines.push(Line::from(spans));
        lines.push(Line::raw(format!("  {}", capped(state, selfie.liveness.description.as_str()))));
    }

    if let Some(fm) = &case.face_match {
        heading(&mut lines, state, "Face match");
        let score = fm.score.map(|s| format!("{s:.0}/100")).unwrap_or_else(|| "no score".into());
        let verdict = match fm.matched {
            Some(true) => Span::styled("  same person", state.theme().rule(crate::domain::RuleOutcome::Passed).1),
            Some(false) => Span::styled("  NOT a match", state.theme().rule(crate::domain::RuleOutcome::Failed).1),
            None => Span::raw(""),
        };
        lines.push(Line::from(vec![Span::styled("Score: ", state.theme().label()), Span::raw(score), verdict]));
    }

    if !case.rules.is_empty() {
        heading(&mut lines, state, "Results");
        let mut rules: Vec<_> = case.rules.iter().collect();
        rules.sort_by_key(|r| r.outcome.urgency());
        let passed = rules.iter().filter(|r| r.outcome == crate::domain::RuleOutcome::Passed).count();
        // A long tail of passes hides the failures; it is summed up instead.
        let fold_passes = passed > FOLD_PASSES_ABOVE;
        if fold_passes {
            rules.retain(|r| r.outcome != crate::domain::RuleOutcome::Passed || !r.details.is_empty());
        }
        for rule in rules {
            let (mark, style) = state.theme().rule(rule.outcome);
            let mut spans = vec![Span::styled(format!("{mark} "), style), Span::raw(capped(state, rule.name.as_str()))];
            if !rule.description.is_empty() && rule.outcome != crate::domain::RuleOutcome::Passed {
                spans.push(Span::styled(
                    format!(" — {}", capped(state, rule.description.as_str())),
                    state.theme().dim(),
                ));
            }
            lines.push(Line::from(spans));
            field_lines(&mut lines, &rule.details, "    ", state);
        }
        if fold_passes {
            let (mark, style) = state.theme().rule(crate::domain::RuleOutcome::Passed);
            lines.push(Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::styled("every other check passed", state.theme().dim()),
            ]));
        }
    }

    let elements: Vec<&MadeDecision> = state
        .made
        .get(&case.case_ref)
        .map(|m| m.iter().filter(|d| !matches!(d.target, TargetId::Hit(_))).collect())
        .unwrap_or_default();
    if !elements.is_empty() {
        heading(&mut lines, state, "Decisions made in kycdesk");
        for d in elements {
            let target = match &d.target {
                TargetId::Case => "whole case".to_string(),
                TargetId::Element(e) | TargetId::Hit(e) => e.clone(),
            };
            lines.push(Line::raw(format!("  {target}: {}", made_label(state, &case.case_ref, d))));
            if !d.reason.is_empty() {
                // Analysts' words may name the person: masked like the rest.
                let why = if state.mask { MASKED.to_string() } else { d.reason.clone() };
                lines.push(Line::styled(format!("    why: {why}"), state.theme().dim()));
            }
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(state.hints(Context::Case), state.theme().dim()));
    Text::from(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Applicant, CaseRef, Liveness, LivenessResult, ProviderId, Selfie};

    fn long_named_case() -> Case {
        Case {
            case_ref: CaseRef::new(ProviderId::Sumsub, "a1"),
            check_type: SafeText::new("kyc"),
            status: SafeText::new("onHold"),
            why_referred: SafeText::new("liveness"),
            created_at: None,
            applicant: Applicant {
                name: SafeText::new(&"Zoë ".repeat(2_500)),
                fields: vec![Field::new("Address", &"x".repeat(10_000))],
                ..Applicant::default()
            },
            documents: vec![],
            selfie: Some(Selfie {
                media: None,
                liveness: Liveness {
                    result: LivenessResult::NotLive,
                    code: None,
                    description: SafeText::new("spoof suspected"),
                },
            }),
            rules: vec![],
            face_match: None,
            screening: vec![],
            targets: vec![],
        }
    }

    fn text_of(t: &Text<'_>) -> Vec<String> {
        t.lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn long_values_are_cut_and_shown_whole_on_demand() {
        let mut state = State::new(Default::default(), Default::default(), chrono::Utc::now());
        let case = long_named_case();
        let lines = text_of(&details(&case, &state));
        let name = lines.iter().find(|l| l.starts_with("Name: ")).cloned().unwrap_or_default();
        assert!(name.chars().count() < VALUE_CAP + 60, "{} characters", name.chars().count());
        assert!(name.contains("… (10000 characters; e shows them whole)"), "{name}");
        assert!(lines.iter().all(|l| l.chars().count() < VALUE_CAP + 80), "every value is cut");
        // The liveness result is a few lines down, not 10,000 characters down.
        let before_liveness: usize =
            lines.iter().take_while(|l| !l.starts_with("Liveness")).map(|l| l.chars().count()).sum();
        assert!(before_liveness < 1_000, "{before_liveness} characters before the liveness result");

        state.whole_values = true;
        let whole = text_of(&details(&case, &state));
        assert!(whole.iter().any(|l| l.chars().count() == "Name: ".len() + 10_000), "the whole name on demand");
    }
}
