//! A plugin's published state as a reducer: what each child's report, and each decision of
//! its supervisor, does to the [`DevServerState`]. No actors, no processes: every transition
//! is unit-tested here, and the `PluginActor` only applies them and publishes the result.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::restart::{Decision, ExitKind, RestartPolicy};
use crate::types::{DevProcessStatus, DevServerState, LogLevel};

/// Which child of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildKind {
    /// The UI's Vite dev server (`ViteActor`).
    Vite,
    /// The Go sources' watcher and builder (`GoWatcherActor`).
    GoWatcher,
    /// The plugin process of the built-in host (`PluginProcessActor`).
    PluginProcess,
}

impl ChildKind {
    /// The name used in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vite => "vite",
            Self::GoWatcher => "go watcher",
            Self::PluginProcess => "plugin process",
        }
    }
}

/// A change to one child's part of the plugin's state.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusEvent {
    /// The child's status, with the reason when it failed; Vite also says its port. For the
    /// plugin process, `ready` means SERVING (`grpcConnected`).
    Status {
        status: DevProcessStatus,
        error: Option<String>,
        port: Option<u16>,
    },
    /// A build ended (Go watcher): its outcome, how long it took and when it ended.
    BuildEnded {
        status: DevProcessStatus,
        error: Option<String>,
        duration: Duration,
        at: DateTime<Utc>,
    },
    /// The child ended on its own and restarts after a backoff: counted, its reason shown.
    Restarting { reason: String },
}

/// The plugin's state and the errors that stand behind `lastError`.
#[derive(Debug, Clone)]
pub struct PluginStatus {
    state: DevServerState,
    /// Each child's standing error: when the one shown in `lastError` clears, another child's
    /// error that still stands takes its place, so an `error` status never shows no reason.
    standing_errors: Vec<(ChildKind, String)>,
}

impl PluginStatus {
    /// Starts from `state` with no error standing.
    pub fn new(state: DevServerState) -> Self {
        Self {
            state,
            standing_errors: Vec::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> &DevServerState {
        &self.state
    }

    /// Replaces the whole state (the plugin stopped); no error stands any more.
    pub fn reset(&mut self, state: DevServerState) {
        self.state = state;
        self.standing_errors.clear();
    }

    /// Vite's run ended on `port`: shown with the next change (a run that moved to another
    /// port and failed before it reported keeps the port it ended on).
    pub fn note_vite_port(&mut self, port: u16) {
        self.state.vite_port = port;
    }

    /// Applies `event` of child `kind`: the new state when it changed (to be published),
    /// `None` when it did not.
    pub fn apply(&mut self, kind: ChildKind, event: StatusEvent) -> Option<DevServerState> {
        let before = self.state.clone();
        match event {
            StatusEvent::Status {
                status,
                error,
                port,
            } => {
                if let Some(port) = port {
                    self.state.vite_port = port;
                }
                self.set_status(kind, status, error);
            }
            StatusEvent::BuildEnded {
                status,
                error,
                duration,
                at,
            } => {
                self.state.last_build_duration = duration;
                self.state.last_build_time = Some(at);
                self.set_status(kind, status, error);
            }
            StatusEvent::Restarting { reason } => {
                self.state.restarts += 1;
                self.set_status(kind, DevProcessStatus::Error, Some(reason));
            }
        }
        // The URL is shown only while Vite is ready, on the port it is ready on.
        self.state.vite_url = if self.state.vite_status == DevProcessStatus::Ready {
            DevServerState::vite_url_for(self.state.vite_port)
        } else {
            String::new()
        };
        (self.state != before).then(|| self.state.clone())
    }

    fn set_status(&mut self, kind: ChildKind, status: DevProcessStatus, error: Option<String>) {
        match kind {
            ChildKind::Vite => self.state.vite_status = status,
            ChildKind::GoWatcher => self.state.go_status = status,
            // The process has no status field of its own: `grpcConnected` tells.
            ChildKind::PluginProcess => {
                self.state.grpc_connected = status == DevProcessStatus::Ready
            }
        }
        self.apply_error(kind, status, error);
    }

    /// `lastError` is the newest error of a child that still stands: a child that recovers
    /// (ready or starting again) takes its own error with it.
    fn apply_error(&mut self, kind: ChildKind, status: DevProcessStatus, error: Option<String>) {
        match error {
            Some(e) => {
                self.standing_errors.retain(|(k, _)| *k != kind);
                self.standing_errors.push((kind, e));
            }
            None if matches!(status, DevProcessStatus::Ready | DevProcessStatus::Starting) => {
                self.standing_errors.retain(|(k, _)| *k != kind);
            }
            None => return,
        }
        self.state.last_error = self
            .standing_errors
            .last()
            .map(|(_, e)| e.clone())
            .unwrap_or_default();
    }
}

/// What the supervisor does when a child ended on its own: the line it logs, the change to
/// the state, and when to start the child again (never, for `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct EndPlan {
    /// The line the supervisor logs, and its level.
    pub log: (LogLevel, String),
    /// The change to the child's part of the state.
    pub event: StatusEvent,
    /// When to start the child again; `None`: it stays down.
    pub restart_after: Option<Duration>,
}

/// The plan for child `kind` that ended (`exit`, because of `reason`) when its restart
/// tracker (`policy`) decided `decision`.
pub fn plan_for_end(
    kind: ChildKind,
    exit: ExitKind,
    reason: String,
    decision: Decision,
    policy: &RestartPolicy,
) -> EndPlan {
    let name = kind.name();
    match decision {
        Decision::Restart { delay, attempt } => EndPlan {
            log: (
                LogLevel::Warn,
                format!(
                    "{reason}; restarting {name} in {} (restart {attempt} of at most {} per {})",
                    human(delay),
                    policy.max_restarts,
                    human(policy.window)
                ),
            ),
            event: StatusEvent::Restarting { reason },
            restart_after: Some(delay),
        },
        Decision::GiveUp { crashes } => {
            let msg = format!(
                "{name} crashed {crashes} times in {}; giving up (restart limit: {} per {}). Last failure: {reason}. Restart the dev server to try again.",
                human(policy.window),
                policy.max_restarts,
                human(policy.window)
            );
            EndPlan {
                log: (LogLevel::Error, msg.clone()),
                event: StatusEvent::Status {
                    status: DevProcessStatus::Error,
                    error: Some(msg),
                    port: None,
                },
                restart_after: None,
            }
        }
        Decision::Leave => {
            let log = format!(
                "{reason}; not restarting {name} ({} restart policy)",
                policy.restart
            );
            let status = if exit == ExitKind::Normal {
                DevProcessStatus::Stopped
            } else {
                DevProcessStatus::Error
            };
            EndPlan {
                log: (LogLevel::Info, log),
                event: StatusEvent::Status {
                    status,
                    error: (exit == ExitKind::Abnormal).then_some(reason),
                    port: None,
                },
                restart_after: None,
            }
        }
    }
}

/// The change when a restart begins: starting again, its error cleared.
pub fn restart_begins() -> StatusEvent {
    StatusEvent::Status {
        status: DevProcessStatus::Starting,
        error: None,
        port: None,
    }
}

/// "250 ms", "2 s", "1.5 s".
fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restart::RestartType;
    use DevProcessStatus::*;

