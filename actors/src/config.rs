//! Engine settings, resolved once by the facade and shared read-only by every actor.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::package_manager::PackageManager;
use crate::restart::RestartPolicy;

/// How long a `go build` may run (5 minutes: a cold build of a large plugin with many modules
/// to compile stays well below it; a hung one is ended).
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// Tells whether a port is free right now; replaceable so tests can simulate a lost race.
pub type PortProbe = Arc<dyn Fn(u16) -> bool + Send + Sync>;

/// Everything the engine needs to know, with defaults from the spec.
#[derive(Clone)]
pub struct EngineConfig {
    /// State root: plugins are installed under `<state_dir>/plugins/<id>/`.
    pub state_dir: PathBuf,
    /// `go` executable (absolute, or resolved from `PATH` by the facade); `None`: not found.
    pub go: Option<PathBuf>,
    /// Forced package manager; `None`: from the lockfile, else pnpm if found, else npm.
    pub package_manager: Option<PackageManager>,
    /// Executable of the package manager when it is not the one on `PATH`.
    pub package_manager_path: Option<PathBuf>,
    /// `node` executable; its directory is put first on the UI processes' `PATH`.
    pub node: Option<PathBuf>,
    /// Quiet period of the Go watcher's debounce.
    pub debounce: Duration,
    /// Longest wait between the first change of a burst and its build.
    pub debounce_max_wait: Duration,
    /// How long Vite may take to print its `Local:` line.
    pub vite_ready_timeout: Duration,
    /// How often a taken port (Vite's strictPort failure) is retried with another port.
    pub vite_port_retries: u32,
    /// How often a ready Vite's port is probed; `None`: never. Two probes in a row without
    /// an answer (2 s each) and Vite is treated as hung: stopped and restarted by policy.
    pub vite_probe_interval: Option<Duration>,
    /// How many UIs may install or start at once (until ready, failed or timed out); the
    /// others wait their turn, so that with many plugins the first are ready early instead of
    /// all of them sharing the CPU until the end.
    pub concurrent_ui_starts: usize,
    /// Time between SIGTERM and SIGKILL when stopping a process group.
    pub stop_grace: Duration,
    /// Log entries kept per plugin.
    pub log_capacity: usize,
    /// Bytes of log messages kept per plugin.
    pub log_byte_cap: usize,
    /// Interval of log batches on the bus.
    pub log_flush_interval: Duration,
    /// Entries that force a log batch before the interval ends.
    pub log_batch_max: usize,
    /// Inclusive range of Vite ports.
    pub port_range: (u16, u16),
    /// Ports asked for by plugin id (in the range or not); a plugin whose port is taken gets
    /// one of the range, and its log says so.
    pub preferred_vite_ports: std::collections::HashMap<String, u16>,
    /// How many events a subscriber may lag behind.
    pub event_capacity: usize,
    /// Port-free check used by the allocator.
    pub port_probe: PortProbe,
    /// How the Vite dev server is restarted when it crashes.
    pub vite_policy: RestartPolicy,
    /// How the Go watcher actor is re-created when it fails.
    pub go_watcher_policy: RestartPolicy,
    /// Run a watchdog process that kills every spawned group if the engine dies (SIGKILL).
    pub watchdog: bool,
    /// Run the plugin's Vite dev server (off: `--no-vite`).
    pub run_vite: bool,
    /// Launch built plugins with the built-in go-plugin host (the CLI). Off when an IDE hosts
    /// the plugins itself and reloads them through `PluginHost::reload_plugin`.
    pub launch_plugins: bool,
    /// With `launch_plugins`: write `<state>/plugins/<id>/.devinfo` while the plugin runs, so a
    /// running Omniview IDE can attach to it.
    pub write_devinfo: bool,
    /// How long a launched plugin may take to print its handshake line.
    pub plugin_start_timeout: Duration,
    /// A `go build` running longer is stopped and reported as failed.
    pub build_timeout: Duration,
    /// How often a launched plugin's health is checked.
    pub health_interval: Duration,
    /// Failed health checks in a row after which a launched plugin is killed and restarted.
    pub health_failures: u32,
    /// How a launched plugin process is restarted when it crashes.
    pub plugin_policy: RestartPolicy,
    /// Watch `<state>/plugins/*/.devinfo` and attach to plugins run outside ovdev.
    pub watch_external: bool,
    /// How often an attached external plugin's health is checked.
    pub external_health_interval: Duration,
    /// Linux: make this process a child subreaper, so that grandchildren whose parents exit
    /// are re-parented here (not to init), reaped, and killed at shutdown. Process-wide: only
    /// for a process whose children are all the engine's (the `ovdev` CLI), not an IDE.
    pub child_subreaper: bool,
}

impl EngineConfig {
    /// Defaults with the given state directory and no tools resolved.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            go: None,
            package_manager: None,
            package_manager_path: None,
            node: None,
            debounce: crate::debounce::DEFAULT_DEBOUNCE,
            debounce_max_wait: crate::debounce::DEFAULT_MAX_WAIT,
            vite_ready_timeout: Duration::from_secs(30),
            vite_port_retries: 3,
            vite_probe_interval: Some(Duration::from_secs(10)),
            concurrent_ui_starts: default_concurrent_ui_starts(),
            stop_grace: crate::process::DEFAULT_STOP_GRACE,
            log_capacity: crate::log_ring::DEFAULT_LOG_CAPACITY,
            log_byte_cap: crate::log_ring::DEFAULT_LOG_BYTE_CAP,
            log_flush_interval: Duration::from_millis(100),
            log_batch_max: 1000,
            port_range: (crate::ports::PORT_RANGE_START, crate::ports::PORT_RANGE_END),
            preferred_vite_ports: std::collections::HashMap::new(),
            event_capacity: crate::events::DEFAULT_EVENT_CAPACITY,
            port_probe: Arc::new(crate::ports::probe_port_free),
            vite_policy: RestartPolicy::vite_default(),
            go_watcher_policy: RestartPolicy::go_watcher_default(),
            watchdog: true,
            run_vite: true,
            launch_plugins: false,
            write_devinfo: false,
            plugin_start_timeout: Duration::from_secs(15),
            build_timeout: DEFAULT_BUILD_TIMEOUT,
            health_interval: Duration::from_secs(5),
            health_failures: 3,
            plugin_policy: RestartPolicy::new(crate::restart::RestartType::Transient),
            watch_external: true,
            external_health_interval: Duration::from_secs(5),
            child_subreaper: false,
        }
    }

    /// `<state>/plugins/<id>/bin/plugin`, where a built plugin is installed.
    pub fn installed_binary(&self, plugin_id: &str) -> PathBuf {
        plugin_dir(&self.state_dir, plugin_id)
            .join("bin")
            .join("plugin")
    }
}

/// `<state>/plugins/<id>`.
pub fn plugin_dir(state_dir: &Path, plugin_id: &str) -> PathBuf {
    state_dir.join("plugins").join(plugin_id)
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("state_dir", &self.state_dir)
            .field("go", &self.go)
            .field("package_manager", &self.package_manager)
            .field("package_manager_path", &self.package_manager_path)
            .field("node", &self.node)
            .field("debounce", &self.debounce)
            .field("vite_ready_timeout", &self.vite_ready_timeout)
            .field("port_range", &self.port_range)
            .field("vite_policy", &self.vite_policy)
            .field("go_watcher_policy", &self.go_watcher_policy)
            .finish_non_exhaustive()
    }
}

/// Twice the number of cores (at least 2): a package manager and Vite starting leave a core
/// idle part of the time, waiting for the disk or the other.
fn default_concurrent_ui_starts() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .max(2)
}
