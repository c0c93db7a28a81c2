//! Login, logout, sessions and CSRF tokens (SPEC section 5).
//!
//! Each handler authenticates and acts on its session in one coordinator
//! call (see [`super::session`]), so every route here costs one Redis
//! command besides its rate limit.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use intake_coordination::sessions::{
    ActionResult, Session, SessionAction, SessionDetails, SessionOutcome,
};
use intake_storage::{OidcIdentity, StorageError, User};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::context::RequestContext;
use super::error::ApiError;
use super::json::{ApiJson, rfc3339_from_unix_ms};
use super::session::{
    CurrentSession, authenticate, cookie_name, csrf_header_hash, not_authenticated, session_policy,
    session_reference,
};
use crate::app::App;
use crate::audit::{AuditEvent, Outcome};
use crate::auth::password;
use crate::auth::roles::Role;
use crate::auth::tokens::short_session_id;
use crate::config::Mode;

/// `POST /api/auth/login` body.
#[derive(Deserialize)]
pub struct LoginRequest {
    email: String,
    password: SecretString,
}

/// `POST /api/auth/session-login` body.
#[derive(Deserialize)]
pub struct SessionLoginRequest {
    #[serde(rename = "idToken")]
    id_token: SecretString,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Invalid email or password")
}

fn invalid_id_token() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Invalid ID token")
}

fn forbidden() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "Forbidden")
}

/// `POST /api/auth/login`: e-mail and password.
pub async fn post_login(
    State(app): State<App>,
    context: RequestContext,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let email = request.email.trim().to_lowercase();
    let user = app.database.user_by_email(&email).await?;

    // An unknown e-mail is checked against a dummy hash: same answer, same
    // time as a wrong password.
    let stored_hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let verified = password::verify_password(request.password, stored_hash).await;

    let Some(user) = user.filter(|_| verified) else {
        let failed =
            AuditEvent::security("login.failed").origin(&context.client_ip, &context.request_id);
        app.audit.record(failed).await;
        return Err(invalid_credentials());
    };
    start_session(&app, &context, &headers, &user, "password").await
}

/// `POST /api/auth/session-login`: an ID token from the identity provider.
pub async fn post_session_login(
    State(app): State<App>,
    context: RequestContext,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SessionLoginRequest>,
) -> Result<Response, ApiError> {
    let refusal = |event: &'static str| {
        AuditEvent::security(event).origin(&context.client_ip, &context.request_id)
    };
    let Some(verifier) = &app.oidc else {
        app.audit.record(refusal("login.failed")).await;
        return Err(invalid_id_token());
    };
    let token = match verifier.verify(request.id_token.expose_secret()).await {
        Ok(token) => token,
        Err(rejection) => {
            tracing::debug!(reason = ?rejection.reason(), "ID token refused");
            app.audit.record(refusal("login.failed")).await;
            return Err(invalid_id_token());
        }
    };

    let organization = match &token.organization_id {
        Some(id) => app.database.organization(id).await?,
        None => None,
    };
    let role = token
        .role
        .as_deref()
        .unwrap_or("respondent")
        .parse::<Role>();
    let (Some(organization), Ok(role)) = (organization, role) else {
        app.audit.record(refusal("permission.refused")).await;
        return Err(forbidden());
    };

    let identity = OidcIdentity {
        issuer: token.issuer.clone(),
        subject: token.subject.clone(),
    };
    // Only an address the provider verified may link an existing account;
    // `verified_email` is empty for any other.
    let user = app
        .database
        .find_or_create_oidc_user(
            &identity,
            &organization.id,
            role.as_str(),
            token.verified_email.as_deref(),
        )
        .await;
    let user = match user {
        Ok(user) if user.organization_id == organization.id => user,
        Ok(_) | Err(StorageError::Conflict { .. }) => {
            app.audit.record(refusal("organization.refused")).await;
            return Err(forbidden());
        }
        Err(error) => return Err(error.into()),
    };
    start_session(&app, &context, &headers, &user, "oidc").await
}

