//! Forms: created as drafts, edited in place until published, versioned
//! after; published versions frozen, even behind the API's back; retired
//! forms closed; another organization's forms invisible; concurrent edits
//! and publishes numbering versions without duplicates.

use std::collections::BTreeSet;

use intake_storage::forms::{ACTIVE, DRAFT, RETIRED};
use intake_storage::{Database, Form, NewForm, NewUser, Organization, StorageError, User};
use intake_testkit::database::TestDatabase;

/// The first version's items.
pub const INTAKE_ITEMS: &str = r#"[{"linkId":"name","text":"Name","type":"string"}]"#;
/// The items of an edit.
pub const EDITED_ITEMS: &str = r#"[{"linkId":"name","text":"Full name","type":"string"}]"#;

/// An organization with a staff member who designs forms and a patient who
/// answers them.
pub struct Clinic {
    pub organization: Organization,
    pub staff: User,
    pub respondent: User,
}

impl Clinic {
    pub fn id(&self) -> &str {
        &self.organization.id
    }
}

pub async fn migrated(test_database: &TestDatabase) -> Database {
    let database = Database::connect(&test_database.url()).await.unwrap();
    database.migrate().await.unwrap();
    database
}

/// A clinic called `name`; `name` also keeps its users' e-mail addresses
/// apart from other clinics'.
pub async fn clinic(database: &Database, name: &str) -> Clinic {
    let organization = database.create_organization(name).await.unwrap();
    let user = |role: &str| NewUser {
        organization_id: organization.id.clone(),
        email: Some(format!("{role}@{name}.example")),
        role: role.to_owned(),
        password_hash: None,
        oidc: None,
    };
    let staff = database.create_user(user("staff")).await.unwrap();
    let respondent = database.create_user(user("respondent")).await.unwrap();
    Clinic {
        organization,
        staff,
        respondent,
    }
}

pub fn new_form(clinic: &Clinic, title: &str) -> NewForm {
    NewForm {
        organization_id: clinic.id().to_owned(),
        created_by: clinic.staff.id.clone(),
        title: title.to_owned(),
        description: Some("Before your first visit".to_owned()),
        definition: INTAKE_ITEMS.to_owned(),
    }
}

/// A form of `clinic` with version 1 published.
pub async fn published_form(database: &Database, clinic: &Clinic) -> Form {
    let form = database
        .create_form(new_form(clinic, "Intake"))
        .await
        .unwrap();
    database
        .publish_form(clinic.id(), &form.id)
        .await
        .unwrap()
        .unwrap()
}

/// Makes version 2 of a published `form`, with the edited items.
pub async fn edit(database: &Database, clinic: &Clinic, form: &Form) -> Form {
    database
        .update_form(clinic.id(), &form.id, "Intake v2", None, EDITED_ITEMS)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_created_form_is_a_draft_at_version_1_found_by_id_and_listed() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;

        let created = database
            .create_form(new_form(&clinic, "Intake"))
            .await
            .unwrap();
        let found = database.form(clinic.id(), &created.id).await.unwrap();
        let listed = database.list_forms(clinic.id()).await.unwrap();

        assert_eq!(created.status, DRAFT, "{backend}");
        assert_eq!(created.version, 1, "{backend}");
        assert_eq!(created.published_version, None, "{backend}");
        assert!(!created.published, "{backend}");
        assert_eq!(created.published_at, None, "{backend}");
        assert_eq!(created.title, "Intake", "{backend}");
        assert_eq!(created.definition, INTAKE_ITEMS, "{backend}");
        assert_eq!(created.created_by, clinic.staff.id, "{backend}");
        assert_eq!(created.organization_id, clinic.organization.id, "{backend}");
        assert_eq!(found.as_ref(), Some(&created), "{backend}");
        assert_eq!(listed, vec![created.clone()], "{backend}");
        assert_eq!(
            uuid::Uuid::parse_str(&created.id)
                .unwrap()
                .get_version_num(),
            4
        );
    }
}

#[tokio::test]
async fn forms_are_listed_newest_first_in_their_latest_version() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let first = published_form(&database, &clinic).await;
        let first = edit(&database, &clinic, &first).await;
        let second = database
            .create_form(new_form(&clinic, "Consent"))
            .await
            .unwrap();

        let listed = database.list_forms(clinic.id()).await.unwrap();

        let ids: BTreeSet<_> = listed.iter().map(|form| form.id.as_str()).collect();
        assert_eq!(ids, BTreeSet::from([first.id.as_str(), second.id.as_str()]));
        assert!(
            listed
                .windows(2)
                .all(|pair| pair[0].created_at >= pair[1].created_at),
            "{backend}: {listed:?}"
        );
        let listed_first = listed.iter().find(|form| form.id == first.id).unwrap();
        assert_eq!(listed_first, &first, "{backend}");
        assert_eq!(listed_first.version, 2, "{backend}");
    }
}

