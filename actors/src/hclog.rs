//! Reads hclog JSON lines (`{"@level":"debug","@message":"...",...}`), which go-plugin
//! plugins print on stderr, into a level and a readable message.

use crate::types::LogLevel;

/// The level and message of an hclog JSON line; `None` when `line` is not one. Extra fields
/// are appended as `key=value`.
pub fn parse_hclog(line: &str) -> Option<(LogLevel, String)> {
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
    fn other_lines_are_not_hclog() {
        assert_eq!(parse_hclog("2026/11/22 plain log"), None);
        assert_eq!(parse_hclog(r#"{"msg":"no @message"}"#), None);
        assert_eq!(parse_hclog("{broken"), None);
    }
}
