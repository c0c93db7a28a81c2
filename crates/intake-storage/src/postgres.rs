//! The PostgreSQL backend: what every instance shares when intake is scaled
//! out.
//!
//! The URL is handed to sqlx as it is, so everything libpq-style URLs carry
//! works: `sslmode` and `sslrootcert` for TLS (needed by managed databases),
//! `options=-c search_path=...` for a schema, and the `PG*` environment
//! variables. Migrations take an advisory lock, so instances that start at the
//! same moment apply them one at a time.
//!
//! The submodules hold only the queries that differ from SQLite's; those
//! the two backends share are compiled in here from `src/shared/` as the
//! `shared` module (see the crate documentation).

mod audit;
mod forms;
mod responses;
#[allow(
    clippy::duplicate_mod,
    reason = "src/shared/ is compiled once against each backend's driver"
)]
#[path = "shared/mod.rs"]
mod shared;

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::StorageError;
use crate::database::{CONNECT_TIMEOUT, connect_error};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The store the queries in `src/shared/` are implemented on when compiled
/// as this backend's `shared` module.
type BackendStore = PostgresStore;

/// The sqlx driver those queries are compiled against here.
type BackendDriver = sqlx::Postgres;

/// A pool of connections to one PostgreSQL database.
#[derive(Debug, Clone)]
pub(crate) struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = PgConnectOptions::from_str(url).map_err(StorageError::invalid_url)?;

        // The pool retries a refused connection until the acquire timeout,
        // which is what bounds an unreachable server to CONNECT_TIMEOUT.
        let pool = PgPoolOptions::new()
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|error| connect_error(url, error))?;

        Ok(Self { pool })
    }

    pub(crate) async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use intake_testkit::database::TestDatabase;

    use super::*;

    async fn migrated_store(test_database: &TestDatabase) -> PostgresStore {
        let store = PostgresStore::connect(&test_database.url()).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn a_duplicate_key_is_a_conflict() {
        let Some(test_database) = TestDatabase::postgres() else {
            return;
        };
        let store = migrated_store(&test_database).await;
        let insert = "INSERT INTO settings (name, value) VALUES ('twice', '')";
        sqlx::query(insert).execute(&store.pool).await.unwrap();

        let error = sqlx::query(insert).execute(&store.pool).await.unwrap_err();

        let error = StorageError::from(error);
        assert!(matches!(error, StorageError::Conflict { .. }), "{error:?}");
        assert!(error.to_string().contains("settings_pkey"), "{error}");
    }

    #[tokio::test]
    async fn a_value_the_database_quotes_back_stays_out_of_the_error() {
        let Some(test_database) = TestDatabase::postgres() else {
            return;
        };
        let store = migrated_store(&test_database).await;

        let error = sqlx::query("SELECT $1::uuid")
            .bind("Ada Lovelace")
            .execute(&store.pool)
            .await
            .unwrap_err();

        let error = StorageError::from(error);
        assert!(matches!(error, StorageError::Other { .. }), "{error:?}");
        assert!(error.to_string().contains("22P02"), "{error}");
        assert!(!error.to_string().contains("Lovelace"), "{error}");
    }
}
