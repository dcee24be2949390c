//! Restart policies with the vocabulary of Erlang/OTP, as pure arithmetic over instants.
//!
//! A [`RestartTracker`] per supervised child decides, when the child ends, whether to restart
//! it and after which delay: the restart type (`permanent`, `transient`, `temporary`), the
//! intensity limit (at most N restarts within T), and exponential backoff with jitter that
//! resets once the child has run healthily for a while.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// When a child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartType {
    /// Always, whatever the exit.
    Permanent,
    /// Only after an abnormal exit (non-zero code, signal, actor failure).
    Transient,
    /// Never.
    Temporary,
}

impl RestartType {
    /// Parses `permanent`, `transient` or `temporary`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "permanent" => Some(Self::Permanent),
            "transient" => Some(Self::Transient),
            "temporary" => Some(Self::Temporary),
            _ => None,
        }
    }
}

impl fmt::Display for RestartType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Permanent => "permanent",
            Self::Transient => "transient",
            Self::Temporary => "temporary",
        })
    }
}

/// How one kind of child is supervised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub restart: RestartType,
    /// At most this many restarts within `window`...
    pub max_restarts: u32,
    /// ...or the supervisor gives up.
    pub window: Duration,
    /// First delay before a restart; doubled after each restart.
    pub backoff_initial: Duration,
    /// Largest delay before a restart.
    pub backoff_max: Duration,
    /// A child that ran this long counts as healthy: its backoff starts over.
    pub reset_after: Duration,
}

impl RestartPolicy {
    /// A policy of `restart` type with the default intensity (5 per 60 s) and backoff
    /// (250 ms doubling to 10 s, reset after 30 s healthy).
    pub fn new(restart: RestartType) -> Self {
        Self {
            restart,
            max_restarts: 5,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            reset_after: Duration::from_secs(30),
        }
    }

    /// The default for the Vite dev server: transient, 5 restarts per 60 s.
    pub fn vite_default() -> Self {
        Self::new(RestartType::Transient)
    }

    /// The default for the Go watcher actor: permanent.
    pub fn go_watcher_default() -> Self {
        Self::new(RestartType::Permanent)
    }
}

/// How a child ended, as far as restarting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Exit code 0.
    Normal,
    /// Non-zero exit code, a signal, or a failed (panicked) actor.
    Abnormal,
}

/// What to do with a child that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Restart after `delay`; this is restart number `attempt` of the current window.
    Restart { delay: Duration, attempt: u32 },
    /// The restart type says no (temporary, or transient after a normal exit).
    Leave,
    /// Too many restarts: `crashes` ends within the policy's window.
    GiveUp { crashes: u32 },
}

/// Restart bookkeeping of one child; see the module doc.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    restarts: VecDeque<Instant>,
    backoff: Duration,
    started_at: Option<Instant>,
    total: u32,
}

impl RestartTracker {
    /// A tracker for a child supervised with `policy`.
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            restarts: VecDeque::new(),
            backoff: policy.backoff_initial,
            started_at: None,
            total: 0,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> RestartPolicy {
        self.policy
    }

    /// Restarts decided so far.
    pub fn total_restarts(&self) -> u32 {
        self.total
    }

    /// The child (re)started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.started_at = Some(now);
    }

    /// The child ended at `now`. `jitter` in `[0, 1)` spreads the delay over ±20 %.
    pub fn ended(&mut self, now: Instant, kind: ExitKind, jitter: f64) -> Decision {
        let ran_for = self
            .started_at
            .take()
            .map(|s| now.saturating_duration_since(s));
        if ran_for.is_some_and(|d| d >= self.policy.reset_after) {
            self.backoff = self.policy.backoff_initial;
        }
        let wanted = match self.policy.restart {
            RestartType::Permanent => true,
            RestartType::Transient => kind == ExitKind::Abnormal,
            RestartType::Temporary => false,
        };
        if !wanted {
            return Decision::Leave;
        }
        while self
            .restarts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.policy.window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() as u32 >= self.policy.max_restarts {
            return Decision::GiveUp {
                crashes: self.restarts.len() as u32 + 1,
            };
        }
        self.restarts.push_back(now);
        self.total += 1;
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let delay = self.backoff.mul_f64(factor);
        self.backoff = (self.backoff * 2).min(self.policy.backoff_max);
        Decision::Restart {
            delay,
            attempt: self.restarts.len() as u32,
        }
    }

    /// Forgets the history (an explicit restart by the user).
    pub fn reset(&mut self) {
        self.restarts.clear();
        self.backoff = self.policy.backoff_initial;
        self.started_at = None;
    }
}

