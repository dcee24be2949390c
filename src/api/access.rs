//! Who may use the API: the token on every request, a loopback `Host` on TCP (DNS
//! rebinding), and the server's own `Origin` on requests that change something.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The cookie a browser gets from `?token=`.
pub const TOKEN_COOKIE: &str = "ovdev_token";
/// Random bytes in a token (64 hex digits).
const TOKEN_BYTES: usize = 32;

/// A fresh random token, hex-encoded.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The token kept in `path`: read when it holds one (64 hex digits), else made and written
/// (a fresh file, mode 0600).
pub fn stored_token(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Write as _;
    let kept = ovdev_actors::untrusted_file::read_untrusted_text(path, 1024)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| t.len() == 2 * TOKEN_BYTES && t.bytes().all(|b| b.is_ascii_hexdigit()));
    if let Some(token) = kept {
        return Ok(token);
    }
    let token = new_token().map_err(|e| std::io::Error::other(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = ovdev_actors::untrusted_file::create_fresh(&tmp)?;
    file.write_all(token.as_bytes())?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    Ok(token)
}

/// Which listener a request came in on (the `Host` rule is for TCP only: no browser can
/// reach a unix socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Unix,
    Tcp,
}

/// The rules, shared by every request.
#[derive(Debug)]
pub struct Access {
    token: String,
    /// The TCP address, when the API listens on one.
    tcp: Option<SocketAddr>,
}

impl Access {
    /// Rules for `token`, on `tcp` when the API listens there too.
    pub fn new(token: String, tcp: Option<SocketAddr>) -> Self {
        Self { token, tcp }
    }

    /// True when `host` (a `Host` header) names this server: a loopback name or address, or
    /// the address the user bound explicitly; a port, when given, must be ours.
    pub fn host_allowed(&self, host: &str) -> bool {
        let Some(tcp) = self.tcp else { return false };
        let (name, port) = split_host(host);
        if port.is_some_and(|p| p != tcp.port()) {
            return false;
        }
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == tcp.ip(),
            Err(_) => false,
        }
    }

    /// True when `origin` (an `Origin` header) is this server's own.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|host| !host.contains('/') && self.host_allowed(host))
    }

    /// True when `given` is the token (compared in constant time).
    pub fn token_matches(&self, given: &str) -> bool {
        let (a, b) = (self.token.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// `host[:port]` → (host, port); IPv6 in brackets.
fn split_host(host: &str) -> (&str, Option<u16>) {
    let (name, port) = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => (&host[..i], Some(&host[i + 1..])),
        _ => (host, None),
    };
    match port {
        // An unparsable port makes the whole host refused (port 0 is never ours).
        Some(p) => (name, Some(p.parse().unwrap_or(0))),
        None => (name, None),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
}

fn query_token(req: &Request) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        kv.strip_prefix("token=")
            .map(|v| percent_decode(v).unwrap_or_default())
    })
}

/// The request's address without its `token` parameter.
fn without_token(req: &Request) -> String {
    let path = req.uri().path();
    let rest: Vec<&str> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("token="))
        .collect();
    if rest.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", rest.join("&"))
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The middleware: `Host` (TCP), then the token, then `Origin` on state-changing methods.
/// A browser's `GET ...?token=T` with the right token gets the cookie and is sent to the
/// same address without the token (so it leaves the address bar and the history).
pub async fn guard(
    State(access): State<Arc<Access>>,
    transport: axum::Extension<Transport>,
    req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    if *transport == Transport::Tcp {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !host.is_some_and(|h| access.host_allowed(h)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                "the Host header must name this server by a loopback name or address",
            )
            .into_response();
        }
    }
    let from_header = bearer(headers).or_else(|| cookie(headers));
    if !from_header.is_some_and(|t| access.token_matches(t)) {
        let from_query = query_token(&req);
        let browser_login = req.method() == Method::GET
            && from_query
                .as_deref()
                .is_some_and(|t| access.token_matches(t));
        if !browser_login {
            let browser = headers
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
            if browser {
                return super::page::unauthorized_html();
            }
            return ApiError::unauthorized().into_response();
        }
        let cookie = format!(
            "{TOKEN_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
            access.token
        );
        let mut res = (StatusCode::SEE_OTHER, "").into_response();
        let h = res.headers_mut();
        if let (Ok(c), Ok(l)) = (
            HeaderValue::from_str(&cookie),
            HeaderValue::from_str(&without_token(&req)),
        ) {
            h.insert(header::SET_COOKIE, c);
            h.insert(header::LOCATION, l);
        }
        return res;
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state {
        let origin = headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or(""));
        if origin.is_some_and(|o| !access.origin_allowed(o)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_origin",
                "requests that change something are only accepted from this server's own pages",
            )
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(tcp: &str) -> Access {
        Access::new("t0ken".into(), tcp.parse().ok())
    }

    #[test]
    fn loopback_names_are_allowed_and_others_are_not() {
        let a = access("127.0.0.1:4000");
        for ok in [
            "localhost",
            "localhost:4000",
            "127.0.0.1:4000",
            "[::1]:4000",
            "127.1.2.3",
        ] {
            assert!(a.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4000",
            "localhost:4001",
            "localhost:x",
            "10.0.0.1:4000",
            "localhost.evil.example",
            "",
        ] {
            assert!(!a.host_allowed(bad), "{bad}");
        }
        assert!(
            access("10.0.0.5:4000").host_allowed("10.0.0.5:4000"),
            "an address bound explicitly names the server"
        );
        assert!(
            !Access::new("t".into(), None).host_allowed("localhost"),
            "no TCP listener: no Host names it"
        );
    }

    #[test]
    fn only_the_servers_own_origin_is_allowed() {
        let a = access("127.0.0.1:4000");
        assert!(a.origin_allowed("http://127.0.0.1:4000"));
        assert!(a.origin_allowed("http://localhost:4000"));
        assert!(!a.origin_allowed("http://evil.example"));
        assert!(!a.origin_allowed("https://127.0.0.1:4000"));
        assert!(!a.origin_allowed("null"));
        assert!(!a.origin_allowed("http://127.0.0.1:4000/x"));
    }

    #[test]
    fn tokens_are_long_random_and_compared_exactly() {
        let t = new_token().unwrap_or_default();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_token().unwrap_or_default());
        let a = access("127.0.0.1:1");
        assert!(a.token_matches("t0ken"));
        assert!(!a.token_matches("t0ke"));
        assert!(!a.token_matches("t0keN"));
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("api-token");
        let kept = stored_token(&file).unwrap_or_default();
        assert_eq!(kept.len(), 64);
        assert_eq!(
            stored_token(&file).unwrap_or_default(),
            kept,
            "read again, not remade"
        );
        std::fs::write(&file, "short").unwrap_or_default();
        assert_ne!(
            stored_token(&file).unwrap_or_default(),
            "short",
            "a bad one is replaced"
        );
        assert_eq!(percent_decode("%zz"), None);
    }
}
