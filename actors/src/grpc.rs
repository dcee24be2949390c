//! The gRPC side of go-plugin: connecting over a unix socket or TCP, the health check, the
//! controller's Shutdown, and the stdio stream. Converts protobuf to engine types and back;
//! nothing else.
//!
//! The controller and stdio messages are tiny and written here by hand (go-plugin's own
//! `.proto` files are not copied); the health service comes from `tonic-health`.

use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::handshake::Network;

/// go-plugin allows messages up to `math.MaxInt32` bytes; so do we.
const MAX_MESSAGE: usize = i32::MAX as usize;
/// The health service name go-plugin registers for the plugin.
pub const HEALTH_SERVICE: &str = "plugin";

/// `plugin.Empty` and `google.protobuf.Empty`: no fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `plugin.StdioData`: a chunk of the plugin's stdout (1) or stderr (2).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StdioData {
    #[prost(int32, tag = "1")]
    pub channel: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

/// Why talking to a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("cannot connect to the plugin at {addr} ({network}): {source}")]
    Connect {
        network: Network,
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{0}")]
    Status(#[from] Status),
    #[error("the plugin is not serving (health status {0})")]
    NotServing(i32),
    #[error("the plugin did not answer within {0:?}")]
    Timeout(Duration),
}

/// Connects to a plugin's gRPC server (`unix`: a socket path; `tcp`: `host:port`).
pub async fn connect(network: Network, addr: &str) -> Result<Channel, GrpcError> {
    let err = |source| GrpcError::Connect {
        network,
        addr: addr.to_string(),
        source,
    };
    match network {
        Network::Tcp => Endpoint::from_shared(format!("http://{addr}"))
            .map_err(err)?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(err),
        Network::Unix => {
            let path = addr.to_string();
            // The URI is required by tonic but unused: the connector dials the socket.
            Endpoint::from_static("http://plugin.invalid")
                .connect_timeout(Duration::from_secs(5))
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        let stream = tokio::net::UnixStream::connect(path).await?;
                        Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
                    }
                }))
                .await
                .map_err(err)
        }
    }
}

/// Checks `grpc.health.v1.Health` for service `"plugin"`: Ok when SERVING.
pub async fn check_health(channel: Channel, limit: Duration) -> Result<(), GrpcError> {
    let mut client = HealthClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
    let request = Request::new(HealthCheckRequest {
        service: HEALTH_SERVICE.into(),
    });
    let response = tokio::time::timeout(limit, client.check(request))
        .await
        .map_err(|_| GrpcError::Timeout(limit))??;
    let status = response.into_inner().status;
    if status == ServingStatus::Serving as i32 {
        Ok(())
    } else {
        Err(GrpcError::NotServing(status))
    }
}

async fn unary(channel: Channel, path: &'static str, limit: Duration) -> Result<(), GrpcError> {
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE);
    let call = async {
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let codec = tonic_prost::ProstCodec::<Empty, Empty>::default();
        grpc.unary(
            Request::new(Empty {}),
            PathAndQuery::from_static(path),
            codec,
        )
        .await
    };
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| GrpcError::Timeout(limit))??;
    Ok(())
}

/// Asks the plugin to stop (`plugin.GRPCController/Shutdown`). The server stops itself before
/// it replies, so UNAVAILABLE, a reset connection or a cancelled call count as success.
pub async fn shutdown(channel: Channel) -> Result<(), GrpcError> {
    match unary(
        channel,
        "/plugin.GRPCController/Shutdown",
        Duration::from_secs(2),
    )
    .await
    {
        Err(GrpcError::Status(s))
            if matches!(
                s.code(),
                tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Opens `plugin.GRPCStdio/StreamStdio`: the plugin's redirected stdout and stderr.
/// UNIMPLEMENTED (go-plugin before 1.1) is returned as such; callers treat it as normal.
pub async fn stream_stdio(channel: Channel) -> Result<tonic::Streaming<StdioData>, GrpcError> {
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<Empty, StdioData>::default();
    let response = grpc
        .server_streaming(
            Request::new(Empty {}),
            PathAndQuery::from_static("/plugin.GRPCStdio/StreamStdio"),
            codec,
        )
        .await?;
    Ok(response.into_inner())
}
