//! The Redis gateway: the only way intake talks to Redis.
//!
//! Every call goes through [`RedisGateway`], which adds what a managed Redis
//! in production needs: a bounded pool of multiplexed connections over TLS,
//! a deadline of `REDIS_COMMAND_TIMEOUT_MS` on the whole call (checkout,
//! retries and answer included), the [circuit breaker](crate::breaker), and
//! latency metrics per command. Lua scripts run as `EVALSHA` and are loaded
//! again on `NOSCRIPT`.
//!
//! The pool is bb8 over a connection manager of our own ([`connection`])
//! rather than redis-rs's bb8 integration: that one sends a `PING` before
//! every checkout, which would double the Redis commands of every request,
//! and it never notices a connection that broke while it was checked out.

pub mod compliance;
mod connection;
mod gateway;
mod info;
mod settings;

pub use gateway::{ConnectError, GatewayError, PoolFigures, RedisGateway};
pub use info::ServerInfo;
pub use settings::{HostPort, RedisSettings, Topology};
