//! Helpers shared by the integration tests, by role: a recording host, event waiting with
//! deadlines, plugin fixtures and fake tools, process checks, calls into a running plugin, the
//! CLI, and a whole test engine.
#![allow(dead_code, unused_imports)]

pub mod api;
pub mod cli;
pub mod engine;
pub mod events;
pub mod fixtures;
pub mod host;
pub mod plugin_rpc;
pub mod procs;

use std::path::PathBuf;
use std::time::Duration;

pub use engine::{engine_on, next_port_range, TestEngine};
pub use events::Recorder;
pub use fixtures::*;
pub use host::RecordingHost;
pub use plugin_rpc::{greet, http_get, ping};
pub use procs::{alive, assert_no_processes_in, process_groups_in, processes_in};

/// Generous upper bound for anything that involves real processes; only catches hangs.
pub const HANG: Duration = Duration::from_secs(120);

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
