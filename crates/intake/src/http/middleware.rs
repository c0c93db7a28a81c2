//! Middleware every request passes through.
//!
//! [`request_context`] gives each request an id (the caller's when well
//! formed), writes the one access line per request, counts it in metrics,
//! sets the security headers, and rewrites error bodies that lower layers
//! produced in plain text into the API's JSON shape.

use std::any::Any;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use rand::RngCore as _;

use super::error::{ApiError, text_for_status};
use super::session::changes_state;
use crate::app::App;
use crate::audit::AuditEvent;
use crate::config::Mode;

/// The header carrying the request id.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of one request, for logs and the `X-Request-Id` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's id when it is 1 to 128 characters of letters, digits,
    /// `-`, `_`, `.` or `:` (nothing that could forge a log line).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let text = headers.get(&REQUEST_ID)?.to_str().ok()?;
        let well_formed = (1..=128).contains(&text.len())
            && text
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte));
        well_formed.then(|| Self(text.to_owned()))
    }

    /// A new random id (128 bits, hex).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Routes whose access lines are logged at DEBUG: probes call them often.
fn is_probe(route: &str) -> bool {
    matches!(route, "/health" | "/livez" | "/readyz" | "/metrics")
}

/// Request id, access line, metrics, security headers, JSON error bodies.
pub async fn request_context(
    State(app): State<App>,
    mut request: Request,
    next: Next,
) -> Response<Body> {
    let started = Instant::now();
    let request_id = RequestId::from_headers(request.headers()).unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(request_id.clone());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_owned();
    let is_api = request.uri().path().starts_with("/api/");

    let response = next.run(request).await;

    let mut response = json_error_body(response);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        headers.insert(REQUEST_ID.clone(), value);
    }
    set_security_headers(headers, is_api, app.config.mode);

    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if is_probe(&route) {
        tracing::debug!(method = %method, route, status, duration_ms, request_id = request_id.as_str(), "request");
    } else {
        tracing::info!(method = %method, route, status, duration_ms, request_id = request_id.as_str(), "request");
    }
    metrics::counter!(
        "intake_http_requests_total",
        "method" => method.to_string(),
        "route" => route.clone(),
        "status" => status.to_string(),
    )
    .increment(1);
    metrics::histogram!("intake_http_request_duration_seconds", "route" => route)
        .record(duration_ms / 1000.0);
    response
}

fn set_security_headers(headers: &mut HeaderMap, is_api: bool, mode: Mode) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if is_api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if mode == Mode::Production {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
}

/// Gives an error answer from a lower layer (body limit, timeout, router)
/// the API's JSON shape, keeping its status and headers.
fn json_error_body(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _plain_body) = response.into_parts();
    let replacement = ApiError::new(status, text_for_status(status)).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in replacement.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    Response::from_parts(parts, replacement.into_body())
}

/// Refuses a state-changing `/api/` request that its browser says is
/// cross-site (`Sec-Fetch-Site: cross-site`, or an `Origin` that is neither
/// this server nor one of `INTAKE_ALLOWED_ORIGINS`). A second line of
/// defence beside the session-bound CSRF token, and the only one for the two
/// login routes.
pub async fn refuse_cross_site(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let guarded = request.uri().path().starts_with("/api/") && changes_state(request.method());
    if guarded && is_cross_site(request.headers(), &app.config.allowed_origins) {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map_or("unknown", RequestId::as_str)
            .to_owned();
        let refused =
            AuditEvent::security("csrf.cross_site_refused").origin("unknown", &request_id);
        app.audit.record(refused).await;
        return ApiError::new(StatusCode::FORBIDDEN, "Cross-site request refused").into_response();
    }
    next.run(request).await
}

/// Whether the browser's headers say the request comes from another site.
fn is_cross_site(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = text(header::ORIGIN);
    if origin.is_some_and(|origin| allowed_origins.iter().any(|allowed| allowed == origin)) {
        return false;
    }
    if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return true;
    }
    match origin {
        None => false,
        Some(origin) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            authority.is_none() || authority != text(header::HOST)
        }
    }
}

/// Answers a panicking handler with 500. The panic's message is not
/// logged here (the panic hook already printed it) and never reaches the
/// client.
pub fn answer_panic(_payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_with_id(id: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID.clone(), HeaderValue::from_str(id).unwrap());
        headers
    }

    fn browser_headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_static("intake.example:8080"),
        );
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn same_origin_and_originless_requests_are_not_cross_site() {
        let allowed = [];
        let same = browser_headers(&[("origin", "https://intake.example:8080")]);
        assert!(!is_cross_site(&same, &allowed));
        assert!(!is_cross_site(&browser_headers(&[]), &allowed));
        let same_site = browser_headers(&[("sec-fetch-site", "same-origin")]);
        assert!(!is_cross_site(&same_site, &allowed));
    }

    #[test]
    fn another_origin_or_a_cross_site_fetch_is_refused_unless_allowed() {
        let foreign = browser_headers(&[("origin", "https://evil.example")]);
        assert!(is_cross_site(&foreign, &[]));
        assert!(!is_cross_site(
            &foreign,
            &["https://evil.example".to_owned()]
        ));
        let fetch = browser_headers(&[("sec-fetch-site", "cross-site")]);
        assert!(is_cross_site(&fetch, &[]));
        assert!(is_cross_site(&browser_headers(&[("origin", "null")]), &[]));
    }

    async fn explode() -> &'static str {
        panic!("secret detail")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_without_its_message() {
        use tower::ServiceExt as _;
        let router = axum::Router::new()
            .route("/boom", axum::routing::get(explode))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                answer_panic,
            ));
        let request = axum::http::Request::get("/boom")
            .body(Body::empty())
            .unwrap();

        let response = router.oneshot(request).await.unwrap();

        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"error":"Internal server error"}"#);
    }

    #[test]
    fn a_well_formed_caller_request_id_is_kept() {
        let id = RequestId::from_headers(&headers_with_id("abc-123_x.y:z")).unwrap();
        assert_eq!(id.as_str(), "abc-123_x.y:z");
    }

    #[test]
    fn a_malformed_caller_request_id_is_replaced() {
        assert!(RequestId::from_headers(&headers_with_id("a b")).is_none());
        assert!(RequestId::from_headers(&headers_with_id(&"a".repeat(129))).is_none());
        assert!(RequestId::from_headers(&headers_with_id("")).is_none());
    }

    #[test]
    fn generated_request_ids_are_32_hex_digits_and_differ() {
        let first = RequestId::generate();
        assert_eq!(first.as_str().len(), 32);
        assert_ne!(first, RequestId::generate());
    }
}
