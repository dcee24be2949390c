//! `PluginActor`: one per dev plugin, the one_for_one supervisor of its children. Owns the
//! plugin's `DevServerState`, starts the children (Vite, Go watcher), restarts them under
//! their restart policies when they crash or die, folds their reports into the state and
//! publishes one status event per change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::child_guard::{ChildGone, ChildKind};
use super::go_watcher::{
    GoStatusChanged, GoWatcherActor, GoWatcherSettings, RequestBuild, StopGoWatcher,
};
use super::log_buffer::{GetLogs, LogBufferActor, LogSink, PublishInOrder};
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
    pub vite_policy: RestartPolicy,
    pub go_watcher_policy: RestartPolicy,
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

/// One supervised child: its current instance and its restart bookkeeping.
struct Supervised<A: Actor> {
    addr: Option<Addr<A>>,
    generation: u64,
    tracker: RestartTracker,
    restart_timer: Option<SpawnHandle>,
}

impl<A: Actor> Supervised<A> {
    fn new(policy: RestartPolicy) -> Self {
        Self {
            addr: None,
            generation: 0,
            tracker: RestartTracker::new(policy),
            restart_timer: None,
        }
    }
}

/// See the module doc.
pub struct PluginActor {
    state: DevServerState,
    vite_settings: Option<ViteSettings>,
    go_settings: Option<GoWatcherSettings>,
    host: Arc<dyn PluginHost>,
    ports: Addr<PortAllocatorActor>,
    logs: Addr<LogBufferActor>,
    manager_log: LogSink,
    vite: Supervised<ViteActor>,
    go: Supervised<GoWatcherActor>,
    next_generation: u64,
    error_side: Option<ChildKind>,
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
            host,
            ports,
            logs,
            manager_log,
            vite: Supervised::new(plan.vite_policy),
            go: Supervised::new(plan.go_watcher_policy),
            next_generation: 0,
            error_side: None,
            stopping: false,
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

    fn apply_error(&mut self, side: ChildKind, status: DevProcessStatus, error: Option<String>) {
        match error {
            Some(e) => {
                self.state.last_error = e;
                self.error_side = Some(side);
            }
            None if self.error_side == Some(side)
                && matches!(status, DevProcessStatus::Ready | DevProcessStatus::Starting) =>
            {
                self.state.last_error.clear();
                self.error_side = None;
            }
            None => {}
        }
    }

    fn set_status(&mut self, kind: ChildKind, status: DevProcessStatus, error: Option<String>) {
        let before = self.state.clone();
        match kind {
            ChildKind::Vite => self.state.vite_status = status,
            ChildKind::GoWatcher => self.state.go_status = status,
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
        self.vite.generation = generation;
        self.vite.addr = Some(actor.start());
        self.vite.tracker.started(Instant::now());
    }

    fn start_go(&mut self, ctx: &mut Context<Self>) {
        let Some(settings) = self.go_settings.clone() else {
            return;
        };
        let generation = self.generation();
        let me = ctx.address();
        let actor = GoWatcherActor::new(
            settings,
            generation,
            (me.clone().recipient(), me.recipient()),
            self.manager_log.clone(),
            self.host.clone(),
        );
        self.go.generation = generation;
        self.go.addr = Some(actor.start());
        self.go.tracker.started(Instant::now());
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
        let slot_tracker = match kind {
            ChildKind::Vite => &mut self.vite.tracker,
            ChildKind::GoWatcher => &mut self.go.tracker,
        };
        let policy = slot_tracker.policy();
        let decision = slot_tracker.ended(Instant::now(), exit, random_jitter());
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
                    if act.stopping {
                        return;
                    }
                    match kind {
                        ChildKind::Vite => {
                            act.vite.restart_timer = None;
                            act.set_status(kind, DevProcessStatus::Starting, None);
                            act.start_vite(ctx);
                        }
                        ChildKind::GoWatcher => {
                            act.go.restart_timer = None;
                            act.set_status(kind, DevProcessStatus::Starting, None);
                            act.start_go(ctx);
                        }
                    }
                });
                match kind {
                    ChildKind::Vite => self.vite.restart_timer = Some(timer),
                    ChildKind::GoWatcher => self.go.restart_timer = Some(timer),
                }
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
        if self.stopping || msg.generation != self.vite.generation {
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
        if msg.generation != self.vite.generation {
            return;
        }
        self.vite.addr = None;
        self.state.vite_port = msg.port;
        self.child_ended(ChildKind::Vite, msg.kind, msg.reason, ctx);
    }
}

impl Handler<ChildGone> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: ChildGone, ctx: &mut Self::Context) {
        let current = match msg.kind {
            ChildKind::Vite => self.vite.generation,
            ChildKind::GoWatcher => self.go.generation,
        };
        let (grace, registry) = match (&self.vite_settings, &self.go_settings) {
            (Some(v), _) => (v.stop_grace, v.registry.clone()),
            (None, Some(g)) => (g.stop_grace, g.registry.clone()),
            (None, None) => return,
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
            match msg.kind {
                ChildKind::Vite => act.vite.addr = None,
                ChildKind::GoWatcher => act.go.addr = None,
            }
            let reason = format!("the {name} actor failed");
            act.child_ended(msg.kind, ExitKind::Abnormal, reason, ctx);
        })
        .wait(ctx);
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
        match &self.go.addr {
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
        for timer in [self.vite.restart_timer.take(), self.go.restart_timer.take()]
            .into_iter()
            .flatten()
        {
            ctx.cancel_future(timer);
        }
        let vite = self.vite.addr.take();
        let go = self.go.addr.take();
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
            futures::join!(v, g);
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
            ChildKind::Vite => self.vite.addr.as_ref().map(|a| a.do_send(PanicForTest)),
            ChildKind::GoWatcher => self.go.addr.as_ref().map(|a| a.do_send(PanicForTest)),
        }
        .is_some()
    }
}
