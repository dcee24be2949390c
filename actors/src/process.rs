//! Child processes: a plain description ([`ProcessSpec`]), spawning into a new process group,
//! and stopping the whole group (SIGTERM, grace period, SIGKILL, wait until the group is gone).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// Default time between SIGTERM and SIGKILL.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// Everything needed to start a child, without starting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// Variables added to (and overriding) the inherited environment.
    pub env: BTreeMap<String, String>,
}

impl ProcessSpec {
    /// A spec running `program args...` in `cwd` with the inherited environment.
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>, cwd: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args,
            cwd: cwd.into(),
            env: BTreeMap::new(),
        }
    }

    /// The command line for logs, `program arg1 arg2`.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }

    /// A tokio command in a new process group, stdin closed, stdout and stderr piped.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .current_dir(&self.cwd)
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            // Last resort only: the owning actor stops the whole group itself.
            .kill_on_drop(true);
        set_parent_death_signal(&mut cmd);
        cmd
    }
}

/// Linux: the child gets SIGKILL when the thread that spawned it exits, so a crash of ovdev
/// cannot leave it behind. It follows the spawning *thread*: spawn from long-lived arbiter
/// threads only. It reaches only the direct child (and is cleared when that child forks), so
/// the watchdog (`registry`) covers grandchildren.
#[cfg(target_os = "linux")]
pub fn set_parent_death_signal(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and only makes two system calls
    // (prctl and getppid), both async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The parent may have died between fork and prctl: then nobody would signal us.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(Errno::ESRCH as i32));
            }
            Ok(())
        });
    }
}

/// Elsewhere: nothing (no parent-death signal).
#[cfg(not(target_os = "linux"))]
pub fn set_parent_death_signal(_: &mut Command) {}

/// Why a spawn failed, with the command that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot start `{command}`: {source}")]
pub struct SpawnError {
    pub command: String,
    #[source]
    pub source: std::io::Error,
}

/// Spawns `spec`; the child leads its own process group (pgid == pid).
pub fn spawn(spec: &ProcessSpec) -> Result<(Child, i32), SpawnError> {
    let child = spec.command().spawn().map_err(|source| SpawnError {
        command: spec.display(),
        source,
    })?;
    let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    Ok((child, pid))
}

/// A human description of how a process ended: "exited with code 3", "killed by SIGKILL".
pub fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exited with code {code}");
    }
    match status.signal() {
        Some(sig) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by {}", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        None => "ended".to_string(),
    }
}

/// One line of the process table: what the stop logic needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcEntry {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub zombie: bool,
    /// Start time in clock ticks since boot: with the pid, identifies a process for good.
    pub start_time: u64,
}

/// Parses `/proc/<pid>/stat` ("pid (comm) state ppid pgrp ..."); `comm` may hold spaces and
/// parentheses, so the fields are read after the last `)`.
pub fn parse_proc_stat(stat: &str) -> Option<ProcEntry> {
    let (head, rest) = stat.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    Some(ProcEntry {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        zombie: state == "Z" || state == "X",
        // Field 22 of stat; the fields here start at field 3.
        start_time: fields.get(19).and_then(|f| f.parse().ok()).unwrap_or(0),
    })
}

/// The process `pid` as `/proc` shows it now; `None` if it does not exist (or no `/proc`).
pub fn proc_entry(pid: i32) -> Option<ProcEntry> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_proc_stat(&stat)
}

/// The process table from `/proc`; `None` where there is no `/proc` (not Linux).
pub fn process_table() -> Option<Vec<ProcEntry>> {
    let dir = std::fs::read_dir("/proc").ok()?;
    Some(
        dir.flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter_map(|s| parse_proc_stat(&s))
            .collect(),
    )
}

/// [`process_table`] read on the blocking pool: a scan of every process in `/proc` is not
/// work for an actor's thread.
async fn process_table_off_thread() -> Option<Vec<ProcEntry>> {
    tokio::task::spawn_blocking(process_table)
        .await
        .unwrap_or_else(|_| process_table())
}

