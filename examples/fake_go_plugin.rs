//! A go-plugin server written in Rust, for ovdev's host tests: it covers what Debian's
//! go-plugin 1.0.1 cannot (a TCP address and `plugin.GRPCStdio/StreamStdio`).
//!
//! Like a real plugin it refuses to run without `OMNIVIEW`, prints the handshake line
//! (`1|1|tcp|127.0.0.1:PORT|grpc|`), serves `grpc.health.v1.Health` (service "plugin":
//! SERVING), `plugin.GRPCController/Shutdown` (exits 0) and `StreamStdio` (two chunks).

use std::convert::Infallible;
use std::io::Write;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use ovdev_actors::grpc::{Empty, StdioData};
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

type Shutdown = std::sync::Arc<tokio::sync::Notify>;

fn unimplemented_route() -> http::Response<tonic::body::Body> {
    Status::unimplemented("no such method").into_http()
}

#[derive(Clone)]
struct Stdio;

impl NamedService for Stdio {
    const NAME: &'static str = "plugin.GRPCStdio";
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Stdio {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        struct Stream;
        impl tonic::server::ServerStreamingService<Empty> for Stream {
            type Response = StdioData;
            type ResponseStream = futures::stream::BoxStream<'static, Result<StdioData, Status>>;
            type Future = BoxFuture<'static, Result<Response<Self::ResponseStream>, Status>>;

            fn call(&mut self, _: Request<Empty>) -> Self::Future {
                let chunks = vec![
                    Ok(StdioData {
                        channel: 1,
                        data: b"hello from the stdio stream\n".to_vec(),
                    }),
                    Ok(StdioData {
                        channel: 2,
                        data: br#"{"@level":"warn","@message":"stream warning","n":1}"#.to_vec(),
                    }),
                ];
                // Keep the stream open after the chunks, as go-plugin does.
                let stream = futures::StreamExt::chain(
                    futures::stream::iter(chunks),
                    futures::stream::pending(),
                );
                Box::pin(async move { Ok(Response::new(Box::pin(stream) as Self::ResponseStream)) })
            }
        }
        Box::pin(async move {
            if req.uri().path() != "/plugin.GRPCStdio/StreamStdio" {
                return Ok(unimplemented_route());
            }
            let mut grpc =
                tonic::server::Grpc::new(tonic_prost::ProstCodec::<StdioData, Empty>::default());
            Ok(grpc.server_streaming(Stream, req).await)
        })
    }
}

#[derive(Clone)]
struct Controller(Shutdown);

impl NamedService for Controller {
    const NAME: &'static str = "plugin.GRPCController";
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for Controller {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        struct Stop(Shutdown);
        impl tonic::server::UnaryService<Empty> for Stop {
            type Response = Empty;
            type Future = BoxFuture<'static, Result<Response<Empty>, Status>>;

            fn call(&mut self, _: Request<Empty>) -> Self::Future {
                self.0.notify_one();
                Box::pin(async { Ok(Response::new(Empty {})) })
            }
        }
        let shutdown = self.0.clone();
        Box::pin(async move {
            if req.uri().path() != "/plugin.GRPCController/Shutdown" {
                return Ok(unimplemented_route());
            }
            let mut grpc =
                tonic::server::Grpc::new(tonic_prost::ProstCodec::<Empty, Empty>::default());
            Ok(grpc.unary(Stop(shutdown), req).await)
        })
    }
}

#[tokio::main]
async fn main() {
    if std::env::var_os("OMNIVIEW").is_none() {
        eprintln!("This binary is a plugin. These are not meant to be executed directly.");
        std::process::exit(1);
    }
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let shutdown = Shutdown::default();
    eprintln!("fake plugin listening on {addr}");
    println!("1|1|tcp|{addr}|grpc|");
    let _ = std::io::stdout().flush();
    // Like go-plugin: the process ends right after Shutdown, open streams or not.
    let stop = shutdown.clone();
    tokio::spawn(async move {
        stop.notified().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        std::process::exit(0);
    });
    let served = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(Stdio)
        .add_service(Controller(shutdown))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await;
    if let Err(e) = served {
        eprintln!("server failed: {e}");
        std::process::exit(1);
    }
}
