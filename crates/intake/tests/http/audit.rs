//! The durable audit trail (SPEC section 9): what a login leaves in it,
//! `GET /api/audit` for admins only, and `intake audit verify`, run as the
//! built binary, against an intact trail and against one that was tampered
//! with directly in the database.

use intake_storage::AuditRow;
use intake_testkit::database::TestDatabase;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, SignedIn, TestApp, config, run_intake};

const KEY: &str = "3c1f0a7c3b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a3c5e7b9d0f";
const OTHER_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const ADMIN_EMAIL: &str = "admin@clinic.example";
const STAFF_EMAIL: &str = "nurse@clinic.example";

/// intake in this process on a SQLite file whose URL the test keeps.
async fn spawn(pairs: &[(&str, &str)]) -> (TestApp, String) {
    let database = TestDatabase::sqlite();
    let database_url = database.url();
    let config = config(&database, pairs);
    (TestApp::spawn_with(config, database).await, database_url)
}

/// `GET path` as `client`: status and JSON body.
async fn get(app: &TestApp, path: &str, client: Option<&SignedIn>) -> (StatusCode, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(client) = client {
        request = request.header(COOKIE, &client.cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The whole trail, straight from the database.
async fn trail(app: &TestApp) -> Vec<AuditRow> {
    app.app.database.audit_chain(0, 1000).await.unwrap()
}

/// Every value a row holds, as text.
fn values(row: &AuditRow) -> Vec<String> {
    let content = &row.content;
    let optional = [
        &content.actor_user_id,
        &content.organization_id,
        &content.client_ip,
        &content.request_id,
        &content.resource_type,
        &content.resource_id,
    ];
    let mut values = vec![
        content.occurred_at.to_string(),
        content.event.clone(),
        content.outcome.clone(),
        row.previous_mac.clone(),
        row.mac.clone(),
    ];
    values.extend(optional.into_iter().flatten().cloned());
    values
}

fn event_names(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["event"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_login_leaves_chained_rows_that_hold_no_email_cookie_or_token() {
    let (app, _) = spawn(&[("INTAKE_SECRET_KEY", KEY)]).await;
    let user_id = app.add_user("Clinic", STAFF_EMAIL, "staff").await;

    let client = app.sign_in(STAFF_EMAIL).await;
    let rows = trail(&app).await;

    let names: Vec<&str> = rows.iter().map(|row| row.content.event.as_str()).collect();
    assert_eq!(names, ["login.succeeded", "session.created"]);
    for row in &rows {
        assert_eq!(row.content.actor_user_id.as_deref(), Some(user_id.as_str()));
        assert_eq!(row.content.outcome, "success");
        assert_eq!(row.content.client_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(row.content.resource_type.as_deref(), Some("session"));
        assert!(row.content.organization_id.is_some());
        assert!(row.content.request_id.is_some());
    }
    let (_, cookie_secret) = client.cookie_value.split_once('.').unwrap();
    let secrets = [
        ("the e-mail address", STAFF_EMAIL),
        ("the password", PASSWORD),
        ("the session cookie", client.cookie_value.as_str()),
        ("the session secret", cookie_secret),
        ("the CSRF token", client.csrf.as_str()),
        ("INTAKE_SECRET_KEY", KEY),
    ];
    for row in &rows {
        for value in values(row) {
            for (name, secret) in secrets {
                assert!(!value.contains(secret), "{name} is in row {}", row.sequence);
            }
        }
    }
    let verification = app.app.audit.verify(1).await.unwrap();
    assert_eq!((verification.events, verification.broken), (2, None));
}

#[tokio::test]
async fn get_audit_shows_an_admin_its_own_organization_and_refuses_staff() {
    let (app, _) = spawn(&[("INTAKE_SECRET_KEY", KEY)]).await;
    app.add_user("Clinic", ADMIN_EMAIL, "admin").await;
    app.add_user("Clinic", STAFF_EMAIL, "staff").await;
    app.add_user("Elsewhere", "admin@elsewhere.example", "admin")
        .await;
    app.sign_in("admin@elsewhere.example").await;
    let staff = app.sign_in(STAFF_EMAIL).await;
    let admin = app.sign_in(ADMIN_EMAIL).await;
    let clinic = app
        .app
        .database
        .organization_by_name("Clinic")
        .await
        .unwrap()
        .unwrap();

    let (admin_status, body) = get(&app, "/api/audit", Some(&admin)).await;
    let (staff_status, refusal) = get(&app, "/api/audit", Some(&staff)).await;
    let (anonymous_status, _) = get(&app, "/api/audit", None).await;

    assert_eq!(admin_status, 200, "{body}");
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 4, "two logins of Clinic: {body}");
    for event in events {
        assert_eq!(event["organizationId"], clinic.id.as_str(), "{event}");
        for field in ["sequence", "occurredAt", "outcome", "clientIp", "requestId"] {
            assert!(!event[field].is_null(), "{field} missing: {event}");
        }
    }
    assert_eq!(events[0]["event"], "login.succeeded");
    assert_eq!(events[0]["security"], false);
    assert_eq!(staff_status, 403);
    assert_eq!(refusal, json!({"error": "Forbidden"}));
    assert_eq!(anonymous_status, 401);
}

#[tokio::test]
async fn get_audit_pages_and_filters_and_answers_bad_values_with_400() {
    let (app, _) = spawn(&[("INTAKE_SECRET_KEY", KEY)]).await;
    app.add_user("Clinic", ADMIN_EMAIL, "admin").await;
    app.sign_in(ADMIN_EMAIL).await;
    let admin = app.sign_in(ADMIN_EMAIL).await;

    let (_, first_page) = get(&app, "/api/audit?limit=3", Some(&admin)).await;
    let last = first_page["events"][2]["sequence"].as_i64().unwrap();
    let (_, next_page) = get(&app, &format!("/api/audit?after={last}"), Some(&admin)).await;
    let (_, created) = get(&app, "/api/audit?event=session.created", Some(&admin)).await;
    let window = "/api/audit?from=2000-01-01T00:00:00Z&to=2000-12-31T23:59:59%2B01:00";
    let (_, long_ago) = get(&app, window, Some(&admin)).await;
    let since = "/api/audit?from=2000-01-01T00:00:00Z";
    let (_, since_2000) = get(&app, since, Some(&admin)).await;

    assert_eq!(
        event_names(&first_page),
        ["login.succeeded", "session.created", "login.succeeded"]
    );
    assert_eq!(event_names(&next_page), ["session.created"]);
    assert_eq!(next_page["events"][0]["sequence"], last + 1);
    assert_eq!(
        event_names(&created),
        ["session.created", "session.created"]
    );
    assert_eq!(event_names(&long_ago), Vec::<String>::new());
    assert_eq!(event_names(&since_2000).len(), 4);
    for (query, message) in [
        ("limit=0", "limit must be a whole number from 1 to 1000"),
        ("limit=1001", "limit must be a whole number from 1 to 1000"),
        (
            "after=-3",
            "after must be the sequence of an event (0 or more)",
        ),
        (
            "from=yesterday",
            "from must be an RFC 3339 date-time, e.g. 2024-01-31T00:00:00Z",
        ),
        (
            "from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z",
            "from must not be later than to",
        ),
        (
            "event=DROP%20TABLE",
            "event must be an event name such as login.succeeded",
        ),
    ] {
        let (status, body) = get(&app, &format!("/api/audit?{query}"), Some(&admin)).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body, json!({ "error": message }), "{query}");
    }
}

/// A trail of a few events (two logins, a CSRF token, a logout) written by
/// intake with `pairs` as its environment; the app and its database URL.
async fn app_with_a_trail(pairs: &[(&str, &str)]) -> (TestApp, String) {
    let (app, database_url) = spawn(pairs).await;
    app.add_user("Clinic", STAFF_EMAIL, "staff").await;
    app.sign_in(STAFF_EMAIL).await;
    let client = app.sign_in(STAFF_EMAIL).await;
    let logout = app
        .client
        .post(app.url("/api/auth/logout"))
        .header(COOKIE, &client.cookie)
        .header("x-csrf-token", &client.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    assert_eq!(trail(&app).await.len(), 5);
    (app, database_url)
}

/// `intake audit verify` on `database_url`: exit success and stdout.
fn verify(database_url: &str, secret_key: Option<&str>) -> (bool, String) {
    let directory = tempfile::tempdir().unwrap();
    let mut variables = vec![("DATABASE_URL", database_url)];
    variables.extend(secret_key.map(|key| ("INTAKE_SECRET_KEY", key)));
    let output = run_intake(directory.path(), &["audit", "verify"], &variables);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || output.status.code() == Some(1),
        "{stdout}{stderr}"
    );
    (output.status.success(), format!("{stdout}{stderr}"))
}

/// Runs `statements` on the SQLite file behind intake's back, as an
/// attacker with access to the database would: the append-only triggers
/// are dropped first.
async fn tamper(database_url: &str, statements: &[&str]) {
    let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
    let drop_triggers = [
        "DROP TRIGGER IF EXISTS audit_events_refuse_update",
        "DROP TRIGGER IF EXISTS audit_events_refuse_delete",
    ];
    for statement in drop_triggers.iter().chain(statements) {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_passes_on_a_fresh_trail_with_the_development_key_in_the_database() {
    let (_app, database_url) = app_with_a_trail(&[]).await;

    let (intact, output) = verify(&database_url, None);

    assert!(intact, "{output}");
    assert_eq!(output.trim(), "audit trail intact: 5 events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_fails_on_an_edited_row_and_names_it() {
    let (_app, database_url) = app_with_a_trail(&[("INTAKE_SECRET_KEY", KEY)]).await;
    let (intact_before, before) = verify(&database_url, Some(KEY));
    let (_, with_another_key) = verify(&database_url, Some(OTHER_KEY));

    tamper(
        &database_url,
        &["UPDATE audit_events SET client_ip = '198.51.100.23' WHERE sequence = 3"],
    )
    .await;
    let (intact_after, after) = verify(&database_url, Some(KEY));

    assert!(intact_before, "{before}");
    assert!(
        with_another_key.contains("sequence 1"),
        "{with_another_key}"
    );
    assert!(!intact_after, "{after}");
    assert!(after.contains("BROKEN at sequence 3"), "{after}");
    assert!(after.contains("edited"), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_fails_on_a_deleted_row_and_names_the_gap() {
    let (_app, database_url) = app_with_a_trail(&[("INTAKE_SECRET_KEY", KEY)]).await;

    tamper(
        &database_url,
        &["DELETE FROM audit_events WHERE sequence = 2"],
    )
    .await;
    let (intact, output) = verify(&database_url, Some(KEY));

    assert!(!intact, "{output}");
    assert!(output.contains("BROKEN at sequence 3"), "{output}");
    assert!(output.contains("row 2 before it is missing"), "{output}");
    assert!(output.contains("deleted"), "{output}");
}
