//! The `forms` and `form_versions` tables on SQLite.
//!
//! Every write is a `BEGIN IMMEDIATE` transaction: it holds SQLite's single
//! write lock from before it reads the form until it commits, so writers
//! take turns and each decides from what the previous one left. (A deferred
//! transaction would fail with `SQLITE_BUSY` instead of waiting.)

use sqlx::{Executor, Sqlite, SqliteConnection, Transaction};

use crate::StorageError;
use crate::forms::{ACTIVE, RETIRED, select_forms};
use crate::forms::{Edit, Form, FormContent, FormHead, FormRow, NewForm, Version};
use crate::sqlite::SqliteStore;
use crate::users::insert_error;

/// Now, as every SQLite table stores times.
macro_rules! now {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}

impl SqliteStore {
    pub(crate) async fn insert_form(
        &self,
        id: &str,
        new_form: &NewForm,
    ) -> Result<Form, StorageError> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let outcome = insert_form_in(&mut transaction, id, new_form).await;
        finish(transaction, outcome).await
    }

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
            " WHERE f.organization_id = ? AND v.version = f.latest_version \
             ORDER BY f.created_at DESC, f.id"
        ))
        .bind(organization_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Form::try_from).collect()
    }

    pub(crate) async fn update_form(
        &self,
        organization_id: &str,
        form_id: &str,
        content: &FormContent<'_>,
    ) -> Result<Option<Form>, StorageError> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let outcome = update_form_in(&mut transaction, organization_id, form_id, content).await;
        finish(transaction, outcome).await
    }

    pub(crate) async fn publish_form(
        &self,
        organization_id: &str,
        form_id: &str,
    ) -> Result<Option<Form>, StorageError> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let outcome = publish_form_in(&mut transaction, organization_id, form_id).await;
        finish(transaction, outcome).await
    }

    pub(crate) async fn retire_form(
        &self,
        organization_id: &str,
        form_id: &str,
    ) -> Result<Option<Form>, StorageError> {
        let mut transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let outcome = retire_form_in(&mut transaction, organization_id, form_id).await;
        finish(transaction, outcome).await
    }
}

/// Ends `transaction` as `outcome` says: commits what succeeded, rolls back
/// what failed, at once, so the write lock is free for the next writer.
pub(crate) async fn finish<T>(
    transaction: Transaction<'_, Sqlite>,
    outcome: Result<T, StorageError>,
) -> Result<T, StorageError> {
    match outcome {
        Ok(value) => {
            transaction.commit().await?;
            Ok(value)
        }
        Err(error) => {
            // The first error says what went wrong; a failed rollback
            // leaves nothing committed either.
            let _ = transaction.rollback().await;
            Err(error)
        }
    }
}

async fn insert_form_in(
    connection: &mut SqliteConnection,
    id: &str,
    new_form: &NewForm,
) -> Result<Form, StorageError> {
    let organization_id = &new_form.organization_id;
    sqlx::query("INSERT INTO forms (id, organization_id, created_by) VALUES (?, ?, ?)")
        .bind(id)
        .bind(organization_id)
        .bind(&new_form.created_by)
        .execute(&mut *connection)
        .await
        .map_err(insert_error)?;
    insert_version(connection, id, 1, &FormContent::from(new_form)).await?;
    read_back(connection, organization_id, id).await
}

async fn update_form_in(
    connection: &mut SqliteConnection,
    organization_id: &str,
    form_id: &str,
    content: &FormContent<'_>,
) -> Result<Option<Form>, StorageError> {
    let Some(head) = form_head(connection, organization_id, form_id).await? else {
        return Ok(None);
    };

    let version = match head.edit()? {
        Edit::InPlace(version) => {
            update_unpublished_version(connection, form_id, version, content).await?;
            version
        }
        Edit::NewVersion(version) => {
            insert_version(connection, form_id, version, content).await?;
            version
        }
    };
    sqlx::query(concat!(
        "UPDATE forms SET latest_version = ?, updated_at = ",
        now!(),
        " WHERE id = ?"
    ))
    .bind(version)
    .bind(form_id)
    .execute(&mut *connection)
    .await?;

    read_back(connection, organization_id, form_id)
        .await
        .map(Some)
}

