//! `GoWatcherActor`: watches a plugin's Go sources, debounces changes per plugin, runs at
//! most one `go build` at a time, installs the binary atomically and asks the host to reload.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use notify::Event;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::child_guard::{ChildEvent, ExitNotice, ParentLink};
use super::child_output::{level_for_line, ChildExited, ChildLines, OutputTail};
use super::child_run::ChildRun;
use super::log_buffer::LogSink;
use super::plugin::ReloadProcess;
use crate::binary_swap::{install_binary, install_built, InstallOutcome};
use crate::build_errors::{failure_summary, is_build_error_line, parse_build_errors};
use crate::build_queue::BuildQueue;
use crate::debounce::Debounce;
use crate::go_sources::GoSources;
use crate::host::PluginHost;

/// Who reloads the plugin after a new binary is installed.
#[derive(Clone)]
pub enum Reloader {
    /// The embedding IDE's plugin host (`PluginHost::reload_plugin`).
    Host(Arc<dyn PluginHost>),
    /// The engine's built-in go-plugin host: the plugin actor relaunches its process.
    BuiltIn(Recipient<ReloadProcess>),
}

use crate::plugin_status::StatusEvent;
use crate::process::{describe_exit, ProcessSpec};
use crate::registry::ProcessRegistry;
use crate::types::{BuildError, DevProcessStatus, LogLevel, LogSource};

/// Where `go build` writes the binary, relative to the plugin directory.
pub const BUILD_OUTPUT: &str = "build/bin/plugin";
/// Longest wait for the host's reload before the build is reported failed.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Build output lines kept for error parsing.
const MAX_BUILD_OUTPUT_LINES: usize = 5000;
/// How long a cancelled build gets to end after SIGTERM before SIGKILL.
const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// How the Go watcher builds and installs.
#[derive(Clone)]
pub struct GoWatcherSettings {
    pub plugin_id: String,
    pub dev_path: PathBuf,
    pub go: PathBuf,
    /// `<state>/plugins/<id>/bin/plugin`.
    pub installed_binary: PathBuf,
    pub debounce: Duration,
    pub max_wait: Duration,
    pub stop_grace: Duration,
    /// A build running longer is stopped and reported as failed.
    pub build_timeout: Duration,
    /// Where spawned process groups are recorded.
    pub registry: Arc<ProcessRegistry>,
}

struct RunningBuild {
    run: u64,
    /// The compiler; `None` once it exited and the binary is being installed and reloaded.
    child: Option<ChildRun>,
    started: Instant,
    output: Vec<String>,
    /// Lines of output beyond `MAX_BUILD_OUTPUT_LINES`, not kept.
    output_cut: usize,
    /// Stopped by ovdev (a newer save, or the time limit): its end reports nothing.
    cancelled: bool,
    timeout: Option<SpawnHandle>,
}

/// See the module doc.
pub struct GoWatcherActor {
    settings: GoWatcherSettings,
    parent: ParentLink,
    notice: ExitNotice,
    watch_logs: LogSink,
    build_logs: LogSink,
    reloader: Reloader,
    debounce: Debounce,
    timer: Option<SpawnHandle>,
    sources: GoSources,
    /// The running build, and whether one more is due after it.
    builds: BuildQueue<RunningBuild>,
    run: u64,
    stopping: bool,
    tail: OutputTail,
}

impl GoWatcherActor {
    /// A watcher for `settings.dev_path` reporting through `parent`; it builds once as soon
    /// as it starts.
    pub fn new(
        settings: GoWatcherSettings,
        parent: ParentLink,
        logs: LogSink,
        reloader: Reloader,
    ) -> Self {
        let debounce = Debounce::new(settings.debounce, settings.max_wait);
        Self {
            settings,
            notice: parent.exit_notice(),
            parent,
            watch_logs: logs.with_source(LogSource::GoWatch),
            build_logs: logs.with_source(LogSource::GoBuild),
            reloader,
            debounce,
            timer: None,
            sources: GoSources::default(),
            builds: BuildQueue::default(),
            run: 0,
            stopping: false,
            tail: OutputTail::default(),
        }
    }

    fn report(&self, status: DevProcessStatus, error: Option<String>) {
        self.parent.status(status, error);
    }

