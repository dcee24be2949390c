//! The local control API: HTTP/1.1 on a unix socket `<state>/run/ovdev-<pid>.sock` (mode
//! 0600) and, when asked, on a TCP address; every request needs the instance's token. See
//! `docs/api.md`.
//!
//! It runs on a thread of its own with its own single-threaded runtime, so that no client,
//! however slow or busy, takes time from the engine's actors; it holds the engine weakly (a
//! dropped handle still stops the engine) and reads events from one bus subscription into
//! the [`event_log::EventLog`] that every stream client reads at its own pace.

mod access;
pub mod client;
mod error;
pub mod event_log;
pub mod openapi;
mod page;
mod routes;
pub mod runtime_file;
mod serve;
mod streams;
pub mod wire;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::StreamExt as _;
use tokio::sync::oneshot;

pub use access::TOKEN_COOKIE;
pub use error::ErrorBody;
pub use routes::{AttachRequest, InstanceInfo, Managed, StartRequest};
pub use runtime_file::RuntimeInfo;

use crate::handle::WeakHandle;
use crate::{DevServerEvent, DevServerHandle, EventStream, Received};
use access::{Access, Transport};
use error::ApiError;
use event_log::EventLog;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest unix socket path (`sun_path` holds 108 bytes with the final NUL).
const MAX_SOCKET_PATH: usize = 107;
/// How long a stop waits for open connections before it drops them.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// How the API is served.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Also listen on this TCP address (port 0: any free port). A non-loopback address is
    /// only used when given explicitly, and the token is required there as everywhere.
    pub tcp: Option<SocketAddr>,
    /// When `tcp`'s port is taken, listen on a free port of the same address instead.
    pub tcp_fallback: bool,
    /// Keep the token in this file (mode 0600), made once and read by later starts: a page
    /// open in a browser keeps working across restarts. `None`: a new token every start.
    pub token_file: Option<PathBuf>,
    /// Connections served at once on each listener; more wait in the listen backlog.
    pub max_connections: usize,
    /// A connection that has not sent a whole request head in this time is closed.
    pub header_timeout: Duration,
    /// Events kept for stream clients (and their resumption): at most this many...
    pub max_events: usize,
    /// ...and this many bytes.
    pub max_event_bytes: usize,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            tcp: None,
            tcp_fallback: false,
            token_file: None,
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            max_events: event_log::DEFAULT_MAX_EVENTS,
            max_event_bytes: event_log::DEFAULT_MAX_BYTES,
        }
    }
}

