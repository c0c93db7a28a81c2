//! The audit trail: rows appended and read back in order and by
//! organization; the chain check names an edited, a deleted and a reordered
//! row; appends racing from many tasks and from two handles still make one
//! valid chain.
//!
//! Tampering is done with SQL behind the storage API's back, after dropping
//! the append-only triggers, as an attacker with database access would.

use hmac::{Hmac, Mac};
use intake_storage::audit::{BreakKind, ChainBreak, GENESIS_MAC};
use intake_storage::{AuditFilter, Backend, Database, NewAuditEvent, StorageError};
use intake_testkit::database::TestDatabase;
use sha2::Sha256;
use time::OffsetDateTime;

/// The key an application would derive; storage only ever sees `mac`.
const KEY: &[u8] = b"a test key that storage never sees";

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn mac(message: &[u8]) -> String {
    hmac_hex(KEY, message)
}

fn other_key_mac(message: &[u8]) -> String {
    hmac_hex(b"another key", message)
}

/// 2024-01-01T00:00:00Z plus `seconds`.
fn new_year_plus(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_704_067_200 + seconds).unwrap()
}

async fn migrated(test_database: &TestDatabase) -> Database {
    let database = Database::connect(&test_database.url()).await.unwrap();
    database.migrate().await.unwrap();
    database
}

fn event(name: &str, organization_id: Option<&str>, occurred_at: OffsetDateTime) -> NewAuditEvent {
    NewAuditEvent {
        occurred_at,
        event: name.to_owned(),
        outcome: "success".to_owned(),
        security: false,
        actor_user_id: Some("user-1".to_owned()),
        organization_id: organization_id.map(str::to_owned),
        client_ip: Some("203.0.113.7".to_owned()),
        request_id: Some("request-1".to_owned()),
        resource_type: Some("session".to_owned()),
        resource_id: Some("abc123".to_owned()),
    }
}

/// Appends `count` events, one second apart from 2024-01-01, alternating
/// between two organizations.
async fn append_events(database: &Database, count: usize) {
    for index in 0..count {
        let organization = if index % 2 == 0 { "org-a" } else { "org-b" };
        let occurred_at = new_year_plus(index as i64);
        let new_event = event(&format!("event.{index}"), Some(organization), occurred_at);
        database.append_audit_event(&new_event, &mac).await.unwrap();
    }
}

/// Runs `statements` with sqlx directly, behind the storage API.
async fn tamper(test_database: &TestDatabase, statements: &[&str]) {
    let url = test_database.url();
    match Database::connect(&url).await.unwrap().backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(*statement))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            for statement in statements {
                sqlx::query(sqlx::AssertSqlSafe(*statement))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
    }
}

/// Drops the append-only triggers, as someone with the owner's access can.
fn drop_triggers(backend: &str) -> &'static [&'static str] {
    match backend {
        "sqlite" => &[
            "DROP TRIGGER audit_events_refuse_update",
            "DROP TRIGGER audit_events_refuse_delete",
        ],
        _ => &["DROP TRIGGER audit_events_refuse_update_delete ON audit_events"],
    }
}

async fn first_break(database: &Database) -> Option<ChainBreak> {
    let verification = database.verify_audit_chain(&mac, 2).await.unwrap();
    verification.broken
}

#[tokio::test]
async fn appended_events_are_numbered_chained_and_read_back_as_written() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let occurred_at =
            OffsetDateTime::from_unix_timestamp_nanos(1_704_067_200_123_456_789).unwrap();
        let written = event("login.succeeded", Some("org-a"), occurred_at);

        let first = database.append_audit_event(&written, &mac).await.unwrap();
        let second = database.append_audit_event(&written, &mac).await.unwrap();
        let read = database.audit_chain(0, 10).await.unwrap();

        assert_eq!(first.sequence, 1, "{backend}");
        assert_eq!(first.previous_mac, GENESIS_MAC, "{backend}");
        assert_eq!(second.sequence, 2, "{backend}");
        assert_eq!(second.previous_mac, first.mac, "{backend}");
        assert_eq!(read, vec![first.clone(), second], "{backend}");
        assert_eq!(
            read[0].content.occurred_at.unix_timestamp_nanos(),
            1_704_067_200_123_456_000,
            "{backend}: kept to the microsecond"
        );
        assert_eq!(read[0].content.event, "login.succeeded", "{backend}");
        assert_eq!(read[0].content.resource_id.as_deref(), Some("abc123"));
    }
}

#[tokio::test]
async fn events_are_read_by_organization_page_time_and_name() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        append_events(&database, 10).await;
        let sequences = |rows: Vec<intake_storage::AuditRow>| {
            rows.iter().map(|row| row.sequence).collect::<Vec<_>>()
        };

        let first_page = AuditFilter {
            limit: 3,
            ..AuditFilter::default()
        };
        let org_a = database.audit_events(Some("org-a"), &first_page).await;
        let next_page = AuditFilter {
            after_sequence: 5,
            ..first_page.clone()
        };
        let org_a_next = database.audit_events(Some("org-a"), &next_page).await;
        let window = AuditFilter {
            from: Some(new_year_plus(2)),
            to: Some(new_year_plus(5)),
            ..AuditFilter::default()
        };
        let in_window = database.audit_events(None, &window).await;
        let named = AuditFilter {
            event: Some("event.4".to_owned()),
            ..AuditFilter::default()
        };
        let by_name = database.audit_events(None, &named).await;
        let elsewhere = database.audit_events(Some("org-c"), &first_page).await;

        assert_eq!(sequences(org_a.unwrap()), [1, 3, 5], "{backend}");
        assert_eq!(sequences(org_a_next.unwrap()), [7, 9], "{backend}");
        assert_eq!(sequences(in_window.unwrap()), [3, 4, 5, 6], "{backend}");
        assert_eq!(sequences(by_name.unwrap()), [5], "{backend}");
        assert!(elsewhere.unwrap().is_empty(), "{backend}");
    }
}