    fn status(status: DevProcessStatus, error: Option<&str>) -> StatusEvent {
        StatusEvent::Status {
            status,
            error: error.map(str::to_string),
            port: None,
        }
    }

    fn starting_plugin() -> PluginStatus {
        let mut state = DevServerState::idle("p");
        state.vite_port = 15173;
        state.vite_status = Starting;
        state.go_status = Starting;
        PluginStatus::new(state)
    }

    #[test]
    fn vite_ready_shows_its_url_on_the_port_it_reports_and_only_while_ready() {
        let mut p = starting_plugin();
        let ready = p
            .apply(
                ChildKind::Vite,
                StatusEvent::Status {
                    status: Ready,
                    error: None,
                    port: Some(15180),
                },
            )
            .expect("a change");
        assert_eq!(ready.vite_status, Ready);
        assert_eq!(ready.vite_port, 15180);
        assert_eq!(ready.vite_url, DevServerState::vite_url_for(15180));
        let failed = p
            .apply(ChildKind::Vite, status(Error, Some("exited")))
            .unwrap();
        assert_eq!(failed.vite_url, "", "no URL once Vite is not ready");
        assert_eq!(failed.vite_port, 15180, "the port stays shown");
        let other = p.apply(ChildKind::GoWatcher, status(Ready, None)).unwrap();
        assert_eq!(other.vite_url, "");
    }

    #[test]
    fn a_report_that_changes_nothing_publishes_nothing() {
        let mut p = starting_plugin();
        assert!(p
            .apply(ChildKind::GoWatcher, status(Building, None))
            .is_some());
        assert!(p
            .apply(ChildKind::GoWatcher, status(Building, None))
            .is_none());
    }

    #[test]
    fn the_plugin_process_sets_grpc_connected() {
        let mut p = starting_plugin();
        let s = p
            .apply(ChildKind::PluginProcess, status(Ready, None))
            .unwrap();
        assert!(s.grpc_connected);
        assert_eq!(s.go_status, Starting, "no status field of its own");
        let s = p
            .apply(ChildKind::PluginProcess, status(Error, Some("not serving")))
            .unwrap();
        assert!(!s.grpc_connected);
        assert_eq!(s.last_error, "not serving");
    }

