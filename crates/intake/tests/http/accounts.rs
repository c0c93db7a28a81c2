//! `intake org add` and `intake user add`, run as the built binary against a
//! SQLite file: ids alone on stdout, one-line errors, nothing half-written.

use std::path::Path;
use std::process::Output;

use intake::auth::password::verify_password;
use intake_storage::Database;
use secrecy::SecretString;
use tempfile::TempDir;

use crate::helpers::{run_intake, run_intake_with_stdin};

const PASSWORD: &str = "correct horse battery staple";

/// A directory of its own, with the `DATABASE_URL` of a SQLite file in it.
struct Workspace {
    directory: TempDir,
    database_url: String,
}

impl Workspace {
    fn new() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite://{}", directory.path().join("intake.db").display());
        Self {
            directory,
            database_url,
        }
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    fn run(&self, arguments: &[&str]) -> Output {
        run_intake(
            self.path(),
            arguments,
            &[("DATABASE_URL", &self.database_url)],
        )
    }

    fn run_with_stdin(&self, arguments: &[&str], input: &str) -> Output {
        let variables = [("DATABASE_URL", self.database_url.as_str())];
        run_intake_with_stdin(self.path(), arguments, &variables, input)
    }

    /// `intake org add --name NAME`, which must succeed; its id.
    fn add_organization(&self, name: &str) -> String {
        printed_id(&self.run(&["org", "add", "--name", name]))
    }

