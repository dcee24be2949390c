//! Processes a test may have left behind, read through the engine's own `/proc` parsing.

use std::path::Path;
use std::time::{Duration, Instant};

use ovdev_actors::process::proc_entry;

/// Processes whose working directory is inside `dir` (left-behind children of a test).
pub fn processes_in(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == std::process::id() as i32 {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        // Zombies are dead already; only their parent's reaping is pending.
        if cwd.starts_with(&dir) && alive(pid) {
            let cmd = std::fs::read_to_string(entry.path().join("cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            found.push(format!("{pid}: {cmd}"));
        }
    }
    found
}

/// The distinct process groups of the processes working inside `dir` (one per child run).
pub fn process_groups_in(dir: &Path) -> std::collections::BTreeSet<i32> {
    processes_in(dir)
        .iter()
        .filter_map(|p| p.split(':').next()?.parse().ok())
        .filter_map(proc_entry)
        .map(|p| p.pgrp)
        .collect()
}

/// Polls until no process runs inside `dir`, or panics after `limit` listing them.
pub async fn assert_no_processes_in(dir: &Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_in(dir);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "processes left behind in {}:\n{}",
                dir.display(),
                left.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// True while `pid` is a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    proc_entry(pid).is_some_and(|p| !p.zombie)
}