    #[test]
    fn last_error_is_the_newest_standing_error_and_recovery_takes_it_away() {
        let mut p = starting_plugin();
        p.apply(ChildKind::Vite, status(Error, Some("vite broke")));
        p.apply(ChildKind::GoWatcher, status(Error, Some("build broke")));
        assert_eq!(p.state().last_error, "build broke");
        // Building is neither recovered nor failed: the error stands.
        p.apply(ChildKind::GoWatcher, status(Building, None));
        assert_eq!(p.state().last_error, "build broke");
        // The build recovers: Vite's error, still standing, is shown again.
        p.apply(ChildKind::GoWatcher, status(Ready, None));
        assert_eq!(p.state().last_error, "vite broke");
        p.apply(ChildKind::Vite, status(Starting, None));
        assert_eq!(p.state().last_error, "");
        // A stopped child keeps no error, and sets none.
        p.apply(ChildKind::Vite, status(Stopped, None));
        assert_eq!(p.state().last_error, "");
    }

    #[test]
    fn a_finished_build_records_its_duration_and_time() {
        let mut p = starting_plugin();
        let at = Utc::now();
        let s = p
            .apply(
                ChildKind::GoWatcher,
                StatusEvent::BuildEnded {
                    status: Error,
                    error: Some("main.go:1:1: boom".into()),
                    duration: Duration::from_millis(1200),
                    at,
                },
            )
            .unwrap();
        assert_eq!(s.go_status, Error);
        assert_eq!(s.last_build_duration, Duration::from_millis(1200));
        assert_eq!(s.last_build_time, Some(at));
        assert_eq!(s.last_error, "main.go:1:1: boom");
    }

    #[test]
    fn a_restart_is_counted_and_shows_its_reason_until_the_child_starts_again() {
        let mut p = starting_plugin();
        let s = p
            .apply(
                ChildKind::Vite,
                StatusEvent::Restarting {
                    reason: "Vite exited with code 1".into(),
                },
            )
            .unwrap();
        assert_eq!((s.restarts, s.vite_status), (1, Error));
        assert_eq!(s.last_error, "Vite exited with code 1");
        let s = p.apply(ChildKind::Vite, restart_begins()).unwrap();
        assert_eq!((s.restarts, s.vite_status), (1, Starting));
        assert_eq!(s.last_error, "");
    }

    #[test]
    fn a_reset_forgets_standing_errors() {
        let mut p = starting_plugin();
        p.apply(ChildKind::Vite, status(Error, Some("x")));
        p.reset(DevServerState::idle("p"));
        p.apply(ChildKind::GoWatcher, status(Ready, None));
        assert_eq!(p.state().last_error, "");
    }

    fn policy() -> RestartPolicy {
        RestartPolicy {
            restart: RestartType::Transient,
            max_restarts: 5,
            window: Duration::from_secs(60),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            reset_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn an_end_plans_a_restart_a_give_up_or_a_stop() {
        let restart = plan_for_end(
            ChildKind::Vite,
            ExitKind::Abnormal,
            "Vite exited with code 1".into(),
            Decision::Restart {
                delay: Duration::from_millis(250),
                attempt: 2,
            },
            &policy(),
        );
        assert_eq!(restart.restart_after, Some(Duration::from_millis(250)));
        assert_eq!(
            restart.log,
            (
                LogLevel::Warn,
                "Vite exited with code 1; restarting vite in 250 ms (restart 2 of at most 5 per 60 s)"
                    .to_string()
            )
        );
        assert!(matches!(restart.event, StatusEvent::Restarting { .. }));

        let give_up = plan_for_end(
            ChildKind::PluginProcess,
            ExitKind::Abnormal,
            "boom".into(),
            Decision::GiveUp { crashes: 6 },
            &policy(),
        );
        assert_eq!(give_up.restart_after, None);
        assert_eq!(give_up.log.0, LogLevel::Error);
        assert!(give_up
            .log
            .1
            .starts_with("plugin process crashed 6 times in 60 s; giving up"));
        assert!(give_up.log.1.contains("Last failure: boom."));
        assert_eq!(
            give_up.event,
            status(Error, Some(&give_up.log.1)),
            "the same words in lastError"
        );

        let normal = plan_for_end(
            ChildKind::Vite,
            ExitKind::Normal,
            "Vite exited with code 0".into(),
            Decision::Leave,
            &policy(),
        );
        assert_eq!(normal.event, status(Stopped, None));
        assert_eq!(
            normal.log.1,
            "Vite exited with code 0; not restarting vite (transient restart policy)"
        );
        let abnormal = plan_for_end(
            ChildKind::GoWatcher,
            ExitKind::Abnormal,
            "gone".into(),
            Decision::Leave,
            &policy(),
        );
        assert_eq!(abnormal.event, status(Error, Some("gone")));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
        assert_eq!(human(Duration::from_secs(2)), "2 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    }
}
