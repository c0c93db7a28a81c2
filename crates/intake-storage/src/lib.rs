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
//! sqlx's `Any` driver lacks the types intake needs (no UUID, time or JSON),
//! so every query runs through one backend's own driver. What remains to
//! choose is how `Database` reaches the right one. A `dyn` storage trait
//! would need boxed futures (`async-trait`) and would invite a third
//! implementation, a mock, which intake's tests deliberately do without: they
//! run against real databases. The set of backends is closed, so `Database`
//! holds an enum of a `sqlite` store and a `postgres` store, and each public
//! method is a two-arm `match`. A backend left out does not compile, dispatch
//! is static, and a reader follows a call from `Database` to its SQL in one
//! jump.
//!
//! # Where the SQL lives: shared where it is the same, per backend where not
//!
//! Most statements read the same on both backends: sqlx's SQLite driver
//! takes PostgreSQL's `$N` placeholders, both know `RETURNING` and
//! `ON CONFLICT`, and both drivers encode and decode text, integers,
//! booleans and bytes alike. Those are written once, under `src/shared/`.
//! That directory is not a module of its own: `sqlite.rs` and `postgres.rs`
//! each include it as their private `shared` module (`#[path]`), with the
//! aliases `BackendStore` and `BackendDriver` naming that backend's store
//! and sqlx driver. So each shared file compiles twice into ordinary,
//! concretely typed code, one copy per backend, and is formatted, linted and
//! type-checked like any other file. This was chosen over a `macro_rules!`
//! body (which rustfmt leaves alone and whose errors point into the
//! expansion) and over functions generic over `sqlx::Database` (whose
//! `Encode`/`Decode`/`Executor` bounds would outweigh the queries).
//!
//! What really differs stays in `sqlite/<concept>.rs` and
//! `postgres/<concept>.rs`, so the difference is visible where it matters:
//! how a write serializes (`BEGIN IMMEDIATE` on SQLite; `FOR UPDATE` /
//! `FOR SHARE` row locks on forms and an `EXCLUSIVE` table lock on the audit
//! trail on PostgreSQL), timestamps taken from the database's clock in SQL,
//! and the audit trail's time filters (SQLite compares fixed-shape text,
//! PostgreSQL typed `timestamptz` parameters). Connection set-up (SQLite's
//! pragmas, PostgreSQL's URL options) and migrations are per backend too,
//! and [`error`] sorts each driver's error codes.
//!
//! Adding a repository (organizations, users, forms...) follows one pattern,
//! each piece in a predictable file: its public methods on `Database` in a
//! module named for the concept (as [`settings`] does), its queries in
//! `shared/<concept>.rs` when they are the same on both backends and in
//! `sqlite/<concept>.rs` and `postgres/<concept>.rs` where they are not, and
//! its tables in a migration under each of `migrations/sqlite/` and
//! `migrations/postgres/`.
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
//! - `sqlite`, `postgres` (private): each backend's pool and the queries
//!   that differ between them; each also compiles `src/shared/`, the
//!   queries written once for both.
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
