//! The verbs that drive a running ovdev through its API: `ls`, `get`, `logs`, `errors`,
//! `builds`, `rebuild`, `restart`, `stop`, `start`, `attach`, `detach`, `wait`.
//!
//! Exit codes: 0 done; 1 it could not be done (no ovdev running, refused, connection lost);
//! 2 usage; 3 `wait` or `rebuild` timed out; 4 the answer is a failure (`errors`: the last
//! build has errors; `rebuild`: the build failed; `wait`: the plugin is in error).

mod logs;
mod wait;

pub use wait::{in_error, rebuild_and_wait, wait_for_state};

use std::io::Write as _;

use axum::http::Method;
use omniview_devserver::api::client::ApiClient;
use omniview_devserver::manifest::plugin_id_of;
use omniview_devserver::{
    BuildErrorsPayload, BuildRecord, BuildResult, BuildTrigger, DevProcessStatus, DevServerState,
    Severity,
};

use super::args::{AttachArgs, Command, IdArgs, StartArgs, VerbArgs};
use super::instance::{client_for, find, VerbError};

/// Exit code: timed out.
const TIMED_OUT: u8 = 3;
/// Exit code: the answer is a failure.
const FAILURE: u8 = 4;

type Outcome = Result<u8, VerbError>;

/// Runs a verb; its exit code.
pub fn run(command: Command) -> u8 {
    let Some(runtime) = super::client_runtime() else {
        return 1;
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Ls(a) => ls(a).await,
            Command::Get(a) => get(a).await,
            Command::Logs(a) => logs::logs(a).await,
            Command::Errors(a) => errors(a).await,
            Command::Builds(a) => builds(a).await,
            Command::Rebuild(a) => wait::rebuild(a).await,
            Command::Restart(a) => simple(a, "restart", "restarted").await,
            Command::Stop(a) => simple(a, "stop", "stopped").await,
            Command::Start(a) => start(a).await,
            Command::Attach(a) => attach(a).await,
            Command::Detach(a) => simple(a, "detach", "detached from").await,
            Command::Wait(a) => wait::wait(a).await,
            Command::Open(a) => open(a),
            Command::Dev(_) | Command::ServeExternal(_) | Command::Mcp(_) => Ok(2),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ovdev: {}", e.message);
            e.code
        }
    }
}

fn print_json(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.write_all(b"\n");
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, VerbError> {
    serde_json::from_slice(bytes).map_err(|e| {
        VerbError::failed(format!(
            "ovdev's answer is not what this ovdev understands: {e}"
        ))
    })
}

fn side(status: DevProcessStatus) -> String {
    status.to_string()
}

fn local_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%H:%M:%S")
        .to_string()
}

/// `ovdev open`: the running instance's Dev Tools page in the browser.
fn open(a: VerbArgs) -> Outcome {
    let info = find(&a)?;
    let Some(url) = &info.url else {
        return Err(VerbError::failed(format!(
            "ovdev (pid {}) serves no page: it was started with --no-api",
            info.pid
        )));
    };
    let page = super::browser::page_url(url, &info.token);
    println!("{page}");
    super::browser::open(&page).map_err(VerbError::failed)?;
    Ok(0)
}

