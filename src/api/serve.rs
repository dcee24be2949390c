//! Serving connections: HTTP/1.1 with a bounded number of open connections and a time limit
//! on reading a request's head, so that no local process can hold the API by opening
//! connections and sending nothing (axum's own `serve` has neither).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt as _;

/// How the listener's connections are limited.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait, unaccepted, in the listen backlog.
    pub max_connections: usize,
    /// A connection that has not sent a whole request head in this time is closed.
    pub header_timeout: Duration,
}

/// A listener the API serves: a unix socket or a TCP port.
pub trait Accept: Send + 'static {
    /// One accepted connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection.
    fn next(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn next(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Accept for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn next(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

/// Serves `app` on each connection of `listener`, at most `limits.max_connections` at once,
/// until `quit` turns true; then open connections are asked to finish (streams end with the
/// event log's close).
pub async fn serve<L: Accept>(
    listener: L,
    app: Router,
    limits: ConnectionLimits,
    mut quit: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            () = quitting(&mut quit) => return,
        };
        let stream = tokio::select! {
            s = listener.next() => s,
            () = quitting(&mut quit) => return,
        };
        match stream {
            Ok(stream) => {
                let (app, quit) = (app.clone(), quit.clone());
                tokio::spawn(async move {
                    serve_one(stream, app, limits.header_timeout, quit).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // Out of file descriptors, most likely: try again in a moment.
                tracing::warn!(error = %e, "the API cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_one<S>(
    stream: S,
    app: Router,
    header_timeout: Duration,
    mut quit: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        TowerToHyperService::new(app.map_request(|req: Request<Incoming>| req.map(Body::new)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = quitting(&mut quit) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Resolves once `quit` turns true (or its sender is gone).
async fn quitting(quit: &mut watch::Receiver<bool>) {
    let _ = quit.wait_for(|q| *q).await;
}
