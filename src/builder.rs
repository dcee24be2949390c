//! [`DevServerBuilder`]: resolves settings (builder first, then the environment) and starts
//! the engine on its own actix System thread, or inside the current System.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use ovdev_actors::actors::DevServerSupervisor;
use ovdev_actors::config::{EngineConfig, PortProbe};
use ovdev_actors::events::EventBus;
use ovdev_actors::host::PluginHost;
use ovdev_actors::package_manager::PackageManager;
use ovdev_actors::process::{find_on_path, is_executable};
use ovdev_actors::restart::RestartPolicy;

use crate::api::{ApiOptions, ApiServer, ApiStartError};
use crate::handle::DevServerHandle;

/// Environment variable that overrides the default state directory.
pub const STATE_DIR_ENV: &str = "OMNIVIEW_STATE_DIR";

/// Why the engine could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    #[error("no state directory: set {STATE_DIR_ENV} or give one (builder option `state_dir`)")]
    NoStateDir,
    #[error("the state directory `{path}` (from {from}) is relative; give an absolute path (or one starting with `~/`): the IDE reads the same directory from wherever it runs")]
    RelativeStateDir { path: PathBuf, from: &'static str },
    #[error("{what} `{path}` does not exist or is not executable; fix the path or leave it unset to use PATH")]
    BadToolPath { what: &'static str, path: PathBuf },
    #[error("{what} `{path}` is not an executable file (a directory, or a file without execute permission); make it executable or point at the tool itself")]
    ToolNotExecutable { what: &'static str, path: PathBuf },
    #[error("cannot start the engine thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error("the engine thread exited during start-up")]
    EngineDied,
    #[error(transparent)]
    Api(#[from] ApiStartError),
}

/// Configures and starts the dev-server engine.
pub struct DevServerBuilder {
    host: Arc<dyn PluginHost>,
    state_dir: Option<PathBuf>,
    go: Option<PathBuf>,
    package_manager: Option<PackageManager>,
    package_manager_path: Option<PathBuf>,
    node: Option<PathBuf>,
    /// Timing, limits and ports; the state directory and tools are resolved in `resolve`.
    config: EngineConfig,
    /// The local API, when turned on.
    api: Option<ApiOptions>,
}

impl DevServerBuilder {
    /// A builder whose plugins are looked up and reloaded through `host`.
    pub fn new(host: impl PluginHost) -> Self {
        Self::with_host(Arc::new(host))
    }

    /// Like [`DevServerBuilder::new`] with a shared host.
    pub fn with_host(host: Arc<dyn PluginHost>) -> Self {
        Self {
            host,
            state_dir: None,
            go: None,
            package_manager: None,
            package_manager_path: None,
            node: None,
            config: EngineConfig::new(PathBuf::new()),
            api: None,
        }
    }

    /// State root (default: `$OMNIVIEW_STATE_DIR`, else `~/.omniview`).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The `go` executable (default: `go` on `PATH`).
    pub fn go(mut self, path: impl Into<PathBuf>) -> Self {
        self.go = Some(path.into());
        self
    }

    /// Forces a package manager (default: from the UI's lockfile, else pnpm if found, else npm).
    pub fn package_manager(mut self, pm: PackageManager) -> Self {
        self.package_manager = Some(pm);
        self
    }

    /// The package manager's executable (default: found on `PATH`).
    pub fn package_manager_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.package_manager_path = Some(path.into());
        self
    }

    /// The `node` executable; its directory goes first on the UI processes' `PATH`.
    pub fn node(mut self, path: impl Into<PathBuf>) -> Self {
        self.node = Some(path.into());
        self
    }

    fn tweak(mut self, f: impl FnOnce(&mut EngineConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Quiet period after the last Go change before a build (default 30 ms; see
    /// `DEFAULT_DEBOUNCE` for why).
    pub fn debounce(self, d: Duration) -> Self {
        self.tweak(move |c| c.debounce = d)
    }

    /// Longest delay from the first change of a burst to its build (default 2 s).
    pub fn debounce_max_wait(self, d: Duration) -> Self {
        self.tweak(move |c| c.debounce_max_wait = d)
    }

    /// How long Vite may take to become ready (default 30 s).
    pub fn vite_ready_timeout(self, d: Duration) -> Self {
        self.tweak(move |c| c.vite_ready_timeout = d)
    }

    /// How often a ready Vite is probed with an HTTP request (default 10 s; `None`: never).
    /// Two probes in a row without an answer and it is stopped and restarted by its policy.
    pub fn vite_probe_interval(self, d: Option<Duration>) -> Self {
        self.tweak(move |c| c.vite_probe_interval = d)
    }

    /// How many plugin UIs may install or start at once (default: twice the cores); the
    /// others wait their turn, so the first ones are ready early.
    pub fn concurrent_ui_starts(self, n: usize) -> Self {
        self.tweak(move |c| c.concurrent_ui_starts = n.max(1))
    }

    /// Time between SIGTERM and SIGKILL when stopping processes (default 5 s).
    pub fn stop_grace(self, d: Duration) -> Self {
        self.tweak(move |c| c.stop_grace = d)
    }

    /// Log entries and message bytes kept per plugin (defaults 5000 and 8 MiB).
    pub fn log_limits(self, entries: usize, bytes: usize) -> Self {
        self.tweak(move |c| {
            c.log_capacity = entries;
            c.log_byte_cap = bytes;
        })
    }

    /// Inclusive range of Vite ports (default 15173-15272).
    pub fn port_range(self, start: u16, end: u16) -> Self {
        self.tweak(move |c| c.port_range = (start, end))
    }

    /// The Vite port plugin `plugin_id` should get (in the range or not); when it is taken the
    /// plugin gets one of the range, and its log says so.
    pub fn preferred_vite_port(self, plugin_id: impl Into<String>, port: u16) -> Self {
        let id = plugin_id.into();
        self.tweak(move |c| {
            c.preferred_vite_ports.insert(id, port);
        })
    }

    /// Replaces the port-free check (tests use it to simulate a port lost to a race).
    pub fn port_probe(self, probe: PortProbe) -> Self {
        self.tweak(move |c| c.port_probe = probe)
    }

    /// How a crashed Vite dev server is restarted (default: transient, 5 per 60 s).
    pub fn vite_restart_policy(self, policy: RestartPolicy) -> Self {
        self.tweak(move |c| c.vite_policy = policy)
    }

    /// How a failed Go watcher is re-created (default: permanent, 5 per 60 s).
    pub fn go_watcher_restart_policy(self, policy: RestartPolicy) -> Self {
        self.tweak(move |c| c.go_watcher_policy = policy)
    }

    /// Linux: make this process a child subreaper and stop orphaned grandchildren at shutdown.
    /// Process-wide; meant for a process whose children are all the engine's (the CLI).
    pub fn child_subreaper(self, on: bool) -> Self {
        self.tweak(move |c| c.child_subreaper = on)
    }

    /// Whether a watchdog process kills the engine's children if the engine is killed
    /// (default on).
    pub fn watchdog(self, on: bool) -> Self {
        self.tweak(move |c| c.watchdog = on)
    }

    /// Launch each built plugin with the built-in go-plugin host, and relaunch it after each
    /// rebuild (default off: an IDE hosts plugins itself through `PluginHost::reload_plugin`).
    pub fn launch_plugins(self, on: bool) -> Self {
        self.tweak(move |c| c.launch_plugins = on)
    }

    /// With `launch_plugins`: write `<state>/plugins/<id>/.devinfo` while a plugin runs, so
    /// that a running Omniview IDE can attach to it (default off).
    pub fn write_devinfo(self, on: bool) -> Self {
        self.tweak(move |c| c.write_devinfo = on)
    }

    /// Run the plugins' Vite dev servers (default on).
    pub fn run_vite(self, on: bool) -> Self {
        self.tweak(move |c| c.run_vite = on)
    }

    /// How long a launched plugin may take to print its handshake line (default 15 s).
    pub fn plugin_start_timeout(self, d: Duration) -> Self {
        self.tweak(move |c| c.plugin_start_timeout = d)
    }

    /// How long a `go build` may run before it is stopped and reported as failed (default
    /// 5 minutes).
    pub fn build_timeout(self, d: Duration) -> Self {
        self.tweak(move |c| c.build_timeout = d)
    }

    /// How often a launched plugin's gRPC health is checked (default 5 s), and after how many
    /// failures in a row it is killed and restarted (default 3).
    pub fn health_checks(self, interval: Duration, failures: u32) -> Self {
        self.tweak(move |c| {
            c.health_interval = interval;
            c.health_failures = failures.max(1);
        })
    }

    /// How a crashed plugin process is restarted (default: transient, 5 per 60 s).
    pub fn plugin_restart_policy(self, policy: RestartPolicy) -> Self {
        self.tweak(move |c| c.plugin_policy = policy)
    }

    /// Watch `<state>/plugins/*/.devinfo` and attach to plugins run outside ovdev (default on).
    pub fn watch_external(self, on: bool) -> Self {
        self.tweak(move |c| c.watch_external = on)
    }

    /// How often an attached external plugin's health is checked (default 5 s).
    pub fn external_health_interval(self, d: Duration) -> Self {
        self.tweak(move |c| c.external_health_interval = d)
    }

    /// Events a subscriber may lag behind before it misses some (default 4096).
    pub fn event_capacity(self, n: usize) -> Self {
        self.tweak(move |c| c.event_capacity = n)
    }

    /// Serves the local API (a unix socket in `<state>/run`, and TCP when `options.tcp` is
    /// set) so that programs in any language can drive the engine; see `docs/api.md`.
    pub fn api(mut self, options: ApiOptions) -> Self {
        self.api = Some(options);
        self
    }

    /// The settings the engine would run with; no side effects.
    pub fn resolve(&self) -> Result<EngineConfig, BuilderError> {
        let state_dir = resolve_state_dir(self.state_dir.clone())?;
        let mut cfg = self.config.clone();
        cfg.state_dir = state_dir;
        cfg.go = tool(self.go.clone(), "go", "`go` path")?;
        cfg.package_manager = self.package_manager;
        cfg.package_manager_path = match self.package_manager_path.clone() {
            Some(p) => Some(check_tool(p, "package manager path")?),
            None => None,
        };
        cfg.node = tool(self.node.clone(), "node", "`node` path")?;
        Ok(cfg)
    }

    /// Starts the engine: inside the current actix System when called within one, else on a
    /// System thread of its own. The handle works from any tokio runtime.
    pub fn start(self) -> Result<DevServerHandle, BuilderError> {
        let api = self.api.clone();
        let cfg = Arc::new(self.resolve()?);
        let state_dir = cfg.state_dir.clone();
        let handle = self.start_engine(cfg)?;
        if let Some(options) = api {
            match ApiServer::start(&handle, &state_dir, options) {
                Ok(server) => handle.set_api(server),
                Err(e) => {
                    // Nothing may be left running when the start fails.
                    let stopping = handle.clone();
                    let _ = std::thread::spawn(move || {
                        futures::executor::block_on(stopping.shutdown())
                    })
                    .join();
                    return Err(BuilderError::Api(e));
                }
            }
        }
        Ok(handle)
    }

    fn start_engine(&self, cfg: Arc<EngineConfig>) -> Result<DevServerHandle, BuilderError> {
        let bus = EventBus::new(cfg.event_capacity);
        let host = self.host.clone();
        if actix_rt::System::try_current().is_some() {
            let addr = DevServerSupervisor::new(cfg, host, bus.clone()).start();
            return Ok(DevServerHandle::new(addr, bus, None));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let engine_bus = bus.clone();
        std::thread::Builder::new()
            .name("ovdev-engine".into())
            .spawn(move || {
                let system = actix_rt::System::new();
                system.block_on(async move {
                    let addr = DevServerSupervisor::new(cfg, host, engine_bus).start();
                    let _ = tx.send((addr, actix_rt::System::current()));
                });
                if let Err(e) = system.run() {
                    tracing::error!(error = %e, "the engine's actix system failed");
                }
            })?;
        let (addr, system) = rx.recv().map_err(|_| BuilderError::EngineDied)?;
        Ok(DevServerHandle::new(addr, bus, Some(system)))
    }
}

/// The state root: `given`, else `$OMNIVIEW_STATE_DIR`, else `~/.omniview`. The one place
/// where it is resolved: a leading `~` is the home directory, and a relative path is an error
/// (the IDE and every ovdev must agree on it, wherever they were started).
pub fn resolve_state_dir(given: Option<PathBuf>) -> Result<PathBuf, BuilderError> {
    let (path, from) = match given {
        Some(d) => (d, "the state_dir option"),
        None => match std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(d) => (PathBuf::from(d), STATE_DIR_ENV),
            None => {
                return dirs::home_dir()
                    .map(|h| h.join(".omniview"))
                    .ok_or(BuilderError::NoStateDir)
            }
        },
    };
    let path = expand_home(path, dirs::home_dir())?;
    if !path.is_absolute() {
        return Err(BuilderError::RelativeStateDir { path, from });
    }
    Ok(path)
}

/// `~` and `~/rest` with `home` put in; other paths as they are.
fn expand_home(path: PathBuf, home: Option<PathBuf>) -> Result<PathBuf, BuilderError> {
    let Ok(rest) = path.strip_prefix("~") else {
        return Ok(path);
    };
    let home = home.ok_or(BuilderError::NoStateDir)?;
    Ok(if rest.as_os_str().is_empty() {
        home
    } else {
        home.join(rest)
    })
}

fn tool(
    given: Option<PathBuf>,
    name: &str,
    what: &'static str,
) -> Result<Option<PathBuf>, BuilderError> {
    match given {
        Some(p) => check_tool(p, what).map(Some),
        None => Ok(find_on_path(name)),
    }
}

fn check_tool(path: PathBuf, what: &'static str) -> Result<PathBuf, BuilderError> {
    // A bare name ("pnpm") is looked up on PATH like a shell would.
    let resolved = if path.components().count() == 1 && !path.is_absolute() {
        path.to_str().and_then(find_on_path)
    } else if path.exists() && !is_executable(&path) {
        return Err(BuilderError::ToolNotExecutable { what, path });
    } else if path.is_file() {
        Some(path.clone())
    } else {
        None
    };
    resolved.ok_or(BuilderError::BadToolPath { what, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_tilde_is_the_home_directory() {
        let home = Some(PathBuf::from("/home/dev"));
        let expand = |p: &str| expand_home(PathBuf::from(p), home.clone()).unwrap();
        assert_eq!(expand("~/x/y"), PathBuf::from("/home/dev/x/y"));
        assert_eq!(expand("~"), PathBuf::from("/home/dev"));
        assert_eq!(expand("/abs/~/x"), PathBuf::from("/abs/~/x"));
        assert_eq!(expand("~other/x"), PathBuf::from("~other/x"));
        assert!(matches!(
            expand_home(PathBuf::from("~/x"), None),
            Err(BuilderError::NoStateDir)
        ));
    }

    #[test]
    fn a_relative_state_directory_is_refused_with_the_reason() {
        let err = resolve_state_dir(Some("state".into())).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`state`"), "{text}");
        assert!(
            text.contains("is relative; give an absolute path"),
            "{text}"
        );
        assert!(text.contains("the state_dir option"), "{text}");
        assert!(resolve_state_dir(Some("~other/x".into())).is_err());
        let abs = resolve_state_dir(Some("/tmp/ovdev-state".into())).unwrap();
        assert_eq!(abs, PathBuf::from("/tmp/ovdev-state"));
        if let Some(home) = dirs::home_dir() {
            assert_eq!(
                resolve_state_dir(Some("~/s".into())).unwrap(),
                home.join("s")
            );
        }
    }
}
