//! The storage handle and its life cycle: connect, migrate, check, close.
//!
//! Connecting is eager and bounded: an unreachable database fails start-up
//! within [`CONNECT_TIMEOUT`] with [`StorageError::Unavailable`] rather than
//! letting the first request discover it, and every later wait for a pooled
//! connection is bounded the same way, so a database outage turns into quick
//! 503s instead of piled-up requests.

use std::fmt;
use std::time::Duration;

use crate::StorageError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::url::{backend_of, redact_url};

/// How long connecting, or waiting for a free pooled connection, may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which SQL database a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A SQLite file: the embedded, single-instance default.
    Sqlite,
    /// PostgreSQL: what many instances share when scaled out.
    Postgres,
}

impl Backend {
    /// The name `/health` and the start-up log line use: `sqlite` or
    /// `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The handle through which intake reads and writes its SQL data.
///
/// Cloning is cheap and every clone shares one connection pool, so the
/// server's state holds one and hands out clones.
#[derive(Debug, Clone)]
pub struct Database {
    store: Store,
}

/// The backend-specific half of a [`Database`]. Repository modules match on
/// it; see the crate documentation for why this is an enum.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Database {
    /// Connects to `url` and checks that the database answers.
    ///
    /// `url` is `sqlite://PATH` (the file is created when missing and opened
    /// in WAL mode with foreign keys enforced) or `postgres://...` /
    /// `postgresql://...` (libpq-style, including `sslmode` and `options`).
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidUrl`] for any other scheme or a URL the driver
    /// cannot parse; [`StorageError::Unavailable`] when no connection could
    /// be made within [`CONNECT_TIMEOUT`] or the server refused it. Neither
    /// message contains the URL's password.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let backend = backend_of(url)?;

        let store = match backend {
            Backend::Sqlite => Store::Sqlite(SqliteStore::connect(url).await?),
            Backend::Postgres => Store::Postgres(PostgresStore::connect(url).await?),
        };

        tracing::debug!(%backend, url = %redact_url(url), "connected to the database");
        Ok(Self { store })
    }

    /// Which backend this handle talks to.
    pub fn backend(&self) -> Backend {
        match self.store {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations embedded in this build that the database has not
    /// seen yet; running it again changes nothing.
    ///
    /// On PostgreSQL an advisory lock lets instances that start together
    /// migrate one at a time. SQLite has no such lock: the embedded mode runs
    /// a single instance, which is the only one that should migrate its file.
    ///
    /// # Errors
    ///
    /// [`StorageError::Migration`] when a migration fails or the database
    /// holds migrations unknown to this build (a newer intake migrated it);
    /// [`StorageError::Unavailable`] when the database went away meanwhile.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match &self.store {
            Store::Sqlite(store) => store.migrate().await,
            Store::Postgres(store) => store.migrate().await,
        }
    }

    /// Runs `SELECT 1`, for `/readyz`, `/health` and `intake check`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Unavailable`] when the database does not answer within
    /// [`CONNECT_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), StorageError> {
        match &self.store {
            Store::Sqlite(store) => store.ping().await,
            Store::Postgres(store) => store.ping().await,
        }
    }

    /// Closes every pooled connection, waiting for borrowed ones to come back;
    /// afterwards every clone of this handle fails with
    /// [`StorageError::Unavailable`]. Call it once, at shutdown.
    pub async fn close(&self) {
        match &self.store {
            Store::Sqlite(store) => store.close().await,
            Store::Postgres(store) => store.close().await,
        }
    }

    /// The backend-specific store, for the repository modules of this crate.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}

/// Turns a failure to open the first connection into
/// [`StorageError::Unavailable`], naming the (redacted) database so an
/// operator can tell which configuration is wrong.
pub(crate) fn connect_error(url: &str, error: sqlx::Error) -> StorageError {
    let reason = match StorageError::from(error) {
        StorageError::InvalidUrl { reason }
        | StorageError::Unavailable { reason }
        | StorageError::Conflict { reason }
        | StorageError::Migration { reason }
        | StorageError::Other { reason } => reason,
        StorageError::NotFound => "not found".to_owned(),
        wrong_status @ StorageError::WrongFormStatus { .. } => wrong_status.to_string(),
    };
    StorageError::Unavailable {
        reason: format!("cannot connect to {}: {reason}", redact_url(url)),
    }
}

/// A new random row id: a UUID v4 as text, made here rather than by the
/// database so that both backends make the same kind.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