async fn publish_form_in(
    connection: &mut SqliteConnection,
    organization_id: &str,
    form_id: &str,
) -> Result<Option<Form>, StorageError> {
    let Some(head) = form_head(connection, organization_id, form_id).await? else {
        return Ok(None);
    };

    if let Some(version) = head.publish()? {
        // `published_at IS NULL` keeps this from ever touching a frozen
        // version, whatever the head said; the trigger is the backstop.
        sqlx::query(concat!(
            "UPDATE form_versions SET published_at = ",
            now!(),
            " WHERE form_id = ? AND version = ? AND published_at IS NULL"
        ))
        .bind(form_id)
        .bind(version)
        .execute(&mut *connection)
        .await?;
        sqlx::query(concat!(
            "UPDATE forms SET status = ?, published_version = ?, updated_at = ",
            now!(),
            " WHERE id = ?"
        ))
        .bind(ACTIVE)
        .bind(version)
        .bind(form_id)
        .execute(&mut *connection)
        .await?;
    }

    read_back(connection, organization_id, form_id)
        .await
        .map(Some)
}

async fn retire_form_in(
    connection: &mut SqliteConnection,
    organization_id: &str,
    form_id: &str,
) -> Result<Option<Form>, StorageError> {
    let Some(head) = form_head(connection, organization_id, form_id).await? else {
        return Ok(None);
    };

    if !head.is_retired() {
        sqlx::query(concat!(
            "UPDATE forms SET status = ?, updated_at = ",
            now!(),
            " WHERE id = ?"
        ))
        .bind(RETIRED)
        .bind(form_id)
        .execute(&mut *connection)
        .await?;
    }

    read_back(connection, organization_id, form_id)
        .await
        .map(Some)
}

/// The form's own state, in a transaction that already holds the write
/// lock; `None` when the organization has no such form.
pub(crate) async fn form_head(
    connection: &mut SqliteConnection,
    organization_id: &str,
    form_id: &str,
) -> Result<Option<FormHead>, StorageError> {
    let head = sqlx::query_as(
        "SELECT status, latest_version, published_version FROM forms \
         WHERE organization_id = ? AND id = ?",
    )
    .bind(organization_id)
    .bind(form_id)
    .fetch_optional(connection)
    .await?;
    Ok(head)
}

async fn select_form<'c>(
    executor: impl Executor<'c, Database = Sqlite>,
    organization_id: &str,
    form_id: &str,
    version: Version,
) -> Result<Option<Form>, StorageError> {
    let query = match version {
        Version::Latest => sqlx::query_as(concat!(
            select_forms!(),
            " WHERE f.organization_id = ? AND f.id = ? AND v.version = f.latest_version"
        )),
        Version::Published => sqlx::query_as(concat!(
            select_forms!(),
            " WHERE f.organization_id = ? AND f.id = ? AND v.version = f.published_version"
        )),
        Version::Exact(_) => sqlx::query_as(concat!(
            select_forms!(),
            " WHERE f.organization_id = ? AND f.id = ? AND v.version = ?"
        )),
    };
    let mut query = query.bind(organization_id).bind(form_id);
    if let Version::Exact(number) = version {
        query = query.bind(number);
    }
    let row: Option<FormRow> = query.fetch_optional(executor).await?;
    row.map(Form::try_from).transpose()
}

async fn insert_version(
    connection: &mut SqliteConnection,
    form_id: &str,
    version: i32,
    content: &FormContent<'_>,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO form_versions (form_id, version, title, description, definition) \
         VALUES (?, ?, ?, ?, ?)",
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

async fn update_unpublished_version(
    connection: &mut SqliteConnection,
    form_id: &str,
    version: i32,
    content: &FormContent<'_>,
) -> Result<(), StorageError> {
    let updated = sqlx::query(
        "UPDATE form_versions SET title = ?, description = ?, definition = ? \
         WHERE form_id = ? AND version = ? AND published_at IS NULL",
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
async fn read_back(
    connection: &mut SqliteConnection,
    organization_id: &str,
    form_id: &str,
) -> Result<Form, StorageError> {
    let form = select_form(connection, organization_id, form_id, Version::Latest).await?;
    form.ok_or_else(|| StorageError::Other {
        reason: "a form written in this transaction could not be read back".to_owned(),
    })
}
