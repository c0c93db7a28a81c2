//! `intake org add`: create an organization and print its id.
//!
//! The id, alone on stdout, is what a set-up script captures to pass to
//! `intake user add --org`.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::Subcommand;
use intake_storage::StorageError;

/// The longest organization name accepted.
const MAX_NAME_CHARS: usize = 200;

/// `intake org ...`: organizations.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization; prints its id, alone, on stdout.
    Add {
        /// The organization's name, unique in this database.
        #[arg(long)]
        name: String,
    },
}

pub(super) async fn run(command: OrgCommand) -> anyhow::Result<ExitCode> {
    match command {
        OrgCommand::Add { name } => add(&name).await,
    }
}

async fn add(name: &str) -> anyhow::Result<ExitCode> {
    let name = organization_name(name)?;
    let config = super::load_config()?;

    let database = crate::app::open_database(&config).await?;
    let created = database.create_organization(&name).await;
    database.close().await;

    let organization = created.map_err(|error| match error {
        StorageError::Conflict { .. } => {
            anyhow!("--name: an organization with this name already exists")
        }
        other => anyhow::Error::new(other).context("cannot create the organization"),
    })?;
    println!("{}", organization.id);
    Ok(ExitCode::SUCCESS)
}

/// Trims `text` and checks that it makes a name: not empty, at most
/// [`MAX_NAME_CHARS`] characters, and no control characters, which would
/// garble the one-line output of every tool that shows it.
fn organization_name(text: &str) -> anyhow::Result<String> {
    let name = text.trim();
    if name.is_empty() {
        bail!("--name: the organization's name is empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        bail!("--name: the organization's name is longer than {MAX_NAME_CHARS} characters");
    }
    if name.chars().any(char::is_control) {
        bail!("--name: the organization's name contains a control character");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed() {
        assert_eq!(
            organization_name("  Riverside Clinic \n").unwrap(),
            "Riverside Clinic"
        );
    }

    #[test]
    fn empty_overlong_or_control_character_names_are_refused() {
        let overlong = "a".repeat(MAX_NAME_CHARS + 1);
        for (text, problem) in [
            ("   ", "empty"),
            (overlong.as_str(), "longer than"),
            ("Riverside\u{1b}[31m Clinic", "control character"),
        ] {
            let message = organization_name(text).unwrap_err().to_string();
            assert!(message.starts_with("--name: "), "{message}");
            assert!(message.contains(problem), "{message}");
        }
    }
}
