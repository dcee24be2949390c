//! The verbs that wait for the engine: `rebuild` (for the build's result) and `wait`.

use axum::http::Method;
use futures::StreamExt as _;
use std::time::Duration;

use omniview_devserver::api::client::{ApiClient, ClientError, SseEvent};
use omniview_devserver::{
    BuildRecord, BuildResult, DevProcessStatus, DevServerMode, DevServerState,
};

use super::{decode, print_build, print_error_list, print_json, Outcome, FAILURE, TIMED_OUT};
use crate::cli::args::{RebuildArgs, WaitArgs};
use crate::cli::instance::{client_for, parse_duration, VerbError};

pub(super) async fn rebuild(a: RebuildArgs) -> Outcome {
    let timeout = parse_duration(&a.timeout)?;
    let (client, _, id) = client_for(&a.common, a.id.as_deref())?;
    if a.no_wait {
        client
            .call(Method::POST, &format!("/api/v1/plugins/{id}/rebuild"), None)
            .await?;
        if !a.common.json {
            println!("rebuild of {id} requested");
        }
        return Ok(0);
    }
    let Some(build) = rebuild_and_wait(&client, &id, timeout).await? else {
        eprintln!(
            "ovdev: the build of {id} did not finish within {}",
            a.timeout
        );
        return Ok(TIMED_OUT);
    };
    if a.common.json {
        print_json(&serde_json::to_vec(&build).unwrap_or_default());
    } else {
        print_build(&build);
        print_error_list(&build.errors);
        if build.errors.is_empty() && !build.error.is_empty() {
            println!("{}", build.error);
        }
    }
    Ok(if build.result == BuildResult::Succeeded {
        0
    } else {
        FAILURE
    })
}

/// Asks for a build of `id` and waits (at most `timeout`) for it to finish: its record, or
/// `None` when the time is up. A build cancelled by a newer save is not the answer; the one
/// after it is.
pub async fn rebuild_and_wait(
    client: &ApiClient,
    id: &str,
    timeout: Duration,
) -> Result<Option<BuildRecord>, VerbError> {
    let builds_path = format!("/api/v1/plugins/{id}/builds");
    let before: Vec<BuildRecord> = client.get_json(&builds_path).await?;
    let last = before.last().map_or(0, |b| b.number);
    // Listening before the request: no status of this build can pass unseen.
    let mut events = client
        .stream(&format!(
            "/api/v1/events?plugin={id}&name=plugin/devserver/status"
        ))
        .await?;
    client
        .call(Method::POST, &format!("/api/v1/plugins/{id}/rebuild"), None)
        .await?;
    let done = async {
        loop {
            let history: Vec<BuildRecord> = client.get_json(&builds_path).await?;
            let finished = history
                .into_iter()
                .rfind(|b| b.number > last && b.result != BuildResult::Cancelled);
            if let Some(b) = finished {
                return Ok::<_, VerbError>(b);
            }
            match events.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(VerbError::failed("ovdev stopped before the build finished")),
            }
        }
    };
    match tokio::time::timeout(timeout, done).await {
        Ok(b) => b.map(Some),
        Err(_) => Ok(None),
    }
}

/// How a wait for a plugin's state ended.
pub struct WaitEnd {
    /// The condition was met.
    pub met: bool,
    /// The last state seen (`None`: ovdev does not run the plugin).
    pub state: Option<DevServerState>,
}

/// Waits at most `timeout` for `condition` (`ready`, `connected`). An error the plugin is in
/// when the wait begins is not the end (the fix may just have been saved); one it enters
/// while waiting is.
pub async fn wait_for_state(
    client: &ApiClient,
    id: &str,
    condition: &str,
    timeout: Duration,
) -> Result<WaitEnd, VerbError> {
    let mut events = client
        .stream(&format!(
            "/api/v1/events?plugin={id}&name=plugin/devserver/status"
        ))
        .await?;
    let current = client
        .get_json::<DevServerState>(&format!("/api/v1/plugins/{id}"))
        .await;
    let mut state = match current {
        Ok(s) => Some(s),
        Err(ClientError::Api { code, .. }) if code == "not_found" => None,
        Err(e) => return Err(e.into()),
    };
    let waited = tokio::time::timeout(timeout, async {
        let mut entered_error = false;
        loop {
            if let Some(s) = &state {
                if condition_met(s, condition) {
                    return Ok(true);
                }
                if entered_error {
                    return Ok(false);
                }
            }
            match events.next().await {
                Some(Ok(SseEvent { event, data, .. })) if event == "plugin/devserver/status" => {
                    let new: DevServerState = decode(data.as_bytes())?;
                    let was = state
                        .as_ref()
                        .filter(|s| in_error(s))
                        .map(|s| s.last_error.clone());
                    entered_error =
                        in_error(&new) && was.as_deref() != Some(new.last_error.as_str());
                    state = Some(new);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(VerbError::from(e)),
                None => return Err(VerbError::failed("ovdev stopped while waiting")),
            }
        }
    })
    .await;
    let met = match waited {
        Ok(result) => result?,
        Err(_) => false,
    };
    Ok(WaitEnd { met, state })
}

/// True when `s` is what `wait --for` asks.
pub fn condition_met(s: &DevServerState, condition: &str) -> bool {
    use DevProcessStatus::{Idle, Ready};
    let ready = s.mode != DevServerMode::Idle
        && matches!(s.go_status, Ready | Idle)
        && matches!(s.vite_status, Ready | Idle)
        && !(s.go_status == Idle && s.vite_status == Idle);
    ready && (condition != "connected" || s.grpc_connected)
}

pub fn in_error(s: &DevServerState) -> bool {
    s.go_status == DevProcessStatus::Error || s.vite_status == DevProcessStatus::Error
}

/// `ovdev wait`: see [`wait_for_state`].
pub(super) async fn wait(a: WaitArgs) -> Outcome {
    let timeout = parse_duration(&a.timeout)?;
    let (client, _, id) = client_for(&a.common, a.id.as_deref())?;
    let WaitEnd { met, state } = wait_for_state(&client, &id, &a.condition, timeout).await?;
    if a.common.json {
        if let Some(s) = &state {
            print_json(&serde_json::to_vec(s).unwrap_or_default());
        }
    }
    match &state {
        _ if met => {
            if !a.common.json {
                println!("{id} is {}", a.condition);
            }
            Ok(0)
        }
        Some(s) if in_error(s) => {
            eprintln!("ovdev: {id} is in error: {}", s.last_error);
            Ok(FAILURE)
        }
        _ => {
            let now = state.as_ref().map_or("not running".to_string(), |s| {
                format!("go {}, vite {}", s.go_status, s.vite_status)
            });
            eprintln!(
                "ovdev: {id} was not {} within {} (now: {now})",
                a.condition, a.timeout
            );
            Ok(TIMED_OUT)
        }
    }
}