async fn ls(a: VerbArgs) -> Outcome {
    let info = find(&a)?;
    let client = ApiClient::new(&info);
    let bytes = client.call(Method::GET, "/api/v1/plugins", None).await?;
    if a.json {
        print_json(&bytes);
        return Ok(0);
    }
    let states: Vec<DevServerState> = decode(&bytes)?;
    if states.is_empty() {
        println!("ovdev (pid {}) runs no plugins", info.pid);
        return Ok(0);
    }
    let width = states
        .iter()
        .map(|s| s.plugin_id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    println!(
        "{:width$}  {:8}  {:8}  {:8}  {:4}  URL",
        "ID", "MODE", "GO", "VITE", "GRPC"
    );
    for s in &states {
        let mode = serde_json::to_value(s.mode)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        println!(
            "{:width$}  {:8}  {:8}  {:8}  {:4}  {}",
            s.plugin_id,
            mode,
            side(s.go_status),
            side(s.vite_status),
            if s.grpc_connected { "yes" } else { "no" },
            s.vite_url
        );
        if !s.last_error.is_empty() {
            println!("{:width$}  error: {}", "", first_line(&s.last_error));
        }
    }
    Ok(0)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn print_state(s: &DevServerState) {
    let mode = serde_json::to_value(s.mode)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    println!("{} ({mode})", s.plugin_id);
    let built = match s.last_build_time {
        Some(t) => format!(
            " (last build {} in {:.2}s)",
            local_time(t),
            s.last_build_duration.as_secs_f64()
        ),
        None => String::new(),
    };
    println!("  go:        {}{built}", side(s.go_status));
    println!("  vite:      {} {}", side(s.vite_status), s.vite_url);
    println!(
        "  grpc:      {}",
        if s.grpc_connected {
            "connected"
        } else {
            "not connected"
        }
    );
    if !s.dev_path.is_empty() {
        println!("  directory: {}", s.dev_path);
    }
    println!("  restarts:  {}", s.restarts);
    if !s.last_error.is_empty() {
        println!(
            "  error:     {}",
            s.last_error.replace('\n', "\n             ")
        );
    }
}

/// Prints a state the API answered, as JSON or text.
fn state_answer(bytes: &[u8], json: bool) -> Outcome {
    if json {
        print_json(bytes);
    } else {
        print_state(&decode(bytes)?);
    }
    Ok(0)
}

async fn get(a: IdArgs) -> Outcome {
    let (client, _, id) = client_for(&a.common, a.id.as_deref())?;
    let bytes = client
        .call(Method::GET, &format!("/api/v1/plugins/{id}"), None)
        .await?;
    state_answer(&bytes, a.common.json)
}

fn print_error_list(errors: &[omniview_devserver::BuildError]) {
    for e in errors {
        let warn = if e.severity == Severity::Warning {
            "warning: "
        } else {
            ""
        };
        println!("{}:{}:{}: {warn}{}", e.file, e.line, e.column, e.message);
    }
}

async fn errors(a: IdArgs) -> Outcome {
    let (client, _, id) = client_for(&a.common, a.id.as_deref())?;
    let bytes = client
        .call(Method::GET, &format!("/api/v1/plugins/{id}/errors"), None)
        .await?;
    let payload: BuildErrorsPayload = decode(&bytes)?;
    if a.common.json {
        print_json(&bytes);
    } else if payload.errors.is_empty() {
        println!("no build errors in the last build of {id}");
    } else {
        print_error_list(&payload.errors);
    }
    Ok(if payload.errors.is_empty() {
        0
    } else {
        FAILURE
    })
}

fn describe_trigger(t: &BuildTrigger) -> String {
    match t {
        BuildTrigger::Start => "start".into(),
        BuildTrigger::Manual => "manual".into(),
        BuildTrigger::Changes { files, more } => {
            let first = files
                .first()
                .map(|f| f.rsplit('/').next().unwrap_or(f))
                .unwrap_or("");
            let others = files.len().saturating_sub(1) + *more as usize;
            if others > 0 {
                format!("saved {first} (+{others})")
            } else {
                format!("saved {first}")
            }
        }
    }
}

fn result_word(r: BuildResult) -> &'static str {
    match r {
        BuildResult::Succeeded => "succeeded",
        BuildResult::Failed => "failed",
        BuildResult::Cancelled => "cancelled",
        BuildResult::TimedOut => "timed out",
    }
}

fn print_build(b: &BuildRecord) {
    println!(
        "#{:<4} {}  {:>7.2}s  {:9}  {}",
        b.number,
        local_time(b.started_at),
        b.duration.as_secs_f64(),
        result_word(b.result),
        describe_trigger(&b.trigger)
    );
}

async fn builds(a: IdArgs) -> Outcome {
    let (client, _, id) = client_for(&a.common, a.id.as_deref())?;
    let bytes = client
        .call(Method::GET, &format!("/api/v1/plugins/{id}/builds"), None)
        .await?;
    if a.common.json {
        print_json(&bytes);
        return Ok(0);
    }
    let history: Vec<BuildRecord> = decode(&bytes)?;
    if history.is_empty() {
        println!("no builds of {id} yet");
    }
    history.iter().for_each(print_build);
    Ok(0)
}

async fn simple(a: IdArgs, op: &str, done: &str) -> Outcome {
    let (client, _, id) = client_for(&a.common, a.id.as_deref())?;
    let bytes = client
        .call(Method::POST, &format!("/api/v1/plugins/{id}/{op}"), None)
        .await?;
    if !bytes.is_empty() {
        return state_answer(&bytes, a.common.json);
    }
    if a.common.json {
        print_json(b"{}");
    } else {
        println!("{done} {id}");
    }
    Ok(0)
}

async fn start(a: StartArgs) -> Outcome {
    let id = plugin_id_of(&a.dir, a.id.as_deref()).map_err(|e| VerbError {
        message: super::hints::manifest_error(&e),
        code: 2,
    })?;
    let dir = std::fs::canonicalize(&a.dir)
        .map_err(|e| VerbError::failed(format!("cannot resolve `{}`: {e}", a.dir.display())))?;
    let info = find(&a.common)?;
    let client = ApiClient::new(&info);
    let body = serde_json::json!({ "devPath": dir.display().to_string() });
    let bytes = client
        .call(
            Method::POST,
            &format!("/api/v1/plugins/{id}/start"),
            Some(body.to_string().into_bytes()),
        )
        .await?;
    state_answer(&bytes, a.common.json)
}

async fn attach(a: AttachArgs) -> Outcome {
    let (client, _, id) = client_for(&a.common, Some(&a.id))?;
    let body = a.vite_port.map(|p| {
        serde_json::json!({ "vitePort": p })
            .to_string()
            .into_bytes()
    });
    let bytes = client
        .call(Method::POST, &format!("/api/v1/plugins/{id}/attach"), body)
        .await?;
    state_answer(&bytes, a.common.json)
}
