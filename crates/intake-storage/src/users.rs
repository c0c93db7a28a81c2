//! Users: the people who sign in, each belonging to one organization.
//!
//! A user signs in with an e-mail address and password, through the
//! identity provider (keyed by issuer and subject), or both. What a role
//! means is not this crate's business: the role is stored as the text the
//! `intake` crate gives (`admin`, `staff` or `respondent`, which the table
//! also enforces) and handed back as text.
//!
//! E-mail addresses are unique across the whole database, not per
//! organization, because login names no organization: an address must lead
//! to exactly one user. They are compared without regard to case by
//! lowercasing them here, both when stored and when looked up, so no caller
//! can forget to.
//!
//! Tenant isolation (SPEC section 5): code acting for a signed-in user reads
//! other users with [`Database::user_in_organization`], which finds nothing
//! in another organization. The unscoped lookups are for signing in, before
//! the organization is known.
//!
//! Neither [`User`] nor [`NewUser`] prints its e-mail address or password
//! hash when debug-formatted, so logging one by mistake leaks neither.

use std::fmt;

use sqlx::error::ErrorKind;
use time::OffsetDateTime;

use crate::database::{Store, new_id};
use crate::{Database, StorageError};

/// What debug output shows instead of an e-mail address or password hash.
const REDACTED: &str = "<redacted>";

/// The identity provider's key for a user: the `iss` and `sub` of its ID
/// tokens. The pair is unique; the subject alone is not.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OidcIdentity {
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
}

/// A user, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Random UUID v4, as text.
    pub id: String,
    /// The organization the user belongs to.
    pub organization_id: String,
    /// Lowercased; `None` for an identity-provider user without one.
    pub email: Option<String>,
    /// `admin`, `staff` or `respondent`.
    pub role: String,
    /// Argon2id PHC string; `None` for a user who signs in only through the
    /// identity provider.
    pub password_hash: Option<String>,
    /// The identity provider's key for the user, once linked.
    pub oidc: Option<OidcIdentity>,
    /// When it was created, by the database's clock.
    pub created_at: OffsetDateTime,
}

/// What [`Database::create_user`] needs to make a user.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// An existing organization's id.
    pub organization_id: String,
    /// Lowercased before it is stored.
    pub email: Option<String>,
    /// `admin`, `staff` or `respondent`.
    pub role: String,
    /// An already computed password hash, never a password.
    pub password_hash: Option<String>,
    /// The identity provider's key for the user, if known.
    pub oidc: Option<OidcIdentity>,
}

impl Database {
    /// Creates a user with a new random id.
    ///
    /// # Errors
    ///
    /// [`StorageError::Conflict`] when another user has the same e-mail
    /// address or identity-provider identity; [`StorageError::NotFound`]
    /// when `organization_id` names no organization; [`StorageError::Other`]
    /// for a role the table does not know or an empty e-mail address;
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn create_user(&self, new_user: NewUser) -> Result<User, StorageError> {
        let id = new_id();
        let new_user = NewUser {
            email: new_user.email.as_deref().map(normalize_email),
            ..new_user
        };
        match self.store() {
            Store::Sqlite(store) => store.insert_user(&id, &new_user).await,
            Store::Postgres(store) => store.insert_user(&id, &new_user).await,
        }
    }

