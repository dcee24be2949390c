//! One `go build` of the Go watcher: started (never beside another), its output read into
//! the log, cancelled when the sources change under it or it runs too long, and its end:
//! install a good binary, or report what the compiler said.

use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::GoWatcherActor;
use crate::actors::child_guard::ChildEvent;
use crate::actors::child_output::{level_for_line, ChildExited, ChildLines};
use crate::actors::child_run::ChildRun;
use crate::build_errors::{
    failure_log_line, failure_summary, is_build_error_line, parse_build_errors,
};
use crate::build_history::{BuildRecord, BuildResult, BuildTrigger};
use crate::plugin_status::StatusEvent;
use crate::process::ProcessSpec;
use crate::types::{BuildError, DevProcessStatus, LogLevel};

/// Build output lines kept for error parsing.
const MAX_BUILD_OUTPUT_LINES: usize = 5000;
/// How long a cancelled build gets to end after SIGTERM before SIGKILL.
const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// The build that runs, or installs and reloads what it built.
pub(super) struct RunningBuild {
    pub(super) run: u64,
    /// The compiler; `None` once it exited and the binary is being installed and reloaded.
    pub(super) child: Option<ChildRun>,
    pub(super) started: Instant,
    pub(super) started_at: DateTime<Utc>,
    /// Why it runs (the build history).
    pub(super) trigger: BuildTrigger,
    pub(super) output: Vec<String>,
    /// Lines of output beyond `MAX_BUILD_OUTPUT_LINES`, not kept.
    pub(super) output_cut: usize,
    /// Stopped by ovdev (a newer save, or the time limit): its end reports nothing.
    pub(super) cancelled: bool,
    /// Stopped at the time limit.
    pub(super) timed_out: bool,
    pub(super) timeout: Option<SpawnHandle>,
}

impl GoWatcherActor {
    /// Builds now, or once more after the running build (single-flight).
    pub(super) fn request_build(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if !self.settings.dev_path.is_dir() {
            // Not the tools' fault: say what is missing instead of a failed `go` start.
            let msg = self.plugin_dir_gone();
            self.build_logs.error(msg.clone());
            self.report(DevProcessStatus::Error, Some(msg));
            return;
        }
        if self.builds.busy() {
            return;
        }
        // The build writes the binary where it is installed (next to it, then one rename):
        // nothing is copied between the compiler and the new process.
        let next = self.next_binary();
        if let Some(dir) = next.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                let msg = format!("cannot create {}: {e}", dir.display());
                self.build_logs.error(msg.clone());
                self.report(DevProcessStatus::Error, Some(msg));
                return;
            }
        }
        let spec = ProcessSpec::new(
            &self.settings.go,
            vec![
                "build".into(),
                "-o".into(),
                next.display().to_string(),
                "./pkg".into(),
            ],
            &self.settings.dev_path,
        );
        self.run += 1;
        self.tail.clear();
        self.build_logs.info(format!("$ {}", spec.display()));
        match ChildRun::spawn(&self.settings.registry, &spec, self.run, ctx.address()) {
            Ok(child) => {
                self.notice.track(Some(&child));
                let run = self.run;
                let timeout = ctx.run_later(self.settings.build_timeout, move |act, ctx| {
                    act.on_build_timeout(run, ctx);
                });
                let first = run == 1;
                self.builds.start(RunningBuild {
                    run,
                    child: Some(child),
                    started: Instant::now(),
                    started_at: Utc::now(),
                    trigger: self.trigger.take(first),
                    output: Vec::new(),
                    output_cut: 0,
                    cancelled: false,
                    timed_out: false,
                    timeout: Some(timeout),
                });
                self.report(DevProcessStatus::Building, None);
            }
            Err(e) => {
                let msg = format!("{e}; install Go or give its path (builder option `go`)");
                self.build_logs.error(msg.clone());
                self.report(DevProcessStatus::Error, Some(msg));
            }
        }
    }

    /// Stops the running compiler's process group; the build ends when it is gone, and the
    /// next one (if any was asked for) starts then, never beside it.
    pub(super) fn cancel_build(&mut self, ctx: &mut Context<Self>) {
        let Some(build) = self.builds.current_mut() else {
            return;
        };
        let Some(child) = build.child.take() else {
            return;
        };
        build.cancelled = true;
        if let Some(t) = build.timeout.take() {
            ctx.cancel_future(t);
        }
        let limit = self.settings.build_timeout.as_secs();
        let mut record = build.record(if build.timed_out {
            BuildResult::TimedOut
        } else {
            // The build that replaces it is for these changes too.
            self.trigger.carry(&build.trigger);
            BuildResult::Cancelled
        });
        if record.result == BuildResult::TimedOut {
            record.error = format!("stopped after {limit}s, the build time limit");
        }
        self.parent.report(ChildEvent::BuildFinished(record));
        self.notice.track(None);
        child
            .stop(CANCEL_GRACE)
            .into_actor(self)
            .map(|_, act, ctx| {
                if act.builds.end() && !act.stopping {
                    act.request_build(ctx);
                }
            })
            .spawn(ctx);
    }

    pub(super) fn on_build_timeout(&mut self, run: u64, ctx: &mut Context<Self>) {
        let Some(build) = self.builds.current_mut().filter(|b| b.run == run) else {
            return;
        };
        build.timeout = None;
        if build.child.is_none() {
            return;
        }
        build.timed_out = true;
        let limit = self.settings.build_timeout;
        let msg = format!(
            "the build did not finish within {}s and was stopped (a source file that is a FIFO or device, or a hung network mount, can block `go build`); the next save builds again",
            limit.as_secs()
        );
        self.build_logs
            .error(format!("{msg}; keeping the previous binary"));
        self.report(DevProcessStatus::Error, Some(msg));
        self.cancel_build(ctx);
    }

    /// A build ended (`status`, `error`) after `duration`; `errors`: what the compiler
    /// reported, published before the status.
    pub(super) fn finish_build(
        &mut self,
        (status, error): (DevProcessStatus, Option<String>),
        duration: Duration,
        errors: Vec<BuildError>,
        ctx: &mut Context<Self>,
    ) {
        if let Some(build) = self.builds.current() {
            let result = if status == DevProcessStatus::Ready {
                BuildResult::Succeeded
            } else {
                BuildResult::Failed
            };
            let mut record = build.record(result);
            record.duration = duration;
            record.error = error.clone().unwrap_or_default();
            record.errors = errors.clone();
            self.parent.report(ChildEvent::BuildFinished(record));
        }
        let again = self.builds.end();
        if !errors.is_empty() {
            self.parent.report(ChildEvent::BuildErrors(errors));
        }
        self.parent
            .report(ChildEvent::Changed(StatusEvent::BuildEnded {
                status,
                error,
                duration,
                at: Utc::now(),
            }));
        if again && !self.stopping {
            self.watch_logs
                .info("sources changed during the build; building again");
            self.request_build(ctx);
        }
    }
}

