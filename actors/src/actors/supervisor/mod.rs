//! `DevServerSupervisor`: the DevServerManager. Owns the plugin map; every public operation
//! is a message to it. Here: the map, starts, stops and shutdown; the queries in `queries`,
//! the attachments to plugins run outside ovdev in `external`.

mod external;
mod queries;

pub use external::{AttachExternal, DetachExternal, GetExternalPluginInfo};
pub use queries::{
    GetDevServerBuilds, GetDevServerLogs, GetDevServerState, IsManaged, ListDevServerStates,
    RebuildPlugin,
};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::future::{BoxFuture, FutureExt, Shared};

use super::external_plugin::ExternalPluginActor;
use super::external_watcher::ExternalWatcherActor;
use super::log_buffer::LogBufferActor;
use super::plugin::{GetState, PluginActor, PluginPlan, StopPlugin};
use super::plugin_plan::Planner;
use super::port_allocator::PortAllocatorActor;
use crate::config::EngineConfig;
use crate::error::DevServerError;
use crate::events::EventBus;
use crate::host::PluginHost;
use crate::plugin_id::validate_plugin_id;
use crate::plugin_lock::PluginLock;
use crate::registry::{kill_leftovers, ProcessRegistry};
use crate::subreaper;
use crate::types::DevServerState;

/// A stop in progress, awaited by whoever needs it finished.
type PendingStop = Shared<BoxFuture<'static, ()>>;

/// Longest wait for the host's answer to `get_plugin`.
const HOST_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns every plugin's dev server; see the module doc.
pub struct DevServerSupervisor {
    config: Arc<EngineConfig>,
    registry: Arc<ProcessRegistry>,
    host: Arc<dyn PluginHost>,
    bus: EventBus,
    ports: Addr<PortAllocatorActor>,
    planner: Planner,
    /// What the engine has for each plugin id: one entry, so a plugin is never managed and
    /// attached at once.
    plugins: HashMap<String, Entry>,
    /// Last log `seq` per plugin, kept across restarts.
    log_seqs: HashMap<String, Arc<AtomicU64>>,
    /// Detached plugins: their `.devinfo` with this content is ignored until it changes.
    detached: HashMap<String, Vec<u8>>,
    next_external: u64,
}

/// One plugin's entry in the supervisor.
enum Entry {
    /// A dev server ovdev runs, and this engine's ownership of the plugin.
    Managed {
        addr: Addr<PluginActor>,
        lock: PluginLock,
    },
    /// A dev server being stopped: a start of the same plugin waits for this, so that two
    /// copies of its processes never run at once. The ownership goes with the entry when the
    /// stop is done, unless a start took it over.
    Stopping {
        stop: PendingStop,
        lock: Option<PluginLock>,
    },
    /// A plugin run outside ovdev, attached through its `.devinfo`.
    External(External),
}

/// One attachment to an external plugin.
struct External {
    addr: Addr<ExternalPluginActor>,
    generation: u64,
    content: Vec<u8>,
    state: DevServerState,
}

impl DevServerSupervisor {
    /// A supervisor with its port allocator; call `.start()` on an actix arbiter.
    ///
    /// Blocking (it first kills what engines that died left behind, then starts the watchdog):
    /// call it when the engine starts, not from an actor's handler.
    pub fn new(config: Arc<EngineConfig>, host: Arc<dyn PluginHost>, bus: EventBus) -> Self {
        for leftover in kill_leftovers(&config.state_dir) {
            tracing::warn!("killed a process left behind by an earlier run: {leftover}");
        }
        let registry = Arc::new(ProcessRegistry::open(&config.state_dir, config.watchdog));
        let ports = PortAllocatorActor::new(config.port_range, config.port_probe.clone()).start();
        let planner = Planner::new(config.clone(), registry.clone(), ports.clone());
        Self {
            config,
            registry,
            host,
            bus,
            ports,
            planner,
            plugins: HashMap::new(),
            log_seqs: HashMap::new(),
            detached: HashMap::new(),
            next_external: 0,
        }
    }

    /// The dev server ovdev runs for `id`, if any.
    fn managed(&self, id: &str) -> Option<Addr<PluginActor>> {
        match self.plugins.get(id) {
            Some(Entry::Managed { addr, .. }) => Some(addr.clone()),
            _ => None,
        }
    }

    /// The attachment to `id`, if it is an external plugin.
    fn external(&self, id: &str) -> Option<&External> {
        match self.plugins.get(id) {
            Some(Entry::External(ext)) => Some(ext),
            _ => None,
        }
    }

    fn externals(&self) -> impl Iterator<Item = (&String, &External)> {
        self.plugins.iter().filter_map(|(id, e)| match e {
            Entry::External(ext) => Some((id, ext)),
            _ => None,
        })
    }

