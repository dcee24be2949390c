//! The record of every process group the engine spawned, so that nothing outlives it.
//!
//! - A file `<state>/run/ovdev-<pid>.procs.json` lists the live groups (leader pid, pgid, leader
//!   start time, command). A later engine start kills the groups of engines that are gone,
//!   but only when the leader's start time still matches: a recycled PID is never touched.
//! - A watchdog process (a small `sh` loop in a process group of its own, ignoring SIGINT,
//!   SIGTERM and SIGHUP) is told each group as it comes and goes through a pipe. When the
//!   engine dies, even by SIGKILL, the pipe closes and the watchdog kills every group still
//!   listed. `PR_SET_PDEATHSIG` alone would reach only the direct children.
//!
//! The run file is written by a thread of its own, at most every 10 ms: a burst of spawns
//! (100 plugins starting) costs one write, not one per spawn, and no actor thread waits on
//! the file system. The watchdog, told at once, covers the moments before a write.

use crate::untrusted_file::{create_fresh, read_untrusted};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::process::Child;

use crate::process::{
    proc_entry, signal_group, spawn, stop_group, ProcessSpec, SpawnError, StopOutcome,
};

/// One spawned process group, as recorded in the run file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The group leader (the process ovdev spawned).
    pub pid: i32,
    pub pgid: i32,
    /// The leader's start time (clock ticks since boot); `None` where it cannot be read.
    #[serde(rename = "startTime")]
    pub start_time: Option<u64>,
    pub command: String,
}

/// The run file of one engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFile {
    /// The engine's own process.
    pub owner: GroupRecord,
    pub groups: Vec<GroupRecord>,
}

const WATCHDOG_SCRIPT: &str = r#"trap '' INT TERM HUP
groups=" "
while IFS= read -r line; do
  case "$line" in
    +*) groups="$groups${line#+} " ;;
    -*) keep=" "; for g in $groups; do [ "$g" = "${line#-}" ] || keep="$keep$g "; done; groups=$keep ;;
  esac
done
[ "$groups" = " " ] && exit 0
for g in $groups; do kill -TERM -$g 2>/dev/null; done
sleep 0.5
for g in $groups; do kill -KILL -$g 2>/dev/null; done
"#;

struct Inner {
    file: Option<PathBuf>,
    owner: GroupRecord,
    groups: Vec<GroupRecord>,
    /// Leaders forgotten lately, with when: their exit status may still be on its way to the
    /// task that waits for them, so an orphan reaper must leave their zombies alone.
    forgotten: std::collections::VecDeque<(i32, std::time::Instant)>,
    watchdog: Option<(std::process::Child, ChildStdin)>,
    /// Bumped on every change of `groups`; the writer catches up with it.
    version: u64,
    written: u64,
    /// Run-file writes done (tests check that bursts coalesce).
    writes: u64,
    closed: bool,
}

/// How long a forgotten leader still counts as ours ([`ProcessRegistry::spawned_by_us`]).
const FORGOTTEN_FOR: Duration = Duration::from_secs(30);

/// The largest run file read back (a record per process group; far beyond any real one).
/// The end of a process record's name, `ovdev-<pid>.procs.json` (`ovdev-<pid>.json` is the API's runtime file).
pub const RUN_FILE_SUFFIX: &str = ".procs.json";
const MAX_RUN_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// See the module doc. Shared by every actor of one engine.
pub struct ProcessRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the run-file writer.
    changed: Condvar,
    /// Held while the run file is written or removed, so a close never races a write.
    io: Mutex<()>,
}

/// How long the writer waits for more changes before it writes the run file.
const WRITE_COALESCE: Duration = Duration::from_millis(10);

