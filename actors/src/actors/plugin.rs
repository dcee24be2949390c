//! `PluginActor`: one per dev plugin, the one_for_one supervisor of its children. Owns the
//! plugin's `DevServerState`, starts the children (Vite, Go watcher), restarts them under
//! their restart policies when they crash or die, folds their reports into the state and
//! publishes one status event per change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::child_guard::{ChildGone, ChildKind};
use super::go_watcher::{
    GoStatusChanged, GoWatcherActor, GoWatcherSettings, ReloadProcess, Reloader, RequestBuild,
    StopGoWatcher,
};
use super::log_buffer::{GetLogs, LogBufferActor, LogSink, PublishInOrder, StopLogBuffer};
use super::plugin_process::{
    PluginProcessActor, PluginProcessChanged, PluginProcessEnded, PluginProcessParent,
    PluginProcessSettings, StopPluginProcess,
};
use super::port_allocator::{PortAllocatorActor, ReleasePluginPorts};
use super::vite::{StopVite, ViteActor, ViteEnded, ViteParent, ViteSettings, ViteStatusChanged};
use crate::error::DevServerError;
use crate::events::DevServerEvent;
use crate::host::PluginHost;
use crate::restart::{random_jitter, Decision, ExitKind, RestartPolicy, RestartTracker};
use crate::types::{
    BuildErrorsPayload, DevProcessStatus, DevServerMode, DevServerState, LogEntry, LogSource,
};

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
    state: DevServerState,
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
    next_generation: u64,
    /// Each child's standing error: when the one shown in `lastError` clears, another child's
    /// error that still stands takes its place, so an `error` status never shows no reason.
    standing_errors: Vec<(ChildKind, String)>,
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
            state: initial_state(&plan),
            vite_settings: plan.vite.map(|(settings, _)| settings),
            go_settings: plan.go,
            process_settings: plan.process,
            metadata: plan.metadata,
            host,
            ports,
            logs,
            manager_log,
            vite: None,
            go: None,
            process: None,
            vite_sup: Supervision::new(plan.vite_policy),
            go_sup: Supervision::new(plan.go_watcher_policy),
            process_sup: Supervision::new(plan.process_policy),
            pending_reload: None,
            next_generation: 0,
            standing_errors: Vec::new(),
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
        self.state.clone()
    }

    /// Publishes through the log buffer so the event follows the log lines before it.
    fn publish(&self, event: DevServerEvent) {
        self.logs.do_send(PublishInOrder(event));
    }

    fn publish_if_changed(&mut self, before: DevServerState) {
        if self.state.vite_status != DevProcessStatus::Ready {
            self.state.vite_url.clear();
        }
        if self.state != before {
            self.publish(DevServerEvent::Status(self.state.clone()));
        }
    }

    /// `lastError` is the newest error of a child that still stands: a child that recovers
    /// (ready or starting again) takes its own error with it.
    fn apply_error(&mut self, side: ChildKind, status: DevProcessStatus, error: Option<String>) {
        match error {
            Some(e) => {
                self.standing_errors.retain(|(k, _)| *k != side);
                self.standing_errors.push((side, e));
            }
            None if matches!(status, DevProcessStatus::Ready | DevProcessStatus::Starting) => {
                self.standing_errors.retain(|(k, _)| *k != side);
            }
            None => return,
        }
        self.state.last_error = self
            .standing_errors
            .last()
            .map(|(_, e)| e.clone())
            .unwrap_or_default();
    }

    fn set_status(&mut self, kind: ChildKind, status: DevProcessStatus, error: Option<String>) {
        let before = self.state.clone();
        match kind {
            ChildKind::Vite => self.state.vite_status = status,
            ChildKind::GoWatcher => self.state.go_status = status,
            // The process has no status field of its own: `grpcConnected` tells.
            ChildKind::PluginProcess => {
                self.state.grpc_connected = status == DevProcessStatus::Ready
            }
        }
        self.apply_error(kind, status, error);
        self.publish_if_changed(before);
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
        let me = ctx.address();
        let parent = ViteParent {
            status: me.clone().recipient(),
            ended: me.clone().recipient(),
            gone: me.recipient(),
        };
        let actor = ViteActor::new(
            settings,
            generation,
            self.state.vite_port,
            parent,
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
        let me = ctx.address();
        let reloader = if self.process_settings.is_some() {
            Reloader::BuiltIn(me.clone().recipient())
        } else {
            Reloader::Host(self.host.clone())
        };
        let actor = GoWatcherActor::new(
            settings,
            generation,
            (me.clone().recipient(), me.recipient()),
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
        if let Some(d) = settings.devinfo.as_mut() {
            d.vite_port = self.state.vite_port;
        }
        let generation = self.generation();
        let me = ctx.address();
        let parent = PluginProcessParent {
            changed: me.clone().recipient(),
            ended: me.clone().recipient(),
            gone: me.recipient(),
        };
        let actor = PluginProcessActor::new(
            settings,
            generation,
            parent,
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

    /// A child ended without being asked to: restart it, leave it, or give up, per policy.
    fn child_ended(
        &mut self,
        kind: ChildKind,
        exit: ExitKind,
        reason: String,
        ctx: &mut Context<Self>,
    ) {
        if self.stopping {
            return;
        }
        let tracker = &mut self.supervision(kind).tracker;
        let policy = tracker.policy();
        let decision = tracker.ended(Instant::now(), exit, random_jitter());
        let name = kind.name();
        match decision {
            Decision::Restart { delay, attempt } => {
                self.manager_log.warn(format!(
                    "{reason}; restarting {name} in {} (restart {attempt} of at most {} per {})",
                    human(delay),
                    policy.max_restarts,
                    human(policy.window)
                ));
                self.state.restarts += 1;
                self.set_status(kind, DevProcessStatus::Error, Some(reason));
                let timer = ctx.run_later(delay, move |act, ctx| {
                    act.supervision(kind).restart_timer = None;
                    if act.stopping {
                        return;
                    }
                    act.set_status(kind, DevProcessStatus::Starting, None);
                    act.start_child(kind, ctx);
                });
                self.supervision(kind).restart_timer = Some(timer);
            }
            Decision::GiveUp { crashes } => {
                let msg = format!(
                    "{name} crashed {crashes} times in {}; giving up (restart limit: {} per {}). Last failure: {reason}. Restart the dev server to try again.",
                    human(policy.window),
                    policy.max_restarts,
                    human(policy.window)
                );
                self.manager_log.error(msg.clone());
                self.set_status(kind, DevProcessStatus::Error, Some(msg));
            }
            Decision::Leave => {
                self.manager_log.info(format!(
                    "{reason}; not restarting {name} ({} restart policy)",
                    policy.restart
                ));
                let status = if exit == ExitKind::Normal {
                    DevProcessStatus::Stopped
                } else {
                    DevProcessStatus::Error
                };
                let error = (exit == ExitKind::Abnormal).then_some(reason);
                self.set_status(kind, status, error);
            }
        }
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

impl Actor for PluginActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.publish(DevServerEvent::Status(self.state.clone()));
        self.manager_log.info(format!(
            "dev server starting for {} ({})",
            self.state.plugin_id, self.state.dev_path
        ));
        if self.vite_settings.is_none() {
            self.manager_log
                .info("no ui/ directory: backend-only plugin, Vite not started");
        }
        if self.go_settings.is_none() {
            self.manager_log
                .info("no pkg/ directory: UI-only plugin, Go watcher not started");
        }
        self.start_vite(ctx);
        self.start_go(ctx);
    }
}

impl Handler<ViteStatusChanged> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: ViteStatusChanged, _: &mut Self::Context) {
        if self.stopping || msg.generation != self.vite_sup.generation {
            return;
        }
        let before = self.state.clone();
        self.state.vite_status = msg.status;
        self.state.vite_port = msg.port;
        self.state.vite_url = if msg.status == DevProcessStatus::Ready {
            DevServerState::vite_url_for(msg.port)
        } else {
            String::new()
        };
        self.apply_error(ChildKind::Vite, msg.status, msg.error);
        self.publish_if_changed(before);
    }
}

impl Handler<ViteEnded> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: ViteEnded, ctx: &mut Self::Context) {
        if msg.generation != self.vite_sup.generation {
            return;
        }
        self.vite = None;
        self.state.vite_port = msg.port;
        self.child_ended(ChildKind::Vite, msg.kind, msg.reason, ctx);
    }
}

