//! `intake audit verify`: checks the audit trail's MAC chain (SPEC sections
//! 2 and 9).
//!
//! It walks the trail a page at a time, recomputing every row's MAC with
//! the key `serve` uses (`INTAKE_SECRET_KEY`, or in development the key kept
//! in the database), and stops at the first row that does not fit. Exit 0
//! when the trail is intact; exit 1, naming that row and what the mismatch
//! suggests, when it is not. A trail whose newest rows were removed still
//! verifies: compare the count with the `audit_sequence` of the last
//! `AUDIT:` line in the shipped logs.

use std::process::ExitCode;

use clap::Subcommand;

use crate::audit::Auditor;

/// Rows read from the database at a time.
const PAGE_SIZE: u32 = 1000;

/// `intake audit ...`: the audit trail.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit trail's MAC chain; exit 0 when intact, 1 with the
    /// first broken row otherwise.
    Verify,
}

pub(super) async fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify => verify().await,
    }
}

async fn verify() -> anyhow::Result<ExitCode> {
    let config = super::load_config()?;
    let database = crate::app::open_database(&config).await?;
    let secret_key = crate::app::load_secret_key(&config, &database).await;
    let verification = match secret_key {
        Ok(secret_key) => Auditor::new(database.clone(), &secret_key)
            .verify(PAGE_SIZE)
            .await
            .map_err(anyhow::Error::from),
        Err(error) => Err(error),
    };
    database.close().await;

    let verification = verification?;
    match verification.broken {
        None => {
            println!("audit trail intact: {} events", verification.events);
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            println!(
                "audit trail BROKEN at {broken}; {} events before it verified",
                verification.events
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
