//! Storage tests against real databases: a SQLite file always, and a schema
//! in the local PostgreSQL when one is running (see
//! `intake_testkit::database`). One test binary, one module per concern.

mod audit;
mod connection;
mod forms;
mod organizations;
mod responses;
mod settings;
mod users;
