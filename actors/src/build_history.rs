//! The last builds of a plugin (what started each, how long it took, how it ended), kept by
//! its `PluginActor` so that they outlive a restarted Go watcher.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::BuildError;

/// Builds kept per plugin.
pub const BUILD_HISTORY_LEN: usize = 20;
/// Changed files named in one trigger; more are counted.
pub const MAX_TRIGGER_FILES: usize = 20;

/// Why a build ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BuildTrigger {
    /// The Go watcher's first build (the dev server started, or the watcher was restarted).
    Start,
    /// Asked for (a rebuild request), with no saved change pending.
    Manual,
    /// Saved sources: the build inputs the watcher saw change, absolute paths.
    Changes {
        files: Vec<String>,
        /// Changed files beyond those listed.
        more: u32,
    },
}

/// How a build ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "camelCase")]
pub enum BuildResult {
    /// Compiled, installed and (when the plugin is hosted) reloaded.
    Succeeded,
    /// The compiler failed, or the install or reload failed (see `error`).
    Failed,
    /// Stopped because the sources changed under it (a newer build followed).
    Cancelled,
    /// Stopped at the build time limit.
    TimedOut,
}

/// One build of a plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct BuildRecord {
    /// Per plugin, from 1, in the order the builds started.
    pub number: u64,
    pub trigger: BuildTrigger,
    /// When the compiler was started (RFC 3339).
    #[serde(rename = "startedAt", with = "crate::types::go_time_required")]
    #[schema(value_type = String, format = DateTime)]
    #[ts(type = "string")]
    pub started_at: DateTime<Utc>,
    /// From the compiler's start to the end of the install and reload, in nanoseconds.
    #[serde(with = "crate::types::go_duration")]
    #[schema(value_type = u64)]
    #[ts(type = "number")]
    pub duration: Duration,
    pub result: BuildResult,
    /// What went wrong, empty when it succeeded.
    pub error: String,
    /// The compiler's errors, as in `plugin/devserver/error`.
    pub errors: Vec<BuildError>,
}

/// What the next build is for, gathered until it starts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PendingTrigger {
    files: Vec<String>,
    more: u32,
    manual: bool,
}

impl PendingTrigger {
    /// Saved build inputs.
    pub fn changed<'a>(&mut self, paths: impl IntoIterator<Item = &'a PathBuf>) {
        for path in paths {
            let path = path.display().to_string();
            if self.files.contains(&path) {
                continue;
            }
            if self.files.len() < MAX_TRIGGER_FILES {
                self.files.push(path);
            } else {
                self.more = self.more.saturating_add(1);
            }
        }
    }

    /// A rebuild was asked for.
    pub fn manual(&mut self) {
        self.manual = true;
    }

    /// A cancelled build's trigger is carried into the build that replaces it.
    pub fn carry(&mut self, trigger: &BuildTrigger) {
        match trigger {
            BuildTrigger::Changes { files, more } => {
                let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
                self.changed(&paths);
                self.more = self.more.saturating_add(*more);
            }
            BuildTrigger::Manual => self.manual = true,
            BuildTrigger::Start => {}
        }
    }

    /// The trigger of the build that starts now (`first`: the watcher's first build); empties
    /// what was gathered.
    pub fn take(&mut self, first: bool) -> BuildTrigger {
        let taken = std::mem::take(self);
        if !taken.files.is_empty() {
            BuildTrigger::Changes {
                files: taken.files,
                more: taken.more,
            }
        } else if taken.manual || !first {
            BuildTrigger::Manual
        } else {
            BuildTrigger::Start
        }
    }
}

/// The last [`BUILD_HISTORY_LEN`] builds, oldest first.
#[derive(Debug, Default, Clone)]
pub struct BuildHistory {
    records: VecDeque<BuildRecord>,
    numbered: u64,
}

impl BuildHistory {
    /// Adds a finished build, numbering it; the oldest goes beyond the limit.
    pub fn push(&mut self, mut record: BuildRecord) {
        self.numbered += 1;
        record.number = self.numbered;
        if self.records.len() == BUILD_HISTORY_LEN {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    /// The kept builds, oldest first.
    pub fn records(&self) -> Vec<BuildRecord> {
        self.records.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(result: BuildResult) -> BuildRecord {
        BuildRecord {
            number: 0,
            trigger: BuildTrigger::Manual,
            started_at: Utc::now(),
            duration: Duration::from_millis(1500),
            result,
            error: String::new(),
            errors: vec![],
        }
    }

    #[test]
    fn the_history_keeps_the_last_twenty_numbered_in_order() {
        let mut h = BuildHistory::default();
        for _ in 0..25 {
            h.push(record(BuildResult::Succeeded));
        }
        let numbers: Vec<u64> = h.records().iter().map(|r| r.number).collect();
        assert_eq!(numbers, (6..=25).collect::<Vec<_>>());
    }

    #[test]
    fn a_trigger_names_each_changed_file_once_and_counts_the_rest() {
        let mut t = PendingTrigger::default();
        let a = PathBuf::from("/p/pkg/a.go");
        t.changed([&a, &a]);
        let many: Vec<PathBuf> = (0..30)
            .map(|i| PathBuf::from(format!("/p/{i}.go")))
            .collect();
        t.changed(&many);
        match t.take(false) {
            BuildTrigger::Changes { files, more } => {
                assert_eq!(files.len(), MAX_TRIGGER_FILES);
                assert_eq!(files[0], "/p/pkg/a.go");
                assert_eq!(more, 11);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.take(false), BuildTrigger::Manual, "taken: nothing left");
    }

    #[test]
    fn the_first_build_is_the_start_and_a_request_is_manual() {
        let mut t = PendingTrigger::default();
        assert_eq!(t.take(true), BuildTrigger::Start);
        t.manual();
        assert_eq!(t.take(true), BuildTrigger::Manual);
        let cancelled = BuildTrigger::Changes {
            files: vec!["/p/a.go".into()],
            more: 2,
        };
        t.carry(&cancelled);
        t.changed([&PathBuf::from("/p/b.go")]);
        assert_eq!(
            t.take(false),
            BuildTrigger::Changes {
                files: vec!["/p/a.go".into(), "/p/b.go".into()],
                more: 2
            }
        );
    }

    #[test]
    fn a_record_serialises_with_go_times_and_nanoseconds() {
        let mut r = record(BuildResult::TimedOut);
        r.started_at = DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let v = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(v["startedAt"], "2026-11-30T10:00:00Z");
        assert_eq!(v["duration"], 1_500_000_000u64);
        assert_eq!(v["result"], "timedOut");
        assert_eq!(v["trigger"]["kind"], "manual");
    }
}
