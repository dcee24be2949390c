//! What keeps a Vite run on a port that answers: another port when its own was taken before
//! Vite could bind it, and probes while it is ready (a Vite that stops answering is ended
//! like a crashed one).

use std::time::Duration;

use actix::prelude::*;

use super::{Phase, ViteActor};
use crate::actors::port_allocator::{AllocatePort, ReleasePort};
use crate::restart::ExitKind;
use crate::vite_probe::{probe, Liveness, ProbeResult};

/// Probes in a row without an answer after which a ready Vite counts as hung.
pub(super) const PROBE_FAILURES: u32 = 2;
/// How long a probe waits for Vite's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl ViteActor {
    /// Probes the port every `probe_interval` while this run is ready; the interval dies
    /// with the actor (each run is its own actor).
    pub(super) fn start_probing(&mut self, ctx: &mut Context<Self>) {
        let Some(interval) = self.settings.probe_interval else {
            return;
        };
        self.liveness = Liveness::new(PROBE_FAILURES);
        ctx.run_interval(interval, |act, ctx| {
            if act.phase != Phase::Ready {
                return;
            }
            let (port, run) = (act.port, act.run);
            probe(port, PROBE_TIMEOUT)
                .into_actor(act)
                .map(move |result, act, ctx| {
                    let same_run = act.phase == Phase::Ready && act.run == run;
                    if !same_run || !act.liveness.record(&result) {
                        return;
                    }
                    let why = match result {
                        ProbeResult::NoAnswer(why) => why,
                        _ => "it refuses connections".into(),
                    };
                    let msg = format!(
                        "Vite stopped answering on port {port} ({PROBE_FAILURES} probes in a row; last: {why}); stopping it"
                    );
                    act.end(ExitKind::Abnormal, msg, ctx);
                })
                .spawn(ctx);
        });
    }

    pub(super) fn retry_on_another_port(&mut self, ctx: &mut Context<Self>) {
        self.retries_left -= 1;
        let old = self.port;
        self.failed_ports.push(old);
        let holder = crate::ports::port_holder(old)
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        self.logs.warn(format!(
            "port {old} was taken by another process{holder} before Vite could bind it; trying another port"
        ));
        self.ports.do_send(ReleasePort(old));
        let request = AllocatePort {
            prefer: None,
            plugin_id: self.settings.plugin_id.clone(),
            avoid: self.failed_ports.clone(),
        };
        self.ports
            .send(request)
            .into_actor(self)
            .map(|res, act, ctx| {
                if act.phase == Phase::Stopping {
                    if let Ok(Ok(port)) = res {
                        act.ports.do_send(ReleasePort(port));
                    }
                    return;
                }
                match res {
                    Ok(Ok(port)) => {
                        act.port = port;
                        act.start_vite(ctx);
                    }
                    Ok(Err(e)) => {
                        act.fail(format!("cannot restart Vite on another port: {e}"), ctx)
                    }
                    Err(_) => act.fail(
                        "cannot restart Vite: the port allocator is gone".into(),
                        ctx,
                    ),
                }
            })
            .wait(ctx);
    }
}
