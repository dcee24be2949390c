// Generated from ovdev's Rust types by `OVDEV_BLESS=1 cargo test --test api_contract`; do not edit.
// The payloads of ovdev's local API (docs/api.md) and of `ovdev dev --json`.

/**
 * How the dev server of a plugin is managed.
 */
export type DevServerMode = "idle" | "managed" | "external";

/**
 * Status of either the Vite side or the Go side of a dev server.
 */
export type DevProcessStatus = "idle" | "starting" | "building" | "running" | "ready" | "error" | "stopped";

/**
 * The state of one plugin's dev server, as the frontend receives it.
 */
export type DevServerState = { pluginID: string, mode: DevServerMode, devPath: string, vitePort: number, 
/**
 * Non-empty only while `viteStatus == "ready"`.
 */
viteURL: string, viteStatus: DevProcessStatus, goStatus: DevProcessStatus, 
/**
 * Nanoseconds (Go's `time.Duration`).
 */
lastBuildDuration: number, 
/**
 * RFC 3339; `0001-01-01T00:00:00Z` before the first build (Go's zero time).
 */
lastBuildTime: string, lastError: string, grpcConnected: boolean, 
/**
 * How often a crashed child (Vite, the Go watcher) was restarted (an ovdev addition).
 */
restarts: number, };

/**
 * Where a log line came from.
 */
export type LogSource = "vite" | "go-build" | "go-watch" | "manager" | "plugin";

/**
 * Severity of a log line.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * One log line of a plugin's dev server.
 */
export type LogEntry = { 
/**
 * RFC 3339.
 */
timestamp: string, source: LogSource, level: LogLevel, 
/**
 * The raw line, ANSI escapes kept.
 */
message: string, 
/**
 * Shared by all of a plugin's entries.
 */
pluginID: string, 
/**
 * Per-plugin, strictly increasing sequence number (an ovdev addition).
 */
seq: number, };

/**
 * How bad a build problem is, as the IDE's error overlay shows it.
 */
export type Severity = "error" | "warning";

/**
 * A Go compiler error with an absolute file path.
 */
export type BuildError = { file: string, line: number, column: number, message: string, 
/**
 * `error`, or `warning` where the tool reported one (files without it read as errors).
 */
severity: Severity, };

/**
 * Payload of `plugin/devserver/error`.
 */
export type BuildErrorsPayload = { pluginID: string, errors: Array<BuildError>, };

/**
 * The `.devinfo` file an externally run plugin writes (external mode, a later issue).
 */
export type DevInfoFile = { pid: number, protocol: string, protocolVersion: number, addr: string, vitePort?: number, pluginId?: string, version?: string, startedAt?: string, 
/**
 * `unix` or `tcp` (an ovdev addition; without it, an absolute `addr` means unix).
 */
network?: string | null, };

/**
 * Why a build ran.
 */
export type BuildTrigger = { "kind": "start" } | { "kind": "manual" } | { "kind": "changes", files: Array<string>, 
/**
 * Changed files beyond those listed.
 */
more: number, };

/**
 * How a build ended.
 */
export type BuildResult = "succeeded" | "failed" | "cancelled" | "timedOut";

/**
 * One build of a plugin.
 */
export type BuildRecord = { 
/**
 * Per plugin, from 1, in the order the builds started.
 */
number: number, trigger: BuildTrigger, 
/**
 * When the compiler was started (RFC 3339).
 */
startedAt: string, 
/**
 * From the compiler's start to the end of the install and reload, in nanoseconds.
 */
duration: number, result: BuildResult, 
/**
 * What went wrong, empty when it succeeded.
 */
error: string, 
/**
 * The compiler's errors, as in `plugin/devserver/error`.
 */
errors: Array<BuildError>, };

/**
 * `ovdev/events_missed`: this many events were dropped for a client that fell behind.
 */
export type MissedCount = { count: number, };

/**
 * One event of `/api/v1/events` (its SSE `event:` is `name`, its `data:` is `data`), and
 * one line of `ovdev dev --json`.
 */
export type EventEnvelope = { "name": "plugin/devserver/status", "data": DevServerState } | { "name": "plugin/devserver/log", "data": Array<LogEntry> } | { "name": "plugin/devserver/error", "data": BuildErrorsPayload } | { "name": "plugin/dev_reload_start", "data": Record<string, unknown> } | { "name": "plugin/dev_reload_complete", "data": Record<string, unknown> } | { "name": "plugin/dev_reload_error", "data": [Record<string, unknown>, string] } | { "name": "ovdev/events_missed", "data": MissedCount };

/**
 * The body of every error answer.
 */
export type ErrorBody = { 
/**
 * What went wrong and what to do about it, for a person.
 */
error: string, 
/**
 * A stable word for programs: `unauthorized`, `forbidden_host`, `forbidden_origin`,
 * `bad_request`, `invalid_id`, `not_found`, `not_running`, `conflict`, `too_large`,
 * `method_not_allowed`, `unavailable`, `host_error`, `internal`.
 */
code: string, };

/**
 * What a running instance is.
 */
export type InstanceInfo = { pid: number, version: string, stateDir: string, 
/**
 * The plugins it runs or is attached to, sorted.
 */
plugins: Array<string>, };

/**
 * Body of a start: the plugin source to run; without it the host's dev path is used.
 */
export type StartRequest = { 
/**
 * Absolute path of the plugin's source directory.
 */
devPath?: string, };

/**
 * Body of an attach.
 */
export type AttachRequest = { 
/**
 * A Vite port that overrides the `.devinfo`'s.
 */
vitePort?: number, };

/**
 * Whether ovdev manages (or is attached to) a plugin.
 */
export type Managed = { managed: boolean, };

/**
 * The content of a runtime file.
 */
export type RuntimeInfo = { pid: number, 
/**
 * The process's start time (clock ticks since boot, `/proc/<pid>/stat` field 22): a
 * recycled pid has another.
 */
startTime: number, 
/**
 * ovdev's version.
 */
version: string, 
/**
 * The state directory the instance runs on.
 */
stateDir: string, 
/**
 * The unix socket the API listens on.
 */
socket: string, 
/**
 * `http://127.0.0.1:PORT` when the API also listens on TCP.
 */
url: string | null, 
/**
 * The token every request needs (`Authorization: Bearer <token>`).
 */
token: string, 
/**
 * The plugins the instance runs or is attached to.
 */
plugins: Array<string>, };
