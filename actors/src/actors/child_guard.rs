//! Noticing a child actor that died without its normal stop path.
//!
//! An actix handler that panics kills its actor: no `stopping`/`stopped`, later sends fail.
//! The actor value is still dropped while the panic unwinds, so each child owns an armed
//! [`ExitNotice`]; its `Drop` tells the parent at once, with the process group the child was
//! running (which outlives the actor and must be stopped before a replacement starts). A child
//! that stops normally disarms it first.

use actix::prelude::*;

/// Which child of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildKind {
    Vite,
    GoWatcher,
    PluginProcess,
}

impl ChildKind {
    /// The name used in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vite => "vite",
            Self::GoWatcher => "go watcher",
            Self::PluginProcess => "plugin process",
        }
    }
}

/// A child actor ended without disarming its notice (it panicked).
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ChildGone {
    pub kind: ChildKind,
    /// Which instance of the child (the parent ignores notices of replaced instances).
    pub generation: u64,
    /// The process group the child was running, if any.
    pub pgid: Option<i32>,
}

/// Sends [`ChildGone`] when dropped while armed; see the module doc.
pub struct ExitNotice {
    parent: Recipient<ChildGone>,
    kind: ChildKind,
    generation: u64,
    /// The child keeps this up to date with the process group it runs.
    pub pgid: Option<i32>,
    armed: bool,
}

impl ExitNotice {
    /// An armed notice for instance `generation` of `kind`.
    pub fn new(parent: Recipient<ChildGone>, kind: ChildKind, generation: u64) -> Self {
        Self {
            parent,
            kind,
            generation,
            pgid: None,
            armed: true,
        }
    }

    /// The child is stopping through its normal path: no notice.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ExitNotice {
    fn drop(&mut self) {
        if self.armed {
            self.parent.do_send(ChildGone {
                kind: self.kind,
                generation: self.generation,
                pgid: self.pgid,
            });
        }
    }
}

/// Makes the receiving child's handler panic: lets tests check that a dead child is noticed
/// and re-created.
#[cfg(feature = "test-hooks")]
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct PanicForTest;
