//! The development secret key: made once, kept, and agreed on by every
//! instance sharing the database.

use intake_storage::{Database, StorageError};
use intake_testkit::database::TestDatabase;

async fn migrated(test_database: &TestDatabase) -> Database {
    let database = Database::connect(&test_database.url()).await.unwrap();
    database.migrate().await.unwrap();
    database
}

#[tokio::test]
async fn the_first_candidate_becomes_the_development_secret_key_for_good() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;

        let first = database.development_secret_key(b"first candidate").await;
        let second = database.development_secret_key(b"second candidate").await;

        assert_eq!(first.unwrap(), b"first candidate", "{backend}");
        assert_eq!(second.unwrap(), b"first candidate", "{backend}");
    }
}

#[tokio::test]
async fn another_instance_on_the_same_database_gets_the_same_key() {
    for test_database in TestDatabase::all() {
        let first_instance = migrated(&test_database).await;
        let second_instance = migrated(&test_database).await;

        let stored = first_instance
            .development_secret_key(b"kept")
            .await
            .unwrap();
        let seen = second_instance
            .development_secret_key(b"other")
            .await
            .unwrap();

        assert_eq!(stored, b"kept", "{}", test_database.backend());
        assert_eq!(seen, stored, "{}", test_database.backend());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_racing_to_store_a_key_all_get_the_same_one() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        migrated(&test_database).await;

        // Each racer is an instance of its own, with its own pool, as when
        // several intake processes start at once.
        let racers: Vec<_> = (0..8_u8)
            .map(|racer| {
                let url = test_database.url();
                tokio::spawn(async move {
                    let instance = Database::connect(&url).await.unwrap();
                    instance.development_secret_key(&[racer; 32]).await.unwrap()
                })
            })
            .collect();
        let mut keys = Vec::new();
        for racer in racers {
            keys.push(racer.await.unwrap());
        }

        assert!(
            keys.windows(2).all(|pair| pair[0] == pair[1]),
            "{backend}: {keys:?}"
        );
    }
}

#[tokio::test]
async fn asking_for_the_key_before_migrating_is_an_error_not_a_panic() {
    for test_database in TestDatabase::all() {
        let database = Database::connect(&test_database.url()).await.unwrap();

        let error = database
            .development_secret_key(b"candidate")
            .await
            .unwrap_err();

        assert!(
            matches!(error, StorageError::Other { .. }),
            "{}: {error:?}",
            test_database.backend()
        );
    }
}
