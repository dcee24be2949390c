//! The CLI's plugin host: knows the directories given on the command line.
//!
//! Launching and relaunching plugins is the engine's built-in go-plugin host
//! (`launch_plugins`); this host's `reload_plugin` is only called with `--no-launch`, where a
//! reload means the new binary is installed and nothing runs it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures::future::BoxFuture;
use omniview_devserver::{HostError, PluginHost, PluginInfo};

/// Serves `get_plugin` from the command line's plugin directories.
pub struct CliPluginHost {
    plugins: BTreeMap<String, PathBuf>,
}

impl CliPluginHost {
    /// A host for these `id -> source directory` pairs, all in dev mode.
    pub fn new(plugins: BTreeMap<String, PathBuf>) -> Self {
        Self { plugins }
    }
}

impl PluginHost for CliPluginHost {
    fn get_plugin(&self, id: &str) -> BoxFuture<'_, Result<PluginInfo, HostError>> {
        let found = self.plugins.get(id).cloned();
        let id = id.to_string();
        Box::pin(async move {
            let dev_path = found
                .ok_or_else(|| HostError(format!("`{id}` was not given on the command line")))?;
            Ok(PluginInfo {
                id,
                dev_mode: true,
                dev_path: Some(dev_path),
            })
        })
    }

    fn reload_plugin(&self, id: &str) -> BoxFuture<'_, Result<(), HostError>> {
        let id = id.to_string();
        Box::pin(async move {
            tracing::info!(target: "ovdev", plugin = %id, "new binary installed (--no-launch: not started)");
            Ok(())
        })
    }
}
