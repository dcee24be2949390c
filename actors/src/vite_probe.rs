//! Is a ready Vite still serving? A cheap HTTP request to its port while it is `ready`.
//!
//! A stopped (SIGSTOP) or deadlocked dev server keeps its listening socket: the kernel still
//! completes TCP handshakes, so only an answer tells it is alive. Any HTTP status line counts.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// An HTTP response began.
    Answered,
    /// Nothing listens on the port.
    Refused,
    /// Connected, or tried to, but no answer within the time limit (or a broken answer).
    NoAnswer(String),
}

/// Sends one HTTP request to `127.0.0.1:port` and waits up to `timeout` for its first bytes.
pub async fn probe(port: u16, timeout: Duration) -> ProbeResult {
    let attempt = async {
        let mut stream = match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return ProbeResult::Refused
            }
            Err(e) => return ProbeResult::NoAnswer(format!("cannot connect: {e}")),
        };
        let request = format!(
            "HEAD /@ovdev-alive HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        );
        if let Err(e) = stream.write_all(request.as_bytes()).await {
            return ProbeResult::NoAnswer(format!("cannot send a request: {e}"));
        }
        let mut head = [0u8; 5];
        match stream.read_exact(&mut head).await {
            Ok(_) if &head == b"HTTP/" => ProbeResult::Answered,
            Ok(_) => ProbeResult::NoAnswer("the answer is not HTTP".into()),
            Err(e) => {
                ProbeResult::NoAnswer(format!("the connection closed without an answer: {e}"))
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => ProbeResult::NoAnswer(format!("no answer within {timeout:?}")),
    }
}

/// Decides from successive probes when a ready dev server is hung.
#[derive(Debug, Clone)]
pub struct Liveness {
    answered_once: bool,
    failures: u32,
    limit: u32,
}

impl Liveness {
    /// Hung after `limit` failed probes in a row.
    pub fn new(limit: u32) -> Self {
        Self {
            answered_once: false,
            failures: 0,
            limit: limit.max(1),
        }
    }

    /// Records a probe; true when the server is to be treated as hung. A refused connection
    /// counts only once the server has answered before (a dev command that never served HTTP
    /// on its port is left alone); no answer always counts.
    pub fn record(&mut self, result: &ProbeResult) -> bool {
        match result {
            ProbeResult::Answered => {
                self.answered_once = true;
                self.failures = 0;
            }
            ProbeResult::Refused if !self.answered_once => {}
            ProbeResult::Refused | ProbeResult::NoAnswer(_) => self.failures += 1,
        }
        self.failures >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hung_after_the_limit_of_failures_in_a_row() {
        let mut l = Liveness::new(2);
        let silent = ProbeResult::NoAnswer("x".into());
        assert!(!l.record(&silent));
        assert!(!l.record(&ProbeResult::Answered));
        assert!(!l.record(&silent));
        assert!(l.record(&silent));
    }

    #[test]
    fn a_refused_port_counts_only_after_an_answer() {
        let mut l = Liveness::new(2);
        for _ in 0..5 {
            assert!(!l.record(&ProbeResult::Refused));
        }
        l.record(&ProbeResult::Answered);
        assert!(!l.record(&ProbeResult::Refused));
        assert!(l.record(&ProbeResult::Refused));
    }

    #[tokio::test]
    async fn probes_tell_answering_refusing_and_silent_servers_apart() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.1 404 Not Found\r\n\r\n")
                .await
                .unwrap();
        });
        assert_eq!(
            probe(port, Duration::from_secs(5)).await,
            ProbeResult::Answered
        );
        server.await.unwrap();

        // Bound and listening, never accepting: what a stopped process looks like.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let r = probe(port, Duration::from_millis(300)).await;
        assert!(
            matches!(r, ProbeResult::NoAnswer(ref m) if m.contains("no answer within")),
            "{r:?}"
        );
        drop(silent);
        assert_eq!(
            probe(port, Duration::from_secs(5)).await,
            ProbeResult::Refused
        );
    }
}
