//! Organizations: the clinics that own forms, responses and users.
//!
//! An organization is the unit of tenant isolation (SPEC section 5): every
//! other record belongs to exactly one, and reads of those records are scoped
//! by its id. The organization itself is looked up globally, by id or by its
//! unique name, because that is how a tenant is first found (a command-line
//! argument, an identity provider's claim).

use time::OffsetDateTime;

use crate::database::{Store, new_id};
use crate::{Database, StorageError};

/// A clinic, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Random UUID v4, as text.
    pub id: String,
    /// Unique across the database, as given when it was created.
    pub name: String,
    /// When it was created, by the database's clock.
    pub created_at: OffsetDateTime,
}

impl Database {
    /// Creates an organization called `name` with a new random id.
    ///
    /// `name` is stored as given; the caller decides what a valid name is
    /// (trimmed, non-empty). Names are compared exactly, so `Clinic` and
    /// `clinic` are two organizations.
    ///
    /// # Errors
    ///
    /// [`StorageError::Conflict`] when an organization already has this
    /// name; [`StorageError::Other`] when `name` is empty;
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn create_organization(&self, name: &str) -> Result<Organization, StorageError> {
        let id = new_id();
        match self.store() {
            Store::Sqlite(store) => store.insert_organization(&id, name).await,
            Store::Postgres(store) => store.insert_organization(&id, name).await,
        }
    }

    /// The organization with this id, if any.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn organization(&self, id: &str) -> Result<Option<Organization>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.organization_by_id(id).await,
            Store::Postgres(store) => store.organization_by_id(id).await,
        }
    }

    /// The organization with exactly this name, if any.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer.
    pub async fn organization_by_name(
        &self,
        name: &str,
    ) -> Result<Option<Organization>, StorageError> {
        match self.store() {
            Store::Sqlite(store) => store.organization_by_name(name).await,
            Store::Postgres(store) => store.organization_by_name(name).await,
        }
    }
}

/// The columns of `organizations`, in the order [`OrganizationRow`] reads,
/// as a literal so that queries can be built with `concat!` and stay
/// `&'static str`, which is what sqlx takes without a safety assertion.
macro_rules! organization_columns {
    () => {
        "id, name, created_at"
    };
}
pub(crate) use organization_columns;

/// An `organizations` row as both backends return it.
pub(crate) type OrganizationRow = (String, String, OffsetDateTime);

impl From<OrganizationRow> for Organization {
    fn from((id, name, created_at): OrganizationRow) -> Self {
        Self {
            id,
            name,
            created_at,
        }
    }
}