    /// `intake user add` with a password, which must succeed; its id.
    fn add_user(&self, organization: &str, email: &str, role: &str) -> String {
        let output = self.run_with_stdin(
            &[
                "user",
                "add",
                "--org",
                organization,
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        printed_id(&output)
    }

    async fn database(&self) -> Database {
        Database::connect(&self.database_url).await.unwrap()
    }
}

/// The one line on stdout of a successful run, checked to be a UUID.
fn printed_id(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.ends_with('\n') && stdout.lines().count() == 1,
        "{stdout:?}"
    );
    let id = stdout.trim_end().to_owned();
    assert!(uuid_like(&id), "{id:?}");
    id
}

fn uuid_like(text: &str) -> bool {
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12] && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

/// The single line of a failed run's stderr; stdout must be empty.
fn one_line_error(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "it succeeded: {stdout}");
    assert!(stdout.is_empty(), "{stdout:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
    assert!(stderr.starts_with("intake: "), "{stderr:?}");
    stderr.trim_end().to_owned()
}

#[test]
fn org_add_prints_the_new_organization_id_alone() {
    let workspace = Workspace::new();

    let id = workspace.add_organization("Riverside Clinic");

    let other = workspace.add_organization("Hillside Clinic");
    assert_ne!(id, other);
}

#[test]
fn org_add_with_a_name_already_taken_fails_with_one_line() {
    let workspace = Workspace::new();
    workspace.add_organization("Riverside Clinic");

    let output = workspace.run(&["org", "add", "--name", "Riverside Clinic"]);

    let error = one_line_error(&output);
    assert!(error.contains("--name"), "{error}");
    assert!(error.contains("already exists"), "{error}");
}

#[test]
fn org_add_with_an_empty_name_fails_before_creating_the_database() {
    let workspace = Workspace::new();

    let output = workspace.run(&["org", "add", "--name", "  "]);

    let error = one_line_error(&output);
    assert!(error.contains("--name"), "{error}");
    assert!(!workspace.path().join("intake.db").exists());
}

#[tokio::test]
async fn user_add_with_a_password_from_stdin_stores_a_user_who_can_sign_in() {
    let workspace = Workspace::new();
    let organization = workspace.add_organization("Riverside Clinic");

    let id = workspace.add_user("Riverside Clinic", "Nurse.Joy@Clinic.Example", "staff");

    let user = workspace.database().await.user(&id).await.unwrap().unwrap();
    assert_eq!(user.organization_id, organization);
    assert_eq!(user.email.as_deref(), Some("nurse.joy@clinic.example"));
    assert_eq!(user.role, "staff");
    assert_eq!(user.oidc, None);
    let hash = user.password_hash.expect("a password hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(verify_password(SecretString::from(PASSWORD), Some(&hash)).await);
    // The trailing newline was not part of the password.
    let with_newline = SecretString::from(format!("{PASSWORD}\n"));
    assert!(!verify_password(with_newline, Some(&hash)).await);
}

#[tokio::test]
async fn user_add_finds_the_organization_by_its_id_too() {
    let workspace = Workspace::new();
    let organization = workspace.add_organization("Riverside Clinic");

    let id = workspace.add_user(&organization, "admin@clinic.example", "admin");

    let user = workspace.database().await.user(&id).await.unwrap().unwrap();
    assert_eq!(user.organization_id, organization);
    assert_eq!(user.role, "admin");
}

#[tokio::test]
async fn user_add_without_password_stdin_makes_a_user_without_a_password() {
    let workspace = Workspace::new();
    workspace.add_organization("Riverside Clinic");

    let output = workspace.run(&[
        "user",
        "add",
        "--org",
        "Riverside Clinic",
        "--email",
        "dr.who@clinic.example",
        "--role",
        "respondent",
    ]);

    let id = printed_id(&output);
    let user = workspace.database().await.user(&id).await.unwrap().unwrap();
    assert_eq!(user.password_hash, None);
    assert_eq!(user.role, "respondent");
}

#[test]
fn user_add_with_an_email_already_taken_fails_with_one_line() {
    let workspace = Workspace::new();
    workspace.add_organization("Riverside Clinic");
    workspace.add_organization("Hillside Clinic");
    workspace.add_user("Riverside Clinic", "nurse@clinic.example", "staff");

    let output = workspace.run_with_stdin(
        &[
            "user",
            "add",
            "--org",
            "Hillside Clinic",
            "--email",
            "NURSE@clinic.example",
            "--role",
            "staff",
            "--password-stdin",
        ],
        PASSWORD,
    );

    let error = one_line_error(&output);
    assert!(error.contains("--email"), "{error}");
    assert!(error.contains("already exists"), "{error}");
    assert!(!error.to_lowercase().contains("nurse@"), "{error}");
}

#[tokio::test]
async fn user_add_with_an_unknown_role_fails_with_one_line_and_writes_nothing() {
    let workspace = Workspace::new();
    workspace.add_organization("Riverside Clinic");

    let output = workspace.run_with_stdin(
        &[
            "user",
            "add",
            "--org",
            "Riverside Clinic",
            "--email",
            "nurse@clinic.example",
            "--role",
            "superuser",
            "--password-stdin",
        ],
        PASSWORD,
    );

    let error = one_line_error(&output);
    assert!(error.contains("--role"), "{error}");
    assert!(error.contains("unknown role `superuser`"), "{error}");
    let database = workspace.database().await;
    let stored = database
        .user_by_email("nurse@clinic.example")
        .await
        .unwrap();
    assert_eq!(stored, None);
}

#[test]
fn user_add_in_an_unknown_organization_fails_with_one_line() {
    let workspace = Workspace::new();
    workspace.add_organization("Riverside Clinic");

    let output = workspace.run(&[
        "user",
        "add",
        "--org",
        "Nowhere Clinic",
        "--email",
        "nurse@clinic.example",
        "--role",
        "staff",
    ]);

    let error = one_line_error(&output);
    assert!(error.contains("--org"), "{error}");
    assert!(error.contains("Nowhere Clinic"), "{error}");
}

#[test]
fn user_add_with_a_malformed_email_fails_with_one_line() {
    let workspace = Workspace::new();
    workspace.add_organization("Riverside Clinic");

    for email in ["nurse.clinic.example", "nurse@", "nurse joy@clinic.example"] {
        let output = workspace.run(&[
            "user",
            "add",
            "--org",
            "Riverside Clinic",
            "--email",
            email,
            "--role",
            "staff",
        ]);

        let error = one_line_error(&output);
        assert!(error.contains("--email"), "{email}: {error}");
        assert!(!error.contains("nurse"), "{email}: {error}");
    }
}

#[tokio::test]
async fn user_add_with_a_short_password_fails_with_one_line_and_writes_nothing() {
    let workspace = Workspace::new();
    workspace.add_organization("Riverside Clinic");

    let output = workspace.run_with_stdin(
        &[
            "user",
            "add",
            "--org",
            "Riverside Clinic",
            "--email",
            "nurse@clinic.example",
            "--role",
            "staff",
            "--password-stdin",
        ],
        "short-pw-11\n",
    );

    let error = one_line_error(&output);
    assert!(error.contains("at least 12 characters"), "{error}");
    assert!(!error.contains("short-pw-11"), "{error}");
    let database = workspace.database().await;
    let stored = database
        .user_by_email("nurse@clinic.example")
        .await
        .unwrap();
    assert_eq!(stored, None);
}

#[test]
fn user_add_with_an_unreachable_database_fails_with_one_line() {
    let workspace = Workspace::new();

    let output = run_intake(
        workspace.path(),
        &[
            "user",
            "add",
            "--org",
            "Riverside Clinic",
            "--email",
            "nurse@clinic.example",
            "--role",
            "staff",
        ],
        &[(
            "DATABASE_URL",
            "postgres://intake:s3cret-password@127.0.0.1:1/intake",
        )],
    );

    let error = one_line_error(&output);
    assert!(error.contains("DATABASE_URL"), "{error}");
    assert!(!error.contains("s3cret-password"), "{error}");
}
