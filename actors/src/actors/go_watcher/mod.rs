//! `GoWatcherActor`: watches a plugin's Go sources, debounces changes per plugin, runs at
//! most one `go build` at a time, installs the binary atomically and asks the host to reload.
//!
//! Here: the watching and the debounce; the build itself in `build`, the install and reload
//! of a good binary in `install`.

mod build;
mod install;

use build::RunningBuild;
pub use install::{Reloader, BUILD_OUTPUT};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use notify::Event;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::child_guard::{ExitNotice, ParentLink};
use super::child_output::OutputTail;
use super::log_buffer::LogSink;
use crate::build_history::PendingTrigger;
use crate::build_queue::BuildQueue;
use crate::debounce::Debounce;
use crate::go_sources::GoSources;
use crate::registry::ProcessRegistry;
use crate::types::{DevProcessStatus, LogSource};

/// How the Go watcher builds and installs.
#[derive(Clone)]
pub struct GoWatcherSettings {
    pub plugin_id: String,
    pub dev_path: PathBuf,
    pub go: PathBuf,
    /// `<state>/plugins/<id>/bin/plugin`.
    pub installed_binary: PathBuf,
    /// `<state>/plugins/<id>/plugin.yaml`: the plugin's manifest as the IDE reads it,
    /// refreshed on every good build as the IDE's dev install does.
    pub installed_manifest: PathBuf,
    pub debounce: Duration,
    pub max_wait: Duration,
    pub stop_grace: Duration,
    /// A build running longer is stopped and reported as failed.
    pub build_timeout: Duration,
    /// Where spawned process groups are recorded.
    pub registry: Arc<ProcessRegistry>,
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
    /// What the next build is for (the build history's trigger).
    trigger: PendingTrigger,
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
            trigger: PendingTrigger::default(),
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
        // Due already (no debounce): a timer would only add up to a tick.
        if delay.is_zero() && self.debounce.fire_if_due(now) {
            self.build_changed_sources(ctx);
            return;
        }
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
        self.trigger.changed(&seen.paths);
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

/// Builds now (single-flight: during a build, one more build follows it).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct RequestBuild;

impl Handler<RequestBuild> for GoWatcherActor {
    type Result = ();

    fn handle(&mut self, _: RequestBuild, ctx: &mut Self::Context) {
        self.trigger.manual();
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
