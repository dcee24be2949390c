//! `ovdev mcp`: a Model Context Protocol server on stdio for coding agents, a thin client of
//! the local API (`docs/mcp.md`). It starts without a running ovdev and finds one at each
//! call through the runtime files, so an agent's session survives ovdev restarts. A failure
//! is a tool error result (`isError`, as the protocol asks, so that the model reads it) whose
//! text says what to do.

use std::time::Duration;

use axum::http::Method;
use omniview_devserver::api::client::{ApiClient, ClientError};
use omniview_devserver::{BuildErrorsPayload, BuildRecord, DevServerState, LogEntry};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ResourceContents, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::service::SubscriptionContext;
use rmcp::{
    tool, tool_handler, tool_router, ErrorData, RoleServer, ServerHandler, ServiceExt as _,
};

mod params;
mod render;
mod resources;

use params::{LogsParam, PluginParam, StartParam, WaitParam};
use render::render_logs;

use super::args::{McpArgs, VerbArgs};
use super::instance::client_for;
use super::verbs::{in_error, rebuild_and_wait, wait_for_state};

/// The longest `wait_until_ready`.
const MAX_WAIT_SECS: u64 = 300;
/// The tools that change something: offered only with `--allow-control`.
const CONTROL_TOOLS: &[&str] = &["rebuild", "restart", "stop", "start"];

/// The MCP server.
#[derive(Clone)]
pub struct OvdevMcp {
    find: VerbArgs,
    allow_control: bool,
    tool_router: ToolRouter<Self>,
    /// Resources subscribed with `resources/subscribe`.
    subscriptions: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// Whether the task that tells about their changes runs.
    following: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What a tool answers: its text, or the error's (sent with `isError`).
pub(super) type ToolResult = Result<String, String>;

fn error(message: impl Into<String>) -> String {
    message.into()
}

pub(super) fn api_error(e: ClientError) -> String {
    match e {
        ClientError::Connect { .. } => error(format!(
            "{e}; ovdev may have stopped: start it with `ovdev dev ./my-plugin`"
        )),
        other => error(other.to_string()),
    }
}

pub(super) fn json(value: &impl serde::Serialize) -> ToolResult {
    serde_json::to_string_pretty(value).map_err(|e| e.to_string())
}

#[tool_router(router = tool_router)]
impl OvdevMcp {
    fn new(find: VerbArgs, allow_control: bool) -> Self {
        let mut tool_router = Self::tool_router();
        if !allow_control {
            for name in CONTROL_TOOLS {
                tool_router.remove_route(name);
            }
        }
        Self {
            find,
            allow_control,
            tool_router,
            subscriptions: Default::default(),
            following: Default::default(),
        }
    }

    /// The running ovdev and the plugin a call is about.
    fn client(&self, plugin_id: Option<&str>) -> Result<(ApiClient, String), String> {
        client_for(&self.find, plugin_id)
            .map(|(client, _, id)| (client, id))
            .map_err(|e| error(e.message))
    }

    /// Every plugin ovdev runs or is attached to, with its state.
    #[tool(annotations(title = "List plugins", read_only_hint = true))]
    async fn list_plugins(&self) -> ToolResult {
        let info = super::instance::find(&self.find).map_err(|e| error(e.message))?;
        let states: Vec<DevServerState> = ApiClient::new(&info)
            .get_json("/api/v1/plugins")
            .await
            .map_err(api_error)?;
        json(&states)
    }

    /// One plugin's state: goStatus and viteStatus (idle, starting, building, running, ready,
    /// error, stopped), the Vite URL, grpcConnected, lastError, the last build's time.
    #[tool(annotations(title = "Get plugin", read_only_hint = true))]
    async fn get_plugin(&self, Parameters(p): Parameters<PluginParam>) -> ToolResult {
        let (client, id) = self.client(p.plugin_id.as_deref())?;
        let state: DevServerState = client
            .get_json(&format!("/api/v1/plugins/{id}"))
            .await
            .map_err(api_error)?;
        json(&state)
    }

    /// The compiler errors of the plugin's last finished build: file (absolute), line,
    /// column, message, severity. Empty when the last build succeeded.
    #[tool(annotations(title = "Build errors", read_only_hint = true))]
    async fn build_errors(&self, Parameters(p): Parameters<PluginParam>) -> ToolResult {
        let (client, id) = self.client(p.plugin_id.as_deref())?;
        let payload: BuildErrorsPayload = client
            .get_json(&format!("/api/v1/plugins/{id}/errors"))
            .await
            .map_err(api_error)?;
        if payload.errors.is_empty() {
            return Ok(format!("no build errors: the last build of {id} succeeded"));
        }
        json(&payload.errors)
    }

