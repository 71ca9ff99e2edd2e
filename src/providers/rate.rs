//! A provider's rate limit as providers state it: at most N requests in any window of
//! a second. A sliding log of send times keeps to it
//! exactly and still lets N go at once, so a cold case's independent reads leave
//! together instead of one per 1/N s. (governor's GCRA either spaces requests evenly,
//! burst one, or with a larger burst lets up to twice N into one window.)

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Added to every window: requests sent at its edges may reach the provider closer
/// together than they left, by the difference in their network delays.
pub const WINDOW_MARGIN: Duration = Duration::from_millis(100);

pub struct WindowLimiter {
    limit: usize,
    window: Duration,
    /// When each of the last `limit` requests was (or is planned to be) sent, oldest first.
    sent: Mutex<VecDeque<Instant>>,
}

impl WindowLimiter {
    /// `limit` requests in any `window` (plus [`WINDOW_MARGIN`]); at least one.
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(1);
        Self { limit, window: window + WINDOW_MARGIN, sent: Mutex::new(VecDeque::with_capacity(limit)) }
    }

    pub fn per_second(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(1))
    }

    /// The earliest a request may be sent after the ones already planned.
    fn next_slot(sent: &VecDeque<Instant>, limit: usize, window: Duration, now: Instant) -> Instant {
        let after_window = if sent.len() < limit { now } else { sent[sent.len() - limit] + window };
        after_window.max(now).max(sent.back().copied().unwrap_or(now))
    }

    fn book(&self, only_if_now: bool) -> Option<Instant> {
        let now = Instant::now();
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let at = Self::next_slot(&sent, self.limit, self.window, now);
        if only_if_now && at > now {
            return None;
        }
        sent.push_back(at);
        while sent.len() > self.limit {
            sent.pop_front();
        }
        Some(at)
    }

    /// Takes the next slot and waits for it. A wait given up (its task dropped) leaves
    /// its slot unused: never more than the limit, sometimes less.
    pub async fn until_ready(&self) {
        if let Some(at) = self.book(false) {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Takes a slot only if one is free now.
    pub fn try_now(&self) -> bool {
        self.book(true).is_some()
    }

    /// How long until a slot is free (zero: now), taking none.
    pub fn free_in(&self) -> Duration {
        let now = Instant::now();
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        Self::next_slot(&sent, self.limit, self.window, now).saturating_duration_since(now)
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
        assert!(limiter.try_now() && limiter.try_now());
        assert!(!limiter.try_now(), "the window is full");
        tokio::time::advance(Duration::from_secs(1) + WINDOW_MARGIN).await;
        assert!(limiter.try_now());
    }
}
