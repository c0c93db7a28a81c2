//! The `forms` and `form_versions` tables on PostgreSQL.
//!
//! Every write is a transaction that first reads the form's row `FOR
//! UPDATE`: a second instance writing the same form waits on that row
//! lock, then reads what the first one committed (read committed takes a
//! new snapshot per statement) and decides from it. So two edits of a
//! published form make one new version, not two numbered alike; if a
//! version number were ever taken twice anyway, the primary key on
//! `(form_id, version)` refuses it as [`StorageError::Conflict`].

use sqlx::{Executor, PgConnection, Postgres, Transaction};

use crate::StorageError;
use crate::forms::{ACTIVE, RETIRED, select_forms};
use crate::forms::{Edit, Form, FormContent, FormHead, FormRow, NewForm, Version};
use crate::postgres::PostgresStore;
use crate::users::insert_error;

/// How [`form_head`] locks the form's row until the transaction ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum HeadLock {
    /// For a write to the form: one at a time.
    Update,
    /// For a response: many at once, but none during a write to the form.
    Share,
}

impl PostgresStore {
    pub(crate) async fn insert_form(
        &self,
        id: &str,
        new_form: &NewForm,
    ) -> Result<Form, StorageError> {
        let mut transaction = self.pool.begin().await?;
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
            " WHERE f.organization_id = $1 AND v.version = f.latest_version \
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
        let mut transaction = self.pool.begin().await?;
        let outcome = update_form_in(&mut transaction, organization_id, form_id, content).await;
        finish(transaction, outcome).await
    }

    pub(crate) async fn publish_form(
        &self,
        organization_id: &str,
        form_id: &str,
    ) -> Result<Option<Form>, StorageError> {
        let mut transaction = self.pool.begin().await?;
        let outcome = publish_form_in(&mut transaction, organization_id, form_id).await;
        finish(transaction, outcome).await
    }

    pub(crate) async fn retire_form(
        &self,
        organization_id: &str,
        form_id: &str,
    ) -> Result<Option<Form>, StorageError> {
        let mut transaction = self.pool.begin().await?;
        let outcome = retire_form_in(&mut transaction, organization_id, form_id).await;
        finish(transaction, outcome).await
    }
}

/// Ends `transaction` as `outcome` says: commits what succeeded, rolls back
/// what failed.
///
/// Rolling back here, not by dropping the transaction, matters: a dropped
/// transaction only queues its `ROLLBACK`, which a task the pool spawns
/// sends later, and until then the session sits idle in transaction holding
/// the form's row lock (a test that blocks its runtime never lets it go).
pub(crate) async fn finish<T>(
    transaction: Transaction<'_, Postgres>,
    outcome: Result<T, StorageError>,
) -> Result<T, StorageError> {
    match outcome {
        Ok(value) => {
            transaction.commit().await?;
            Ok(value)
        }
        Err(error) => {
            // The first error says what went wrong; if the rollback fails
            // too, the connection is gone and the server rolls back anyway.
            let _ = transaction.rollback().await;
            Err(error)
        }
    }
}

async fn insert_form_in(
    connection: &mut PgConnection,
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

async fn update_form_in(
    connection: &mut PgConnection,
    organization_id: &str,
    form_id: &str,
    content: &FormContent<'_>,
) -> Result<Option<Form>, StorageError> {
    let head = form_head(connection, organization_id, form_id, HeadLock::Update).await?;
    let Some(head) = head else {
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
    sqlx::query("UPDATE forms SET latest_version = $1, updated_at = now() WHERE id = $2")
        .bind(version)
        .bind(form_id)
        .execute(&mut *connection)
        .await?;

    read_back(connection, organization_id, form_id)
        .await
        .map(Some)
}

async fn publish_form_in(
    connection: &mut PgConnection,
    organization_id: &str,
    form_id: &str,
) -> Result<Option<Form>, StorageError> {
    let head = form_head(connection, organization_id, form_id, HeadLock::Update).await?;
    let Some(head) = head else {
        return Ok(None);
    };

    if let Some(version) = head.publish()? {
        // `published_at IS NULL` keeps this from ever touching a frozen
        // version, whatever the head said; the trigger is the backstop.
        sqlx::query(
            "UPDATE form_versions SET published_at = now() \
             WHERE form_id = $1 AND version = $2 AND published_at IS NULL",
        )
        .bind(form_id)
        .bind(version)
        .execute(&mut *connection)
        .await?;
        sqlx::query(
            "UPDATE forms SET status = $1, published_version = $2, updated_at = now() \
             WHERE id = $3",
        )
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
    connection: &mut PgConnection,
    organization_id: &str,
    form_id: &str,
) -> Result<Option<Form>, StorageError> {
    let head = form_head(connection, organization_id, form_id, HeadLock::Update).await?;
    let Some(head) = head else {
        return Ok(None);
    };

    if !head.is_retired() {
        sqlx::query("UPDATE forms SET status = $1, updated_at = now() WHERE id = $2")
            .bind(RETIRED)
            .bind(form_id)
            .execute(&mut *connection)
            .await?;
    }

    read_back(connection, organization_id, form_id)
        .await
        .map(Some)
}

/// The form's own state, its row locked as `lock` says until the
/// transaction ends; `None` when the organization has no such form.
pub(crate) async fn form_head(
    connection: &mut PgConnection,
    organization_id: &str,
    form_id: &str,
    lock: HeadLock,
) -> Result<Option<FormHead>, StorageError> {
    let query = match lock {
        HeadLock::Update => sqlx::query_as(
            "SELECT status, latest_version, published_version FROM forms \
             WHERE organization_id = $1 AND id = $2 FOR UPDATE",
        ),
        HeadLock::Share => sqlx::query_as(
            "SELECT status, latest_version, published_version FROM forms \
             WHERE organization_id = $1 AND id = $2 FOR SHARE",
        ),
    };
    let head = query
        .bind(organization_id)
        .bind(form_id)
        .fetch_optional(connection)
        .await?;
    Ok(head)
}

async fn select_form<'c>(
    executor: impl Executor<'c, Database = Postgres>,
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

async fn insert_version(
    connection: &mut PgConnection,
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

async fn update_unpublished_version(
    connection: &mut PgConnection,
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
async fn read_back(
    connection: &mut PgConnection,
    organization_id: &str,
    form_id: &str,
) -> Result<Form, StorageError> {
    let form = select_form(connection, organization_id, form_id, Version::Latest).await?;
    form.ok_or_else(|| StorageError::Other {
        reason: "a form written in this transaction could not be read back".to_owned(),
    })
}
