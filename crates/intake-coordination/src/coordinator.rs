//! The coordinator the process runs with: Redis or in-process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::breaker::BreakerState;
use crate::health::{ConnectionStatus, CoordinationHealth, MEMORY_WARNING_RATIO, Verdict};
use crate::in_process::InProcessCoordinator;
use crate::rate_limit::MemoryRateLimiter;
use crate::redis::RedisGateway;
use crate::sessions::RedisSessions;

/// Where shared state lives, chosen once at start-up.
#[derive(Clone)]
pub enum Coordinator {
    /// Shared with every instance through Redis.
    Redis(RedisCoordinator),
    /// Held in this process (one instance only).
    InProcess(InProcessCoordinator),
}

/// The Redis side of [`Coordinator`].
#[derive(Clone)]
pub struct RedisCoordinator {
    gateway: RedisGateway,
    key_prefix: Arc<str>,
    /// Gateway timeouts already reported by an earlier health check.
    timeouts_seen: Arc<AtomicU64>,
    /// The warm in-process limiter rate limiting falls back to while Redis
    /// is unreachable (see [`crate::rate_limit`]).
    rate_fallback: MemoryRateLimiter,
    /// Whether the last rate-limit decision fell back, so the switch is
    /// logged once each way.
    rate_degraded: Arc<AtomicBool>,
}

impl Coordinator {
    /// A Redis coordinator over `gateway`, with every key under `key_prefix`.
    pub fn redis(gateway: RedisGateway, key_prefix: &str) -> Self {
        Self::Redis(RedisCoordinator {
            gateway,
            key_prefix: key_prefix.into(),
            timeouts_seen: Arc::new(AtomicU64::new(0)),
            rate_fallback: MemoryRateLimiter::default(),
            rate_degraded: Arc::new(AtomicBool::new(false)),
        })
    }

    /// An in-process coordinator.
    pub fn in_process() -> Self {
        Self::InProcess(InProcessCoordinator::new())
    }

    /// Names the backend for the start-up line and `/health`
    /// (`redis standalone`, `redis cluster`, `in-process`).
    pub fn describe(&self) -> String {
        match self {
            Self::Redis(redis) => format!("redis {}", redis.gateway.settings().topology.mode()),
            Self::InProcess(_) => "in-process".to_owned(),
        }
    }

    /// The Redis gateway, when coordinating through Redis.
    pub fn gateway(&self) -> Option<&RedisGateway> {
        match self {
            Self::Redis(redis) => Some(&redis.gateway),
            Self::InProcess(_) => None,
        }
    }

    /// The prefix of every Redis key.
    pub fn key_prefix(&self) -> Option<&str> {
        match self {
            Self::Redis(redis) => Some(&redis.key_prefix),
            Self::InProcess(_) => None,
        }
    }

    /// Checks the store and reports the `redis` object of `/health`.
    pub async fn health(&self) -> CoordinationHealth {
        match self {
            Self::Redis(redis) => redis.health().await,
            Self::InProcess(_) => CoordinationHealth::in_process(),
        }
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn is_ready(&self) -> bool {
        match self {
            Self::Redis(redis) => redis.gateway.server_info().await.is_ok(),
            Self::InProcess(_) => true,
        }
    }
}

impl RedisCoordinator {
    pub(crate) fn sessions(&self) -> RedisSessions<'_> {
        RedisSessions::new(&self.gateway, &self.key_prefix)
    }

    pub(crate) fn gateway(&self) -> &RedisGateway {
        &self.gateway
    }

    pub(crate) fn key_prefix(&self) -> &Arc<str> {
        &self.key_prefix
    }

    pub(crate) fn rate_fallback(&self) -> &MemoryRateLimiter {
        &self.rate_fallback
    }

    pub(crate) fn rate_degraded(&self) -> &AtomicBool {
        &self.rate_degraded
    }

    async fn health(&self) -> CoordinationHealth {
        let probe = self.gateway.server_info().await;
        let breaker = self.gateway.breaker_state();
        let pool = self.gateway.pool_figures();
        let new_timeouts =
            pool.timeouts - self.timeouts_seen.swap(pool.timeouts, Ordering::Relaxed);
        let mut health = CoordinationHealth {
            status: ConnectionStatus::Disconnected,
            mode: self.gateway.settings().topology.mode(),
            latency_ms: None,
            circuit_breaker: breaker.as_str(),
            pool: Some(pool),
            server: None,
            warning: None,
            verdict: Verdict::Unhealthy,
        };
        match probe {
            Err(error) => health.warning = Some(format!("Redis unavailable: {error}")),
            Ok(_) if breaker == BreakerState::Open => {
                health.warning = Some("Redis circuit breaker is open".to_owned());
            }
            Ok((server, latency)) => {
                health.status = ConnectionStatus::Connected;
                health.latency_ms = Some(latency.as_secs_f64() * 1000.0);
                health.verdict = Verdict::Healthy;
                if let Some(ratio) = server
                    .memory_usage_ratio
                    .filter(|r| *r >= MEMORY_WARNING_RATIO)
                {
                    health.verdict = Verdict::Degraded;
                    health.warning = Some(format!(
                        "Redis memory use is at {:.0}% of maxmemory",
                        ratio * 100.0
                    ));
                } else if new_timeouts > 0 {
                    health.verdict = Verdict::Degraded;
                    health.warning = Some(format!(
                        "{new_timeouts} Redis command timeouts since the last check"
                    ));
                }
                health.server = Some(server);
            }
        }
        health
    }
}
