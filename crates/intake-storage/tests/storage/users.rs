//! Users: created and found by id, e-mail and identity-provider identity;
//! duplicates refused; reads scoped by organization; identity-provider users
//! made once even when instances race.

use intake_storage::{Database, NewUser, OidcIdentity, Organization, StorageError, User};
use intake_testkit::database::TestDatabase;

const ISSUER: &str = "https://idp.example";

async fn migrated(test_database: &TestDatabase) -> Database {
    let database = Database::connect(&test_database.url()).await.unwrap();
    database.migrate().await.unwrap();
    database
}

async fn organization(database: &Database, name: &str) -> Organization {
    database.create_organization(name).await.unwrap()
}

fn local_user(organization: &Organization, email: &str) -> NewUser {
    NewUser {
        organization_id: organization.id.clone(),
        email: Some(email.to_owned()),
        role: "staff".to_owned(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        oidc: None,
    }
}

fn identity(subject: &str) -> OidcIdentity {
    OidcIdentity {
        issuer: ISSUER.to_owned(),
        subject: subject.to_owned(),
    }
}

#[tokio::test]
async fn a_created_user_is_found_by_id_and_by_email() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;

        let created = database
            .create_user(local_user(&clinic, "nurse@clinic.example"))
            .await
            .unwrap();
        let by_id = database.user(&created.id).await.unwrap();
        let by_email = database
            .user_by_email("nurse@clinic.example")
            .await
            .unwrap();

        assert_eq!(created.organization_id, clinic.id, "{backend}");
        assert_eq!(created.role, "staff", "{backend}");
        assert_eq!(created.oidc, None, "{backend}");
        assert!(created.password_hash.is_some(), "{backend}");
        assert_eq!(by_id.as_ref(), Some(&created), "{backend}");
        assert_eq!(by_email.as_ref(), Some(&created), "{backend}");
        assert_eq!(
            uuid::Uuid::parse_str(&created.id)
                .unwrap()
                .get_version_num(),
            4
        );
    }
}

#[tokio::test]
async fn email_is_stored_lowercased_and_found_whatever_its_case() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;

        let created = database
            .create_user(local_user(&clinic, "Nurse.Joy@Clinic.Example"))
            .await
            .unwrap();
        let found = database
            .user_by_email("NURSE.JOY@clinic.example")
            .await
            .unwrap();

        assert_eq!(
            created.email.as_deref(),
            Some("nurse.joy@clinic.example"),
            "{backend}"
        );
        assert_eq!(found.map(|user| user.id), Some(created.id), "{backend}");
    }
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_whatever_its_case_or_organization() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let first = organization(&database, "First").await;
        let second = organization(&database, "Second").await;
        database
            .create_user(local_user(&first, "nurse@clinic.example"))
            .await
            .unwrap();

        let same_organization = database
            .create_user(local_user(&first, "NURSE@clinic.example"))
            .await
            .unwrap_err();
        let other_organization = database
            .create_user(local_user(&second, "nurse@clinic.example"))
            .await
            .unwrap_err();

        for error in [same_organization, other_organization] {
            assert!(
                matches!(error, StorageError::Conflict { .. }),
                "{backend}: {error:?}"
            );
        }
    }
}

#[tokio::test]
async fn users_without_email_do_not_conflict_with_each_other() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;
        let without_email = |subject: &str| NewUser {
            email: None,
            password_hash: None,
            oidc: Some(identity(subject)),
            ..local_user(&clinic, "unused@clinic.example")
        };

        let first = database.create_user(without_email("first")).await;
        let second = database.create_user(without_email("second")).await;

        assert!(first.is_ok(), "{backend}: {first:?}");
        assert!(second.is_ok(), "{backend}: {second:?}");
    }
}

