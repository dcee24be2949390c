//! Is the process behind a `.devinfo` alive, and is it still the plugin that wrote it?
//!
//! A PID can be reused by an unrelated process. A `.devinfo` written by the plugin carries its
//! `startedAt`, which is after the process started; a process that started later than that
//! (beyond a tolerance) cannot be the plugin.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Slack between a process's start and its `startedAt` (clock granularity, rounding).
pub const START_TOLERANCE: Duration = Duration::from_secs(2);

/// What a `.devinfo`'s PID refers to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidVerdict {
    /// A live process that may be the plugin.
    Alive,
    /// No such process (or only a zombie).
    Dead,
    /// A live process that started after the plugin wrote its file: not the plugin.
    Reused,
}

/// Judges `started` (the process's start time, `None` when unknown) against the file's
/// `started_at`. Pure.
pub fn judge(
    alive: bool,
    started: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
) -> PidVerdict {
    if !alive {
        return PidVerdict::Dead;
    }
    match (started, started_at) {
        (Some(process), Some(file)) => {
            let slack = chrono::Duration::from_std(START_TOLERANCE).unwrap_or_default();
            if process > file + slack {
                PidVerdict::Reused
            } else {
                PidVerdict::Alive
            }
        }
        _ => PidVerdict::Alive,
    }
}

/// When process `pid` started, from `/proc` (Linux); `None` elsewhere or if it is gone.
pub fn process_start(pid: i32) -> Option<DateTime<Utc>> {
    let entry = crate::process::proc_entry(pid)?;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let boot: i64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf only reads a system setting.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    let millis = entry.start_time.checked_mul(1000)? / ticks;
    DateTime::from_timestamp(boot, 0).map(|b| b + chrono::Duration::milliseconds(millis as i64))
}

/// True while `pid` is a live process (zombies are dead). Never signals anything: on Linux it
/// reads `/proc`; elsewhere `kill(pid, 0)`, which only checks.
pub fn alive(pid: i32) -> bool {
    if std::path::Path::new("/proc/self/stat").exists() {
        return crate::process::proc_entry(pid).is_some_and(|e| !e.zombie);
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Judges the process behind a `.devinfo` now.
pub fn check(pid: i32, started_at: Option<DateTime<Utc>>) -> PidVerdict {
    judge(alive(pid), process_start(pid), started_at)
}

/// Resolves when process `pid` exits: a Linux pidfd (at once), else polling every second.
pub async fn wait_exit(pid: i32) {
    #[cfg(target_os = "linux")]
    if let Some(fd) = pidfd_open(pid) {
        // SAFETY: the AsyncFd owns the pidfd for as long as it is registered; nothing else
        // uses or closes it.
        if let Ok(async_fd) = unsafe { tokio::io::unix::AsyncFd::register(fd) } {
            let _ = async_fd.readable().await;
            return;
        }
    }
    while alive(pid) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(target_os = "linux")]
fn pidfd_open(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new file descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let t = Utc::now();
        assert_eq!(judge(false, Some(t), Some(t)), PidVerdict::Dead);
        assert_eq!(judge(true, None, Some(t)), PidVerdict::Alive);
        assert_eq!(
            judge(true, Some(t - chrono::Duration::seconds(60)), Some(t)),
            PidVerdict::Alive
        );
        assert_eq!(
            judge(true, Some(t + chrono::Duration::seconds(1)), Some(t)),
            PidVerdict::Alive
        );
        assert_eq!(
            judge(true, Some(t + chrono::Duration::seconds(30)), Some(t)),
            PidVerdict::Reused
        );
    }

    #[test]
    fn this_process_started_recently_and_is_alive() {
        let me = std::process::id() as i32;
        let started = process_start(me).expect("start time on Linux");
        assert!(started <= Utc::now());
        assert!(Utc::now() - started < chrono::Duration::hours(2));
        assert_eq!(check(me, Some(Utc::now())), PidVerdict::Alive);
        // A file older than this process: whoever has this PID now is not its writer.
        assert_eq!(
            check(me, Some(started - chrono::Duration::minutes(5))),
            PidVerdict::Reused
        );
    }

    #[tokio::test]
    async fn wait_exit_notices_an_exit_at_once() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let waiter = tokio::spawn(async move { wait_exit(pid).await });
        let _ = child.wait();
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
