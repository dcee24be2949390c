//! Errors of the engine's operations, worded for the person who has to fix them.

use std::path::PathBuf;

use crate::plugin_id::InvalidPluginId;
use crate::ports::NoFreePort;

/// Why an operation on a dev server failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DevServerError {
    #[error(transparent)]
    InvalidId(#[from] InvalidPluginId),
    #[error("plugin `{id}` not found: {reason}")]
    UnknownPlugin { id: String, reason: String },
    #[error("plugin `{0}` is not in dev mode; enable dev mode for it first")]
    NotInDevMode(String),
    #[error("plugin `{0}` has no dev path set; point it at the plugin's source directory")]
    NoDevPath(String),
    #[error("dev path `{path}` of plugin `{id}` does not exist or is not a directory")]
    DevPathMissing { id: String, path: PathBuf },
    #[error("`{0}` has neither a `pkg/` (Go backend) nor a `ui/` (Vite UI) directory; is it an Omniview plugin?")]
    NothingToRun(PathBuf),
    #[error("no dev server running for plugin `{0}`")]
    NotRunning(String),
    #[error("plugin `{0}` has no Go backend (`pkg/`) to rebuild")]
    NoBackend(String),
    #[error("the {child} of plugin `{id}` is not running (it crashed or is restarting; see `lastError`)")]
    ChildDown { id: String, child: &'static str },
    #[error(transparent)]
    NoFreePort(#[from] NoFreePort),
    #[error("`{tool}` not found on PATH; install it or give its path (builder option `{option}`)")]
    ToolNotFound {
        tool: String,
        /// The builder option that sets the tool's path.
        option: &'static str,
    },
    #[error("plugin `{0}` runs outside ovdev and is attached through its .devinfo; detach it first (detach_external)")]
    AttachedExternally(String),
    #[error("plugin `{0}` has a dev server managed by ovdev; stop it before attaching to an external process")]
    AlreadyManaged(String),
    #[error("cannot attach to plugin `{id}`: {reason}")]
    ExternalUnavailable { id: String, reason: String },
    #[error("plugin `{0}` is not attached as an external plugin")]
    NotAttached(String),
    #[error(transparent)]
    Locked(#[from] crate::plugin_lock::PluginLockError),
    #[error("the plugin host failed: {0}")]
    Host(String),
    #[error("the dev server engine has stopped")]
    EngineStopped,
}

impl From<actix::MailboxError> for DevServerError {
    fn from(_: actix::MailboxError) -> Self {
        Self::EngineStopped
    }
}
