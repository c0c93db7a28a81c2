//! Inserting into the `responses` table on SQLite, under the form's lock;
//! reading responses is the same on both backends, in
//! `src/shared/responses.rs`.

use sqlx::SqliteConnection;

use crate::StorageError;
use crate::responses::{FormResponse, NewResponse, ResponseRow, response_columns};
use crate::sqlite::SqliteStore;
use crate::sqlite::forms::{finish, form_head};
use crate::users::insert_error;

impl SqliteStore {
    /// Reads the published version and inserts the response pinned to it in
    /// one `BEGIN IMMEDIATE` transaction, so no publish or retire can come
    /// between the two.
    pub(crate) async fn insert_response(
        &self,
        id: &str,
        new_response: &NewResponse,
    ) -> Result<FormResponse, StorageError> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let outcome = insert_response_in(&mut transaction, id, new_response).await;
        finish(transaction, outcome).await
    }
}

async fn insert_response_in(
    connection: &mut SqliteConnection,
    id: &str,
    new_response: &NewResponse,
) -> Result<FormResponse, StorageError> {
    let organization_id = &new_response.organization_id;
    let form_id = &new_response.form_id;
    let head = form_head(connection, organization_id, form_id)
        .await?
        .ok_or(StorageError::NotFound)?;
    let version = head.respond(new_response.form_version)?;

    let row: ResponseRow = sqlx::query_as(concat!(
        "INSERT INTO responses (id, organization_id, form_id, form_version, \
         respondent_id, status, content) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
        response_columns!()
    ))
    .bind(id)
    .bind(organization_id)
    .bind(form_id)
    .bind(version)
    .bind(&new_response.respondent_id)
    .bind(&new_response.status)
    .bind(&new_response.content)
    .fetch_one(connection)
    .await
    .map_err(insert_error)?;
    row.try_into()
}
