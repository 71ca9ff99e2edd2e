//! What the queue pane shows: the queue filtered, sorted and grouped, with its counts.
//! Rebuilt from the queue when the queue, the filter, the sort or the grouping changes,
//! never per frame.

use crate::domain::{Lane, ProviderId, QueueEntry};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Oldest first: the order providers expect cases to be worked in.
    #[default]
    Age,
    Provider,
    Check,
    Why,
}

impl SortBy {
    pub const ALL: [SortBy; 4] = [SortBy::Age, SortBy::Provider, SortBy::Check, SortBy::Why];

    pub fn name(self) -> &'static str {
        match self {
            SortBy::Age => "age",
            SortBy::Provider => "provider",
            SortBy::Check => "check",
            SortBy::Why => "why",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The referral reason: the same liveness code, failed rule or screening result.
    Why,
    Provider,
    Check,
}

impl GroupBy {
    pub const ALL: [GroupBy; 3] = [GroupBy::Why, GroupBy::Provider, GroupBy::Check];

    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Why => "why",
            GroupBy::Provider => "provider",
            GroupBy::Check => "check",
        }
    }

    fn key(self, e: &QueueEntry) -> String {
        match self {
            GroupBy::Why => e.why_referred.one_line(),
            GroupBy::Provider => e.case_ref.provider.display_name().to_string(),
            GroupBy::Check => e.check_type.one_line(),
        }
    }
}

/// A run of rows with the same lane (and group key, when grouped).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub lane: Lane,
    /// The group key; empty when the queue is not grouped.
    pub label: String,
    /// Position of its first row in `View::rows`.
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, Default)]
pub struct View {
    /// As typed; words separated by spaces must all match.
    pub filter: String,
    words: Vec<String>,
    /// The filter `rows` were chosen with: a filter that extends it (a keystroke typed)
    /// only narrows them, so only they are looked at again.
    applied: String,
    pub sort: SortBy,
    pub group: Option<GroupBy>,
    /// Every queue index in display order, whatever the filter: sorted once per queue,
    /// sort or grouping, not per keystroke.
    ordered: Vec<usize>,
    /// Per queue index, its group's label in `labels` (when grouped).
    group_of: Vec<u32>,
    labels: Vec<String>,
    /// Indices into the queue, in display order.
    pub rows: Vec<usize>,
    pub groups: Vec<Group>,
    /// Over the whole queue, whatever the filter.
    pub lane_counts: Vec<(Lane, usize)>,
    pub provider_counts: Vec<(ProviderId, usize)>,
}

/// Every word (lowercase) appears in one of the case's searchable fields. `haystack` is
/// a buffer reused across cases, so a keystroke over a million cases allocates nothing
/// per case.
fn matches(e: &QueueEntry, words: &[String], haystack: &mut String) -> bool {
    if words.is_empty() {
        return true;
    }
    haystack.clear();
    let fields = [
        e.case_ref.provider.as_str(),
        e.case_ref.key.as_str(),
        e.applicant.as_str(),
        e.check_type.as_str(),
        e.why_referred.as_str(),
        e.lane.label(),
        e.note.as_ref().map(|n| n.as_str()).unwrap_or(""),
    ];
    for field in fields {
        if field.is_ascii() {
            let from = haystack.len();
            haystack.push_str(field);
            haystack[from..].make_ascii_lowercase();
        } else {
            haystack.extend(field.chars().flat_map(char::to_lowercase));
        }
        haystack.push('\u{1f}');
    }
    words.iter().all(|w| haystack.contains(w.as_str()))
}

