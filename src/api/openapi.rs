//! The OpenAPI 3.1 document of the API, generated from the Rust types and the handlers'
//! annotations (`docs/openapi.json` is a committed copy; a test keeps it current).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ErrorBody;
use super::routes;
use super::runtime_file::RuntimeInfo;
use super::wire;
use crate::{
    BuildError, BuildErrorsPayload, BuildRecord, BuildResult, BuildTrigger, DevInfoFile,
    DevProcessStatus, DevServerMode, DevServerState, LogEntry, LogLevel, LogSource, Severity,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ovdev local API",
        description = "Drive and watch a running `ovdev dev`: plugin states, logs, builds, control. Every request needs the token of the instance's runtime file (`<state>/run/ovdev-<pid>.json`) as `Authorization: Bearer <token>`. See docs/api.md.",
        license(name = "MIT")
    ),
    paths(
        routes::instance, routes::list, routes::get, routes::start, routes::stop,
        routes::restart, routes::rebuild, routes::managed, routes::attach, routes::detach,
        routes::devinfo, routes::builds, routes::errors, routes::logs, routes::log_stream,
        routes::events, routes::openapi
    ),
    components(schemas(
        ErrorBody, routes::InstanceInfo, routes::StartRequest, routes::AttachRequest,
        routes::Managed, RuntimeInfo, DevServerState, DevServerMode, DevProcessStatus,
        LogEntry, LogLevel, LogSource, BuildError, BuildErrorsPayload, Severity, DevInfoFile,
        BuildRecord, BuildResult, BuildTrigger, wire::EventEnvelope, wire::MissedCount
    )),
    modifiers(&BearerToken),
    security(("token" = []))
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, pretty-printed JSON with a final newline (built once).
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn build() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut text = doc.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
