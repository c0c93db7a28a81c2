//! Responses to forms, their FHIR export and their PDF (SPEC section 8).
//!
//! A response is validated against the exact version it answers and pinned
//! to it. Staff and admins read an organization's responses; a respondent
//! reads only its own, and anyone else's answers 404 as if it did not
//! exist. Answers are PHI: nothing here logs them, and error details name
//! the item, never the value.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use intake_coordination::locks::LockError;
use intake_forms::{
    DisplayKind, Problem, ResponseContent, canonical_json, enabled_items,
    questionnaire_response_resource, sha256_hex, validate,
};
use intake_pdf::{PdfDocument, PdfItem, PdfItemKind};
use intake_storage::{FormResponse, NewResponse, StorageError};
use serde_json::{Value, json};

use super::error::ApiError;
use super::forms::definition_of;
use super::json::rfc3339;
use super::session::{Authenticated, CurrentSession};
use crate::app::App;
use crate::audit::{AuditEvent, Outcome};

/// How long one PDF generation may hold its lock before renewal.
const PDF_LOCK_TTL: Duration = Duration::from_secs(30);

const DOES_NOT_MATCH: &str = "Response does not match the form";

/// The content a stored response holds.
fn content_of(record: &FormResponse) -> Result<ResponseContent, ApiError> {
    let item: Value = serde_json::from_str(&record.content)
        .map_err(|_| ApiError::internal(&"a stored response does not parse"))?;
    let whole = json!({ "status": record.status, "item": item });
    ResponseContent::from_json(whole.to_string().as_bytes())
        .map_err(|_| ApiError::internal(&"a stored response does not parse"))
}

/// The API's JSON for a response.
fn response_json(record: &FormResponse) -> Result<Value, ApiError> {
    let content = content_of(record)?;
    Ok(json!({
        "id": record.id,
        "formId": record.form_id,
        "formVersion": record.form_version,
        "respondentId": record.respondent_id,
        "status": record.status,
        "authored": rfc3339(record.authored_at),
        "item": content.item,
    }))
}

/// The response `id` if the session may read it; 404 otherwise.
async fn readable_response(
    app: &App,
    session: &Authenticated,
    id: &str,
) -> Result<FormResponse, ApiError> {
    let record = app.database.response(session.organization_id(), id).await?;
    let record = record.ok_or_else(ApiError::not_found)?;
    let own = record.respondent_id == session.user_id();
    if own || session.has("read:responses") {
        return Ok(record);
    }
    app.audit
        .record(
            session
                .audit(AuditEvent::security("permission.refused"))
                .resource("response", id),
        )
        .await;
    Err(ApiError::not_found())
}

/// `POST /api/forms/{id}/responses`: validated against the published
/// version and pinned to it.
pub async fn post_response(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(form_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    session.require("write:responses")?;
    let content = ResponseContent::from_json(&body).map_err(|error| {
        ApiError::unprocessable(DOES_NOT_MATCH, [Problem::whole(error.to_string())])
    })?;
    let organization = session.organization_id();
    let Some(form) = app.database.published_form(organization, &form_id).await? else {
        return Err(not_accepting_or_missing(&app, organization, &form_id).await?);
    };

    validate(&definition_of(&form)?, &content)
        .map_err(|found| ApiError::unprocessable(DOES_NOT_MATCH, found))?;
    let stored = app
        .database
        .create_response(NewResponse {
            organization_id: organization.to_owned(),
            form_id: form_id.clone(),
            form_version: Some(form.version),
            respondent_id: session.user_id().to_owned(),
            status: content.status.code().to_owned(),
            content: serde_json::to_string(&content.item).expect("answers serialize"),
        })
        .await;
    let record = match stored {
        Ok(record) => record,
        Err(StorageError::WrongFormStatus { .. }) => return Err(not_accepting()),
        Err(StorageError::Conflict { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "The form was published again meanwhile; submit the response again",
            ));
        }
        Err(other) => return Err(other.into()),
    };

    app.audit
        .record(
            session
                .audit(AuditEvent::new("response.submitted", Outcome::Success))
                .resource("response", &record.id),
        )
        .await;
    Ok((StatusCode::CREATED, Json(response_json(&record)?)).into_response())
}

fn not_accepting() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "Form is not accepting responses")
}

/// 409 when the form exists but has no published version or is retired,
/// 404 when it does not exist (in this organization).
async fn not_accepting_or_missing(
    app: &App,
    organization: &str,
    form_id: &str,
) -> Result<ApiError, ApiError> {
    Ok(match app.database.form(organization, form_id).await? {
        Some(_) => not_accepting(),
        None => ApiError::not_found(),
    })
}

/// `GET /api/forms/{id}/responses`: all of them with `read:responses`, a
/// respondent's own otherwise.
pub async fn get_form_responses(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(form_id): Path<String>,
) -> Result<Response, ApiError> {
    let organization = session.organization_id();
    let only_own = if session.has("read:responses") {
        None
    } else {
        session.require("write:responses")?;
        Some(session.user_id())
    };
    if app.database.form(organization, &form_id).await?.is_none() {
        return Err(ApiError::not_found());
    }

    let records = app
        .database
        .list_responses(organization, &form_id, only_own)
        .await?;

    let responses = records
        .iter()
        .map(response_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "responses": responses })).into_response())
}

