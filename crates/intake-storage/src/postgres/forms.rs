//! Writing the `forms` and `form_versions` tables on PostgreSQL: each write's
//! transaction, its lock and its timestamps. The reads, and the statements
//! that are the same on both backends, are in `src/shared/forms.rs`.
//!
//! Every write is a transaction that first reads the form's row `FOR
//! UPDATE`: a second instance writing the same form waits on that row
//! lock, then reads what the first one committed (read committed takes a
//! new snapshot per statement) and decides from it. So two edits of a
//! published form make one new version, not two numbered alike; if a
//! version number were ever taken twice anyway, the primary key on
//! `(form_id, version)` refuses it as [`StorageError::Conflict`].

use sqlx::{PgConnection, Postgres, Transaction};

use crate::StorageError;
use crate::forms::{ACTIVE, Edit, Form, FormContent, FormHead, NewForm, RETIRED};
use crate::postgres::PostgresStore;
use crate::postgres::shared::{
    insert_form_in, insert_version, read_back, update_unpublished_version,
};

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
