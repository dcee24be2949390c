//! The arguments of the MCP tools, with the JSON schemas agents see.

use schemars::JsonSchema;
use serde::Deserialize;

/// A plugin to ask about.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct PluginParam {
    /// The plugin id (from `list_plugins`); may be left out when ovdev runs exactly one plugin.
    pub(super) plugin_id: Option<String>,
}

/// Which log lines.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct LogsParam {
    /// The plugin id; may be left out when ovdev runs exactly one plugin.
    pub(super) plugin_id: Option<String>,
    /// The last N matching lines (default 200, at most 5000).
    pub(super) tail: Option<usize>,
    /// Only lines after this sequence number (the `seq` of a line seen before).
    pub(super) since: Option<u64>,
    /// Only lines of this level or more severe: debug, info, warn or error.
    pub(super) level: Option<String>,
    /// Only lines of this source: vite, go-build, go-watch, manager or plugin.
    pub(super) source: Option<String>,
    /// Only lines containing this text (case-insensitive).
    pub(super) text: Option<String>,
}

/// What to wait for.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct WaitParam {
    /// The plugin id; may be left out when ovdev runs exactly one plugin.
    pub(super) plugin_id: Option<String>,
    /// `ready` (Go build and Vite ready, the default) or `connected` (also the plugin
    /// process answers its health check).
    pub(super) condition: Option<String>,
    /// How long to wait, in seconds (default 60, at most 300).
    pub(super) timeout_secs: Option<u64>,
}

/// A plugin directory to start.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct StartParam {
    /// Absolute path of the plugin's source directory (with plugin.yaml).
    pub(super) dir: String,
}
