//! The API's operations: each one a thin call of a `DevServerHandle` method.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiQuery, ErrorBody, OptionalJson, PluginId};
use super::streams;
use super::ApiState;
use crate::{
    BuildErrorsPayload, BuildRecord, BuildResult, DevInfoFile, DevServerHandle, DevServerState,
    LogEntry, LogLevel, LogSource,
};

/// The plugin id in a path (documentation only: [`PluginId`] validates it).
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // it only describes the path parameter in the OpenAPI document
pub struct IdPath {
    /// Plugin id: letters, digits, `.`, `_` and `-`, not starting with `.` or `-`, no `..`.
    #[param(pattern = r"^[A-Za-z0-9_][A-Za-z0-9._-]*$", max_length = 255)]
    pub id: String,
}

/// The most log entries one answer carries.
pub const MAX_TAIL: usize = 100_000;

/// What a running instance is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct InstanceInfo {
    pub pid: u32,
    pub version: String,
    #[serde(rename = "stateDir")]
    pub state_dir: String,
    /// The plugins it runs or is attached to, sorted.
    pub plugins: Vec<String>,
}

/// Body of a start: the plugin source to run; without it the host's dev path is used.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// Absolute path of the plugin's source directory.
    #[serde(rename = "devPath", default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub dev_path: Option<String>,
}

/// Body of an attach.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct AttachRequest {
    /// A Vite port that overrides the `.devinfo`'s.
    #[serde(rename = "vitePort", default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub vite_port: Option<u16>,
}

/// Whether ovdev manages (or is attached to) a plugin.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, ts_rs::TS)]
pub struct Managed {
    pub managed: bool,
}

/// Which log entries to return.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    /// Only entries after this `seq`.
    pub since: Option<u64>,
    /// Only the last N matching entries (at most 100000).
    pub tail: Option<usize>,
    /// Only entries of this level or more severe.
    pub level: Option<LogLevel>,
    /// Only entries of this source.
    pub source: Option<LogSource>,
}

impl LogsQuery {
    /// True when `e` passes the filters (`since` aside).
    pub fn keeps(&self, e: &LogEntry) -> bool {
        self.level.is_none_or(|l| e.level >= l) && self.source.is_none_or(|s| e.source == s)
    }
}

fn engine(state: &ApiState) -> Result<DevServerHandle, ApiError> {
    state.engine.upgrade().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the engine has stopped",
        )
    })
}

/// The engine, once `id` is known to it (managed or attached); else a 404.
async fn known(state: &ApiState, id: &str) -> Result<DevServerHandle, ApiError> {
    let engine = engine(state)?;
    if engine.is_managed(id).await? {
        Ok(engine)
    } else {
        Err(ApiError::not_found(format!(
            "ovdev runs no dev server for plugin `{id}` and is not attached to it"
        )))
    }
}

#[utoipa::path(get, path = "/api/v1/instance", tag = "instance",
    responses((status = 200, body = InstanceInfo), (status = 401, body = ErrorBody)))]
pub async fn instance(State(state): State<ApiState>) -> Result<Json<InstanceInfo>, ApiError> {
    let plugins = engine(&state)?
        .published_states()
        .into_iter()
        .map(|s| s.plugin_id)
        .collect();
    Ok(Json(InstanceInfo {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        state_dir: state.state_dir.display().to_string(),
        plugins,
    }))
}

#[utoipa::path(get, path = "/api/v1/plugins", tag = "plugins",
    responses((status = 200, description = "Every managed or attached plugin's state, by id", body = [DevServerState]),
        (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<ApiState>) -> Result<Json<Vec<DevServerState>>, ApiError> {
    // As published: a busy engine (a log flood) never delays a read.
    Ok(Json(engine(&state)?.published_states()))
}

#[utoipa::path(get, path = "/api/v1/plugins/{id}", tag = "plugins", params(IdPath),
    responses((status = 200, body = DevServerState), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<Json<DevServerState>, ApiError> {
    engine(&state)?
        .published_state(&id)
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "ovdev runs no dev server for plugin `{id}` and is not attached to it"
            ))
        })
}

