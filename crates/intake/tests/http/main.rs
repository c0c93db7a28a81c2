//! intake's HTTP and command-line behaviour, against real Redis processes
//! and real databases. One test binary, as the modules below.

mod helpers;

mod accounts;
mod audit;
mod auth;
mod binary;
mod forms;
mod health;
mod oidc;
mod rate_limit;
mod stack;
