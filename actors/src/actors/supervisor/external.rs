//! The supervisor's attachments to plugins run outside ovdev: `.devinfo` files seen by the
//! watcher, reports of the attachment actors, and the handle's attach and detach.

use actix::prelude::*;

use super::{DevServerSupervisor, Entry, External};
use crate::actors::external_plugin::{
    Attachment, Detach, ExternalChanged, ExternalGone, ExternalPluginActor,
};
use crate::actors::external_watcher::{live_devinfo, DevinfoProblem, DevinfoSeen};
use crate::devinfo::ValidDevInfo;
use crate::error::DevServerError;
use crate::events::DevServerEvent;
use crate::plugin_id::validate_plugin_id;
use crate::types::{DevInfoFile, DevServerState};

impl DevServerSupervisor {
    /// Attaches to the external plugin `info` (replacing an earlier attachment) and returns
    /// its first state.
    fn attach(
        &mut self,
        id: &str,
        info: ValidDevInfo,
        content: Vec<u8>,
        vite_port: Option<u16>,
        ctx: &mut Context<Self>,
    ) -> DevServerState {
        self.drop_external(id);
        self.next_external += 1;
        let generation = self.next_external;
        let mut info = info;
        if let Some(port) = vite_port.filter(|p| *p != 0) {
            info.vite_port = port;
        }
        tracing::info!(plugin = id, pid = info.pid, addr = %info.addr, "attaching to an external plugin");
        let file = crate::devinfo::devinfo_path(&self.config.state_dir, id);
        let attached = Attachment {
            plugin_id: id.to_string(),
            generation,
            info,
            file,
            content: content.clone(),
        };
        let state = attached.initial_state();
        let actor = ExternalPluginActor::new(
            attached,
            self.config.external_health_interval,
            ctx.address().recipient(),
            ctx.address().recipient(),
        )
        .start();
        self.bus.publish(DevServerEvent::Status(state.clone()));
        self.plugins.insert(
            id.to_string(),
            Entry::External(External {
                addr: actor,
                generation,
                content,
                state: state.clone(),
            }),
        );
        state
    }

    /// Ends an attachment (the process is left alone) and publishes the final `idle` state.
    pub(super) fn drop_external(&mut self, id: &str) -> Option<External> {
        self.external(id)?;
        let Some(Entry::External(ext)) = self.plugins.remove(id) else {
            return None;
        };
        ext.addr.do_send(Detach);
        self.bus
            .publish(DevServerEvent::Status(DevServerState::idle(id)));
        Some(ext)
    }
}

impl Handler<DevinfoSeen> for DevServerSupervisor {
    type Result = ();

    fn handle(&mut self, msg: DevinfoSeen, ctx: &mut Self::Context) {
        let id = msg.plugin_id;
        // Files of plugins ovdev manages are its own (the built-in host writes them).
        if self.runs_or_stops(&id) {
            return;
        }
        match msg.found {
            None => {
                self.detached.remove(&id);
                self.drop_external(&id);
            }
            Some((info, content)) => {
                if self.detached.get(&id) == Some(&content) {
                    return;
                }
                self.detached.remove(&id);
                if self.external(&id).is_some_and(|e| e.content == content) {
                    return;
                }
                self.attach(&id, info, content, None, ctx);
            }
        }
    }
}

impl Handler<ExternalChanged> for DevServerSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ExternalChanged, _: &mut Self::Context) {
        let Some(Entry::External(ext)) = self.plugins.get_mut(&msg.plugin_id) else {
            return;
        };
        if ext.generation == msg.generation && ext.state != msg.state {
            ext.state = msg.state;
            self.bus.publish(DevServerEvent::Status(ext.state.clone()));
        }
    }
}

impl Handler<ExternalGone> for DevServerSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ExternalGone, _: &mut Self::Context) {
        if self
            .external(&msg.plugin_id)
            .is_some_and(|e| e.generation == msg.generation)
        {
            self.drop_external(&msg.plugin_id);
        }
    }
}

/// Attaches now to the plugin's `.devinfo` (`vite_port`, when non-zero, overrides the file's).
#[derive(Message, Debug)]
#[rtype(result = "Result<DevServerState, DevServerError>")]
pub struct AttachExternal {
    pub plugin_id: String,
    pub vite_port: u16,
}

impl Handler<AttachExternal> for DevServerSupervisor {
    type Result = Result<DevServerState, DevServerError>;

    fn handle(&mut self, msg: AttachExternal, ctx: &mut Self::Context) -> Self::Result {
        let id = msg.plugin_id;
        validate_plugin_id(&id)?;
        if self.runs_or_stops(&id) {
            return Err(DevServerError::AlreadyManaged(id));
        }
        let plugins_dir = self.config.state_dir.join("plugins");
        let (info, content) = live_devinfo(&plugins_dir, &id).map_err(|p| DevServerError::ExternalUnavailable {
            id: id.clone(),
            reason: match p {
                DevinfoProblem::Missing => format!(
                    "no {} (start the plugin with `ovdev serve-external` or the plugin SDK's dev mode)",
                    crate::devinfo::devinfo_path(&self.config.state_dir, &id).display()
                ),
                DevinfoProblem::Rejected(why) => why,
            },
        })?;
        self.detached.remove(&id);
        Ok(self.attach(&id, info, content, Some(msg.vite_port), ctx))
    }
}

/// Drops the attachment without touching the process; its `.devinfo` is ignored until it
/// changes.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), DevServerError>")]
pub struct DetachExternal {
    pub plugin_id: String,
}

impl Handler<DetachExternal> for DevServerSupervisor {
    type Result = Result<(), DevServerError>;

    fn handle(&mut self, msg: DetachExternal, _: &mut Self::Context) -> Self::Result {
        match self.drop_external(&msg.plugin_id) {
            Some(ext) => {
                self.detached.insert(msg.plugin_id, ext.content);
                Ok(())
            }
            None => Err(DevServerError::NotAttached(msg.plugin_id)),
        }
    }
}

/// The `.devinfo` of an attached external plugin, as read when it was attached (`None` when
/// the plugin is not attached): Omniview's `GetExternalPluginInfo`.
#[derive(Message, Debug)]
#[rtype(result = "Option<DevInfoFile>")]
pub struct GetExternalPluginInfo {
    pub plugin_id: String,
}

impl Handler<GetExternalPluginInfo> for DevServerSupervisor {
    type Result = Option<DevInfoFile>;

    fn handle(&mut self, msg: GetExternalPluginInfo, _: &mut Self::Context) -> Self::Result {
        // The bytes were validated when attached; they parse the same way again.
        serde_json::from_slice(&self.external(&msg.plugin_id)?.content).ok()
    }
}
