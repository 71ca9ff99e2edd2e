//! The console: terminal setup and restore, the event loop, and the jobs that do the
//! IO `update` asks for. Frames are drawn from state only; every job reports back as
//! an action.

use crate::app::{self, Action, DecisionDraft, Effect, Settings, State};
use crate::config::{Config, ImageMode};
use crate::domain::{CaseRef, Decision, MediaRef};
use crate::intake::{identities, poller};
use crate::media::{self, ByteCache};
use crate::providers::Providers;
use crate::providers::http::{Priority, with_priority};
use crate::sender::Sender;
use crate::store::{self, SaveItem, Store};
use crate::ui;
use chrono::{DateTime, Utc};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event, EventStream,
    KeyEventKind,
};
use futures::StreamExt;
use ratatui_image::picker::{Picker, ProtocolType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// The outbox view shows the newest decisions, this many.
const OUTBOX_ROWS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Runs the jobs `update` asks for, each in its own task.
#[derive(Clone)]
pub struct Jobs {
    store: Arc<dyn Store>,
    providers: Providers,
    picker: Option<Picker>,
    actions: mpsc::UnboundedSender<Action>,
    wake_sender: Arc<Notify>,
    analyst: String,
    bytes: Arc<Mutex<ByteCache>>,
    /// The store's data version at the last queue read by `reload_if_changed`.
    seen_version: Arc<std::sync::atomic::AtomicI64>,
    queue_reading: Arc<std::sync::atomic::AtomicBool>,
    queue_dirty: Arc<std::sync::atomic::AtomicBool>,
    /// Told after every queue read: new cases may need their identity read. One per
    /// reader (a provider each), so each is told.
    queue_read: Arc<Mutex<Vec<Arc<Notify>>>>,
    /// Fetches running for a case or an image, so leaving it can stop them: the id tells
    /// one fetch of the same thing from a later one.
    inflight: Arc<Mutex<HashMap<Inflight, (u64, tokio::task::AbortHandle)>>>,
    fetch_ids: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Inflight {
    Case(CaseRef),
    Media(MediaRef),
}

impl Jobs {
    pub fn new(
        store: Arc<dyn Store>,
        providers: Providers,
        picker: Option<Picker>,
        actions: mpsc::UnboundedSender<Action>,
        wake_sender: Arc<Notify>,
        analyst: String,
        cache_bytes: usize,
    ) -> Self {
        Self {
            store,
            providers,
            picker,
            actions,
            wake_sender,
            analyst,
            bytes: Arc::new(Mutex::new(ByteCache::new(cache_bytes))),
            seen_version: Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
            queue_reading: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            queue_dirty: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            queue_read: Arc::new(Mutex::new(Vec::new())),
            inflight: Arc::new(Mutex::new(HashMap::new())),
            fetch_ids: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    fn report(&self, action: Action) {
        // The loop has stopped only when the console is closing.
        let _ = self.actions.send(action);
    }

    /// Re-reads the queue only if another process wrote to the store since last time.
    fn reload_if_changed(&self) {
        let jobs = self.clone();
        tokio::spawn(async move {
            let Ok(version) = store::blocking(&jobs.store, |s| s.data_version()).await else { return };
            if jobs.seen_version.swap(version, std::sync::atomic::Ordering::Relaxed) != version {
                jobs.perform(Effect::LoadQueue).await;
            }
        });
    }

    pub fn run(&self, effect: Effect) {
        let key = match &effect {
            Effect::Cancel { cases, media } => {
                let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
                let keys = cases.iter().cloned().map(Inflight::Case).chain(media.iter().cloned().map(Inflight::Media));
                for key in keys {
                    if let Some((_, fetch)) = inflight.remove(&key) {
                        fetch.abort();
                    }
                }
                return;
            }
            Effect::FetchCase(r) | Effect::Prefetch(r) => Some(Inflight::Case(r.clone())),
            Effect::FetchMedia { media, .. } => Some(Inflight::Media(media.clone())),
            _ => None,
        };
        let jobs = self.clone();
        let Some(key) = key else {
            tokio::spawn(async move { jobs.perform(effect).await });
            return;
        };
        let id = self.fetch_ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Held while spawning, so the fetch's own removal comes after its entry.
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        let done = key.clone();
        let fetch = tokio::spawn(async move {
            jobs.perform(effect).await;
            let mut inflight = jobs.inflight.lock().unwrap_or_else(|p| p.into_inner());
            if inflight.get(&done).is_some_and(|(running, _)| *running == id) {
                inflight.remove(&done);
            }
        });
        inflight.insert(key, (id, fetch.abort_handle()));
    }

    /// A case's details and the decisions made on it, from the provider and the store.
    async fn fetch_case(&self, case_ref: CaseRef) {
        let lookup = case_ref.clone();
        let made = store::blocking(&self.store, move |s| s.decisions_for(&lookup)).await;
        if let Ok(rows) = made {
            let made = rows
                .into_iter()
                .map(|row| app::MadeDecision {
                    decision_id: row.decision.id,
                    target: row.decision.target,
                    verdict: row.decision.verdict,
                    state: row.state,
                    error: row.last_error.as_deref().map(crate::domain::SafeText::new),
                    analyst: row.decision.analyst,
                    at: row.decision.created_at,
                    reason: row.decision.reason,
                })
                .collect();
            self.report(Action::DecisionsLoaded(case_ref.clone(), made));
        }
        let result = match self.providers.require(case_ref.provider) {
            Ok(p) => p.case(&case_ref).await.map(Box::new).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        self.report(Action::CaseLoaded(case_ref, result));
    }

    pub async fn perform(&self, effect: Effect) {
        match effect {
            Effect::LoadQueue => self.load_queue().await,
            Effect::Poll => match poller::poll_once(&self.store, &self.providers).await {
                Ok(report) => self.report(Action::Polled(report)),
                Err(e) => self.report(Action::QueueLoaded(Err(e.to_string()))),
            },
            Effect::FetchCase(case_ref) => self.fetch_case(case_ref).await,
            Effect::Prefetch(case_ref) => with_priority(Priority::Ahead, self.fetch_case(case_ref)).await,
            Effect::Cancel { .. } => {}
            Effect::RelateCase { case_ref, keys } => {
                let lookup = case_ref.clone();
                let related = store::blocking(&self.store, move |s| {
                    s.record_identity(&lookup, &keys)?;
                    s.related_cases(&lookup)
                })
                .await;
                self.report(Action::RelatedLoaded(case_ref, related.map_err(|e| e.to_string())));
            }
            Effect::FetchMedia { media, area, grey, ahead } => {
                let picture = self.picture(&media, area, 0, grey);
                let result = if ahead { with_priority(Priority::Ahead, picture).await } else { picture.await };
                self.report(Action::MediaLoaded(media, result.map(Arc::new)));
            }
            Effect::FetchViewerImage { media, area, turns, grey } => {
                let result = self.picture(&media, area, turns, grey).await.map(Arc::new);
                self.report(Action::ViewerLoaded { media, turns, result });
            }
            Effect::SaveDecisions { drafts, undo_secs } => {
                let action = match self.save(drafts, undo_secs).await {
                    Ok((decisions, send_after)) => {
                        self.wake_sender.notify_one();
                        Action::DecisionsSaved { decisions, send_after }
                    }
                    Err(e) => Action::DecisionNotSaved(e),
                };
                self.report(action);
            }
            Effect::Withdraw(decision_ids) => {
                let analyst = self.analyst.clone();
                let ids = decision_ids.clone();
                let done = store::blocking(&self.store, move |s| s.withdraw(&ids, &analyst)).await;
                let done = done.map_err(|e| match e {
                    store::StoreError::TooLate { .. } => {
                        "too late: a sender has already taken it (:outbox shows where it is)".to_string()
                    }
                    other => other.to_string(),
                });
                self.report(Action::Withdrawn { decision_ids, result: done });
            }
            Effect::LoadOutbox => {
                let rows = store::blocking(&self.store, |s| s.outbox_list(OUTBOX_ROWS)).await;
                self.report(Action::OutboxLoaded(rows.map_err(|e| e.to_string())));
            }
            Effect::RetryDecision(id) => {
                let analyst = self.analyst.clone();
                let done = store::blocking(&self.store, move |s| s.retry_decision(&id, &analyst)).await;
                self.wake_sender.notify_one();
                let done = done.map(|_| "queued to be sent again".to_string()).map_err(|e| e.to_string());
                self.report(Action::OutboxChanged(done));
            }
            Effect::DropDecision { decision_id, reason } => {
                let analyst = self.analyst.clone();
                let done =
                    store::blocking(&self.store, move |s| s.drop_decision(&decision_id, &analyst, &reason)).await;
                let done =
                    done.map(|_| "dropped; the case is back in the queue".to_string()).map_err(|e| e.to_string());
                self.report(Action::OutboxChanged(done));
            }
            Effect::OpenById(case_ref) => {
                let opened = self.open_by_id(case_ref).await;
                self.report(Action::Opened(opened));
            }
        }
    }

    /// Intake's identity reader for one provider, for as long as the console runs:
    /// reads its cases not read yet, a batch at a time, then waits for the next queue
    /// read. A case that cannot be read is left until the next run; a provider that
    /// fails is tried again after a wait that doubles, up to ten minutes.
    async fn read_identities(&self, adapter: Arc<dyn crate::providers::Provider>, queue_read: Arc<Notify>) {
        const BATCH: usize = 20;
        const IDLE: Duration = Duration::from_secs(60);
        const FIRST_RETRY: Duration = Duration::from_secs(30);
        const LAST_RETRY: Duration = Duration::from_secs(600);
        let mut unreadable = std::collections::HashSet::new();
        enum Next {
            Read,
            QueueChange,
            Retry(Duration),
        }
        let mut retry = FIRST_RETRY;
        loop {
            let next = match identities::read_unread(&self.store, &adapter, BATCH, &unreadable).await {
                Ok(reading) => {
                    if !reading.related.is_empty() {
                        self.report(Action::RelatedFound(reading.related.into_iter().collect()));
                    }
                    let progressed = reading.read > 0 || !reading.unreadable.is_empty();
                    unreadable.extend(reading.unreadable);
                    match reading.provider_failed {
                        Some(e) => {
                            tracing::warn!(provider = %adapter.id(), error = %e, "identities not read; trying later");
                            let wait = retry;
                            retry = (retry * 2).min(LAST_RETRY);
                            Next::Retry(wait)
                        }
                        None if progressed => {
                            retry = FIRST_RETRY;
                            Next::Read
                        }
                        None => Next::QueueChange,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "identities not read");
                    Next::Retry(IDLE)
                }
            };
            match next {
                Next::Read => {}
                Next::QueueChange => {
                    let _ = tokio::time::timeout(IDLE, queue_read.notified()).await;
                }
                Next::Retry(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// A new reader's bell, rung after every queue read.
    fn queue_reader(&self) -> Arc<Notify> {
        let bell = Arc::new(Notify::new());
        self.queue_read.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::clone(&bell));
        bell
    }

    /// One queue read at a time: asks that arrive meanwhile (a bulk decision's deliveries)
    /// are served together by one more read.
    async fn load_queue(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        loop {
            if self.queue_reading.swap(true, SeqCst) {
                self.queue_dirty.store(true, SeqCst);
                return;
            }
            loop {
                self.queue_dirty.store(false, SeqCst);
                let loaded = store::blocking(&self.store, |s| Ok((s.read_queue()?, s.outbox_counts()?))).await;
                match loaded {
                    Ok((read, counts)) => {
                        self.report(Action::QueueLoaded(Ok((read.entries, counts))));
                        self.report(Action::QueueRowsSkipped(read.skipped));
                        for reader in self.queue_read.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                            reader.notify_one();
                        }
                    }
                    Err(e) => self.report(Action::QueueLoaded(Err(e.to_string()))),
                }
                if !self.queue_dirty.load(SeqCst) {
                    break;
                }
            }
            self.queue_reading.store(false, SeqCst);
            // An ask that came after the last check but saw the read still running.
            if !self.queue_dirty.load(SeqCst) {
                return;
            }
        }
    }

    /// `:open`: reads the case from its provider and queues it like intake would.
    async fn open_by_id(&self, case_ref: CaseRef) -> Result<CaseRef, String> {
        let provider = self.providers.require(case_ref.provider).map_err(|e| e.to_string())?;
        let case = provider.case(&case_ref).await.map_err(|e| e.to_string())?;
        let entry = case.queue_entry(Utc::now());
        store::blocking(&self.store, move |s| s.upsert_queue(&[entry])).await.map_err(|e| e.to_string())?;
        Ok(case.case_ref)
    }

    async fn picture(
        &self,
        media: &crate::domain::MediaRef,
        area: ratatui::layout::Rect,
        turns: u8,
        grey: bool,
    ) -> Result<app::Picture, String> {
        let Some(picker) = self.picker.clone() else {
            return Err("images are off".into());
        };
        let cached = self.bytes.lock().map(|mut c| c.get(media)).unwrap_or(None);
        let bytes = match cached {
            Some(b) => b,
            None => {
                let provider = self.providers.require(media.provider).map_err(|e| e.to_string())?;
                let fetched = provider.media(media).await.map_err(|e| e.to_string())?;
                if let Ok(mut cache) = self.bytes.lock() {
                    cache.insert(media.clone(), fetched.clone());
                }
                fetched
            }
        };
        tokio::task::spawn_blocking(move || {
            media::picture_turned(&picker, &bytes, area, turns, grey).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("decoder stopped: {e}"))?
    }

    /// Checks every draft with its provider, then commits them all in one transaction.
    async fn save(&self, drafts: Vec<DecisionDraft>, undo_secs: u64) -> Result<(Vec<Decision>, DateTime<Utc>), String> {
        let now = Utc::now();
        let send_after = now + chrono::Duration::seconds(i64::try_from(undo_secs).unwrap_or(i64::MAX / 2_000));
        let mut items = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let decision = Decision {
                id: uuid::Uuid::new_v4().to_string(),
                case_ref: draft.case_ref,
                target: draft.target,
                verdict: draft.verdict,
                reason: draft.reason,
                reason_codes: draft.reason_codes,
                analyst: self.analyst.clone(),
                created_at: now,
            };
            let provider = self.providers.require(decision.case_ref.provider).map_err(|e| e.to_string())?;
            let checked = match &draft.offered {
                Some(target) => provider.check_decision_on(&decision, target),
                None => provider.check_decision(&decision),
            };
            checked.map_err(|e| format!("{}: {e}", decision.case_ref))?;
            items.push(SaveItem { decision, evidence: draft.evidence, closes_case: draft.closes_case });
        }
        let decisions: Vec<Decision> = items.iter().map(|i| i.decision.clone()).collect();
        store::blocking(&self.store, move |s| s.save_decisions(&items, send_after)).await.map_err(|e| e.to_string())?;
        Ok((decisions, send_after))
    }
}

/// Restores the terminal however the console ends (panics restore through the hook
/// `ratatui::init` installs).
struct TerminalGuard {
    mouse: bool,
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if self.mouse {
            let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        }
        let _ = crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
        ratatui::restore();
    }
}

/// How the console will draw images, decided once at start from the config and, for
/// `auto` inside tmux, whether tmux passes graphics through.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ImagePlan {
    Off,
    Halfblocks,
    /// The protocol the config names, whatever the terminal says.
    Force(ProtocolType),
    /// Ask the terminal. Inside tmux only kitty or sixel are kept from its answer: tmux
    /// passes those through, and anything else falls back to half blocks.
    Query {
        kitty_or_sixel_only: bool,
    },
}

impl ImagePlan {
    /// The protocol to draw with, given what the terminal answered.
    pub fn accept(self, answered: ProtocolType) -> ProtocolType {
        match self {
            ImagePlan::Off | ImagePlan::Halfblocks => ProtocolType::Halfblocks,
            ImagePlan::Force(forced) => forced,
            ImagePlan::Query { kitty_or_sixel_only: true }
                if !matches!(answered, ProtocolType::Kitty | ProtocolType::Sixel) =>
            {
                ProtocolType::Halfblocks
            }
            ImagePlan::Query { .. } => answered,
        }
    }
}

/// The decision of [`picker`], without its IO. `tmux_passthrough` is `None` outside
/// tmux, else whether `allow-passthrough` is on: without it tmux answers the terminal
/// query itself (and swallows keys typed meanwhile), and graphics never reach the
/// terminal, so half blocks.
pub fn image_plan(mode: ImageMode, tmux_passthrough: Option<bool>) -> ImagePlan {
    match (mode, tmux_passthrough) {
        (ImageMode::Off, _) => ImagePlan::Off,
        (ImageMode::Halfblocks, _) => ImagePlan::Halfblocks,
        (ImageMode::Kitty, _) => ImagePlan::Force(ProtocolType::Kitty),
        (ImageMode::Sixel, _) => ImagePlan::Force(ProtocolType::Sixel),
        (ImageMode::Iterm2, _) => ImagePlan::Force(ProtocolType::Iterm2),
        (ImageMode::Auto, None) => ImagePlan::Query { kitty_or_sixel_only: false },
        (ImageMode::Auto, Some(true)) => ImagePlan::Query { kitty_or_sixel_only: true },
        (ImageMode::Auto, Some(false)) => ImagePlan::Halfblocks,
    }
}

/// `tmux show -gv allow-passthrough` answers `on` or `all` when graphics pass through.
pub fn passthrough_answer_is_on(answer: &str) -> bool {
    matches!(answer.trim(), "on" | "all")
}

/// Inside tmux (`TMUX` set): whether tmux passes graphics through; `None` outside tmux.
/// A tmux too old to know the option, or one that cannot be asked, passes nothing.
pub fn tmux_passthrough() -> Option<bool> {
    std::env::var_os("TMUX")?;
    let answer = std::process::Command::new("tmux")
        .args(["show", "-gv", "allow-passthrough"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    Some(
        answer.is_ok_and(|out| out.status.success() && passthrough_answer_is_on(&String::from_utf8_lossy(&out.stdout))),
    )
}

/// [`image_plan`] here: tmux is asked only when the config leaves it to `auto`.
pub fn image_plan_here(mode: ImageMode) -> ImagePlan {
    let tmux = if mode == ImageMode::Auto { tmux_passthrough() } else { None };
    image_plan(mode, tmux)
}

/// The picker for a plan. Querying writes to the terminal and reads its answer, so it
/// runs once, before events are read; a terminal that does not answer gets half blocks
/// (or the forced protocol at a default cell size).
pub fn picker(plan: ImagePlan) -> Option<Picker> {
    let mut picker = match plan {
        ImagePlan::Off => return None,
        ImagePlan::Halfblocks => return Some(Picker::halfblocks()),
        ImagePlan::Force(_) | ImagePlan::Query { .. } => {
            Picker::from_query_stdio().unwrap_or_else(|_| Picker::halfblocks())
        }
    };
    picker.set_protocol_type(plan.accept(picker.protocol_type()));
    Some(picker)
}

pub struct ConsoleSetup {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub providers: Providers,
    /// Shown in the title bar (e.g. where the demo emulator listens).
    pub banner: String,
}

pub async fn run(setup: ConsoleSetup) -> Result<(), ConsoleError> {
    let ConsoleSetup { config, store, providers, banner } = setup;
    let mut terminal = ratatui::init();
    let _guard = TerminalGuard { mouse: config.mouse };
    // A pasted reason arrives as one event, not as thousands of keys.
    crossterm::execute!(std::io::stdout(), EnableBracketedPaste)?;
    // Mouse capture takes the terminal's own selection away: only when asked for.
    if config.mouse {
        crossterm::execute!(std::io::stdout(), EnableMouseCapture)?;
    }
    // Ask the terminal once, before reading events, which image protocol it speaks.
    let picker = picker(image_plan_here(config.image_protocol));
    let capabilities: HashMap<_, _> = providers.iter().map(|p| (p.id(), p.capabilities().clone())).collect();
    let settings = Settings {
        analyst: config.analyst.clone(),
        banner,
        keys: config.keys.clone(),
        templates: config.templates.clone(),
        undo_secs: config.undo_secs,
        read_only: config.read_only,
        mask: config.mask,
        theme: config.theme,
        mouse: config.mouse,
        grey_images: config.grey_images,
        prefetch: config.prefetch,
        low_bandwidth: config.low_bandwidth,
    };
    let mut state = State::new(settings, capabilities, Utc::now());
    state.images_enabled = picker.is_some();
    let size = terminal.size()?;
    let _ = app::update(&mut state, ui::resize(size.width, size.height));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let wake = Arc::new(Notify::new());
    let jobs = Jobs::new(
        Arc::clone(&store),
        providers.clone(),
        picker,
        tx.clone(),
        Arc::clone(&wake),
        config.analyst.clone(),
        config.image_cache_bytes,
    );

    // The sender: delivers what is saved, including what a previous run left behind.
    let (delivery_tx, mut delivery_rx) = mpsc::unbounded_channel();
    tokio::spawn(
        Sender::new(Arc::clone(&store), providers.clone()).with_lease(config.lease).run(Arc::clone(&wake), delivery_tx),
    );
    let forward = tx.clone();
    tokio::spawn(async move {
        while let Some(d) = delivery_rx.recv().await {
            let action = match d {
                Ok(delivery) => Action::Delivered(delivery),
                Err(e) => Action::DeliveryProblem(e.to_string()),
            };
            if forward.send(action).is_err() {
                break;
            }
        }
    });
    // Intake: poll list-capable providers now and then on an interval.
    let poll_jobs = jobs.clone();
    let interval = config.poll_interval;
    tokio::spawn(async move {
        loop {
            poll_jobs.perform(Effect::Poll).await;
            tokio::time::sleep(interval).await;
        }
    });

    if config.find_related {
        for adapter in providers.iter() {
            let (reader, adapter, queue_read) = (jobs.clone(), Arc::clone(adapter), jobs.queue_reader());
            tokio::spawn(async move { reader.read_identities(adapter, queue_read).await });
        }
    }
    jobs.run(Effect::LoadQueue);
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Another process's write (a webhook through the inbox, a colleague's decision) is
    // on screen within a quarter of a second: the check is one read of a counter, and
    // the queue is read again only when it moved.
    let mut reload = tokio::time::interval(Duration::from_millis(250));
    reload.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        terminal.draw(|frame| ui::draw(frame, &state))?;
        let action = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => Action::Key(key),
                Some(Ok(Event::Resize(width, height))) => ui::resize(width, height),
                Some(Ok(Event::Paste(text))) => Action::Paste(text),
                Some(Ok(Event::Mouse(mouse))) if config.mouse => Action::Mouse(mouse),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(action) = rx.recv() => action,
            _ = tick.tick() => Action::Tick(Utc::now()),
            // Other writers (another console, the inbox) add cases too.
            _ = reload.tick() => { jobs.reload_if_changed(); continue; }
        };
        for effect in app::update(&mut state, action) {
            jobs.run(effect);
        }
        // Apply whatever else has arrived before spending a frame on it.
        while let Ok(action) = rx.try_recv() {
            for effect in app::update(&mut state, action) {
                jobs.run(effect);
            }
        }
        if state.should_quit {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_protocol_is_forced_and_off_means_no_picker() {
        for (mode, forced) in [
            (ImageMode::Kitty, ProtocolType::Kitty),
            (ImageMode::Sixel, ProtocolType::Sixel),
            (ImageMode::Iterm2, ProtocolType::Iterm2),
        ] {
            for tmux in [None, Some(false), Some(true)] {
                assert_eq!(image_plan(mode, tmux), ImagePlan::Force(forced));
                assert_eq!(image_plan(mode, tmux).accept(ProtocolType::Halfblocks), forced);
            }
        }
        assert_eq!(image_plan(ImageMode::Off, None), ImagePlan::Off);
        assert!(picker(ImagePlan::Off).is_none());
        assert_eq!(image_plan(ImageMode::Halfblocks, Some(true)), ImagePlan::Halfblocks);
    }

    #[test]
    fn auto_asks_the_terminal_outside_tmux_and_keeps_its_answer() {
        let plan = image_plan(ImageMode::Auto, None);
        assert_eq!(plan, ImagePlan::Query { kitty_or_sixel_only: false });
        for answered in [ProtocolType::Kitty, ProtocolType::Sixel, ProtocolType::Iterm2, ProtocolType::Halfblocks] {
            assert_eq!(plan.accept(answered), answered);
        }
    }

    #[test]
    fn auto_inside_tmux_needs_passthrough_for_kitty_or_sixel() {
        assert_eq!(image_plan(ImageMode::Auto, Some(false)), ImagePlan::Halfblocks);
        let plan = image_plan(ImageMode::Auto, Some(true));
        assert_eq!(plan.accept(ProtocolType::Kitty), ProtocolType::Kitty);
        assert_eq!(plan.accept(ProtocolType::Sixel), ProtocolType::Sixel);
        assert_eq!(plan.accept(ProtocolType::Iterm2), ProtocolType::Halfblocks);
    }

    #[test]
    fn tmux_passthrough_is_on_or_all() {
        assert!(passthrough_answer_is_on("on\n"));
        assert!(passthrough_answer_is_on("all\n"));
        assert!(!passthrough_answer_is_on("off\n"));
        assert!(!passthrough_answer_is_on(""));
    }
}
