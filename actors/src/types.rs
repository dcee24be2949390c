//! Domain types shared with the Omniview frontend, serialized exactly as the Go reference does.
//!
//! Field names follow `DevServerState`, `LogEntry`, `BuildError` and `DevInfoFile` of the spec;
//! durations are integer nanoseconds and times are RFC 3339 strings like Go's `time.Time`
//! (`"0001-01-01T00:00:00Z"` for "never"). Extra fields may be added, never renamed.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Event carrying one [`DevServerState`] whenever any of its fields changes.
pub const EVENT_DEV_SERVER_STATUS: &str = "plugin/devserver/status";
/// Event carrying a batch (`LogEntry[]`) of log lines.
pub const EVENT_DEV_SERVER_LOG: &str = "plugin/devserver/log";
/// Event carrying `{pluginID, errors}` after a failed Go build.
pub const EVENT_DEV_SERVER_ERROR: &str = "plugin/devserver/error";
/// Event a plugin host publishes (plugin metadata) before it reloads a plugin.
pub const EVENT_DEV_RELOAD_START: &str = "plugin/dev_reload_start";
/// Event a plugin host publishes (plugin metadata) after it reloaded a plugin.
pub const EVENT_DEV_RELOAD_COMPLETE: &str = "plugin/dev_reload_complete";
/// Event a plugin host publishes (`[metadata, "error text"]`) when a reload failed.
pub const EVENT_DEV_RELOAD_ERROR: &str = "plugin/dev_reload_error";

/// How the dev server of a plugin is managed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum DevServerMode {
    /// No dev server runs for this plugin.
    #[default]
    Idle,
    /// ovdev spawned and manages Vite and the Go watcher.
    Managed,
    /// The developer runs the plugin; ovdev attached through `.devinfo`.
    External,
}

/// Status of either the Vite side or the Go side of a dev server.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum DevProcessStatus {
    /// Not started, or this side does not exist for the plugin.
    #[default]
    Idle,
    /// Spawning, installing dependencies, or waiting for readiness.
    Starting,
    /// A Go build is running.
    Building,
    /// Running but not (yet) known to be ready.
    Running,
    /// Vite serves the UI, or the last Go build succeeded.
    Ready,
    /// The last attempt failed; see `lastError`.
    Error,
    /// Stopped on request.
    Stopped,
}

impl fmt::Display for DevProcessStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::Idle => "idle",
            Self::Starting => "starting",
            Self::Building => "building",
            Self::Running => "running",
            Self::Ready => "ready",
            Self::Error => "error",
            Self::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// The state of one plugin's dev server, as the frontend receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct DevServerState {
    #[serde(rename = "pluginID")]
    pub plugin_id: String,
    pub mode: DevServerMode,
    #[serde(rename = "devPath")]
    pub dev_path: String,
    #[serde(rename = "vitePort")]
    pub vite_port: u16,
    /// Non-empty only while `viteStatus == "ready"`.
    #[serde(rename = "viteURL")]
    pub vite_url: String,
    #[serde(rename = "viteStatus")]
    pub vite_status: DevProcessStatus,
    #[serde(rename = "goStatus")]
    pub go_status: DevProcessStatus,
    /// Nanoseconds (Go's `time.Duration`).
    #[serde(rename = "lastBuildDuration", with = "go_duration")]
    #[schema(value_type = u64)]
    #[ts(type = "number")]
    pub last_build_duration: Duration,
    /// RFC 3339; `0001-01-01T00:00:00Z` before the first build (Go's zero time).
    #[serde(rename = "lastBuildTime", with = "go_time")]
    #[schema(value_type = String)]
    #[ts(type = "string")]
    pub last_build_time: Option<DateTime<Utc>>,
    #[serde(rename = "lastError")]
    pub last_error: String,
    #[serde(rename = "grpcConnected")]
    pub grpc_connected: bool,
    /// How often a crashed child (Vite, the Go watcher) was restarted (an ovdev addition).
    #[serde(default)]
    pub restarts: u32,
}

