//! How a verb finds the running ovdev: its runtime file on the state directory.

use std::time::Duration;

use omniview_devserver::api::client::ApiClient;
use omniview_devserver::api::runtime_file::{live_instances, RuntimeInfo};
use omniview_devserver::resolve_state_dir;

use super::args::VerbArgs;

/// A verb's failure: the message, and the exit code.
#[derive(Debug)]
pub struct VerbError {
    pub message: String,
    pub code: u8,
}

impl VerbError {
    /// Exit code 1: it could not be done.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<omniview_devserver::api::client::ClientError> for VerbError {
    fn from(e: omniview_devserver::api::client::ClientError) -> Self {
        Self::failed(e.to_string())
    }
}

fn describe(i: &RuntimeInfo) -> String {
    let plugins = if i.plugins.is_empty() {
        "no plugins".to_string()
    } else {
        i.plugins.join(", ")
    };
    format!("pid {} ({plugins})", i.pid)
}

/// The instance `args` choose: with `--pid` that one; else the only one running.
pub fn find(args: &VerbArgs) -> Result<RuntimeInfo, VerbError> {
    let state = resolve_state_dir(args.state_dir.clone())
        .map_err(|e| VerbError::failed(super::hints::builder_error(&e)))?;
    let mut live = live_instances(&state);
    if let Some(pid) = args.pid {
        return live
            .into_iter()
            .find(|i| i.pid as u32 == pid)
            .ok_or_else(|| {
                VerbError::failed(format!(
                    "no ovdev with pid {pid} serves its API on {}",
                    state.display()
                ))
            });
    }
    match live.len() {
        0 => Err(VerbError::failed(format!(
            "no ovdev is running on {}; start one with `ovdev dev ./my-plugin` (or give --state-dir)",
            state.display()
        ))),
        1 => Ok(live.remove(0)),
        _ => Err(VerbError::failed(format!(
            "{} ovdev processes run on {}: {}; choose one with --pid PID",
            live.len(),
            state.display(),
            live.iter().map(describe).collect::<Vec<_>>().join("; ")
        ))),
    }
}

/// A client of the chosen instance, and the plugin id: the one given, or the only plugin
/// the instance runs.
pub fn client_for(
    args: &VerbArgs,
    id: Option<&str>,
) -> Result<(ApiClient, RuntimeInfo, String), VerbError> {
    if let Some(id) = id {
        // Checked here: an id with `/` or `..` would name another address.
        ovdev_actors::plugin_id::validate_plugin_id(id).map_err(|e| VerbError {
            message: e.to_string(),
            code: 2,
        })?;
    }
    let info = find(args)?;
    let id = match id {
        Some(id) => id.to_string(),
        None => match info.plugins.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(VerbError::failed(format!(
                    "ovdev ({}) runs no plugin; give a plugin id",
                    describe(&info)
                )))
            }
            many => {
                return Err(VerbError::failed(format!(
                    "ovdev runs several plugins ({}); say which one",
                    many.join(", ")
                )))
            }
        },
    };
    Ok((ApiClient::new(&info), info, id))
}

/// `90s`, `5m`, `500ms`, `1h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, VerbError> {
    let t = text.trim();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, ""), |i| t.split_at(i));
    let n: u64 = num.parse().map_err(|_| VerbError {
        message: format!("cannot read the duration `{text}`; write it like 60s, 2m or 500ms"),
        code: 2,
    })?;
    Ok(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => {
            return Err(VerbError {
                message: format!("unknown unit in `{text}`; use ms, s, m or h"),
                code: 2,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("7").unwrap().as_secs(), 7);
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("x").unwrap_err().code, 2);
        assert_eq!(parse_duration("5 weeks").unwrap_err().code, 2);
    }
}
