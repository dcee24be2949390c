//! The supervisor's answers about plugins (state, list, logs, managed) and the rebuild
//! request, each forwarded to the plugin's actor.

use actix::prelude::*;

use super::{DevServerSupervisor, Entry};
use crate::actors::plugin::{GetBuildHistory, GetPluginLogs, GetState, Rebuild};
use crate::build_history::BuildRecord;
use crate::error::DevServerError;
use crate::types::{DevServerState, LogEntry};

/// Rebuilds a plugin's Go side now.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), DevServerError>")]
pub struct RebuildPlugin {
    pub plugin_id: String,
}

impl Handler<RebuildPlugin> for DevServerSupervisor {
    type Result = ResponseFuture<Result<(), DevServerError>>;

    fn handle(&mut self, msg: RebuildPlugin, _: &mut Self::Context) -> Self::Result {
        let addr = self.managed(&msg.plugin_id);
        Box::pin(async move {
            addr.ok_or(DevServerError::NotRunning(msg.plugin_id))?
                .send(Rebuild)
                .await?
        })
    }
}

/// A plugin's state; the idle state when no dev server runs for it.
#[derive(Message, Debug)]
#[rtype(result = "DevServerState")]
pub struct GetDevServerState {
    pub plugin_id: String,
}

impl Handler<GetDevServerState> for DevServerSupervisor {
    type Result = ResponseFuture<DevServerState>;

    fn handle(&mut self, msg: GetDevServerState, _: &mut Self::Context) -> Self::Result {
        if let Some(ext) = self.external(&msg.plugin_id) {
            let state = ext.state.clone();
            return Box::pin(async move { state });
        }
        let addr = self.managed(&msg.plugin_id);
        Box::pin(async move {
            match addr {
                Some(a) => a
                    .send(GetState)
                    .await
                    .unwrap_or_else(|_| DevServerState::idle(&msg.plugin_id)),
                None => DevServerState::idle(&msg.plugin_id),
            }
        })
    }
}

/// The states of every running dev server, sorted by plugin id.
#[derive(Message, Debug)]
#[rtype(result = "Vec<DevServerState>")]
pub struct ListDevServerStates;

impl Handler<ListDevServerStates> for DevServerSupervisor {
    type Result = ResponseFuture<Vec<DevServerState>>;

    fn handle(&mut self, _: ListDevServerStates, _: &mut Self::Context) -> Self::Result {
        let addrs: Vec<_> = self
            .plugins
            .values()
            .filter_map(|e| match e {
                Entry::Managed { addr, .. } => Some(addr.clone()),
                _ => None,
            })
            .collect();
        let external: Vec<_> = self.externals().map(|(_, e)| e.state.clone()).collect();
        Box::pin(async move {
            let mut states = external;
            for a in addrs {
                if let Ok(s) = a.send(GetState).await {
                    states.push(s);
                }
            }
            states.sort_by(|a, b| a.plugin_id.cmp(&b.plugin_id));
            states
        })
    }
}

/// A plugin's buffered logs, oldest first: at most `last` entries (`None`: all that are kept);
/// empty when no dev server runs.
#[derive(Message, Debug)]
#[rtype(result = "Vec<LogEntry>")]
pub struct GetDevServerLogs {
    pub plugin_id: String,
    pub last: Option<usize>,
}

impl Handler<GetDevServerLogs> for DevServerSupervisor {
    type Result = ResponseFuture<Vec<LogEntry>>;

    fn handle(&mut self, msg: GetDevServerLogs, _: &mut Self::Context) -> Self::Result {
        let addr = self.managed(&msg.plugin_id);
        Box::pin(async move {
            match addr {
                Some(a) => a.send(GetPluginLogs(msg.last)).await.unwrap_or_default(),
                None => Vec::new(),
            }
        })
    }
}

/// A plugin's last builds, oldest first; empty when no dev server runs.
#[derive(Message, Debug)]
#[rtype(result = "Vec<BuildRecord>")]
pub struct GetDevServerBuilds {
    pub plugin_id: String,
}

impl Handler<GetDevServerBuilds> for DevServerSupervisor {
    type Result = ResponseFuture<Vec<BuildRecord>>;

    fn handle(&mut self, msg: GetDevServerBuilds, _: &mut Self::Context) -> Self::Result {
        let addr = self.managed(&msg.plugin_id);
        Box::pin(async move {
            match addr {
                Some(a) => a.send(GetBuildHistory).await.unwrap_or_default(),
                None => Vec::new(),
            }
        })
    }
}

/// True when ovdev manages a dev server for the plugin.
#[derive(Message, Debug)]
#[rtype(result = "bool")]
pub struct IsManaged {
    pub plugin_id: String,
}

impl Handler<IsManaged> for DevServerSupervisor {
    type Result = bool;

    fn handle(&mut self, msg: IsManaged, _: &mut Self::Context) -> bool {
        matches!(
            self.plugins.get(&msg.plugin_id),
            Some(Entry::Managed { .. } | Entry::External(_))
        )
    }
}
