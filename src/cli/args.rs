//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// ovdev: hot-reload dev loop for Omniview plugins (Go backend + Vite UI).
#[derive(Debug, Parser)]
#[command(name = "ovdev", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run Vite and rebuild the Go backend on save, for one or more plugin directories.
    Dev(DevArgs),
    /// Run a go-plugin plugin binary in external mode: write its .devinfo so a running
    /// Omniview IDE (or `ovdev dev`) attaches to it; for use with air or a debugger.
    ServeExternal(ServeExternalArgs),
    /// List the plugins of a running ovdev.
    Ls(VerbArgs),
    /// Show one plugin's state.
    Get(IdArgs),
    /// Show a plugin's logs (`-f` follows them).
    Logs(LogsArgs),
    /// Show the build errors of a plugin's last build (exit 4 when there are some).
    Errors(IdArgs),
    /// Show a plugin's last builds.
    Builds(IdArgs),
    /// Rebuild a plugin's Go backend and wait for the result (exit 4 when it fails).
    Rebuild(RebuildArgs),
    /// Restart a plugin's dev server.
    Restart(IdArgs),
    /// Stop a plugin's dev server.
    Stop(IdArgs),
    /// Start a dev server for a plugin directory in a running ovdev.
    Start(StartArgs),
    /// Attach to a plugin run outside ovdev (its .devinfo).
    Attach(AttachArgs),
    /// Drop the attachment to an external plugin (its process is untouched).
    Detach(IdArgs),
    /// Wait until a plugin is ready (exit 3 on timeout, 4 when it is in error).
    Wait(WaitArgs),
    /// Open the Dev Tools page of a running ovdev in the browser.
    Open(VerbArgs),
    /// Serve the Model Context Protocol on stdio for coding agents (a client of a running
    /// ovdev's API).
    Mcp(McpArgs),
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Also offer the tools that change the dev loop: rebuild, restart, stop, start.
    #[arg(long)]
    pub allow_control: bool,
    #[command(flatten)]
    pub common: VerbArgs,
}

/// How a verb finds the running ovdev, and how it prints.
#[derive(Debug, Args, Clone)]
pub struct VerbArgs {
    /// State directory of the ovdev to talk to (default: $OMNIVIEW_STATE_DIR, else ~/.omniview).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The ovdev process to talk to, when several run on the state directory.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,

    /// Print JSON (the API's payloads) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Plugin id (may be left out when the ovdev runs exactly one plugin).
    pub id: Option<String>,
    #[command(flatten)]
    pub common: VerbArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Plugin id (may be left out when the ovdev runs exactly one plugin).
    pub id: Option<String>,
    /// Keep printing new lines as they come (Ctrl-C to stop).
    #[arg(long, short)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Only lines after this sequence number.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// Only lines of this level or more severe: debug, info, warn, error.
    #[arg(long, value_name = "LEVEL", value_parser = ["debug", "info", "warn", "error"])]
    pub level: Option<String>,
    /// Only lines of this source: vite, go-build, go-watch, manager, plugin.
    #[arg(long, value_name = "SOURCE", value_parser = ["vite", "go-build", "go-watch", "manager", "plugin"])]
    pub source: Option<String>,
    #[command(flatten)]
    pub common: VerbArgs,
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Plugin id (may be left out when the ovdev runs exactly one plugin).
    pub id: Option<String>,
    /// Return once the build is requested, without waiting for its result.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the build (for example 90s, 5m).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub timeout: String,
    #[command(flatten)]
    pub common: VerbArgs,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The plugin directory (with plugin.yaml).
    pub dir: PathBuf,
    /// Plugin id, instead of plugin.yaml's `id`.
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub common: VerbArgs,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Plugin id.
    pub id: String,
    /// A Vite port to use instead of the .devinfo's.
    #[arg(long, value_name = "N")]
    pub vite_port: Option<u16>,
    #[command(flatten)]
    pub common: VerbArgs,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Plugin id (may be left out when the ovdev runs exactly one plugin).
    pub id: Option<String>,
    /// What to wait for: `ready` (its Go build and Vite are ready) or `connected` (ready,
    /// and the launched plugin answers its gRPC health check).
    #[arg(long = "for", default_value = "ready", value_name = "CONDITION", value_parser = ["ready", "connected"])]
    pub condition: String,
    /// How long to wait (for example 60s, 2m, 500ms).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub timeout: String,
    #[command(flatten)]
    pub common: VerbArgs,
}

