//! Application state, the actions that change it and the effects it asks for.
//! `update` is pure: no IO, no terminal, no clock. Jobs do the IO and report back as
//! actions; the UI draws from `State` alone.

pub mod command_line;
pub mod keymap;
pub mod update;
pub mod view;

use crate::domain::{
    Capabilities, Case, CaseRef, Decision, DecisionTarget, MediaRef, ProviderId, QueueEntry, ReasonCode, SafeText,
    TargetId, Verdict,
};
use crate::intake::poller::PollReport;
use crate::sender::Delivery;
use crate::store::{Evidence, OutboxCounts, OutboxRow, OutboxState};
use chrono::{DateTime, Utc};
use keymap::{Context, KeyTable};
use ratatui::layout::Rect;
use ratatui_textarea::TextArea;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

pub use update::update;
pub use view::{GroupBy, SortBy, View};

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

/// A reason template from the config: one key inserts its text and ticks its codes.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub key: char,
    /// `None`: offered for every verdict.
    pub verdict: Option<Verdict>,
    pub text: String,
    pub codes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogStep {
    /// Waiting for the cases' details; keys typed meanwhile are kept and replayed.
    Loading,
    Target,
    Verdict,
    ReasonCodes,
    Reason,
    Templates,
    Confirm,
}

/// A case the dialog decides, with the target the decision applies to.
#[derive(Debug, Clone)]
pub struct DialogCase {
    pub case_ref: CaseRef,
    pub applicant: SafeText,
    /// Hits and elements not decided yet (the whole case is always a target).
    pub open_targets: usize,
    /// The evidence carries a flag (expired document, holder who differs): worked out
    /// once the case is loaded, for the confirmation's warning.
    pub flagged: bool,
}

/// The decision dialog, for one case or for every marked one. Everything typed lives
/// here until the store has it.
pub struct DecisionDialog {
    /// In queue order. One entry: a single decision, with a choice of target.
    pub cases: Vec<DialogCase>,
    /// Marked cases that cannot be decided with the others, and why.
    pub left_out: Vec<(CaseRef, String)>,
    /// Targets to choose from: every undecided target of a single case; the whole-case
    /// target (with the verdicts every case allows) in a bulk decision.
    pub targets: Vec<DecisionTarget>,
    pub target_index: usize,
    pub verdict_index: usize,
    pub codes_index: usize,
    pub chosen_codes: BTreeSet<&'static str>,
    pub reason: TextArea<'static>,
    pub step: DialogStep,
    pub error: Option<String>,
    /// A save is in flight; keys are ignored until it answers.
    pub saving: bool,
    /// Keys typed while the cases were loading.
    pub typed_ahead: Vec<crossterm::event::KeyEvent>,
    /// Longest reason every provider involved accepts.
    pub max_chars: usize,
}

impl DecisionDialog {
    pub fn is_bulk(&self) -> bool {
        self.cases.len() > 1
    }

    pub fn target(&self) -> Option<&DecisionTarget> {
        self.targets.get(self.target_index)
    }

    pub fn verdict(&self) -> Option<Verdict> {
        self.target()?.verdicts.get(self.verdict_index).copied()
    }

    /// What may be ticked for the chosen verdict.
    pub fn choices(&self) -> &[ReasonCode] {
        match (self.target(), self.verdict()) {
            (Some(t), Some(v)) => t.choices(v),
            _ => &[],
        }
    }

    pub fn reason_text(&self) -> String {
        self.reason.lines().join("\n").trim().to_string()
    }

    pub fn reason_chars(&self) -> usize {
        self.reason.lines().iter().map(|l| l.chars().count()).sum::<usize>()
            + self.reason.lines().len().saturating_sub(1)
    }
}

impl fmt::Debug for DecisionDialog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionDialog").field("cases", &self.cases.len()).field("step", &self.step).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Filter,
    Command,
    /// Why an outbox decision is dropped.
    DropReason,
}