#[tokio::test]
async fn editing_a_draft_changes_version_1_in_place() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let created = database
            .create_form(new_form(&clinic, "Intake"))
            .await
            .unwrap();

        let edited = database
            .update_form(
                clinic.id(),
                &created.id,
                "Intake (edited)",
                None,
                EDITED_ITEMS,
            )
            .await
            .unwrap()
            .unwrap();
        let version_1 = database
            .form_version(clinic.id(), &created.id, 1)
            .await
            .unwrap();
        let version_2 = database
            .form_version(clinic.id(), &created.id, 2)
            .await
            .unwrap();

        assert_eq!(edited.version, 1, "{backend}");
        assert_eq!(edited.status, DRAFT, "{backend}");
        assert_eq!(edited.title, "Intake (edited)", "{backend}");
        assert_eq!(edited.description, None, "{backend}");
        assert_eq!(edited.definition, EDITED_ITEMS, "{backend}");
        assert!(edited.updated_at >= created.updated_at, "{backend}");
        assert_eq!(version_1, Some(edited), "{backend}");
        assert_eq!(version_2, None, "{backend}");
    }
}

#[tokio::test]
async fn publishing_a_draft_freezes_version_1_and_activates_the_form() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let created = database
            .create_form(new_form(&clinic, "Intake"))
            .await
            .unwrap();

        let published = database
            .publish_form(clinic.id(), &created.id)
            .await
            .unwrap()
            .unwrap();
        let answering = database
            .published_form(clinic.id(), &created.id)
            .await
            .unwrap();

        assert_eq!(published.status, ACTIVE, "{backend}");
        assert_eq!(published.version, 1, "{backend}");
        assert_eq!(published.published_version, Some(1), "{backend}");
        assert!(published.published, "{backend}");
        assert!(published.published_at.is_some(), "{backend}");
        assert_eq!(published.definition, INTAKE_ITEMS, "{backend}");
        assert_eq!(answering, Some(published), "{backend}");
    }
}

#[tokio::test]
async fn a_form_never_published_has_no_published_version() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let created = database
            .create_form(new_form(&clinic, "Intake"))
            .await
            .unwrap();

        let answering = database
            .published_form(clinic.id(), &created.id)
            .await
            .unwrap();

        assert_eq!(answering, None, "{backend}");
    }
}

#[tokio::test]
async fn editing_a_published_form_makes_version_2_while_version_1_still_answers() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let published = published_form(&database, &clinic).await;

        let edited = edit(&database, &clinic, &published).await;
        let edited_again = database
            .update_form(clinic.id(), &published.id, "Intake v2b", None, EDITED_ITEMS)
            .await
            .unwrap()
            .unwrap();
        let latest = database.form(clinic.id(), &published.id).await.unwrap();
        let answering = database
            .published_form(clinic.id(), &published.id)
            .await
            .unwrap()
            .unwrap();

        assert_eq!(edited.version, 2, "{backend}");
        assert_eq!(edited.status, ACTIVE, "{backend}");
        assert_eq!(edited.published_version, Some(1), "{backend}");
        assert!(!edited.published, "{backend}");
        assert_eq!(edited.definition, EDITED_ITEMS, "{backend}");
        // The unpublished version 2 takes further edits in place.
        assert_eq!(edited_again.version, 2, "{backend}");
        assert_eq!(latest, Some(edited_again), "{backend}");
        assert_eq!(answering.version, 1, "{backend}");
        assert_eq!(answering.title, published.title, "{backend}");
        assert_eq!(answering.definition, INTAKE_ITEMS, "{backend}");
        assert_eq!(answering.published_at, published.published_at, "{backend}");
    }
}

#[tokio::test]
async fn publishing_version_2_leaves_version_1_readable_as_it_was() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let version_1 = published_form(&database, &clinic).await;
        edit(&database, &clinic, &version_1).await;

        let version_2 = database
            .publish_form(clinic.id(), &version_1.id)
            .await
            .unwrap()
            .unwrap();
        let answering = database
            .published_form(clinic.id(), &version_1.id)
            .await
            .unwrap();
        let old = database
            .form_version(clinic.id(), &version_1.id, 1)
            .await
            .unwrap()
            .unwrap();

        assert_eq!(version_2.version, 2, "{backend}");
        assert_eq!(version_2.published_version, Some(2), "{backend}");
        assert!(version_2.published, "{backend}");
        assert_eq!(answering, Some(version_2.clone()), "{backend}");
        assert_eq!(old.definition, INTAKE_ITEMS, "{backend}");
        assert_eq!(old.title, version_1.title, "{backend}");
        assert_eq!(old.published_at, version_1.published_at, "{backend}");
        // The form's own fields are today's, whichever version is shown.
        assert_eq!(old.published_version, Some(2), "{backend}");
    }
}

