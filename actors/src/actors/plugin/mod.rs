//! `PluginActor`: one per dev plugin, the one_for_one supervisor of its children. Owns the
//! plugin's `DevServerState`, starts the children (Vite, Go watcher), restarts them under
//! their restart policies when they crash or die, folds their reports into the state and
//! publishes one status event per change.
//!
//! Here: the actor and its children; their reports and what an end means in `reports`, the
//! reload of the plugin process in `reload`, the stop and the other commands in `commands`.

mod commands;
mod reload;
mod reports;

#[cfg(feature = "test-hooks")]
pub use commands::PanicChild;
pub use commands::{GetBuildHistory, GetPluginLogs, GetState, Rebuild, StopPlugin};
pub use reload::ReloadProcess;

use crate::build_history::BuildHistory;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::child_guard::{ChildKind, ParentLink};
use super::go_watcher::{GoWatcherActor, GoWatcherSettings, Reloader};
use super::log_buffer::{LogBufferActor, LogSink, PublishInOrder};
use super::plugin_process::{PluginProcessActor, PluginProcessSettings};
use super::port_allocator::PortAllocatorActor;
use super::vite::{ViteActor, ViteSettings};
use crate::events::DevServerEvent;
use crate::host::PluginHost;
use crate::plugin_status::{PluginStatus, StatusEvent};
use crate::registry::ProcessRegistry;
use crate::restart::{RestartPolicy, RestartTracker};
use crate::types::{DevProcessStatus, DevServerMode, DevServerState, LogSource};

/// What a plugin actor starts; the supervisor has validated it.
pub struct PluginPlan {
    pub plugin_id: String,
    pub dev_path: std::path::PathBuf,
    /// Vite settings and the allocated port, when the plugin has a `ui/`.
    pub vite: Option<(ViteSettings, u16)>,
    /// Go watcher settings, when the plugin has a `pkg/`.
    pub go: Option<GoWatcherSettings>,
    /// Settings of the built-in go-plugin host, when the engine launches the plugin itself.
    pub process: Option<PluginProcessSettings>,
    /// `plugin.yaml` as JSON: the payload of the reload events.
    pub metadata: serde_json::Value,
    pub vite_policy: RestartPolicy,
    pub go_watcher_policy: RestartPolicy,
    pub process_policy: RestartPolicy,
    /// Where the plugin's process groups are recorded; stops the group of a child that died.
    pub registry: Arc<ProcessRegistry>,
    /// How long a process group gets after SIGTERM.
    pub stop_grace: Duration,
    /// What planning had to settle differently from what was asked, logged as the plugin
    /// starts (a preferred port that was taken).
    pub notes: Vec<String>,
}

/// The state of a plugin whose children are about to start.
fn initial_state(plan: &PluginPlan) -> DevServerState {
    let mut state = DevServerState::idle(&plan.plugin_id);
    state.mode = DevServerMode::Managed;
    state.dev_path = plan.dev_path.to_string_lossy().into_owned();
    if let Some((_, port)) = &plan.vite {
        state.vite_port = *port;
        state.vite_status = DevProcessStatus::Starting;
    }
    if plan.go.is_some() {
        state.go_status = DevProcessStatus::Starting;
    }
    state
}

/// Restart bookkeeping of one supervised child.
struct Supervision {
    generation: u64,
    tracker: RestartTracker,
    restart_timer: Option<SpawnHandle>,
}

impl Supervision {
    fn new(policy: RestartPolicy) -> Self {
        Self {
            generation: 0,
            tracker: RestartTracker::new(policy),
            restart_timer: None,
        }
    }
}

/// A reload waiting for the new plugin process to serve (or fail).
struct PendingReload {
    generation: u64,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// See the module doc.
pub struct PluginActor {
    /// The published state and the errors behind `lastError`.
    status: PluginStatus,
    vite_settings: Option<ViteSettings>,
    go_settings: Option<GoWatcherSettings>,
    process_settings: Option<PluginProcessSettings>,
    metadata: serde_json::Value,
    host: Arc<dyn PluginHost>,
    ports: Addr<PortAllocatorActor>,
    logs: Addr<LogBufferActor>,
    manager_log: LogSink,
    vite: Option<Addr<ViteActor>>,
    go: Option<Addr<GoWatcherActor>>,
    process: Option<Addr<PluginProcessActor>>,
    vite_sup: Supervision,
    go_sup: Supervision,
    process_sup: Supervision,
    pending_reload: Option<PendingReload>,
    /// The last builds (kept here so that they outlive a restarted Go watcher).
    builds: BuildHistory,
    next_generation: u64,
    /// Logged once the actor runs (see `PluginPlan::notes`).
    notes: Vec<String>,
    registry: Arc<ProcessRegistry>,
    stop_grace: Duration,
    stopping: bool,
}

impl PluginActor {
    /// A plugin actor that starts the children of `plan` once it runs.
    pub fn new(
        plan: PluginPlan,
        host: Arc<dyn PluginHost>,
        ports: Addr<PortAllocatorActor>,
        logs: Addr<LogBufferActor>,
    ) -> Self {
        let manager_log = LogSink::new(logs.clone(), LogSource::Manager);
        Self {
            status: PluginStatus::new(initial_state(&plan)),
            vite_settings: plan.vite.map(|(settings, _)| settings),
            go_settings: plan.go,
            process_settings: plan.process,
            metadata: plan.metadata,
            notes: plan.notes,
            host,
            ports,
            logs,
            manager_log,
            vite: None,
            go: None,
            process: None,
            builds: BuildHistory::default(),
            vite_sup: Supervision::new(plan.vite_policy),
            go_sup: Supervision::new(plan.go_watcher_policy),
            process_sup: Supervision::new(plan.process_policy),
            pending_reload: None,
            next_generation: 0,
            registry: plan.registry,
            stop_grace: plan.stop_grace,
            stopping: false,
        }
    }