#[tokio::test]
async fn a_chain_as_appended_verifies_across_pages_and_not_with_another_key() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        let empty = database.verify_audit_chain(&mac, 2).await.unwrap();
        append_events(&database, 5).await;

        let verified = database.verify_audit_chain(&mac, 2).await.unwrap();
        let exact_pages = database.verify_audit_chain(&mac, 5).await.unwrap();
        let wrong_key = database
            .verify_audit_chain(&other_key_mac, 2)
            .await
            .unwrap();

        assert_eq!((empty.events, empty.broken), (0, None), "{backend}");
        assert_eq!((verified.events, verified.broken), (5, None), "{backend}");
        assert_eq!(exact_pages.events, 5, "{backend}");
        assert_eq!(
            wrong_key.broken.map(|broken| broken.kind),
            Some(BreakKind::MacMismatch),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn updating_or_deleting_a_row_is_refused() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        append_events(&database, 2).await;
        let url = test_database.url();

        let refusals = match database.backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                let update = sqlx::query("UPDATE audit_events SET event = 'x'")
                    .execute(&pool)
                    .await;
                let delete = sqlx::query("DELETE FROM audit_events").execute(&pool).await;
                [update.map(drop), delete.map(drop)]
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                let update = sqlx::query("UPDATE audit_events SET event = 'x'")
                    .execute(&pool)
                    .await;
                let delete = sqlx::query("DELETE FROM audit_events").execute(&pool).await;
                let truncate = sqlx::query("TRUNCATE audit_events").execute(&pool).await;
                assert!(truncate.is_err(), "{backend}: TRUNCATE went through");
                [update.map(drop), delete.map(drop)]
            }
        };

        for refusal in refusals {
            let error = StorageError::from(refusal.unwrap_err());
            assert!(
                error.to_string().contains("append-only"),
                "{backend}: {error}"
            );
        }
        let verified = database.verify_audit_chain(&mac, 10).await.unwrap();
        assert_eq!((verified.events, verified.broken), (2, None), "{backend}");
    }
}

#[tokio::test]
async fn an_edited_row_is_named_by_its_mac() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        append_events(&database, 5).await;
        let mut statements = drop_triggers(backend).to_vec();
        statements
            .push("UPDATE audit_events SET actor_user_id = 'someone-else' WHERE sequence = 3");
        tamper(&test_database, &statements).await;

        let broken = first_break(&database).await;

        assert_eq!(
            broken,
            Some(ChainBreak {
                sequence: 3,
                kind: BreakKind::MacMismatch
            }),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_deleted_row_is_a_gap_and_renumbering_to_hide_it_breaks_the_link() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        append_events(&database, 5).await;
        let mut statements = drop_triggers(backend).to_vec();
        statements.push("DELETE FROM audit_events WHERE sequence = 3");
        tamper(&test_database, &statements).await;

        let deleted = first_break(&database).await;
        tamper(
            &test_database,
            &[
                "UPDATE audit_events SET sequence = 3 WHERE sequence = 4",
                "UPDATE audit_events SET sequence = 4 WHERE sequence = 5",
            ],
        )
        .await;
        let renumbered = first_break(&database).await;

        assert_eq!(
            deleted,
            Some(ChainBreak {
                sequence: 4,
                kind: BreakKind::SequenceGap { expected: 3 }
            }),
            "{backend}"
        );
        assert_eq!(
            renumbered,
            Some(ChainBreak {
                sequence: 3,
                kind: BreakKind::PreviousMacMismatch
            }),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_reordered_pair_breaks_the_link_where_the_order_changed() {
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let database = migrated(&test_database).await;
        append_events(&database, 5).await;
        let mut statements = drop_triggers(backend).to_vec();
        statements.extend([
            "UPDATE audit_events SET sequence = 100 WHERE sequence = 2",
            "UPDATE audit_events SET sequence = 2 WHERE sequence = 3",
            "UPDATE audit_events SET sequence = 3 WHERE sequence = 100",
        ]);
        tamper(&test_database, &statements).await;

        let broken = first_break(&database).await;

        assert_eq!(
            broken,
            Some(ChainBreak {
                sequence: 2,
                kind: BreakKind::PreviousMacMismatch
            }),
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_racing_from_many_tasks_and_two_handles_make_one_valid_chain() {
    const TASKS: usize = 8;
    const EVENTS_PER_TASK: usize = 15;
    for test_database in TestDatabase::all() {
        let backend = test_database.backend();
        let first = migrated(&test_database).await;
        // A second pool on the same database, as a second instance has.
        let second = Database::connect(&test_database.url()).await.unwrap();

        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..TASKS {
            let database = if task % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tasks.spawn(async move {
                for index in 0..EVENTS_PER_TASK {
                    let name = format!("race.{task}.{index}");
                    let new_event = event(&name, Some("org-a"), OffsetDateTime::now_utc());
                    database.append_audit_event(&new_event, &mac).await.unwrap();
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap();
        }

        let verified = first.verify_audit_chain(&mac, 16).await.unwrap();
        assert_eq!(verified.broken, None, "{backend}");
        assert_eq!(
            verified.events,
            (TASKS * EVENTS_PER_TASK) as u64,
            "{backend}"
        );
    }
}
