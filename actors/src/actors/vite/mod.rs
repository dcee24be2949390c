//! `ViteActor`: installs the UI's dependencies if needed, runs its Vite dev server on the
//! allocated port, detects readiness, and retries on another port when the port was taken.
//!
//! One actor is one run of Vite: when the process ends without being asked to, the actor
//! stops what is left of its process group, reports `Ended` and stops. Its parent
//! decides under the restart policy whether a new `ViteActor` takes over.
//!
//! Here: the run (install, start, readiness, exit, stop); what keeps it on a port that
//! answers (another port when its own was taken, probes while ready) in `port_watch`.

mod port_watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::child_guard::{ChildEvent, ExitNotice, ParentLink};
use super::child_output::{level_for_line, ChildExited, ChildLines, OutputTail};
use super::child_run::{end_actor, ChildRun};
use super::log_buffer::LogSink;
use super::port_allocator::PortAllocatorActor;
use crate::package_manager::{dependencies_installed, PackageManager};
use crate::plugin_status::StatusEvent;
use crate::process::{ProcessSpec, StopOutcome};
use crate::registry::ProcessRegistry;
use crate::restart::ExitKind;
use crate::types::{DevProcessStatus, DevServerState, LogLevel};
use crate::vite_probe::Liveness;
use crate::vite_ready::{is_port_in_use_line, is_ready_line};
use port_watch::PROBE_FAILURES;

/// How the Vite actor runs the package manager.
#[derive(Clone)]
pub struct ViteSettings {
    pub plugin_id: String,
    /// The plugin's `ui/` directory.
    pub ui_dir: PathBuf,
    pub package_manager: PackageManager,
    /// The package manager's executable.
    pub program: PathBuf,
    /// Directories put first on the child's `PATH` (node's and the package manager's).
    pub path_prefix: Vec<PathBuf>,
    pub ready_timeout: Duration,
    /// How often a ready Vite is probed (`None`: never).
    pub probe_interval: Option<Duration>,
    pub port_retries: u32,
    pub stop_grace: Duration,
    /// Where spawned process groups are recorded.
    pub registry: Arc<ProcessRegistry>,
    /// Turns to install and start, shared by every plugin's Vite: one is held from the spawn
    /// until Vite is ready, ends or times out.
    pub start_slots: Arc<tokio::sync::Semaphore>,
}

/// Where the actor is; the process it runs (the install, then Vite) is `ViteActor::child`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Installing,
    Starting {
        timed_out: bool,
    },
    Ready,
    /// The run ended; the actor is cleaning up and will stop.
    Ended,
    Stopping,
}

