//! The API's error answer: an HTTP status and `{"error": ..., "code": ...}`.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::DevServerError;

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, ts_rs::TS)]
pub struct ErrorBody {
    /// What went wrong and what to do about it, for a person.
    pub error: String,
    /// A stable word for programs: `unauthorized`, `forbidden_host`, `forbidden_origin`,
    /// `bad_request`, `invalid_id`, `not_found`, `not_running`, `conflict`, `too_large`,
    /// `method_not_allowed`, `unavailable`, `host_error`, `internal`.
    pub code: String,
}

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    /// An error answer with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: no such plugin (neither managed nor attached).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401: no token or a wrong one; says nothing more.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required (Authorization: Bearer <token>; the token is in the instance's runtime file)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            code: self.code.to_string(),
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<DevServerError> for ApiError {
    fn from(e: DevServerError) -> Self {
        use DevServerError as E;
        let (status, code) = match &e {
            E::InvalidId(_) => (StatusCode::BAD_REQUEST, "invalid_id"),
            E::DevPathMissing { .. } | E::NothingToRun(_) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            E::UnknownPlugin { .. } => (StatusCode::NOT_FOUND, "not_found"),
            E::NotRunning(_) => (StatusCode::CONFLICT, "not_running"),
            E::NotInDevMode(_)
            | E::NoDevPath(_)
            | E::NoBackend(_)
            | E::ChildDown { .. }
            | E::AttachedExternally(_)
            | E::AlreadyManaged(_)
            | E::ExternalUnavailable { .. }
            | E::NotAttached(_)
            | E::Locked(_) => (StatusCode::CONFLICT, "conflict"),
            E::NoFreePort(_) | E::ToolNotFound { .. } | E::EngineStopped => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            E::Host(_) => (StatusCode::BAD_GATEWAY, "host_error"),
        };
        Self::new(status, code, e.to_string())
    }
}

/// An optional JSON body (empty: `None`); a malformed or wrongly typed one is a 400 with the
/// parser's words, an oversized one a 413.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = match Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "the request body is larger than {} bytes",
                        super::MAX_BODY_BYTES
                    ),
                ))
            }
            Err(e) => return Err(ApiError::bad_request(e.body_text())),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| Self(Some(v)))
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "the request body is not valid JSON for this operation: {e}"
                ))
            })
    }
}

/// Query parameters; a wrong one is a 400 that names it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// A plugin id from the path, validated (no `/`, no `..`: ids name directories).
pub struct PluginId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PluginId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e: PathRejection| ApiError::bad_request(e.body_text()))?;
        ovdev_actors::plugin_id::validate_plugin_id(&id)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", e.to_string()))?;
        Ok(Self(id))
    }
}