impl Handler<ChildGone> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: ChildGone, ctx: &mut Self::Context) {
        let current = self.supervision(msg.kind).generation;
        let (grace, registry) = match (
            &self.vite_settings,
            &self.go_settings,
            &self.process_settings,
        ) {
            (Some(v), _, _) => (v.stop_grace, v.registry.clone()),
            (None, Some(g), _) => (g.stop_grace, g.registry.clone()),
            (None, None, Some(p)) => (crate::process::DEFAULT_STOP_GRACE, p.registry.clone()),
            (None, None, None) => return,
        };
        let pgid = msg.pgid;
        let name = msg.kind.name();
        self.manager_log.error(format!(
            "the {name} actor failed (it panicked){}",
            if pgid.is_some() {
                "; stopping the process it ran"
            } else {
                ""
            }
        ));
        // The dead actor's process outlives it: stop it before a replacement starts.
        async move {
            if let Some(pgid) = pgid {
                registry.stop(pgid, grace).await;
            }
        }
        .into_actor(self)
        .map(move |(), act, ctx| {
            if msg.generation != current || act.stopping {
                return;
            }
            act.clear_child(msg.kind);
            let reason = format!("the {name} actor failed");
            if msg.kind == ChildKind::PluginProcess {
                act.finish_reload(msg.generation, Err(reason.clone()));
            }
            act.child_ended(msg.kind, ExitKind::Abnormal, reason, ctx);
        })
        .wait(ctx);
    }
}