#[tokio::test]
async fn a_duplicate_identity_is_a_conflict() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;
        let with_identity = |email: &str| NewUser {
            password_hash: None,
            oidc: Some(identity("subject-1")),
            ..local_user(&clinic, email)
        };
        database
            .create_user(with_identity("first@clinic.example"))
            .await
            .unwrap();

        let error = database
            .create_user(with_identity("second@clinic.example"))
            .await
            .unwrap_err();

        assert!(
            matches!(error, StorageError::Conflict { .. }),
            "{backend}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_user_in_an_unknown_organization_is_not_found() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let ghost = Organization {
            id: "00000000-0000-4000-8000-000000000000".to_owned(),
            name: "Ghost".to_owned(),
            created_at: time::OffsetDateTime::now_utc(),
        };

        let error = database
            .create_user(local_user(&ghost, "nurse@clinic.example"))
            .await
            .unwrap_err();

        assert!(
            matches!(error, StorageError::NotFound),
            "{backend}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_unknown_role_is_refused_by_the_table() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;
        let superuser = NewUser {
            role: "superuser".to_owned(),
            ..local_user(&clinic, "nurse@clinic.example")
        };

        let error = database.create_user(superuser).await.unwrap_err();

        assert!(
            matches!(error, StorageError::Other { .. }),
            "{backend}: {error:?}"
        );
        assert_eq!(
            database
                .user_by_email("nurse@clinic.example")
                .await
                .unwrap(),
            None,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_user_is_found_in_its_own_organization_and_not_in_another() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let own = organization(&database, "Own").await;
        let other = organization(&database, "Other").await;
        let user = database
            .create_user(local_user(&own, "nurse@clinic.example"))
            .await
            .unwrap();

        let in_own = database.user_in_organization(&own.id, &user.id).await;
        let in_other = database.user_in_organization(&other.id, &user.id).await;

        assert_eq!(in_own.unwrap(), Some(user), "{backend}");
        assert_eq!(in_other.unwrap(), None, "{backend}");
    }
}

#[tokio::test]
async fn unknown_users_are_none() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;

        let by_id = database.user("00000000-0000-4000-8000-000000000000").await;
        let by_email = database.user_by_email("nobody@clinic.example").await;
        let by_oidc = database.user_by_oidc(ISSUER, "nobody").await;
        let scoped = database
            .user_in_organization(&clinic.id, "00000000-0000-4000-8000-000000000000")
            .await;

        assert_eq!(by_id.unwrap(), None, "{backend}");
        assert_eq!(by_email.unwrap(), None, "{backend}");
        assert_eq!(by_oidc.unwrap(), None, "{backend}");
        assert_eq!(scoped.unwrap(), None, "{backend}");
    }
}

#[tokio::test]
async fn an_identity_provider_user_is_created_once_and_then_found() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;
        let subject = identity("subject-1");

        let created = database
            .find_or_create_oidc_user(&subject, &clinic.id, "respondent", Some("Pat@Example.org"))
            .await
            .unwrap();
        let again = database
            .find_or_create_oidc_user(&subject, &clinic.id, "admin", None)
            .await
            .unwrap();
        let by_oidc = database.user_by_oidc(ISSUER, "subject-1").await.unwrap();

        assert_eq!(created.oidc, Some(subject.clone()), "{backend}");
        assert_eq!(created.role, "respondent", "{backend}");
        assert_eq!(
            created.email.as_deref(),
            Some("pat@example.org"),
            "{backend}"
        );
        assert_eq!(created.password_hash, None, "{backend}");
        assert_eq!(again, created, "{backend}: the stored role is kept");
        assert_eq!(by_oidc, Some(created), "{backend}");
    }
}

#[tokio::test]
async fn the_same_subject_at_another_issuer_is_another_user() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;
        let elsewhere = OidcIdentity {
            issuer: "https://other-idp.example".to_owned(),
            subject: "subject-1".to_owned(),
        };

        let first = database
            .find_or_create_oidc_user(&identity("subject-1"), &clinic.id, "staff", None)
            .await
            .unwrap();
        let second = database
            .find_or_create_oidc_user(&elsewhere, &clinic.id, "staff", None)
            .await
            .unwrap();

        assert_ne!(first.id, second.id, "{backend}");
    }
}

#[tokio::test]
async fn a_first_identity_provider_login_links_a_user_added_without_password() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;
        let provisioned = database
            .create_user(NewUser {
                role: "admin".to_owned(),
                password_hash: None,
                ..local_user(&clinic, "dr.who@clinic.example")
            })
            .await
            .unwrap();

        let signed_in = database
            .find_or_create_oidc_user(
                &identity("subject-1"),
                &clinic.id,
                "respondent",
                Some("Dr.Who@clinic.example"),
            )
            .await
            .unwrap();

        assert_eq!(signed_in.id, provisioned.id, "{backend}");
        assert_eq!(
            signed_in.role, "admin",
            "{backend}: the provisioned role is kept"
        );
        assert_eq!(signed_in.oidc, Some(identity("subject-1")), "{backend}");
    }
}

