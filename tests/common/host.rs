//! A plugin host for tests: knows the plugins a test adds and records every reload.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use omniview_devserver::{HostError, PluginHost, PluginInfo};

/// A host that knows some plugins and records every reload.
#[derive(Default)]
pub struct RecordingHost {
    pub plugins: Mutex<HashMap<String, PluginInfo>>,
    pub reloads: Mutex<Vec<String>>,
    /// While set, every reload fails with this text.
    pub reload_error: Mutex<Option<String>>,
}

impl RecordingHost {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn add(&self, id: &str, dev_mode: bool, dev_path: Option<&Path>) {
        self.plugins.lock().unwrap().insert(
            id.to_string(),
            PluginInfo {
                id: id.to_string(),
                dev_mode,
                dev_path: dev_path.map(Path::to_path_buf),
            },
        );
    }

    pub fn reload_count(&self) -> usize {
        self.reloads.lock().unwrap().len()
    }
}

impl PluginHost for RecordingHost {
    fn get_plugin(&self, id: &str) -> BoxFuture<'_, Result<PluginInfo, HostError>> {
        let found = self.plugins.lock().unwrap().get(id).cloned();
        let id = id.to_string();
        Box::pin(
            async move { found.ok_or_else(|| HostError(format!("no plugin `{id}` is installed"))) },
        )
    }

    fn reload_plugin(&self, id: &str) -> BoxFuture<'_, Result<(), HostError>> {
        self.reloads.lock().unwrap().push(id.to_string());
        let result = match self.reload_error.lock().unwrap().clone() {
            Some(e) => Err(HostError(e)),
            None => Ok(()),
        };
        Box::pin(async move { result })
    }
}
