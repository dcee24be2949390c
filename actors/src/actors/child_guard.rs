//! A child actor's link to its parent: the one report every child sends ([`ChildReport`]),
//! and how a child that died is noticed.
//!
//! An actix handler that panics kills its actor: no `stopping`/`stopped`, later sends fail.
//! The actor value is still dropped while the panic unwinds, so each child owns an armed
//! [`ExitNotice`]; its `Drop` tells the parent at once ([`ChildEvent::Gone`]), with the
//! process group the child was running (which outlives the actor and must be stopped before a
//! replacement starts). A child that stops normally disarms it first.
//!
//! Where messages live: a command sits beside its receiver (`StopVite` in `vite.rs`,
//! `ReloadProcess` in `plugin.rs`), a report beside its sender; this report is sent by every
//! child, so it sits here, with the link the children share.

use actix::prelude::*;

use crate::build_history::BuildRecord;
pub use crate::plugin_status::ChildKind;
use crate::plugin_status::StatusEvent;
use crate::restart::ExitKind;
use crate::types::{BuildError, DevProcessStatus};

/// What a child tells its parent.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildEvent {
    /// A change of the child's part of the plugin's state.
    Changed(StatusEvent),
    /// A build failed with these compiler errors (published as `plugin/devserver/error`,
    /// before the status that follows).
    BuildErrors(Vec<BuildError>),
    /// The plugin was reloaded after a good build (Go watcher): by the IDE's host or the
    /// built-in one; the error when the reload failed.
    Reloaded(Result<(), String>),
    /// A build ended (any way): the plugin's build history keeps it.
    BuildFinished(BuildRecord),
    /// The child's run ended without a stop request; its process group is gone.
    /// `vite_port`: the port a Vite run ended on.
    Ended {
        exit: ExitKind,
        reason: String,
        vite_port: Option<u16>,
    },
    /// The child actor died (it panicked); the process group it ran, if any, outlives it.
    Gone { pgid: Option<i32> },
}

/// A report of instance `generation` of a child: the parent ignores reports of instances it
/// has replaced.
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub struct ChildReport {
    /// Which child reports.
    pub kind: ChildKind,
    /// Which instance of it.
    pub generation: u64,
    /// What it reports.
    pub event: ChildEvent,
}

/// Where a child reports to, and which child it is.
#[derive(Clone)]
pub struct ParentLink {
    to: Recipient<ChildReport>,
    kind: ChildKind,
    generation: u64,
}

impl ParentLink {
    /// The link of instance `generation` of `kind`, reporting to `to`.
    pub fn new(to: Recipient<ChildReport>, kind: ChildKind, generation: u64) -> Self {
        Self {
            to,
            kind,
            generation,
        }
    }

    /// Sends `event` to the parent.
    pub fn report(&self, event: ChildEvent) {
        self.to.do_send(ChildReport {
            kind: self.kind,
            generation: self.generation,
            event,
        });
    }

    /// Reports a new status (and the reason, when it failed).
    pub fn status(&self, status: DevProcessStatus, error: Option<String>) {
        self.report(ChildEvent::Changed(StatusEvent::Status {
            status,
            error,
            port: None,
        }));
    }

    /// An armed notice for this child (see the module doc).
    pub fn exit_notice(&self) -> ExitNotice {
        ExitNotice {
            link: self.clone(),
            pgid: None,
            armed: true,
        }
    }
}

/// Reports [`ChildEvent::Gone`] when dropped while armed; see the module doc.
pub struct ExitNotice {
    link: ParentLink,
    /// The child keeps this up to date with the process group it runs.
    pub pgid: Option<i32>,
    armed: bool,
}

impl ExitNotice {
    /// The child is stopping through its normal path: no notice.
    pub fn disarm(&mut self) {
        self.armed = false;
    }

    /// The child ends through its normal path with `event` as its last report.
    pub fn last_report(&mut self, event: ChildEvent) {
        self.link.report(event);
        self.armed = false;
    }
}

impl Drop for ExitNotice {
    fn drop(&mut self) {
        if self.armed {
            self.link.report(ChildEvent::Gone { pgid: self.pgid });
        }
    }
}

/// Makes the receiving child's handler panic: lets tests check that a dead child is noticed
/// and re-created.
#[cfg(feature = "test-hooks")]
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct PanicForTest;

/// Lets a child actor take [`PanicForTest`]: its handler panics.
#[cfg(feature = "test-hooks")]
macro_rules! panics_for_tests {
    ($actor:ty) => {
        impl Handler<$crate::actors::child_guard::PanicForTest> for $actor {
            type Result = ();

            fn handle(
                &mut self,
                _: $crate::actors::child_guard::PanicForTest,
                _: &mut Self::Context,
            ) {
                panic!(concat!(stringify!($actor), ": panic requested by a test"));
            }
        }
    };
}
#[cfg(feature = "test-hooks")]
pub(crate) use panics_for_tests;
