//! [`DevServerHandle`]: the cloneable, thread-safe front door to a running engine.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use actix::Addr;
use ovdev_actors::actors::supervisor::{
    AttachExternal, DetachExternal, GetDevServerBuilds, GetDevServerLogs, GetDevServerState,
    GetExternalPluginInfo, IsManaged, ListDevServerStates, RebuildPlugin, Shutdown, StartDevServer,
    StopDevServer,
};
use ovdev_actors::actors::DevServerSupervisor;
use ovdev_actors::build_history::BuildRecord;
use ovdev_actors::error::DevServerError;
use ovdev_actors::events::{EventBus, EventStream};
use ovdev_actors::types::{DevInfoFile, DevServerState, LogEntry};

/// Clone + Send + Sync handle with the DevServerManager operations as async methods.
#[derive(Clone)]
pub struct DevServerHandle {
    inner: Arc<Inner>,
}

struct Inner {
    addr: Addr<DevServerSupervisor>,
    bus: EventBus,
    /// The System the builder started for the engine, stopped after shutdown.
    system: Option<actix_rt::System>,
    /// The local API, when the builder turned it on.
    api: Mutex<Option<crate::api::ApiServer>>,
    shut_down: AtomicBool,
}

/// A handle that does not keep the engine alive (the API server holds one).
#[derive(Clone)]
pub(crate) struct WeakHandle(Weak<Inner>);

impl WeakHandle {
    /// The handle, while someone else still holds one.
    pub(crate) fn upgrade(&self) -> Option<DevServerHandle> {
        self.0.upgrade().map(|inner| DevServerHandle { inner })
    }
}