    /// Whether ovdev runs or is stopping a dev server for `id` (its `.devinfo` is its own).
    fn runs_or_stops(&self, id: &str) -> bool {
        matches!(
            self.plugins.get(id),
            Some(Entry::Managed { .. } | Entry::Stopping { .. })
        )
    }
}

impl Actor for DevServerSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.config.watch_external {
            let dir = self.config.state_dir.join("plugins");
            ExternalWatcherActor::new(dir, ctx.address().recipient()).start();
        }
        if self.config.child_subreaper {
            // Orphans are reaped when a child dies (SIGCHLD), not on a timer: an idle
            // engine wakes for nothing.
            let sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child());
            match (subreaper::become_subreaper(), sigchld) {
                (Ok(()), Ok(signal)) => {
                    let deaths = futures::stream::unfold(signal, |mut s| async move {
                        s.recv().await.map(|()| (ChildDied, s))
                    });
                    ctx.add_stream(deaths);
                }
                (Err(e), _) => tracing::warn!(error = %e, "cannot become a child subreaper"),
                (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot watch for SIGCHLD; orphans are not reaped")
                }
            }
        }
    }
}

/// A child of this process died (SIGCHLD; several deaths may share one).
struct ChildDied;

impl StreamHandler<ChildDied> for DevServerSupervisor {
    fn handle(&mut self, _: ChildDied, _: &mut Self::Context) {
        subreaper::reap_orphans(&self.registry);
    }

    // The signal stream never ends while the engine runs; the supervisor outlives it anyway.
    fn finished(&mut self, _: &mut Self::Context) {}
}

/// Starts the dev server of a plugin: from the host's dev path, or from `dev_path` when given.
/// Idempotent: a running dev server's state is returned as it is.
#[derive(Message, Debug)]
#[rtype(result = "Result<DevServerState, DevServerError>")]
pub struct StartDevServer {
    pub plugin_id: String,
    pub dev_path: Option<PathBuf>,
}

impl Handler<StartDevServer> for DevServerSupervisor {
    // Atomic: two starts of one plugin must not both pass the "already running" check. The
    // wait is bounded (host lookup with a timeout, a port allocation); children run detached.
    type Result = AtomicResponse<Self, Result<DevServerState, DevServerError>>;

    fn handle(&mut self, msg: StartDevServer, _: &mut Self::Context) -> Self::Result {
        let id = msg.plugin_id;
        let (mut running, mut pending_stop, mut kept_lock) = (None, None, None);
        match self.plugins.get_mut(&id) {
            Some(Entry::External(_)) => {
                let err = DevServerError::AttachedExternally(id);
                return AtomicResponse::new(Box::pin(actix::fut::ready(Err(err))));
            }
            Some(Entry::Managed { addr, .. }) if addr.connected() => running = Some(addr.clone()),
            Some(Entry::Managed { .. }) => {
                // Its actor is gone: start again, with the ownership it kept.
                if let Some(Entry::Managed { lock, .. }) = self.plugins.remove(&id) {
                    kept_lock = Some(lock);
                }
            }
            // Kept from the stop that is finishing: the plugin is never unowned meanwhile.
            Some(Entry::Stopping { stop, lock }) => {
                pending_stop = Some(stop.clone());
                kept_lock = lock.take();
            }
            None => {}
        }
        let host = self.host.clone();
        let planner = self.planner.clone();
        let state_dir = self.config.state_dir.clone();
        let start = async move {
            if let Some(stop) = pending_stop {
                stop.await;
            }
            if let Some(addr) = running {
                if let Ok(state) = addr.send(GetState).await {
                    return Ok(Start::Running(state));
                }
            }
            validate_plugin_id(&id)?;
            let dev_path = match msg.dev_path {
                Some(path) => path,
                None => dev_path_from_host(host.as_ref(), &id).await?,
            };
            let plan = planner.prepare(&id, dev_path)?;
            let lock = match kept_lock {
                Some(lock) => lock,
                None => PluginLock::acquire(&state_dir, &id)?,
            };
            let plan = planner.with_port(plan).await?;
            Ok(Start::New(Box::new(plan), lock))
        };
        AtomicResponse::new(Box::pin(start.into_actor(self).map(
            |start: Result<Start, DevServerError>, act, _| match start? {
                Start::Running(state) => Ok(state),
                Start::New(plan, lock) => Ok(act.spawn_plugin(*plan, lock)),
            },
        )))
    }
}

/// What a start found or planned.
enum Start {
    /// The dev server runs already: its state.
    Running(DevServerState),
    /// A dev server to spawn, and the ownership of its plugin.
    New(Box<PluginPlan>, PluginLock),
}