/// The process groups of `root` and all its descendants, `root`'s own group first.
///
/// Tools like pnpm run their script in a process group of its own; a stop must reach it too.
/// The tree is only known while the processes are linked to `root`, so call this before
/// signalling.
pub fn descendant_groups(root: i32, table: &[ProcEntry]) -> Vec<i32> {
    let mut groups = vec![root];
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        // Zombies have exited: nothing of theirs is left to stop.
        for p in table
            .iter()
            .filter(|p| p.ppid == parent && p.pid != parent && !p.zombie)
        {
            frontier.push(p.pid);
            if !groups.contains(&p.pgrp) {
                groups.push(p.pgrp);
            }
        }
    }
    groups
}

/// True while a live process of group `pgid` exists. Zombies do not count: they have exited
/// and only wait for their parent (possibly a container's init) to reap them.
pub fn group_alive(pgid: i32) -> bool {
    groups_alive(&[pgid], process_table().as_deref())
}

fn groups_alive(pgids: &[i32], table: Option<&[ProcEntry]>) -> bool {
    match table {
        Some(table) => table.iter().any(|p| !p.zombie && pgids.contains(&p.pgrp)),
        None => pgids
            .iter()
            .any(|&g| g > 0 && !matches!(killpg(Pid::from_raw(g), None), Err(Errno::ESRCH))),
    }
}

/// True when no process at all (not even a zombie) is left in group `pgid`: a cheap check
/// that needs no scan of `/proc`, and never wrong when it says yes.
fn group_empty(pgid: i32) -> bool {
    pgid > 0 && matches!(killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
}

/// Sends `sig` to group `pgid`, ignoring a group that is already gone.
pub fn signal_group(pgid: i32, sig: Signal) {
    if pgid > 0 {
        if let Err(e) = killpg(Pid::from_raw(pgid), sig) {
            if e != Errno::ESRCH {
                tracing::warn!(pgid, signal = sig.as_str(), error = %e, "cannot signal process group");
            }
        }
    }
}

/// How a group stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// Everything exited within the grace period after SIGTERM.
    Terminated,
    /// SIGKILL was needed.
    Killed,
    /// Something of the group was still there after SIGKILL and a further wait.
    Stuck,
}

/// Stops group `pgid` and the groups its descendants made for themselves: SIGTERM, up to
/// `grace` for every process of them to be gone, then SIGKILL.
///
/// `child` (the group leader, if the caller owns it) is reaped while waiting. Returns once
/// every process is gone, or reports [`StopOutcome::Stuck`] after SIGKILL and three more
/// seconds.
pub async fn stop_group(pgid: i32, child: Option<&mut Child>, grace: Duration) -> StopOutcome {
    stop_groups(pgid, child, Some(Signal::SIGTERM), grace).await
}

/// Waits up to `wait` for group `pgid` (and its descendants' groups) to exit on its own, as
/// after a graceful-shutdown request, then SIGKILLs what is left.
pub async fn wait_then_kill(pgid: i32, wait: Duration) -> StopOutcome {
    stop_groups(pgid, None, None, wait).await
}

async fn stop_groups(
    pgid: i32,
    mut child: Option<&mut Child>,
    first: Option<Signal>,
    wait: Duration,
) -> StopOutcome {
    let groups = match process_table_off_thread().await {
        Some(table) => descendant_groups(pgid, &table),
        None => vec![pgid],
    };
    if let Some(sig) = first {
        for &g in &groups {
            signal_group(g, sig);
        }
    }
    if wait_groups_gone(&groups, child.as_deref_mut(), wait).await {
        return StopOutcome::Terminated;
    }
    for &g in &groups {
        signal_group(g, Signal::SIGKILL);
    }
    if wait_groups_gone(&groups, child, Duration::from_secs(3)).await {
        StopOutcome::Killed
    } else {
        StopOutcome::Stuck
    }
}

