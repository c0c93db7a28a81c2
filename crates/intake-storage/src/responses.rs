//! Responses: what a respondent answered to one exact version of a form.
//!
//! A response is pinned, when it is stored, to the form's published
//! version, read in the same transaction that inserts the response and
//! under a lock that a concurrent publish waits for; it keeps that version
//! for good, whatever is published later (SPEC section 8). Read the
//! questions it answered with [`Database::form_version`].
//!
//! Only an `active` form takes responses. Creating one for a form that is
//! a `draft` or `retired` is [`StorageError::WrongFormStatus`] (the HTTP
//! layer answers 409), distinct from [`StorageError::NotFound`] for a form
//! that does not exist in the caller's organization (404).
//!
//! Tenant isolation (SPEC section 5): every method takes the caller's
//! organization and finds nothing in another one. Which responses a
//! respondent may read (only its own) is the caller's decision, helped by
//! the respondent filter of [`Database::list_responses`] and by
//! [`FormResponse::respondent_id`].
//!
//! A response's content is PHI: neither [`FormResponse`] nor
//! [`NewResponse`] prints it when debug-formatted, and no error built here
//! contains it.

use std::fmt;

use time::OffsetDateTime;

use crate::database::{Store, new_id};
use crate::forms::version_from_column;
use crate::{Database, StorageError};

/// What debug output shows instead of a response's content.
const REDACTED: &str = "<redacted>";

/// The status of a response whose answers are final and validated.
pub const COMPLETED: &str = "completed";
/// The status of a response saved part-way.
pub const IN_PROGRESS: &str = "in-progress";

/// A response, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct FormResponse {
    /// Random UUID v4, as text.
    pub id: String,
    /// The organization that owns the response (and its form).
    pub organization_id: String,
    /// The form it answers.
    pub form_id: String,
    /// The exact version of the form it answers, published when it was
    /// stored.
    pub form_version: u32,
    /// The id of the user who submitted it, a user of the same organization.
    pub respondent_id: String,
    /// [`COMPLETED`] or [`IN_PROGRESS`].
    pub status: String,
    /// The QuestionnaireResponse items, as the JSON text given. PHI.
    pub content: String,
    /// When it was stored, by the database's clock.
    pub authored_at: OffsetDateTime,
}

/// What [`Database::create_response`] needs to store a response.
#[derive(Clone, PartialEq, Eq)]
pub struct NewResponse {
    /// The caller's organization.
    pub organization_id: String,
    /// A form of that organization.
    pub form_id: String,
    /// The version the caller checked `content` against, if it did. When
    /// given, the response is stored only if that is still the published
    /// version, so a publish between the check and the insert cannot pin a
    /// response to questions it was not checked against. `None` pins it to
    /// whatever version is published at the moment of the insert.
    pub form_version: Option<u32>,
    /// The id of the submitting user, a user of that organization.
    pub respondent_id: String,
    /// [`COMPLETED`] or [`IN_PROGRESS`].
    pub status: String,
    /// The QuestionnaireResponse items, as JSON text; stored as given,
    /// without being parsed.
    pub content: String,
}

impl Database {
    /// Stores a response with a new random id, pinned to the form's
    /// published version.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] when the form does not exist in
    /// `organization_id`, or `respondent_id` names no user of it;
    /// [`StorageError::WrongFormStatus`] when the form is a `draft` (never
    /// published) or `retired`; [`StorageError::Conflict`] when
    /// [`NewResponse::form_version`] is given and is no longer the published
    /// version (check the content against the new one and try again);
    /// [`StorageError::Other`] for a status the table does not know;
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn create_response(
        &self,
        new_response: NewResponse,
    ) -> Result<FormResponse, StorageError> {
        let id = new_id();
        match self.store() {
            Store::Sqlite(store) => store.insert_response(&id, &new_response).await,
            Store::Postgres(store) => store.insert_response(&id, &new_response).await,
        }
    }

    /// The response with this id, if it belongs to `organization_id`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn response(
        &self,
        organization_id: &str,
        response_id: &str,
    ) -> Result<Option<FormResponse>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.response(organization_id, response_id).await,
            Store::Postgres(store) => store.response(organization_id, response_id).await,
        }
    }

    /// The responses to a form, newest first, all versions together; only
    /// `respondent_id`'s when it is given (what a respondent may see).
    ///
    /// A form that does not exist in `organization_id` has no responses
    /// here: an empty list, not an error. A caller that must answer 404 for
    /// a missing form asks [`Database::form`] first.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    // TODO: no pagination. A busy form collects thousands of responses, all
    // of which this reads at once; it needs a limit and a cursor.
    pub async fn list_responses(
        &self,
        organization_id: &str,
        form_id: &str,
        respondent_id: Option<&str>,
    ) -> Result<Vec<FormResponse>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => {
                store
                    .list_responses(organization_id, form_id, respondent_id)
                    .await
            }
            Store::Postgres(store) => {
                store
                    .list_responses(organization_id, form_id, respondent_id)
                    .await
            }
        }
    }
}

impl fmt::Debug for FormResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("FormResponse")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("form_id", &self.form_id)
            .field("form_version", &self.form_version)
            .field("respondent_id", &self.respondent_id)
            .field("status", &self.status)
            .field("content", &REDACTED)
            .field("authored_at", &self.authored_at)
            .finish()
    }
}

impl fmt::Debug for NewResponse {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("NewResponse")
            .field("organization_id", &self.organization_id)
            .field("form_id", &self.form_id)
            .field("form_version", &self.form_version)
            .field("respondent_id", &self.respondent_id)
            .field("status", &self.status)
            .field("content", &REDACTED)
            .finish()
    }
}

/// The columns of `responses`, in the order [`ResponseRow`] reads, as a
/// literal for `concat!` (see `organization_columns!`).
macro_rules! response_columns {
    () => {
        "id, organization_id, form_id, form_version, respondent_id, status, content, \
         authored_at"
    };
}
pub(crate) use response_columns;

/// A `responses` row as both backends return it.
#[derive(sqlx::FromRow)]
pub(crate) struct ResponseRow {
    id: String,
    organization_id: String,
    form_id: String,
    form_version: i32,
    respondent_id: String,
    status: String,
    content: String,
    authored_at: OffsetDateTime,
}

impl TryFrom<ResponseRow> for FormResponse {
    type Error = StorageError;

    fn try_from(row: ResponseRow) -> Result<Self, StorageError> {
        Ok(Self {
            id: row.id,
            organization_id: row.organization_id,
            form_id: row.form_id,
            form_version: version_from_column(row.form_version)?,
            respondent_id: row.respondent_id,
            status: row.status,
            content: row.content,
            authored_at: row.authored_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_content_out() {
        let new_response = NewResponse {
            organization_id: "organization".to_owned(),
            form_id: "form".to_owned(),
            form_version: None,
            respondent_id: "respondent".to_owned(),
            status: COMPLETED.to_owned(),
            content: r#"[{"linkId":"name","answer":[{"valueString":"Ada"}]}]"#.to_owned(),
        };
        let response = FormResponse {
            id: "response".to_owned(),
            organization_id: new_response.organization_id.clone(),
            form_id: new_response.form_id.clone(),
            form_version: 1,
            respondent_id: new_response.respondent_id.clone(),
            status: new_response.status.clone(),
            content: new_response.content.clone(),
            authored_at: OffsetDateTime::UNIX_EPOCH,
        };

        for debug in [format!("{new_response:?}"), format!("{response:?}")] {
            assert!(!debug.contains("Ada"), "{debug}");
            assert!(debug.contains(REDACTED), "{debug}");
        }
    }
}
