//! Reads the hclog lines that go-plugin plugins print on stderr into a level and a readable
//! message: JSON (`{"@level":"debug","@message":"...",...}`, go-plugin's default logger) and
//! text (`2026-11-30T04:31:06.053Z [INFO]  name: message: key=value`, the Omniview plugin
//! SDK's logger).

use crate::types::LogLevel;

/// The level and message of an hclog line, JSON or text; `None` when `line` is neither.
pub fn parse_hclog(line: &str) -> Option<(LogLevel, String)> {
    parse_json(line).or_else(|| parse_text(line))
}

/// A text line: a timestamp, the level in brackets, then the logger's name, message and
/// fields, which are kept as they are (the entry has its own timestamp and level).
fn parse_text(line: &str) -> Option<(LogLevel, String)> {
    let (stamp, rest) = line.split_once(' ')?;
    if !(stamp.len() >= 10 && stamp.as_bytes()[..4].iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let rest = rest.strip_prefix('[')?;
    let (tag, message) = rest.split_once(']')?;
    let level = match tag {
        "TRACE" | "DEBUG" => LogLevel::Debug,
        "INFO" => LogLevel::Info,
        "WARN" => LogLevel::Warn,
        "ERROR" => LogLevel::Error,
        _ => return None,
    };
    Some((level, message.trim().to_string()))
}

/// A JSON line; extra fields are appended as `key=value`.
fn parse_json(line: &str) -> Option<(LogLevel, String)> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
    let obj = value.as_object()?;
    let message = obj.get("@message")?.as_str()?.to_string();
    let level = match obj.get("@level").and_then(|l| l.as_str()).unwrap_or("info") {
        "trace" | "debug" => LogLevel::Debug,
        "warn" | "warning" => LogLevel::Warn,
        "error" => LogLevel::Error,
        _ => LogLevel::Info,
    };
    let mut out = message;
    for (k, v) in obj.iter().filter(|(k, _)| !k.starts_with('@')) {
        match v {
            serde_json::Value::String(s) => out.push_str(&format!(" {k}={s}")),
            other => out.push_str(&format!(" {k}={other}")),
        }
    }
    Some((level, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_level_message_and_fields() {
        let line = r#"{"@level":"debug","@message":"plugin address","@timestamp":"2026-11-22T02:18:19.775499Z","address":"/tmp/plugin1","network":"unix"}"#;
        assert_eq!(
            parse_hclog(line),
            Some((
                LogLevel::Debug,
                "plugin address address=/tmp/plugin1 network=unix".into()
            ))
        );
        assert_eq!(
            parse_hclog(r#"{"@level":"error","@message":"boom","code":3}"#),
            Some((LogLevel::Error, "boom code=3".into()))
        );
    }

    #[test]
    fn reads_text_lines_of_the_sdk_logger() {
        assert_eq!(
            parse_hclog(
                r#"2026-11-30T04:31:06.053Z [INFO]  hello-plugin: starting: greeting="hi""#
            ),
            Some((
                LogLevel::Info,
                r#"hello-plugin: starting: greeting="hi""#.into()
            ))
        );
        assert_eq!(
            parse_hclog("2026-11-30T04:31:06.054Z [DEBUG] plugin: plugin address: network=unix"),
            Some((
                LogLevel::Debug,
                "plugin: plugin address: network=unix".into()
            ))
        );
        assert_eq!(
            parse_hclog("2026-11-30T04:31:06.054+0100 [TRACE] x: y").map(|p| p.0),
            Some(LogLevel::Debug)
        );
        assert_eq!(
            parse_hclog("2026-11-30T04:31:06.054Z [WARN]  x: careful").map(|p| p.0),
            Some(LogLevel::Warn)
        );
        assert_eq!(
            parse_hclog("2026-11-30T04:31:06.054Z [ERROR] x: failed: error=\"boom\"").map(|p| p.0),
            Some(LogLevel::Error)
        );
    }

    #[test]
    fn other_lines_are_not_hclog() {
        assert_eq!(parse_hclog("2026/11/22 plain log"), None);
        assert_eq!(parse_hclog("2026-11-30 [NOTICE] not a level"), None);
        assert_eq!(parse_hclog("[ERROR] no timestamp"), None);
        assert_eq!(parse_hclog("12:00:01 [vite] hmr update"), None);
        assert_eq!(parse_hclog(r#"{"msg":"no @message"}"#), None);
        assert_eq!(parse_hclog("{broken"), None);
    }
}
