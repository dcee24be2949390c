//! A bounded log store: at most N entries and at most B bytes of messages, oldest evicted first.
//!
//! Entries arrive in batches that are also published to subscribers, so the ring keeps the
//! published `Arc<[LogEntry]>` itself rather than a copy of every entry. An evicted entry's
//! memory is returned when the rest of its batch is evicted too, so at most one batch (its
//! publisher caps batches by count and by bytes) outlives its eviction.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::types::LogEntry;

/// Default number of entries kept per plugin.
pub const DEFAULT_LOG_CAPACITY: usize = 5000;
/// Default byte budget of kept messages per plugin (8 MiB).
pub const DEFAULT_LOG_BYTE_CAP: usize = 8 * 1024 * 1024;
/// Fixed cost counted per entry on top of its message, so tiny lines are not free.
const ENTRY_OVERHEAD: usize = 64;

/// Ring of log entries bounded by count and by bytes.
#[derive(Debug)]
pub struct LogRing {
    batches: VecDeque<Arc<[LogEntry]>>,
    /// Entries of the oldest batch already evicted.
    evicted_in_first: usize,
    len: usize,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
}

impl LogRing {
    /// A ring keeping at most `max_entries` entries and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            batches: VecDeque::new(),
            evicted_in_first: 0,
            len: 0,
            max_entries: max_entries.max(1),
            max_bytes: max_bytes.max(1),
            bytes: 0,
        }
    }

    /// What an entry counts against the byte budget.
    pub fn cost(e: &LogEntry) -> usize {
        e.message.len() + ENTRY_OVERHEAD
    }

    /// Adds an entry (see [`LogRing::push_batch`]).
    pub fn push(&mut self, entry: LogEntry) {
        self.push_batch(Arc::from([entry]));
    }

    /// Adds a batch of entries, evicting the oldest ones to stay within both bounds. The
    /// newest entry is always kept, even when it alone is over the byte budget.
    pub fn push_batch(&mut self, batch: Arc<[LogEntry]>) {
        if batch.is_empty() {
            return;
        }
        self.bytes += batch.iter().map(Self::cost).sum::<usize>();
        self.len += batch.len();
        self.batches.push_back(batch);
        while self.len > self.max_entries || (self.bytes > self.max_bytes && self.len > 1) {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        let Some(first) = self.batches.front() else {
            return;
        };
        self.bytes -= Self::cost(&first[self.evicted_in_first]);
        self.len -= 1;
        self.evicted_in_first += 1;
        if self.evicted_in_first == first.len() {
            self.batches.pop_front();
            self.evicted_in_first = 0;
        }
    }

    /// The kept entries, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogEntry> + '_ {
        self.batches.iter().enumerate().flat_map(move |(i, batch)| {
            let skip = if i == 0 { self.evicted_in_first } else { 0 };
            batch[skip..].iter()
        })
    }

    /// The last `count` entries, oldest first; `count <= 0` means all.
    pub fn last(&self, count: i64) -> Vec<LogEntry> {
        let n = if count <= 0 {
            self.len
        } else {
            (count as usize).min(self.len)
        };
        self.iter().skip(self.len - n).cloned().collect()
    }

    /// The most entries kept.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Number of entries kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes currently accounted for.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{LogLevel, LogSource};

    fn entry(seq: u64, msg: &str) -> LogEntry {
        LogEntry {
            timestamp: chrono::Utc::now(),
            source: LogSource::Manager,
            level: LogLevel::Info,
            message: msg.into(),
            plugin_id: "p".into(),
            seq,
        }
    }

    #[test]
    fn keeps_at_most_capacity_entries_oldest_evicted() {
        let mut ring = LogRing::new(5000, usize::MAX);
        for i in 0..6000 {
            ring.push(entry(i, "x"));
        }
        assert_eq!(ring.len(), 5000);
        let all = ring.last(0);
        assert_eq!(all.first().unwrap().seq, 1000);
        assert_eq!(all.last().unwrap().seq, 5999);
    }

    #[test]
    fn last_n_is_chronological_and_clamped() {
        let mut ring = LogRing::new(10, usize::MAX);
        for i in 0..4 {
            ring.push(entry(i, "x"));
        }
        let seqs: Vec<_> = ring.last(2).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        assert_eq!(ring.last(100).len(), 4);
        assert_eq!(ring.last(-1).len(), 4);
    }

    #[test]
    fn byte_cap_evicts_oldest() {
        let big = "y".repeat(1000);
        let mut ring = LogRing::new(1000, 3 * (1000 + ENTRY_OVERHEAD));
        for i in 0..10 {
            ring.push(entry(i, &big));
        }
        assert_eq!(ring.len(), 3);
        assert!(ring.bytes() <= 3 * (1000 + ENTRY_OVERHEAD));
        assert_eq!(ring.last(1)[0].seq, 9);
    }

    #[test]
    fn batches_are_evicted_entry_by_entry_and_freed_whole() {
        let mut ring = LogRing::new(5, usize::MAX);
        let first: Arc<[LogEntry]> = (0..3).map(|i| entry(i, "x")).collect::<Vec<_>>().into();
        ring.push_batch(first.clone());
        ring.push_batch((3..6).map(|i| entry(i, "x")).collect::<Vec<_>>().into());
        let seqs: Vec<_> = ring.last(0).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            Arc::strong_count(&first),
            2,
            "partly kept batch is still held"
        );
        ring.push_batch((6..8).map(|i| entry(i, "x")).collect::<Vec<_>>().into());
        assert_eq!(
            Arc::strong_count(&first),
            1,
            "fully evicted batch is released"
        );
        let seqs: Vec<_> = ring.last(0).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5, 6, 7]);
        assert_eq!(ring.bytes(), 5 * (1 + ENTRY_OVERHEAD));
        ring.push_batch(Vec::new().into());
        assert_eq!(ring.len(), 5);
    }

    #[test]
    fn an_oversized_entry_is_still_kept() {
        let mut ring = LogRing::new(10, 10);
        ring.push(entry(0, "a"));
        ring.push(entry(1, &"z".repeat(100)));
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.last(0)[0].seq, 1);
    }
}