impl ProcessRegistry {
    /// A registry writing `<state>/run/ovdev-<pid>.procs.json`, with a watchdog when `watchdog`.
    /// Problems (an unwritable state directory, no `sh`) are logged; the registry then works
    /// with what it has.
    pub fn open(state_dir: &Path, watchdog: bool) -> Self {
        let pid = std::process::id() as i32;
        let owner = GroupRecord {
            pid,
            pgid: nix::unistd::getpgrp().as_raw(),
            start_time: proc_entry(pid).map(|e| e.start_time),
            command: "ovdev engine".into(),
        };
        let dir = state_dir.join("run");
        let file = match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(dir.join(format!("ovdev-{pid}{RUN_FILE_SUFFIX}"))),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot record spawned processes");
                None
            }
        };
        let watchdog = if watchdog { start_watchdog() } else { None };
        let has_file = file.is_some();
        let registry = Self {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    file,
                    owner,
                    groups: Vec::new(),
                    forgotten: std::collections::VecDeque::new(),
                    watchdog,
                    version: 1,
                    written: 0,
                    writes: 0,
                    closed: false,
                }),
                changed: Condvar::new(),
                io: Mutex::new(()),
            }),
        };
        if has_file {
            // The engine's own record is there before anything is spawned.
            write_run_file(&registry.shared);
            let shared = registry.shared.clone();
            let started = std::thread::Builder::new()
                .name("ovdev-runfile".into())
                .spawn(move || run_file_writer(&shared));
            if let Err(e) = started {
                tracing::warn!(error = %e, "cannot start the run file writer; the record stays as it was");
            }
        }
        registry
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        lock(&self.shared.inner, f)
    }

    /// Marks the groups changed: the writer records them shortly.
    fn changed(inner: &mut Inner, changed: &Condvar) {
        inner.version += 1;
        changed.notify_one();
    }

    /// Spawns `spec` (see [`spawn`]) and records its group.
    pub fn spawn(&self, spec: &ProcessSpec) -> Result<(Child, i32), SpawnError> {
        let (child, pgid) = spawn(spec)?;
        let record = GroupRecord {
            pid: pgid,
            pgid,
            start_time: proc_entry(pgid).map(|e| e.start_time),
            command: spec.display(),
        };
        let changed = &self.shared.changed;
        self.with(|inner| {
            tell_watchdog(inner, &format!("+{pgid}"));
            inner.groups.push(record);
            Self::changed(inner, changed);
        });
        Ok((child, pgid))
    }

    /// Forgets a group that is gone.
    pub fn forget(&self, pgid: i32) {
        let changed = &self.shared.changed;
        self.with(|inner| {
            if inner.groups.iter().any(|g| g.pgid == pgid) {
                inner.groups.retain(|g| g.pgid != pgid);
                inner.forgotten.push_back((pgid, std::time::Instant::now()));
                tell_watchdog(inner, &format!("-{pgid}"));
                Self::changed(inner, changed);
            }
        });
    }

    /// Writes the run file now if it is behind (tests, and anyone who must read it at once).
    pub fn sync_run_file(&self) {
        write_run_file(&self.shared);
    }

    /// Stops group `pgid` (and its descendants' groups; see [`stop_group`]) and forgets it.
    pub async fn stop(&self, pgid: i32, grace: Duration) -> StopOutcome {
        let outcome = stop_group(pgid, None, grace).await;
        if outcome != StopOutcome::Stuck {
            self.forget(pgid);
        }
        outcome
    }

    /// Waits up to `wait` for `pgid` to exit by itself, then SIGKILLs it; forgets it.
    pub async fn wait_then_kill(&self, pgid: i32, wait: Duration) -> StopOutcome {
        let outcome = crate::process::wait_then_kill(pgid, wait).await;
        if outcome != StopOutcome::Stuck {
            self.forget(pgid);
        }
        outcome
    }

    /// Forgets `pgid` if nothing of it is left, after its leader exited on its own.
    pub fn forget_if_gone(&self, pgid: i32) {
        if !crate::process::group_alive(pgid) {
            self.forget(pgid);
        }
    }

    /// True when `pid` is a group leader this registry spawned and still lists.
    pub fn is_leader(&self, pid: i32) -> bool {
        self.with(|inner| inner.groups.iter().any(|g| g.pid == pid))
    }

    /// True when `pid` is a leader this registry spawned: listed, or forgotten in the last
    /// 30 s. Its zombie is reaped by the task that waits for it, which logs its exit status;
    /// an orphan reaper that took it first would lose that status.
    pub fn spawned_by_us(&self, pid: i32) -> bool {
        self.with(|inner| {
            while inner
                .forgotten
                .front()
                .is_some_and(|(_, at)| at.elapsed() > FORGOTTEN_FOR)
            {
                inner.forgotten.pop_front();
            }
            inner.groups.iter().any(|g| g.pid == pid)
                || inner.forgotten.iter().any(|(p, _)| *p == pid)
        })
    }

    /// The pids the engine itself should not treat as strays (its watchdog).
    pub fn watchdog_pid(&self) -> Option<i32> {
        self.with(|inner| inner.watchdog.as_ref().map(|(c, _)| c.id() as i32))
    }

    /// Clean shutdown: closes the watchdog's pipe (it kills whatever is still listed, which
    /// should be nothing) and removes the run file.
    pub fn close(&self) {
        let (file, watchdog) = self.with(|inner| {
            inner.closed = true;
            (inner.file.take(), inner.watchdog.take())
        });
        self.shared.changed.notify_one();
        if let Some(file) = file {
            let _guard = self.shared.io.lock().unwrap_or_else(|p| p.into_inner());
            let _ = std::fs::remove_file(file);
        }
        if let Some((mut child, stdin)) = watchdog {
            drop(stdin);
            // Reap it off the caller's thread; it exits at once when nothing is listed.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }
}

impl Drop for ProcessRegistry {
    fn drop(&mut self) {
        self.close();
    }
}

fn start_watchdog() -> Option<(std::process::Child, ChildStdin)> {
    use std::os::unix::process::CommandExt;
    // POSIX puts `sh` at /bin/sh; a PATH search costs an execve per PATH entry before it.
    let shell = if Path::new("/bin/sh").exists() {
        Path::new("/bin/sh")
    } else {
        Path::new("sh")
    };
    let spawned = std::process::Command::new(shell)
        .args(["-c", WATCHDOG_SCRIPT])
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: a Ctrl-C at the terminal must not take it down before ovdev.
        .process_group(0)
        .spawn();
    match spawned {
        Ok(mut child) => {
            let stdin = child.stdin.take()?;
            Some((child, stdin))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the watchdog (sh); children may outlive a killed ovdev");
            None
        }
    }
}

fn tell_watchdog(inner: &mut Inner, line: &str) {
    if let Some((_, stdin)) = inner.watchdog.as_mut() {
        if let Err(e) = writeln!(stdin, "{line}") {
            tracing::warn!(error = %e, "the watchdog is gone; children may outlive a killed ovdev");
            inner.watchdog = None;
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update; the data is plain.
fn lock<T, R>(m: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
    let mut guard = m.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

/// The writer thread: waits for changes, lets a burst settle, writes, until closed.
fn run_file_writer(shared: &Shared) {
    loop {
        {
            let mut inner = shared.inner.lock().unwrap_or_else(|p| p.into_inner());
            while !inner.closed && inner.written == inner.version {
                inner = shared
                    .changed
                    .wait(inner)
                    .unwrap_or_else(|p| p.into_inner());
            }
            if inner.closed {
                return;
            }
        }
        std::thread::sleep(WRITE_COALESCE);
        write_run_file(shared);
    }
}

/// Writes the current record if it changed since the last write (atomically: a fresh
/// temporary file, then a rename). Never after a close.
fn write_run_file(shared: &Shared) {
    let _io = shared.io.lock().unwrap_or_else(|p| p.into_inner());
    let snapshot = lock(&shared.inner, |inner| {
        if inner.closed || inner.written == inner.version {
            return None;
        }
        let file = inner.file.clone()?;
        let run = RunFile {
            owner: inner.owner.clone(),
            groups: inner.groups.clone(),
        };
        Some((file, run, inner.version))
    });
    let Some((file, run, version)) = snapshot else {
        return;
    };
    let result = serde_json::to_vec_pretty(&run)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            let tmp = file.with_extension("json.tmp");
            create_fresh(&tmp)?.write_all(&bytes)?;
            std::fs::rename(&tmp, &file)
        });
    match result {
        Ok(()) => lock(&shared.inner, |inner| {
            inner.written = inner.written.max(version);
            inner.writes += 1;
        }),
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "cannot write the process record");
            // Not retried in a loop: the next change tries again.
            lock(&shared.inner, |inner| {
                inner.written = inner.written.max(version)
            });
        }
    }
}

/// True when `record`'s leader still runs and is the same process (same start time).
fn same_process(record: &GroupRecord) -> bool {
    match (record.start_time, proc_entry(record.pid)) {
        (Some(recorded), Some(now)) => !now.zombie && now.start_time == recorded,
        _ => false,
    }
}

/// Kills the groups left by engines that are gone (their run files under `<state>/run`),
/// checking each leader's start time first, and removes their run files. Returns what was
/// killed, for the log. Blocking: call it before the engine starts.
pub fn kill_leftovers(state_dir: &Path) -> Vec<String> {
    let mut killed = Vec::new();
    let Ok(entries) = std::fs::read_dir(state_dir.join("run")) else {
        return killed;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // A temporary left by an engine killed mid-write: removed once that engine is gone.
        if let Some(pid) = name
            .strip_prefix("ovdev-")
            .and_then(|n| n.strip_suffix(".procs.json.tmp"))
            .and_then(|n| n.parse::<i32>().ok())
        {
            if pid != std::process::id() as i32 && proc_entry(pid).is_none() {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        if !(name.starts_with("ovdev-") && name.ends_with(RUN_FILE_SUFFIX)) {
            continue;
        }
        let bytes = match read_untrusted(&path, MAX_RUN_FILE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.is_missing() => continue,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a process record");
                continue;
            }
        };
        let run: RunFile = match serde_json::from_slice(&bytes) {
            Ok(run) => run,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "ignoring an unreadable process record");
                continue;
            }
        };
        if same_process(&run.owner) {
            continue; // a live engine (another IDE window, another ovdev)
        }
        for g in &run.groups {
            if same_process(g) {
                signal_group(g.pgid, Signal::SIGKILL);
                killed.push(format!(
                    "{} (pid {}, process group {})",
                    g.command, g.pid, g.pgid
                ));
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_groups_in_the_run_file_and_forgets_them() {
        let state = tempfile::tempdir().unwrap();
        let reg = ProcessRegistry::open(state.path(), false);
        let file = state
            .path()
            .join(format!("run/ovdev-{}.procs.json", std::process::id()));
        let (mut child, pgid) = reg
            .spawn(&ProcessSpec::new("sleep", vec!["30".into()], "/"))
            .unwrap();
        // Written by the writer thread within moments; at once on request.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let run = loop {
            let run: RunFile = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            if !run.groups.is_empty() || std::time::Instant::now() > deadline {
                break run;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(run.groups.len(), 1);
        assert_eq!(run.groups[0].pgid, pgid);
        assert_eq!(run.groups[0].command, "sleep 30");
        assert!(run.groups[0].start_time.is_some());
        assert!(reg.is_leader(pgid));
        reg.stop(pgid, Duration::from_secs(2)).await;
        let _ = child.wait().await;
        reg.sync_run_file();
        let run: RunFile = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert!(run.groups.is_empty());
        // Forgotten, but still ours for an orphan reaper: its waiter reaps it.
        assert!(!reg.is_leader(pgid));
        assert!(reg.spawned_by_us(pgid));
        assert!(!reg.spawned_by_us(1));
        reg.close();
        assert!(!file.exists(), "a clean close removes the run file");
    }

    fn leftover_file(state: &Path, owner: GroupRecord, groups: Vec<GroupRecord>) {
        std::fs::create_dir_all(state.join("run")).unwrap();
        let run = RunFile { owner, groups };
        std::fs::write(
            state.join("run/ovdev-999999.procs.json"),
            serde_json::to_vec(&run).unwrap(),
        )
        .unwrap();
    }

    fn dead_owner() -> GroupRecord {
        GroupRecord {
            pid: 999_999,
            pgid: 999_999,
            start_time: Some(1),
            command: "ovdev engine".into(),
        }
    }

    #[test]
    fn leftovers_are_killed_only_when_the_start_time_matches() {
        let state = tempfile::tempdir().unwrap();
        let mut real = std::process::Command::new("sleep");
        std::os::unix::process::CommandExt::process_group(&mut real, 0);
        let mut real = real.arg("30").spawn().unwrap();
        let mut recycled = std::process::Command::new("sleep");
        std::os::unix::process::CommandExt::process_group(&mut recycled, 0);
        let mut recycled = recycled.arg("30").spawn().unwrap();
        let record = |c: &std::process::Child, start: Option<u64>| GroupRecord {
            pid: c.id() as i32,
            pgid: c.id() as i32,
            start_time: start,
            command: "sleep 30".into(),
        };
        let real_start = proc_entry(real.id() as i32).unwrap().start_time;
        let recycled_start = proc_entry(recycled.id() as i32).unwrap().start_time;
        leftover_file(
            state.path(),
            dead_owner(),
            vec![
                record(&real, Some(real_start)),
                record(&recycled, Some(recycled_start + 12345)),
            ],
        );
        let killed = kill_leftovers(state.path());
        assert_eq!(killed.len(), 1, "{killed:?}");
        assert!(killed[0].contains(&format!("pid {}", real.id())));
        let status = real.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert_eq!(
            recycled.try_wait().unwrap(),
            None,
            "a recycled pid is never touched"
        );
        let _ = recycled.kill();
        let _ = recycled.wait();
        assert!(!state.path().join("run/ovdev-999999.procs.json").exists());
    }

    #[test]
    fn a_live_engine_keeps_its_processes() {
        let state = tempfile::tempdir().unwrap();
        let me = std::process::id() as i32;
        let owner = GroupRecord {
            pid: me,
            pgid: me,
            start_time: proc_entry(me).map(|e| e.start_time),
            command: "ovdev engine".into(),
        };
        leftover_file(state.path(), owner, vec![]);
        assert!(kill_leftovers(state.path()).is_empty());
        assert!(state.path().join("run/ovdev-999999.procs.json").exists());
    }

    #[tokio::test]
    async fn the_watchdog_kills_listed_groups_when_its_pipe_closes() {
        let state = tempfile::tempdir().unwrap();
        let reg = ProcessRegistry::open(state.path(), true);
        assert!(reg.watchdog_pid().is_some());
        let (_child, pgid) = reg
            .spawn(&ProcessSpec::new(
                "sh",
                vec![
                    "-c".into(),
                    "trap '' TERM; sleep 30 & sleep 30; wait".into(),
                ],
                "/",
            ))
            .unwrap();
        let (mut other, other_pgid) = reg
            .spawn(&ProcessSpec::new("sleep", vec!["30".into()], "/"))
            .unwrap();
        reg.stop(other_pgid, Duration::from_secs(2)).await;
        let _ = other.wait().await;
        // What a SIGKILL of ovdev does to the pipe: it closes without a goodbye.
        reg.with(|inner| inner.watchdog.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while crate::process::group_alive(pgid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the watchdog did not kill the group"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[test]
    fn a_burst_of_spawns_is_recorded_in_few_writes_and_nothing_is_written_after_close() {
        let state = tempfile::tempdir().unwrap();
        let reg = ProcessRegistry::open(state.path(), false);
        let file = state
            .path()
            .join(format!("run/ovdev-{}.procs.json", std::process::id()));
        let changed = &reg.shared.changed;
        for pgid in 0..200 {
            reg.with(|inner| {
                inner.groups.push(GroupRecord {
                    pid: 1_000_000 + pgid,
                    pgid: 1_000_000 + pgid,
                    start_time: None,
                    command: "burst".into(),
                });
                ProcessRegistry::changed(inner, changed);
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while reg.with(|inner| inner.written != inner.version) {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never caught up"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let run: RunFile = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(run.groups.len(), 200);
        let writes = reg.with(|inner| inner.writes);
        assert!(writes <= 5, "{writes} writes for a burst of 200 changes");
        reg.close();
        reg.with(|inner| inner.version += 1);
        reg.sync_run_file();
        std::thread::sleep(Duration::from_millis(50));
        assert!(!file.exists(), "nothing is written after a close");
    }

    #[test]
    fn temporaries_of_dead_engines_are_removed_and_live_ones_kept() {
        let state = tempfile::tempdir().unwrap();
        let run = state.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        let dead = run.join("ovdev-999999.procs.json.tmp");
        let live = run.join(format!("ovdev-{}.procs.json.tmp", std::process::id()));
        std::fs::write(&dead, "{").unwrap();
        std::fs::write(&live, "{").unwrap();
        kill_leftovers(state.path());
        assert!(!dead.exists(), "a dead engine's temporary is removed");
        assert!(live.exists(), "a live engine's temporary is left to it");
    }
}