    fn supervision(&mut self, kind: ChildKind) -> &mut Supervision {
        match kind {
            ChildKind::Vite => &mut self.vite_sup,
            ChildKind::GoWatcher => &mut self.go_sup,
            ChildKind::PluginProcess => &mut self.process_sup,
        }
    }

    /// Forgets the current instance of `kind` (it ended or died).
    fn clear_child(&mut self, kind: ChildKind) {
        match kind {
            ChildKind::Vite => self.vite = None,
            ChildKind::GoWatcher => self.go = None,
            ChildKind::PluginProcess => self.process = None,
        }
    }

    fn start_child(&mut self, kind: ChildKind, ctx: &mut Context<Self>) {
        match kind {
            ChildKind::Vite => self.start_vite(ctx),
            ChildKind::GoWatcher => self.start_go(ctx),
            ChildKind::PluginProcess => self.start_process(ctx),
        }
    }

    /// The state right after start, before any child reported.
    pub fn initial_state(&self) -> DevServerState {
        self.status.state().clone()
    }

    /// Publishes through the log buffer so the event follows the log lines before it.
    fn publish(&self, event: DevServerEvent) {
        self.logs.do_send(PublishInOrder(event));
    }

    /// Applies a change of child `kind` and publishes the state if it changed.
    fn apply(&mut self, kind: ChildKind, event: StatusEvent) {
        if let Some(state) = self.status.apply(kind, event) {
            self.publish(DevServerEvent::Status(state));
        }
    }

    fn set_status(&mut self, kind: ChildKind, status: DevProcessStatus, error: Option<String>) {
        self.apply(
            kind,
            StatusEvent::Status {
                status,
                error,
                port: None,
            },
        );
    }

    /// Where instance `generation` of child `kind` reports to.
    fn link(&self, kind: ChildKind, generation: u64, ctx: &Context<Self>) -> ParentLink {
        ParentLink::new(ctx.address().recipient(), kind, generation)
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn start_vite(&mut self, ctx: &mut Context<Self>) {
        let Some(settings) = self.vite_settings.clone() else {
            return;
        };
        let generation = self.generation();
        let actor = ViteActor::new(
            settings,
            self.status.state().vite_port,
            self.link(ChildKind::Vite, generation, ctx),
            self.manager_log.with_source(LogSource::Vite),
            self.ports.clone(),
        );
        self.vite_sup.generation = generation;
        self.vite = Some(actor.start());
        self.vite_sup.tracker.started(Instant::now());
    }

    fn start_go(&mut self, ctx: &mut Context<Self>) {
        let Some(settings) = self.go_settings.clone() else {
            return;
        };
        let generation = self.generation();
        let reloader = if self.process_settings.is_some() {
            Reloader::BuiltIn(ctx.address().recipient())
        } else {
            Reloader::Host(self.host.clone())
        };
        let actor = GoWatcherActor::new(
            settings,
            self.link(ChildKind::GoWatcher, generation, ctx),
            self.manager_log.clone(),
            reloader,
        );
        self.go_sup.generation = generation;
        self.go = Some(actor.start());
        self.go_sup.tracker.started(Instant::now());
    }

    fn start_process(&mut self, ctx: &mut Context<Self>) {
        let Some(mut settings) = self.process_settings.clone() else {
            return;
        };
        settings.vite_port = self.status.state().vite_port;
        let generation = self.generation();
        let actor = PluginProcessActor::new(
            settings,
            self.link(ChildKind::PluginProcess, generation, ctx),
            self.manager_log.with_source(LogSource::Plugin),
        );
        self.process_sup.generation = generation;
        self.process = Some(actor.start());
        self.process_sup.tracker.started(Instant::now());
    }

    fn publish_reload(&self, start: bool) {
        let meta = self.metadata.clone();
        self.publish(if start {
            DevServerEvent::ReloadStart(meta)
        } else {
            DevServerEvent::ReloadComplete(meta)
        });
    }

    fn finish_reload(&mut self, generation: u64, result: Result<(), String>) {
        if self
            .pending_reload
            .as_ref()
            .is_some_and(|p| p.generation == generation)
        {
            if let Some(p) = self.pending_reload.take() {
                if result.is_ok() {
                    self.publish_reload(false);
                }
                let _ = p.done.send(result);
            }
        }
    }
}

impl Actor for PluginActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let state = self.status.state().clone();
        self.publish(DevServerEvent::Status(state.clone()));
        self.manager_log.info(format!(
            "dev server starting for {} ({})",
            state.plugin_id, state.dev_path
        ));
        if self.vite_settings.is_none() {
            self.manager_log
                .info("no ui/ directory: backend-only plugin, Vite not started");
        }
        if self.go_settings.is_none() {
            self.manager_log
                .info("no pkg/ directory: UI-only plugin, Go watcher not started");
        }
        for note in std::mem::take(&mut self.notes) {
            self.manager_log.warn(note);
        }
        let has_version = self
            .metadata
            .get("version")
            .and_then(|v| v.as_str())
            .is_some_and(|v| !v.trim().is_empty());
        if !has_version {
            self.manager_log.warn(format!(
                "{}/plugin.yaml has no `version` (or cannot be read); Omniview's plugin validator requires one, for example `version: 0.1.0`",
                state.dev_path
            ));
        }
        self.start_vite(ctx);
        self.start_go(ctx);
    }
}