#[tokio::test]
async fn publishing_a_published_version_again_changes_nothing() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let published = published_form(&database, &clinic).await;

        let again = database
            .publish_form(clinic.id(), &published.id)
            .await
            .unwrap();

        assert_eq!(again, Some(published), "{backend}");
    }
}

#[tokio::test]
async fn a_retired_form_refuses_edits_and_publishes_but_can_still_be_read() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let published = published_form(&database, &clinic).await;
        let form_id = published.id.as_str();

        let retired = database
            .retire_form(clinic.id(), form_id)
            .await
            .unwrap()
            .unwrap();
        let retired_again = database.retire_form(clinic.id(), form_id).await.unwrap();
        let update = database
            .update_form(clinic.id(), form_id, "Too late", None, EDITED_ITEMS)
            .await;
        let publish = database.publish_form(clinic.id(), form_id).await;

        assert_eq!(retired.status, RETIRED, "{backend}");
        assert_eq!(retired.version, 1, "{backend}");
        assert_eq!(retired_again, Some(retired.clone()), "{backend}");
        for error in [update.unwrap_err(), publish.unwrap_err()] {
            assert!(
                matches!(&error, StorageError::WrongFormStatus { status } if status == RETIRED),
                "{backend}: {error:?}"
            );
        }
        let read = database.form(clinic.id(), form_id).await.unwrap();
        let answering = database.published_form(clinic.id(), form_id).await.unwrap();
        assert_eq!(read, Some(retired.clone()), "{backend}");
        assert_eq!(answering, Some(retired), "{backend}");
    }
}

#[tokio::test]
async fn a_draft_can_be_retired() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let draft = database
            .create_form(new_form(&clinic, "Intake"))
            .await
            .unwrap();

        let retired = database
            .retire_form(clinic.id(), &draft.id)
            .await
            .unwrap()
            .unwrap();

        assert_eq!(retired.status, RETIRED, "{backend}");
        assert_eq!(retired.published_version, None, "{backend}");
    }
}

#[tokio::test]
async fn another_organizations_form_is_invisible_to_every_method() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let own = clinic(&database, "own").await;
        let other = clinic(&database, "other").await;
        let form = published_form(&database, &own).await;
        let form_id = form.id.as_str();
        let other_id = other.id();

        assert_eq!(database.form(other_id, form_id).await.unwrap(), None);
        assert_eq!(
            database.form_version(other_id, form_id, 1).await.unwrap(),
            None,
            "{backend}"
        );
        assert_eq!(
            database.published_form(other_id, form_id).await.unwrap(),
            None,
            "{backend}"
        );
        assert_eq!(
            database.list_forms(other_id).await.unwrap(),
            vec![],
            "{backend}"
        );
        let update = database
            .update_form(other_id, form_id, "Hijacked", None, EDITED_ITEMS)
            .await;
        assert_eq!(update.unwrap(), None, "{backend}");
        assert_eq!(
            database.publish_form(other_id, form_id).await.unwrap(),
            None,
            "{backend}"
        );
        assert_eq!(
            database.retire_form(other_id, form_id).await.unwrap(),
            None,
            "{backend}"
        );
        // Nothing the other organization tried changed the form.
        assert_eq!(
            database.form(own.id(), form_id).await.unwrap(),
            Some(form),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn unknown_forms_and_versions_are_none() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;
        let unknown = "00000000-0000-4000-8000-000000000000";

        assert_eq!(database.form(clinic.id(), unknown).await.unwrap(), None);
        for version in [0, 2, u32::MAX] {
            let found = database.form_version(clinic.id(), &form.id, version).await;
            assert_eq!(found.unwrap(), None, "{backend}: version {version}");
        }
        let update = database
            .update_form(clinic.id(), unknown, "Title", None, EDITED_ITEMS)
            .await;
        assert_eq!(update.unwrap(), None, "{backend}");
        assert_eq!(
            database.publish_form(clinic.id(), unknown).await.unwrap(),
            None,
            "{backend}"
        );
        assert_eq!(
            database.retire_form(clinic.id(), unknown).await.unwrap(),
            None,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_form_by_an_author_outside_the_organization_is_not_found() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let own = clinic(&database, "own").await;
        let other = clinic(&database, "other").await;
        let foreign_author = NewForm {
            created_by: other.staff.id.clone(),
            ..new_form(&own, "Intake")
        };
        let unknown_organization = NewForm {
            organization_id: "00000000-0000-4000-8000-000000000000".to_owned(),
            ..new_form(&own, "Intake")
        };

        let foreign_author = database.create_form(foreign_author).await;
        let unknown_organization = database.create_form(unknown_organization).await;

        for error in [
            foreign_author.unwrap_err(),
            unknown_organization.unwrap_err(),
        ] {
            assert!(
                matches!(error, StorageError::NotFound),
                "{backend}: {error:?}"
            );
        }
        assert_eq!(database.list_forms(own.id()).await.unwrap(), vec![]);
    }
}