/// The `candidates` (in order) that match, split over the cores for a large queue.
fn matching(candidates: &[usize], queue: &[QueueEntry], words: &[String]) -> Vec<usize> {
    const PER_THREAD: usize = 50_000;
    if words.is_empty() {
        return candidates.to_vec();
    }
    let keep = |chunk: &[usize]| {
        let mut haystack = String::with_capacity(256);
        chunk.iter().copied().filter(|&i| matches(&queue[i], words, &mut haystack)).collect::<Vec<usize>>()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(candidates.len() / PER_THREAD);
    if threads <= 1 {
        return keep(candidates);
    }
    let chunks: Vec<&[usize]> = candidates.chunks(candidates.len().div_ceil(threads)).collect();
    std::thread::scope(|scope| {
        let running: Vec<_> = chunks.iter().map(|chunk| scope.spawn(|| keep(chunk))).collect();
        // A chunk whose thread could not finish is matched here instead.
        let mut rows = Vec::new();
        for (handle, chunk) in running.into_iter().zip(&chunks) {
            rows.extend(handle.join().unwrap_or_else(|_| keep(chunk)));
        }
        rows
    })
}

impl View {
    /// A new filter: only the rows shown are matched again when it extends the last one.
    pub fn set_filter(&mut self, text: &str, queue: &[QueueEntry]) {
        self.filter = text.to_string();
        self.words = text.split_whitespace().map(str::to_lowercase).collect();
        let narrows = text.starts_with(self.applied.as_str());
        let candidates = if narrows { std::mem::take(&mut self.rows) } else { self.ordered.clone() };
        self.rows = matching(&candidates, queue, &self.words);
        self.applied = text.to_string();
        self.regroup(queue);
    }

    pub fn is_filtered(&self) -> bool {
        !self.words.is_empty()
    }

    /// After the queue, the sort or the grouping changed: the order and the counts
    /// again, then the filter over them.
    pub fn rebuild(&mut self, queue: &[QueueEntry]) {
        let group = self.group;
        let sort = self.sort;
        self.labels.clear();
        self.group_of.clear();
        if let Some(g) = group {
            let mut ids: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
            for e in queue {
                let key = g.key(e);
                let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                let id = *ids.entry(key).or_insert(next);
                self.group_of.push(id);
            }
            self.labels = vec![String::new(); ids.len()];
            for (label, id) in ids {
                if let Some(slot) = self.labels.get_mut(id as usize) {
                    *slot = label;
                }
            }
        }
        let (labels, group_of) = (&self.labels, &self.group_of);
        let label = |i: usize| group_of.get(i).and_then(|g| labels.get(*g as usize)).map_or("", |l| l.as_str());
        let by_sort = |a: &QueueEntry, b: &QueueEntry| -> Ordering {
            let primary = match sort {
                SortBy::Age => Ordering::Equal,
                SortBy::Provider => a.case_ref.provider.cmp(&b.case_ref.provider),
                SortBy::Check => a.check_type.as_str().cmp(b.check_type.as_str()),
                SortBy::Why => a.why_referred.as_str().cmp(b.why_referred.as_str()),
            };
            primary.then(a.received_at.cmp(&b.received_at)).then_with(|| a.case_ref.cmp(&b.case_ref))
        };
        let mut ordered: Vec<usize> = (0..queue.len()).collect();
        ordered.sort_by(|&a, &b| {
            let (ea, eb) = (&queue[a], &queue[b]);
            ea.lane.cmp(&eb.lane).then_with(|| label(a).cmp(label(b))).then_with(|| by_sort(ea, eb))
        });
        self.ordered = ordered;
        self.lane_counts = Lane::ALL
            .into_iter()
            .map(|lane| (lane, queue.iter().filter(|e| e.lane == lane).count()))
            .filter(|(_, n)| *n > 0)
            .collect();
        self.provider_counts = ProviderId::ALL
            .into_iter()
            .map(|p| (p, queue.iter().filter(|e| e.case_ref.provider == p).count()))
            .filter(|(_, n)| *n > 0)
            .collect();
        self.rows = matching(&self.ordered, queue, &self.words);
        self.applied = self.filter.clone();
        self.regroup(queue);
    }

    /// The runs of `rows` with one lane (and group label).
    fn regroup(&mut self, queue: &[QueueEntry]) {
        let mut groups: Vec<Group> = vec![];
        let mut last: Option<(Lane, u32)> = None;
        for (pos, &i) in self.rows.iter().enumerate() {
            let key = (queue[i].lane, self.group_of.get(i).copied().unwrap_or(0));
            match groups.last_mut() {
                Some(g) if last == Some(key) => g.len += 1,
                _ => {
                    let label = if self.group.is_some() {
                        self.labels.get(key.1 as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    };
                    groups.push(Group { lane: key.0, label, start: pos, len: 1 });
                }
            }
            last = Some(key);
        }
        self.groups = groups;
    }

    /// The group a row position belongs to.
    pub fn group_at(&self, pos: usize) -> Option<&Group> {
        // Groups are in row order: the last one starting at or before `pos`.
        let after = self.groups.partition_point(|g| g.start <= pos);
        self.groups.get(after.checked_sub(1)?).filter(|g| pos < g.start + g.len)
    }

    /// Position of a queue index in the view.
    pub fn position(&self, queue_index: usize) -> Option<usize> {
        self.rows.iter().position(|&i| i == queue_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CaseRef, QueueStatus, SafeText};
    use chrono::{TimeZone, Utc};

    fn entry(provider: ProviderId, key: &str, check: &str, why: &str, minute: u32, lane: Lane) -> QueueEntry {
        QueueEntry {
            case_ref: CaseRef::new(provider, key),
            applicant: SafeText::new("Ada Example"),
            check_type: SafeText::new(check),
            why_referred: SafeText::new(why),
            received_at: Utc.with_ymd_and_hms(2026, 11, 1, 9, minute, 0).single().unwrap_or_default(),
            status: QueueStatus::Pending,
            lane,
            note: None,
        }
    }

    fn queue() -> Vec<QueueEntry> {
        vec![
            entry(ProviderId::ComplyCube, "c1", "identity_check", "liveness check", 5, Lane::New),
            entry(ProviderId::Sumsub, "s1", "identity", "FORGERY", 1, Lane::New),
            entry(ProviderId::ComplyCube, "c2", "identity_check", "facial similarity", 3, Lane::New),
            entry(ProviderId::ComplyCube, "c3", "screening_check", "2 screening matches", 2, Lane::Escalated),
            entry(ProviderId::ComplyCube, "c4", "identity_check", "liveness check", 4, Lane::New),
        ]
    }

    fn keys(v: &View, q: &[QueueEntry]) -> Vec<String> {
        v.rows.iter().map(|i| q[*i].case_ref.key.clone()).collect()
    }

    #[test]
    fn filter_words_must_all_match_case_insensitively() {
        let q = queue();
        let mut v = View::default();
        v.rebuild(&q);
        v.set_filter("CUBE ident", &q);
        assert_eq!(keys(&v, &q), ["c2", "c4", "c1"]);
        v.set_filter("cube ident liveness", &q);
        assert_eq!(keys(&v, &q), ["c4", "c1"]);
        v.set_filter("", &q);
        assert_eq!(v.rows.len(), 5);
    }

    /// Typed, taken back, typed again, over enough cases to be split across threads:
    /// always what matching every case afresh would show, in the same order.
    #[test]
    fn a_filter_narrowed_or_widened_shows_what_a_fresh_match_would() {
        let q: Vec<QueueEntry> = (0..120_000u32)
            .map(|i| {
                let why = if i % 3 == 0 { "Liveness FACE_TOO_CLOSE" } else { "Dokument abgelaufen, Ärger" };
                let mut e = entry(ProviderId::ComplyCube, &format!("k{i}"), "identity_check", why, i % 60, Lane::New);
                e.received_at += chrono::Duration::seconds(i64::from(i));
                e
            })
            .collect();
        let mut v = View::default();
        v.rebuild(&q);
        let ordered = v.ordered.clone();
        let fresh = |text: &str| -> Vec<usize> {
            let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
            let mut haystack = String::new();
            ordered.iter().copied().filter(|&i| matches(&q[i], &words, &mut haystack)).collect()
        };
        for text in ["ä", "är", "ärg", "är", "", "k1", "k11 face", "k11 face_too", "k11", "K11 LIVE"] {
            v.set_filter(text, &q);
            assert_eq!(v.rows, fresh(text), "{text:?}");
            assert_eq!(v.groups.iter().map(|g| g.len).sum::<usize>(), v.rows.len());
        }
        assert_eq!(fresh("ärg").len(), 80_000);
        assert_eq!(fresh("K11 LIVE").len(), fresh("k11 live").len());
    }

    #[test]
    fn lanes_are_separated_and_groups_counted() {
        let q = queue();
        let mut v = View { group: Some(GroupBy::Why), ..View::default() };
        v.rebuild(&q);
        assert_eq!(keys(&v, &q), ["s1", "c2", "c4", "c1", "c3"]);
        let labels: Vec<(String, usize)> = v.groups.iter().map(|g| (g.label.clone(), g.len)).collect();
        assert_eq!(
            labels,
            [
                ("FORGERY".to_string(), 1),
                ("facial similarity".into(), 1),
                ("liveness check".into(), 2),
                ("2 screening matches".into(), 1)
            ]
        );
        assert_eq!(v.groups[3].lane, Lane::Escalated);
        assert_eq!(v.lane_counts, [(Lane::New, 4), (Lane::Escalated, 1)]);
        assert_eq!(v.provider_counts, [(ProviderId::ComplyCube, 4), (ProviderId::Sumsub, 1)]);
    }

    #[test]
    fn sort_by_provider_then_age() {
        let q = queue();
        let mut v = View { sort: SortBy::Provider, ..View::default() };
        v.rebuild(&q);
        assert_eq!(keys(&v, &q), ["c2", "c4", "c1", "s1", "c3"]);
    }
}