/// `GET /api/responses/{id}`.
pub async fn get_response(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = readable_response(&app, &session, &id).await?;

    app.audit
        .record(
            session
                .audit(AuditEvent::new("response.read", Outcome::Success))
                .resource("response", &record.id),
        )
        .await;
    Ok(Json(response_json(&record)?).into_response())
}

/// `GET /api/responses/{id}/fhir`: a FHIR R4 QuestionnaireResponse.
pub async fn get_response_fhir(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = readable_response(&app, &session, &id).await?;

    app.audit
        .record(
            session
                .audit(AuditEvent::new("response.read", Outcome::Success))
                .resource("response", &record.id),
        )
        .await;
    let questionnaire = format!("Questionnaire/{}|{}", record.form_id, record.form_version);
    let resource = questionnaire_response_resource(
        &content_of(&record)?,
        &record.id,
        &questionnaire,
        &rfc3339(record.authored_at),
    );
    Ok(Json(resource).into_response())
}

/// `POST /api/responses/{id}/generate-pdf`: renders the response under the
/// lock `pdf:ID`, so one response is rendered once at a time across every
/// instance.
pub async fn post_generate_pdf(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    session.require("generate:pdf")?;
    let organization = session.organization_id();
    let record = app.database.response(organization, &id).await?;
    let record = record.ok_or_else(ApiError::not_found)?;

    let resource = format!("pdf:{id}");
    let lock = match app
        .coordinator
        .acquire_lock(&resource, PDF_LOCK_TTL, None)
        .await
    {
        Ok(lock) => lock,
        Err(error) => return Err(lock_refusal(&app, &session, &resource, &error).await),
    };
    audit_lock(&app, &session, "lock.acquired", &resource).await;

    let rendered = render_pdf(&app, organization, &record).await;

    if lock.is_lost() {
        // The lease ran out mid-render; the PDF is still right, but another
        // instance may have rendered it too.
        audit_lock(&app, &session, "lock.lost", &resource).await;
    } else if lock.release().await.is_ok() {
        audit_lock(&app, &session, "lock.released", &resource).await;
    }
    let pdf = rendered?;
    app.audit
        .record(
            session
                .audit(AuditEvent::new("pdf.generated", Outcome::Success))
                .resource("response", &record.id),
        )
        .await;
    let disposition = format!("attachment; filename=\"response-{}.pdf\"", record.id);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        pdf,
    )
        .into_response())
}

async fn audit_lock(app: &App, session: &Authenticated, event: &'static str, resource: &str) {
    app.audit
        .record(
            session
                .audit(AuditEvent::new(event, Outcome::Success))
                .resource("lock", resource),
        )
        .await;
}

/// 409 while another generation holds the lock, 503 when the lock store is
/// unreachable.
async fn lock_refusal(
    app: &App,
    session: &Authenticated,
    resource: &str,
    error: &LockError,
) -> ApiError {
    if let LockError::Contended { held_for } = error {
        app.audit
            .record(
                session
                    .audit(AuditEvent::new("lock.contended", Outcome::Failure))
                    .resource("lock", resource),
            )
            .await;
        let retry_after = held_for.map_or(1, |held| held.as_secs().max(1));
        return ApiError::new(
            StatusCode::CONFLICT,
            "PDF generation is already in progress for this response",
        )
        .retry_after(retry_after);
    }
    if error.is_unavailable() {
        tracing::warn!(error = %error, "lock store unavailable");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Could not acquire system lock",
        )
        .retry_after(5);
    }
    ApiError::internal(error)
}

/// Gathers what the PDF shows and renders it off the async threads.
async fn render_pdf(
    app: &App,
    organization_id: &str,
    record: &FormResponse,
) -> Result<Vec<u8>, ApiError> {
    let (form, organization, respondent) = tokio::try_join!(
        app.database
            .form_version(organization_id, &record.form_id, record.form_version),
        app.database.organization(organization_id),
        app.database
            .user_in_organization(organization_id, &record.respondent_id),
    )?;
    let form = form.ok_or_else(ApiError::not_found)?;
    let definition = definition_of(&form)?;
    let content = content_of(record)?;
    let items: Vec<PdfItem> = enabled_items(&definition, &content)
        .into_iter()
        .map(|item| PdfItem {
            depth: item.depth,
            kind: match item.kind {
                DisplayKind::Group => PdfItemKind::Group,
                DisplayKind::Display => PdfItemKind::Display,
                DisplayKind::Question => PdfItemKind::Question,
            },
            text: item.text,
            answers: item.answers,
        })
        .collect();
    let sha256 = sha256_hex(&canonical_json(&content));
    let organization = organization.map_or_else(|| organization_id.to_owned(), |o| o.name);
    let respondent = respondent
        .and_then(|user| user.email)
        .unwrap_or_else(|| record.respondent_id.clone());
    let title = definition.title;
    let (response_id, version) = (record.id.clone(), record.form_version);
    let submitted_at = rfc3339(record.authored_at);
    tokio::task::spawn_blocking(move || {
        intake_pdf::render(&PdfDocument {
            organization: &organization,
            form_title: &title,
            form_version: version,
            response_id: &response_id,
            submitted_at: &submitted_at,
            respondent: &respondent,
            items: &items,
            sha256_hex: &sha256,
        })
    })
    .await
    .map_err(|error| ApiError::internal(&error))?
    .map_err(|error| ApiError::internal(&error))
}