    /// The plugin's last 20 builds, oldest first: trigger (the saved files, manual, start),
    /// start time, duration in nanoseconds, result, errors.
    #[tool(annotations(title = "Build history", read_only_hint = true))]
    async fn build_history(&self, Parameters(p): Parameters<PluginParam>) -> ToolResult {
        let (client, id) = self.client(p.plugin_id.as_deref())?;
        let builds: Vec<BuildRecord> = client
            .get_json(&format!("/api/v1/plugins/{id}/builds"))
            .await
            .map_err(api_error)?;
        json(&builds)
    }

    /// The plugin's log lines (Vite, go build, the watcher, ovdev, the plugin process),
    /// oldest first, as `seq time source level: message`. At most 64 KiB of text: when more
    /// matched, the newest lines are kept and the answer says how many were left out.
    #[tool(annotations(title = "Logs", read_only_hint = true))]
    async fn logs(&self, Parameters(p): Parameters<LogsParam>) -> ToolResult {
        let tail = p.tail.unwrap_or(200);
        if tail > 5000 {
            return Err(error("`tail` is at most 5000"));
        }
        let (client, id) = self.client(p.plugin_id.as_deref())?;
        let mut q = vec![];
        if let Some(s) = p.since {
            q.push(format!("since={s}"));
        }
        if let Some(l) = &p.level {
            q.push(format!("level={l}"));
        }
        if let Some(s) = &p.source {
            q.push(format!("source={s}"));
        }
        let path = format!("/api/v1/plugins/{id}/logs?{}", q.join("&"));
        let entries: Vec<LogEntry> = client.get_json(&path).await.map_err(api_error)?;
        let needle = p.text.as_deref().map(str::to_lowercase);
        let matching: Vec<&LogEntry> = entries
            .iter()
            .filter(|e| {
                needle
                    .as_deref()
                    .is_none_or(|n| e.message.to_lowercase().contains(n))
            })
            .collect();
        let wanted = &matching[matching.len().saturating_sub(tail)..];
        Ok(render_logs(wanted, matching.len()))
    }

    /// Waits until the plugin is ready (or connected), bounded by `timeout_secs`; fails at
    /// once when a build or Vite fails while waiting, with the error.
    #[tool(annotations(title = "Wait until ready", read_only_hint = true))]
    async fn wait_until_ready(&self, Parameters(p): Parameters<WaitParam>) -> ToolResult {
        let secs = p.timeout_secs.unwrap_or(60);
        if secs == 0 || secs > MAX_WAIT_SECS {
            return Err(error(format!(
                "`timeout_secs` is between 1 and {MAX_WAIT_SECS}"
            )));
        }
        let condition = p.condition.unwrap_or_else(|| "ready".into());
        if condition != "ready" && condition != "connected" {
            return Err(error("`condition` is `ready` or `connected`"));
        }
        let (client, id) = self.client(p.plugin_id.as_deref())?;
        let end = wait_for_state(&client, &id, &condition, Duration::from_secs(secs))
            .await
            .map_err(|e| error(e.message))?;
        match &end.state {
            Some(state) if end.met => Ok(format!("{id} is {condition}\n{}", json(state)?)),
            Some(state) if in_error(state) => Err(error(format!(
                "{id} is in error: {} (call build_errors for file:line:column)",
                state.last_error
            ))),
            Some(state) => Err(error(format!(
                "{id} was not {condition} within {secs} s (go {}, vite {}); wait again or look at logs",
                state.go_status, state.vite_status
            ))),
            None => Err(error(format!(
                "ovdev does not run {id} (yet); list_plugins shows what it runs"
            ))),
        }
    }

