//! The built `intake` binary: `serve` on the embedded defaults, production
//! refusals, `check` and `migrate`.

use std::time::Duration;

use intake_testkit::redis::RedisServer;

use crate::helpers::{ServingBinary, run_intake};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_no_configuration_runs_in_process_on_sqlite() {
    let directory = tempfile::tempdir().unwrap();
    let serving = tokio::task::spawn_blocking({
        let path = directory.path().to_owned();
        move || ServingBinary::start(&path, &[])
    })
    .await
    .unwrap();

    let response = reqwest::get(format!("http://{}/health", serving.address))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["redis"]["status"], "in-process");
    assert_eq!(health["database"]["backend"], "sqlite");
    assert!(directory.path().join("intake.db").exists());

    let log = serving.process.output().text();
    assert!(log.contains(r#""coordination":"in-process""#), "{log}");
    assert!(log.contains(r#""database":"sqlite""#), "{log}");
    assert!(log.contains(r#""mode":"development""#), "{log}");
    let status = serving.process.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "SIGTERM ends serve cleanly: {status}");
}

#[test]
fn production_without_redis_refuses_to_start_naming_the_variable() {
    let directory = tempfile::tempdir().unwrap();
    let output = run_intake(
        directory.path(),
        &["serve"],
        &[("INTAKE_ENV", "production"), ("INTAKE_SECRET_KEY", KEY)],
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("REDIS_URL"), "{}", stderr(&output));
}

#[test]
fn production_with_a_redis_without_password_refuses_to_start() {
    let server = RedisServer::builder().tls().start();
    let directory = tempfile::tempdir().unwrap();
    let output = run_intake(
        directory.path(),
        &["serve"],
        &[
            ("INTAKE_ENV", "production"),
            ("INTAKE_SECRET_KEY", KEY),
            ("REDIS_URL", &server.url()),
            (
                "REDIS_CA_CERT",
                server.ca_cert_path().unwrap().to_str().unwrap(),
            ),
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("REDIS_PASSWORD"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn production_without_tls_to_redis_refuses_to_start() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let directory = tempfile::tempdir().unwrap();
    let output = run_intake(
        directory.path(),
        &["serve"],
        &[
            ("INTAKE_ENV", "production"),
            ("INTAKE_SECRET_KEY", KEY),
            ("REDIS_URL", &server.url()),
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("REDIS_TLS_ENABLED"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn production_with_a_short_secret_key_refuses_to_start() {
    let server = RedisServer::builder().password("s3cretpw").tls().start();
    let directory = tempfile::tempdir().unwrap();
    let output = run_intake(
        directory.path(),
        &["serve"],
        &[
            ("INTAKE_ENV", "production"),
            ("INTAKE_SECRET_KEY", "too-short"),
            ("REDIS_URL", &server.url()),
            (
                "REDIS_CA_CERT",
                server.ca_cert_path().unwrap().to_str().unwrap(),
            ),
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("INTAKE_SECRET_KEY"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_wrong_redis_password_stops_start_up_saying_so() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let directory = tempfile::tempdir().unwrap();
    let wrong = format!("redis://:wrong@{}", server.addr());
    let output = run_intake(directory.path(), &["serve"], &[("REDIS_URL", &wrong)]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("refused the configured credentials"),
        "{message}"
    );
    assert!(
        !message.contains("wrong@"),
        "the password never appears: {message}"
    );
}

#[test]
fn check_fails_against_a_redis_without_a_password() {
    let server = RedisServer::start();
    let directory = tempfile::tempdir().unwrap();
    let output = run_intake(
        directory.path(),
        &["check"],
        &[("REDIS_URL", &server.url())],
    );
    let report = stdout(&output);
    assert!(!output.status.success(), "{report}");
    assert!(report.contains("FAIL redis-auth"), "{report}");
    assert!(report.contains("FAIL redis-tls"), "{report}");
}

#[test]
fn check_passes_against_a_redis_with_password_and_tls() {
    let server = RedisServer::builder().password("s3cretpw").tls().start();
    let directory = tempfile::tempdir().unwrap();
    let output = run_intake(
        directory.path(),
        &["check"],
        &[
            ("REDIS_URL", &server.url()),
            (
                "REDIS_CA_CERT",
                server.ca_cert_path().unwrap().to_str().unwrap(),
            ),
        ],
    );
    let report = stdout(&output);
    assert!(output.status.success(), "{report}{}", stderr(&output));
    assert!(report.contains("ok   redis-auth"), "{report}");
    assert!(report.contains("ok   redis-tls"), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
}

#[test]
fn migrate_applies_migrations_to_the_configured_database() {
    let directory = tempfile::tempdir().unwrap();
    let output = run_intake(
        directory.path(),
        &["migrate"],
        &[("DATABASE_URL", "sqlite://fresh.db")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("migrations applied (sqlite)"));
    assert!(directory.path().join("fresh.db").exists());
}

#[test]
fn an_unreachable_database_is_a_one_line_error() {
    let directory = tempfile::tempdir().unwrap();
    let output = run_intake(
        directory.path(),
        &["migrate"],
        &[("DATABASE_URL", "postgres://intake:pw@127.0.0.1:1/intake")],
    );
    assert!(!output.status.success());
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert!(!message.contains(":pw@"), "{message}");
}

/// The value of a `Set-Cookie: session=...` header.
fn session_cookie_value(response: &reqwest::Response) -> String {
    let header = response.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap();
    let pair = header.split(';').next().unwrap();
    let value = pair.strip_prefix("session=").unwrap();
    assert!(!value.is_empty(), "{header}");
    value.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_email_reaches_the_log_even_at_debug_while_the_audit_trail_does() {
    const SECRET_KEY: &str = "5e1f0a7c3b9d2e4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f1a3c5e7b9d0f";
    const EMAIL: &str = "ada@clinic.example";
    const PASSWORD: &str = "Zebra-Quartz-Password-91";
    const WRONG_PASSWORD: &str = "Wrong-Horse-Secret-77";
    const DISTINCTIVE_ANSWER: &str = "Quokka-Penicillin-4471";
    let directory = tempfile::tempdir().unwrap();
    let variables = [("INTAKE_SECRET_KEY", SECRET_KEY), ("RUST_LOG", "debug")];
    let organization = run_intake(
        directory.path(),
        &["org", "add", "--name", "Clinic"],
        &variables,
    );
    assert!(organization.status.success(), "{}", stderr(&organization));
    let user = crate::helpers::run_intake_with_stdin(
        directory.path(),
        &[
            "user",
            "add",
            "--org",
            "Clinic",
            "--email",
            EMAIL,
            "--role",
            "staff",
            "--password-stdin",
        ],
        &variables,
        &format!("{PASSWORD}\n"),
    );
    assert!(user.status.success(), "{}", stderr(&user));
    let printed = format!("{}{}", stdout(&user), stderr(&user));
    assert!(!printed.contains(PASSWORD), "user add printed the password");
    let serving = tokio::task::spawn_blocking({
        let path = directory.path().to_owned();
        move || ServingBinary::start(&path, &variables)
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", serving.address);

    let login = client
        .post(url("/api/auth/login"))
        .json(&serde_json::json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie_value = session_cookie_value(&login);
    let cookie = format!("session={cookie_value}");
    let body: serde_json::Value = login.json().await.unwrap();
    let mut csrf_tokens = vec![body["csrfToken"].as_str().unwrap().to_owned()];

    let failed = client
        .post(url("/api/auth/login"))
        .json(&serde_json::json!({"email": EMAIL, "password": WRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);

    let me = client
        .get(url("/api/auth/me"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    let issued = client
        .get(url("/api/auth/csrf-token"))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 200);
    let body: serde_json::Value = issued.json().await.unwrap();
    csrf_tokens.push(body["csrfToken"].as_str().unwrap().to_owned());

    // A form answered with a distinctive value, read back every way.
    let csrf = csrf_tokens.last().unwrap().clone();
    let send = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut request = client
            .request(method, url(path))
            .header(reqwest::header::COOKIE, &cookie)
            .header("x-csrf-token", &csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let form = serde_json::json!({"title": "Allergy check", "item": [
        {"linkId": "allergy", "text": "Allergies", "type": "string", "required": true}
    ]});
    let created = send(reqwest::Method::POST, "/api/forms", Some(form))
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let form_id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let published = send(
        reqwest::Method::POST,
        &format!("/api/forms/{form_id}/publish"),
        None,
    );
    assert_eq!(published.await.unwrap().status(), 200);
    let answer = serde_json::json!({"status": "completed", "item": [
        {"linkId": "allergy", "answer": [{"valueString": DISTINCTIVE_ANSWER}]}
    ]});
    let path = format!("/api/forms/{form_id}/responses");
    let stored = send(reqwest::Method::POST, &path, Some(answer))
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    let response_id = stored.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("/api/responses/{response_id}"),
        ),
        (
            reqwest::Method::GET,
            format!("/api/responses/{response_id}/fhir"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/responses/{response_id}/generate-pdf"),
        ),
    ] {
        let answered = send(method, &path, None).await.unwrap();
        assert_eq!(answered.status(), 200, "{path}");
    }
    let refused = serde_json::json!({"status": "completed", "item": [
        {"linkId": "allergy", "answer": [{"valueInteger": 7}, {"valueString": DISTINCTIVE_ANSWER}]}
    ]});
    let refusal = send(reqwest::Method::POST, &path, Some(refused))
        .await
        .unwrap();
    assert_eq!(refusal.status(), 422);

    let logout = client
        .post(url("/api/auth/logout"))
        .header(reqwest::header::COOKIE, &cookie)
        .header("x-csrf-token", csrf_tokens.last().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);

    // Stopped first, so that every line it wrote has been collected.
    let output = serving.process.output().clone();
    let status = serving.process.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "SIGTERM ends serve cleanly: {status}");
    let log = output.text();
    let (_, cookie_secret) = cookie_value
        .split_once('.')
        .expect("a session id is an id and a secret joined by '.'");
    let mut secrets = vec![
        ("the session cookie", cookie_value.as_str()),
        ("the session secret", cookie_secret),
        ("the password", PASSWORD),
        ("the wrong password", WRONG_PASSWORD),
        ("INTAKE_SECRET_KEY", SECRET_KEY),
        ("the e-mail address", EMAIL),
        ("an answer (PHI)", DISTINCTIVE_ANSWER),
    ];
    secrets.extend(
        csrf_tokens
            .iter()
            .map(|token| ("a CSRF token", token.as_str())),
    );
    for (name, secret) in secrets {
        assert!(!log.contains(secret), "{name} is in the log:\n{log}");
    }
    assert!(log.contains("AUDIT: login.succeeded"), "{log}");
    assert!(log.contains("SECURITY: login.failed"), "{log}");
}
