//! `ExternalWatcherActor`: one per engine. Watches `<state>/plugins/` and every plugin
//! directory in it (including ones created later) for `.devinfo` files being created,
//! written, renamed into place, removed or renamed away; scans what is there at start, so an
//! IDE restart reattaches to plugins that still run. Every file is validated
//! (`devinfo::validate_devinfo`) and its PID checked (`pid_check`) before the supervisor hears
//! of it; rejections are logged with their reason, and stale files are removed, but only if
//! they still hold the content that was judged stale.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix::prelude::*;
use notify::Event;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::devinfo::{validate_devinfo, ValidDevInfo, MAX_DEVINFO_BYTES};
use crate::dir_watch::DirWatches;
use crate::pid_check::{check, PidVerdict};
use crate::plugin_id::validate_plugin_id;
use crate::untrusted_file::read_untrusted;

/// Coalesces the several events of one write-and-rename.
const SETTLE: Duration = Duration::from_millis(30);

/// What the watcher found for a plugin: a valid `.devinfo` of a live process (with the bytes
/// it had), or nothing usable.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct DevinfoSeen {
    pub plugin_id: String,
    pub found: Option<(ValidDevInfo, Vec<u8>)>,
}

/// See the module doc.
pub struct ExternalWatcherActor {
    plugins_dir: PathBuf,
    parent: Recipient<DevinfoSeen>,
    watches: DirWatches,
    pending: HashMap<String, SpawnHandle>,
}

impl ExternalWatcherActor {
    /// A watcher of `<state>/plugins` reporting to `parent`.
    pub fn new(plugins_dir: PathBuf, parent: Recipient<DevinfoSeen>) -> Self {
        Self {
            plugins_dir,
            parent,
            watches: DirWatches::default(),
            pending: HashMap::new(),
        }
    }

    fn watch(&mut self, dir: &Path) {
        if let Err(e) = self.watches.add(dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch for .devinfo files");
        }
    }

    fn schedule(&mut self, id: String, ctx: &mut Context<Self>) {
        if let Some(h) = self.pending.remove(&id) {
            ctx.cancel_future(h);
        }
        let key = id.clone();
        let handle = ctx.run_later(SETTLE, move |act, _| {
            act.pending.remove(&key);
            let found = act.evaluate(&key);
            act.parent.do_send(DevinfoSeen {
                plugin_id: key,
                found,
            });
        });
        self.pending.insert(id, handle);
    }

    /// Reads, validates and PID-checks `<plugins>/<id>/.devinfo`.
    fn evaluate(&self, id: &str) -> Option<(ValidDevInfo, Vec<u8>)> {
        match live_devinfo(&self.plugins_dir, id) {
            Ok(found) => Some(found),
            Err(DevinfoProblem::Missing) => None,
            Err(DevinfoProblem::Rejected(why)) => {
                tracing::warn!(plugin = id, "ignoring its .devinfo: {why}");
                None
            }
        }
    }
}

/// Why no attachment can be made from a plugin's `.devinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevinfoProblem {
    /// There is no `.devinfo` (it was removed or renamed away).
    Missing,
    /// It is invalid or stale (then it was removed); the reason, for the log.
    Rejected(String),
}

/// Reads, validates and PID-checks `<plugins_dir>/<id>/.devinfo`. A stale file (dead PID,
/// or a PID that now belongs to a process that started after the file was written) is
/// removed, but only if it still holds the content that was judged stale.
pub fn live_devinfo(
    plugins_dir: &Path,
    id: &str,
) -> Result<(ValidDevInfo, Vec<u8>), DevinfoProblem> {
    let path = plugins_dir.join(id).join(".devinfo");
    let bytes = read_untrusted(&path, MAX_DEVINFO_BYTES as u64).map_err(|e| {
        if e.is_missing() {
            DevinfoProblem::Missing
        } else {
            DevinfoProblem::Rejected(e.to_string())
        }
    })?;
    let info = validate_devinfo(&bytes, id).map_err(|e| DevinfoProblem::Rejected(e.to_string()))?;
    match check(info.pid, info.started_at) {
        PidVerdict::Alive => Ok((info, bytes)),
        verdict => {
            if read_untrusted(&path, MAX_DEVINFO_BYTES as u64).is_ok_and(|now| now == bytes) {
                let _ = std::fs::remove_file(&path);
            }
            Err(DevinfoProblem::Rejected(format!(
                "stale (removed): process {} {}",
                info.pid,
                if verdict == PidVerdict::Dead {
                    "is gone"
                } else {
                    "started after the plugin wrote the file, so it is another process"
                }
            )))
        }
    }
}

impl Actor for ExternalWatcherActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Err(e) = std::fs::create_dir_all(&self.plugins_dir) {
            tracing::warn!(dir = %self.plugins_dir.display(), error = %e, "cannot watch for external plugins");
            return;
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        match notify::recommended_watcher(move |res: notify::Result<Event>| {
            let _ = tx.send(res);
        }) {
            Ok(w) => self.watches = DirWatches::new(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch for external plugins");
                return;
            }
        }
        ctx.add_stream(UnboundedReceiverStream::new(rx));
        let dir = self.plugins_dir.clone();
        self.watch(&dir);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.watch(&entry.path());
                let id = entry.file_name().to_string_lossy().into_owned();
                if validate_plugin_id(&id).is_ok() {
                    self.schedule(id, ctx);
                }
            }
        }
    }
}

impl StreamHandler<notify::Result<Event>> for ExternalWatcherActor {
    fn handle(&mut self, item: notify::Result<Event>, ctx: &mut Self::Context) {
        let Ok(event) = item else { return };
        for path in &event.paths {
            let Some(parent) = path.parent() else {
                continue;
            };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if parent == self.plugins_dir {
                // A plugin directory appeared: watch it and look inside.
                if let Some(id) = name.filter(|n| validate_plugin_id(n).is_ok()) {
                    if path.is_dir() {
                        self.watch(path);
                    }
                    self.schedule(id, ctx);
                }
            } else if name.as_deref() == Some(".devinfo")
                && parent.parent() == Some(self.plugins_dir.as_path())
            {
                if let Some(id) = parent.file_name().map(|n| n.to_string_lossy().into_owned()) {
                    self.schedule(id, ctx);
                }
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}
