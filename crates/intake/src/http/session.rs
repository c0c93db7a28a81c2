//! Authenticating a request by its session cookie and CSRF token.
//!
//! Every authenticated request costs one call to the coordinator, which
//! validates the session, checks the CSRF token of a state-changing request,
//! resets the idle clock and performs the route's [`SessionAction`]
//! atomically. Routes that need only the session take [`CurrentSession`];
//! the session routes call [`authenticate`] with their own action.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use intake_coordination::sessions::{
    ActionResult, Session, SessionAction, SessionOutcome, SessionPolicy, SessionRef,
};
use secrecy::SecretString;

use super::context::RequestContext;
use super::error::ApiError;
use crate::app::App;
use crate::audit::{AuditEvent, Auditor};
use crate::auth::roles::Role;
use crate::auth::tokens::short_session_id;
use crate::config::Mode;

/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A keyed hash no token can have (see [`csrf_header_hash`]).
const UNMATCHABLE_CSRF_HASH: &str = "!";

/// The session cookie's name: `__Host-` in production pins it to this
/// origin, over HTTPS, on path `/`.
pub fn cookie_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Development => "session",
        Mode::Production => "__Host-session",
    }
}

/// The lifetimes the coordinator enforces, from configuration.
pub fn session_policy(app: &App) -> SessionPolicy {
    let sessions = &app.config.sessions;
    SessionPolicy {
        absolute_ttl: sessions.absolute_ttl,
        idle_timeout: sessions.idle_timeout,
        csrf_ttl: sessions.csrf_ttl,
        max_csrf_tokens: 20,
    }
}

/// Whether `method` changes state and so needs a CSRF token.
pub fn changes_state(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Where the request's session cookie points, if it is of the shape this
/// server issues.
pub fn session_reference(app: &App, headers: &HeaderMap) -> Option<SessionRef> {
    let name = cookie_name(app.config.mode);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .and_then(|cookie| app.tokens.session_from_cookie(cookie.value()))
}

/// 401 `Not authenticated`.
pub fn not_authenticated() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Not authenticated")
}

/// An authenticated request.
#[derive(Debug)]
pub struct Authenticated {
    /// The session after this request.
    pub session: Box<Session>,
    /// Where it lives.
    pub reference: SessionRef,
    /// The coordinator's clock, Unix milliseconds.
    pub now_ms: u64,
    /// What the action produced.
    pub result: ActionResult,
    /// Who asked.
    pub context: RequestContext,
    /// Where [`Authenticated::require`] records a refusal.
    auditor: Auditor,
}

impl Authenticated {
    /// An audit event with this session's actor and origin filled in.
    pub fn audit(&self, event: AuditEvent) -> AuditEvent {
        let details = &self.session.details;
        event
            .actor(&details.user_id, &details.organization_id)
            .origin(&self.context.client_ip, &self.context.request_id)
    }

    /// The short keyed hash that stands for the session in logs.
    pub fn short_id(&self) -> &str {
        short_session_id(&self.reference.id_hash)
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> &str {
        &self.session.details.user_id
    }

    /// The signed-in user's organization: every record a route touches is
    /// scoped by it.
    pub fn organization_id(&self) -> &str {
        &self.session.details.organization_id
    }

    /// The role the session was created with.
    pub fn role(&self) -> Option<Role> {
        self.session.details.role.parse().ok()
    }

    /// Whether the session holds `permission`.
    pub fn has(&self, permission: &str) -> bool {
        self.session
            .details
            .permissions
            .iter()
            .any(|held| held == permission)
    }

    /// 403 `Forbidden` (and a `permission.refused` security event) unless
    /// the session holds `permission`.
    ///
    /// Synchronous, so that a guard reads `authenticated.require(...)?`: the
    /// event is recorded on a task of its own, and the refusal does not wait
    /// for the database.
    pub fn require(&self, permission: &'static str) -> Result<(), ApiError> {
        if self.has(permission) {
            return Ok(());
        }
        let refused = self
            .audit(AuditEvent::security("permission.refused"))
            .resource("permission", permission);
        self.auditor.record_in_background(refused);
        Err(ApiError::new(StatusCode::FORBIDDEN, "Forbidden"))
    }
}

/// Authenticates the request and performs `action` on its session; the
/// CSRF token is required when the method changes state.
pub async fn authenticate(
    app: &App,
    parts: &Parts,
    action: SessionAction<'_>,
) -> Result<Authenticated, ApiError> {
    let context = RequestContext::of(parts, &app.config.trusted_proxies);
    let reference = session_reference(app, &parts.headers).ok_or_else(not_authenticated)?;
    let csrf_hash = if changes_state(&parts.method) {
        Some(csrf_hash(app, &parts.headers)?)
    } else {
        None
    };
    let outcome = app
        .coordinator
        .use_session(
            &reference,
            csrf_hash.as_deref(),
            action,
            &session_policy(app),
        )
        .await
        .map_err(|error| ApiError::from(error.0))?;
    let short_id = short_session_id(&reference.id_hash);
    match outcome {
        SessionOutcome::Unknown => Err(not_authenticated()),
        SessionOutcome::Expired => {
            let expired = AuditEvent::new("session.expired", crate::audit::Outcome::Success)
                .resource("session", short_id)
                .origin(&context.client_ip, &context.request_id);
            app.audit.record(expired).await;
            Err(not_authenticated())
        }
        SessionOutcome::CsrfRefused => {
            let refused = AuditEvent::security("csrf.refused")
                .resource("session", short_id)
                .origin(&context.client_ip, &context.request_id);
            app.audit.record(refused).await;
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Invalid or expired CSRF token",
            ))
        }
        SessionOutcome::Done {
            session,
            now_ms,
            result,
        } => Ok(Authenticated {
            session,
            reference,
            now_ms,
            result,
            context,
            auditor: app.audit.clone(),
        }),
    }
}

/// The keyed hash of the request's CSRF token; 403 when there is none.
fn csrf_hash(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    csrf_header_hash(app, headers)
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "CSRF token not provided in header"))
}

/// The keyed hash of the `X-CSRF-Token` header, `None` when there is none.
/// A header of a shape this server never issues gets a hash no token has,
/// so the session is still checked and the token then refused.
pub fn csrf_header_hash(app: &App, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CSRF_HEADER)?;
    let hash = value
        .to_str()
        .ok()
        .map(|text| SecretString::from(text.trim().to_owned()))
        .and_then(|token| app.tokens.csrf_hash(&token));
    Some(hash.unwrap_or_else(|| UNMATCHABLE_CSRF_HASH.to_owned()))
}

/// A request authenticated by its session (and its CSRF token when the
/// method changes state), for routes that need nothing else of Redis.
#[derive(Debug)]
pub struct CurrentSession(pub Authenticated);

impl FromRequestParts<App> for CurrentSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        authenticate(app, parts, SessionAction::Touch)
            .await
            .map(Self)
    }
}
