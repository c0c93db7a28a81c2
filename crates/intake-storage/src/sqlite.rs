//! The SQLite backend: the embedded default, one file, one intake process.
//!
//! Connections are tuned for a file several pooled connections share: WAL
//! lets readers proceed while one connection writes, and the busy timeout
//! makes a writer wait for the lock instead of failing at once with
//! `database is locked`. `synchronous` stays at sqlx's `FULL`, so a committed
//! audit row survives a power cut even in WAL mode.
//!
//! For the queries added later: a transaction that reads and then writes
//! should begin with `BEGIN IMMEDIATE` (`Connection::begin_with`); a deferred
//! one that took its read snapshot before another connection wrote fails
//! with `SQLITE_BUSY` at once, whatever the busy timeout.
//!
//! The submodules hold only the queries that differ from PostgreSQL's; those
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
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};

use crate::StorageError;
use crate::database::{CONNECT_TIMEOUT, connect_error};

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The store the queries in `src/shared/` are implemented on when compiled
/// as this backend's `shared` module.
type BackendStore = SqliteStore;

/// The sqlx driver those queries are compiled against here.
type BackendDriver = sqlx::Sqlite;

/// A pool of connections to one SQLite file.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StorageError::invalid_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let pool = SqlitePoolOptions::new()
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
    use super::*;

    async fn store_in(directory: &tempfile::TempDir) -> SqliteStore {
        let path = directory.path().join("intake.db");
        SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn connections_use_wal_foreign_keys_and_a_busy_timeout() {
        let directory = tempfile::tempdir().unwrap();
        let store = store_in(&directory).await;

        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&store.pool)
            .await
            .unwrap();

        assert_eq!(journal_mode, "wal");
        assert_eq!(foreign_keys, 1);
        assert_eq!(busy_timeout_ms, 5000);
    }

    #[tokio::test]
    async fn a_file_in_a_missing_directory_is_unavailable_not_a_panic() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("missing").join("intake.db");

        let error = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap_err();

        assert!(
            matches!(error, StorageError::Unavailable { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_duplicate_key_is_a_conflict() {
        let directory = tempfile::tempdir().unwrap();
        let store = store_in(&directory).await;
        store.migrate().await.unwrap();
        let insert = "INSERT INTO settings (name, value) VALUES ('twice', x'')";
        sqlx::query(insert).execute(&store.pool).await.unwrap();

        let error = sqlx::query(insert).execute(&store.pool).await.unwrap_err();

        let error = StorageError::from(error);
        assert!(matches!(error, StorageError::Conflict { .. }), "{error:?}");
        assert!(error.to_string().contains("settings.name"), "{error}");
    }
}
