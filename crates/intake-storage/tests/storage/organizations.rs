//! Organizations: created with a random id, found by id or by name, names
//! unique.

use intake_storage::{Database, StorageError};
use intake_testkit::database::TestDatabase;

async fn migrated(test_database: &TestDatabase) -> Database {
    let database = Database::connect(&test_database.url()).await.unwrap();
    database.migrate().await.unwrap();
    database
}

#[tokio::test]
async fn a_created_organization_is_found_by_its_id_and_by_its_name() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;

        let created = database
            .create_organization("Riverside Clinic")
            .await
            .unwrap();
        let by_id = database.organization(&created.id).await.unwrap();
        let by_name = database
            .organization_by_name("Riverside Clinic")
            .await
            .unwrap();

        assert_eq!(created.name, "Riverside Clinic", "{backend}");
        assert_eq!(by_id.as_ref(), Some(&created), "{backend}");
        assert_eq!(by_name.as_ref(), Some(&created), "{backend}");
    }
}

#[tokio::test]
async fn organization_ids_are_random_uuids() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;

        let first = database.create_organization("First").await.unwrap();
        let second = database.create_organization("Second").await.unwrap();

        for id in [&first.id, &second.id] {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{backend}: {id}");
        }
        assert_ne!(first.id, second.id, "{backend}");
    }
}

#[tokio::test]
async fn a_second_organization_with_the_same_name_is_a_conflict() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        database
            .create_organization("Riverside Clinic")
            .await
            .unwrap();

        let error = database
            .create_organization("Riverside Clinic")
            .await
            .unwrap_err();

        assert!(
            matches!(error, StorageError::Conflict { .. }),
            "{backend}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_unknown_organization_is_none() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        database
            .create_organization("Riverside Clinic")
            .await
            .unwrap();

        let by_id = database
            .organization("00000000-0000-4000-8000-000000000000")
            .await;
        let by_name = database.organization_by_name("riverside clinic").await;

        assert_eq!(by_id.unwrap(), None, "{backend}");
        assert_eq!(by_name.unwrap(), None, "{backend}: names are exact");
    }
}

#[tokio::test]
async fn the_creation_time_is_recorded() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(60);

        let created = database
            .create_organization("Riverside Clinic")
            .await
            .unwrap();

        let after = time::OffsetDateTime::now_utc() + time::Duration::seconds(60);
        assert!(
            (before..after).contains(&created.created_at),
            "{backend}: {}",
            created.created_at
        );
    }
}
