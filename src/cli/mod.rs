//! The `ovdev` command line: argument parsing, resolution into a plugin list, and the run loop.

mod args;
mod browser;
mod hints;
mod host;
mod instance;
mod mcp;
mod output;
mod print_thread;
mod serve_external;
mod verbs;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use omniview_devserver::manifest::plugin_id_of;
use omniview_devserver::{
    DevServerBuilder, DevServerHandle, PackageManager, RestartPolicy, RestartType,
};
use tokio::signal::unix::{signal, SignalKind};

use args::{Cli, Command, DevArgs};
use host::CliPluginHost;
use output::Printer;
use print_thread::PrintThread;

/// Exit code for usage errors, as clap uses.
const USAGE_ERROR: u8 = 2;
/// Where `ovdev dev` serves the API and the Dev Tools page unless told otherwise.
const DEFAULT_API_ADDR: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 17777);

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Dev(args) => run_dev(args),
        Command::ServeExternal(args) => serve_external::run(args),
        Command::Mcp(args) => Ok(ExitCode::from(mcp::run(args))),
        verb => Ok(ExitCode::from(verbs::run(verb))),
    }
}

/// The single-threaded runtime of a client command (the verbs, `mcp`); `None` after saying
/// why there is none.
fn client_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("ovdev: cannot start the async runtime: {e}");
            None
        }
    }
}

fn usage_error(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("ovdev: error: {msg}");
    eprintln!("\nFor more information, try 'ovdev dev --help'.");
    Ok(ExitCode::from(USAGE_ERROR))
}

fn run_dev(mut args: DevArgs) -> anyhow::Result<ExitCode> {
    // As the real CLI's `-dir .`: no directory means this one, when it holds a plugin.
    let mut attach_only = false;
    if args.plugin_dirs.is_empty() {
        if std::path::Path::new("plugin.yaml").is_file() {
            args.plugin_dirs.push(".".into());
        } else if args.no_external {
            return usage_error("no PLUGIN_DIR given and no plugin.yaml in the current directory; give a plugin directory, or leave out `--no-external` to attach to plugins run outside ovdev");
        } else {
            attach_only = true;
        }
    }
    if args.id.is_some() && args.plugin_dirs.len() > 1 {
        return usage_error("`--id` can only be used with a single plugin directory");
    }
    if args.vite_port.is_some() && args.plugin_dirs.len() != 1 {
        return usage_error("`--vite-port` can only be used with a single plugin directory");
    }
    let mut plugins = BTreeMap::new();
    for dir in &args.plugin_dirs {
        let id = match plugin_id_of(dir, args.id.as_deref()) {
            Ok(id) => id,
            Err(e) => return usage_error(hints::manifest_error(&e)),
        };
        let abs = std::fs::canonicalize(dir)
            .with_context(|| format!("cannot resolve `{}`", dir.display()))?;
        if let Some(other) = plugins.insert(id.clone(), abs.clone()) {
            return usage_error(format!(
                "`{}` and `{}` both have the plugin id `{id}`",
                other.display(),
                abs.display()
            ));
        }
    }
    let package_manager = match args.package_manager.as_deref() {
        None => None,
        Some(name) => match PackageManager::from_name(name) {
            Some(pm) => Some(pm),
            None => {
                return usage_error(format!(
                    "unknown package manager `{name}`; use pnpm, npm, yarn or bun"
                ))
            }
        },
    };
    let _log_guard = init_tracing(args.verbose, output::use_colour_on_stderr(args.no_color));

    let limits = |restart| RestartPolicy {
        max_restarts: args.max_restarts,
        window: Duration::from_secs(args.restart_window_secs),
        ..RestartPolicy::new(restart)
    };
    let vite_restart = RestartType::from_name(&args.vite_restart).unwrap_or(RestartType::Transient);
    let mut builder = DevServerBuilder::new(CliPluginHost::new(plugins.clone()))
        .debounce(Duration::from_millis(args.debounce_ms))
        .vite_ready_timeout(Duration::from_secs(args.vite_timeout_secs))
        .stop_grace(Duration::from_secs(args.stop_grace_secs))
        // Every child of this process is the engine's: collect orphaned grandchildren too.
        .child_subreaper(true)
        .vite_restart_policy(limits(vite_restart))
        .go_watcher_restart_policy(limits(RestartType::Permanent))
        .plugin_restart_policy(limits(RestartType::Transient))
        .run_vite(!args.no_vite)
        // Standalone, ovdev is the plugin host; a running IDE can attach through .devinfo.
        .launch_plugins(!args.no_launch)
        .write_devinfo(!args.no_launch)
        .watch_external(!args.no_external)
        .plugin_start_timeout(Duration::from_secs(args.plugin_start_timeout_secs))
        .build_timeout(Duration::from_secs(args.build_timeout_secs));
    if let Some(d) = &args.state_dir {
        builder = builder.state_dir(d);
    }
    if let Some(go) = &args.go {
        builder = builder.go(go);
    }
    if let (Some(port), Some(id)) = (args.vite_port, plugins.keys().next()) {
        builder = builder.preferred_vite_port(id.clone(), port);
    }
    if let Some(pm) = package_manager {
        builder = builder.package_manager(pm);
    }
    if let Some(p) = &args.package_manager_path {
        builder = builder.package_manager_path(p);
    }
    if let Some(node) = &args.node {
        builder = builder.node(node);
    }
    if !args.no_api {
        let state = omniview_devserver::resolve_state_dir(args.state_dir.clone()).ok();
        builder = builder.api(omniview_devserver::api::ApiOptions {
            tcp: Some(args.api_addr.unwrap_or(DEFAULT_API_ADDR)),
            // Only the default moves aside; an address the user gave is used or refused.
            tcp_fallback: args.api_addr.is_none(),
            // The same token across restarts: an open page reconnects by itself.
            token_file: state.map(|s| s.join("api-token")),
            ..Default::default()
        });
    } else if args.api_addr.is_some() || args.open {
        return usage_error("`--api-addr` and `--open` need the API; leave out `--no-api`");
    }
    let printer = Printer::new(
        args.json,
        output::use_colour(args.no_color),
        !args.no_timestamps,
    );

    let open = args.open;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Handled from before the engine starts: a stop asked for at any moment is graceful.
        let signals = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("ovdev: cannot install signal handlers: {e}");
                return Ok(ExitCode::from(1));
            }
        };
        let handle = builder
            .start()
            .map_err(|e| anyhow::anyhow!(hints::builder_error(&e)))?;
        let code = dev_loop(&handle, &plugins, printer, (attach_only, open), signals).await;
        Ok(code)
    })
}