impl DevServerState {
    /// The state of a plugin with no dev server: mode `idle`, everything else empty.
    pub fn idle(plugin_id: &str) -> Self {
        Self {
            plugin_id: plugin_id.to_string(),
            mode: DevServerMode::Idle,
            dev_path: String::new(),
            vite_port: 0,
            vite_url: String::new(),
            vite_status: DevProcessStatus::Idle,
            go_status: DevProcessStatus::Idle,
            last_build_duration: Duration::ZERO,
            last_build_time: None,
            last_error: String::new(),
            grpc_connected: false,
            restarts: 0,
        }
    }

    /// The URL the frontend loads the UI from when Vite is ready on `port`.
    pub fn vite_url_for(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }
}

/// Where a log line came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
pub enum LogSource {
    #[serde(rename = "vite")]
    Vite,
    #[serde(rename = "go-build")]
    GoBuild,
    #[serde(rename = "go-watch")]
    GoWatch,
    #[serde(rename = "manager")]
    Manager,
    /// The plugin process itself (used by plugin hosts).
    #[serde(rename = "plugin")]
    Plugin,
}

impl LogSource {
    /// The wire name, also used as the CLI's prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vite => "vite",
            Self::GoBuild => "go-build",
            Self::GoWatch => "go-watch",
            Self::Manager => "manager",
            Self::Plugin => "plugin",
        }
    }
}

/// Severity of a log line.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// One log line of a plugin's dev server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct LogEntry {
    /// RFC 3339.
    #[serde(with = "go_time_required")]
    #[schema(value_type = String, format = DateTime)]
    #[ts(type = "string")]
    pub timestamp: DateTime<Utc>,
    pub source: LogSource,
    pub level: LogLevel,
    /// The raw line, ANSI escapes kept.
    pub message: String,
    /// Shared by all of a plugin's entries.
    #[serde(rename = "pluginID")]
    #[schema(value_type = String)]
    #[ts(type = "string")]
    pub plugin_id: std::sync::Arc<str>,
    /// Per-plugin, strictly increasing sequence number (an ovdev addition).
    pub seq: u64,
}

/// How bad a build problem is, as the IDE's error overlay shows it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The build failed because of it.
    #[default]
    Error,
    /// The tool said `warning:`; the build may still have succeeded.
    Warning,
}

/// A Go compiler error with an absolute file path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct BuildError {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// `error`, or `warning` where the tool reported one (files without it read as errors).
    #[serde(default)]
    pub severity: Severity,
}

/// Payload of `plugin/devserver/error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct BuildErrorsPayload {
    #[serde(rename = "pluginID")]
    pub plugin_id: String,
    pub errors: Vec<BuildError>,
}

/// The `.devinfo` file an externally run plugin writes (external mode, a later issue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct DevInfoFile {
    pub pid: i32,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(rename = "protocolVersion", default = "default_protocol_version")]
    pub protocol_version: u32,
    pub addr: String,
    #[serde(rename = "vitePort", default, skip_serializing_if = "is_zero")]
    #[ts(optional = nullable)]
    pub vite_port: u16,
    #[serde(rename = "pluginId", default, skip_serializing_if = "String::is_empty")]
    #[ts(optional = nullable)]
    pub plugin_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[ts(optional = nullable)]
    pub version: String,
    #[serde(rename = "startedAt", default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    #[ts(type = "string", optional)]
    pub started_at: Option<DateTime<Utc>>,
    /// `unix` or `tcp` (an ovdev addition; without it, an absolute `addr` means unix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

fn default_protocol() -> String {
    "grpc".to_string()
}
fn default_protocol_version() -> u32 {
    1
}
fn is_zero(v: &u16) -> bool {
    *v == 0
}

/// Formats a time the way Go's `time.Time.MarshalJSON` does (RFC 3339, trailing zeros of the
/// fraction trimmed).
pub fn format_go_time(t: &DateTime<Utc>) -> String {
    let mut buf = [0u8; GO_TIME_MAX_LEN];
    write_go_time(t, &mut buf).to_string()
}

/// Longest text [`write_go_time`] produces (`-YYYY` years aside, which Go cannot marshal).
pub(crate) const GO_TIME_MAX_LEN: usize = 30;

