//! Running the `ovdev` binary as a user does: spawning it, reading its NDJSON, signalling it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::HANG;

/// The `ovdev` binary, stdin closed, killed when dropped.
pub fn ovdev() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ovdev"));
    cmd.env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Spawns `cmd` with piped output; returns the child and its stdout lines.
pub fn spawn_piped(
    cmd: &mut Command,
) -> (
    Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads NDJSON events from `child`'s stdout until `pred` matches one; returns all read.
pub async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<Value>,
    what: &str,
    mut pred: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + HANG;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match tokio::time::timeout(left, lines.next_line()).await {
            Ok(Ok(Some(l))) => l,
            other => panic!("no {what} ({other:?}); seen:\n{}", dump(seen)),
        };
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert!(v["name"].is_string() && !v["data"].is_null(), "{line}");
        seen.push(v.clone());
        if pred(&v) {
            return v;
        }
    }
}

pub fn dump(seen: &[Value]) -> String {
    seen.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn is_status(v: &Value, pred: impl Fn(&Value) -> bool) -> bool {
    v["name"] == "plugin/devserver/status" && pred(&v["data"])
}

pub async fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("ovdev exits after the signal")
        .unwrap()
}

pub fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id().unwrap() as i32), sig).unwrap();
}

/// A UI-only plugin `id` under `root` (its modules installed, a `dev` script); its directory.
pub fn ui_plugin(root: &std::path::Path, id: &str) -> std::path::PathBuf {
    let dir = root.join(id);
    std::fs::create_dir_all(dir.join("ui/node_modules")).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("id: {id}\nversion: 0.0.1\n"),
    )
    .unwrap();
    std::fs::write(dir.join("ui/package.json"), r#"{"scripts":{"dev":"vite"}}"#).unwrap();
    dir
}

/// A UI-only plugin `id` under `root` whose package manager is the shell script `pm_body`
/// (it receives `run dev -- --port N ...`); returns the plugin directory and the script.
pub fn ui_plugin_with_pm(
    root: &std::path::Path,
    id: &str,
    pm_body: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = ui_plugin(root, id);
    let pm = root.join(format!("{id}-pm"));
    super::write_script(&pm, pm_body);
    (dir, pm)
}

/// A UI-only plugin whose "Vite" says it is ready and then idles.
pub fn idle_ui_plugin(
    root: &std::path::Path,
    id: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    ui_plugin_with_pm(
        root,
        id,
        "printf '  ➜  Local:   http://127.0.0.1:%s/\\n' \"$4\"; exec sleep 300\n",
    )
}

/// `ovdev dev --json --no-external --no-launch` on `dir` with `pm` as its package manager.
pub fn json_with_pm(
    dir: &std::path::Path,
    pm: &std::path::Path,
    state: &std::path::Path,
) -> Command {
    let mut cmd = ovdev();
    cmd.args([
        "dev",
        "--json",
        "--no-external",
        "--no-launch",
        "--state-dir",
    ])
    .arg(state)
    .arg("--package-manager-path")
    .arg(pm)
    .arg(dir);
    cmd
}

/// [`json_with_pm`], spawned with its stdout lines.
pub fn run_json_with_pm(
    dir: &std::path::Path,
    pm: &std::path::Path,
    state: &std::path::Path,
) -> (
    Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    spawn_piped(&mut json_with_pm(dir, pm, state))
}
