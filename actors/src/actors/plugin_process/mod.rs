//! `PluginProcessActor`: the built-in go-plugin host for one run of a plugin binary. Launches
//! `<state>/plugins/<id>/bin/plugin` with the handshake environment, reads the handshake line,
//! connects over gRPC, checks health periodically, drains the plugin's output into its log,
//! writes `.devinfo` for a running IDE, and stops the plugin gracefully (Shutdown RPC, up to
//! 2 s, then SIGKILL). Like `ViteActor`, one actor is one run: when the process ends on its
//! own (or stops answering health checks), the actor reports `Ended` and stops;
//! its `PluginActor` restarts it under the restart policy.
//!
//! Here: the run and its stop; the handshake, the gRPC connection and its health in
//! `connection`.

mod connection;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tonic::transport::Channel;

use super::child_guard::{ChildEvent, ExitNotice, ParentLink};
use super::child_output::{level_for_line, ChildExited, ChildLines, OutputTail, Pipe};
use super::child_run::{end_actor, ChildRun};
use super::log_buffer::LogSink;
use crate::devinfo::remove_devinfo_of;
use crate::grpc;
use crate::handshake::plugin_env;
use crate::hclog::parse_hclog;
use crate::process::ProcessSpec;
use crate::registry::ProcessRegistry;
use crate::restart::ExitKind;
use crate::types::DevProcessStatus;

/// What go-plugin prints (and exits 1) when its magic cookie is missing or wrong.
const COOKIE_REFUSAL: &str = "This binary is a plugin";
/// How long the plugin gets to exit after Shutdown before SIGKILL.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// How one plugin process is launched and watched.
#[derive(Clone)]
pub struct PluginProcessSettings {
    pub plugin_id: String,
    /// The installed binary, `<state>/plugins/<id>/bin/plugin`.
    pub binary: PathBuf,
    /// Working directory of the plugin, `<state>/plugins/<id>`.
    pub dir: PathBuf,
    /// How long the plugin may take to print its handshake line (default 15 s).
    pub start_timeout: Duration,
    /// How often health is checked (default 5 s).
    pub health_interval: Duration,
    /// Failed health checks in a row after which the plugin counts as hung (default 3).
    pub health_failures: u32,
    /// Write `<state>/plugins/<id>/.devinfo` while the plugin runs (standalone CLI).
    pub devinfo: Option<DevinfoSettings>,
    /// The plugin's Vite port, 0 without one: in `.devinfo` and, as the real CLI does, in
    /// `OMNIVIEW_VITE_PORT` for the plugin.
    pub vite_port: u16,
    pub registry: Arc<ProcessRegistry>,
}

/// What goes into `.devinfo` besides what the handshake tells.
#[derive(Clone, Debug)]
pub struct DevinfoSettings {
    pub path: PathBuf,
    pub version: String,
}

/// Where the run is; its process is `PluginProcessActor::child`.
#[derive(Clone)]
enum Phase {
    Handshaking,
    Connecting,
    Running {
        channel: Channel,
        failures: u32,
        connected: bool,
    },
    Ended,
    Stopping,
}

/// See the module doc.
pub struct PluginProcessActor {
    settings: PluginProcessSettings,
    parent: ParentLink,
    notice: ExitNotice,
    logs: LogSink,
    phase: Phase,
    /// The plugin's process, while it runs.
    child: Option<ChildRun>,
    pid: i32,
    tail: OutputTail,
    start_timer: Option<SpawnHandle>,
    /// The exit was reported (`ChildExited`): its status is logged before the actor stops.
    exited: bool,
    /// A stop waiting for the exit to be reported.
    exit_waiter: Option<tokio::sync::oneshot::Sender<()>>,
}

impl PluginProcessActor {
    /// One run of the plugin process, reporting through `parent`.
    pub fn new(settings: PluginProcessSettings, parent: ParentLink, logs: LogSink) -> Self {
        let notice = parent.exit_notice();
        Self {
            settings,
            parent,
            notice,
            logs,
            phase: Phase::Ended,
            child: None,
            pid: 0,
            tail: OutputTail::default(),
            start_timer: None,
            exited: false,
            exit_waiter: None,
        }
    }

