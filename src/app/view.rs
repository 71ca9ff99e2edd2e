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
    pub sort: SortBy,
    pub group: Option<GroupBy>,
    /// Indices into the queue, in display order.
    pub rows: Vec<usize>,
    pub groups: Vec<Group>,
    /// Over the whole queue, whatever the filter.
    pub lane_counts: Vec<(Lane, usize)>,
    pub provider_counts: Vec<(ProviderId, usize)>,
}

/// Every word (lowercase) appears in one of the case's searchable fields.
fn matches(e: &QueueEntry, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let fields = [
        e.case_ref.provider.as_str(),
        e.case_ref.key.as_str(),
        e.applicant.as_str(),
        e.check_type.as_str(),
        e.why_referred.as_str(),
        e.lane.label(),
        e.note.as_ref().map(|n| n.as_str()).unwrap_or(""),
    ];
    let haystack = fields.join("\u{1f}").to_lowercase();
    words.iter().all(|w| haystack.contains(w.as_str()))
}

impl View {
    pub fn set_filter(&mut self, text: &str) {
        self.filter = text.to_string();
        self.words = text.split_whitespace().map(str::to_lowercase).collect();
    }

    pub fn is_filtered(&self) -> bool {
        !self.words.is_empty()
    }

    pub fn rebuild(&mut self, queue: &[QueueEntry]) {
        let mut rows: Vec<usize> = (0..queue.len()).filter(|i| matches(&queue[*i], &self.words)).collect();
        let group = self.group;
        let sort = self.sort;
        let keys: Vec<String> = match group {
            Some(g) => queue.iter().map(|e| g.key(e)).collect(),
            None => vec![],
        };
        let by_sort = |a: &QueueEntry, b: &QueueEntry| -> Ordering {
            let primary = match sort {
                SortBy::Age => Ordering::Equal,
                SortBy::Provider => a.case_ref.provider.cmp(&b.case_ref.provider),
                SortBy::Check => a.check_type.as_str().cmp(b.check_type.as_str()),
                SortBy::Why => a.why_referred.as_str().cmp(b.why_referred.as_str()),
            };
            primary.then(a.received_at.cmp(&b.received_at)).then_with(|| a.case_ref.cmp(&b.case_ref))
        };
        rows.sort_by(|&a, &b| {
            let (ea, eb) = (&queue[a], &queue[b]);
            ea.lane
                .cmp(&eb.lane)
                .then_with(|| if group.is_some() { keys[a].cmp(&keys[b]) } else { Ordering::Equal })
                .then_with(|| by_sort(ea, eb))
        });
        let mut groups: Vec<Group> = vec![];
        for (pos, &i) in rows.iter().enumerate() {
            let lane = queue[i].lane;
            let label = if group.is_some() { keys[i].as_str() } else { "" };
            match groups.last_mut() {
                Some(g) if g.lane == lane && g.label == label => g.len += 1,
                _ => groups.push(Group { lane, label: label.to_string(), start: pos, len: 1 }),
            }
        }
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
        self.rows = rows;
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
        v.set_filter("CUBE ident");
        v.rebuild(&q);
        assert_eq!(keys(&v, &q), ["c2", "c4", "c1"]);
        v.set_filter("cube ident liveness");
        v.rebuild(&q);
        assert_eq!(keys(&v, &q), ["c4", "c1"]);
        v.set_filter("");
        v.rebuild(&q);
        assert_eq!(v.rows.len(), 5);
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
