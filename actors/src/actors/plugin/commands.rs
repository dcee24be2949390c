//! The `PluginActor`'s commands besides the reload: its state and logs, a rebuild, the stop,
//! and (tests only) a child's panic.

use actix::prelude::*;

use super::PluginActor;
use crate::actors::child_guard::ChildKind;
use crate::actors::go_watcher::{RequestBuild, StopGoWatcher};
use crate::actors::log_buffer::{GetLogs, PublishInOrder, StopLogBuffer};
use crate::actors::plugin_process::StopPluginProcess;
use crate::actors::port_allocator::ReleasePluginPorts;
use crate::actors::vite::StopVite;
use crate::build_history::BuildRecord;
use crate::error::DevServerError;
use crate::events::DevServerEvent;
use crate::types::{DevProcessStatus, DevServerState, LogEntry};

/// The plugin's current state.
#[derive(Message, Debug)]
#[rtype(result = "DevServerState")]
pub struct GetState;

impl Handler<GetState> for PluginActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _: GetState, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.status.state().clone())
    }
}

/// The plugin's buffered logs, oldest first: at most this many (`None`: all that are kept).
#[derive(Message, Debug)]
#[rtype(result = "Vec<LogEntry>")]
pub struct GetPluginLogs(pub Option<usize>);

impl Handler<GetPluginLogs> for PluginActor {
    type Result = ResponseFuture<Vec<LogEntry>>;

    fn handle(&mut self, msg: GetPluginLogs, _: &mut Self::Context) -> Self::Result {
        let logs = self.logs.clone();
        Box::pin(async move { logs.send(GetLogs(msg.0)).await.unwrap_or_default() })
    }
}

/// The plugin's last builds, oldest first.
#[derive(Message, Debug)]
#[rtype(result = "Vec<BuildRecord>")]
pub struct GetBuildHistory;

impl Handler<GetBuildHistory> for PluginActor {
    type Result = MessageResult<GetBuildHistory>;

    fn handle(&mut self, _: GetBuildHistory, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.builds.records())
    }
}

/// Rebuilds the Go side now; Vite is not touched.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), DevServerError>")]
pub struct Rebuild;

impl Handler<Rebuild> for PluginActor {
    type Result = Result<(), DevServerError>;

    fn handle(&mut self, _: Rebuild, _: &mut Self::Context) -> Self::Result {
        let id = self.status.state().plugin_id.clone();
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
            let state = act.status.state();
            act.ports
                .do_send(ReleasePluginPorts(state.plugin_id.clone()));
            sink.info("dev server stopped");
            let mut last = DevServerState::idle(&state.plugin_id);
            last.dev_path = state.dev_path.clone();
            last.vite_status = DevProcessStatus::Stopped;
            last.go_status = DevProcessStatus::Stopped;
            last.last_build_duration = state.last_build_duration;
            last.last_build_time = state.last_build_time;
            last.restarts = state.restarts;
            act.status.reset(last.clone());
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
        use crate::actors::child_guard::PanicForTest;
        match msg.0 {
            ChildKind::Vite => self.vite.as_ref().map(|a| a.do_send(PanicForTest)),
            ChildKind::GoWatcher => self.go.as_ref().map(|a| a.do_send(PanicForTest)),
            ChildKind::PluginProcess => self.process.as_ref().map(|a| a.do_send(PanicForTest)),
        }
        .is_some()
    }
}
