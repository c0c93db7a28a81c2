//! Test helpers that start real components for intake's tests.
//!
//! - [`redis`]: `redis-server` processes on free loopback ports (plain, with a
//!   password, with TLS from certificates made for the test, Sentinel and
//!   Cluster), stopped when dropped and restartable on the same port.
//! - [`process`]: child processes whose output is collected line by line, to
//!   wait for the line that says a process is ready.
//! - [`database`]: a temporary SQLite file, or a fresh schema in the
//!   PostgreSQL at `127.0.0.1:5432` when one is running.
//!
//! Nothing here mocks a component: every helper talks to a real process.

pub mod database;
pub mod process;
pub mod redis;