/// [`format_go_time`] into `buf`, without allocating: every log entry carries a timestamp, and
/// a strftime per line was the largest cost of serialising a log flood.
pub(crate) fn write_go_time<'a>(t: &DateTime<Utc>, buf: &'a mut [u8; GO_TIME_MAX_LEN]) -> &'a str {
    use chrono::{Datelike, Timelike};
    fn digits(out: &mut [u8], mut value: u32) {
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    let year = t.year();
    if !(0..=9999).contains(&year) {
        // Outside Go's range: not worth a fast path.
        let text = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        let n = text.len().min(GO_TIME_MAX_LEN);
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        return std::str::from_utf8(&buf[..n]).unwrap_or_default();
    }
    digits(&mut buf[0..4], year as u32);
    buf[4] = b'-';
    digits(&mut buf[5..7], t.month());
    buf[7] = b'-';
    digits(&mut buf[8..10], t.day());
    buf[10] = b'T';
    digits(&mut buf[11..13], t.hour());
    buf[13] = b':';
    digits(&mut buf[14..16], t.minute());
    buf[16] = b':';
    // A leap second shows as second 60, as Go prints it.
    let nanos = t.nanosecond();
    digits(&mut buf[17..19], t.second() + nanos / 1_000_000_000);
    let mut len = 19;
    let frac = nanos % 1_000_000_000;
    if frac != 0 {
        buf[19] = b'.';
        digits(&mut buf[20..29], frac);
        len = 29;
        while buf[len - 1] == b'0' {
            len -= 1;
        }
    }
    buf[len] = b'Z';
    // Only ASCII digits and separators were written.
    std::str::from_utf8(&buf[..=len]).unwrap_or_default()
}

const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn parse_go_time(s: &str) -> Result<Option<DateTime<Utc>>, chrono::ParseError> {
    if s == GO_ZERO_TIME {
        return Ok(None);
    }
    Ok(Some(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc)))
}

pub(crate) mod go_time {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(write_go_time(t, &mut [0; GO_TIME_MAX_LEN])),
            None => s.serialize_str(GO_ZERO_TIME),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let s = String::deserialize(d)?;
        parse_go_time(&s).map_err(serde::de::Error::custom)
    }
}