/// Runs one plugin's Vite dev server; see the module doc.
pub struct ViteActor {
    settings: ViteSettings,
    port: u16,
    parent: ParentLink,
    notice: ExitNotice,
    logs: LogSink,
    ports: Addr<PortAllocatorActor>,
    run: u64,
    phase: Phase,
    /// The install or Vite process, while one runs.
    child: Option<ChildRun>,
    tail: OutputTail,
    port_in_use: bool,
    failed_ports: Vec<u16>,
    /// The running or last install went by the lockfile.
    locked_install: bool,
    retries_left: u32,
    ready_timer: Option<SpawnHandle>,
    /// Probes while ready; a hung Vite is ended like a crashed one.
    liveness: Liveness,
    /// This Vite's turn to install and start, while it has one.
    start_slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl ViteActor {
    /// A Vite actor reporting through `parent`, for an already allocated `port`.
    pub fn new(
        settings: ViteSettings,
        port: u16,
        parent: ParentLink,
        logs: LogSink,
        ports: Addr<PortAllocatorActor>,
    ) -> Self {
        let retries_left = settings.port_retries;
        let notice = parent.exit_notice();
        Self {
            settings,
            port,
            parent,
            notice,
            logs,
            ports,
            run: 0,
            phase: Phase::Idle,
            child: None,
            tail: OutputTail::default(),
            port_in_use: false,
            failed_ports: Vec::new(),
            locked_install: false,
            retries_left,
            ready_timer: None,
            liveness: Liveness::new(PROBE_FAILURES),
            start_slot: None,
        }
    }

    fn report(&self, status: DevProcessStatus, error: Option<String>) {
        self.parent.report(ChildEvent::Changed(StatusEvent::Status {
            status,
            error,
            port: Some(self.port),
        }));
    }

    /// The process exited by itself and the actor goes on: forget its group if it is gone.
    fn finish_child(&mut self) {
        if let Some(child) = self.child.take() {
            child.finish();
        }
        self.notice.track(None);
    }

    fn set_child(&mut self, child: Option<ChildRun>) {
        self.notice.track(child.as_ref());
        self.child = child;
    }

    /// The run is over: stop what is left of the group, report, and stop this actor.
    fn end(&mut self, kind: ExitKind, reason: String, ctx: &mut Context<Self>) {
        self.start_slot = None;
        if kind == ExitKind::Abnormal {
            self.logs.error(reason.clone());
        } else {
            self.logs.info(reason.clone());
        }
        self.phase = Phase::Ended;
        let child = self.child.take();
        let ended = ChildEvent::Ended {
            exit: kind,
            reason,
            vite_port: Some(self.port),
        };
        end_actor(ctx, child, self.settings.stop_grace, ended, |act| {
            &mut act.notice
        });
    }

    fn fail(&mut self, message: String, ctx: &mut Context<Self>) {
        self.end(ExitKind::Abnormal, message, ctx);
    }

    fn spec(&self, args: Vec<String>) -> ProcessSpec {
        let mut spec = ProcessSpec::new(&self.settings.program, args, &self.settings.ui_dir);
        if !self.settings.path_prefix.is_empty() {
            let current = std::env::var_os("PATH").unwrap_or_default();
            let dirs = self
                .settings
                .path_prefix
                .iter()
                .cloned()
                .chain(std::env::split_paths(&current));
            if let Ok(joined) = std::env::join_paths(dirs) {
                spec.env
                    .insert("PATH".into(), joined.to_string_lossy().into_owned());
            }
        }
        spec
    }

    /// Spawns the package manager with `args` as the next run; false when it cannot start
    /// (the actor then ends with the reason).
    fn start_process(&mut self, args: Vec<String>, ctx: &mut Context<Self>) -> bool {
        let spec = self.spec(args);
        self.run += 1;
        self.tail.clear();
        self.port_in_use = false;
        self.logs.info(format!("$ {}", spec.display()));
        match ChildRun::spawn(&self.settings.registry, &spec, self.run, ctx.address()) {
            Ok(child) => {
                self.set_child(Some(child));
                true
            }
            Err(e) => {
                let msg = format!(
                    "{e}; check that {} is installed or give its path (builder option `package_manager_path`)",
                    self.settings.package_manager
                );
                self.fail(msg, ctx);
                false
            }
        }
    }

    fn install(&mut self, ctx: &mut Context<Self>) {
        let pm = self.settings.package_manager;
        self.locked_install = pm.has_lockfile(&self.settings.ui_dir);
        let args = pm.install_args(self.locked_install);
        self.logs.info(format!(
            "{} is missing: installing dependencies with `{pm} {}`",
            self.settings.ui_dir.join("node_modules").display(),
            args.join(" ")
        ));
        if self.start_process(args, ctx) {
            self.phase = Phase::Installing;
        }
    }

    fn start_vite(&mut self, ctx: &mut Context<Self>) {
        let args = self.settings.package_manager.dev_args(self.port);
        if self.start_process(args, ctx) {
            self.phase = Phase::Starting { timed_out: false };
            self.report(DevProcessStatus::Starting, None);
            let run = self.run;
            let timeout = self.settings.ready_timeout;
            self.ready_timer =
                Some(ctx.run_later(timeout, move |act, _| act.ready_timeout(run, timeout)));
        }
    }

    fn ready_timeout(&mut self, run: u64, timeout: Duration) {
        if let (true, Phase::Starting { .. }) = (run == self.run, self.phase) {
            // A Vite that is only slow keeps running, but others get its turn.
            self.start_slot = None;
            self.phase = Phase::Starting { timed_out: true };
            let msg = format!(
                "Vite did not report ready (its `Local:` line for port {}) within {:.0?}; it keeps running in case it is only slow",
                self.port, timeout
            );
            self.logs.error(msg.clone());
            self.report(DevProcessStatus::Error, Some(msg));
        }
    }
}

impl Actor for ViteActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.report(DevProcessStatus::Starting, None);
        // Wait for a turn; a stop meanwhile drops the wait (and the turn with the actor).
        self.settings
            .start_slots
            .clone()
            .acquire_owned()
            .into_actor(self)
            .map(|slot, act, ctx| {
                if act.phase != Phase::Idle {
                    return;
                }
                act.start_slot = slot.ok();
                if dependencies_installed(&act.settings.ui_dir) {
                    act.start_vite(ctx);
                } else {
                    act.install(ctx);
                }
            })
            .spawn(ctx);
    }
}

