//! Talking to a running plugin the way the IDE does: its dev server over HTTP, the example's
//! gRPC service through the address in its `.devinfo`.

use std::path::Path;

use super::HANG;

/// Fetches `path` from `127.0.0.1:port` with a plain HTTP/1.0 GET and returns the response.
pub async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(HANG, s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Clone, PartialEq, prost::Message)]
struct GreetRequest {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GreetResponse {
    #[prost(string, tag = "1")]
    message: String,
}

/// Calls the example's `hello.v1.Greeter/Greet` (name "ovdev-test") through the address in
/// `<state>/plugins/<id>/.devinfo` and returns the greeting.
pub async fn ping(state: &Path, id: &str) -> Result<String, String> {
    greet(state, id, "ovdev-test").await
}

/// Calls the example's `hello.v1.Greeter/Greet` with `name`; the plugin also prints a line
/// mentioning `name` on its stdout and on its stderr.
pub async fn greet(state: &Path, id: &str, name: &str) -> Result<String, String> {
    use ovdev_actors::devinfo::{devinfo_path, read_devinfo};
    use ovdev_actors::grpc;
    use ovdev_actors::handshake::Network;
    let info = read_devinfo(&devinfo_path(state, id)).map_err(|e| e.to_string())?;
    let network = match info.network.as_deref() {
        Some("tcp") => Network::Tcp,
        _ => Network::Unix,
    };
    let channel = grpc::connect(network, &info.addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|e| e.to_string())?;
    let codec = tonic_prost::ProstCodec::<GreetRequest, GreetResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/hello.v1.Greeter/Greet");
    let request = GreetRequest {
        name: name.to_string(),
    };
    let response = client
        .unary(tonic::Request::new(request), path, codec)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.into_inner().message)
}