pub(crate) mod go_time_required {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(write_go_time(t, &mut [0; GO_TIME_MAX_LEN]))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

pub(crate) mod go_duration {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        // Go's time.Duration is an int64 of nanoseconds; saturate rather than wrap.
        s.serialize_i64(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let n = i64::deserialize(d)?;
        Ok(Duration::from_nanos(n.max(0) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn go_times_match_strftime_for_every_fraction_shape() {
        let slow = |t: &DateTime<Utc>| {
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            match t.timestamp_subsec_nanos() {
                0 => format!("{base}Z"),
                n => format!("{base}.{}Z", format!("{n:09}").trim_end_matches('0')),
            }
        };
        for (secs, nanos) in [
            (0, 0),
            (1_764_475_200, 0),
            (1_764_475_200, 500_000_000),
            (1_764_475_200, 123_456_789),
            (1_764_475_200, 1),
            (1_764_475_200, 120_000),
            (253_402_300_799, 999_999_999),
            (-62_135_596_800, 0),
        ] {
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            assert_eq!(format_go_time(&t), slow(&t), "{secs} {nanos}");
        }
    }
    use serde_json::json;

    fn sample_state() -> DevServerState {
        DevServerState {
            plugin_id: "hello".into(),
            mode: DevServerMode::Managed,
            dev_path: "/src/hello".into(),
            vite_port: 15173,
            vite_url: "http://127.0.0.1:15173".into(),
            vite_status: DevProcessStatus::Ready,
            go_status: DevProcessStatus::Building,
            last_build_duration: Duration::from_millis(1500),
            last_build_time: Some(
                Utc.with_ymd_and_hms(2026, 2, 16, 10, 30, 0).unwrap()
                    + chrono::Duration::nanoseconds(120_000_000),
            ),
            last_error: String::new(),
            grpc_connected: false,
            restarts: 2,
        }
    }

    #[test]
    fn dev_server_state_matches_the_frontend_fixture() {
        let fixture = r#"{"pluginID":"hello","mode":"managed","devPath":"/src/hello","vitePort":15173,"viteURL":"http://127.0.0.1:15173","viteStatus":"ready","goStatus":"building","lastBuildDuration":1500000000,"lastBuildTime":"2026-02-16T10:30:00.12Z","lastError":"","grpcConnected":false,"restarts":2}"#;
        assert_eq!(serde_json::to_string(&sample_state()).unwrap(), fixture);
        let parsed: DevServerState = serde_json::from_str(fixture).unwrap();
        assert_eq!(parsed, sample_state());
    }

    #[test]
    fn never_built_serializes_as_go_zero_time() {
        let v = serde_json::to_value(DevServerState::idle("p")).unwrap();
        assert_eq!(
            v,
            json!({"pluginID":"p","mode":"idle","devPath":"","vitePort":0,"viteURL":"",
                   "viteStatus":"idle","goStatus":"idle","lastBuildDuration":0,
                   "lastBuildTime":"0001-01-01T00:00:00Z","lastError":"","grpcConnected":false,
                   "restarts":0})
        );
        let back: DevServerState = serde_json::from_value(v).unwrap();
        assert_eq!(back.last_build_time, None);
    }

    #[test]
    fn every_status_has_its_wire_name() {
        let all = [
            (DevProcessStatus::Idle, "idle"),
            (DevProcessStatus::Starting, "starting"),
            (DevProcessStatus::Building, "building"),
            (DevProcessStatus::Running, "running"),
            (DevProcessStatus::Ready, "ready"),
            (DevProcessStatus::Error, "error"),
            (DevProcessStatus::Stopped, "stopped"),
        ];
        for (status, name) in all {
            assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
            assert_eq!(status.to_string(), name);
        }
        assert_eq!(
            serde_json::to_value(DevServerMode::External).unwrap(),
            json!("external")
        );
    }

    #[test]
    fn log_entry_matches_fixture() {
        let fixture = r#"{"timestamp":"2026-02-16T10:30:00.000000001Z","source":"go-build","level":"error","message":"\u001b[31mboom\u001b[0m","pluginID":"hello","seq":7}"#;
        let entry = LogEntry {
            timestamp: Utc.with_ymd_and_hms(2026, 2, 16, 10, 30, 0).unwrap()
                + chrono::Duration::nanoseconds(1),
            source: LogSource::GoBuild,
            level: LogLevel::Error,
            message: "\u{1b}[31mboom\u{1b}[0m".into(),
            plugin_id: "hello".into(),
            seq: 7,
        };
        assert_eq!(serde_json::to_string(&entry).unwrap(), fixture);
        assert_eq!(serde_json::from_str::<LogEntry>(fixture).unwrap(), entry);
    }

    #[test]
    fn build_errors_payload_matches_fixture() {
        let fixture = r#"{"pluginID":"hello","errors":[{"file":"/src/hello/pkg/main.go","line":12,"column":5,"message":"undefined: x","severity":"error"}]}"#;
        let payload = BuildErrorsPayload {
            plugin_id: "hello".into(),
            errors: vec![BuildError {
                file: "/src/hello/pkg/main.go".into(),
                line: 12,
                column: 5,
                message: "undefined: x".into(),
                severity: Severity::Error,
            }],
        };
        assert_eq!(serde_json::to_string(&payload).unwrap(), fixture);
        assert_eq!(
            serde_json::from_str::<BuildErrorsPayload>(fixture).unwrap(),
            payload
        );
    }

    #[test]
    fn devinfo_matches_the_spec_example() {
        let fixture = r#"{"pid":48291,"protocol":"grpc","protocolVersion":1,"addr":"127.0.0.1:42367","vitePort":15173,"pluginId":"kubernetes","version":"0.5.0","startedAt":"2026-02-16T10:30:00Z"}"#;
        let info: DevInfoFile = serde_json::from_str(fixture).unwrap();
        assert_eq!(info.pid, 48291);
        assert_eq!(info.plugin_id, "kubernetes");
        assert_eq!(serde_json::to_string(&info).unwrap(), fixture);
        let minimal: DevInfoFile = serde_json::from_str(r#"{"pid":1,"addr":"/tmp/s"}"#).unwrap();
        assert_eq!(minimal.protocol, "grpc");
        assert_eq!(minimal.protocol_version, 1);
    }

    #[test]
    fn go_durations_are_nanoseconds() {
        let mut s = DevServerState::idle("p");
        s.last_build_duration = Duration::from_nanos(42);
        assert_eq!(
            serde_json::to_value(&s).unwrap()["lastBuildDuration"],
            json!(42)
        );
    }
}
