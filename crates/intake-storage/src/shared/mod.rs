//! The queries whose SQL is the same on SQLite and PostgreSQL, written once.
//!
//! This directory is not a module of the crate root. Each backend includes it
//! as its own `shared` module (`#[path = "shared/mod.rs"]` in `sqlite.rs` and
//! in `postgres.rs`), so every file here is compiled twice: once where
//! `BackendStore` is the `SqliteStore` and `BackendDriver` is `sqlx::Sqlite`,
//! once where they are the PostgreSQL ones. Each compilation is ordinary,
//! fully typed sqlx code against one driver; nothing is generic or dynamic
//! at run time.
//!
//! A query belongs here only when its text, its binds and its meaning are the
//! same on both backends: `$N` placeholders (which sqlx's SQLite driver
//! accepts too), `RETURNING` and `ON CONFLICT`, values that both drivers
//! encode and decode alike (text, integers, booleans, bytes). Anything that
//! differs stays in the backend's own `<concept>.rs`: how a transaction
//! locks (`BEGIN IMMEDIATE` against `FOR UPDATE`/`FOR SHARE` or a table
//! lock), the database's clock in SQL, and how times are compared.

use super::{BackendDriver, BackendStore};

mod forms;
mod organizations;
mod responses;
mod settings;
mod users;

pub(super) use forms::{insert_form_in, insert_version, read_back, update_unpublished_version};
