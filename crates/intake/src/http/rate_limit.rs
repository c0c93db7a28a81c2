//! Rate limits on `/api/` (SPEC section 6), one coordinator call a request.
//!
//! The two login routes spend the `auth` policy of the client's IP; every
//! other `/api/` route spends the `api` policy of the signed-in user (the
//! user tag sealed in the session cookie, so all of a user's sessions share
//! one bucket and a client cannot mint buckets), else of the client's IP.
//! PDF generation spends the `pdf` policy of the same key as well, and its
//! answers carry the `pdf` figures.
//! Bucket keys hold keyed hashes, never an IP address.
//!
//! Every limited answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
//! `X-RateLimit-Reset` and the IETF draft's `RateLimit` and
//! `RateLimit-Policy`. From rest a bucket admits COUNT+BURST, so
//! `Remaining` may stand above `Limit` until the burst is spent.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use intake_coordination::rate_limit::{RateDecision, RatePolicy};
use serde_json::json;

use super::context::RequestContext;
use super::session::session_reference;
use crate::app::App;
use crate::audit::AuditEvent;

/// The routes the `auth` policy guards.
const LOGIN_ROUTES: [&str; 2] = ["/api/auth/login", "/api/auth/session-login"];

/// Decides, and answers 429 or adds the rate-limit headers.
pub async fn limit_rate(State(app): State<App>, request: Request, next: Next) -> Response<Body> {
    let path = request.uri().path();
    if !path.starts_with("/api/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let context = RequestContext::of(&parts, &app.config.trusted_proxies);
    let limits = &app.config.rate_limits;
    let (name, policy, key) = if LOGIN_ROUTES.contains(&parts.uri.path()) {
        ("auth", limits.auth, client_key(&app, &context))
    } else {
        // The cookie's seal proves this server issued it for that user; the
        // session itself is checked later, by the route.
        let user_key = session_reference(&app, &parts.headers)
            .map(|session| format!("user:{}", session.user_tag));
        (
            "api",
            limits.api,
            user_key.unwrap_or_else(|| client_key(&app, &context)),
        )
    };

    let mut decision = app.coordinator.rate_limit(name, &policy, &key).await;
    let mut policy = policy;
    if decision.allowed && is_pdf_generation(&parts) {
        policy = limits.pdf;
        decision = app.coordinator.rate_limit("pdf", &policy, &key).await;
    }
    if !decision.allowed {
        // TODO: every refused request appends a row, one at a time across
        // all instances, so a flood of refusals is a flood of serialized
        // writes; aggregate repeated refusals of one bucket before the
        // trail becomes the bottleneck a limiter exists to prevent.
        let exceeded = AuditEvent::security("rate_limit.exceeded")
            .resource("rate_limit_policy", decision.policy_name)
            .origin(&context.client_ip, &context.request_id);
        app.audit.record(exceeded).await;
        return refusal(&decision, &policy);
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    set_headers(response.headers_mut(), &decision, &policy);
    response
}

/// Whether the request asks for a PDF (`POST /api/responses/{id}/generate-pdf`).
fn is_pdf_generation(parts: &axum::http::request::Parts) -> bool {
    let segments: Vec<&str> = parts.uri.path().split('/').collect();
    parts.method == axum::http::Method::POST
        && matches!(segments.as_slice(), ["", "api", "responses", id, "generate-pdf"] if !id.is_empty())
}

/// The bucket of an anonymous client: a keyed hash of its IP address.
fn client_key(app: &App, context: &RequestContext) -> String {
    format!("ip:{}", app.tokens.client_tag(&context.client_ip))
}

/// 429 `{"error":"Rate limit exceeded","retry_after":N}` with `Retry-After`.
fn refusal(decision: &RateDecision, policy: &RatePolicy) -> Response<Body> {
    let retry_after = decision.retry_after_secs().unwrap_or(1);
    let body = json!({"error": "Rate limit exceeded", "retry_after": retry_after});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    set_headers(headers, decision, policy);
    response
}

fn set_headers(headers: &mut HeaderMap, decision: &RateDecision, policy: &RatePolicy) {
    let name = decision.policy_name;
    let remaining = if decision.allowed {
        decision.remaining
    } else {
        0
    };
    let pairs = [
        ("x-ratelimit-limit", decision.limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", decision.reset_at_unix.to_string()),
        (
            "ratelimit",
            format!("\"{name}\";r={remaining};t={}", decision.reset_after_secs()),
        ),
        (
            "ratelimit-policy",
            format!(
                "\"{name}\";q={};w={}",
                policy.count,
                policy.period.as_secs()
            ),
        ),
    ];
    for (header_name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(header_name), value);
        }
    }
}
