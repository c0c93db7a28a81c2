//! The `intake` command line (SPEC section 2).
//!
//! One module per command: `serve`, `check`, `migrate`, `org` (`org add`),
//! `user` (`user add`) and `audit` (`audit verify`). Each reads the configuration of SPEC section 3
//! from the environment, and reports failure as one line on stderr naming
//! the problem, with a non-zero exit.

mod audit;
mod check;
mod migrate;
mod org;
mod serve;
mod user;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError};

pub use audit::AuditCommand;
pub use org::OrgCommand;
pub use user::{AddUser, UserCommand};

/// intake: a HIPAA-minded backend for healthcare forms.
#[derive(Debug, Parser)]
#[command(name = "intake", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, then serve HTTP until SIGTERM or SIGINT.
    Serve,
    /// Check the configured Redis and database against the compliance rules.
    Check,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage organizations.
    Org {
        /// What to do with organizations.
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage users.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Work with the audit trail.
    Audit {
        /// What to do with the audit trail.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> ExitCode {
        crate::telemetry::install_crypto_provider();
        let outcome = match self.command {
            Command::Serve => serve::run().await,
            Command::Check => check::run().await,
            Command::Migrate => migrate::run().await,
            Command::Org { command } => org::run(command).await,
            Command::User { command } => user::run(command).await,
            Command::Audit { command } => audit::run(command).await,
        };
        match outcome {
            Ok(code) => code,
            Err(error) => {
                eprintln!("intake: {}", one_line(&error));
                ExitCode::FAILURE
            }
        }
    }
}

fn load_config() -> Result<Config, ConfigError> {
    Config::from_env()
}

/// An error and its causes on one line.
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace('\n', "; ")
}