    /// Reports whether the plugin serves (`grpcConnected`), and why not.
    fn report(&self, connected: bool, error: Option<String>) {
        let status = if connected {
            DevProcessStatus::Ready
        } else {
            DevProcessStatus::Error
        };
        self.parent.status(status, error);
    }

    fn remove_devinfo(&self) {
        if let Some(d) = &self.settings.devinfo {
            remove_devinfo_of(&d.path, self.pid);
        }
    }

    /// The run is over: stop what is left, report, stop the actor.
    fn end(&mut self, kind: ExitKind, reason: String, ctx: &mut Context<Self>) {
        if matches!(self.phase, Phase::Ended | Phase::Stopping) {
            return;
        }
        if let Some(t) = self.start_timer.take() {
            ctx.cancel_future(t);
        }
        self.logs.error(reason.clone());
        self.phase = Phase::Ended;
        let child = self.child.take();
        self.remove_devinfo();
        let ended = ChildEvent::Ended {
            exit: kind,
            reason,
            vite_port: None,
        };
        end_actor(ctx, child, SHUTDOWN_WAIT, ended, |act| &mut act.notice);
    }
}

/// The level and text of a plugin's output line: hclog lines keep their own level.
fn plugin_line(pipe: Pipe, line: String) -> (crate::types::LogLevel, String) {
    match parse_hclog(&line) {
        Some(parsed) => parsed,
        None => (level_for_line(pipe, &line), line),
    }
}

impl Actor for PluginProcessActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let s = &self.settings;
        let mut spec = ProcessSpec::new(&s.binary, vec![], &s.dir);
        for (key, value) in plugin_env(&s.plugin_id) {
            spec.env.insert(key.into(), value);
        }
        // Not `OMNIVIEW_DEV`: with it the SDK writes a `.devinfo` of its own (in its idea of
        // the state directory) beside the one ovdev writes and removes; see docs/omniview.md.
        if s.vite_port != 0 {
            spec.env
                .insert("OMNIVIEW_VITE_PORT".into(), s.vite_port.to_string());
        }
        spec.env.insert("PLUGIN_MIN_PORT".into(), "10000".into());
        spec.env.insert("PLUGIN_MAX_PORT".into(), "25000".into());
        self.logs
            .info(format!("$ OMNIVIEW={} {}", s.plugin_id, spec.display()));
        match ChildRun::spawn(&self.settings.registry, &spec, 1, ctx.address()) {
            Ok(child) => {
                self.pid = child.pgid();
                self.notice.track(Some(&child));
                self.child = Some(child);
                self.phase = Phase::Handshaking;
                let timeout = self.settings.start_timeout;
                self.start_timer = Some(ctx.run_later(timeout, move |act, ctx| {
                    act.start_timer = None;
                    if matches!(act.phase, Phase::Handshaking) {
                        let tail = act.tail.text();
                        let msg = format!("the plugin printed no handshake line within {timeout:?}; stderr: {tail}");
                        act.end(ExitKind::Abnormal, msg, ctx);
                    }
                }));
            }
            Err(e) => {
                self.phase = Phase::Handshaking;
                self.end(ExitKind::Abnormal, e.to_string(), ctx);
            }
        }
    }
}

impl Handler<ChildLines> for PluginProcessActor {
    type Result = ();

    fn handle(&mut self, msg: ChildLines, ctx: &mut Self::Context) {
        // The tail only explains an exit before the handshake.
        if matches!(self.phase, Phase::Handshaking) {
            self.tail.push_batch(&msg.lines);
        }
        let mut batch = Vec::with_capacity(msg.lines.len());
        for (pipe, line) in msg.lines {
            if let (Phase::Handshaking, Pipe::Stdout) = (&self.phase, pipe) {
                // What the plugin printed before its handshake goes first.
                self.logs.log_batch(std::mem::take(&mut batch));
                self.on_handshake(&line, ctx);
                continue;
            }
            batch.push(plugin_line(pipe, line));
        }
        self.logs.log_batch(batch);
    }
}