impl Handler<PluginProcessChanged> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: PluginProcessChanged, _: &mut Self::Context) {
        if self.stopping || msg.generation != self.process_sup.generation {
            return;
        }
        let status = if msg.connected {
            DevProcessStatus::Ready
        } else {
            DevProcessStatus::Error
        };
        self.set_status(ChildKind::PluginProcess, status, msg.error);
        if msg.connected {
            self.finish_reload(msg.generation, Ok(()));
        }
    }
}

impl Handler<PluginProcessEnded> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: PluginProcessEnded, ctx: &mut Self::Context) {
        if msg.generation != self.process_sup.generation {
            return;
        }
        self.process = None;
        self.finish_reload(msg.generation, Err(msg.reason.clone()));
        self.child_ended(ChildKind::PluginProcess, msg.kind, msg.reason, ctx);
    }
}

impl Handler<ReloadProcess> for PluginActor {
    type Result = ResponseActFuture<Self, Result<(), String>>;

    fn handle(&mut self, msg: ReloadProcess, ctx: &mut Self::Context) -> Self::Result {
        if self.stopping {
            return Box::pin(actix::fut::ready(Err(
                "the dev server is stopping".to_string()
            )));
        }
        if !msg.binary_changed && self.process.is_some() {
            return Box::pin(actix::fut::ready(Ok(())));
        }
        self.publish_reload(true);
        // A restart that was waiting for its backoff is replaced by this launch.
        if let Some(t) = self.process_sup.restart_timer.take() {
            ctx.cancel_future(t);
        }
        self.process_sup.tracker.reset();
        if let Some(p) = self.pending_reload.take() {
            let _ = p.done.send(Err("superseded by a newer build".into()));
        }
        let old = self.process.take();
        // Reports of the old process are ignored from now on.
        self.process_sup.generation = 0;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let limit = self
            .process_settings
            .as_ref()
            .map(|s| s.start_timeout + Duration::from_secs(10))
            .unwrap_or(Duration::from_secs(30));
        let stop_old = async move {
            if let Some(old) = old {
                let _ = old.send(StopPluginProcess).await;
            }
        };
        Box::pin(stop_old.into_actor(self).then(move |(), act, ctx| {
            if !act.stopping {
                // The old process is gone: not connected until the new one serves.
                act.set_status(ChildKind::PluginProcess, DevProcessStatus::Starting, None);
                act.start_process(ctx);
                act.pending_reload = Some(PendingReload {
                    generation: act.process_sup.generation,
                    done: tx,
                });
            }
            async move {
                match tokio::time::timeout(limit, rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err("the reload was abandoned".to_string()),
                    Err(_) => Err(format!(
                        "the new plugin process did not serve within {limit:?}"
                    )),
                }
            }
            .into_actor(act)
        }))
    }
}

impl Handler<GoStatusChanged> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: GoStatusChanged, _: &mut Self::Context) {
        if self.stopping {
            return;
        }
        let before = self.state.clone();
        self.state.go_status = msg.status;
        if let Some((duration, at)) = msg.build {
            self.state.last_build_duration = duration;
            self.state.last_build_time = Some(at);
        }
        self.apply_error(ChildKind::GoWatcher, msg.status, msg.error);
        if !msg.errors.is_empty() {
            self.publish(DevServerEvent::BuildErrors(BuildErrorsPayload {
                plugin_id: self.state.plugin_id.clone(),
                errors: msg.errors,
            }));
        }
        self.publish_if_changed(before);
    }
}

/// The plugin's current state.
#[derive(Message, Debug)]
#[rtype(result = "DevServerState")]
pub struct GetState;

impl Handler<GetState> for PluginActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _: GetState, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.state.clone())
    }
}

