//! The `forms` and `form_versions` tables, on either backend: the reads, and
//! the statements of a write that neither lock the form nor stamp a time.
//!
//! A write's transaction, the locked read of the form's head that decides
//! it, and the updates that stamp the database's clock (`now()` on
//! PostgreSQL, a fixed-shape text on SQLite) differ, so they live in each
//! backend's `forms.rs`, which calls the helpers here inside its transaction.

use sqlx::Executor;

use super::{BackendDriver, BackendStore};
use crate::StorageError;
use crate::forms::{Form, FormContent, FormRow, NewForm, Version, select_forms};
use crate::users::insert_error;

/// A connection of this backend, as a write's transaction lends it.
type Connection = <BackendDriver as sqlx::Database>::Connection;

impl BackendStore {
    pub(crate) async fn form(
        &self,
        organization_id: &str,
        form_id: &str,
        version: Version,
    ) -> Result<Option<Form>, StorageError> {
        select_form(&self.pool, organization_id, form_id, version).await
    }

    pub(crate) async fn list_forms(
        &self,
        organization_id: &str,
    ) -> Result<Vec<Form>, StorageError> {
        let rows: Vec<FormRow> = sqlx::query_as(concat!(
            select_forms!(),
            " WHERE f.organization_id = $1 AND v.version = f.latest_version \
             ORDER BY f.created_at DESC, f.id"
        ))
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Form::try_from).collect()
    }
}

/// The form as `version` says, through `executor`: the pool for a plain
/// read, or a write's transaction reading back what it wrote.
async fn select_form<'c>(
    executor: impl Executor<'c, Database = BackendDriver>,
    organization_id: &str,
    form_id: &str,
    version: Version,
) -> Result<Option<Form>, StorageError> {
    let query = match version {
        Version::Latest => sqlx::query_as(concat!(
            select_forms!(),
            " WHERE f.organization_id = $1 AND f.id = $2 AND v.version = f.latest_version"
        )),
        Version::Published => sqlx::query_as(concat!(
            select_forms!(),
            " WHERE f.organization_id = $1 AND f.id = $2 AND v.version = f.published_version"
        )),
        Version::Exact(_) => sqlx::query_as(concat!(
            select_forms!(),
            " WHERE f.organization_id = $1 AND f.id = $2 AND v.version = $3"
        )),
    };
    let mut query = query.bind(organization_id).bind(form_id);
    if let Version::Exact(number) = version {
        query = query.bind(number);
    }
    let row: Option<FormRow> = query.fetch_optional(executor).await?;
    row.map(Form::try_from).transpose()
}

pub(crate) async fn insert_form_in(
    connection: &mut Connection,
    id: &str,
    new_form: &NewForm,
) -> Result<Form, StorageError> {
    let organization_id = &new_form.organization_id;
    sqlx::query("INSERT INTO forms (id, organization_id, created_by) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(organization_id)
        .bind(&new_form.created_by)
        .execute(&mut *connection)
        .await
        .map_err(insert_error)?;
    insert_version(connection, id, 1, &FormContent::from(new_form)).await?;
    read_back(connection, organization_id, id).await
}

pub(crate) async fn insert_version(
    connection: &mut Connection,
    form_id: &str,
    version: i32,
    content: &FormContent<'_>,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO form_versions (form_id, version, title, description, definition) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(form_id)
    .bind(version)
    .bind(content.title)
    .bind(content.description)
    .bind(content.definition)
    .execute(connection)
    .await?;
    Ok(())
}

pub(crate) async fn update_unpublished_version(
    connection: &mut Connection,
    form_id: &str,
    version: i32,
    content: &FormContent<'_>,
) -> Result<(), StorageError> {
    let updated = sqlx::query(
        "UPDATE form_versions SET title = $1, description = $2, definition = $3 \
         WHERE form_id = $4 AND version = $5 AND published_at IS NULL",
    )
    .bind(content.title)
    .bind(content.description)
    .bind(content.definition)
    .bind(form_id)
    .bind(version)
    .execute(connection)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(StorageError::Other {
            reason: format!("form version {version} was not an unpublished version"),
        });
    }
    Ok(())
}

/// The latest version of a form this transaction found or wrote, which is
/// therefore there.
pub(crate) async fn read_back(
    connection: &mut Connection,
    organization_id: &str,
    form_id: &str,
) -> Result<Form, StorageError> {
    let form = select_form(connection, organization_id, form_id, Version::Latest).await?;
    form.ok_or_else(|| StorageError::Other {
        reason: "a form written in this transaction could not be read back".to_owned(),
    })
}