    /// Rebuilds the plugin's Go backend now and waits for the result (at most 5 minutes):
    /// the build record, with the compiler errors when it failed.
    #[tool(annotations(
        title = "Rebuild",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true
    ))]
    async fn rebuild(&self, Parameters(p): Parameters<PluginParam>) -> ToolResult {
        let (client, id) = self.client(p.plugin_id.as_deref())?;
        match rebuild_and_wait(&client, &id, Duration::from_secs(MAX_WAIT_SECS)).await {
            Ok(Some(build)) => json(&build),
            Ok(None) => Err(error(
                "the build did not finish within 5 minutes; look at logs (source go-build)",
            )),
            Err(e) => Err(error(e.message)),
        }
    }

    /// Stops and starts the plugin's dev server again (Vite, the watcher, the plugin).
    #[tool(annotations(title = "Restart", read_only_hint = false, destructive_hint = true))]
    async fn restart(&self, Parameters(p): Parameters<PluginParam>) -> ToolResult {
        self.post(p.plugin_id.as_deref(), "restart", None).await
    }

    /// Stops the plugin's dev server (Vite, builds, the plugin process).
    #[tool(annotations(title = "Stop", read_only_hint = false, destructive_hint = true))]
    async fn stop(&self, Parameters(p): Parameters<PluginParam>) -> ToolResult {
        self.post(p.plugin_id.as_deref(), "stop", None).await
    }

    /// Starts a dev server for a plugin directory (its id from plugin.yaml).
    #[tool(annotations(title = "Start", read_only_hint = false, destructive_hint = false))]
    async fn start(&self, Parameters(p): Parameters<StartParam>) -> ToolResult {
        let dir = std::path::PathBuf::from(&p.dir);
        if !dir.is_absolute() {
            return Err(error("`dir` must be an absolute path"));
        }
        let id = omniview_devserver::manifest::plugin_id_of(&dir, None)
            .map_err(|e| error(e.to_string()))?;
        let body = serde_json::json!({ "devPath": p.dir })
            .to_string()
            .into_bytes();
        self.post(Some(&id), "start", Some(body)).await
    }

    async fn post(&self, id: Option<&str>, op: &str, body: Option<Vec<u8>>) -> ToolResult {
        let (client, id) = match (op, id) {
            // A start names a plugin ovdev may not run yet.
            ("start", Some(id)) => {
                let info = super::instance::find(&self.find).map_err(|e| error(e.message))?;
                (ApiClient::new(&info), id.to_string())
            }
            _ => self.client(id)?,
        };
        let bytes = client
            .call(Method::POST, &format!("/api/v1/plugins/{id}/{op}"), body)
            .await
            .map_err(api_error)?;
        Ok(if bytes.is_empty() {
            format!("{op}: done for {id}")
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }
}

/// What the server tells the agent about itself.
const INSTRUCTIONS: &str = "ovdev runs Omniview plugins' dev loop (Go build, Vite, the plugin process). Use list_plugins, then build_errors after editing Go code (file:line:column), logs to read what Vite, go build and the plugin printed, wait_until_ready after a change. rebuild/restart/stop/start exist only when the server was started with --allow-control. Resources: ovdev://plugins (every state), ovdev://plugins/{id} (one state), ovdev://plugins/{id}/errors (the last build's errors).";
/// The resource with every plugin's state.
pub(super) const PLUGINS_URI: &str = "ovdev://plugins";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for OvdevMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new("ovdev", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS.to_string())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let all = self.resource_list().await;
        Ok(ListResourcesResult::with_all_items(all))
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let ours = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| uri.starts_with(PLUGINS_URI))
            .cloned();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(ours)
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let subscribed = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        let sink = context.sink();
        let notify = |uri: String| async move { sink.notify_resource_updated(uri).await.is_ok() };
        tokio::select! {
            () = self.follow_resources(|| subscribed.clone(), notify) => {}
            () = context.cancelled() => {}
        }
        Ok(())
    }

    #[allow(deprecated)] // still what clients that negotiate 2025-11-25 use
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if !request.uri.starts_with(PLUGINS_URI) {
            return Err(ErrorData::resource_not_found(
                format!("unknown resource `{}`; see resources/list", request.uri),
                None,
            ));
        }
        self.subscribe_legacy(request.uri, context.peer);
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&request.uri);
        Ok(())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let text = self
            .resource_json(&request.uri)
            .await
            .map_err(|e| ErrorData::resource_not_found(e, None))?;
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, request.uri)]).into())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if CONTROL_TOOLS.contains(&request.name.as_ref()) && !self.allow_control {
            let message = format!(
                "`{}` changes the dev loop and is off: the MCP server was started without --allow-control (configure it as `ovdev mcp --allow-control` to allow rebuild, restart, stop and start)",
                request.name
            );
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        let tcc = ToolCallContext::new(self, request, context);
        self.tool_router.call(tcc).await
    }
}

/// Runs the MCP server on stdin/stdout until the client goes.
pub fn run(args: McpArgs) -> u8 {
    let Some(runtime) = super::client_runtime() else {
        return 1;
    };
    runtime.block_on(async move {
        let server = OvdevMcp::new(args.common, args.allow_control);
        match server.serve(rmcp::transport::stdio()).await {
            Ok(service) => {
                let _ = service.waiting().await;
                0
            }
            Err(e) => {
                eprintln!("ovdev: the MCP session could not start: {e}");
                1
            }
        }
    })
}