async fn wait_groups_gone(groups: &[i32], mut child: Option<&mut Child>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    // The first group's leader (its pid is the pgid) usually goes first and last: its exit is
    // an event (a pidfd on Linux), so a graceful exit is seen at once; what else is left of
    // the groups is polled after it.
    if let Some(&leader) = groups.first() {
        let _ = tokio::time::timeout(limit, crate::pid_check::wait_exit(leader)).await;
        // The leader's parent (the reader task, woken by the same exit) usually reaps it
        // now; then a group with nobody else in it is gone without a scan of /proc.
        tokio::task::yield_now().await;
        if groups.iter().all(|&g| group_empty(g)) {
            return true;
        }
    }
    // A graceful exit usually takes a few milliseconds: look again soon, then less often.
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(c) = child.as_deref_mut() {
            let _ = c.try_wait();
        }
        if !groups_alive(groups, process_table_off_thread().await.as_deref()) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Finds `name` on `PATH`, as the shell would.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// True when `p` is a regular file with an execute bit.
pub fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_builds_a_readable_command_line() {
        let spec = ProcessSpec::new("go", vec!["build".into(), "./pkg".into()], "/p");
        assert_eq!(spec.display(), "go build ./pkg");
    }

    #[tokio::test]
    async fn stopping_a_group_kills_a_child_that_ignores_sigterm_and_its_grandchild() {
        let spec = ProcessSpec::new(
            "sh",
            vec![
                "-c".into(),
                "trap '' TERM; sleep 30 & sleep 30; wait".into(),
            ],
            "/",
        );
        let (mut child, pgid) = spawn(&spec).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(group_alive(pgid));
        let outcome = stop_group(pgid, Some(&mut child), Duration::from_millis(300)).await;
        assert_eq!(outcome, StopOutcome::Killed);
        assert!(!group_alive(pgid));
    }

    #[tokio::test]
    async fn a_group_is_empty_only_once_its_last_process_is_reaped() {
        let spec = ProcessSpec::new("sleep", vec!["30".into()], "/");
        let (mut child, pgid) = spawn(&spec).unwrap();
        assert!(!group_empty(pgid));
        signal_group(pgid, Signal::SIGKILL);
        let _ = child.wait().await;
        assert!(group_empty(pgid), "reaped: nothing is left");
        assert!(!group_empty(0), "0 is no group");
    }

    #[tokio::test]
    async fn a_cooperative_group_terminates() {
        let spec = ProcessSpec::new("sleep", vec!["30".into()], "/");
        let (mut child, pgid) = spawn(&spec).unwrap();
        let outcome = stop_group(pgid, Some(&mut child), Duration::from_secs(5)).await;
        assert_eq!(outcome, StopOutcome::Terminated);
        let status = child.wait().await.unwrap();
        assert_eq!(describe_exit(&status), "killed by SIGTERM");
    }

    #[test]
    fn parses_proc_stat_with_awkward_names() {
        let line =
            "4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 98765 1";
        let e = parse_proc_stat(line).unwrap();
        assert_eq!(
            e,
            ProcEntry {
                pid: 4242,
                ppid: 17,
                pgrp: 4242,
                zombie: false,
                start_time: 98765,
            }
        );
        assert!(parse_proc_stat("7 (x) Z 1 7 7").unwrap().zombie);
        assert_eq!(parse_proc_stat("7 (x) Z 1 7 7").unwrap().start_time, 0);
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn descendant_groups_follow_the_tree() {
        let p = |pid, ppid, pgrp| ProcEntry {
            pid,
            ppid,
            pgrp,
            zombie: false,
            start_time: 0,
        };
        let table = [
            p(10, 1, 10),
            p(11, 10, 11),
            p(12, 11, 11),
            p(13, 12, 13),
            p(20, 1, 20),
        ];
        assert_eq!(descendant_groups(10, &table), vec![10, 11, 13]);
    }

    #[tokio::test]
    async fn a_descendant_in_a_group_of_its_own_is_stopped_too() {
        // Like pnpm: the script runs in a new process group (setsid), below the leader.
        let spec = ProcessSpec::new(
            "sh",
            vec!["-c".into(), "setsid sleep 30 & wait".into()],
            "/",
        );
        let (mut child, pgid) = spawn(&spec).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let groups = descendant_groups(pgid, &process_table().unwrap());
        assert_eq!(groups.len(), 2, "{groups:?}");
        stop_group(pgid, Some(&mut child), Duration::from_secs(5)).await;
        assert!(!groups_alive(&groups, process_table().as_deref()));
    }

    #[test]
    fn finds_sh_on_path() {
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("definitely-not-a-tool-xyz").is_none());
    }
}
