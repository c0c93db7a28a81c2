//! The HTTP server: the router, its middleware, and the operational routes.
//!
//! [`serve`] takes a bound listener and a shutdown signal, so tests bind
//! port 0 and learn the address before the first request, and `intake
//! serve` drains in-flight requests on SIGTERM.
//!
//! - [`audit`]: `GET /api/audit`, the organization's audit trail.
//! - [`auth`]: login, logout, sessions and CSRF tokens.
//! - [`rate_limit`]: the `auth` and `api` rate limits and their headers.
//! - [`forms`], [`responses`]: FHIR forms, their responses and PDFs.
//! - [`session`]: authenticating a request by its session and CSRF token.
//! - [`context`]: request id, client IP (behind trusted proxies), user agent.
//! - [`json`]: JSON bodies with the API's error shape.
//! - [`error`]: the API's one error type and its fixed JSON shape.
//! - [`middleware`]: request ids, the access line, security headers.
//! - [`operations`]: `/health`, `/livez`, `/readyz`, `/metrics`,
//!   `/openapi.json`.

pub mod audit;
pub mod auth;
pub mod context;
pub mod error;
pub mod forms;
pub mod json;
pub mod middleware;
pub mod operations;
pub mod rate_limit;
pub mod responses;
pub mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::app::App;
use error::ApiError;

/// Request bodies above this many bytes are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request still running after this long is answered 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole router, with its middleware, for `app`.
pub fn router(app: App) -> Router {
    // Install the recorder before the first request is counted.
    crate::telemetry::metrics_handle();
    let middleware = ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::request_context,
        ))
        .layer(CatchPanicLayer::custom(middleware::answer_panic))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            rate_limit::limit_rate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            middleware::refuse_cross_site,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .route("/health", get(operations::get_health))
        .route("/livez", get(operations::get_livez))
        .route("/readyz", get(operations::get_readyz))
        .route("/metrics", get(operations::get_metrics))
        .route("/openapi.json", get(operations::get_openapi))
        .route("/api/auth/login", post(auth::post_login))
        .route("/api/auth/session-login", post(auth::post_session_login))
        .route("/api/auth/logout", post(auth::post_logout))
        .route("/api/auth/csrf-token", get(auth::get_csrf_token))
        .route("/api/auth/me", get(auth::get_me))
        .route("/api/auth/sessions", get(auth::get_sessions))
        .route("/api/auth/sessions/{id}", delete(auth::delete_session))
        .route(
            "/api/auth/sessions/revoke-others",
            post(auth::post_revoke_others),
        )
        .route("/api/diagnostics/csrf", get(auth::get_csrf_diagnostics))
        .route("/api/forms", get(forms::get_forms).post(forms::post_form))
        .route(
            "/api/forms/{id}",
            get(forms::get_form)
                .put(forms::put_form)
                .delete(forms::delete_form),
        )
        .route("/api/forms/{id}/publish", post(forms::post_publish))
        .route("/api/forms/{id}/fhir", get(forms::get_form_fhir))
        .route(
            "/api/forms/{id}/responses",
            get(responses::get_form_responses).post(responses::post_response),
        )
        .route("/api/responses/{id}", get(responses::get_response))
        .route(
            "/api/responses/{id}/fhir",
            get(responses::get_response_fhir),
        )
        .route(
            "/api/responses/{id}/generate-pdf",
            post(responses::post_generate_pdf),
        )
        .route("/api/audit", get(audit::get_audit))
        .fallback(|| async { ApiError::not_found() })
        .layer(middleware)
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(listen = %address, "intake listening");
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await?;
    tracing::info!("intake stopped: in-flight requests drained");
    Ok(())
}
