//! The one gateway every Redis call goes through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, ScriptInvocation, Value};

use super::connection::{ConnectFailures, Connector, needs_new_connection};
use super::info::ServerInfo;
use super::settings::RedisSettings;
use crate::breaker::{BreakerState, CircuitBreaker, Permit};

/// Why a Redis call failed.
///
/// The texts name the failure class only; they never carry a key, an
/// argument or a credential.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The circuit breaker is open: Redis failed repeatedly just now, and the
    /// call was not attempted.
    #[error("Redis circuit breaker is open")]
    CircuitOpen,
    /// The call did not finish within the command timeout.
    #[error("Redis call timed out after {} ms", .0.as_millis())]
    Timeout(Duration),
    /// No connection to Redis could be used (refused, reset, TLS or
    /// authentication failure).
    #[error("Redis is unreachable: {0}")]
    Unreachable(RedisError),
    /// Redis answered, with an error (a script error, a wrong type).
    #[error("Redis refused the command: {0}")]
    Command(RedisError),
}

impl GatewayError {
    /// Whether the failure means Redis is unavailable (as opposed to Redis
    /// answering with an error), so the caller should degrade or answer 503.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, Self::Command(_))
    }
}

/// Why the gateway could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Redis refused the configured credentials: a configuration error that
    /// retrying will not fix.
    #[error(
        "Redis refused the configured credentials (check REDIS_PASSWORD, REDIS_USERNAME \
         or the user and password in REDIS_URL)"
    )]
    Authentication,
    /// The settings cannot describe a working client (e.g. a bad CA bundle).
    #[error("Redis settings are invalid: {0}")]
    Configuration(RedisError),
}

/// Figures of the connection pool, as the `pool` object of `/health` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolFigures {
    /// Connections the pool holds now.
    pub total_connections: u32,
    /// Of those, connections not checked out.
    pub idle_connections: u32,
    /// Connections discarded since start because they broke or went stale.
    pub stale_connections: u64,
    /// Checkouts served at once by an idle connection.
    pub hits: u64,
    /// Checkouts that had to wait for a connection.
    pub misses: u64,
    /// Calls that ran past the command timeout.
    pub timeouts: u64,
}

/// The Redis gateway. Cheap to clone; clones share the pool and breaker.
#[derive(Clone)]
pub struct RedisGateway {
    inner: Arc<Inner>,
}

struct Inner {
    pool: bb8::Pool<Connector>,
    connect_failures: ConnectFailures,
    breaker: CircuitBreaker,
    settings: RedisSettings,
    timeouts: AtomicU64,
}

enum Request<'a> {
    Command(&'a Cmd),
    Script(&'a ScriptInvocation<'a>),
}

impl RedisGateway {
    /// Opens the pool and checks that Redis accepts the credentials.
    ///
    /// A Redis that cannot be reached is an outage, not an error: the
    /// gateway is returned, reports itself unavailable, and connects by
    /// itself once Redis appears. A Redis that refuses the credentials is a
    /// configuration error.
    pub async fn connect(settings: RedisSettings) -> Result<Self, ConnectError> {
        let connector = Connector::new(&settings).map_err(ConnectError::Configuration)?;
        let connect_failures = ConnectFailures::new();
        let pool = bb8::Pool::builder()
            .max_size(settings.pool_size.max(1))
            .min_idle(settings.min_idle.min(settings.pool_size))
            .connection_timeout(settings.connect_timeout)
            .test_on_check_out(false)
            // Fail at once when a connect fails; retries are ours, bounded
            // by the command timeout. bb8 reports the failure only to its
            // error sink, where the waiting checkout hears it.
            .retry_connection(false)
            .error_sink(Box::new(connect_failures.clone()))
            .build_unchecked(connector);
        let gateway = Self {
            inner: Arc::new(Inner {
                pool,
                connect_failures,
                breaker: CircuitBreaker::new(settings.breaker),
                settings,
                timeouts: AtomicU64::new(0),
            }),
        };
        match gateway.query::<String>("PING", &redis::cmd("PING")).await {
            Err(GatewayError::Unreachable(error) | GatewayError::Command(error))
                if is_authentication_error(&error) =>
            {
                Err(ConnectError::Authentication)
            }
            Err(error) => {
                tracing::warn!(error = %error, "Redis is not reachable yet; will keep trying");
                Ok(gateway)
            }
            Ok(_) => Ok(gateway),
        }
    }

    /// The settings the gateway was made with.
    pub fn settings(&self) -> &RedisSettings {
        &self.inner.settings
    }

    /// Runs one command. `label` names it in metrics (`GET`, `session.touch`).
    pub async fn query<T: FromRedisValue>(
        &self,
        label: &'static str,
        command: &Cmd,
    ) -> Result<T, GatewayError> {
        self.execute(label, Request::Command(command)).await
    }