#[derive(Debug, Args)]
pub struct ServeExternalArgs {
    /// Plugin id (default: `id` of the nearest plugin.yaml, from the working directory up).
    #[arg(long)]
    pub id: Option<String>,

    /// Port of a Vite dev server you run for the plugin's UI, advertised in .devinfo.
    #[arg(long, value_name = "N")]
    pub vite_port: Option<u16>,

    /// State directory (default: $OMNIVIEW_STATE_DIR, else ~/.omniview).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The plugin binary and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "BINARY [ARGS]...")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Plugin source directories (each with plugin.yaml, pkg/ and/or ui/). None: the current
    /// directory when it holds a plugin.yaml, else only attach to plugins run outside ovdev
    /// (external mode).
    #[arg(value_name = "PLUGIN_DIR")]
    pub plugin_dirs: Vec<PathBuf>,

    /// Plugin id, instead of plugin.yaml's `id` (only with one directory).
    #[arg(long)]
    pub id: Option<String>,

    /// Preferred Vite port (only with one directory); when it is taken, Vite gets one of
    /// 15173-15272 and the log says so.
    #[arg(long, value_name = "N")]
    pub vite_port: Option<u16>,

    /// State directory (default: $OMNIVIEW_STATE_DIR, else ~/.omniview).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Path of the `go` executable (default: `go` on PATH).
    #[arg(long, value_name = "PATH")]
    pub go: Option<PathBuf>,

    /// Package manager for the UI: pnpm, npm, yarn or bun (default: from the lockfile).
    #[arg(long, value_name = "NAME")]
    pub package_manager: Option<String>,

    /// Path of the package manager's executable (default: found on PATH).
    #[arg(long, value_name = "PATH")]
    pub package_manager_path: Option<PathBuf>,

    /// Path of the `node` executable (default: `node` on PATH).
    #[arg(long, value_name = "PATH")]
    pub node: Option<PathBuf>,

    /// Quiet period after the last Go change before rebuilding, in milliseconds.
    #[arg(long, default_value_t = 30, value_name = "MS")]
    pub debounce_ms: u64,

    /// Seconds Vite may take to become ready.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub vite_timeout_secs: u64,

    /// When to restart a crashed Vite: permanent, transient (after a failure) or temporary.
    #[arg(long, default_value = "transient", value_name = "TYPE", value_parser = ["permanent", "transient", "temporary"])]
    pub vite_restart: String,

    /// At most this many restarts of a child within the restart window, then give up.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_restarts: u32,

    /// The restart window, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub restart_window_secs: u64,

    /// Seconds between SIGTERM and SIGKILL when stopping a process group.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub stop_grace_secs: u64,

    /// Do not run the UI's Vite dev server.
    #[arg(long)]
    pub no_vite: bool,

    /// Do not attach to plugins run outside ovdev (their .devinfo files).
    #[arg(long)]
    pub no_external: bool,

    /// Do not launch the built plugin (only build and install it).
    #[arg(long)]
    pub no_launch: bool,

    /// Seconds a launched plugin may take to print its go-plugin handshake.
    #[arg(long, default_value_t = 15, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub plugin_start_timeout_secs: u64,

    /// Seconds a `go build` may run before it is stopped and reported as failed.
    #[arg(long, default_value_t = 300, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub build_timeout_secs: u64,

    /// Print only NDJSON events on stdout: {"name": ..., "data": ...} per line.
    #[arg(long)]
    pub json: bool,

    /// No colours (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long)]
    pub no_color: bool,

    /// No `HH:MM:SS` time at the start of each human output line.
    #[arg(long)]
    pub no_timestamps: bool,

    /// Do not serve the local API (the unix socket the `ovdev ls/logs/rebuild/...` verbs use).
    #[arg(long)]
    pub no_api: bool,

    /// Serve the local API and the Dev Tools page on this TCP address instead of
    /// 127.0.0.1:17777 (or a free port when that is taken); port 0: any free port. The token
    /// is required there too; a non-loopback address is reachable from other machines.
    #[arg(long, value_name = "ADDR")]
    pub api_addr: Option<std::net::SocketAddr>,

    /// Open the Dev Tools page in the browser once ovdev runs.
    #[arg(long)]
    pub open: bool,

    /// More diagnostics on stderr (or set OVDEV_LOG, e.g. OVDEV_LOG=debug).
    #[arg(long, short)]
    pub verbose: bool,
}
