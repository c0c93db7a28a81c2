//! Writing the `forms` and `form_versions` tables on SQLite: each write's
//! transaction, its lock and its timestamps. The reads, and the statements
//! that are the same on both backends, are in `src/shared/forms.rs`.
//!
//! Every write is a `BEGIN IMMEDIATE` transaction: it holds SQLite's single
//! write lock from before it reads the form until it commits, so writers
//! take turns and each decides from what the previous one left. (A deferred
//! transaction would fail with `SQLITE_BUSY` instead of waiting.)

use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::StorageError;
use crate::forms::{ACTIVE, Edit, Form, FormContent, FormHead, NewForm, RETIRED};
use crate::sqlite::SqliteStore;
use crate::sqlite::shared::{
    insert_form_in, insert_version, read_back, update_unpublished_version,
};

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