/// The plugin's buffered logs (`count <= 0`: all).
#[derive(Message, Debug)]
#[rtype(result = "Vec<LogEntry>")]
pub struct GetPluginLogs(pub i64);

impl Handler<GetPluginLogs> for PluginActor {
    type Result = ResponseFuture<Vec<LogEntry>>;

    fn handle(&mut self, msg: GetPluginLogs, _: &mut Self::Context) -> Self::Result {
        let logs = self.logs.clone();
        Box::pin(async move { logs.send(GetLogs(msg.0)).await.unwrap_or_default() })
    }
}

/// Rebuilds the Go side now; Vite is not touched.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), DevServerError>")]
pub struct Rebuild;

impl Handler<Rebuild> for PluginActor {
    type Result = Result<(), DevServerError>;

    fn handle(&mut self, _: Rebuild, _: &mut Self::Context) -> Self::Result {
        let id = self.state.plugin_id.clone();
        if self.stopping {
            return Err(DevServerError::NotRunning(id));
        }
        if self.go_settings.is_none() {
            return Err(DevServerError::NoBackend(id));
        }
        match &self.go {
            Some(go) => {
                go.do_send(RequestBuild);
                Ok(())
            }
            None => Err(DevServerError::ChildDown {
                id,
                child: ChildKind::GoWatcher.name(),
            }),
        }
    }
}

/// Stops every child (their process groups gone), releases the port, publishes the final
/// state and stops the actor. Answers with the final state.
#[derive(Message, Debug)]
#[rtype(result = "DevServerState")]
pub struct StopPlugin;

impl Handler<StopPlugin> for PluginActor {
    type Result = ResponseActFuture<Self, DevServerState>;

    fn handle(&mut self, _: StopPlugin, ctx: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        for timer in [
            self.vite_sup.restart_timer.take(),
            self.go_sup.restart_timer.take(),
            self.process_sup.restart_timer.take(),
        ]
        .into_iter()
        .flatten()
        {
            ctx.cancel_future(timer);
        }
        if let Some(p) = self.pending_reload.take() {
            let _ = p.done.send(Err("the dev server is stopping".into()));
        }
        let vite = self.vite.take();
        let go = self.go.take();
        let process = self.process.take();
        let logs = self.logs.clone();
        let sink = self.manager_log.clone();
        sink.info("stopping dev server");
        let stop_children = async move {
            let v = async {
                if let Some(v) = vite {
                    let _ = v.send(StopVite).await;
                }
            };
            let g = async {
                if let Some(g) = go {
                    let _ = g.send(StopGoWatcher).await;
                }
            };
            let p = async {
                if let Some(p) = process {
                    let _ = p.send(StopPluginProcess).await;
                }
            };
            futures::join!(v, g, p);
        };
        Box::pin(stop_children.into_actor(self).then(move |(), act, _| {
            act.ports
                .do_send(ReleasePluginPorts(act.state.plugin_id.clone()));
            sink.info("dev server stopped");
            let mut last = DevServerState::idle(&act.state.plugin_id);
            last.dev_path = act.state.dev_path.clone();
            last.vite_status = DevProcessStatus::Stopped;
            last.go_status = DevProcessStatus::Stopped;
            last.last_build_duration = act.state.last_build_duration;
            last.last_build_time = act.state.last_build_time;
            last.restarts = act.state.restarts;
            act.state = last.clone();
            async move {
                let _ = logs
                    .send(PublishInOrder(DevServerEvent::Status(last.clone())))
                    .await;
                // Every child is gone: nothing logs into this buffer any more.
                let _ = logs.send(StopLogBuffer).await;
                last
            }
            .into_actor(act)
            .map(|last, _, ctx| {
                ctx.stop();
                last
            })
        }))
    }
}

/// Makes one child's handler panic (supervision tests).
#[cfg(feature = "test-hooks")]
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "bool")]
pub struct PanicChild(pub ChildKind);

#[cfg(feature = "test-hooks")]
impl Handler<PanicChild> for PluginActor {
    type Result = bool;

    fn handle(&mut self, msg: PanicChild, _: &mut Self::Context) -> bool {
        use super::child_guard::PanicForTest;
        match msg.0 {
            ChildKind::Vite => self.vite.as_ref().map(|a| a.do_send(PanicForTest)),
            ChildKind::GoWatcher => self.go.as_ref().map(|a| a.do_send(PanicForTest)),
            ChildKind::PluginProcess => self.process.as_ref().map(|a| a.do_send(PanicForTest)),
        }
        .is_some()
    }
}
