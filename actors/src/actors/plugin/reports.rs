//! What the `PluginActor` does with its children's reports: state changes applied and
//! published, build errors published, and a child's end or death turned into a restart, a
//! stop or giving up, under its restart policy.

use std::time::Instant;

use actix::prelude::*;

use super::PluginActor;
use crate::actors::child_guard::{ChildEvent, ChildKind, ChildReport};
use crate::events::DevServerEvent;
use crate::plugin_status::{plan_for_end, restart_begins, StatusEvent};
use crate::restart::{random_jitter, ExitKind};
use crate::types::{BuildErrorsPayload, DevProcessStatus, LogLevel};

impl PluginActor {
    /// A child ended without being asked to: restart it, leave it, or give up, per policy.
    pub(super) fn child_ended(
        &mut self,
        kind: ChildKind,
        exit: ExitKind,
        reason: String,
        ctx: &mut Context<Self>,
    ) {
        if self.stopping {
            return;
        }
        let tracker = &mut self.supervision(kind).tracker;
        let policy = tracker.policy();
        let decision = tracker.ended(Instant::now(), exit, random_jitter());
        let plan = plan_for_end(kind, exit, reason, decision, &policy);
        match plan.log {
            (LogLevel::Error, line) => self.manager_log.error(line),
            (LogLevel::Warn, line) => self.manager_log.warn(line),
            (_, line) => self.manager_log.info(line),
        }
        self.apply(kind, plan.event);
        if let Some(delay) = plan.restart_after {
            let timer = ctx.run_later(delay, move |act, ctx| {
                act.supervision(kind).restart_timer = None;
                if act.stopping {
                    return;
                }
                act.apply(kind, restart_begins());
                act.start_child(kind, ctx);
            });
            self.supervision(kind).restart_timer = Some(timer);
        }
    }

    /// A child actor died (panicked): stop the process group it ran (it outlives the actor),
    /// then treat it as an abnormal end of that child, unless it was replaced meanwhile.
    pub(super) fn child_gone(
        &mut self,
        kind: ChildKind,
        generation: u64,
        pgid: Option<i32>,
        ctx: &mut Context<Self>,
    ) {
        let current = self.supervision(kind).generation;
        let (grace, registry) = (self.stop_grace, self.registry.clone());
        let name = kind.name();
        self.manager_log.error(format!(
            "the {name} actor failed (it panicked){}",
            if pgid.is_some() {
                "; stopping the process it ran"
            } else {
                ""
            }
        ));
        async move {
            if let Some(pgid) = pgid {
                registry.stop(pgid, grace).await;
            }
        }
        .into_actor(self)
        .map(move |(), act, ctx| {
            if generation != current || act.stopping {
                return;
            }
            act.clear_child(kind);
            let reason = format!("the {name} actor failed");
            if kind == ChildKind::PluginProcess {
                act.finish_reload(generation, Err(reason.clone()));
            }
            act.child_ended(kind, ExitKind::Abnormal, reason, ctx);
        })
        .wait(ctx);
    }
}

impl Handler<ChildReport> for PluginActor {
    type Result = ();

    fn handle(&mut self, msg: ChildReport, ctx: &mut Self::Context) {
        let ChildReport {
            kind,
            generation,
            event,
        } = msg;
        if let ChildEvent::Gone { pgid } = event {
            // Its process group is stopped even when the child was already replaced.
            self.child_gone(kind, generation, pgid, ctx);
            return;
        }
        if generation != self.supervision(kind).generation {
            return;
        }
        match event {
            ChildEvent::Changed(change) => {
                if self.stopping {
                    return;
                }
                let serving = kind == ChildKind::PluginProcess
                    && matches!(
                        change,
                        StatusEvent::Status {
                            status: DevProcessStatus::Ready,
                            ..
                        }
                    );
                self.apply(kind, change);
                if serving {
                    self.finish_reload(generation, Ok(()));
                }
            }
            ChildEvent::BuildErrors(errors) => {
                if !self.stopping {
                    self.publish(DevServerEvent::BuildErrors(BuildErrorsPayload {
                        plugin_id: self.status.state().plugin_id.clone(),
                        errors,
                    }));
                }
            }
            ChildEvent::Ended {
                exit,
                reason,
                vite_port,
            } => {
                self.clear_child(kind);
                if let Some(port) = vite_port {
                    self.status.note_vite_port(port);
                }
                if kind == ChildKind::PluginProcess {
                    self.finish_reload(generation, Err(reason.clone()));
                }
                self.child_ended(kind, exit, reason, ctx);
            }
            ChildEvent::Reloaded(result) => {
                if self.stopping {
                    return;
                }
                // With the IDE's host, its successful reload is what connects the plugin (as
                // Omniview's own manager has it); the built-in host's process says so itself.
                if self.process_settings.is_none() {
                    let (status, error) = match &result {
                        Ok(()) => (DevProcessStatus::Ready, None),
                        Err(e) => (DevProcessStatus::Error, Some(e.clone())),
                    };
                    self.set_status(ChildKind::PluginProcess, status, error);
                }
                if let Err(error) = result {
                    self.publish(DevServerEvent::ReloadError(self.metadata.clone(), error));
                }
            }
            ChildEvent::BuildFinished(record) => self.builds.push(record),
            ChildEvent::Gone { .. } => {}
        }
    }
}
