//! Throwaway databases for tests: a SQLite file, or a schema of its own in
//! the PostgreSQL on this machine.
//!
//! Every [`TestDatabase`] is fresh and private to one test, so tests run in
//! parallel without seeing each other's rows, and it cleans up after itself
//! when dropped. Storage tests loop over [`TestDatabase::all`] so that each
//! assertion holds on both backends.
//!
//! PostgreSQL is optional: when nothing answers on `127.0.0.1:5432` the
//! PostgreSQL half of a test is skipped with a line on stderr, so a laptop
//! without it still runs the SQLite half. When something does answer, it must
//! be usable (trust authentication for `postgres` or `root`, a database named
//! `test`, the `psql` command installed); otherwise the helper panics rather
//! than quietly testing less. Schemas are made and dropped with `psql`, which
//! keeps this crate free of a database driver.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

/// Where the local PostgreSQL listens.
const POSTGRES_HOST: &str = "127.0.0.1";
const POSTGRES_PORT: u16 = 5432;
/// The database, present on the test machine, in which schemas are made.
const POSTGRES_DATABASE: &str = "test";
/// Roles tried in turn; the first one the server trusts is used.
const POSTGRES_USERS: [&str; 2] = ["postgres", "root"];

/// A private, empty database that is removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The file lives in this directory, which is deleted on drop.
    Sqlite { _directory: TempDir },
    /// A schema in the shared `test` database, dropped on drop.
    Postgres { user: &'static str, schema: String },
}

impl TestDatabase {
    /// A new SQLite database file in a temporary directory. The file itself
    /// does not exist yet; connecting creates it.
    pub fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("cannot create a temporary directory");
        let path = directory.path().join("intake.db");
        Self {
            url: format!("sqlite://{}", path.display()),
            kind: Kind::Sqlite {
                _directory: directory,
            },
        }
    }

    /// A new, empty schema in the local PostgreSQL, or `None` (with a line on
    /// stderr) when nothing answers on `127.0.0.1:5432`.
    ///
    /// The URL selects the schema through `options=-c search_path=...`, so
    /// every connection made from it, the migrations' included, creates and
    /// finds its tables there.
    ///
    /// # Panics
    ///
    /// When PostgreSQL answers but the schema cannot be created (no trusted
    /// role, no `test` database, no `psql`).
    pub fn postgres() -> Option<Self> {
        if !postgres_answers() {
            eprintln!("skipping PostgreSQL: nothing answers on {POSTGRES_HOST}:{POSTGRES_PORT}");
            return None;
        }
        let schema = format!("test_{}", random_hex());

        let mut failures = Vec::new();
        for user in POSTGRES_USERS {
            let output = psql(user, &format!("CREATE SCHEMA {schema}"));
            match output {
                Ok(output) if output.status.success() => {
                    return Some(Self {
                        url: postgres_url(user, &schema),
                        kind: Kind::Postgres { user, schema },
                    });
                }
                Ok(output) => failures.push(format!(
                    "as {user}: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(error) => failures.push(format!("running psql: {error}")),
            }
        }
        panic!(
            "PostgreSQL answers on {POSTGRES_HOST}:{POSTGRES_PORT} but no test schema \
             could be created in database `{POSTGRES_DATABASE}`: {}",
            failures.join("; ")
        );
    }

    /// A SQLite database, plus a PostgreSQL one when PostgreSQL is running.
    pub fn all() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        databases.extend(Self::postgres());
        databases
    }

    /// The `DATABASE_URL` that reaches this database.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// `sqlite` or `postgres`, to say in a failing assertion which backend
    /// broke.
    pub fn backend(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite { .. } => "sqlite",
            Kind::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Best effort: a schema left behind costs disk space, not
        // correctness, since its random name is never reused.
        if let Kind::Postgres { user, schema } = &self.kind {
            let _ = psql(user, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

fn postgres_answers() -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], POSTGRES_PORT));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

fn postgres_url(user: &str, schema: &str) -> String {
    format!(
        "postgres://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DATABASE}\
         ?options=-c%20search_path%3D{schema}"
    )
}

/// Runs one SQL statement with `psql`, never prompting for a password.
fn psql(user: &str, sql: &str) -> std::io::Result<Output> {
    Command::new("psql")
        .args(["--no-psqlrc", "--quiet", "--no-password"])
        .args(["--set", "ON_ERROR_STOP=1"])
        .args([
            "--host",
            POSTGRES_HOST,
            "--port",
            &POSTGRES_PORT.to_string(),
        ])
        .args(["--username", user, "--dbname", POSTGRES_DATABASE])
        .args(["--command", sql])
        .env("PGCONNECT_TIMEOUT", "3")
        .output()
}

/// 64 random bits as hex: enough that parallel tests, and runs that left a
/// schema behind, never pick the same name.
fn random_hex() -> String {
    let mut bytes = [0_u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .expect("cannot read /dev/urandom");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