/// Why the API could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error("cannot make a random token for the API: {0}")]
    Token(getrandom::Error),
    #[error(
        "cannot read or create the API token file {path}: {source} (delete it to make a new one)"
    )]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the run directory {path}: {source}")]
    RunDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the API socket path {0} is longer than the 107 bytes a unix socket allows; use a state directory with a shorter path")]
    SocketPathTooLong(PathBuf),
    #[error("cannot listen on {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source} (is another program using that port? port 0 picks a free one)")]
    Tcp {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the API thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot write the runtime file {path}: {source}")]
    RuntimeFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the API of this instance listens.
#[derive(Debug, Clone)]
pub struct ApiInfo {
    /// The unix socket.
    pub socket: PathBuf,
    /// `http://ADDR:PORT` when it listens on TCP too.
    pub url: Option<String>,
    /// The token every request needs.
    pub token: String,
    /// The runtime file that says all this to clients.
    pub runtime_file: PathBuf,
}

/// What every handler gets.
#[derive(Clone)]
struct ApiState {
    engine: WeakHandle,
    events: Arc<EventLog>,
    state_dir: Arc<Path>,
}

/// A running API server; [`ApiServer::stop`] ends it (the engine's shutdown does).
pub struct ApiServer {
    info: ApiInfo,
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl ApiServer {
    /// Listens (socket, and TCP when asked), writes the runtime file, and serves `handle`'s
    /// engine on a thread of its own.
    pub(crate) fn start(
        handle: &DevServerHandle,
        state_dir: &Path,
        options: ApiOptions,
    ) -> Result<Self, ApiStartError> {
        let token = match &options.token_file {
            Some(path) => {
                access::stored_token(path).map_err(|source| ApiStartError::TokenFile {
                    path: path.clone(),
                    source,
                })?
            }
            None => access::new_token().map_err(ApiStartError::Token)?,
        };
        let run = runtime_file::run_dir(state_dir);
        std::fs::create_dir_all(&run).map_err(|source| ApiStartError::RunDir {
            path: run.clone(),
            source,
        })?;
        // Runtime files (and sockets) of instances that died are removed on the way.
        let _ = runtime_file::live_instances(state_dir);
        let pid = std::process::id();
        let socket = runtime_file::socket_path(state_dir, pid);
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ApiStartError::SocketPathTooLong(socket));
        }
        let unix = bind_socket(&socket)?;
        let tcp = match options.tcp {
            Some(addr) => {
                let l = bind_tcp(addr, options.tcp_fallback)
                    .map_err(|source| ApiStartError::Tcp { addr, source })?;
                let local = l
                    .local_addr()
                    .map_err(|source| ApiStartError::Tcp { addr, source })?;
                Some((l, local))
            }
            None => None,
        };
        let url = tcp.as_ref().map(|(_, a)| format!("http://{a}"));
        let file = runtime_file::runtime_file(state_dir, pid);
        let info = ApiInfo {
            socket: socket.clone(),
            url: url.clone(),
            token: token.clone(),
            runtime_file: file.clone(),
        };
        let record = RuntimeInfo {
            pid: pid as i32,
            start_time: runtime_file::own_start_time(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            state_dir: state_dir.display().to_string(),
            socket: socket.display().to_string(),
            url,
            token: token.clone(),
            plugins: Vec::new(),
        };
        let epoch = format!("{:x}", chrono::Utc::now().timestamp_micros());
        let events = Arc::new(EventLog::new(
            options.max_events,
            options.max_event_bytes,
            epoch,
        ));
        let state = ApiState {
            engine: handle.downgrade(),
            events: events.clone(),
            state_dir: Arc::from(state_dir),
        };
        let access = Arc::new(Access::new(token, tcp.as_ref().map(|(_, a)| *a)));
        let app = router(state, access);
        let limits = serve::ConnectionLimits {
            max_connections: options.max_connections,
            header_timeout: options.header_timeout,
        };
        let subscription = (handle.downgrade(), handle.subscribe());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let feeder_file = (file.clone(), record.clone());
        // Both listeners accept connections already: a client that reads this can connect.
        runtime_file::write(&file, &record).map_err(|source| ApiStartError::RuntimeFile {
            path: file.clone(),
            source,
        })?;
        let spawned = std::thread::Builder::new()
            .name("ovdev-api".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the API's runtime");
                        return;
                    }
                };
                rt.block_on(serve_all(
                    app,
                    (unix, tcp.map(|(l, _)| l), limits),
                    (events, subscription, feeder_file),
                    stop_rx,
                ));
                rt.shutdown_timeout(Duration::from_millis(100));
                let _ = done_tx.send(());
            });
        if let Err(e) = spawned {
            let _ = std::fs::remove_file(&file);
            return Err(ApiStartError::Thread(e));
        }
        Ok(Self {
            info,
            stop: Some(stop_tx),
            done: Some(done_rx),
        })
    }

    /// Where it listens.
    pub fn info(&self) -> &ApiInfo {
        &self.info
    }

    /// Removes the runtime file, ends every stream and connection (open ones get at most
    /// two seconds), and removes the socket.
    pub(crate) async fn stop(&mut self) {
        let _ = std::fs::remove_file(&self.info.runtime_file);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = tokio::time::timeout(STOP_WAIT + Duration::from_secs(1), done).await;
        }
        // Again: an update of its plugin list may have been under way.
        let _ = std::fs::remove_file(&self.info.runtime_file);
        let _ = std::fs::remove_file(&self.info.socket);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info.runtime_file);
        let _ = std::fs::remove_file(&self.info.socket);
    }
}

fn bind_socket(path: &Path) -> Result<std::os::unix::net::UnixListener, ApiStartError> {
    let err = |source| ApiStartError::Socket {
        path: path.to_path_buf(),
        source,
    };
    // A socket of a process that had our pid before; nobody else can be listening on it.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let l = std::os::unix::net::UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    l.set_nonblocking(true).map_err(err)?;
    Ok(l)
}

