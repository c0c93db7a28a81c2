//! `intake user add`: create a user and print its id.
//!
//! Everything the command is given is checked before anything is written:
//! the role, the e-mail address and the password are parsed and the password
//! hashed first, and the user is then stored in one insert. A refusal at any
//! step leaves the database as it was (apart from migrations, which every
//! command that opens the database applies).
//!
//! The password comes only through stdin (`--password-stdin`), never as an
//! argument, where `ps` and shell history would show it. Without the flag
//! the user has no password and signs in only through the identity
//! provider, which links it by e-mail address at its first login.
//!
//! Errors name the flag to fix and never repeat the e-mail address or the
//! password.

use std::io::{IsTerminal as _, Read as _};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use intake_storage::{Database, NewUser, Organization, StorageError, User};
use secrecy::SecretString;

use crate::auth::email::EmailAddress;
use crate::auth::password;
use crate::auth::roles::Role;

/// `intake user ...`: users.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints its id, alone, on stdout.
    Add(AddUser),
}

/// The flags of `intake user add`.
#[derive(Debug, Args)]
pub struct AddUser {
    /// The organization the user belongs to: its name or its id.
    #[arg(long)]
    pub org: String,
    /// The address the user signs in with, unique across all organizations.
    #[arg(long)]
    pub email: String,
    /// admin, staff or respondent.
    #[arg(long)]
    pub role: String,
    /// Read the password from stdin (one trailing newline is dropped).
    /// Without this flag the user has no password and signs in only through
    /// the identity provider.
    #[arg(long)]
    pub password_stdin: bool,
}

pub(super) async fn run(command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add(arguments) => add(arguments).await,
    }
}

async fn add(arguments: AddUser) -> anyhow::Result<ExitCode> {
    let role: Role = arguments
        .role
        .parse()
        .map_err(|error| anyhow!("--role: {error}"))?;
    let email =
        EmailAddress::parse(&arguments.email).map_err(|error| anyhow!("--email: {error}"))?;
    let password_hash = if arguments.password_stdin {
        Some(hash_password_from_stdin().await?)
    } else {
        None
    };
    let config = super::load_config()?;

    let database = crate::app::open_database(&config).await?;
    let created = create_user(&database, &arguments.org, &email, role, password_hash).await;
    database.close().await;

    println!("{}", created?.id);
    Ok(ExitCode::SUCCESS)
}

/// Reads the password from stdin, drops one trailing newline, and hashes it.
async fn hash_password_from_stdin() -> anyhow::Result<String> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Typed at a terminal, the password would be echoed on screen.
        bail!("--password-stdin: stdin is a terminal; pipe the password in instead");
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .context("--password-stdin: cannot read the password from stdin")?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    password::hash_password(SecretString::from(text))
        .await
        .map_err(|error| anyhow!("--password-stdin: {error}"))
}

async fn create_user(
    database: &Database,
    organization: &str,
    email: &EmailAddress,
    role: Role,
    password_hash: Option<String>,
) -> anyhow::Result<User> {
    let organization = find_organization(database, organization).await?;
    let new_user = NewUser {
        organization_id: organization.id,
        email: Some(email.as_str().to_owned()),
        role: role.as_str().to_owned(),
        password_hash,
        oidc: None,
    };
    database
        .create_user(new_user)
        .await
        .map_err(|error| match error {
            StorageError::Conflict { .. } => {
                anyhow!("--email: a user with this e-mail address already exists")
            }
            StorageError::NotFound => anyhow!("--org: the organization no longer exists"),
            other => anyhow::Error::new(other).context("cannot create the user"),
        })
}

/// The organization `name_or_id` names, trying it as an id first: ids are
/// UUIDs, which nobody picks as a name.
async fn find_organization(database: &Database, name_or_id: &str) -> anyhow::Result<Organization> {
    let name_or_id = name_or_id.trim();
    let by_id = database
        .organization(name_or_id)
        .await
        .context("cannot look up the organization")?;
    if let Some(organization) = by_id {
        return Ok(organization);
    }
    database
        .organization_by_name(name_or_id)
        .await
        .context("cannot look up the organization")?
        .ok_or_else(|| anyhow!("--org: no organization has the name or id `{name_or_id}`"))
}
