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
        cmd
    }
}

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

/// True while any process of group `pgid` exists (zombies included).
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 0 {
        return false;
    }
    !matches!(killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
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

/// Stops group `pgid`: SIGTERM, up to `grace` for the group to go away, then SIGKILL.
///
/// `child` (the group leader, if we own it) is reaped while waiting, so it does not linger as
/// a zombie that keeps the group alive. Returns once the whole group is gone, or reports
/// [`StopOutcome::Stuck`] after SIGKILL and three more seconds.
pub async fn stop_group(pgid: i32, mut child: Option<&mut Child>, grace: Duration) -> StopOutcome {
    signal_group(pgid, Signal::SIGTERM);
    if wait_group_gone(pgid, child.as_deref_mut(), grace).await {
        return StopOutcome::Terminated;
    }
    signal_group(pgid, Signal::SIGKILL);
    if wait_group_gone(pgid, child, Duration::from_secs(3)).await {
        StopOutcome::Killed
    } else {
        StopOutcome::Stuck
    }
}

async fn wait_group_gone(pgid: i32, mut child: Option<&mut Child>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(c) = child.as_deref_mut() {
            let _ = c.try_wait();
        }
        if !group_alive(pgid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Finds `name` on `PATH`, as the shell would.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(p: &std::path::Path) -> bool {
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
    async fn a_cooperative_group_terminates() {
        let spec = ProcessSpec::new("sleep", vec!["30".into()], "/");
        let (mut child, pgid) = spawn(&spec).unwrap();
        let outcome = stop_group(pgid, Some(&mut child), Duration::from_secs(5)).await;
        assert_eq!(outcome, StopOutcome::Terminated);
        let status = child.wait().await.unwrap();
        assert_eq!(describe_exit(&status), "killed by SIGTERM");
    }

    #[test]
    fn finds_sh_on_path() {
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("definitely-not-a-tool-xyz").is_none());
    }
}
