//! Connecting, migrating, pinging and closing, on both backends, and how
//! connection failures are reported.

use std::time::{Duration, Instant};

use intake_storage::{Backend, Database, StorageError};
use intake_testkit::database::TestDatabase;

#[tokio::test]
async fn connecting_and_migrating_twice_changes_nothing_the_second_time() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();

        let database = Database::connect(&test_database.url()).await.unwrap();
        database.migrate().await.unwrap();
        database.migrate().await.unwrap();
        database.close().await;

        let reconnected = Database::connect(&test_database.url()).await.unwrap();
        reconnected
            .migrate()
            .await
            .unwrap_or_else(|error| panic!("{backend}: {error}"));
        reconnected.close().await;
    }
}

#[tokio::test]
async fn a_connected_database_answers_a_ping() {
    for test_database in TestDatabase::all() {
        let database = Database::connect(&test_database.url()).await.unwrap();

        let ping = database.ping().await;

        assert!(ping.is_ok(), "{}: {ping:?}", test_database.backend());
    }
}

#[tokio::test]
async fn the_backend_is_named_after_the_url_scheme() {
    for test_database in TestDatabase::all() {
        let database = Database::connect(&test_database.url()).await.unwrap();

        assert_eq!(database.backend().as_str(), test_database.backend());
    }
    assert_eq!(Backend::Sqlite.as_str(), "sqlite");
    assert_eq!(Backend::Postgres.as_str(), "postgres");
}

#[tokio::test]
async fn the_postgresql_scheme_is_accepted_as_well_as_postgres() {
    let Some(test_database) = TestDatabase::postgres() else {
        return;
    };
    let url = test_database
        .url()
        .replacen("postgres://", "postgresql://", 1);

    let database = Database::connect(&url).await.unwrap();

    assert_eq!(database.backend(), Backend::Postgres);
}

#[tokio::test]
async fn a_missing_sqlite_file_is_created() {
    let test_database = TestDatabase::sqlite();
    let path = test_database.url().replacen("sqlite://", "", 1);
    assert!(!std::path::Path::new(&path).exists());

    Database::connect(&test_database.url()).await.unwrap();

    assert!(std::path::Path::new(&path).exists());
}

#[tokio::test]
async fn the_postgresql_test_database_keeps_its_tables_in_its_own_schema() {
    let Some(first) = TestDatabase::postgres() else {
        return;
    };
    let second = TestDatabase::postgres().unwrap();
    let first_database = Database::connect(&first.url()).await.unwrap();
    let second_database = Database::connect(&second.url()).await.unwrap();
    first_database.migrate().await.unwrap();
    second_database.migrate().await.unwrap();

    first_database
        .development_secret_key(b"first")
        .await
        .unwrap();
    let seen_by_second = second_database.development_secret_key(b"second").await;

    assert_eq!(seen_by_second.unwrap(), b"second");
}

#[tokio::test]
async fn an_unknown_scheme_is_refused_with_an_error_naming_it() {
    let error = Database::connect("mysql://intake:s3cret-password@127.0.0.1/intake")
        .await
        .unwrap_err();

    let message = error.to_string();
    assert!(
        matches!(error, StorageError::InvalidUrl { .. }),
        "{error:?}"
    );
    assert!(message.contains("`mysql`"), "{message}");
    assert!(!message.contains("s3cret-password"), "{message}");
}

#[tokio::test]
async fn an_unreachable_postgresql_fails_fast_as_unavailable_without_its_password() {
    let url = "postgres://intake:s3cret-password@127.0.0.1:1/intake";
    let started = Instant::now();

    let error = Database::connect(url).await.unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(error, StorageError::Unavailable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    let debug = format!("{error:?}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!message.contains("s3cret-password"), "{message}");
    assert!(!debug.contains("s3cret-password"), "{debug}");
}

#[tokio::test]
async fn a_closed_database_is_unavailable() {
    for test_database in TestDatabase::all() {
        let database = Database::connect(&test_database.url()).await.unwrap();
        database.close().await;

        let error = database.ping().await.unwrap_err();

        assert!(
            matches!(error, StorageError::Unavailable { .. }),
            "{}: {error:?}",
            test_database.backend()
        );
    }
}

#[tokio::test]
async fn a_connected_database_does_not_show_its_password_when_debug_printed() {
    let Some(test_database) = TestDatabase::postgres() else {
        return;
    };
    // The local server trusts every connection, so the password is ignored
    // by it but still present in the URL the handle was made from.
    let url = test_database.url().replacen("@", ":s3cret-password@", 1);

    let database = Database::connect(&url).await.unwrap();

    let debug = format!("{database:?}");
    assert!(!debug.contains("s3cret-password"), "{debug}");
}
