//! intake's SQL storage: the forms, responses, users and audit trail that must
//! outlive any one process.
//!
//! One handle, [`Database`], serves both deployments of SPEC section 1: a
//! SQLite file for the embedded default and PostgreSQL when scaled out. The
//! rest of intake holds a `Database`, asks it for domain operations, and never
//! sees SQL, a pool or a driver error; it gets a [`StorageError`] it can map to
//! an HTTP status in one place. This crate knows nothing of HTTP, Redis or
//! sessions, and nothing here logs a row's content.
//!
//! # Why an enum of two stores, not a trait object or sqlx's `Any`
//!
//! sqlx's `Any` driver lacks the types intake needs (no UUID, time or JSON)
//! and the two dialects differ in placeholders, column types and upserts, so
//! every query is written once per backend. What remains to choose is how
//! `Database` reaches the right one. A `dyn` storage trait would need boxed
//! futures (`async-trait`) and would invite a third implementation, a mock,
//! which intake's tests deliberately do without: they run against real
//! databases. The set of backends is closed, so `Database` holds an enum of a
//! `sqlite` store and a `postgres` store, and each public method is a
//! two-arm `match`. A backend left out does not compile, dispatch is static,
//! and a reader follows a call from `Database` to its SQL in one jump.
//!
//! Adding a repository (organizations, users, forms...) follows one pattern,
//! each piece in a predictable file: its public methods on `Database` in a
//! module named for the concept (as [`settings`] does), its queries in
//! `sqlite/<concept>.rs` and `postgres/<concept>.rs`, and its tables in a
//! migration under each of `migrations/sqlite/` and `migrations/postgres/`.
//!
//! # Modules
//!
//! - [`audit`]: the append-only, MAC-chained audit trail.
//! - [`database`]: connecting, migrating, health checks.
//! - [`error`]: [`StorageError`] and the single place sqlx errors are sorted.
//! - [`forms`]: versioned forms; publishing freezes a version.
//! - [`organizations`]: the clinics, the unit of tenant isolation.
//! - [`responses`]: answers, each pinned to the form version it answered.
//! - [`settings`]: named values intake keeps for itself, such as the
//!   development secret key.
//! - `sqlite`, `postgres` (private): each backend's pool and queries.
//! - [`url`]: backend choice from `DATABASE_URL`, and [`redact_url`].
//! - [`users`]: the people who sign in, by password or identity provider.

pub mod audit;
pub mod database;
pub mod error;
pub mod forms;
pub mod organizations;
mod postgres;
pub mod responses;
pub mod settings;
mod sqlite;
pub mod url;
pub mod users;

pub use audit::{AuditFilter, AuditMac, AuditRow, ChainVerification, NewAuditEvent};
pub use database::{Backend, Database};
pub use error::StorageError;
pub use forms::{Form, NewForm};
pub use organizations::Organization;
pub use responses::{FormResponse, NewResponse};
pub use url::redact_url;
pub use users::{NewUser, OidcIdentity, User};
