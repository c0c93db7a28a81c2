//! The `users` table on SQLite.

use crate::StorageError;
use crate::sqlite::SqliteStore;
use crate::users::{NewUser, OidcIdentity, User, UserRow, insert_error, user_columns};

impl SqliteStore {
    pub(crate) async fn insert_user(
        &self,
        id: &str,
        new_user: &NewUser,
    ) -> Result<User, StorageError> {
        let (issuer, subject) = identity_parts(new_user.oidc.as_ref());
        let row: UserRow = sqlx::query_as(concat!(
            "INSERT INTO users (id, organization_id, email, role, password_hash, \
             oidc_issuer, oidc_subject) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
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
    /// case nothing happens. SQLite runs one write at a time, so of racing
    /// inserts exactly one stores its row.
    pub(crate) async fn insert_oidc_user_if_absent(
        &self,
        id: &str,
        new_user: &NewUser,
    ) -> Result<(), StorageError> {
        let (issuer, subject) = identity_parts(new_user.oidc.as_ref());
        sqlx::query(
            "INSERT INTO users (id, organization_id, email, role, password_hash, \
             oidc_issuer, oidc_subject) VALUES (?, ?, ?, ?, ?, ?, ?) \
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
                " FROM users WHERE organization_id = ? AND id = ?"
            ))
            .bind(organization_id),
            None => sqlx::query_as(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE id = ?"
            )),
        };
        let row: Option<UserRow> = query.bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(User::from))
    }

    pub(crate) async fn user_by_email(&self, email: &str) -> Result<Option<User>, StorageError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email = ?"
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
            " FROM users WHERE oidc_issuer = ? AND oidc_subject = ?"
        ))
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    /// Links `identity` to the user of `organization_id` with `email` if it
    /// has no identity yet. One statement, so of two racers only the first
    /// finds the identity unset.
    pub(crate) async fn link_oidc_identity(
        &self,
        identity: &OidcIdentity,
        organization_id: &str,
        email: &str,
    ) -> Result<Option<User>, StorageError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users SET oidc_issuer = ?, oidc_subject = ? \
             WHERE email = ? AND organization_id = ? AND oidc_issuer IS NULL \
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
