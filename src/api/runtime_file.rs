//! Discovery: `<state>/run/ovdev-<pid>.json` (mode 0600) says where a running instance's API
//! listens and with which token. Written only once the server listens, rewritten when the
//! set of plugins changes, removed at shutdown; a file whose process is gone (dead pid, or a
//! recycled pid with another start time) is stale, ignored and removed.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use ovdev_actors::process::proc_entry;
use ovdev_actors::untrusted_file::{create_fresh, read_untrusted};
use serde::{Deserialize, Serialize};

/// The most a runtime file may hold (a few hundred bytes plus the plugin ids).
const MAX_RUNTIME_FILE_BYTES: u64 = 1024 * 1024;

/// The content of a runtime file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct RuntimeInfo {
    pub pid: i32,
    /// The process's start time (clock ticks since boot, `/proc/<pid>/stat` field 22): a
    /// recycled pid has another.
    #[serde(rename = "startTime")]
    pub start_time: u64,
    /// ovdev's version.
    pub version: String,
    /// The state directory the instance runs on.
    #[serde(rename = "stateDir")]
    pub state_dir: String,
    /// The unix socket the API listens on.
    pub socket: String,
    /// `http://127.0.0.1:PORT` when the API also listens on TCP.
    pub url: Option<String>,
    /// The token every request needs (`Authorization: Bearer <token>`).
    pub token: String,
    /// The plugins the instance runs or is attached to.
    pub plugins: Vec<String>,
}

/// The run directory of `state_dir`.
pub fn run_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("run")
}

/// The runtime file of process `pid`.
pub fn runtime_file(state_dir: &Path, pid: u32) -> PathBuf {
    run_dir(state_dir).join(format!("ovdev-{pid}.json"))
}

/// The API socket of process `pid`.
pub fn socket_path(state_dir: &Path, pid: u32) -> PathBuf {
    run_dir(state_dir).join(format!("ovdev-{pid}.sock"))
}

/// This process's start time, as recorded in its runtime file.
pub fn own_start_time() -> u64 {
    proc_entry(std::process::id() as i32).map_or(0, |e| e.start_time)
}

/// Writes `info` to `path` atomically (a fresh temporary, mode 0600, then one rename).
pub fn write(path: &Path, info: &RuntimeInfo) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = create_fresh(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Whether a recorded process still runs.
fn alive(info: &RuntimeInfo) -> bool {
    proc_entry(info.pid).is_some_and(|e| !e.zombie && e.start_time == info.start_time)
}

/// The live instances on `state_dir`, by pid; stale runtime files (and the sockets and
/// temporaries of their processes) are removed. Files not owned by this user are ignored.
pub fn live_instances(state_dir: &Path) -> Vec<RuntimeInfo> {
    let dir = run_dir(state_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let uid = nix::unistd::geteuid().as_raw();
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("ovdev-")
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        if entry.metadata().map_or(true, |m| m.uid() != uid) {
            continue;
        }
        let info = read_untrusted(&path, MAX_RUNTIME_FILE_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice::<RuntimeInfo>(&b).ok());
        match info {
            Some(info) if info.pid as u32 == pid && alive(&info) => found.push(info),
            Some(info) if info.pid as u32 == pid || !pid_alive(pid) => {
                remove_stale(state_dir, pid);
            }
            None if !pid_alive(pid) => remove_stale(state_dir, pid),
            _ => {}
        }
    }
    found.sort_by_key(|i| i.pid);
    found
}

fn pid_alive(pid: u32) -> bool {
    proc_entry(pid as i32).is_some_and(|e| !e.zombie)
}

/// Removes what a gone process `pid` left: its runtime file, socket and temporary (names
/// derived from the pid, never taken from the file).
fn remove_stale(state_dir: &Path, pid: u32) {
    let file = runtime_file(state_dir, pid);
    let _ = std::fs::remove_file(file.with_extension("json.tmp"));
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(socket_path(state_dir, pid));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: i32, start_time: u64) -> RuntimeInfo {
        RuntimeInfo {
            pid,
            start_time,
            version: "0".into(),
            state_dir: "/s".into(),
            socket: "/s/run/x.sock".into(),
            url: None,
            token: "t".into(),
            plugins: vec!["a".into()],
        }
    }

    #[test]
    fn live_files_are_found_and_stale_ones_removed() {
        let state = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(run_dir(state.path())).unwrap();
        let me = std::process::id();
        let own = info(me as i32, own_start_time());
        write(&runtime_file(state.path(), me), &own).unwrap();
        let mode = std::fs::metadata(runtime_file(state.path(), me))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The same pid with another start time: a recycled pid.
        let recycled_pid = 1;
        write(&runtime_file(state.path(), recycled_pid), &info(1, 42)).unwrap();
        // A pid that runs nothing, with its socket.
        let dead = 999_999;
        write(&runtime_file(state.path(), dead), &info(dead as i32, 1)).unwrap();
        std::fs::write(socket_path(state.path(), dead), "").unwrap();
        std::fs::write(run_dir(state.path()).join("ovdev-999998.json"), "{not json").unwrap();

        assert_eq!(live_instances(state.path()), vec![own]);
        assert!(!runtime_file(state.path(), dead).exists());
        assert!(!socket_path(state.path(), dead).exists());
        assert!(!runtime_file(state.path(), recycled_pid).exists());
        assert!(!run_dir(state.path()).join("ovdev-999998.json").exists());
    }
}
