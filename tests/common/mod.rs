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

/// Runs `cmd` (a test script in another language: a browser test, an MCP client) within
/// `limit`, prints its output, and returns it once it succeeded and printed `marker`.
pub async fn run_checked(
    mut cmd: tokio::process::Command,
    what: &str,
    marker: &str,
    limit: Duration,
) -> String {
    let out = tokio::time::timeout(limit, cmd.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "{what} failed:\n{text}");
    assert!(
        text.contains(marker),
        "{what} did not say {marker:?}:\n{text}"
    );
    text
}