impl DevServerHandle {
    pub(crate) fn new(
        addr: Addr<DevServerSupervisor>,
        bus: EventBus,
        system: Option<actix_rt::System>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                addr,
                bus,
                system,
                api: Mutex::new(None),
                shut_down: AtomicBool::new(false),
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakHandle {
        WeakHandle(Arc::downgrade(&self.inner))
    }

    pub(crate) fn set_api(&self, server: crate::api::ApiServer) {
        *self.inner.api.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
    }

    /// Where the local API listens (socket, URL, token), when the builder turned it on.
    pub fn api_info(&self) -> Option<crate::api::ApiInfo> {
        let api = self.inner.api.lock().unwrap_or_else(|p| p.into_inner());
        api.as_ref().map(|a| a.info().clone())
    }

    /// Every event published from now on; a subscriber that lags is told what it missed.
    pub fn subscribe(&self) -> EventStream {
        self.inner.bus.subscribe()
    }

    /// Starts the plugin's dev server from the host's dev path (idempotent).
    pub async fn start_dev_server(
        &self,
        plugin_id: &str,
    ) -> Result<DevServerState, DevServerError> {
        let msg = StartDevServer {
            plugin_id: plugin_id.to_string(),
            dev_path: None,
        };
        let state = self.inner.addr.send(msg).await??;
        self.inner.bus.note_started(&state);
        Ok(state)
    }

    /// Starts a dev server for the plugin source at `dev_path`, without asking the host.
    pub async fn start_dev_server_for_path(
        &self,
        plugin_id: &str,
        dev_path: impl Into<PathBuf>,
    ) -> Result<DevServerState, DevServerError> {
        let msg = StartDevServer {
            plugin_id: plugin_id.to_string(),
            dev_path: Some(dev_path.into()),
        };
        let state = self.inner.addr.send(msg).await??;
        self.inner.bus.note_started(&state);
        Ok(state)
    }

    /// Stops the plugin's dev server; returns when its processes are gone.
    pub async fn stop_dev_server(&self, plugin_id: &str) -> Result<(), DevServerError> {
        let msg = StopDevServer {
            plugin_id: plugin_id.to_string(),
        };
        self.inner.addr.send(msg).await?
    }

    /// Stops (if running) and starts the plugin's dev server again, from the same source.
    pub async fn restart_dev_server(
        &self,
        plugin_id: &str,
    ) -> Result<DevServerState, DevServerError> {
        let previous = self.get_dev_server_state(plugin_id).await?;
        match self.stop_dev_server(plugin_id).await {
            Ok(()) | Err(DevServerError::NotRunning(_)) => {}
            Err(e) => return Err(e),
        }
        if previous.dev_path.is_empty() {
            self.start_dev_server(plugin_id).await
        } else {
            self.start_dev_server_for_path(plugin_id, previous.dev_path)
                .await
        }
    }

    /// Rebuilds the plugin's Go side now (Vite untouched).
    pub async fn rebuild_plugin(&self, plugin_id: &str) -> Result<(), DevServerError> {
        let msg = RebuildPlugin {
            plugin_id: plugin_id.to_string(),
        };
        self.inner.addr.send(msg).await?
    }

    /// The plugin's state (mode `idle` when no dev server runs).
    pub async fn get_dev_server_state(
        &self,
        plugin_id: &str,
    ) -> Result<DevServerState, DevServerError> {
        let msg = GetDevServerState {
            plugin_id: plugin_id.to_string(),
        };
        Ok(self.inner.addr.send(msg).await?)
    }

    /// The last published state of every plugin with a dev server or an attachment, by id,
    /// without a message to the engine: what event subscribers have seen (a busy engine never
    /// delays it; [`Self::list_dev_server_states`] asks every plugin's actor).
    pub fn published_states(&self) -> Vec<DevServerState> {
        self.inner.bus.states()
    }

    /// The last published state of `plugin_id` (see [`Self::published_states`]), `None`
    /// when it is idle.
    pub fn published_state(&self, plugin_id: &str) -> Option<DevServerState> {
        self.inner.bus.state(plugin_id)
    }

    /// The states of all running dev servers, sorted by plugin id.
    pub async fn list_dev_server_states(&self) -> Result<Vec<DevServerState>, DevServerError> {
        Ok(self.inner.addr.send(ListDevServerStates).await?)
    }

    /// The plugin's buffered log entries, oldest first: the last `last` of them, or all that
    /// are kept with `None`.
    pub async fn get_dev_server_logs(
        &self,
        plugin_id: &str,
        last: Option<usize>,
    ) -> Result<Vec<LogEntry>, DevServerError> {
        let msg = GetDevServerLogs {
            plugin_id: plugin_id.to_string(),
            last,
        };
        Ok(self.inner.addr.send(msg).await?)
    }

    /// The plugin's last builds (at most 20), oldest first; empty when no dev server runs.
    pub async fn get_build_history(
        &self,
        plugin_id: &str,
    ) -> Result<Vec<BuildRecord>, DevServerError> {
        let msg = GetDevServerBuilds {
            plugin_id: plugin_id.to_string(),
        };
        Ok(self.inner.addr.send(msg).await?)
    }

    /// True when ovdev manages a dev server for the plugin.
    pub async fn is_managed(&self, plugin_id: &str) -> Result<bool, DevServerError> {
        let msg = IsManaged {
            plugin_id: plugin_id.to_string(),
        };
        Ok(self.inner.addr.send(msg).await?)
    }

    /// Attaches now to a plugin run outside ovdev, from its `.devinfo`; `vite_port` (when
    /// non-zero) overrides the file's. Refused while ovdev manages a dev server for it.
    pub async fn attach_external(
        &self,
        plugin_id: &str,
        vite_port: u16,
    ) -> Result<DevServerState, DevServerError> {
        let msg = AttachExternal {
            plugin_id: plugin_id.to_string(),
            vite_port,
        };
        self.inner.addr.send(msg).await?
    }

    /// Drops the attachment to an external plugin without touching its process; its
    /// `.devinfo` is ignored until it changes.
    pub async fn detach_external(&self, plugin_id: &str) -> Result<(), DevServerError> {
        let msg = DetachExternal {
            plugin_id: plugin_id.to_string(),
        };
        self.inner.addr.send(msg).await?
    }

    /// The `.devinfo` of the external plugin attached as `plugin_id` (as read when attached),
    /// or `None` when none is attached: Omniview's `GetExternalPluginInfo`.
    pub async fn get_external_plugin_info(
        &self,
        plugin_id: &str,
    ) -> Result<Option<DevInfoFile>, DevServerError> {
        let msg = GetExternalPluginInfo {
            plugin_id: plugin_id.to_string(),
        };
        Ok(self.inner.addr.send(msg).await?)
    }

    /// Stops every dev server and returns once every child process group is gone; then stops
    /// the engine's own System, if the builder started one. Later calls return at once.
    pub async fn shutdown(&self) {
        if self.inner.shut_down.swap(true, Ordering::SeqCst) {
            return;
        }
        // The API first: its runtime file goes, and no request reaches a stopping engine.
        let api = self
            .inner
            .api
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut api) = api {
            api.stop().await;
        }
        let _ = self.inner.addr.send(Shutdown).await;
        if let Some(system) = &self.inner.system {
            system.stop();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::SeqCst) {
            // Last resort: without an await we cannot wait for the children; ask for the stop.
            tracing::warn!("DevServerHandle dropped without shutdown(); stopping dev servers in the background");
            self.addr.do_send(Shutdown);
        }
    }
}