impl RunningBuild {
    /// This build as the history keeps it, ended with `result` now.
    fn record(&self, result: BuildResult) -> BuildRecord {
        BuildRecord {
            number: 0,
            trigger: self.trigger.clone(),
            started_at: self.started_at,
            duration: self.started.elapsed(),
            result,
            error: String::new(),
            errors: Vec::new(),
        }
    }
}

impl Handler<ChildLines> for GoWatcherActor {
    type Result = ();

    fn handle(&mut self, msg: ChildLines, _: &mut Self::Context) {
        let mut batch = Vec::with_capacity(msg.lines.len());
        for (pipe, line) in msg.lines {
            let level = if is_build_error_line(&line) {
                LogLevel::Error
            } else {
                level_for_line(pipe, &line)
            };
            self.tail.push(pipe, &line);
            if let Some(b) = self.builds.current_mut().filter(|b| b.run == msg.run) {
                if b.output.len() < MAX_BUILD_OUTPUT_LINES {
                    b.output.push(line.clone());
                } else {
                    b.output_cut += 1;
                }
            }
            batch.push((level, line));
        }
        self.build_logs.log_batch(batch);
    }
}

impl Handler<ChildExited> for GoWatcherActor {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, ctx: &mut Self::Context) {
        let Some(build) = self.builds.current_mut().filter(|b| b.run == msg.run) else {
            return;
        };
        if build.cancelled {
            return;
        }
        if let Some(t) = build.timeout.take() {
            ctx.cancel_future(t);
        }
        if let Some(child) = build.child.take() {
            child.finish();
        }
        self.notice.track(None);
        let duration = build.started.elapsed();
        if self.stopping {
            self.builds.end();
            return;
        }
        if msg.status.is_some_and(|s| s.success()) {
            self.build_logs
                .info(format!("build succeeded in {:.2}s", duration.as_secs_f64()));
            self.install_and_reload(duration, ctx);
            return;
        }
        let how = msg.how();
        let output = build.output.join("\n");
        let errors = parse_build_errors(&output, &self.settings.dev_path);
        let summary = failure_summary(&errors, build.output_cut > 0, &how, &self.tail.text());
        if build.output_cut > 0 {
            self.build_logs.warn(format!(
                "the build printed {} more lines than the {MAX_BUILD_OUTPUT_LINES} kept for error reporting; they are in the log above",
                build.output_cut
            ));
        }
        self.build_logs
            .error(failure_log_line(&errors, build.output_cut > 0, &summary));
        self.finish_build(
            (DevProcessStatus::Error, Some(summary)),
            duration,
            errors,
            ctx,
        );
    }
}