    /// Runs a Lua script as `EVALSHA`, loading it on `NOSCRIPT`.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        label: &'static str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, GatewayError> {
        self.execute(label, Request::Script(invocation)).await
    }

    /// Reads `INFO` and measures the round trip.
    pub async fn server_info(&self) -> Result<(ServerInfo, Duration), GatewayError> {
        let started = Instant::now();
        let mut command = redis::cmd("INFO");
        command
            .arg("server")
            .arg("clients")
            .arg("memory")
            .arg("replication");
        let value: Value = self.query("INFO", &command).await?;
        Ok((ServerInfo::from_value(&value), started.elapsed()))
    }

    /// The circuit breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.breaker.state()
    }

    /// The pool's figures.
    pub fn pool_figures(&self) -> PoolFigures {
        let state = self.inner.pool.state();
        let statistics = state.statistics;
        PoolFigures {
            total_connections: state.connections,
            idle_connections: state.idle_connections,
            stale_connections: statistics.connections_closed_broken
                + statistics.connections_closed_invalid,
            hits: statistics.get_direct,
            misses: statistics.get_waited,
            timeouts: self.inner.timeouts.load(Ordering::Relaxed) + statistics.get_timed_out,
        }
    }

    async fn execute<T: FromRedisValue>(
        &self,
        label: &'static str,
        request: Request<'_>,
    ) -> Result<T, GatewayError> {
        let Ok(permit) = self.inner.breaker.admit() else {
            metrics::counter!("intake_redis_breaker_rejections_total").increment(1);
            return Err(GatewayError::CircuitOpen);
        };
        let started = Instant::now();
        let deadline = self.inner.settings.command_timeout;
        let result = match tokio::time::timeout(deadline, self.attempt(&request)).await {
            // The connection's own response timeout is the same deadline,
            // started a moment later; when both fall in one timer tick the
            // connection's fires first and must count as a timeout too.
            Err(_) => self.timed_out(permit, deadline),
            Ok(Err(error)) if error.is_timeout() => self.timed_out(permit, deadline),
            Ok(Ok(value)) => {
                permit.succeeded();
                Ok(value)
            }
            Ok(Err(error)) if reached_redis(&error) => {
                permit.succeeded();
                Err(GatewayError::Command(error))
            }
            Ok(Err(error)) => {
                permit.failed();
                Err(GatewayError::Unreachable(error))
            }
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(GatewayError::Command(_)) => "error",
            Err(_) => "unavailable",
        };
        metrics::histogram!(
            "intake_redis_command_duration_seconds",
            "command" => label,
            "outcome" => outcome,
        )
        .record(started.elapsed().as_secs_f64());
        metrics::gauge!("intake_redis_circuit_breaker_state").set(self.breaker_state().as_gauge());
        result
    }

    fn timed_out<T>(&self, permit: Permit, deadline: Duration) -> Result<T, GatewayError> {
        self.inner.timeouts.fetch_add(1, Ordering::Relaxed);
        permit.failed();
        Err(GatewayError::Timeout(deadline))
    }

    /// Runs the request, retrying on a fresh connection when the one it had
    /// failed before Redis answered. A Redis answer, error or not, is never
    /// retried.
    async fn attempt<T: FromRedisValue>(&self, request: &Request<'_>) -> redis::RedisResult<T> {
        let mut retries = 0;
        loop {
            let result = self.attempt_once(request).await;
            match result {
                Err(error)
                    if retries < self.inner.settings.max_retries
                        && needs_new_connection(&error)
                        && !is_authentication_error(&error) =>
                {
                    retries += 1;
                    tokio::time::sleep(retry_backoff(retries)).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt_once<T: FromRedisValue>(
        &self,
        request: &Request<'_>,
    ) -> redis::RedisResult<T> {
        // A checkout that has to wait for a new connection fails with the
        // first connect failure meanwhile (see `ConnectFailures`).
        let mut failures = self.inner.connect_failures.listen();
        let checkout = tokio::select! {
            biased;
            checkout = self.inner.pool.get() => checkout,
            error = failures.next() => return Err(error),
        };
        let mut connection = checkout.map_err(|error| match error {
            bb8::RunError::User(error) => error,
            bb8::RunError::TimedOut => RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no pooled Redis connection became free in time",
            )),
        })?;
        match request {
            Request::Command(command) => command.query_async(&mut *connection).await,
            Request::Script(invocation) => invocation.invoke_async(&mut *connection).await,
        }
    }
}

/// Backoff before retry `n` (1-based): 20 ms, 40 ms, 80 ms, … at most 500 ms.
fn retry_backoff(retry: u32) -> Duration {
    let millis = 10u64.saturating_mul(1 << retry.min(6));
    Duration::from_millis(millis.min(500))
}

/// Whether the error is an answer from Redis rather than a failure to
/// reach it.
fn reached_redis(error: &RedisError) -> bool {
    !needs_new_connection(error) && !error.is_timeout() && !is_authentication_error(error)
}

/// Whether Redis refused the credentials (or wanted some and got none).
pub(crate) fn is_authentication_error(error: &RedisError) -> bool {
    error.kind() == ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backoff_doubles_and_is_capped() {
        let waits: Vec<u64> = (1..=7)
            .map(|retry| retry_backoff(retry).as_millis() as u64)
            .collect();
        assert_eq!(waits, [20, 40, 80, 160, 320, 500, 500]);
    }
}