#[tokio::test]
async fn an_email_of_another_organization_or_identity_is_a_conflict_not_a_link() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let own = organization(&database, "Own").await;
        let other = organization(&database, "Other").await;
        database
            .create_user(local_user(&other, "nurse@clinic.example"))
            .await
            .unwrap();
        database
            .find_or_create_oidc_user(
                &identity("linked"),
                &own.id,
                "staff",
                Some("linked@clinic.example"),
            )
            .await
            .unwrap();

        let other_organization = database
            .find_or_create_oidc_user(
                &identity("subject-1"),
                &own.id,
                "staff",
                Some("nurse@clinic.example"),
            )
            .await
            .unwrap_err();
        let other_identity = database
            .find_or_create_oidc_user(
                &identity("subject-2"),
                &own.id,
                "staff",
                Some("linked@clinic.example"),
            )
            .await
            .unwrap_err();

        for error in [other_organization, other_identity] {
            assert!(
                matches!(error, StorageError::Conflict { .. }),
                "{backend}: {error:?}"
            );
        }
        assert_eq!(
            database.user_by_oidc(ISSUER, "subject-1").await.unwrap(),
            None,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn an_identity_provider_user_of_an_unknown_organization_is_not_found() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;

        let error = database
            .find_or_create_oidc_user(
                &identity("subject-1"),
                "00000000-0000-4000-8000-000000000000",
                "staff",
                None,
            )
            .await
            .unwrap_err();

        assert!(
            matches!(error, StorageError::NotFound),
            "{backend}: {error:?}"
        );
    }
}

/// Every racer is an instance of its own, with its own pool, as when one
/// person's first login reaches several intake processes at once.
async fn race_first_logins(
    test_database: &TestDatabase,
    organization_id: &str,
    subject: &str,
    email: Option<&str>,
) -> Vec<User> {
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let url = test_database.url();
            let organization_id = organization_id.to_owned();
            let subject = identity(subject);
            let email = email.map(str::to_owned);
            tokio::spawn(async move {
                let instance = Database::connect(&url).await.unwrap();
                instance
                    .find_or_create_oidc_user(
                        &subject,
                        &organization_id,
                        "respondent",
                        email.as_deref(),
                    )
                    .await
            })
        })
        .collect();
    let mut users = Vec::new();
    for racer in racers {
        users.push(racer.await.unwrap().unwrap());
    }
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_racing_on_a_first_login_all_get_the_one_user_stored() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;

        for (subject, email) in [
            ("without-email", None),
            ("with-email", Some("racer@clinic.example")),
        ] {
            let users = race_first_logins(&test_database, &clinic.id, subject, email).await;

            let stored = database
                .user_by_oidc(ISSUER, subject)
                .await
                .unwrap()
                .expect("one user stored");
            assert!(
                users.iter().all(|user| *user == stored),
                "{backend}, {subject}: {users:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_racing_to_link_a_provisioned_user_all_get_that_user() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let clinic = organization(&database, "Clinic").await;
        let provisioned = database
            .create_user(NewUser {
                password_hash: None,
                ..local_user(&clinic, "racer@clinic.example")
            })
            .await
            .unwrap();

        let users = race_first_logins(
            &test_database,
            &clinic.id,
            "linking",
            Some("racer@clinic.example"),
        )
        .await;

        assert!(
            users.iter().all(|user| user.id == provisioned.id),
            "{backend}: {users:?}"
        );
    }
}

#[tokio::test]
async fn a_debug_printed_user_shows_neither_its_email_nor_its_password_hash() {
    let test_database = TestDatabase::sqlite();
    let database = migrated(&test_database).await;
    let clinic = organization(&database, "Clinic").await;
    let new_user = local_user(&clinic, "nurse@clinic.example");

    let user = database.create_user(new_user.clone()).await.unwrap();

    for debug in [format!("{user:?}"), format!("{new_user:?}")] {
        assert!(!debug.contains("nurse"), "{debug}");
        assert!(!debug.contains("argon2id"), "{debug}");
        assert!(debug.contains(&clinic.id), "{debug}");
    }
}
