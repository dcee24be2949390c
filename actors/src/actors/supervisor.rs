//! `DevServerSupervisor`: the DevServerManager. Owns the plugin map; every public operation
//! is a message to it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::future::{BoxFuture, FutureExt, Shared};

use super::external_plugin::{Detach, ExternalChanged, ExternalGone, ExternalPluginActor};
use super::external_watcher::{live_devinfo, DevinfoProblem, DevinfoSeen, ExternalWatcherActor};
use super::go_watcher::GoWatcherSettings;
use super::log_buffer::LogBufferActor;
use super::plugin::{GetPluginLogs, GetState, PluginActor, PluginPlan, Rebuild, StopPlugin};
use super::plugin_process::{DevinfoSettings, PluginProcessSettings};
use super::port_allocator::{AllocatePort, PortAllocatorActor};
use super::vite::ViteSettings;
use crate::config::EngineConfig;
use crate::devinfo::ValidDevInfo;
use crate::error::DevServerError;
use crate::events::{DevServerEvent, EventBus};
use crate::host::PluginHost;
use crate::package_manager::{detect_package_manager, PackageManager};
use crate::plugin_id::validate_plugin_id;
use crate::plugin_lock::PluginLock;
use crate::process::find_on_path;
use crate::registry::{kill_leftovers, ProcessRegistry};
use crate::types::{DevProcessStatus, DevServerMode, DevServerState, LogEntry};
use crate::untrusted_file::read_untrusted_text;
use crate::yaml_limits::{check_yaml_nesting, MAX_MANIFEST_BYTES, MAX_YAML_NESTING};

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
    /// Turns for UIs to install and start (`concurrent_ui_starts`).
    ui_start_slots: Arc<tokio::sync::Semaphore>,
    plugins: HashMap<String, Addr<PluginActor>>,
    /// This engine's ownership of each plugin it manages (released when its stop is done).
    locks: HashMap<String, PluginLock>,
    /// Plugins being stopped: a start of the same plugin waits for this, so that two copies
    /// of its processes never run at once.
    stopping: HashMap<String, PendingStop>,
    /// Last log `seq` per plugin, kept across restarts.
    log_seqs: HashMap<String, Arc<AtomicU64>>,
    /// Plugins run outside ovdev, attached through their `.devinfo`.
    externals: HashMap<String, External>,
    /// Detached plugins: their `.devinfo` with this content is ignored until it changes.
    detached: HashMap<String, Vec<u8>>,
    next_external: u64,
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
        let ui_start_slots = Arc::new(tokio::sync::Semaphore::new(
            config.concurrent_ui_starts.max(1),
        ));
        Self {
            config,
            registry,
            host,
            bus,
            ports,
            ui_start_slots,
            locks: HashMap::new(),
            plugins: HashMap::new(),
            stopping: HashMap::new(),
            log_seqs: HashMap::new(),
            externals: HashMap::new(),
            detached: HashMap::new(),
            next_external: 0,
        }
    }

    fn vite_settings(&self, id: &str, ui_dir: PathBuf) -> Result<ViteSettings, DevServerError> {
        let cfg = &self.config;
        let named_by_path = cfg
            .package_manager_path
            .as_deref()
            .and_then(PackageManager::from_program);
        let package_manager = cfg.package_manager.or(named_by_path).unwrap_or_else(|| {
            detect_package_manager(
                &ui_dir,
                cfg.package_manager_path.is_some() || find_on_path("pnpm").is_some(),
            )
        });
        let program = match &cfg.package_manager_path {
            Some(p) => p.clone(),
            None => find_on_path(package_manager.program()).ok_or_else(|| {
                DevServerError::ToolNotFound {
                    tool: package_manager.program().into(),
                    fix: "its path with `--package-manager-path` (builder: `package_manager_path`)"
                        .into(),
                }
            })?,
        };
        let mut path_prefix = vec![];
        if let Some(dir) = cfg.node.as_deref().and_then(Path::parent) {
            path_prefix.push(dir.to_path_buf());
        }
        if let Some(dir) = cfg.package_manager_path.as_deref().and_then(Path::parent) {
            path_prefix.push(dir.to_path_buf());
        }
        if package_manager != PackageManager::Bun
            && cfg.node.is_none()
            && find_on_path("node").is_none()
        {
            return Err(DevServerError::ToolNotFound {
                tool: "node".into(),
                fix: "its path with `--node` (builder: `node`)".into(),
            });
        }
        Ok(ViteSettings {
            plugin_id: id.to_string(),
            ui_dir,
            package_manager,
            program,
            path_prefix,
            ready_timeout: cfg.vite_ready_timeout,
            probe_interval: cfg.vite_probe_interval,
            port_retries: cfg.vite_port_retries,
            stop_grace: cfg.stop_grace,
            registry: self.registry.clone(),
            start_slots: self.ui_start_slots.clone(),
        })
    }

    fn go_settings(&self, id: &str, dev_path: &Path) -> Result<GoWatcherSettings, DevServerError> {
        let go = self
            .config
            .go
            .clone()
            .ok_or_else(|| DevServerError::ToolNotFound {
                tool: "go".into(),
                fix: "its path with `--go` (builder: `go`)".into(),
            })?;
        Ok(GoWatcherSettings {
            plugin_id: id.to_string(),
            dev_path: dev_path.to_path_buf(),
            go,
            installed_binary: self.config.installed_binary(id),
            debounce: self.config.debounce,
            max_wait: self.config.debounce_max_wait,
            stop_grace: self.config.stop_grace,
            build_timeout: self.config.build_timeout,
            registry: self.registry.clone(),
        })
    }

    fn process_settings(&self, id: &str, metadata: &serde_json::Value) -> PluginProcessSettings {
        let cfg = &self.config;
        let dir = crate::config::plugin_dir(&cfg.state_dir, id);
        let devinfo = cfg.write_devinfo.then(|| DevinfoSettings {
            path: crate::devinfo::devinfo_path(&cfg.state_dir, id),
            version: metadata
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            vite_port: 0,
        });
        PluginProcessSettings {
            plugin_id: id.to_string(),
            binary: cfg.installed_binary(id),
            dir,
            start_timeout: cfg.plugin_start_timeout,
            health_interval: cfg.health_interval,
            health_failures: cfg.health_failures,
            devinfo,
            registry: self.registry.clone(),
        }
    }

    /// Checks the plugin directory and the tools; allocates nothing.
    fn plan(
        &self,
        id: &str,
        dev_path: &Path,
    ) -> Result<(Option<ViteSettings>, Option<GoWatcherSettings>), DevServerError> {
        if !dev_path.is_dir() {
            return Err(DevServerError::DevPathMissing {
                id: id.to_string(),
                path: dev_path.to_path_buf(),
            });
        }
        let ui = dev_path.join("ui");
        let pkg = dev_path.join("pkg");
        let (has_ui, has_pkg) = (ui.join("package.json").is_file(), pkg.is_dir());
        if !has_ui && !has_pkg {
            return Err(DevServerError::NothingToRun(dev_path.to_path_buf()));
        }
        let has_ui = has_ui && self.config.run_vite;
        let vite = has_ui.then(|| self.vite_settings(id, ui)).transpose()?;
        let go = has_pkg
            .then(|| self.go_settings(id, dev_path))
            .transpose()?;
        Ok((vite, go))
    }
}

