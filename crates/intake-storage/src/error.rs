//! The one error every storage operation returns.
//!
//! Callers decide on what happened, not on which driver said it: the HTTP
//! layer maps [`StorageError::Unavailable`] to 503, [`StorageError::Conflict`]
//! and [`StorageError::WrongFormStatus`] to 409 and [`StorageError::NotFound`]
//! to 404 in one place, and the command line prints the message on one line.
//! So the variants follow the decisions, and the sqlx error is classified
//! here, once, for both backends.
//!
//! Messages are safe to log. They never hold a password (URLs are redacted
//! before they reach an error) and never a value taken from a row or a bind
//! parameter: PostgreSQL quotes the offending input in its data-exception
//! messages (`invalid input syntax for type uuid: "..."`), and that input could
//! be PHI, so those messages are replaced by their SQLSTATE.

use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::migrate::MigrateError;
use sqlx::postgres::PgDatabaseError;

/// What went wrong in the storage layer, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// `DATABASE_URL` cannot be used (no scheme, an unsupported scheme, or
    /// options the driver refuses). Retrying will not help; the configuration
    /// must change.
    #[error("invalid database URL: {reason}")]
    InvalidUrl {
        /// Why, without the URL's password.
        reason: String,
    },

    /// The database could not be reached, refused the connection, or did not
    /// answer in time (connect or pool timeout, I/O, a locked SQLite file).
    /// Usually temporary: a request answers 503, `/readyz` says not ready.
    #[error("database unavailable: {reason}")]
    Unavailable {
        /// The driver's explanation.
        reason: String,
    },

    /// A row with the same unique key already exists (a duplicate e-mail, an
    /// organization name taken), or the row changed under the caller (a
    /// response checked against a form version that is no longer the
    /// published one).
    #[error("conflicts with an existing row: {reason}")]
    Conflict {
        /// The violated constraint, as the database names it, or what
        /// changed under the caller.
        reason: String,
    },

    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,

    /// The form exists, but its status forbids the operation: a response to
    /// a `draft` (never published) or `retired` form, or an edit or publish
    /// of a `retired` one. Answered as 409; retrying will not help until the
    /// form's status changes.
    #[error("not allowed while the form is {status}")]
    WrongFormStatus {
        /// The form's status: `draft` or `retired`.
        status: String,
    },

    /// Applying the embedded migrations failed, or the database holds
    /// migrations this build does not know (a newer intake ran against it).
    #[error("database migration failed: {reason}")]
    Migration {
        /// Which migration and why.
        reason: String,
    },

    /// Anything else: a bug in a query, a type mismatch, a constraint other
    /// than uniqueness. Answered as 500 and logged.
    #[error("database error: {reason}")]
    Other {
        /// The driver's explanation, stripped of echoed values.
        reason: String,
    },
}

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unavailable {
                reason: error.to_string(),
            },
            sqlx::Error::Configuration(_) => Self::invalid_url(error),
            sqlx::Error::Database(database_error) => {
                Self::from_database_error(database_error.as_ref())
            }
            sqlx::Error::Migrate(migrate_error) => Self::from(*migrate_error),
            other => Self::Other {
                reason: other.to_string(),
            },
        }
    }
}

impl From<MigrateError> for StorageError {
    fn from(error: MigrateError) -> Self {
        let (source, version) = match error {
            MigrateError::Execute(source) => (source, None),
            MigrateError::ExecuteMigration(source, version) => (source, Some(version)),
            other => {
                return Self::Migration {
                    reason: other.to_string(),
                };
            }
        };
        match (Self::from(source), version) {
            // The database went away mid-way: that is an outage, not a broken
            // migration, and the caller should treat it as one.
            (unavailable @ Self::Unavailable { .. }, _) => unavailable,
            (cause, Some(version)) => Self::Migration {
                reason: format!("migration {version}: {cause}"),
            },
            (cause, None) => Self::Migration {
                reason: cause.to_string(),
            },
        }
    }
}

impl StorageError {
    /// For a URL or connect option the driver refused. The innermost cause
    /// names the problem (`unknown value "x" for ssl_mode`); sqlx wraps it in
    /// layers of "error with configuration" that only add noise.
    pub(crate) fn invalid_url(error: sqlx::Error) -> Self {
        let mut cause: &dyn std::error::Error = &error;
        while let Some(source) = cause.source() {
            cause = source;
        }
        Self::InvalidUrl {
            reason: cause.to_string(),
        }
    }

    fn from_database_error(error: &dyn DatabaseError) -> Self {
        let reason = describe_database_error(error);
        if error.kind() == ErrorKind::UniqueViolation {
            Self::Conflict { reason }
        } else if means_unavailable(error) {
            Self::Unavailable { reason }
        } else {
            Self::Other { reason }
        }
    }
}

/// The database's message and code, unless the message may quote a value.
fn describe_database_error(error: &dyn DatabaseError) -> String {
    let code = error.code().unwrap_or_default();
    if error.try_downcast_ref::<PgDatabaseError>().is_some() {
        // Class 22 is "data exception": its messages quote the input.
        if code.starts_with("22") {
            return format!("data exception (SQLSTATE {code})");
        }
        return format!("{} (SQLSTATE {code})", error.message());
    }
    format!("{} (code {code})", error.message())
}

/// Whether the database refused because of its state rather than the query:
/// it is shutting down, out of resources, or (SQLite) locked or unreadable.
fn means_unavailable(error: &dyn DatabaseError) -> bool {
    // SQLSTATE prefixes. 08: connection exception; 53: insufficient
    // resources (too many connections, disk full); 57P: shutting down or not
    // started yet.
    const POSTGRES_UNAVAILABLE: [&str; 3] = ["08", "53", "57P"];
    // SQLite primary result codes: busy, locked, I/O error, full, cannot open.
    const SQLITE_UNAVAILABLE: [i64; 5] = [5, 6, 10, 13, 14];

    let code = error.code().unwrap_or_default();
    if error.try_downcast_ref::<PgDatabaseError>().is_some() {
        return POSTGRES_UNAVAILABLE
            .iter()
            .any(|prefix| code.starts_with(prefix));
    }
    // SQLite reports extended result codes; the primary code is the low byte.
    code.parse::<i64>()
        .is_ok_and(|code| SQLITE_UNAVAILABLE.contains(&(code & 0xff)))
}
