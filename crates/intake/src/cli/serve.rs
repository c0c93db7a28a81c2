//! `intake serve`: start, listen, drain on SIGTERM or SIGINT.

use std::process::ExitCode;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::App;

pub(super) async fn run() -> anyhow::Result<ExitCode> {
    crate::telemetry::init_logging();
    let config = super::load_config()?;
    let listen = config.listen;
    let app = App::start(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("INTAKE_LISTEN: cannot listen on {listen}"))?;
    crate::http::serve(app, listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM (what Cloud Run and Kubernetes send) or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested: draining in-flight requests");
}