impl DevServerSupervisor {
    /// Attaches to the external plugin `info` (replacing an earlier attachment) and returns
    /// its first state.
    fn attach(
        &mut self,
        id: &str,
        info: ValidDevInfo,
        content: Vec<u8>,
        vite_port: Option<u16>,
        ctx: &mut Context<Self>,
    ) -> DevServerState {
        self.drop_external(id);
        self.next_external += 1;
        let generation = self.next_external;
        let mut info = info;
        if let Some(port) = vite_port.filter(|p| *p != 0) {
            info.vite_port = port;
        }
        let mut state = DevServerState::idle(id);
        state.mode = DevServerMode::External;
        state.vite_port = info.vite_port;
        state.vite_status = if info.vite_port == 0 {
            DevProcessStatus::Idle
        } else {
            DevProcessStatus::Starting
        };
        tracing::info!(plugin = id, pid = info.pid, addr = %info.addr, "attaching to an external plugin");
        let file = crate::devinfo::devinfo_path(&self.config.state_dir, id);
        let actor = ExternalPluginActor::new(
            id.to_string(),
            generation,
            info,
            file,
            content.clone(),
            self.config.external_health_interval,
            ctx.address().recipient(),
            ctx.address().recipient(),
        )
        .start();
        self.bus.publish(DevServerEvent::Status(state.clone()));
        self.externals.insert(
            id.to_string(),
            External {
                addr: actor,
                generation,
                content,
                state: state.clone(),
            },
        );
        state
    }

