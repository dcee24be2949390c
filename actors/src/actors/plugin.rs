//! `PluginActor`: one per dev plugin. Owns the plugin's `DevServerState`, starts and stops
//! its children (Vite, Go watcher, log buffer), folds their reports into the state and
//! publishes one status event per change.

use std::sync::Arc;

use actix::prelude::*;

use super::go_watcher::{
    GoStatusChanged, GoWatcherActor, GoWatcherSettings, RequestBuild, StopGoWatcher,
};
use super::log_buffer::{GetLogs, LogBufferActor, LogSink, PublishInOrder};
use super::port_allocator::{PortAllocatorActor, ReleasePluginPorts};
use super::vite::{StopVite, ViteActor, ViteSettings, ViteStatusChanged};
use crate::error::DevServerError;
use crate::events::DevServerEvent;
use crate::host::PluginHost;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorSide {
    Vite,
    Go,
}

/// See the module doc.
pub struct PluginActor {
    state: DevServerState,
    plan: Option<PluginPlan>,
    host: Arc<dyn PluginHost>,
    ports: Addr<PortAllocatorActor>,
    logs: Addr<LogBufferActor>,
    vite: Option<Addr<ViteActor>>,
    go: Option<Addr<GoWatcherActor>>,
    error_side: Option<ErrorSide>,
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
        Self {
            state: initial_state(&plan),
            plan: Some(plan),
            host,
            ports,
            logs,
            vite: None,
            go: None,
            error_side: None,
            stopping: false,
        }
    }

    /// The state right after start, before any child reported.
    pub fn initial_state(&self) -> DevServerState {
        self.state.clone()
    }

    fn publish_if_changed(&mut self, before: DevServerState) {
        if self.state.vite_status != DevProcessStatus::Ready {
            self.state.vite_url.clear();
        }
        if self.state != before {
            self.publish(DevServerEvent::Status(self.state.clone()));
        }
    }

    /// Publishes through the log buffer so the event follows the log lines before it.
    fn publish(&self, event: DevServerEvent) {
        self.logs.do_send(PublishInOrder(event));
    }

    fn apply_error(&mut self, side: ErrorSide, status: DevProcessStatus, error: Option<String>) {
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
}

impl Actor for PluginActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(plan) = self.plan.take() else { return };
        self.publish(DevServerEvent::Status(self.state.clone()));
        let sink = LogSink::new(self.logs.clone(), LogSource::Manager);
        sink.info(format!(
            "dev server starting for {} ({})",
            plan.plugin_id,
            plan.dev_path.display()
        ));
        if plan.vite.is_none() {
            sink.info("no ui/ directory: backend-only plugin, Vite not started");
        }
        if plan.go.is_none() {
            sink.info("no pkg/ directory: UI-only plugin, Go watcher not started");
        }
        if let Some((settings, port)) = plan.vite {
            let actor = ViteActor::new(
                settings,
                port,
                ctx.address().recipient(),
                sink.with_source(LogSource::Vite),
                self.ports.clone(),
            );
            self.vite = Some(actor.start());
        }
        if let Some(settings) = plan.go {
            let actor =
                GoWatcherActor::new(settings, ctx.address().recipient(), sink, self.host.clone());
            self.go = Some(actor.start());
        }
    }
}

impl Handler<ViteStatusChanged> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: ViteStatusChanged, _: &mut Self::Context) {
        if self.stopping {
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
        self.apply_error(ErrorSide::Vite, msg.status, msg.error);
        self.publish_if_changed(before);
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
        self.apply_error(ErrorSide::Go, msg.status, msg.error);
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
        match &self.go {
            Some(go) => {
                go.do_send(RequestBuild);
                Ok(())
            }
            None => Err(DevServerError::NoBackend(self.state.plugin_id.clone())),
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

    fn handle(&mut self, _: StopPlugin, _: &mut Self::Context) -> Self::Result {
        self.stopping = true;
        let vite = self.vite.take();
        let go = self.go.take();
        let logs = self.logs.clone();
        let sink = LogSink::new(logs.clone(), LogSource::Manager);
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
