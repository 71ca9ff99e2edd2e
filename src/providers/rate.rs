//! A provider's rate limit as providers state it: at most N requests in any window of
//! a second. A sliding log of send times keeps to it
//! exactly and still lets N go at once, so a cold case's independent reads leave
//! together instead of one per 1/N s. (governor's GCRA either spaces requests evenly,
//! burst one, or with a larger burst lets up to twice N into one window.)
//!
//! A limit belongs to the provider credential, not to one process: the console, the
//! inbox and every `decide` on a host spend the same one. Once a store is attached
//! ([`WindowLimiter::share`]), the log lives there and every process books its sends in
//! it; until then, and whenever the store cannot answer, the log is this process's own.

use async_trait::async_trait;
use std::collections::VecDeque;
use std::ops::Add;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// Added to every window: requests sent at its edges may reach the provider closer
/// together than they left, by the difference in their network delays.
pub const WINDOW_MARGIN: Duration = Duration::from_millis(100);

/// A point on a clock: this process's (tokio) or the host's (time since the epoch,
/// which every process reads alike).
pub trait Moment: Copy + Ord + Add<Duration, Output = Self> {
    fn since(self, earlier: Self) -> Duration;
}

impl Moment for Instant {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl Moment for Duration {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_sub(earlier)
    }
}

/// The earliest the next request may be sent, given the newest sends (oldest first,
/// the last `limit` are enough): the one rule of the log, wherever it is kept.
pub fn next_slot<T: Moment>(sent: &[T], limit: usize, window: Duration, now: T) -> T {
    let after_window = if sent.len() < limit { now } else { sent[sent.len() - limit] + window };
    after_window.max(now).max(sent.last().copied().unwrap_or(now))
}

/// What booking a send came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Booked: send after this wait (zero: now).
    Booked(Duration),
    /// Not booked (only a free slot was asked for): one is free after this wait.
    Busy(Duration),
}

/// Books `now` or the next slot in `sent` (oldest first) under `limit`; a smaller
/// limit than the log's own books only while the window holds fewer (a share of it).
pub fn book<T: Moment>(sent: &mut VecDeque<T>, limit: usize, window: Duration, now: T, only_if_free: bool) -> Slot {
    let at = next_slot(sent.make_contiguous(), limit, window, now);
    let wait = at.since(now);
    if only_if_free && !wait.is_zero() {
        return Slot::Busy(wait);
    }
    sent.push_back(at);
    Slot::Booked(wait)
}

/// A send log every process on the host shares (the store). Booking is atomic across
/// processes: two never get the same slot.
#[async_trait]
pub trait SharedSends: Send + Sync {
    async fn book(
        &self,
        budget: &str,
        limit: usize,
        window: Duration,
        only_if_free: bool,
    ) -> Result<Slot, Box<dyn std::error::Error + Send + Sync>>;
}

struct Shared {
    sends: Arc<dyn SharedSends>,
    /// Names the credential, never shows it (see `ProviderHttp::new`).
    budget: String,
}

pub struct WindowLimiter {
    limit: usize,
    window: Duration,
    /// When each of the last `limit` requests was (or is planned to be) sent, oldest
    /// first, while no shared log is attached or it fails.
    sent: Mutex<VecDeque<Instant>>,
    shared: OnceLock<Shared>,
}

impl WindowLimiter {
    /// `limit` requests in any `window` (plus [`WINDOW_MARGIN`]); at least one.
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(1);
        Self {
            limit,
            window: window + WINDOW_MARGIN,
            sent: Mutex::new(VecDeque::with_capacity(limit)),
            shared: OnceLock::new(),
        }
    }

    pub fn per_second(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(1))
    }

    /// From now on, books in `sends` under `budget`, with every other process that does.
    /// The first attach stays.
    pub fn share(&self, sends: Arc<dyn SharedSends>, budget: String) {
        let _ = self.shared.set(Shared { sends, budget });
    }

    async fn book(&self, limit: usize, only_if_free: bool) -> Slot {
        if let Some(shared) = self.shared.get() {
            match shared.sends.book(&shared.budget, limit, self.window, only_if_free).await {
                Ok(slot) => return slot,
                // Sent anyway, within this process's own log: a store that cannot
                // answer for a moment must not stop the analyst's calls, and a 429
                // that follows is waited out.
                Err(e) => {
                    tracing::warn!(budget = %shared.budget, error = %e, "shared rate log unavailable; using this process's")
                }
            }
        }
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let slot = book(&mut sent, limit, self.window, Instant::now(), only_if_free);
        while sent.len() > self.limit {
            sent.pop_front();
        }
        slot
    }

    /// Takes the next slot and waits for it. A wait given up (its task dropped) leaves
    /// its slot unused: never more than the limit, sometimes less.
    pub async fn until_ready(&self) {
        if let Slot::Booked(wait) = self.book(self.limit, false).await {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a slot only if one is free now; if not, how long until one is.
    pub async fn try_now(&self) -> Result<(), Duration> {
        self.try_within(self.limit).await
    }

    /// Takes a slot only if the window holds fewer than `share` sends now (of every
    /// process sharing the log): work that must leave the rest of the limit to others.
    pub async fn try_within(&self, share: usize) -> Result<(), Duration> {
        match self.book(share.clamp(1, self.limit), true).await {
            Slot::Booked(_) => Ok(()),
            Slot::Busy(free_in) => Err(free_in),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send times of `n` requests that each wait for their slot, from now.
    async fn sends(limiter: &WindowLimiter, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut at = vec![];
        for _ in 0..n {
            limiter.until_ready().await;
            at.push(start.elapsed());
        }
        at
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_goes_at_once_then_waits_for_the_window() {
        let limiter = WindowLimiter::per_second(5);
        let at = sends(&limiter, 12).await;
        let window = Duration::from_secs(1) + WINDOW_MARGIN;
        assert!(at[..5].iter().all(|t| t.is_zero()), "{at:?}");
        assert!(at[5..10].iter().all(|t| *t == window), "{at:?}");
        assert_eq!(at[10], window * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_ever_holds_more_than_the_limit() {
        let limiter = WindowLimiter::per_second(10);
        // Requests at uneven moments: some waits, some pauses.
        let mut at = vec![];
        let start = Instant::now();
        for i in 0..200u64 {
            if i % 7 == 0 {
                tokio::time::sleep(Duration::from_millis(37 * (i % 5))).await;
            }
            limiter.until_ready().await;
            at.push(start.elapsed());
        }
        for (i, t) in at.iter().enumerate() {
            let in_window = at[i..].iter().take_while(|u| **u < *t + Duration::from_secs(1)).count();
            assert!(in_window <= 10, "{in_window} requests in the second from {t:?}");
        }
        // And the limit is used: 200 requests take about 20 windows, not more.
        let windows = at[199].as_secs_f64() / (1.0 + WINDOW_MARGIN.as_secs_f64());
        assert!(windows < 21.0, "{windows}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_free_slot_is_taken_now_or_not_at_all() {
        let limiter = WindowLimiter::per_second(2);
        assert!(limiter.try_now().await.is_ok() && limiter.try_now().await.is_ok());
        let window = Duration::from_secs(1) + WINDOW_MARGIN;
        assert_eq!(limiter.try_now().await, Err(window), "the window is full");
        tokio::time::advance(window).await;
        assert!(limiter.try_now().await.is_ok());
    }
}