/// Listens on `addr`, or (with `fallback`, when its port is taken) on a free port.
fn bind_tcp(addr: SocketAddr, fallback: bool) -> std::io::Result<std::net::TcpListener> {
    let l = match std::net::TcpListener::bind(addr) {
        Err(e) if fallback && e.kind() == std::io::ErrorKind::AddrInUse => {
            std::net::TcpListener::bind(SocketAddr::new(addr.ip(), 0))?
        }
        other => other?,
    };
    l.set_nonblocking(true)?;
    Ok(l)
}

fn router(state: ApiState, access: Arc<Access>) -> Router {
    let api = Router::new()
        .route("/instance", get(routes::instance))
        .route("/plugins", get(routes::list))
        .route("/plugins/{id}", get(routes::get))
        .route("/plugins/{id}/start", post(routes::start))
        .route("/plugins/{id}/stop", post(routes::stop))
        .route("/plugins/{id}/restart", post(routes::restart))
        .route("/plugins/{id}/rebuild", post(routes::rebuild))
        .route("/plugins/{id}/managed", get(routes::managed))
        .route("/plugins/{id}/attach", post(routes::attach))
        .route("/plugins/{id}/detach", post(routes::detach))
        .route("/plugins/{id}/devinfo", get(routes::devinfo))
        .route("/plugins/{id}/builds", get(routes::builds))
        .route("/plugins/{id}/errors", get(routes::errors))
        .route("/plugins/{id}/logs", get(routes::logs))
        .route("/plugins/{id}/logs/stream", get(routes::log_stream))
        .route("/events", get(routes::events))
        .route("/openapi.json", get(routes::openapi));
    Router::new()
        .nest("/api/v1", api)
        .route("/", get(page::root))
        .route("/ui/", get(page::index))
        .route("/ui/app.js", get(page::script))
        .route("/ui/app.css", get(page::style))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; the API is described at /api/v1/openapi.json")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method; see /api/v1/openapi.json",
            )
        })
        .layer(axum::middleware::from_fn_with_state(access, access::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves until `stop`, then ends the streams and gives open requests a moment.
async fn serve_all(
    app: Router,
    (unix, tcp, limits): (
        std::os::unix::net::UnixListener,
        Option<std::net::TcpListener>,
        serve::ConnectionLimits,
    ),
    (events, subscription, file): (
        Arc<EventLog>,
        (WeakHandle, EventStream),
        (PathBuf, RuntimeInfo),
    ),
    stop: oneshot::Receiver<()>,
) {
    let (quit_tx, quit) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    match tokio::net::UnixListener::from_std(unix) {
        Ok(l) => {
            let app = app.clone().layer(Extension(Transport::Unix));
            servers.push(tokio::spawn(serve::serve(l, app, limits, quit.clone())));
        }
        Err(e) => tracing::error!(error = %e, "cannot serve the API socket"),
    }
    if let Some(tcp) = tcp {
        match tokio::net::TcpListener::from_std(tcp) {
            Ok(l) => {
                let app = app.layer(Extension(Transport::Tcp));
                servers.push(tokio::spawn(serve::serve(l, app, limits, quit.clone())));
            }
            Err(e) => tracing::error!(error = %e, "cannot serve the API on TCP"),
        }
    }
    let feeder = tokio::spawn(feed(events.clone(), subscription, file));
    let _ = stop.await;
    feeder.abort();
    events.close();
    let _ = quit_tx.send(true);
    let _ = tokio::time::timeout(STOP_WAIT, futures::future::join_all(servers)).await;
}

/// Moves the engine's events into the log, and keeps the runtime file's plugin list current
/// (the plugins whose states the bus has published, read after each status).
async fn feed(
    events: Arc<EventLog>,
    (engine, mut subscription): (WeakHandle, EventStream),
    (file, mut record): (PathBuf, RuntimeInfo),
) {
    while let Some(received) = subscription.next().await {
        if let Received::Event(DevServerEvent::Status(_)) = &received {
            let plugins: Vec<String> = engine
                .upgrade()
                .map(|h| {
                    h.published_states()
                        .into_iter()
                        .map(|s| s.plugin_id)
                        .collect()
                })
                .unwrap_or_default();
            if plugins != record.plugins {
                record.plugins = plugins;
                let (file, record) = (file.clone(), record.clone());
                // A file system write, off the thread that serves requests.
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(e) = runtime_file::write(&file, &record) {
                        tracing::warn!(error = %e, "cannot update the API runtime file");
                    }
                })
                .await;
            }
        }
        events.push(received);
    }
}
