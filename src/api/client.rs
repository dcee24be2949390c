//! A client of a running instance's API (the CLI verbs use it): one HTTP/1.1 connection per
//! request, over the unix socket (or TCP when that is all there is), with the token.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::{header, Method, Request, StatusCode};
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

use super::runtime_file::RuntimeInfo;

/// How long one request may take (a restart may install a UI's dependencies first).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to ovdev at {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("the connection to ovdev failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("ovdev did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    #[error("ovdev's answer is not what this client understands: {0}")]
    Decode(String),
}

enum Target {
    Unix(PathBuf),
    Tcp(String),
}

/// A client of one instance.
pub struct ApiClient {
    target: Target,
    token: String,
}

impl ApiClient {
    /// A client of the instance `info` describes (through its socket).
    pub fn new(info: &RuntimeInfo) -> Self {
        Self {
            target: Target::Unix(PathBuf::from(&info.socket)),
            token: info.token.clone(),
        }
    }

    /// A client of an API on TCP at `addr` (`host:port`).
    pub fn tcp(addr: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            target: Target::Tcp(addr.into()),
            token: token.into(),
        }
    }

    fn describe(&self) -> String {
        match &self.target {
            Target::Unix(p) => p.display().to_string(),
            Target::Tcp(a) => a.clone(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        extra: &[(&str, String)],
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let connect_err = |source| ClientError::Connect {
            target: self.describe(),
            source,
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        for (k, v) in extra {
            builder = builder.header(*k, v);
        }
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let req = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        macro_rules! over {
            ($stream:expr) => {{
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new($stream)).await?;
                tokio::spawn(conn);
                sender.send_request(req).await?
            }};
        }
        let res = match &self.target {
            Target::Unix(p) => over!(tokio::net::UnixStream::connect(p)
                .await
                .map_err(connect_err)?),
            Target::Tcp(a) => over!(tokio::net::TcpStream::connect(a.as_str())
                .await
                .map_err(connect_err)?),
        };
        Ok(res)
    }

    /// One request; the body of a 2xx answer, or the API's error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Bytes, ClientError> {
        let work = async {
            let res = self.send(method, path, body, &[]).await?;
            let status = res.status();
            let bytes = res.into_body().collect().await?.to_bytes();
            if status.is_success() {
                return Ok(bytes);
            }
            Err(refusal(status, &bytes))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, work)
            .await
            .map_err(|_| ClientError::Timeout(REQUEST_TIMEOUT))?
    }

    /// A GET whose JSON answer is decoded.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, ClientError> {
        let bytes = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// An event stream (Server-Sent Events) at `path`, as parsed events.
    pub async fn stream(
        &self,
        path: &str,
    ) -> Result<BoxStream<'static, Result<SseEvent, ClientError>>, ClientError> {
        let res = self.send(Method::GET, path, None, &[]).await?;
        let status = res.status();
        if !status.is_success() {
            let bytes = res.into_body().collect().await?.to_bytes();
            return Err(refusal(status, &bytes));
        }
        let body = res.into_body();
        Ok(futures::stream::unfold(
            (body, SseParser::default()),
            |(mut body, mut parser)| async move {
                loop {
                    if let Some(ev) = parser.next_event() {
                        return Some((Ok(ev), (body, parser)));
                    }
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                parser.feed(&data);
                            }
                        }
                        Some(Err(e)) => return Some((Err(ClientError::Http(e)), (body, parser))),
                        None => return None,
                    }
                }
            },
        )
        .boxed())
    }
}

/// The API's error answer as a [`ClientError::Api`] (its JSON body, or the bare status).
fn refusal(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<super::ErrorBody>(body) {
        Ok(e) => ClientError::Api {
            status,
            code: e.code,
            message: e.error,
        },
        Err(_) => ClientError::Api {
            status,
            code: "unknown".into(),
            message: format!("ovdev answered {status}"),
        },
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Splits a byte stream into events (`id:`, `event:`, `data:` lines; a blank line ends one;
/// comments are skipped).
#[derive(Default)]
pub struct SseParser {
    buf: BytesMut,
}

impl SseParser {
    /// More bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, if one is buffered.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let block = self.buf.split_to(end + 2);
            let mut ev = SseEvent::default();
            let mut any = false;
            for line in String::from_utf8_lossy(&block).lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    ev.id = Some(v.to_string());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    ev.event = v.to_string();
                    any = true;
                } else if let Some(v) = line.strip_prefix("data: ") {
                    if !ev.data.is_empty() {
                        ev.data.push('\n');
                    }
                    ev.data.push_str(v);
                    any = true;
                }
            }
            if any {
                return Some(ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_across_chunks_and_comments_skipped() {
        let mut p = SseParser::default();
        p.feed(b": keepalive\n\nid: e-1\nevent: a\nda");
        assert_eq!(p.next_event(), None);
        p.feed(b"ta: {\"x\":1}\n\nevent: b\ndata: 2\n\n");
        assert_eq!(
            p.next_event(),
            Some(SseEvent {
                id: Some("e-1".into()),
                event: "a".into(),
                data: "{\"x\":1}".into()
            })
        );
        assert_eq!(p.next_event().map(|e| e.event), Some("b".into()));
        assert_eq!(p.next_event(), None);
    }
}
