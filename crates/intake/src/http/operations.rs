//! Operational routes: health, liveness, readiness, metrics, and the
//! OpenAPI document.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use intake_coordination::health::{CoordinationHealth, Verdict};
use serde::Serialize;

use crate::app::App;
use crate::telemetry::metrics_handle;

/// The body of `/health` (SPEC section 10).
#[derive(Debug, Serialize)]
pub struct HealthReport {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: Verdict,
    /// Unix seconds.
    pub timestamp: u64,
    /// intake's version.
    pub version: &'static str,
    /// Coordination (Redis or in-process).
    pub redis: CoordinationHealth,
    /// The SQL database.
    pub database: DatabaseHealth,
}

/// The `database` object of `/health`.
#[derive(Debug, Serialize)]
pub struct DatabaseHealth {
    /// `connected` or `disconnected`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

/// `GET /health`: 200 when healthy or degraded, 500 when unhealthy.
pub async fn get_health(State(app): State<App>) -> impl IntoResponse {
    let (redis, database_up) = tokio::join!(app.coordinator.health(), async {
        app.database.ping().await.is_ok()
    });
    let database_verdict = if database_up {
        Verdict::Healthy
    } else {
        Verdict::Unhealthy
    };
    let status = redis.verdict.max(database_verdict);
    let report = HealthReport {
        status,
        timestamp: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs()),
        version: env!("CARGO_PKG_VERSION"),
        redis,
        database: DatabaseHealth {
            status: if database_up {
                "connected"
            } else {
                "disconnected"
            },
            backend: app.database.backend().as_str(),
        },
    };
    let code = match status {
        Verdict::Unhealthy => StatusCode::INTERNAL_SERVER_ERROR,
        Verdict::Healthy | Verdict::Degraded => StatusCode::OK,
    };
    (code, Json(report))
}

/// `GET /livez`: the process is alive and serving.
pub async fn get_livez() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "alive" }))
}

/// `GET /readyz`: 200 when Redis and the database both answer, else 503.
pub async fn get_readyz(State(app): State<App>) -> impl IntoResponse {
    let (redis_ready, database_ready) = tokio::join!(app.coordinator.is_ready(), async {
        app.database.ping().await.is_ok()
    });
    let ready = redis_ready && database_ready;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not ready" },
        "redis": redis_ready,
        "database": database_ready,
    });
    (code, Json(body))
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn get_metrics(State(app): State<App>) -> impl IntoResponse {
    if let Some(gateway) = app.coordinator.gateway() {
        let pool = gateway.pool_figures();
        metrics::gauge!("intake_redis_pool_connections").set(pool.total_connections);
        metrics::gauge!("intake_redis_pool_idle_connections").set(pool.idle_connections);
        metrics::gauge!("intake_redis_pool_stale_connections_total")
            .set(pool.stale_connections as f64);
        metrics::gauge!("intake_redis_pool_timeouts_total").set(pool.timeouts as f64);
        metrics::gauge!("intake_redis_circuit_breaker_state")
            .set(gateway.breaker_state().as_gauge());
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_handle().render(),
    )
}

/// The OpenAPI 3.1 description of the whole API.
const OPENAPI: &str = include_str!("openapi.json");

/// `GET /openapi.json`.
pub async fn get_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
