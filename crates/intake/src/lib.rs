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
//! - [`http`]: the router, its middleware and the operational routes.
//! - [`telemetry`]: JSON logs and Prometheus metrics.
//! - [`cli`]: `intake serve`, `check` and `migrate`.

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod telemetry;

pub use app::App;
pub use config::Config;
