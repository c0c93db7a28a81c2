//! Named values intake keeps for itself in its own database.
//!
//! Some state must be shared by every instance yet is not a domain record:
//! the first is the development secret key (SPEC section 3). Keeping it in
//! the database everyone already shares means no extra moving part, and an
//! insert-if-absent makes the first instance's choice everyone's.

use crate::database::Store;
use crate::{Database, StorageError};

/// The setting that holds the secret key made for development.
const DEVELOPMENT_SECRET_KEY: &str = "development_secret_key";

impl Database {
    /// Returns the development secret key shared by every instance on this
    /// database, storing `candidate` as that key if none is stored yet.
    ///
    /// Only for development, when `INTAKE_SECRET_KEY` is unset: each instance
    /// makes a random candidate and calls this; the first to arrive stores
    /// its own, and all of them, racing or later, get that same value back.
    /// The key is stored in clear, which is why production requires
    /// `INTAKE_SECRET_KEY` instead.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer;
    /// [`StorageError::Other`] when the `settings` table is missing (the
    /// database was not migrated).
    pub async fn development_secret_key(&self, candidate: &[u8]) -> Result<Vec<u8>, StorageError> {
        let name = DEVELOPMENT_SECRET_KEY;
        match self.store() {
            Store::Sqlite(store) => store.get_or_insert_setting(name, candidate).await,
            Store::Postgres(store) => store.get_or_insert_setting(name, candidate).await,
        }
    }
}
