//! The plugin host: what the engine asks about plugins and how it reloads a rebuilt one.
//!
//! An IDE implements [`PluginHost`] with its plugin manager; the `ovdev` CLI has its own.

use std::path::PathBuf;

use futures::future::BoxFuture;

/// What the engine needs to know about a plugin before it starts its dev server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub id: String,
    /// True when the plugin is loaded in dev mode.
    pub dev_mode: bool,
    /// The plugin's source directory (`plugin.yaml`, `pkg/`, `ui/`).
    pub dev_path: Option<PathBuf>,
}

/// An error reported by the host, shown to the user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// The subset of Omniview's plugin manager the dev loop uses.
pub trait PluginHost: Send + Sync + 'static {
    /// Looks up a plugin; an error means it is unknown.
    fn get_plugin(&self, id: &str) -> BoxFuture<'_, Result<PluginInfo, HostError>>;

    /// Reloads the plugin after its new binary was installed at
    /// `<state>/plugins/<id>/bin/plugin`.
    fn reload_plugin(&self, id: &str) -> BoxFuture<'_, Result<(), HostError>>;
}
