//! The engine as a child subreaper (Linux): orphans of its children are re-parented to it, so
//! that it can reap them and, at shutdown, stop what its children left behind. Beside the
//! registry, which knows which processes are the engine's own.

use std::time::Duration;

use crate::registry::ProcessRegistry;

/// Makes this process a child subreaper.
#[cfg(target_os = "linux")]
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Not available here: an error.
#[cfg(not(target_os = "linux"))]
pub fn become_subreaper() -> nix::Result<()> {
    Err(nix::errno::Errno::ENOSYS)
}

/// Reaps exited orphans that were re-parented to us, never our own children (tokio waits for
/// those, and must get their exit status).
pub fn reap_orphans(registry: &ProcessRegistry) {
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
pub async fn stop_strays(registry: &ProcessRegistry, grace: Duration) {
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
