//! The coordination part of `/health` (the `redis` object of SPEC section 10).

use serde::Serialize;

use crate::redis::{PoolFigures, ServerInfo};

/// The overall verdict a component contributes to `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Working normally.
    Healthy,
    /// Working, with a warning an operator should read.
    Degraded,
    /// Not working.
    Unhealthy,
}

/// Whether the coordinator can reach its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionStatus {
    /// Redis answered.
    Connected,
    /// Redis did not answer, or the breaker is open.
    Disconnected,
    /// State is held in this process; there is nothing to connect to.
    InProcess,
}

/// The `redis` object of `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct CoordinationHealth {
    /// Connection status.
    pub status: ConnectionStatus,
    /// `standalone`, `sentinel`, `cluster` or `in-process`.
    pub mode: &'static str,
    /// Round trip of the `INFO` call, when it succeeded.
    pub latency_ms: Option<f64>,
    /// `closed`, `open` or `half-open`.
    pub circuit_breaker: &'static str,
    /// Pool figures (absent in process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolFigures>,
    /// What the server reported (absent when unreachable or in process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerInfo>,
    /// Why the verdict is not healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The verdict this part contributes.
    #[serde(skip)]
    pub verdict: Verdict,
}

impl CoordinationHealth {
    /// The in-process coordinator's health: always healthy.
    pub fn in_process() -> Self {
        Self {
            status: ConnectionStatus::InProcess,
            mode: "in-process",
            latency_ms: None,
            circuit_breaker: "closed",
            pool: None,
            server: None,
            warning: None,
            verdict: Verdict::Healthy,
        }
    }
}

/// Memory use at or above this share of `maxmemory` degrades health.
pub const MEMORY_WARNING_RATIO: f64 = 0.8;