async fn dev_loop(
    handle: &DevServerHandle,
    plugins: &BTreeMap<String, std::path::PathBuf>,
    printer: Printer,
    (attach_only, open): (bool, bool),
    (mut sigint, mut sigterm): (tokio::signal::unix::Signal, tokio::signal::unix::Signal),
) -> ExitCode {
    // Printing happens on its own thread: nothing here waits for whoever reads stdout.
    let mut printer = match PrintThread::start(printer, handle.subscribe()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ovdev: cannot start the output thread: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some((url, token)) = handle.api_info().and_then(|i| Some((i.url?, i.token))) {
        let page = browser::page_url(&url, &token);
        printer.note(format!("Dev Tools: {page}"));
        if open {
            if let Err(e) = browser::open(&page) {
                printer.note(e);
            }
        }
    }
    if attach_only {
        printer.note("no plugin directory given and no plugin.yaml here: attaching only to plugins run outside ovdev (their .devinfo files)");
    }
    // All at once: one plugin's start never waits for another's.
    let starts = plugins.keys().map(|id| async move {
        let result = handle.start_dev_server(id).await;
        (id, result)
    });
    let mut failed = false;
    for (id, result) in futures::future::join_all(starts).await {
        if let Err(e) = result {
            printer.note(format!(
                "cannot start the dev server of `{id}`: {}",
                hints::start_error(&e)
            ));
            failed = true;
        }
    }
    if !failed {
        tokio::select! {
            () = printer.ended() => {},
            _ = sigint.recv() => {},
            _ = sigterm.recv() => {},
        }
        printer.note("stopping: Vite, builds and watchers");
    }
    handle.shutdown().await;
    // Events published during the last moments of the stop (final states, last log batch).
    tokio::time::sleep(Duration::from_millis(150)).await;
    printer.finish(Duration::from_secs(2)).await;
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Logs to stderr through a bounded queue and a thread of its own: a stderr nobody reads
/// loses log lines instead of stalling the engine threads that log. Keep the guard alive.
fn init_tracing(verbose: bool, colour: bool) -> tracing_appender::non_blocking::WorkerGuard {
    let default = if verbose { "info" } else { "warn,ovdev=info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OVDEV_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(1024)
        .thread_name("ovdev-log")
        .finish(std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false)
        .with_ansi(colour)
        .without_time()
        .try_init();
    guard
}