    /// Ends an attachment (the process is left alone) and publishes the final `idle` state.
    fn drop_external(&mut self, id: &str) -> Option<External> {
        let ext = self.externals.remove(id)?;
        ext.addr.do_send(Detach);
        self.bus
            .publish(DevServerEvent::Status(DevServerState::idle(id)));
        Some(ext)
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
            match (become_subreaper(), sigchld) {
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
        reap_orphans(&self.registry);
    }

    // The signal stream never ends while the engine runs; the supervisor outlives it anyway.
    fn finished(&mut self, _: &mut Self::Context) {}
}

#[cfg(target_os = "linux")]
fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

#[cfg(not(target_os = "linux"))]
fn become_subreaper() -> nix::Result<()> {
    Err(nix::errno::Errno::ENOSYS)
}

/// Reaps exited orphans that were re-parented to us, never our own children (tokio waits for
/// those, and must get their exit status).
fn reap_orphans(registry: &ProcessRegistry) {
    let me = std::process::id() as i32;
    let Some(table) = crate::process::process_table() else {
        return;
    };
    for p in table.iter().filter(|p| p.ppid == me && p.zombie) {
        if !registry.spawned_by_us(p.pid) && registry.watchdog_pid() != Some(p.pid) {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(p.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

/// Stops every process group below this process except our own and the watchdog's: the
/// orphans a subreaper collected.
async fn stop_strays(registry: &ProcessRegistry, grace: Duration) {
    let me = std::process::id() as i32;
    let Some(table) = crate::process::process_table() else {
        return;
    };
    let own = nix::unistd::getpgrp().as_raw();
    let watchdog = registry.watchdog_pid();
    let strays: Vec<i32> = crate::process::descendant_groups(me, &table)
        .into_iter()
        .filter(|g| *g != own && *g != me && Some(*g) != watchdog)
        .collect();
    for g in strays {
        tracing::warn!(
            pgid = g,
            "stopping a process group that a child left behind"
        );
        registry.stop(g, grace).await;
    }
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
        let host = self.host.clone();
        if self.externals.contains_key(&msg.plugin_id) {
            let err = DevServerError::AttachedExternally(msg.plugin_id);
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(err))));
        }
        let running = self.plugins.get(&msg.plugin_id).cloned();
        let pending_stop = self.stopping.get(&msg.plugin_id).cloned();
        let id = msg.plugin_id.clone();
        let find = async move {
            if let Some(stop) = pending_stop {
                stop.await;
            }
            if let Some(addr) = running {
                if let Ok(state) = addr.send(GetState).await {
                    return Ok(Found::Running(state));
                }
            }
            validate_plugin_id(&id)?;
            if let Some(path) = msg.dev_path {
                return Ok(Found::DevPath(path));
            }
            let info = match tokio::time::timeout(HOST_LOOKUP_TIMEOUT, host.get_plugin(&id)).await {
                Ok(Ok(info)) => info,
                Ok(Err(e)) => {
                    return Err(DevServerError::UnknownPlugin {
                        id,
                        reason: e.to_string(),
                    })
                }
                Err(_) => return Err(DevServerError::Host(format!("looking up `{id}` timed out"))),
            };
            if !info.dev_mode {
                return Err(DevServerError::NotInDevMode(id));
            }
            info.dev_path
                .map(Found::DevPath)
                .ok_or(DevServerError::NoDevPath(id))
        };
        let id = msg.plugin_id;
        AtomicResponse::new(Box::pin(
            find.into_actor(self)
                .then(move |found, act, _| {
                    let ports = act.ports.clone();
                    let cfg = act.config.clone();
                    let (registry, stop_grace) = (act.registry.clone(), cfg.stop_grace);
                    let (vite_policy, go_watcher_policy, process_policy) =
                        (cfg.vite_policy, cfg.go_watcher_policy, cfg.plugin_policy);
                    let planned = found.and_then(|found| match found {
                        Found::Running(state) => Ok(Err(state)),
                        Found::DevPath(path) => {
                            // Symlinks and `..` resolved once, so paths in events are stable.
                            let dev_path = std::fs::canonicalize(&path).unwrap_or(path);
                            let (vite, go) = act.plan(&id, &dev_path)?;
                            // Kept from a stop of this plugin that is just finishing, or taken.
                            let lock = match act.locks.remove(&id) {
                                Some(lock) => lock,
                                None => PluginLock::acquire(&cfg.state_dir, &id)?,
                            };
                            let metadata = read_metadata(&id, &dev_path);
                            let process = (cfg.launch_plugins && go.is_some())
                                .then(|| act.process_settings(&id, &metadata));
                            Ok(Ok((dev_path, vite, go, process, metadata, lock)))
                        }
                    });
                    async move {
                        let (dev_path, vite, go, process, metadata, lock) = match planned? {
                            Err(running) => return Ok(Err(running)),
                            Ok(p) => p,
                        };
                        let vite = match vite {
                            Some(settings) => {
                                let request = AllocatePort {
                                    plugin_id: id.clone(),
                                    avoid: vec![],
                                };
                                Some((settings, ports.send(request).await??))
                            }
                            None => None,
                        };
                        Ok(Ok((
                            lock,
                            PluginPlan {
                                plugin_id: id,
                                dev_path,
                                vite,
                                go,
                                process,
                                metadata,
                                vite_policy,
                                go_watcher_policy,
                                process_policy,
                                registry,
                                stop_grace,
                            },
                        )))
                    }
                    .into_actor(act)
                })
                .map(
                    |planned: Result<
                        Result<(PluginLock, PluginPlan), DevServerState>,
                        DevServerError,
                    >,
                     act,
                     _| {
                        let (lock, plan) = match planned? {
                            Err(running) => return Ok(running),
                            Ok(planned) => planned,
                        };
                        act.locks.insert(plan.plugin_id.clone(), lock);
                        Ok(act.spawn_plugin(plan))
                    },
                ),
        ))
    }
}

/// `<dev_path>/plugin.yaml` as JSON (the reload events' payload); `{"id": id}` without one.
fn read_metadata(id: &str, dev_path: &Path) -> serde_json::Value {
    read_untrusted_text(&dev_path.join("plugin.yaml"), MAX_MANIFEST_BYTES)
        .ok()
        .filter(|text| check_yaml_nesting(text, MAX_YAML_NESTING).is_ok())
        .and_then(|text| serde_norway::from_str::<serde_json::Value>(&text).ok())
        .filter(|v| v.is_object())
        .unwrap_or_else(|| serde_json::json!({ "id": id }))
}

enum Found {
    Running(DevServerState),
    DevPath(PathBuf),
}

impl DevServerSupervisor {
    fn spawn_plugin(&mut self, plan: PluginPlan) -> DevServerState {
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
        self.plugins.insert(id, actor.start());
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
        let stop = match self.plugins.remove(&id) {
            Some(addr) => {
                let stop = async move {
                    let _ = addr.send(StopPlugin).await;
                }
                .boxed()
                .shared();
                self.stopping.insert(id.clone(), stop.clone());
                stop
            }
            // Already being stopped: answer when that stop is done.
            None => match self.stopping.get(&id) {
                Some(stop) => stop.clone(),
                None => return Box::pin(actix::fut::ready(Err(DevServerError::NotRunning(id)))),
            },
        };
        let mine = stop.clone();
        Box::pin(stop.into_actor(self).map(move |(), act, _| {
            if act.stopping.get(&id).is_some_and(|s| s.ptr_eq(&mine)) {
                act.stopping.remove(&id);
            }
            // Unless it was started again meanwhile, the plugin is free for others.
            if !act.plugins.contains_key(&id) {
                act.locks.remove(&id);
            }
            Ok(())
        }))
    }
}

/// Rebuilds a plugin's Go side now.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), DevServerError>")]
pub struct RebuildPlugin {
    pub plugin_id: String,
}

impl Handler<RebuildPlugin> for DevServerSupervisor {
    type Result = ResponseFuture<Result<(), DevServerError>>;

