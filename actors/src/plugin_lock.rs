//! One owner per plugin: an exclusive `flock` on `<state>/plugins/<id>/.lock` while an engine
//! manages the plugin's dev server. The kernel releases it when the process dies, so a crash
//! never leaves a stale lock; the file holds the owner's pid for the error message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why a plugin could not be locked for this engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginLockError {
    /// Another process manages the plugin with the same state directory.
    #[error("plugin `{id}` is already managed by another ovdev or IDE ({holder}) with the state directory {state_dir}; stop it there first, or let this one attach to the plugin it runs")]
    Held {
        id: String,
        holder: String,
        state_dir: PathBuf,
    },
    /// The lock file cannot be created or locked.
    #[error("cannot lock plugin `{id}` at `{path}`: {reason}")]
    Unusable {
        id: String,
        path: PathBuf,
        reason: String,
    },
}

/// Held while this engine manages the plugin; dropping it releases the plugin.
#[derive(Debug)]
pub struct PluginLock {
    _file: Flock<File>,
}

impl PluginLock {
    /// Locks plugin `id` under `state_dir`, or says who holds it.
    pub fn acquire(state_dir: &Path, id: &str) -> Result<Self, PluginLockError> {
        let dir = crate::config::plugin_dir(state_dir, id);
        let path = dir.join(".lock");
        let unusable = |reason: String| PluginLockError::Unusable {
            id: id.to_string(),
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(&dir).map_err(|e| unusable(e.to_string()))?;
        // Not following a link and not blocking on a FIFO someone put there.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| unusable(format!("{e}; remove it if it is not a regular file")))?;
        let meta = file.metadata().map_err(|e| unusable(e.to_string()))?;
        if !meta.is_file() {
            return Err(unusable("it is not a regular file; remove it".into()));
        }
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                return Err(PluginLockError::Held {
                    id: id.to_string(),
                    holder: holder_of(&mut file),
                    state_dir: state_dir.to_path_buf(),
                })
            }
            Err((_, errno)) => return Err(unusable(errno.desc().to_string())),
        };
        let pid = format!("{}\n", std::process::id());
        let written = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(pid.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(plugin = id, error = %e, "cannot record this process in the plugin's lock file");
        }
        Ok(Self { _file: lock })
    }
}

/// "pid N" from the lock file, when it says so.
fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.take(32).read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "pid unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_with_the_holders_pid_until_the_first_lets_go() {
        let state = tempfile::tempdir().unwrap();
        let first = PluginLock::acquire(state.path(), "p").unwrap();
        // A second open file description, as another process would have.
        let err = PluginLock::acquire(state.path(), "p").unwrap_err();
        assert!(
            matches!(&err, PluginLockError::Held { holder, .. } if *holder == format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(
            err.to_string().contains("already managed by another ovdev"),
            "{err}"
        );
        PluginLock::acquire(state.path(), "other").unwrap();
        drop(first);
        PluginLock::acquire(state.path(), "p").unwrap();
    }

    #[test]
    fn special_files_and_links_at_the_lock_path_are_refused_without_blocking() {
        let state = tempfile::tempdir().unwrap();
        let dir = crate::config::plugin_dir(state.path(), "fifo");
        std::fs::create_dir_all(&dir).unwrap();
        nix::unistd::mkfifo(
            &dir.join(".lock"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let err = PluginLock::acquire(state.path(), "fifo").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir = crate::config::plugin_dir(state.path(), "link");
        std::fs::create_dir_all(&dir).unwrap();
        let target = state.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        std::os::unix::fs::symlink(&target, dir.join(".lock")).unwrap();
        let err = PluginLock::acquire(state.path(), "link").unwrap_err();
        assert!(matches!(err, PluginLockError::Unusable { .. }), "{err}");
    }
}