/// Issues a new session (and its first CSRF token) for `user`, ending any
/// session the request already carried: a new id at every login.
async fn start_session(
    app: &App,
    context: &RequestContext,
    headers: &HeaderMap,
    user: &User,
    auth_method: &'static str,
) -> Result<Response, ApiError> {
    let role: Role = user
        .role
        .parse()
        .map_err(|_| ApiError::internal(&"a stored user has an unknown role"))?;
    let policy = session_policy(app);

    if let Some(previous) = session_reference(app, headers) {
        let ended = app
            .coordinator
            .use_session(&previous, None, SessionAction::End, &policy)
            .await;
        if let Ok(SessionOutcome::Done { .. }) = ended {
            let rotated = AuditEvent::new("session.rotated", Outcome::Success)
                .actor(&user.id, &user.organization_id)
                .resource("session", short_session_id(&previous.id_hash))
                .origin(&context.client_ip, &context.request_id);
            app.audit.record(rotated).await;
        }
    }

    let session_id = app.tokens.new_session_id(&user.id);
    let csrf = app.tokens.new_csrf_token();
    let details = SessionDetails {
        user_id: user.id.clone(),
        organization_id: user.organization_id.clone(),
        role: role.as_str().to_owned(),
        permissions: role.permissions().iter().map(|p| (*p).to_owned()).collect(),
        ip_address: context.client_ip.clone(),
        user_agent: context.user_agent.clone(),
        session_type: "web".to_owned(),
        auth_method: auth_method.to_owned(),
    };
    let created = app
        .coordinator
        .create_session(&session_id.reference, &details, &csrf.hash, &policy)
        .await
        .map_err(|error| ApiError::from(error.0))?;

    let short_id = short_session_id(&session_id.reference.id_hash);
    for event in ["login.succeeded", "session.created"] {
        let succeeded = AuditEvent::new(event, Outcome::Success)
            .actor(&user.id, &user.organization_id)
            .resource("session", short_id)
            .origin(&context.client_ip, &context.request_id);
        app.audit.record(succeeded).await;
    }

    let lifetime_secs = (created.absolute_expires_at_ms - created.created_at_ms) / 1000;
    let body = json!({
        "status": "success",
        "message": "Login successful",
        "csrfToken": csrf.token.expose_secret(),
        "expiresIn": seconds_between(created.created_at_ms, created.csrf_expires_at_ms),
    });
    let cookie = session_cookie(
        app.config.mode,
        session_id.cookie_value.expose_secret(),
        lifetime_secs,
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `POST /api/auth/logout`: ends the session and all its CSRF tokens.
pub async fn post_logout(State(app): State<App>, request: Request) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let authenticated = authenticate(&app, &parts, SessionAction::End).await?;
    let logged_out = authenticated
        .audit(AuditEvent::new("logout", Outcome::Success))
        .resource("session", authenticated.short_id());
    app.audit.record(logged_out).await;
    let body = json!({"status": "success", "message": "Logged out successfully"});
    let cleared = session_cookie(app.config.mode, "", 0);
    Ok((
        [
            (header::SET_COOKIE, cleared),
            (
                header::HeaderName::from_static("clear-site-data"),
                HeaderValue::from_static("\"cookies\""),
            ),
        ],
        Json(body),
    )
        .into_response())
}

/// `GET /api/auth/csrf-token`: a new CSRF token for the session.
pub async fn get_csrf_token(
    State(app): State<App>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let csrf = app.tokens.new_csrf_token();
    let authenticated = authenticate(&app, &parts, SessionAction::IssueCsrf(&csrf.hash)).await?;
    let ActionResult::CsrfIssued { expires_at_ms } = authenticated.result else {
        return Err(ApiError::internal(
            &"the session store did not issue a token",
        ));
    };
    let issued = authenticated
        .audit(AuditEvent::new("csrf.issued", Outcome::Success))
        .resource("session", authenticated.short_id());
    app.audit.record(issued).await;
    let body = json!({
        "csrfToken": csrf.token.expose_secret(),
        "expiresIn": seconds_between(authenticated.now_ms, expires_at_ms),
    });
    Ok(Json(body).into_response())
}

/// `GET /api/auth/me`: the user, organization, role and session expiries.
pub async fn get_me(
    State(app): State<App>,
    CurrentSession(authenticated): CurrentSession,
) -> Result<Response, ApiError> {
    let details = &authenticated.session.details;
    let (user, organization) = tokio::try_join!(
        app.database
            .user_in_organization(&details.organization_id, &details.user_id),
        app.database.organization(&details.organization_id),
    )?;
    let (Some(user), Some(organization)) = (user, organization) else {
        // The account went away while the session lived.
        return Err(not_authenticated());
    };
    let session = &authenticated.session;
    let policy = session_policy(&app);
    let body = json!({
        "user": {"id": user.id, "email": user.email, "role": details.role},
        "organization": {"id": organization.id, "name": organization.name},
        "role": details.role,
        "permissions": details.permissions,
        "session": {
            "createdAt": rfc3339_from_unix_ms(session.created_at_ms),
            "expiresAt": rfc3339_from_unix_ms(session.expires_at_ms(&policy)),
            "absoluteExpiresAt": rfc3339_from_unix_ms(session.absolute_expires_at_ms),
            "idleTimeoutSeconds": policy.idle_timeout.map(|idle| idle.as_secs()),
            "authMethod": details.auth_method,
        },
    });
    Ok(Json(body).into_response())
}

/// `GET /api/auth/sessions`: the user's live sessions.
pub async fn get_sessions(State(app): State<App>, request: Request) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let authenticated = authenticate(&app, &parts, SessionAction::List).await?;
    let ActionResult::Listed(sessions) = &authenticated.result else {
        return Err(ApiError::internal(
            &"the session store did not list sessions",
        ));
    };
    let policy = session_policy(&app);
    let current = &authenticated.reference.id_hash;
    let mut listed: Vec<&Session> = sessions.iter().collect();
    listed.sort_by_key(|session| std::cmp::Reverse(session.last_seen_at_ms));
    let sessions: Vec<serde_json::Value> = listed
        .into_iter()
        .map(|session| {
            json!({
                "id": session.id_hash,
                "createdAt": rfc3339_from_unix_ms(session.created_at_ms),
                "lastSeenAt": rfc3339_from_unix_ms(session.last_seen_at_ms),
                "expiresAt": rfc3339_from_unix_ms(session.expires_at_ms(&policy)),
                "ipAddress": session.details.ip_address,
                "userAgent": session.details.user_agent,
                "sessionType": session.details.session_type,
                "current": &session.id_hash == current,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

/// `DELETE /api/auth/sessions/{id}`: revokes one of the user's sessions.
pub async fn delete_session(
    State(app): State<App>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    if !intake_coordination::sessions::is_key_safe(&id) {
        return Err(ApiError::not_found());
    }
    let authenticated = authenticate(&app, &parts, SessionAction::Revoke(&id)).await?;
    if authenticated.result != ActionResult::Revoked(true) {
        return Err(ApiError::not_found());
    }
    let revoked = authenticated
        .audit(AuditEvent::new("session.revoked", Outcome::Success))
        .resource("session", short_session_id(&id));
    app.audit.record(revoked).await;
    Ok(Json(json!({"status": "success", "revoked": 1})).into_response())
}

/// `POST /api/auth/sessions/revoke-others`: ends every other session.
pub async fn post_revoke_others(
    State(app): State<App>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let authenticated = authenticate(&app, &parts, SessionAction::RevokeOthers).await?;
    let ActionResult::RevokedOthers(revoked) = authenticated.result else {
        return Err(ApiError::internal(
            &"the session store did not revoke sessions",
        ));
    };
    if revoked > 0 {
        let revoked = authenticated
            .audit(AuditEvent::new("session.revoked", Outcome::Success))
            .resource("user", &authenticated.session.details.user_id);
        app.audit.record(revoked).await;
    }
    Ok(Json(json!({ "revoked": revoked })).into_response())
}

/// `GET /api/diagnostics/csrf`: whether the request's own token is valid.
/// It never reveals other tokens.
pub async fn get_csrf_diagnostics(
    State(app): State<App>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let reference = session_reference(&app, &parts.headers).ok_or_else(not_authenticated)?;
    let hash = csrf_header_hash(&app, &parts.headers);
    let token_present = hash.is_some();
    let policy = session_policy(&app);
    let outcome = app
        .coordinator
        .use_session(&reference, hash.as_deref(), SessionAction::Touch, &policy)
        .await
        .map_err(|error| ApiError::from(error.0))?;
    let (token_valid, expires_in) = match outcome {
        SessionOutcome::Unknown | SessionOutcome::Expired => return Err(not_authenticated()),
        SessionOutcome::CsrfRefused => (false, None),
        SessionOutcome::Done {
            session, now_ms, ..
        } => (
            token_present,
            Some(seconds_between(now_ms, session.expires_at_ms(&policy))),
        ),
    };
    let body = json!({
        "sessionValid": true,
        "tokenPresent": token_present,
        "tokenValid": token_valid,
        "expiresIn": expires_in,
    });
    Ok(Json(body).into_response())
}

/// The `Set-Cookie` value for the session cookie; an empty value with
/// `max_age_secs` 0 clears it.
fn session_cookie(mode: Mode, value: &str, max_age_secs: u64) -> HeaderValue {
    let max_age = i64::try_from(max_age_secs).unwrap_or(i64::MAX);
    let cookie = cookie::Cookie::build((cookie_name(mode), value))
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .path("/")
        .secure(mode == Mode::Production)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("cookie values are visible ASCII")
}

fn seconds_between(from_ms: u64, to_ms: u64) -> u64 {
    to_ms.saturating_sub(from_ms) / 1000
}