    fn handle(&mut self, msg: RebuildPlugin, _: &mut Self::Context) -> Self::Result {
        let addr = self.plugins.get(&msg.plugin_id).cloned();
        Box::pin(async move {
            addr.ok_or(DevServerError::NotRunning(msg.plugin_id))?
                .send(Rebuild)
                .await?
        })
    }
}

/// A plugin's state; the idle state when no dev server runs for it.
#[derive(Message, Debug)]
#[rtype(result = "DevServerState")]
pub struct GetDevServerState {
    pub plugin_id: String,
}

impl Handler<GetDevServerState> for DevServerSupervisor {
    type Result = ResponseFuture<DevServerState>;

    fn handle(&mut self, msg: GetDevServerState, _: &mut Self::Context) -> Self::Result {
        if let Some(ext) = self.externals.get(&msg.plugin_id) {
            let state = ext.state.clone();
            return Box::pin(async move { state });
        }
        let addr = self.plugins.get(&msg.plugin_id).cloned();
        Box::pin(async move {
            match addr {
                Some(a) => a
                    .send(GetState)
                    .await
                    .unwrap_or_else(|_| DevServerState::idle(&msg.plugin_id)),
                None => DevServerState::idle(&msg.plugin_id),
            }
        })
    }
}

/// The states of every running dev server, sorted by plugin id.
#[derive(Message, Debug)]
#[rtype(result = "Vec<DevServerState>")]
pub struct ListDevServerStates;

impl Handler<ListDevServerStates> for DevServerSupervisor {
    type Result = ResponseFuture<Vec<DevServerState>>;

