//! Application state, the actions that change it and the effects it asks for.
//! `update` is pure: no IO, no terminal, no clock. Jobs do the IO and report back as
//! actions; the UI draws from `State` alone.

pub mod keymap;
pub mod update;

use crate::domain::{
    Capabilities, Case, CaseRef, Decision, DecisionTarget, MediaRef, ProviderId, QueueEntry, SafeText, Verdict,
};
use crate::intake::poller::PollReport;
use crate::sender::Delivery;
use crate::store::{Evidence, OutboxCounts};
use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

pub use update::update;

/// An image ready to draw: encoded for the terminal off the UI thread.
pub struct Picture {
    pub protocol: ratatui_image::protocol::Protocol,
    /// Of the provider's bytes: what the audit log records as evidence shown.
    pub sha256: String,
    /// The area it was encoded for.
    pub area: Rect,
}

impl fmt::Debug for Picture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Picture").field("sha256", &self.sha256).field("area", &self.area).finish()
    }
}

#[derive(Debug, Clone)]
pub enum Loadable<T> {
    Loading,
    Ready(T),
    Failed(SafeText),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Queue,
    Case,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogStep {
    Target,
    Verdict,
    ReasonCodes,
    Reason,
    Confirm,
}

/// The decision dialog. Everything typed lives here until the store has it.
pub struct DecisionDialog {
    pub case_ref: CaseRef,
    pub applicant: SafeText,
    pub targets: Vec<DecisionTarget>,
    pub target_index: usize,
    pub verdict_index: usize,
    pub codes_index: usize,
    pub chosen_codes: BTreeSet<&'static str>,
    pub reason: TextArea<'static>,
    pub step: DialogStep,
    pub error: Option<String>,
    /// A save is in flight; keys other than typing are ignored until it answers.
    pub saving: bool,
}

impl DecisionDialog {
    pub fn target(&self) -> Option<&DecisionTarget> {
        self.targets.get(self.target_index)
    }

    pub fn verdict(&self) -> Option<Verdict> {
        self.target()?.verdicts.get(self.verdict_index).copied()
    }

    /// What may be ticked for the chosen verdict.
    pub fn choices(&self) -> &[crate::domain::ReasonCode] {
        match (self.target(), self.verdict()) {
            (Some(t), Some(v)) => t.choices(v),
            _ => &[],
        }
    }

    pub fn reason_text(&self) -> String {
        self.reason.lines().join("\n").trim().to_string()
    }
}

impl fmt::Debug for DecisionDialog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionDialog").field("case_ref", &self.case_ref).field("step", &self.step).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone)]
pub struct Notice {
    pub level: Level,
    pub text: String,
}

#[derive(Debug)]
pub struct State {
    pub queue: Vec<QueueEntry>,
    pub selected: usize,
    /// Once the analyst has moved, the selection follows its case when the queue
    /// changes; before that it stays on the first row.
    pub selection_touched: bool,
    pub screen: Screen,
    /// Case details: the open case and the prefetched ones around it.
    pub cases: HashMap<CaseRef, Loadable<Case>>,
    pub media: HashMap<MediaRef, Loadable<Arc<Picture>>>,
    /// Which document image the upper pane shows.
    pub image_index: usize,
    pub detail_scroll: u16,
    pub dialog: Option<DecisionDialog>,
    /// Hits decided in this session (their decisions are saved), per case.
    pub decided_hits: HashMap<CaseRef, BTreeSet<String>>,
    pub help: bool,
    pub mask: bool,
    pub images_enabled: bool,
    pub counts: OutboxCounts,
    pub notice: Option<Notice>,
    pub banner: String,
    pub analyst: String,
    pub capabilities: HashMap<ProviderId, Capabilities>,
    pub size: Rect,
    pub now: DateTime<Utc>,
    pub queue_loaded: bool,
    pub should_quit: bool,
}

impl State {
    pub fn new(
        analyst: String,
        banner: String,
        capabilities: HashMap<ProviderId, Capabilities>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            queue: vec![],
            selected: 0,
            selection_touched: false,
            screen: Screen::Queue,
            cases: HashMap::new(),
            media: HashMap::new(),
            image_index: 0,
            detail_scroll: 0,
            dialog: None,
            decided_hits: HashMap::new(),
            help: false,
            mask: false,
            images_enabled: true,
            counts: OutboxCounts::default(),
            notice: None,
            banner,
            analyst,
            capabilities,
            size: Rect::new(0, 0, 120, 40),
            now,
            queue_loaded: false,
            should_quit: false,
        }
    }

    pub fn selected_entry(&self) -> Option<&QueueEntry> {
        self.queue.get(self.selected)
    }

    pub fn open_case(&self) -> Option<&Case> {
        let entry = self.selected_entry()?;
        match self.cases.get(&entry.case_ref) {
            Some(Loadable::Ready(case)) => Some(case),
            _ => None,
        }
    }
}

/// What a decision is before it has an id and a time (the job gives it both).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDraft {
    pub case_ref: CaseRef,
    pub target: crate::domain::TargetId,
    pub verdict: Verdict,
    pub reason: String,
    pub reason_codes: Vec<String>,
}

#[derive(Debug)]
pub enum Action {
    Key(crossterm::event::KeyEvent),
    Resize { width: u16, height: u16 },
    Tick(DateTime<Utc>),
    QueueLoaded(Result<(Vec<QueueEntry>, OutboxCounts), String>),
    CaseLoaded(CaseRef, Result<Box<Case>, String>),
    MediaLoaded(MediaRef, Result<Arc<Picture>, String>),
    DecisionSaved(Decision),
    DecisionNotSaved(String),
    Delivered(Delivery),
    DeliveryProblem(String),
    Polled(PollReport),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadQueue,
    Poll,
    FetchCase(CaseRef),
    /// Fetch (or take from the byte cache), decode and encode for `area`.
    FetchMedia {
        media: MediaRef,
        area: Rect,
    },
    SaveDecision {
        draft: DecisionDraft,
        evidence: Evidence,
    },
}