impl Handler<ChildExited> for PluginProcessActor {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, ctx: &mut Self::Context) {
        let how = msg.how();
        self.exited = true;
        if matches!(self.phase, Phase::Stopping | Phase::Ended) {
            self.logs.info(format!("plugin {how}"));
            if let Some(waiter) = self.exit_waiter.take() {
                let _ = waiter.send(());
            }
            return;
        }
        let tail = self.tail.text();
        let kind = if msg.status.is_some_and(|s| s.success()) {
            ExitKind::Normal
        } else {
            ExitKind::Abnormal
        };
        let reason = match &self.phase {
            Phase::Handshaking if tail.contains(COOKIE_REFUSAL) => format!(
                "the plugin refused to start ({how}): it did not accept the magic cookie `OMNIVIEW={}` that ovdev set; its go-plugin HandshakeConfig must use MagicCookieKey \"OMNIVIEW\" and MagicCookieValue \"{}\". It printed: {tail}",
                self.settings.plugin_id, self.settings.plugin_id
            ),
            Phase::Handshaking => format!("the plugin {how} before its handshake: {tail}"),
            _ => format!("the plugin {how}"),
        };
        self.end(kind, reason, ctx);
    }
}

/// Stops the plugin gracefully: Shutdown RPC, up to 2 s for the exit, then SIGKILL to the
/// group. Answers when the group is gone.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct StopPluginProcess;

impl Handler<StopPluginProcess> for PluginProcessActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: StopPluginProcess, ctx: &mut Self::Context) -> Self::Result {
        if let Some(t) = self.start_timer.take() {
            ctx.cancel_future(t);
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Stopping);
        let child = self.child.take();
        self.notice.disarm();
        self.notice.track(None);
        self.remove_devinfo();
        let logs = self.logs.clone();
        Box::pin(
            async move {
                let Some(child) = child else { return };
                match phase {
                    Phase::Running { channel, .. } => {
                        // go-plugin's Shutdown stops the server before it answers, so the
                        // answer (an error, or nothing for a while) comes after the exit:
                        // watch for the exit from the moment the call is sent.
                        let call = grpc::shutdown(channel);
                        let gone = child.wait_then_kill(SHUTDOWN_WAIT);
                        tokio::pin!(call, gone);
                        let outcome = tokio::select! {
                            outcome = &mut gone => outcome,
                            answer = &mut call => {
                                if let Err(e) = answer {
                                    logs.warn(format!("the plugin's Shutdown call failed ({e}); it gets {SHUTDOWN_WAIT:?} before SIGKILL"));
                                }
                                gone.await
                            }
                        };
                        if outcome != crate::process::StopOutcome::Terminated {
                            logs.warn("the plugin did not exit after Shutdown; killed it");
                        }
                    }
                    Phase::Handshaking | Phase::Connecting => {
                        child.stop(SHUTDOWN_WAIT).await;
                    }
                    Phase::Ended | Phase::Stopping => {}
                }
            }
            .into_actor(self)
            .then(|(), act, _| {
                // Answer once the exit status is in the log (it may still be on its way), so
                // that it comes before the plugin's final state; 1 s at most.
                let exit_logged = if act.exited || act.pid == 0 {
                    None
                } else {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    act.exit_waiter = Some(tx);
                    Some(rx)
                };
                async move {
                    if let Some(rx) = exit_logged {
                        let _ = tokio::time::timeout(Duration::from_secs(1), rx).await;
                    }
                }
                .into_actor(act)
            })
            .map(|(), _, ctx| ctx.stop()),
        )
    }
}

#[cfg(feature = "test-hooks")]
super::child_guard::panics_for_tests!(PluginProcessActor);
