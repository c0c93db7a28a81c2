//! `intake migrate`: apply the database migrations and exit.

use std::process::ExitCode;

pub(super) async fn run() -> anyhow::Result<ExitCode> {
    let config = super::load_config()?;
    let database = crate::app::open_database(&config).await?;
    println!("migrations applied ({})", database.backend().as_str());
    database.close().await;
    Ok(ExitCode::SUCCESS)
}
