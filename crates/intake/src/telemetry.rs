//! Logs as JSON lines and metrics in Prometheus text.
//!
//! Log lines never carry PHI, secrets, cookies or tokens: callers log ids and
//! outcomes, never bodies or headers. `RUST_LOG` filters them (default
//! `info`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber for the process. Safe to call twice.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _already_installed = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}

/// The process's metrics recorder, installed on first use.
///
/// One recorder serves every app in the process (tests start several), so
/// `/metrics` shows process-wide figures.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be global (an embedding program's);
            // then this handle renders only what reaches it.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Installs rustls's `ring` crypto provider for the process.
///
/// Every TLS connection (Redis, HTTPS to an identity provider) shares it;
/// with none or two providers compiled in, the first handshake would panic.
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}