/// A one-line text input: the filter, the command line, a reason to drop.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// The outbox decision a drop reason is for.
    pub decision_id: Option<String>,
}

/// What happened to each case of a bulk decision.
#[derive(Debug, Clone)]
pub struct BulkResults {
    pub verdict: Verdict,
    pub rows: Vec<(CaseRef, ResultState)>,
    pub left_out: Vec<(CaseRef, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResultState {
    Saved,
    Sent,
    Escalated,
    Retrying(SafeText),
    Refused(SafeText),
    Withdrawn,
}

/// One image of the open case, full-screen.
#[derive(Debug, Clone)]
pub struct ImageViewer {
    pub case_ref: CaseRef,
    /// Into the case's `media()`.
    pub index: usize,
    /// Clockwise quarter turns.
    pub turns: u8,
    pub picture: Loadable<Arc<Picture>>,
}

#[derive(Debug, Clone)]
pub struct OutboxView {
    pub rows: Loadable<Vec<OutboxRow>>,
    pub selected: usize,
}

/// The modals, topmost last; the top one gets the keys.
#[derive(Debug)]
pub enum Modal {
    Help { scroll: u16 },
    Prompt(Prompt),
    Decision(Box<DecisionDialog>),
    Results(BulkResults),
    Outbox(OutboxView),
    Image(ImageViewer),
}

impl Modal {
    pub fn context(&self) -> Context {
        match self {
            Modal::Help { .. } => Context::Help,
            Modal::Prompt(_) => Context::Prompt,
            Modal::Decision(d) => match d.step {
                DialogStep::Reason => Context::Reason,
                DialogStep::Templates => Context::Templates,
                DialogStep::Confirm => Context::Confirm,
                _ => Context::Dialog,
            },
            Modal::Results(_) => Context::Results,
            Modal::Outbox(_) => Context::Outbox,
            Modal::Image(_) => Context::Viewer,
        }
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
    /// The text with case ids hidden, for mask mode; `None` when `text` names no case.
    pub masked: Option<String>,
    /// When it was said: notices go once they are stale.
    pub at: DateTime<Utc>,
}

impl Notice {
    /// How long a notice stays: information briefly, a warning longer, an error until
    /// it has surely been read.
    pub fn lasts(&self) -> chrono::Duration {
        chrono::Duration::seconds(match self.level {
            Level::Info => 8,
            Level::Warn => 30,
            Level::Error => 120,
        })
    }

    pub fn shown(&self, mask: bool) -> &str {
        match (&self.masked, mask) {
            (Some(m), true) => m,
            _ => &self.text,
        }
    }
}

/// The last save, while it can still be taken back.
#[derive(Debug, Clone, PartialEq)]
pub struct Undo {
    pub decision_ids: Vec<String>,
    pub cases: Vec<CaseRef>,
    pub verdict: Verdict,
    pub until: DateTime<Utc>,
}

/// A decision saved on a case, as the case view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MadeDecision {
    pub decision_id: String,
    pub target: TargetId,
    pub verdict: Verdict,
    pub state: OutboxState,
    pub error: Option<SafeText>,
    /// Who decided, when and why: what the next reviewer of an escalated case reads.
    pub analyst: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// What the console was started with, beside the providers' capabilities.
#[derive(Debug, Clone)]
pub struct Settings {
    pub analyst: String,
    pub banner: String,
    pub keys: KeyTable,
    pub templates: Vec<Template>,
    /// Seconds a saved decision waits before it may be sent; `u` takes it back meanwhile.
    pub undo_secs: u64,
    pub read_only: bool,
    /// Mask mode at start (`--mask`); `m` toggles it.
    pub mask: bool,
    pub theme: crate::ui::theme::Theme,
    /// Click to select and wheel to scroll (`mouse = true`); off by default.
    pub mouse: bool,
    /// Under `NO_COLOR`, draw images in greys instead of a labelled placeholder.
    pub grey_images: bool,
    /// Cases ahead of the selection fetched before they are opened (`prefetch`).
    pub prefetch: usize,
    /// Pictures in 256 colours, for a slow link (`low_bandwidth`).
    pub low_bandwidth: bool,
}

/// Two ahead: `n` twice in a row still opens a case already fetched.
pub const DEFAULT_PREFETCH: usize = 2;
/// More would spend the provider's rate on cases the analyst may never open.
pub const MAX_PREFETCH: usize = 8;

impl Default for Settings {
    fn default() -> Self {
        Self {
            analyst: "analyst".into(),
            banner: String::new(),
            keys: KeyTable::default(),
            templates: vec![],
            undo_secs: 5,
            read_only: false,
            mask: false,
            theme: crate::ui::theme::Theme::default(),
            mouse: false,
            grey_images: false,
            prefetch: DEFAULT_PREFETCH,
            low_bandwidth: false,
        }
    }
}

#[derive(Debug)]
pub struct State {
    pub queue: Vec<QueueEntry>,
    /// What the queue shows: filtered, sorted, grouped (indices into `queue`).
    pub view: View,
    /// Position in `view.rows`.
    pub selected: usize,
    /// Once the analyst has moved, the selection follows its case when the queue
    /// changes; before that it stays on the first row.
    pub selection_touched: bool,
    pub screen: Screen,
    pub marks: HashSet<CaseRef>,
    /// The last case marked: `V` marks from here to the cursor.
    pub mark_anchor: Option<CaseRef>,
    /// Case details: the open case, the prefetched ones around it, those a dialog decides.
    pub cases: HashMap<CaseRef, Loadable<Case>>,
    pub media: HashMap<MediaRef, Loadable<Arc<Picture>>>,
    /// Decisions saved on the held cases, per target.
    pub made: HashMap<CaseRef, Vec<MadeDecision>>,
    /// Other cases about the same person as a held case (any provider), from the store.
    pub related: HashMap<CaseRef, Vec<crate::domain::identity::RelatedCase>>,
    /// Which document image the upper pane shows.
    pub image_index: usize,
    pub detail_scroll: u16,
    /// The case view shows long values whole instead of cut at `ui::case::VALUE_CAP`.
    pub whole_values: bool,
    pub modals: Vec<Modal>,
    /// Saves that can still be taken back, oldest first; `u` takes back the newest.
    pub undo: Vec<Undo>,
    /// The last reason typed for each verdict, offered beside the templates.
    pub last_reasons: HashMap<Verdict, String>,
    pub mask: bool,
    pub read_only: bool,
    pub images_enabled: bool,
    /// Under `NO_COLOR`, images in greys (`grey_images`, `:greys`) instead of a
    /// placeholder.
    pub grey_images: bool,
    pub counts: OutboxCounts,
    /// Queue rows the last read skipped as unreadable; the status bar counts them.
    pub skipped_rows: Vec<crate::store::SkippedRow>,
    pub notice: Option<Notice>,
    pub settings: Settings,
    pub capabilities: HashMap<ProviderId, Capabilities>,
    pub size: Rect,
    /// The inside of the image pane at this size: images are encoded for it.
    pub image_area: Rect,
    /// The inside of the full-screen image viewer.
    pub viewer_area: Rect,
    pub now: DateTime<Utc>,
    pub queue_loaded: bool,
    /// A case `:open` fetched: selected and opened once the queue has it.
    pub pending_open: Option<CaseRef>,
    /// Quit was pressed with decisions still waiting: the next quit goes.
    pub quit_armed: bool,
    pub should_quit: bool,
}

impl State {
    pub fn new(settings: Settings, capabilities: HashMap<ProviderId, Capabilities>, now: DateTime<Utc>) -> Self {
        Self {
            queue: vec![],
            view: View::default(),
            selected: 0,
            selection_touched: false,
            screen: Screen::Queue,
            marks: HashSet::new(),
            mark_anchor: None,
            cases: HashMap::new(),
            media: HashMap::new(),
            made: HashMap::new(),
            related: HashMap::new(),
            image_index: 0,
            detail_scroll: 0,
            whole_values: false,
            modals: vec![],
            undo: vec![],
            last_reasons: HashMap::new(),
            mask: settings.mask,
            read_only: settings.read_only,
            images_enabled: true,
            grey_images: settings.grey_images,
            counts: OutboxCounts::default(),
            skipped_rows: vec![],
            notice: None,
            settings,
            capabilities,
            size: Rect::new(0, 0, 120, 40),
            image_area: Rect::default(),
            viewer_area: Rect::default(),
            now,
            queue_loaded: false,
            pending_open: None,
            quit_armed: false,
            should_quit: false,
        }
    }

    /// The status-bar hints for `context`, without what this session cannot do
    /// (deciding, when read-only).
    pub fn hints(&self, context: Context) -> String {
        let read_only = self.read_only;
        self.settings.keys.hints_where(context, |cmd| {
            !(read_only && matches!(cmd, crate::app::keymap::Command::Decide | crate::app::keymap::Command::Undo))
        })
    }

    pub fn theme(&self) -> crate::ui::theme::Theme {
        self.settings.theme
    }

    /// Whether images are decoded and drawn: not when off, nor on a terminal without
    /// colours unless the analyst asked for greys.
    pub fn pictures_drawn(&self) -> bool {
        self.images_enabled && (self.theme().colours() || self.grey_images)
    }

    /// Whether images are decoded in greys: without colours, when asked for.
    pub fn grey(&self) -> bool {
        !self.theme().colours() && self.grey_images
    }

    pub fn selected_entry(&self) -> Option<&QueueEntry> {
        self.view.rows.get(self.selected).and_then(|i| self.queue.get(*i))
    }

    pub fn open_case(&self) -> Option<&Case> {
        let entry = self.selected_entry()?;
        match self.cases.get(&entry.case_ref) {
            Some(Loadable::Ready(case)) => Some(case),
            _ => None,
        }
    }

    /// Moves the cursor to a row of the view, as the analyst's own move.
    pub fn selected_touched_to(&mut self, pos: usize) {
        self.selection_touched = true;
        self.selected = pos.min(self.view.rows.len().saturating_sub(1));
    }

    /// Where keys go now: the top modal, else the screen.
    pub fn context(&self) -> Context {
        match self.modals.last() {
            Some(m) => m.context(),
            None => match self.screen {
                Screen::Queue => Context::Queue,
                Screen::Case => Context::Case,
            },
        }
    }

    pub fn dialog(&self) -> Option<&DecisionDialog> {
        self.modals.iter().rev().find_map(|m| match m {
            Modal::Decision(d) => Some(d.as_ref()),
            _ => None,
        })
    }

    pub fn prompt(&self) -> Option<&Prompt> {
        match self.modals.last() {
            Some(Modal::Prompt(p)) => Some(p),
            _ => None,
        }
    }

    /// Seconds left to take the last save back.
    pub fn undo_left(&self) -> Option<i64> {
        self.last_undo().and_then(|u| self.seconds_left(u))
    }

    /// The newest save still inside its grace period.
    pub fn last_undo(&self) -> Option<&Undo> {
        self.undo.iter().rev().find(|u| u.until > self.now)
    }

    /// Whole seconds left to take a save back, if any.
    pub fn seconds_left(&self, undo: &Undo) -> Option<i64> {
        let left = (undo.until - self.now).num_milliseconds();
        (left > 0).then(|| (left + 999) / 1000)
    }

    pub fn templates_for(&self, verdict: Verdict) -> impl Iterator<Item = &Template> {
        self.settings.templates.iter().filter(move |t| t.verdict.is_none_or(|v| v == verdict))
    }
}

/// What a decision is before it has an id and a time (the job gives it both).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDraft {
    pub case_ref: CaseRef,
    pub target: TargetId,
    pub verdict: Verdict,
    pub reason: String,
    pub reason_codes: Vec<String>,
    /// The last open target of the case: with it the case leaves the queue.
    pub closes_case: bool,
    pub evidence: Evidence,
    /// The target as the case offered it (verdicts, codes), to check the decision against.
    pub offered: Option<DecisionTarget>,
}

#[derive(Debug)]
pub enum Action {
    Key(crossterm::event::KeyEvent),
    /// A click or wheel turn (only with `mouse = true`).
    Mouse(crossterm::event::MouseEvent),
    /// Text pasted at once (bracketed paste).
    Paste(String),
    /// The terminal's new size and where images go at that size.
    Resize {
        width: u16,
        height: u16,
        image_area: Rect,
        viewer_area: Rect,
    },
    Tick(DateTime<Utc>),
    QueueLoaded(Result<(Vec<QueueEntry>, OutboxCounts), String>),
    /// The queue rows the last read had to skip (unreadable): the rest loaded.
    QueueRowsSkipped(Vec<crate::store::SkippedRow>),
    CaseLoaded(CaseRef, Result<Box<Case>, String>),
    DecisionsLoaded(CaseRef, Vec<MadeDecision>),
    /// The other cases about the same person as a loaded case.
    RelatedLoaded(CaseRef, Result<Vec<crate::domain::identity::RelatedCase>, String>),
    /// Intake found these cases about the same person as another: those loaded look
    /// their related cases up again.
    RelatedFound(Vec<CaseRef>),
    MediaLoaded(MediaRef, Result<Arc<Picture>, String>),
    /// A full-screen picture, for the viewer showing `media` turned `turns` times.
    ViewerLoaded {
        media: MediaRef,
        turns: u8,
        result: Result<Arc<Picture>, String>,
    },
    DecisionsSaved {
        decisions: Vec<Decision>,
        send_after: DateTime<Utc>,
    },
    DecisionNotSaved(String),
    Withdrawn {
        decision_ids: Vec<String>,
        result: Result<Vec<CaseRef>, String>,
    },
    Delivered(Delivery),
    DeliveryProblem(String),
    Polled(PollReport),
    OutboxLoaded(Result<Vec<OutboxRow>, String>),
    /// A retry or drop from the outbox view was done (or not).
    OutboxChanged(Result<String, String>),
    /// `:open` fetched a case into the queue.
    Opened(Result<CaseRef, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadQueue,
    Poll,
    /// A case the analyst is opening (or deciding): its calls go first.
    FetchCase(CaseRef),
    /// A case held ahead of (or behind) the open one: fetched with the provider's rate
    /// left over by the analyst's own calls, before background work.
    Prefetch(CaseRef),
    /// Fetches still running for cases and images the analyst has moved away from: they
    /// are stopped, so they no longer take the provider's rate.
    Cancel {
        cases: Vec<CaseRef>,
        media: Vec<MediaRef>,
    },
    /// Record who a loaded case is about (its identity keys) in the store, then look up
    /// the other cases about the same person. Store only: no provider call.
    RelateCase {
        case_ref: CaseRef,
        keys: Vec<crate::domain::identity::IdentityKey>,
    },
    /// Fetch (or take from the byte cache), decode and encode for `area`.
    FetchMedia {
        media: MediaRef,
        area: Rect,
        /// Decoded in greys (a terminal without colours, on request).
        grey: bool,
        /// For a case held ahead, not the open one (fetched as [`Effect::Prefetch`] is).
        ahead: bool,
    },
    /// An image encoded for the full-screen viewer, turned `turns` quarter turns.
    FetchViewerImage {
        media: MediaRef,
        area: Rect,
        turns: u8,
        grey: bool,
    },
    /// All of one action commit together, then wait `undo_secs` before sending.
    SaveDecisions {
        drafts: Vec<DecisionDraft>,
        undo_secs: u64,
    },
    Withdraw(Vec<String>),
    LoadOutbox,
    RetryDecision(String),
    DropDecision {
        decision_id: String,
        reason: String,
    },
    /// Fetch one case by id from its provider and put it in the queue.
    OpenById(CaseRef),
}
