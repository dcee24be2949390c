//! A bounded log store: at most N entries and at most B bytes of messages, oldest evicted first.

use std::collections::VecDeque;

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
    entries: VecDeque<LogEntry>,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
}

impl LogRing {
    /// A ring keeping at most `max_entries` entries and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            max_entries: max_entries.max(1),
            max_bytes: max_bytes.max(1),
            bytes: 0,
        }
    }

    fn cost(e: &LogEntry) -> usize {
        e.message.len() + ENTRY_OVERHEAD
    }

    /// Adds an entry, evicting the oldest ones to stay within both bounds. The newest entry is
    /// always kept, even when it alone is over the byte budget.
    pub fn push(&mut self, entry: LogEntry) {
        self.bytes += Self::cost(&entry);
        self.entries.push_back(entry);
        while self.entries.len() > self.max_entries
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= Self::cost(&old);
            }
        }
    }

    /// The last `count` entries, oldest first; `count <= 0` means all.
    pub fn last(&self, count: i64) -> Vec<LogEntry> {
        let n = if count <= 0 {
            self.entries.len()
        } else {
            (count as usize).min(self.entries.len())
        };
        self.entries
            .iter()
            .skip(self.entries.len() - n)
            .cloned()
            .collect()
    }

    /// Number of entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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
    fn an_oversized_entry_is_still_kept() {
        let mut ring = LogRing::new(10, 10);
        ring.push(entry(0, "a"));
        ring.push(entry(1, &"z".repeat(100)));
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.last(0)[0].seq, 1);
    }
}
