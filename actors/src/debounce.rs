//! Trailing-edge debounce with a maximum wait, as pure arithmetic over instants.
//!
//! One `Debounce` per plugin (never per file): a burst of saves to several files ends in one
//! build. The deadline is `last_event + quiet`, but never later than `first_event + max_wait`,
//! so constant churn cannot starve the build.

use std::time::{Duration, Instant};

/// Default quiet period after the last change.
///
/// 30 ms: one save by an editor lasts under 4 ms as the watcher sees it (atomic rename,
/// write + chmod, vim's backup dance with fsync, JetBrains' safe write, chunked writes;
/// `cargo bench --bench save_to_serving`), so 30 ms coalesces a save with a wide margin. A
/// save that outlasts it, or a second save (format on save writing again), cancels the build
/// it started, so a short quiet period costs at most a wasted partial build, never a stale
/// binary.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(30);
/// Default longest delay between the first change of a burst and its build.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);

/// Pending-change tracker; see the module doc.
#[derive(Debug, Clone)]
pub struct Debounce {
    quiet: Duration,
    max_wait: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Debounce {
    /// A debouncer with the given quiet period and maximum wait (at least the quiet period).
    pub fn new(quiet: Duration, max_wait: Duration) -> Self {
        Self {
            quiet,
            max_wait: max_wait.max(quiet),
            first: None,
            last: None,
        }
    }

    /// Records a change at `now` and returns the new deadline.
    pub fn record(&mut self, now: Instant) -> Instant {
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.deadline().unwrap_or(now)
    }

    /// When the pending burst should fire, if any change is pending.
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        Some((last + self.quiet).min(first + self.max_wait))
    }

    /// Fires if the deadline has passed at `now`: clears the burst and returns true.
    pub fn fire_if_due(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(d) if now >= d => {
                self.first = None;
                self.last = None;
                true
            }
            _ => false,
        }
    }

    /// True when a change is waiting for its deadline.
    pub fn is_pending(&self) -> bool {
        self.first.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(2);

    #[test]
    fn a_burst_fires_once_after_the_quiet_period() {
        let t0 = Instant::now();
        let mut d = Debounce::new(Q, MAX);
        d.record(t0);
        d.record(t0 + Duration::from_millis(100));
        let deadline = d.record(t0 + Duration::from_millis(200));
        assert_eq!(deadline, t0 + Duration::from_millis(700));
        assert!(!d.fire_if_due(t0 + Duration::from_millis(699)));
        assert!(d.fire_if_due(t0 + Duration::from_millis(700)));
        assert!(!d.fire_if_due(t0 + Duration::from_millis(800)));
        assert!(!d.is_pending());
    }

    #[test]
    fn constant_churn_fires_at_max_wait() {
        let t0 = Instant::now();
        let mut d = Debounce::new(Q, MAX);
        let mut fired_at = None;
        for i in 0..50u64 {
            let now = t0 + Duration::from_millis(i * 100);
            if d.fire_if_due(now) {
                fired_at = Some(now);
                break;
            }
            d.record(now);
        }
        assert_eq!(fired_at, Some(t0 + MAX));
    }

    #[test]
    fn nothing_pending_never_fires() {
        let mut d = Debounce::new(Q, MAX);
        assert_eq!(d.deadline(), None);
        assert!(!d.fire_if_due(Instant::now()));
    }

    #[test]
    fn max_wait_is_at_least_the_quiet_period() {
        let t0 = Instant::now();
        let mut d = Debounce::new(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(d.record(t0), t0 + Duration::from_secs(3));
    }
}
