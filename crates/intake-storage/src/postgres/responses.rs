//! Inserting into the `responses` table on PostgreSQL, under the form's lock;
//! reading responses is the same on both backends, in
//! `src/shared/responses.rs`.

use sqlx::PgConnection;

use crate::StorageError;
use crate::postgres::PostgresStore;
use crate::postgres::forms::{HeadLock, finish, form_head};
use crate::responses::{FormResponse, NewResponse, ResponseRow, response_columns};
use crate::users::insert_error;

impl PostgresStore {
    /// Reads the published version and inserts the response pinned to it in
    /// one transaction, holding the form's row `FOR SHARE` meanwhile: other
    /// responses go ahead at once, while a publish or retire (which lock it
    /// `FOR UPDATE`) waits for this one to commit, and this one for them.
    pub(crate) async fn insert_response(
        &self,
        id: &str,
        new_response: &NewResponse,
    ) -> Result<FormResponse, StorageError> {
        let mut transaction = self.pool.begin().await?;
        let outcome = insert_response_in(&mut transaction, id, new_response).await;
        finish(transaction, outcome).await
    }
}

async fn insert_response_in(
    connection: &mut PgConnection,
    id: &str,
    new_response: &NewResponse,
) -> Result<FormResponse, StorageError> {
    let organization_id = &new_response.organization_id;
    let form_id = &new_response.form_id;
    let head = form_head(connection, organization_id, form_id, HeadLock::Share)
        .await?
        .ok_or(StorageError::NotFound)?;
    let version = head.respond(new_response.form_version)?;

    let row: ResponseRow = sqlx::query_as(concat!(
        "INSERT INTO responses (id, organization_id, form_id, form_version, \
         respondent_id, status, content) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
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
