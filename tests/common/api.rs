//! Talking to the local API as outside clients do: raw HTTP/1.1 over TCP (every header
//! under the test's control) and ovdev's own client over the unix socket.

use std::net::SocketAddr;
use std::time::Duration;

use omniview_devserver::api::ApiInfo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The TCP address of an API (`http://ADDR` in its info).
pub fn tcp_addr(info: &ApiInfo) -> SocketAddr {
    let url = info.url.as_deref().expect("the API listens on TCP");
    url.trim_start_matches("http://").parse().unwrap()
}

/// One raw request; `(status, headers, body as JSON or Null)`.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{}\r\n", addr.port()));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    // The server may answer (413) before reading all of a large body.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("the API answers")
        .ok();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_string(), json)
}

/// `Authorization: Bearer <token>`.
pub fn bearer(info: &ApiInfo) -> String {
    format!("Bearer {}", info.token)
}
