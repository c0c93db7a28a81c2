//! The API's one error type.
//!
//! Every error answer is `{"error": "..."}` with a fixed text that clients
//! may depend on. Causes (a database message, a Redis error) go to the log
//! once, where the error is turned into a response, and never into the
//! body: 5xx answers say nothing about internals.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use intake_coordination::redis::GatewayError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    retry_after_secs: Option<u64>,
    /// Per-item details (`{"linkId","message"}`) of a 422.
    details: Option<Box<serde_json::Value>>,
}

impl ApiError {
    /// An answer with `status` and the fixed `message`.
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after_secs: None,
            details: None,
        }
    }

    /// 422 with `message` and one detail per problem found.
    pub fn unprocessable(message: &'static str, details: impl serde::Serialize) -> Self {
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, message);
        error.details = serde_json::to_value(details).ok().map(Box::new);
        error
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// 404 `Not found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found")
    }

    /// 503 `Service temporarily unavailable`, for a dependency that is down.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable",
        )
        .retry_after(5)
    }

    /// 500 `Internal server error`; logs `cause`, which never reaches the
    /// client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(error = %error, "Redis unavailable");
            Self::unavailable()
        } else {
            Self::internal(&error)
        }
    }
}

impl From<intake_storage::StorageError> for ApiError {
    fn from(error: intake_storage::StorageError) -> Self {
        match error {
            intake_storage::StorageError::NotFound => Self::not_found(),
            intake_storage::StorageError::Conflict { .. } => Self::new(
                StatusCode::CONFLICT,
                "The request conflicts with the current state; reload and try again",
            ),
            intake_storage::StorageError::WrongFormStatus { .. } => Self::new(
                StatusCode::CONFLICT,
                "The form's status does not allow this (it is a draft or retired)",
            ),
            intake_storage::StorageError::Unavailable { .. } => {
                tracing::warn!(error = %error, "database unavailable");
                Self::unavailable()
            }
            other => Self::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(details) = self.details {
            body["details"] = *details;
        }
        let body = Json(body);
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The fixed text for an error status produced outside a handler (by the
/// router or a middleware layer), so that every error body has one shape.
pub fn text_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body too large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Expected a JSON body",
        StatusCode::BAD_REQUEST => "Malformed request",
        StatusCode::UNPROCESSABLE_ENTITY => "Invalid request body",
        StatusCode::SERVICE_UNAVAILABLE => "Service temporarily unavailable",
        status if status.is_server_error() => "Internal server error",
        _ => "Request refused",
    }
}