    fn handle(&mut self, _: ListDevServerStates, _: &mut Self::Context) -> Self::Result {
        let addrs: Vec<_> = self.plugins.values().cloned().collect();
        let external: Vec<_> = self.externals.values().map(|e| e.state.clone()).collect();
        Box::pin(async move {
            let mut states = external;
            for a in addrs {
                if let Ok(s) = a.send(GetState).await {
                    states.push(s);
                }
            }
            states.sort_by(|a, b| a.plugin_id.cmp(&b.plugin_id));
            states
        })
    }
}

/// A plugin's buffered logs (`count <= 0`: all; empty when no dev server runs).
#[derive(Message, Debug)]
#[rtype(result = "Vec<LogEntry>")]
pub struct GetDevServerLogs {
    pub plugin_id: String,
    pub count: i64,
}

impl Handler<GetDevServerLogs> for DevServerSupervisor {
    type Result = ResponseFuture<Vec<LogEntry>>;

    fn handle(&mut self, msg: GetDevServerLogs, _: &mut Self::Context) -> Self::Result {
        let addr = self.plugins.get(&msg.plugin_id).cloned();
        Box::pin(async move {
            match addr {
                Some(a) => a.send(GetPluginLogs(msg.count)).await.unwrap_or_default(),
                None => Vec::new(),
            }
        })
    }
}

/// True when ovdev manages a dev server for the plugin.
#[derive(Message, Debug)]
#[rtype(result = "bool")]
pub struct IsManaged {
    pub plugin_id: String,
}

impl Handler<IsManaged> for DevServerSupervisor {
    type Result = bool;

