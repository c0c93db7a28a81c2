//! intake: a backend for healthcare forms, built to HIPAA's technical
//! safeguards.
//!
//! This crate is the application: it reads [`config`], starts the
//! [`app`] (database, coordinator, secret key), serves [`http`], and runs the
//! command line ([`cli`]). Shared state lives in `intake-coordination`, SQL in
//! `intake-storage`; this crate wires them together and owns no storage of
//! its own.
//!
//! - [`config`]: every environment variable of SPEC section 3.
//! - [`app`]: start-up, in the order that keeps a misconfigured process from
//!   serving at all.
//! - [`auth`]: identities: passwords, roles, ID tokens, session ids.
//! - [`audit`]: `AUDIT:` and `SECURITY:` events, logged and appended to the
//!   MAC-chained trail in the database.
//! - [`http`]: the router, its middleware and the operational routes.
//! - [`telemetry`]: JSON logs and Prometheus metrics.
//! - [`cli`]: `intake serve`, `check`, `migrate`, `org add`, `user add` and
//!   `audit verify`.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod telemetry;

pub use app::App;
pub use config::Config;