#[tokio::test]
async fn the_database_itself_refuses_to_change_or_delete_a_published_version() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;
        edit(&database, &clinic, &form).await;
        let change = |version: u32| {
            format!(
                "UPDATE form_versions SET title = 'Forged' \
                 WHERE form_id = '{}' AND version = {version}",
                form.id
            )
        };
        let delete = format!(
            "DELETE FROM form_versions WHERE form_id = '{}' AND version = 1",
            form.id
        );

        let unpublished = raw_execute(&test_database, &change(2)).await;
        let published = raw_execute(&test_database, &change(1)).await;
        let deleted = raw_execute(&test_database, &delete).await;

        assert!(unpublished.is_ok(), "{backend}: {unpublished:?}");
        for refused in [published, deleted] {
            let error = refused.unwrap_err().to_string();
            assert!(
                error.contains("a published form version cannot"),
                "{backend}: {error}"
            );
        }
        let stored = database
            .form_version(clinic.id(), &form.id, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.title, form.title, "{backend}");
        assert_eq!(stored.definition, form.definition, "{backend}");
    }
}

/// Runs `statement` on a connection of its own, behind the storage API's
/// back, as someone with access to the database could.
async fn raw_execute(test_database: &TestDatabase, statement: &str) -> Result<(), sqlx::Error> {
    let statement = sqlx::AssertSqlSafe(statement.to_owned());
    let url = test_database.url();
    match test_database.backend() {
        "sqlite" => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let outcome = sqlx::query(statement).execute(&pool).await.map(drop);
            pool.close().await;
            outcome
        }
        _ => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let outcome = sqlx::query(statement).execute(&pool).await.map(drop);
            pool.close().await;
            outcome
        }
    }
}

#[tokio::test]
async fn concurrent_edits_of_a_published_form_make_exactly_one_new_version() {
    const EDITORS: usize = 8;
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;

        let editors: Vec<_> = (0..EDITORS)
            .map(|editor| {
                let database = database.clone();
                let organization_id = clinic.id().to_owned();
                let form_id = form.id.clone();
                tokio::spawn(async move {
                    let title = format!("Edit {editor}");
                    database
                        .update_form(&organization_id, &form_id, &title, None, EDITED_ITEMS)
                        .await
                })
            })
            .collect();
        let mut versions = BTreeSet::new();
        for editor in editors {
            let edited = editor.await.unwrap();
            versions.insert(edited.unwrap().unwrap().version);
        }

        assert_eq!(versions, BTreeSet::from([2]), "{backend}");
        let version_3 = database.form_version(clinic.id(), &form.id, 3).await;
        assert_eq!(version_3.unwrap(), None, "{backend}");
        let answering = database
            .published_form(clinic.id(), &form.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answering.version, 1, "{backend}");
        assert_eq!(answering.definition, form.definition, "{backend}");
    }
}

#[tokio::test]
async fn concurrent_edits_and_publishes_number_versions_without_gaps_or_duplicates() {
    const WRITERS: usize = 6;
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = clinic(&database, "clinic").await;
        let form = published_form(&database, &clinic).await;

        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let database = database.clone();
                let organization_id = clinic.id().to_owned();
                let form_id = form.id.clone();
                tokio::spawn(async move {
                    let title = format!("Edit {writer}");
                    database
                        .update_form(&organization_id, &form_id, &title, None, EDITED_ITEMS)
                        .await?;
                    database.publish_form(&organization_id, &form_id).await
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap().unwrap();
        }

        let latest = database.form(clinic.id(), &form.id).await.unwrap().unwrap();
        assert!(latest.published, "{backend}: {latest:?}");
        assert_eq!(latest.published_version, Some(latest.version), "{backend}");
        assert!(
            (2..=1 + WRITERS as u32).contains(&latest.version),
            "{backend}: {latest:?}"
        );
        for version in 1..=latest.version {
            let stored = database
                .form_version(clinic.id(), &form.id, version)
                .await
                .unwrap();
            let stored = stored.unwrap_or_else(|| panic!("{backend}: no version {version}"));
            assert!(stored.published, "{backend}: version {version} unpublished");
        }
    }
}