/// The plugin's directory as the host knows it (10 s limit); only plugins in dev mode have one.
async fn dev_path_from_host(host: &dyn PluginHost, id: &str) -> Result<PathBuf, DevServerError> {
    let info = match tokio::time::timeout(HOST_LOOKUP_TIMEOUT, host.get_plugin(id)).await {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => {
            return Err(DevServerError::UnknownPlugin {
                id: id.to_string(),
                reason: e.to_string(),
            })
        }
        Err(_) => return Err(DevServerError::Host(format!("looking up `{id}` timed out"))),
    };
    if !info.dev_mode {
        return Err(DevServerError::NotInDevMode(id.to_string()));
    }
    info.dev_path
        .ok_or_else(|| DevServerError::NoDevPath(id.to_string()))
}

impl DevServerSupervisor {
    /// Turns the managed entry of `id` into a stopping one; the stop to wait for.
    fn begin_stop(&mut self, id: &str) -> Option<PendingStop> {
        let Some(Entry::Managed { addr, lock }) = self.plugins.remove(id) else {
            return None;
        };
        let stop = async move {
            let _ = addr.send(StopPlugin).await;
        }
        .boxed()
        .shared();
        let entry = Entry::Stopping {
            stop: stop.clone(),
            lock: Some(lock),
        };
        self.plugins.insert(id.to_string(), entry);
        Some(stop)
    }

    fn spawn_plugin(&mut self, plan: PluginPlan, lock: PluginLock) -> DevServerState {
        let id = plan.plugin_id.clone();
        let cfg = &self.config;
        let seq = self.log_seqs.entry(id.clone()).or_default().clone();
        let logs = LogBufferActor::new(
            &id,
            seq,
            self.bus.clone(),
            cfg.log_capacity,
            cfg.log_byte_cap,
            cfg.log_flush_interval,
            cfg.log_batch_max,
        )
        .start();
        let actor = PluginActor::new(plan, self.host.clone(), self.ports.clone(), logs);
        let state = actor.initial_state();
        let addr = actor.start();
        self.plugins.insert(id, Entry::Managed { addr, lock });
        state
    }
}

/// Stops a plugin's dev server and answers when its processes are gone.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), DevServerError>")]
pub struct StopDevServer {
    pub plugin_id: String,
}

impl Handler<StopDevServer> for DevServerSupervisor {
    type Result = ResponseActFuture<Self, Result<(), DevServerError>>;

    fn handle(&mut self, msg: StopDevServer, _: &mut Self::Context) -> Self::Result {
        let id = msg.plugin_id;
        let stop = match self.plugins.get(&id) {
            // Already being stopped: answer when that stop is done.
            Some(Entry::Stopping { stop, .. }) => Some(stop.clone()),
            Some(Entry::Managed { .. }) => self.begin_stop(&id),
            _ => None,
        };
        let Some(stop) = stop else {
            return Box::pin(actix::fut::ready(Err(DevServerError::NotRunning(id))));
        };
        let mine = stop.clone();
        Box::pin(stop.into_actor(self).map(move |(), act, _| {
            // Done: the entry (and the plugin's ownership) goes, unless a start took over.
            if matches!(act.plugins.get(&id), Some(Entry::Stopping { stop, .. }) if stop.ptr_eq(&mine))
            {
                act.plugins.remove(&id);
            }
            Ok(())
        }))
    }
}

/// Stops every dev server; answers when every child process group is gone.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for DevServerSupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        let external: Vec<String> = self.externals().map(|(id, _)| id.clone()).collect();
        for id in external {
            self.drop_external(&id);
        }
        // The entries (and with them the plugins' ownership) go once every stop is done.
        let entries: Vec<Entry> = self.plugins.drain().map(|(_, e)| e).collect();
        let (mut addrs, mut pending) = (vec![], vec![]);
        for entry in &entries {
            match entry {
                Entry::Managed { addr, .. } => addrs.push(addr.clone()),
                Entry::Stopping { stop, .. } => pending.push(stop.clone()),
                Entry::External(_) => {}
            }
        }
        let registry = self.registry.clone();
        let (subreaper, grace) = (self.config.child_subreaper, self.config.stop_grace);
        Box::pin(async move {
            futures::future::join_all(addrs.iter().map(|a| a.send(StopPlugin))).await;
            futures::future::join_all(pending).await;
            drop(entries);
            if subreaper {
                subreaper::stop_strays(&registry, grace).await;
            }
            registry.close();
        })
    }
}

/// Makes a child of a plugin panic (supervision tests); false if there is no such child.
#[cfg(feature = "test-hooks")]
#[derive(Message, Debug)]
#[rtype(result = "bool")]
pub struct PanicPluginChild {
    pub plugin_id: String,
    pub kind: super::child_guard::ChildKind,
}

#[cfg(feature = "test-hooks")]
impl Handler<PanicPluginChild> for DevServerSupervisor {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, msg: PanicPluginChild, _: &mut Self::Context) -> Self::Result {
        let addr = self.managed(&msg.plugin_id);
        Box::pin(async move {
            match addr {
                Some(a) => a
                    .send(super::plugin::PanicChild(msg.kind))
                    .await
                    .unwrap_or(false),
                None => false,
            }
        })
    }
}