    fn handle(&mut self, msg: IsManaged, _: &mut Self::Context) -> bool {
        self.plugins.contains_key(&msg.plugin_id) || self.externals.contains_key(&msg.plugin_id)
    }
}

/// Stops every dev server; answers when every child process group is gone.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for DevServerSupervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _: &mut Self::Context) -> Self::Result {
        let external: Vec<String> = self.externals.keys().cloned().collect();
        for id in external {
            self.drop_external(&id);
        }
        let addrs: Vec<_> = self.plugins.drain().map(|(_, a)| a).collect();
        let pending: Vec<_> = self.stopping.drain().map(|(_, s)| s).collect();
        let registry = self.registry.clone();
        let (subreaper, grace) = (self.config.child_subreaper, self.config.stop_grace);
        Box::pin(async move {
            futures::future::join_all(addrs.iter().map(|a| a.send(StopPlugin))).await;
            futures::future::join_all(pending).await;
            if subreaper {
                stop_strays(&registry, grace).await;
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
        let addr = self.plugins.get(&msg.plugin_id).cloned();
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

impl Handler<DevinfoSeen> for DevServerSupervisor {
    type Result = ();

    fn handle(&mut self, msg: DevinfoSeen, ctx: &mut Self::Context) {
        let id = msg.plugin_id;
        // Files of plugins ovdev manages are its own (the built-in host writes them).
        if self.plugins.contains_key(&id) || self.stopping.contains_key(&id) {
            return;
        }
        match msg.found {
            None => {
                self.detached.remove(&id);
                self.drop_external(&id);
            }
            Some((info, content)) => {
                if self.detached.get(&id) == Some(&content) {
                    return;
                }
                self.detached.remove(&id);
                if self
                    .externals
                    .get(&id)
                    .is_some_and(|e| e.content == content)
                {
                    return;
                }
                self.attach(&id, info, content, None, ctx);
            }
        }
    }
}

impl Handler<ExternalChanged> for DevServerSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ExternalChanged, _: &mut Self::Context) {
        let Some(ext) = self
            .externals
            .get_mut(&msg.plugin_id)
            .filter(|e| e.generation == msg.generation)
        else {
            return;
        };
        let before = ext.state.clone();
        let s = &mut ext.state;
        s.grpc_connected = msg.connected;
        if s.vite_port != 0 {
            s.vite_status = if msg.vite_ready {
                DevProcessStatus::Ready
            } else {
                DevProcessStatus::Starting
            };
        }
        s.vite_url = if s.vite_status == DevProcessStatus::Ready {
            DevServerState::vite_url_for(s.vite_port)
        } else {
            String::new()
        };
        match msg.error {
            Some(e) => s.last_error = e,
            None if msg.connected => s.last_error.clear(),
            None => {}
        }
        if ext.state != before {
            self.bus.publish(DevServerEvent::Status(ext.state.clone()));
        }
    }
}

impl Handler<ExternalGone> for DevServerSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ExternalGone, _: &mut Self::Context) {
        if self
            .externals
            .get(&msg.plugin_id)
            .is_some_and(|e| e.generation == msg.generation)
        {
            self.drop_external(&msg.plugin_id);
        }
    }
}

/// Attaches now to the plugin's `.devinfo` (`vite_port`, when non-zero, overrides the file's).
#[derive(Message, Debug)]
#[rtype(result = "Result<DevServerState, DevServerError>")]
pub struct AttachExternal {
    pub plugin_id: String,
    pub vite_port: u16,
}

impl Handler<AttachExternal> for DevServerSupervisor {
    type Result = Result<DevServerState, DevServerError>;

    fn handle(&mut self, msg: AttachExternal, ctx: &mut Self::Context) -> Self::Result {
        let id = msg.plugin_id;
        validate_plugin_id(&id)?;
        if self.plugins.contains_key(&id) || self.stopping.contains_key(&id) {
            return Err(DevServerError::AlreadyManaged(id));
        }
        let plugins_dir = self.config.state_dir.join("plugins");
        let (info, content) = live_devinfo(&plugins_dir, &id).map_err(|p| DevServerError::ExternalUnavailable {
            id: id.clone(),
            reason: match p {
                DevinfoProblem::Missing => format!(
                    "no {} (start the plugin with `ovdev serve-external` or the plugin SDK's dev mode)",
                    crate::devinfo::devinfo_path(&self.config.state_dir, &id).display()
                ),
                DevinfoProblem::Rejected(why) => why,
            },
        })?;
        self.detached.remove(&id);
        Ok(self.attach(&id, info, content, Some(msg.vite_port), ctx))
    }
}

/// Drops the attachment without touching the process; its `.devinfo` is ignored until it
/// changes.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), DevServerError>")]
pub struct DetachExternal {
    pub plugin_id: String,
}

impl Handler<DetachExternal> for DevServerSupervisor {
    type Result = Result<(), DevServerError>;

    fn handle(&mut self, msg: DetachExternal, _: &mut Self::Context) -> Self::Result {
        match self.drop_external(&msg.plugin_id) {
            Some(ext) => {
                self.detached.insert(msg.plugin_id, ext.content);
                Ok(())
            }
            None => Err(DevServerError::NotAttached(msg.plugin_id)),
        }
    }
}
