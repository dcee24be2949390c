//! `ovdev serve-external`: runs any go-plugin plugin binary in external mode, with no SDK
//! change. It plays the part of the plugin SDK's dev helper: sets the handshake environment,
//! reads the handshake line, writes `.devinfo` so an IDE can attach, passes the plugin's
//! output through, forwards SIGINT and SIGTERM, removes `.devinfo` when the plugin exits, and
//! exits with the plugin's exit code.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _};
use chrono::Utc;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use omniview_devserver::manifest::{plugin_id_of, read_manifest};
use omniview_devserver::resolve_state_dir;
use ovdev_actors::devinfo::{devinfo_path, remove_devinfo_of, write_devinfo};
use ovdev_actors::handshake::{parse_handshake, plugin_env};
use ovdev_actors::process::set_parent_death_signal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::signal::unix::{signal, SignalKind};

use super::args::ServeExternalArgs;

/// How long the plugin gets to obey a forwarded SIGINT before SIGTERM (go-plugin plugins
/// ignore SIGINT: their host normally stops them), and then SIGTERM before SIGKILL.
const SIGNAL_GRACE: Duration = Duration::from_secs(2);

/// The directory holding the nearest `plugin.yaml`: the working directory or an ancestor,
/// else the binary's directory or an ancestor.
fn find_plugin_dir(binary: &Path) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let starts = cwd
        .into_iter()
        .chain(binary.parent().map(Path::to_path_buf));
    for start in starts {
        let start = std::fs::canonicalize(&start).unwrap_or(start);
        if let Some(dir) = start.ancestors().find(|d| d.join("plugin.yaml").is_file()) {
            return Some(dir.to_path_buf());
        }
    }
    None
}

/// Runs `ovdev serve-external`; returns the plugin's exit code.
pub fn run(args: ServeExternalArgs) -> anyhow::Result<ExitCode> {
    let binary = args.command[0].clone();
    let plugin_dir = find_plugin_dir(Path::new(&binary));
    let id = match (&args.id, &plugin_dir) {
        (Some(id), _) => {
            ovdev_actors::plugin_id::validate_plugin_id(id)?;
            id.clone()
        }
        (None, Some(dir)) => plugin_id_of(dir, None)?,
        (None, None) => {
            eprintln!("ovdev: error: no plugin.yaml found here or above; pass `--id ID`");
            return Ok(ExitCode::from(2));
        }
    };
    let version = plugin_dir
        .as_deref()
        .and_then(|d| read_manifest(d).ok())
        .and_then(|m| m.version)
        .unwrap_or_default();
    let state = resolve_state_dir(args.state_dir.clone())
        .map_err(|e| anyhow::anyhow!(super::hints::builder_error(&e)))?;
    let path = devinfo_path(&state, &id);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args, id, version, path))
}

async fn serve(
    args: ServeExternalArgs,
    id: String,
    version: String,
    path: PathBuf,
) -> anyhow::Result<ExitCode> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut cmd = tokio::process::Command::new(&args.command[0]);
    cmd.args(&args.command[1..])
        .envs(plugin_env(&id))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own group, so that signals reach whatever it started too.
        .process_group(0);
    // Killed with this process, and never left running when this process died while it
    // was spawned.
    set_parent_death_signal(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{}`", args.command[0]))?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    let Some(stdout) = child.stdout.take() else {
        bail!("the plugin's stdout is not available");
    };
    let mut lines = BufReader::new(stdout).lines();

    let first = tokio::select! {
        line = lines.next_line() => line?,
        status = child.wait() => {
            let status = status?;
            eprintln!("ovdev: the plugin exited before its handshake ({status})");
            return Ok(exit_code(status));
        }
    };
    let Some(first) = first else {
        let status = child.wait().await?;
        eprintln!("ovdev: the plugin closed its stdout before its handshake ({status})");
        return Ok(exit_code(status));
    };
    let handshake = match parse_handshake(&first) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ovdev: {e}");
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.wait().await;
            return Ok(ExitCode::from(1));
        }
    };
    let info = handshake.devinfo(pid, &id, version, args.vite_port.unwrap_or(0), Utc::now());
    write_devinfo(&path, &info).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "ovdev: {id} (pid {pid}) serves on {} {}; wrote {}",
        handshake.network,
        handshake.addr,
        path.display()
    );

    // Pass the plugin's stdout through; stderr is inherited as it is.
    let copy = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Ok(Some(line)) = lines.next_line().await {
            if out.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                break;
            }
            let _ = out.flush().await;
        }
    });
    let mut escalation: Option<(Signal, tokio::time::Instant)> = None;
    let status = loop {
        let deadline = escalation.map(|(_, at)| at);
        tokio::select! {
            status = child.wait() => break status?,
            _ = sigint.recv() => {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGINT);
                escalation.get_or_insert((Signal::SIGTERM, tokio::time::Instant::now() + SIGNAL_GRACE));
            }
            _ = sigterm.recv() => {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
                escalation = Some((Signal::SIGKILL, tokio::time::Instant::now() + SIGNAL_GRACE));
            }
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await }, if deadline.is_some() => {
                if let Some((sig, _)) = escalation.take() {
                    let _ = killpg(Pid::from_raw(pid), sig);
                    if sig == Signal::SIGTERM {
                        escalation = Some((Signal::SIGKILL, tokio::time::Instant::now() + SIGNAL_GRACE));
                    }
                }
            }
        }
    };
    remove_devinfo_of(&path, pid);
    // Helpers the plugin left in its group go with it.
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = tokio::time::timeout(Duration::from_secs(1), copy).await;
    Ok(exit_code(status))
}

/// The plugin's exit code; 128 + N when it was killed by signal N, as shells report it.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        (None, Some(sig)) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(255)),
        _ => ExitCode::from(1),
    }
}
