//! The `users` table, on either backend.

use super::BackendStore;
use crate::StorageError;
use crate::users::{NewUser, OidcIdentity, User, UserRow, insert_error, user_columns};

impl BackendStore {
    pub(crate) async fn insert_user(
        &self,
        id: &str,
        new_user: &NewUser,
    ) -> Result<User, StorageError> {
        let (issuer, subject) = identity_parts(new_user.oidc.as_ref());
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users (id, organization_id, email, role, password_hash, \
             oidc_issuer, oidc_subject) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(&new_user.organization_id)
        .bind(&new_user.email)
        .bind(&new_user.role)
        .bind(&new_user.password_hash)
        .bind(issuer)
        .bind(subject)
        .fetch_one(&self.pool)
        .await
        .map_err(insert_error)?;
        Ok(row.into())
    }

    /// Inserts `new_user` unless a user already has its identity, in which
    /// case nothing happens. Of racing inserts of the same identity exactly
    /// one stores its row: SQLite runs one write at a time, and on
    /// PostgreSQL the later insert waits for the first one's transaction and
    /// then does nothing. There, one that also collides on the e-mail may
    /// fail on that index instead, which the caller handles.
    pub(crate) async fn insert_oidc_user_if_absent(
        &self,
        id: &str,
        new_user: &NewUser,
    ) -> Result<(), StorageError> {
        let (issuer, subject) = identity_parts(new_user.oidc.as_ref());
        sqlx::query(
            "INSERT INTO users (id, organization_id, email, role, password_hash, \
             oidc_issuer, oidc_subject) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (oidc_issuer, oidc_subject) DO NOTHING",
        )
        .bind(id)
        .bind(&new_user.organization_id)
        .bind(&new_user.email)
        .bind(&new_user.role)
        .bind(&new_user.password_hash)
        .bind(issuer)
        .bind(subject)
        .execute(&self.pool)
        .await
        .map_err(insert_error)?;
        Ok(())
    }

    pub(crate) async fn user_by_id(
        &self,
        organization_id: Option<&str>,
        id: &str,
    ) -> Result<Option<User>, StorageError> {
        let query = match organization_id {
            Some(organization_id) => sqlx::query_as(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE organization_id = $1 AND id = $2"
            ))
            .bind(organization_id),
            None => sqlx::query_as(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE id = $1"
            )),
        };
        let row: Option<UserRow> = query.bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(User::from))
    }

    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<User>, StorageError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    pub(crate) async fn user_by_oidc(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, StorageError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2"
        ))
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    /// Links `identity` to the user of `organization_id` with `email` if it
    /// has no identity yet. One statement, so of two racers only the first
    /// finds the identity unset: SQLite runs one write at a time, and on
    /// PostgreSQL the second waits for the first one's row lock, re-checks
    /// the condition, finds the identity set and updates nothing.
    pub(crate) async fn link_oidc_identity(
        &self,
        identity: &OidcIdentity,
        organization_id: &str,
        email: &str,
    ) -> Result<Option<User>, StorageError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users SET oidc_issuer = $1, oidc_subject = $2 \
             WHERE email = $3 AND organization_id = $4 AND oidc_issuer IS NULL \
             RETURNING ",
            user_columns!()
        ))
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .bind(email)
        .bind(organization_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }
}

fn identity_parts(identity: Option<&OidcIdentity>) -> (Option<&str>, Option<&str>) {
    match identity {
        Some(identity) => (Some(&identity.issuer), Some(&identity.subject)),
        None => (None, None),
    }
}