#[utoipa::path(post, path = "/api/v1/plugins/{id}/start", tag = "control", params(IdPath),
    request_body(content = Option<StartRequest>, description = "Optional; without `devPath` the host's dev path is used"),
    responses((status = 200, description = "Started (or already running)", body = DevServerState),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn start(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
    OptionalJson(body): OptionalJson<StartRequest>,
) -> Result<Json<DevServerState>, ApiError> {
    let engine = engine(&state)?;
    let started = match body.and_then(|b| b.dev_path) {
        Some(path) => {
            if !std::path::Path::new(&path).is_absolute() || path.contains('\0') {
                return Err(ApiError::bad_request(format!(
                    "`devPath` must be an absolute path, got `{}`",
                    path.escape_debug()
                )));
            }
            engine.start_dev_server_for_path(&id, path).await?
        }
        None => engine.start_dev_server(&id).await?,
    };
    Ok(Json(started))
}

#[utoipa::path(post, path = "/api/v1/plugins/{id}/stop", tag = "control", params(IdPath),
    responses((status = 204, description = "Stopped: its processes are gone"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<StatusCode, ApiError> {
    engine(&state)?.stop_dev_server(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/plugins/{id}/restart", tag = "control", params(IdPath),
    responses((status = 200, body = DevServerState), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restart(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<Json<DevServerState>, ApiError> {
    Ok(Json(
        known(&state, &id).await?.restart_dev_server(&id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/plugins/{id}/rebuild", tag = "control", params(IdPath),
    responses((status = 202, description = "A build starts now, or once more after the running one"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn rebuild(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<StatusCode, ApiError> {
    engine(&state)?.rebuild_plugin(&id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v1/plugins/{id}/managed", tag = "plugins", params(IdPath),
    responses((status = 200, body = Managed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn managed(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<Json<Managed>, ApiError> {
    let managed = engine(&state)?.is_managed(&id).await?;
    Ok(Json(Managed { managed }))
}

#[utoipa::path(post, path = "/api/v1/plugins/{id}/attach", tag = "control", params(IdPath),
    request_body(content = Option<AttachRequest>, description = "Optional"),
    responses((status = 200, body = DevServerState), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn attach(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
    OptionalJson(body): OptionalJson<AttachRequest>,
) -> Result<Json<DevServerState>, ApiError> {
    let port = body.and_then(|b| b.vite_port).unwrap_or(0);
    Ok(Json(engine(&state)?.attach_external(&id, port).await?))
}

#[utoipa::path(post, path = "/api/v1/plugins/{id}/detach", tag = "control", params(IdPath),
    responses((status = 204, description = "Detached; the process is untouched"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn detach(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<StatusCode, ApiError> {
    engine(&state)?.detach_external(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/plugins/{id}/devinfo", tag = "plugins", params(IdPath),
    responses((status = 200, description = "The attached external plugin's .devinfo (Omniview's GetExternalPluginInfo)", body = DevInfoFile),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn devinfo(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<Json<DevInfoFile>, ApiError> {
    engine(&state)?
        .get_external_plugin_info(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no external plugin `{id}` is attached")))
}

#[utoipa::path(get, path = "/api/v1/plugins/{id}/builds", tag = "plugins", params(IdPath),
    responses((status = 200, description = "The last 20 builds, oldest first", body = [BuildRecord]),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn builds(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<Json<Vec<BuildRecord>>, ApiError> {
    Ok(Json(
        known(&state, &id).await?.get_build_history(&id).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/plugins/{id}/errors", tag = "plugins", params(IdPath),
    responses((status = 200, description = "The errors of the last finished build (none when it succeeded)", body = BuildErrorsPayload),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn errors(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
) -> Result<Json<BuildErrorsPayload>, ApiError> {
    let history = known(&state, &id).await?.get_build_history(&id).await?;
    let last = history
        .into_iter()
        .rev()
        .find(|b| b.result != BuildResult::Cancelled);
    let errors = last
        .filter(|b| b.result != BuildResult::Succeeded)
        .map(|b| b.errors)
        .unwrap_or_default();
    Ok(Json(BuildErrorsPayload {
        plugin_id: id,
        errors,
    }))
}

#[utoipa::path(get, path = "/api/v1/plugins/{id}/logs", tag = "logs", params(IdPath, LogsQuery),
    responses((status = 200, description = "Kept log entries, oldest first", body = [LogEntry]),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn logs(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
    ApiQuery(q): ApiQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    let tail = q.tail.unwrap_or(MAX_TAIL);
    if tail > MAX_TAIL {
        return Err(ApiError::bad_request(format!(
            "`tail` is at most {MAX_TAIL}"
        )));
    }
    let entries = known(&state, &id)
        .await?
        .get_dev_server_logs(&id, None)
        .await?;
    let since = q.since.unwrap_or(0);
    let kept: Vec<LogEntry> = entries
        .into_iter()
        .filter(|e| (q.since.is_none() || e.seq > since) && q.keeps(e))
        .collect();
    let from = kept.len().saturating_sub(tail);
    let mut body = Vec::new();
    ovdev_actors::log_json::write_log_entries(&mut body, &kept[from..]);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Query of the log stream.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogStreamQuery {
    /// Start after this `seq` (default: with the entries kept now). `Last-Event-ID` wins.
    pub since: Option<u64>,
    /// Only entries of this level or more severe.
    pub level: Option<LogLevel>,
    /// Only entries of this source.
    pub source: Option<LogSource>,
    /// At most this many lines a second (a page cannot show more): under a flood the newest
    /// of each batch are sent and the others counted in `ovdev/lines_skipped` `{count}`.
    #[param(minimum = 1)]
    pub max_rate: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/plugins/{id}/logs/stream", tag = "logs", params(IdPath, LogStreamQuery),
    responses((status = 200, description = "Server-Sent Events: `plugin/devserver/log` with `LogEntry[]` (id: the last entry's seq), and `ovdev/events_missed` with `{count}`", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn log_stream(
    State(state): State<ApiState>,
    PluginId(id): PluginId,
    ApiQuery(q): ApiQuery<LogStreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let engine = known(&state, &id).await?;
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let filter = LogsQuery {
        since: resumed.or(q.since),
        tail: None,
        level: q.level,
        source: q.source,
    };
    // Ring position first, then the kept entries: nothing falls between the two.
    let cursor = state.events.next();
    if q.max_rate == Some(0) {
        return Err(ApiError::bad_request("`max_rate` is at least 1"));
    }
    let kept = engine.get_dev_server_logs(&id, None).await?;
    Ok(streams::logs(
        state.events.clone(),
        cursor,
        id,
        filter,
        kept,
        q.max_rate,
    ))
}

/// Query of the event stream.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events about this plugin (and `ovdev/events_missed`).
    pub plugin: Option<String>,
    /// Only these event names, comma-separated (for example `plugin/devserver/status`).
    pub name: Option<String>,
    /// Resume after this event id, for clients that cannot send `Last-Event-ID` (a new
    /// `EventSource`); the header wins.
    #[serde(rename = "lastEventId")]
    pub last_event_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery),
    responses((status = 200, description = "Server-Sent Events with the payloads of docs/events.md; id `<epoch>-<n>`, resumable with `Last-Event-ID`; `ovdev/events_missed` `{count}` when the client fell behind", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn events(
    State(state): State<ApiState>,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let filter = streams::EventFilter::parse(q.plugin, q.name)?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(q.last_event_id.as_deref());
    let cursor = state.events.resume_from(last);
    Ok(streams::events(state.events.clone(), cursor, filter))
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "instance",
    responses((status = 200, description = "This document"), (status = 401, body = ErrorBody)))]
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
        .into_response()
}
