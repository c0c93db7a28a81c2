//! What intake instances must agree on, behind one interface.
//!
//! intake runs as many identical, stateless processes. Sessions, CSRF tokens,
//! rate-limit state and locks must be shared between them, so they live in
//! Redis; a single instance started with no configuration keeps them in its
//! own memory instead. [`Coordinator`] is that choice, made once at start-up.
//!
//! - [`breaker`]: the circuit breaker that every Redis call passes through.
//! - [`redis`]: the Redis gateway (connection pool, timeouts, retries,
//!   scripts, metrics) and what it reads from `INFO`.
//! - [`in_process`]: the embedded coordinator for a single instance.
//! - [`rate_limit`]: rate-limit policies and the GCRA limiter, in Redis
//!   with a warm in-process fallback.
//! - [`locks`]: distributed locks with owner tokens, fencing tokens,
//!   automatic renewal and a signal when a lock is lost.
//! - [`sessions`]: sessions and their CSRF tokens, stored only as keyed
//!   hashes.
//! - [`health`]: the `redis` object of `/health`, filled by either side.
//!
//! This crate owns no SQL and no HTTP: it never sees a request, a form or a
//! response, and it must never be handed PHI. Everything it stores in Redis
//! is keyed under the configured prefix and carries a TTL.

pub mod breaker;
pub mod health;
pub mod in_process;
pub mod locks;
pub mod rate_limit;
pub mod redis;
pub mod sessions;

mod clock;
mod coordinator;

pub use coordinator::Coordinator;
