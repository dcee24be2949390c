//! The Dev Tools page (`docs/dev-tools.md`): three files compiled into the binary and served
//! under `/ui/`, behind the same token as the API (a browser gets it as a cookie from the
//! address `ovdev dev` prints). No CDN, no network access, no Node at run time.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("devtools/index.html");
const APP_JS: &str = include_str!("devtools/app.js");
const APP_CSS: &str = include_str!("devtools/app.css");

/// What the page may load and where it may connect: itself only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// `/`: to the page.
pub async fn root() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/")]).into_response()
}

/// `/ui/`.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `/ui/app.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `/ui/app.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// What a browser that has no token is shown instead of JSON.
pub fn unauthorized_html() -> Response {
    let body = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>ovdev: token needed</title>\
<body style=\"font:15px system-ui;margin:3em\"><h1>This page needs ovdev's token</h1>\
<p>Open the address <code>ovdev dev</code> printed (it carries the token once and keeps it as a cookie), \
or run <code>ovdev open</code>.</p></body></html>";
    let mut res = (StatusCode::UNAUTHORIZED, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}
