//! Forms: FHIR Questionnaire items, versioned (SPEC section 8).
//!
//! Storage scopes every call by the session's organization, so another
//! organization's form answers 404 exactly like a missing one. A draft is
//! checked only for shape; publishing checks the Questionnaire rules and
//! freezes the version.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use intake_forms::{FormDefinition, Problem, questionnaire_resource};
use intake_storage::{Form, NewForm};
use serde_json::{Value, json};

use super::error::ApiError;
use super::session::{Authenticated, CurrentSession};
use crate::app::App;
use crate::audit::{AuditEvent, Outcome};

const NOT_VALID: &str = "Form definition is not valid";

/// A form definition from a request body; 422 naming the item at fault
/// (form definitions are not PHI, so the parser's words may be quoted).
fn parse_definition(body: &Bytes) -> Result<FormDefinition, ApiError> {
    let definition = FormDefinition::from_json(body)
        .map_err(|error| ApiError::unprocessable(NOT_VALID, [Problem::whole(error.to_string())]))?;
    if definition.title.trim().is_empty() {
        let problem = Problem::whole("the form needs a title");
        return Err(ApiError::unprocessable(NOT_VALID, [problem]));
    }
    Ok(definition)
}

/// The stored items of `definition`, as storage keeps them.
fn stored_items(definition: &FormDefinition) -> String {
    serde_json::to_string(&definition.item).expect("form items serialize")
}

/// The definition a stored form holds.
pub fn definition_of(form: &Form) -> Result<FormDefinition, ApiError> {
    let item = serde_json::from_str(&form.definition)
        .map_err(|_| ApiError::internal(&"a stored form definition does not parse"))?;
    Ok(FormDefinition {
        title: form.title.clone(),
        description: form.description.clone(),
        item,
    })
}

/// The API's JSON for a form.
fn form_json(form: &Form) -> Result<Value, ApiError> {
    let definition = definition_of(form)?;
    Ok(json!({
        "id": form.id,
        "version": form.version,
        "status": form.status,
        "published": form.published,
        "publishedVersion": form.published_version,
        "title": definition.title,
        "description": definition.description,
        "item": definition.item,
    }))
}

async fn audit_form(app: &App, authenticated: &Authenticated, event: &'static str, form: &Form) {
    app.audit
        .record(
            authenticated
                .audit(AuditEvent::new(event, Outcome::Success))
                .resource("form", &form.id),
        )
        .await;
}

/// `GET /api/forms`.
pub async fn get_forms(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
) -> Result<Response, ApiError> {
    session.require("read:forms")?;

    let forms = app.database.list_forms(session.organization_id()).await?;

    let forms = forms.iter().map(form_json).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "forms": forms })).into_response())
}

/// `POST /api/forms`: version 1, a draft.
pub async fn post_form(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    body: Bytes,
) -> Result<Response, ApiError> {
    session.require("write:forms")?;
    let definition = parse_definition(&body)?;

    let form = app
        .database
        .create_form(NewForm {
            organization_id: session.organization_id().to_owned(),
            created_by: session.user_id().to_owned(),
            title: definition.title.clone(),
            description: definition.description.clone(),
            definition: stored_items(&definition),
        })
        .await?;

    audit_form(&app, &session, "form.created", &form).await;
    Ok((StatusCode::CREATED, Json(form_json(&form)?)).into_response())
}

/// `GET /api/forms/{id}`: the latest version.
pub async fn get_form(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    session.require("read:forms")?;

    let form = app.database.form(session.organization_id(), &id).await?;

    let form = form.ok_or_else(ApiError::not_found)?;
    Ok(Json(form_json(&form)?).into_response())
}

/// `PUT /api/forms/{id}`: edits a draft in place; editing a published form
/// makes a new version.
pub async fn put_form(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    session.require("write:forms")?;
    let definition = parse_definition(&body)?;

    let form = app
        .database
        .update_form(
            session.organization_id(),
            &id,
            &definition.title,
            definition.description.as_deref(),
            &stored_items(&definition),
        )
        .await?;

    let form = form.ok_or_else(ApiError::not_found)?;
    audit_form(&app, &session, "form.updated", &form).await;
    Ok(Json(form_json(&form)?).into_response())
}

/// `POST /api/forms/{id}/publish`: checks the Questionnaire rules, then
/// freezes the latest version.
pub async fn post_publish(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    session.require("write:forms")?;
    let organization = session.organization_id();
    let form = app.database.form(organization, &id).await?;
    let form = form.ok_or_else(ApiError::not_found)?;

    definition_of(&form)?.check().map_err(|found| {
        ApiError::unprocessable("Form does not meet the Questionnaire rules", found)
    })?;
    let published = app.database.publish_form(organization, &id).await?;

    let published = published.ok_or_else(ApiError::not_found)?;
    audit_form(&app, &session, "form.published", &published).await;
    Ok(Json(form_json(&published)?).into_response())
}

/// `DELETE /api/forms/{id}`: retires the form.
pub async fn delete_form(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    session.require("write:forms")?;

    let form = app
        .database
        .retire_form(session.organization_id(), &id)
        .await?;

    let form = form.ok_or_else(ApiError::not_found)?;
    audit_form(&app, &session, "form.retired", &form).await;
    Ok(Json(form_json(&form)?).into_response())
}

/// `GET /api/forms/{id}/fhir`: the latest version as a FHIR R4
/// Questionnaire.
pub async fn get_form_fhir(
    State(app): State<App>,
    CurrentSession(session): CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    session.require("read:forms")?;

    let form = app.database.form(session.organization_id(), &id).await?;

    let form = form.ok_or_else(ApiError::not_found)?;
    let status = if form.published {
        &form.status
    } else {
        "draft"
    };
    let resource = questionnaire_resource(&definition_of(&form)?, &form.id, form.version, status);
    Ok(Json(resource).into_response())
}