    /// The user with this id, in whichever organization.
    ///
    /// Only for a caller that acts for no organization yet (signing in, the
    /// command line); everything done for a signed-in user goes through
    /// [`Database::user_in_organization`].
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn user(&self, id: &str) -> Result<Option<User>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.user_by_id(None, id).await,
            Store::Postgres(store) => store.user_by_id(None, id).await,
        }
    }

    /// The user with this id if it belongs to `organization_id`; a user of
    /// another organization is `None`, as if it did not exist.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn user_in_organization(
        &self,
        organization_id: &str,
        id: &str,
    ) -> Result<Option<User>, StorageError> {
        let scope = Some(organization_id);
        match self.store() {
            Store::Sqlite(store) => store.user_by_id(scope, id).await,
            Store::Postgres(store) => store.user_by_id(scope, id).await,
        }
    }

    /// The user with this e-mail address, compared without regard to case.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StorageError> {
        let email = normalize_email(email);
        match self.store() {
            Store::Sqlite(store) => store.user_by_email(&email).await,
            Store::Postgres(store) => store.user_by_email(&email).await,
        }
    }

    /// The user the identity provider `issuer` knows as `subject`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn user_by_oidc(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<User>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.user_by_oidc(issuer, subject).await,
            Store::Postgres(store) => store.user_by_oidc(issuer, subject).await,
        }
    }

    /// The user keyed by `identity`, made on the spot at a first
    /// identity-provider login.
    ///
    /// In order:
    ///
    /// 1. A user already keyed by `identity` is returned as stored. Its
    ///    organization and role are those of its first login, not
    ///    `organization_id` and `role`: the caller must compare the
    ///    organization with the token's claim and refuse a mismatch.
    /// 2. Otherwise, when `email` is given and names a user of
    ///    `organization_id` with no identity yet (one made by `intake user
    ///    add` without a password, say), that user is linked to `identity`
    ///    and returned, keeping its own role. Pass `email` only when the
    ///    identity provider vouches for it (`email_verified`), or an account
    ///    could be taken over by whoever claims its address.
    /// 3. Otherwise a user is created with `organization_id`, `role` and
    ///    `email`.
    ///
    /// Safe when several instances race on the same identity: every racer
    /// gets the one user that was stored, and only one is stored.
    ///
    /// # Errors
    ///
    /// [`StorageError::Conflict`] when `email` belongs to a user who cannot
    /// be linked (another organization, or already linked to another
    /// identity); [`StorageError::NotFound`] when `organization_id` names no
    /// organization; [`StorageError::Unavailable`] when the database does not
    /// answer.
    pub async fn find_or_create_oidc_user(
        &self,
        identity: &OidcIdentity,
        organization_id: &str,
        role: &str,
        email: Option<&str>,
    ) -> Result<User, StorageError> {
        if let Some(user) = self
            .user_by_oidc(&identity.issuer, &identity.subject)
            .await?
        {
            return Ok(user);
        }
        // A racer that stored or linked this identity first makes our write
        // do nothing, or fail as a conflict (on the e-mail, or on the
        // identity when linking). Either way its user is now there to read.
        let conflict = match self
            .link_or_insert_oidc_user(identity, organization_id, role, email)
            .await
        {
            Ok(Some(linked)) => return Ok(linked),
            Ok(None) => None,
            Err(conflict @ StorageError::Conflict { .. }) => Some(conflict),
            Err(other) => return Err(other),
        };
        let stored = self
            .user_by_oidc(&identity.issuer, &identity.subject)
            .await?;
        match (stored, conflict) {
            (Some(user), _) => Ok(user),
            (None, Some(conflict)) => Err(conflict),
            (None, None) => Err(StorageError::Other {
                reason: "a user inserted for an identity could not be read back".to_owned(),
            }),
        }
    }

    /// Steps 2 and 3 of [`Database::find_or_create_oidc_user`]: the linked
    /// user, or `None` once a new user was inserted (or a racer's was
    /// there first).
    async fn link_or_insert_oidc_user(
        &self,
        identity: &OidcIdentity,
        organization_id: &str,
        role: &str,
        email: Option<&str>,
    ) -> Result<Option<User>, StorageError> {
        // An empty address claim is no address, not a broken row.
        let email = email.map(normalize_email).filter(|email| !email.is_empty());
        if let Some(email) = &email {
            let linked = match self.store() {
                Store::Sqlite(store) => {
                    store
                        .link_oidc_identity(identity, organization_id, email)
                        .await?
                }
                Store::Postgres(store) => {
                    store
                        .link_oidc_identity(identity, organization_id, email)
                        .await?
                }
            };
            if linked.is_some() {
                return Ok(linked);
            }
        }
        let new_user = NewUser {
            organization_id: organization_id.to_owned(),
            email,
            role: role.to_owned(),
            password_hash: None,
            oidc: Some(identity.clone()),
        };
        let id = new_id();
        match self.store() {
            Store::Sqlite(store) => store.insert_oidc_user_if_absent(&id, &new_user).await?,
            Store::Postgres(store) => store.insert_oidc_user_if_absent(&id, &new_user).await?,
        }
        Ok(None)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("User")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("email", &self.email.as_ref().map(|_| REDACTED))
            .field("role", &self.role)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| REDACTED),
            )
            .field("oidc", &self.oidc)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("NewUser")
            .field("organization_id", &self.organization_id)
            .field("email", &self.email.as_ref().map(|_| REDACTED))
            .field("role", &self.role)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| REDACTED),
            )
            .field("oidc", &self.oidc)
            .finish()
    }
}

/// How an address is stored and looked up: lowercased, so that lookups
/// ignore case and the unique constraint does too.
fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The columns of `users`, in the order [`UserRow`] reads, as a literal for
/// `concat!` (see `organization_columns!`).
macro_rules! user_columns {
    () => {
        "id, organization_id, email, role, password_hash, oidc_issuer, oidc_subject, \
         created_at"
    };
}
pub(crate) use user_columns;

/// A `users` row as both backends return it.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    organization_id: String,
    email: Option<String>,
    role: String,
    password_hash: Option<String>,
    oidc_issuer: Option<String>,
    oidc_subject: Option<String>,
    created_at: OffsetDateTime,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        // The table holds both or neither.
        let oidc = match (row.oidc_issuer, row.oidc_subject) {
            (Some(issuer), Some(subject)) => Some(OidcIdentity { issuer, subject }),
            _ => None,
        };
        Self {
            id: row.id,
            organization_id: row.organization_id,
            email: row.email,
            role: row.role,
            password_hash: row.password_hash,
            oidc,
            created_at: row.created_at,
        }
    }
}

/// Sorts an insert's failure: a missing organization is
/// [`StorageError::NotFound`], the rest as every other query.
pub(crate) fn insert_error(error: sqlx::Error) -> StorageError {
    match &error {
        sqlx::Error::Database(database_error)
            if database_error.kind() == ErrorKind::ForeignKeyViolation =>
        {
            StorageError::NotFound
        }
        _ => StorageError::from(error),
    }
}