/// A jitter value in `[0, 1)` from the standard library's randomly seeded hasher.
pub fn random_jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_to_the_cap_without_jitter_at_the_midpoint() {
        let mut t = RestartTracker::new(RestartPolicy {
            max_restarts: 100,
            ..RestartPolicy::new(RestartType::Permanent)
        });
        let t0 = Instant::now();
        let delays: Vec<_> = (0..8)
            .map(|i| match t.ended(t0 + ms(i), ExitKind::Abnormal, 0.5) {
                Decision::Restart { delay, .. } => delay,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            delays,
            [
                ms(250),
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                ms(10000),
                ms(10000)
            ]
        );
    }

    #[test]
    fn jitter_spreads_twenty_percent_each_way() {
        let t0 = Instant::now();
        let lo =
            RestartTracker::new(RestartPolicy::vite_default()).ended(t0, ExitKind::Abnormal, 0.0);
        let hi = RestartTracker::new(RestartPolicy::vite_default()).ended(
            t0,
            ExitKind::Abnormal,
            0.999_999,
        );
        assert_eq!(
            lo,
            Decision::Restart {
                delay: ms(200),
                attempt: 1
            }
        );
        match hi {
            Decision::Restart { delay, .. } => assert!(delay > ms(299) && delay <= ms(300)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gives_up_after_max_restarts_within_the_window() {
        let mut t = RestartTracker::new(RestartPolicy::vite_default());
        let t0 = Instant::now();
        for i in 1..=5 {
            assert!(matches!(
                t.ended(t0 + Duration::from_secs(i), ExitKind::Abnormal, 0.5),
                Decision::Restart { attempt, .. } if attempt == i as u32
            ));
        }
        assert_eq!(
            t.ended(t0 + Duration::from_secs(6), ExitKind::Abnormal, 0.5),
            Decision::GiveUp { crashes: 6 }
        );
        assert_eq!(t.total_restarts(), 5);
    }

    #[test]
    fn restarts_outside_the_window_are_forgotten() {
        let mut t = RestartTracker::new(RestartPolicy::vite_default());
        let t0 = Instant::now();
        for i in 0..5 {
            t.ended(t0 + Duration::from_secs(i), ExitKind::Abnormal, 0.5);
        }
        let later = t0 + Duration::from_secs(61);
        assert!(matches!(
            t.ended(later, ExitKind::Abnormal, 0.5),
            Decision::Restart { attempt: 4, .. }
        ));
    }

    #[test]
    fn types_decide_whether_to_restart() {
        let now = Instant::now();
        let mut transient = RestartTracker::new(RestartPolicy::new(RestartType::Transient));
        assert_eq!(transient.ended(now, ExitKind::Normal, 0.5), Decision::Leave);
        assert!(matches!(
            transient.ended(now, ExitKind::Abnormal, 0.5),
            Decision::Restart { .. }
        ));
        let mut permanent = RestartTracker::new(RestartPolicy::new(RestartType::Permanent));
        assert!(matches!(
            permanent.ended(now, ExitKind::Normal, 0.5),
            Decision::Restart { .. }
        ));
        let mut temporary = RestartTracker::new(RestartPolicy::new(RestartType::Temporary));
        assert_eq!(
            temporary.ended(now, ExitKind::Abnormal, 0.5),
            Decision::Leave
        );
    }

    #[test]
    fn a_healthy_run_resets_the_backoff_and_reset_clears_the_history() {
        let mut t = RestartTracker::new(RestartPolicy::vite_default());
        let t0 = Instant::now();
        t.ended(t0, ExitKind::Abnormal, 0.5);
        t.started(t0);
        assert_eq!(
            t.ended(t0 + ms(100), ExitKind::Abnormal, 0.5),
            Decision::Restart {
                delay: ms(500),
                attempt: 2
            }
        );
        t.started(t0 + ms(200));
        let healthy_end = t0 + ms(200) + Duration::from_secs(30);
        assert_eq!(
            t.ended(healthy_end, ExitKind::Abnormal, 0.5),
            Decision::Restart {
                delay: ms(250),
                attempt: 3
            }
        );
        t.reset();
        assert!(matches!(
            t.ended(healthy_end, ExitKind::Abnormal, 0.5),
            Decision::Restart { attempt: 1, .. }
        ));
    }

    #[test]
    fn random_jitter_is_in_range() {
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
