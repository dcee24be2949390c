//! One run of a child process, the same for Vite, the plugin process and the Go build: spawned
//! in a process group of its own and recorded in the engine's registry, its output and exit
//! forwarded to the owning actor, and its group then stopped or forgotten exactly once (the
//! methods that end a run take it by value).

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::child_guard::{ChildEvent, ExitNotice};
use super::child_output::{forward_child, ChildExited, ChildLines};
use crate::process::{ProcessSpec, SpawnError, StopOutcome};
use crate::registry::ProcessRegistry;

/// A running child process group; see the module doc.
pub struct ChildRun {
    registry: Arc<ProcessRegistry>,
    pgid: i32,
}

impl ChildRun {
    /// Spawns `spec` (a new process group, recorded in `registry`) and forwards its output and
    /// exit to `owner` as [`ChildLines`] and [`ChildExited`] tagged with `run`. Call it from
    /// the owner's handler (the child's parent-death signal follows the spawning thread).
    pub fn spawn<A>(
        registry: &Arc<ProcessRegistry>,
        spec: &ProcessSpec,
        run: u64,
        owner: Addr<A>,
    ) -> Result<Self, SpawnError>
    where
        A: Actor + Handler<ChildLines> + Handler<ChildExited>,
        A::Context: actix::dev::ToEnvelope<A, ChildLines> + actix::dev::ToEnvelope<A, ChildExited>,
    {
        let (child, pgid) = registry.spawn(spec)?;
        forward_child(child, run, owner);
        Ok(Self {
            registry: registry.clone(),
            pgid,
        })
    }

    /// The run's process group.
    pub fn pgid(&self) -> i32 {
        self.pgid
    }

    /// Stops what is left of the group: SIGTERM, SIGKILL after `grace`; resolves when it is
    /// gone (or found stuck).
    pub async fn stop(self, grace: Duration) -> StopOutcome {
        self.registry.stop(self.pgid, grace).await
    }

    /// Waits up to `wait` for the group to end by itself (it was asked to, another way),
    /// then SIGKILL; resolves when it is gone.
    pub async fn wait_then_kill(self, wait: Duration) -> StopOutcome {
        self.registry.wait_then_kill(self.pgid, wait).await
    }

    /// The leader exited by itself: the group is forgotten when nothing of it is left.
    pub fn finish(self) {
        self.registry.forget_if_gone(self.pgid);
    }
}

impl ExitNotice {
    /// Keeps the notice on the process group of `run` (none: nothing to stop if the child
    /// dies).
    pub fn track(&mut self, run: Option<&ChildRun>) {
        self.pgid = run.map(ChildRun::pgid);
    }
}

/// Ends a child actor whose run ended on its own: stops what is left of `child`'s group
/// (helpers of an exited leader must not outlive the run), then sends `ended` as the actor's
/// last report (through the notice `notice` picks out of it) and stops the actor. Nothing
/// else is handled meanwhile.
pub fn end_actor<A>(
    ctx: &mut Context<A>,
    child: Option<ChildRun>,
    grace: Duration,
    ended: ChildEvent,
    notice: fn(&mut A) -> &mut ExitNotice,
) where
    A: Actor<Context = Context<A>>,
{
    actix::fut::wrap_future::<_, A>(async move {
        if let Some(child) = child {
            child.stop(grace).await;
        }
    })
    .map(move |(), act, ctx| {
        notice(act).last_report(ended);
        ctx.stop();
    })
    .wait(ctx);
}