impl Handler<ChildLines> for ViteActor {
    type Result = ();

    fn handle(&mut self, msg: ChildLines, ctx: &mut Self::Context) {
        let current = msg.run == self.run;
        // The tail explains a failed install or a start that never became ready.
        if current && self.phase != Phase::Ready {
            self.tail.push_batch(&msg.lines);
        }
        let mut batch = Vec::with_capacity(msg.lines.len() + 1);
        for (pipe, line) in msg.lines {
            let level = level_for_line(pipe, &line);
            if !current {
                batch.push((level, line));
                continue;
            }
            // Readiness and port clashes are only looked for while Vite starts: a running
            // dev server's output goes straight through.
            let ready = match self.phase {
                Phase::Starting { .. } => {
                    if is_port_in_use_line(&line) {
                        self.port_in_use = true;
                    }
                    is_ready_line(&line, self.port)
                }
                _ => false,
            };
            batch.push((level, line));
            if ready {
                if let Some(t) = self.ready_timer.take() {
                    ctx.cancel_future(t);
                }
                self.start_slot = None;
                self.phase = Phase::Ready;
                self.start_probing(ctx);
                let url = DevServerState::vite_url_for(self.port);
                batch.push((LogLevel::Info, format!("Vite is ready: {url}/")));
                // The lines up to the ready line go before the status that follows them.
                self.logs.log_batch(std::mem::take(&mut batch));
                self.report(DevProcessStatus::Ready, None);
            }
        }
        self.logs.log_batch(batch);
    }
}

impl Handler<ChildExited> for ViteActor {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, ctx: &mut Self::Context) {
        if msg.run != self.run {
            return;
        }
        let how = msg.how();
        let success = msg.status.is_some_and(|s| s.success());
        if let Some(t) = self.ready_timer.take() {
            ctx.cancel_future(t);
        }
        match self.phase {
            Phase::Installing if success => {
                self.finish_child();
                self.logs.info("dependencies installed");
                self.start_vite(ctx);
            }
            Phase::Installing => {
                let tail = self.tail.text();
                let pm = self.settings.package_manager;
                let command = pm.install_args(self.locked_install).join(" ");
                let hint = if self.locked_install {
                    format!("; {}", pm.locked_install_hint())
                } else {
                    String::new()
                };
                let msg = format!("`{pm} {command}` failed ({how}): {tail}{hint}");
                self.end(ExitKind::Abnormal, msg, ctx);
            }
            Phase::Starting { .. } if self.port_in_use && self.retries_left > 0 => {
                self.finish_child();
                self.retry_on_another_port(ctx);
            }
            Phase::Starting { .. } => {
                let tail = self.tail.text();
                let kind = if success {
                    ExitKind::Normal
                } else {
                    ExitKind::Abnormal
                };
                let msg = format!("Vite exited before it was ready ({how}): {tail}");
                self.end(kind, msg, ctx);
            }
            Phase::Ready => {
                let kind = if success {
                    ExitKind::Normal
                } else {
                    ExitKind::Abnormal
                };
                self.end(kind, format!("Vite {how} after it was ready"), ctx);
            }
            Phase::Idle | Phase::Ended | Phase::Stopping => {}
        }
    }
}

/// Stops Vite's whole process group; answers once the group is gone.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct StopVite;

impl Handler<StopVite> for ViteActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: StopVite, ctx: &mut Self::Context) -> Self::Result {
        if let Some(t) = self.ready_timer.take() {
            ctx.cancel_future(t);
        }
        let child = self.child.take();
        self.phase = Phase::Stopping;
        self.notice.disarm();
        let grace = self.settings.stop_grace;
        let logs = self.logs.clone();
        Box::pin(
            async move {
                if let Some(child) = child {
                    match child.stop(grace).await {
                        StopOutcome::Terminated => logs.info("Vite stopped"),
                        StopOutcome::Killed => {
                            logs.warn(format!("Vite ignored SIGTERM for {grace:?}; killed it"))
                        }
                        StopOutcome::Stuck => logs.error("Vite's process group survived SIGKILL"),
                    }
                }
            }
            .into_actor(self)
            .map(|(), _, ctx| ctx.stop()),
        )
    }
}

#[cfg(feature = "test-hooks")]
super::child_guard::panics_for_tests!(ViteActor);