    fn start_watching(&mut self, ctx: &mut Context<Self>) -> notify::Result<()> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            let _ = tx.send(res);
        })?;
        ctx.add_stream(UnboundedReceiverStream::new(rx));
        self.sources = GoSources::watch(watcher, &self.settings.dev_path);
        self.log_watch_problems();
        self.watch_logs.info(format!(
            "watching {} directories for .go, .mod, .sum and .work changes",
            self.sources.watched()
        ));
        Ok(())
    }

    fn log_watch_problems(&mut self) {
        for problem in self.sources.take_problems() {
            self.watch_logs.warn(problem);
        }
    }

    fn plugin_dir_gone(&self) -> String {
        format!(
            "the plugin directory {} is gone (deleted or moved away); ovdev builds again as soon as it is back",
            self.settings.dev_path.display()
        )
    }

    fn on_change(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let deadline = self.debounce.record(now);
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        let delay = deadline.saturating_duration_since(now);
        self.timer = Some(ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            if act.debounce.fire_if_due(Instant::now()) {
                act.build_changed_sources(ctx);
            }
        }));
    }

    /// Builds after the sources changed: a compiler still running on the old sources is
    /// cancelled first, since its result would be stale.
    fn build_changed_sources(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if self.builds.current().is_some_and(|b| b.child.is_some()) {
            // The compiler is still reading sources that changed since: its result would be
            // stale, and a build that hangs (a FIFO among the sources) must not hold the loop.
            self.watch_logs
                .info("sources changed during the build; cancelling it and building again");
            self.builds.again();
            self.cancel_build(ctx);
            return;
        }
        self.request_build(ctx);
    }

    /// Builds now, or once more after the running build (single-flight).
    fn request_build(&mut self, ctx: &mut Context<Self>) {
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
                self.builds.start(RunningBuild {
                    run,
                    child: Some(child),
                    started: Instant::now(),
                    output: Vec::new(),
                    output_cut: 0,
                    cancelled: false,
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
    fn cancel_build(&mut self, ctx: &mut Context<Self>) {
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

    fn on_build_timeout(&mut self, run: u64, ctx: &mut Context<Self>) {
        let Some(build) = self.builds.current_mut().filter(|b| b.run == run) else {
            return;
        };
        build.timeout = None;
        if build.child.is_none() {
            return;
        }
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
    fn finish_build(
        &mut self,
        (status, error): (DevProcessStatus, Option<String>),
        duration: Duration,
        errors: Vec<BuildError>,
        ctx: &mut Context<Self>,
    ) {
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

    /// Where `go build` writes: beside the installed binary, renamed over it when done.
    fn next_binary(&self) -> PathBuf {
        self.settings
            .installed_binary
            .with_file_name(".plugin.next")
    }

    fn install_and_reload(&mut self, duration: Duration, ctx: &mut Context<Self>) {
        let src = self.next_binary();
        let build_copy = self.settings.dev_path.join(BUILD_OUTPUT);
        let dst = self.settings.installed_binary.clone();
        let reloader = self.reloader.clone();
        let id = self.settings.plugin_id.clone();
        let logs = self.build_logs.clone();
        let work = async move {
            let (next, installed) = (src.clone(), dst.clone());
            let (outcome, replaced) =
                tokio::task::spawn_blocking(move || install_built(&next, &installed))
                    .await
                    .map_err(|e| format!("installing the binary panicked: {e}"))?
                    .map_err(|e| format!("cannot install the binary at {}: {e}", dst.display()))?;
            let changed = outcome == InstallOutcome::Installed;
            if changed {
                logs.info(format!("installed {}", dst.display()));
            } else if matches!(reloader, Reloader::Host(_)) {
                logs.info("the new binary is identical to the installed one; skipping the reload");
            } else {
                logs.info(
                    "the new binary is identical to the installed one; the running plugin stays",
                );
            }
            let reload = async {
                match reloader {
                    Reloader::BuiltIn(plugin) => plugin
                        .send(ReloadProcess {
                            binary_changed: changed,
                        })
                        .await
                        .map_err(|_| "the plugin actor is gone".to_string())?,
                    Reloader::Host(_) if !changed => Ok(()),
                    Reloader::Host(host) => {
                        match tokio::time::timeout(RELOAD_TIMEOUT, host.reload_plugin(&id)).await {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(e)) => Err(format!("reloading the plugin failed: {e}")),
                            Err(_) => Err(format!(
                                "reloading the plugin did not finish within {RELOAD_TIMEOUT:?}"
                            )),
                        }
                    }
                }
            };
            let reloaded = reload.await;
            // The old plugin is gone: its binary's storage is freed here, off the relaunch.
            tokio::task::spawn_blocking(move || drop(replaced));
            // `build/bin/plugin` in the plugin directory, as Omniview's own build leaves it,
            // is refreshed once the new plugin serves: its copy would compete with the
            // relaunch for these cores and the disk.
            refresh_build_copy(dst.clone(), build_copy, logs.clone()).await;
            reloaded
        };
        work.into_actor(self)
            .map(move |res: Result<(), String>, act, ctx| {
                let outcome = match res {
                    Ok(()) => (DevProcessStatus::Ready, None),
                    Err(msg) => {
                        act.build_logs.error(msg.clone());
                        (DevProcessStatus::Error, Some(msg))
                    }
                };
                act.finish_build(outcome, duration, Vec::new(), ctx);
            })
            .spawn(ctx);
    }
}

/// Copies the installed binary to the plugin's `build/bin/plugin` (atomically); a failure
/// is only a warning: the plugin runs from the installed binary.
async fn refresh_build_copy(installed: PathBuf, build_copy: PathBuf, logs: LogSink) {
    let shown = build_copy.display().to_string();
    let copied = tokio::task::spawn_blocking(move || install_binary(&installed, &build_copy)).await;
    match copied {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => logs.warn(format!("cannot update {shown}: {e}")),
        Err(e) => logs.warn(format!("updating {shown} panicked: {e}")),
    }
}

impl Actor for GoWatcherActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Err(e) = self.start_watching(ctx) {
            let msg = format!("cannot watch {}: {e}", self.settings.dev_path.display());
            self.watch_logs.error(msg.clone());
            self.report(DevProcessStatus::Error, Some(msg));
        }
        self.request_build(ctx);
    }
}

impl StreamHandler<notify::Result<Event>> for GoWatcherActor {
    fn handle(&mut self, item: notify::Result<Event>, ctx: &mut Self::Context) {
        let event = match item {
            Ok(ev) => ev,
            Err(e) => {
                self.watch_logs.warn(format!("file watcher error: {e}"));
                return;
            }
        };
        let seen = self.sources.on_event(&event);
        if seen.dir_back {
            let dev = self.settings.dev_path.display();
            self.watch_logs
                .info(format!("{dev} is back; watching it again"));
        }
        self.log_watch_problems();
        if seen.dir_gone {
            let msg = self.plugin_dir_gone();
            self.watch_logs.error(msg.clone());
            self.report(DevProcessStatus::Error, Some(msg));
        }
        if seen.changed && !self.stopping {
            self.on_change(ctx);
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // The watcher was dropped (stop); the actor stops through StopGoWatcher.
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
        let how = msg
            .status
            .as_ref()
            .map(describe_exit)
            .unwrap_or_else(|| "ended".into());
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
            .error(format!("{summary}; keeping the previous binary"));
        self.finish_build(
            (DevProcessStatus::Error, Some(summary)),
            duration,
            errors,
            ctx,
        );
    }
}

/// Builds now (single-flight: during a build, one more build follows it).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct RequestBuild;

impl Handler<RequestBuild> for GoWatcherActor {
    type Result = ();

    fn handle(&mut self, _: RequestBuild, ctx: &mut Self::Context) {
        self.request_build(ctx);
    }
}

/// Stops watching and kills a running build's process group; answers when it is gone.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct StopGoWatcher;

impl Handler<StopGoWatcher> for GoWatcherActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: StopGoWatcher, ctx: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        self.notice.disarm();
        self.sources.close();
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        let child = self.builds.current_mut().and_then(|b| b.child.take());
        let grace = self.settings.stop_grace;
        let logs = self.build_logs.clone();
        Box::pin(
            async move {
                if let Some(child) = child {
                    child.stop(grace).await;
                    logs.info("cancelled the running build");
                }
            }
            .into_actor(self)
            .map(|(), _, ctx| ctx.stop()),
        )
    }
}

#[cfg(feature = "test-hooks")]
super::child_guard::panics_for_tests!(GoWatcherActor);
