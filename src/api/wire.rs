//! The payload types of the API in one place, for its two generated descriptions: the
//! OpenAPI document ([`super::openapi`]) and the TypeScript declarations
//! (`bindings/ovdev.ts`, from [`typescript`]). Both come from the Rust types the server
//! serialises, so they cannot drift from what it sends; `tests/api_contract.rs` fails when a
//! committed copy is stale.

use serde::Serialize;
use ts_rs::{Config, TS};

use super::error::ErrorBody;
use super::routes::{AttachRequest, InstanceInfo, Managed, StartRequest};
use super::runtime_file::RuntimeInfo;
use crate::{
    BuildError, BuildErrorsPayload, BuildRecord, BuildResult, BuildTrigger, DevInfoFile,
    DevProcessStatus, DevServerMode, DevServerState, LogEntry, LogLevel, LogSource, Severity,
};

/// `ovdev/events_missed`: this many events were dropped for a client that fell behind.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, TS)]
pub struct MissedCount {
    pub count: u64,
}

/// One event of `/api/v1/events` (its SSE `event:` is `name`, its `data:` is `data`), and
/// one line of `ovdev dev --json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, TS)]
#[serde(tag = "name", content = "data")]
pub enum EventEnvelope {
    #[serde(rename = "plugin/devserver/status")]
    Status(DevServerState),
    #[serde(rename = "plugin/devserver/log")]
    Log(Vec<LogEntry>),
    #[serde(rename = "plugin/devserver/error")]
    BuildErrors(BuildErrorsPayload),
    /// The plugin's metadata (`plugin.yaml` as JSON).
    #[serde(rename = "plugin/dev_reload_start")]
    ReloadStart(#[ts(type = "Record<string, unknown>")] serde_json::Value),
    #[serde(rename = "plugin/dev_reload_complete")]
    ReloadComplete(#[ts(type = "Record<string, unknown>")] serde_json::Value),
    /// `[metadata, "error text"]`.
    #[serde(rename = "plugin/dev_reload_error")]
    ReloadError(#[ts(type = "[Record<string, unknown>, string]")] (serde_json::Value, String)),
    #[serde(rename = "ovdev/events_missed")]
    EventsMissed(MissedCount),
}

/// Appends the declaration of `T` to `out`, exported.
fn declare<T: TS>(out: &mut String, cfg: &Config) {
    if let Some(doc) = T::docs() {
        out.push_str(&doc);
    }
    out.push_str("export ");
    out.push_str(&T::decl(cfg));
    out.push_str("\n\n");
}

/// `bindings/ovdev.ts`: every payload of the API as a TypeScript declaration.
pub fn typescript() -> String {
    // JSON numbers reach JavaScript as `number`, whatever their width in Rust.
    let cfg = Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from ovdev's Rust types by `OVDEV_BLESS=1 cargo test --test api_contract`; do not edit.\n// The payloads of ovdev's local API (docs/api.md) and of `ovdev dev --json`.\n\n",
    );
    macro_rules! all {
        ($($t:ty),* $(,)?) => { $( declare::<$t>(&mut out, &cfg); )* };
    }
    all!(
        DevServerMode,
        DevProcessStatus,
        DevServerState,
        LogSource,
        LogLevel,
        LogEntry,
        Severity,
        BuildError,
        BuildErrorsPayload,
        DevInfoFile,
        BuildTrigger,
        BuildResult,
        BuildRecord,
        MissedCount,
        EventEnvelope,
        ErrorBody,
        InstanceInfo,
        StartRequest,
        AttachRequest,
        Managed,
        RuntimeInfo,
    );
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}
