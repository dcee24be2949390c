//! The reload of the plugin process after a new build: the old process stops gracefully, then
//! a new one starts; the answer comes once it serves.

use std::time::Duration;

use actix::prelude::*;

use super::{PendingReload, PluginActor};
use crate::actors::child_guard::ChildKind;
use crate::actors::plugin_process::StopPluginProcess;
use crate::types::DevProcessStatus;

/// Asks the plugin actor to (re)launch the plugin process: always when the binary changed,
/// and when it did not, only if no process runs yet. Answers once the new process serves.
/// Sent by the Go watcher after it installed a build.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<(), String>")]
pub struct ReloadProcess {
    pub binary_changed: bool,
}

impl Handler<ReloadProcess> for PluginActor {
    type Result = ResponseActFuture<Self, Result<(), String>>;

    fn handle(&mut self, msg: ReloadProcess, ctx: &mut Self::Context) -> Self::Result {
        if self.stopping {
            return Box::pin(actix::fut::ready(Err(
                "the dev server is stopping".to_string()
            )));
        }
        if !msg.binary_changed && self.process.is_some() {
            return Box::pin(actix::fut::ready(Ok(())));
        }
        self.publish_reload(true);
        // A restart that was waiting for its backoff is replaced by this launch.
        if let Some(t) = self.process_sup.restart_timer.take() {
            ctx.cancel_future(t);
        }
        self.process_sup.tracker.reset();
        if let Some(p) = self.pending_reload.take() {
            let _ = p.done.send(Err("superseded by a newer build".into()));
        }
        let old = self.process.take();
        // Reports of the old process are ignored from now on.
        self.process_sup.generation = 0;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let limit = self
            .process_settings
            .as_ref()
            .map(|s| s.start_timeout + Duration::from_secs(10))
            .unwrap_or(Duration::from_secs(30));
        let stop_old = async move {
            if let Some(old) = old {
                let _ = old.send(StopPluginProcess).await;
            }
        };
        Box::pin(stop_old.into_actor(self).then(move |(), act, ctx| {
            if !act.stopping {
                // The old process is gone: not connected until the new one serves.
                act.set_status(ChildKind::PluginProcess, DevProcessStatus::Starting, None);
                act.start_process(ctx);
                act.pending_reload = Some(PendingReload {
                    generation: act.process_sup.generation,
                    done: tx,
                });
            }
            async move {
                match tokio::time::timeout(limit, rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) => Err("the reload was abandoned".to_string()),
                    Err(_) => Err(format!(
                        "the new plugin process did not serve within {limit:?}"
                    )),
                }
            }
            .into_actor(act)
        }))
    }
}
