//! Sessions, login and CSRF as a client uses them (SPEC section 5), against
//! real Redis servers and the in-process coordinator.

use std::time::Duration;

use intake_testkit::process::WatchedProcess;
use intake_testkit::redis::RedisServer;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, redis_app, redis_pair};

const EMAIL: &str = "ada@clinic.example";

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn error(text: &str) -> Value {
    json!({ "error": text })
}

#[tokio::test]
async fn the_full_flow_answers_each_case_with_the_exact_status_and_text() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[]).await;
    app.add_user("Clinic", EMAIL, "staff").await;

    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("session="), "{set_cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(body["message"], "Login successful");
    assert_eq!(body["expiresIn"], 14400);
    let me = crate::helpers::SignedIn {
        cookie_value: String::new(),
        cookie: set_cookie.split(';').next().unwrap().to_owned(),
        csrf: body["csrfToken"].as_str().unwrap().to_owned(),
    };

    let (status, profile) = send(&app, Method::GET, "/api/auth/me", Some(&me.cookie), None).await;
    assert_eq!(status, 200);
    assert_eq!(profile["user"]["email"], EMAIL);
    assert_eq!(profile["role"], "staff");
    assert_eq!(profile["organization"]["name"], "Clinic");
    assert!(
        profile["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("generate:pdf"))
    );

    let guarded = "/api/auth/sessions/revoke-others";
    let cookie = Some(me.cookie.as_str());
    assert_eq!(
        send(&app, Method::POST, guarded, cookie, None).await,
        (
            StatusCode::FORBIDDEN,
            error("CSRF token not provided in header")
        )
    );
    let made_up = "A".repeat(43);
    assert_eq!(
        send(&app, Method::POST, guarded, cookie, Some(&made_up)).await,
        (
            StatusCode::FORBIDDEN,
            error("Invalid or expired CSRF token")
        )
    );
    let other = app.sign_in(EMAIL).await;
    assert_eq!(
        send(&app, Method::POST, guarded, cookie, Some(&other.csrf)).await,
        (
            StatusCode::FORBIDDEN,
            error("Invalid or expired CSRF token")
        )
    );
    let cross_site = app
        .client
        .post(app.url(guarded))
        .header(COOKIE, &me.cookie)
        .header("x-csrf-token", &me.csrf)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(
        cross_site.json::<Value>().await.unwrap(),
        error("Cross-site request refused")
    );
    assert_eq!(
        send(&app, Method::POST, guarded, cookie, Some(&me.csrf)).await,
        (StatusCode::OK, json!({"revoked": 1}))
    );

    let logout = app
        .client
        .post(app.url("/api/auth/logout"))
        .header(COOKIE, &me.cookie)
        .header("x-csrf-token", &me.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    assert_eq!(logout.headers()["clear-site-data"], "\"cookies\"");
    assert!(
        logout.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        logout.json::<Value>().await.unwrap(),
        json!({"status": "success", "message": "Logged out successfully"})
    );
    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", cookie, None).await,
        (StatusCode::UNAUTHORIZED, error("Not authenticated"))
    );
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    for app in [TestApp::spawn(&[]).await] {
        app.add_user("Clinic", EMAIL, "staff").await;
        for (email, password) in [
            ("nobody@clinic.example", PASSWORD),
            (EMAIL, "wrong password!"),
        ] {
            let response = app
                .client
                .post(app.url("/api/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401);
            assert!(response.headers().get(SET_COOKIE).is_none());
            assert_eq!(
                response.json::<Value>().await.unwrap(),
                error("Invalid email or password")
            );
        }
    }
}

#[tokio::test]
async fn malformed_login_bodies_get_clear_errors() {
    let app = TestApp::spawn(&[]).await;
    let cases: [(&str, u16); 3] = [
        ("{not json", 400),
        (r#"{"email": 5, "password": "x"}"#, 422),
        (r#"{"email": "a@b.c"}"#, 422),
    ];
    for (body, status) in cases {
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(answer["error"].is_string(), "{answer}");
    }
}

#[tokio::test]
async fn the_in_process_coordinator_runs_the_same_flow() {
    let app = TestApp::spawn(&[]).await;
    app.add_user("Clinic", EMAIL, "staff").await;
    let me = app.sign_in(EMAIL).await;
    let cookie = Some(me.cookie.as_str());
    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", cookie, None)
            .await
            .0,
        200
    );
    let (status, token) = send(&app, Method::GET, "/api/auth/csrf-token", cookie, None).await;
    assert_eq!(status, 200);
    let second = token["csrfToken"].as_str().unwrap();
    let (status, diagnostics) = send(
        &app,
        Method::GET,
        "/api/diagnostics/csrf",
        cookie,
        Some(second),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(diagnostics["tokenValid"], true);
    let (status, _) = send(
        &app,
        Method::POST,
        "/api/auth/logout",
        cookie,
        Some(&me.csrf),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", cookie, None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn two_instances_sharing_redis_share_sessions() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let (first, second) = redis_pair(&server, &[]).await;
    first.add_user("Clinic", EMAIL, "staff").await;

    let laptop = first.sign_in(EMAIL).await;
    let phone = second.sign_in(EMAIL).await;
    let cookie = Some(laptop.cookie.as_str());
    assert_eq!(
        send(&second, Method::GET, "/api/auth/me", cookie, None)
            .await
            .0,
        200
    );

    let (status, listed) = send(&second, Method::GET, "/api/auth/sessions", cookie, None).await;
    assert_eq!(status, 200);
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    let (status, revoked) = send(
        &first,
        Method::POST,
        "/api/auth/sessions/revoke-others",
        Some(&phone.cookie),
        Some(&phone.csrf),
    )
    .await;
    assert_eq!((status, revoked), (StatusCode::OK, json!({"revoked": 1})));
    assert_eq!(
        send(&second, Method::GET, "/api/auth/me", cookie, None)
            .await
            .0,
        401
    );

    let phone_cookie = Some(phone.cookie.as_str());
    let (status, _) = send(
        &second,
        Method::POST,
        "/api/auth/logout",
        phone_cookie,
        Some(&phone.csrf),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(&first, Method::GET, "/api/auth/me", phone_cookie, None)
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn a_session_can_revoke_another_of_its_users_sessions_by_id() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[]).await;
    app.add_user("Clinic", EMAIL, "staff").await;
    let me = app.sign_in(EMAIL).await;
    let other = app.sign_in(EMAIL).await;
    let (_, listed) = send(
        &app,
        Method::GET,
        "/api/auth/sessions",
        Some(&me.cookie),
        None,
    )
    .await;
    let other_id = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/auth/sessions/{other_id}");
    let cookie = Some(me.cookie.as_str());
    assert_eq!(
        send(&app, Method::DELETE, &path, cookie, Some(&me.csrf))
            .await
            .0,
        200
    );
    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", Some(&other.cookie), None)
            .await
            .0,
        401
    );
    assert_eq!(
        send(&app, Method::DELETE, &path, cookie, Some(&me.csrf))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn redis_holds_no_cookie_or_token_and_every_key_has_the_prefix_and_a_ttl() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[]).await;
    app.add_user("Clinic", EMAIL, "staff").await;
    let me = app.sign_in(EMAIL).await;
    let cookie = Some(me.cookie.as_str());
    let (_, token) = send(&app, Method::GET, "/api/auth/csrf-token", cookie, None).await;
    let second_token = token["csrfToken"].as_str().unwrap().to_owned();
    send(&app, Method::GET, "/api/auth/sessions", cookie, None).await;

    let secret = me.cookie.split_once('=').unwrap().1.to_owned();
    let session_secret = secret.split_once('.').unwrap().1.to_owned();
    let keys = server.cli(&["--scan"]);
    assert!(!keys.trim().is_empty());
    for key in keys.lines() {
        assert!(key.starts_with("intake:"), "{key}");
        let ttl: i64 = server.cli(&["PTTL", key]).parse().unwrap();
        assert!(ttl > 0, "{key} has no TTL");
        let contents = match server.cli(&["TYPE", key]).as_str() {
            "hash" => server.cli(&["HGETALL", key]),
            "zset" => server.cli(&["ZRANGE", key, "0", "-1"]),
            "string" => server.cli(&["GET", key]),
            other => panic!("unexpected key type {other} for {key}"),
        };
        let everything = format!("{key}\n{contents}");
        for needle in [
            &session_secret,
            &me.csrf,
            &second_token,
            &PASSWORD.to_owned(),
        ] {
            assert!(
                !everything.contains(needle.as_str()),
                "a secret is stored in {key}"
            );
        }
        assert!(!everything.contains(EMAIL), "an e-mail is stored in {key}");
    }
    let stats = server.cli(&["INFO", "commandstats"]);
    assert!(!stats.contains("cmdstat_keys:"), "{stats}");
}

/// Watches every command Redis runs (`MONITOR`), to count those a request
/// sends: commands a script runs show as `lua` and are part of the script.
struct CommandWatch {
    process: WatchedProcess,
}

impl CommandWatch {
    fn start(server: &RedisServer) -> Self {
        let mut command = std::process::Command::new("redis-cli");
        command.args(["-p", &server.port().to_string(), "MONITOR"]);
        if let Some(password) = server.password() {
            command.env("REDISCLI_AUTH", password);
        }
        let process = WatchedProcess::spawn("redis-cli MONITOR", command).unwrap();
        process
            .wait_for_line("OK", Duration::from_secs(10))
            .unwrap();
        Self { process }
    }

    /// The commands clients sent up to now, leaving out connection set-up.
    fn client_commands(self, server: &RedisServer) -> Vec<String> {
        let marker = format!("end-of-measurement-{}", server.port());
        server.cli(&["ECHO", &marker]);
        self.process
            .wait_for_line(&marker, Duration::from_secs(10))
            .unwrap();
        self.process
            .output()
            .lines()
            .into_iter()
            .filter(|line| line.contains("] \""))
            .filter(|line| !line.contains(" lua] "))
            .filter(|line| !line.contains(&marker))
            .filter(|line| {
                let command = line.split("] \"").nth(1).unwrap_or("").to_ascii_uppercase();
                !["AUTH", "HELLO", "CLIENT", "SELECT"]
                    .iter()
                    .any(|skip| command.starts_with(skip))
            })
            .collect()
    }
}

#[tokio::test]
async fn an_authenticated_get_and_a_csrf_checked_post_cost_at_most_two_redis_commands() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[]).await;
    app.add_user("Clinic", EMAIL, "staff").await;
    let me = app.sign_in(EMAIL).await;
    let cookie = Some(me.cookie.as_str());
    // Load every script once, so the measured requests show steady state.
    send(&app, Method::GET, "/api/auth/me", cookie, None).await;
    send(
        &app,
        Method::POST,
        "/api/auth/sessions/revoke-others",
        cookie,
        Some(&me.csrf),
    )
    .await;

    for (method, path, csrf) in [
        (Method::GET, "/api/auth/me", None),
        (
            Method::POST,
            "/api/auth/sessions/revoke-others",
            Some(me.csrf.as_str()),
        ),
    ] {
        let watch = CommandWatch::start(&server);
        let (status, _) = send(&app, method.clone(), path, cookie, csrf).await;
        assert_eq!(status, 200, "{method} {path}");
        let commands = watch.client_commands(&server);
        println!(
            "{method} {path}: {} Redis commands {commands:#?}",
            commands.len()
        );
        assert!(
            commands.len() <= 2,
            "{method} {path} cost {}: {commands:#?}",
            commands.len()
        );
    }
}

#[tokio::test]
async fn a_session_unused_past_the_idle_timeout_is_logged_off() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[("SESSION_IDLE_TIMEOUT_SECS", "2")]).await;
    app.add_user("Clinic", EMAIL, "staff").await;
    let me = app.sign_in(EMAIL).await;
    let cookie = Some(me.cookie.as_str());
    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", cookie, None)
            .await
            .0,
        200
    );

    // The idle timeout is what is under test: the session must sit unused.
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", cookie, None).await,
        (StatusCode::UNAUTHORIZED, error("Not authenticated"))
    );
}

#[tokio::test]
async fn a_cookie_the_server_did_not_issue_is_not_authenticated() {
    let app = TestApp::spawn(&[]).await;
    for cookie in [
        "session=forged",
        &format!("session={}.{}", "a".repeat(22), "b".repeat(43)),
    ] {
        assert_eq!(
            send(&app, Method::GET, "/api/auth/me", Some(cookie), None).await,
            (StatusCode::UNAUTHORIZED, error("Not authenticated"))
        );
    }
    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", None, None).await.0,
        401
    );
}

#[tokio::test]
async fn logging_in_again_replaces_the_old_session() {
    let app = TestApp::spawn(&[]).await;
    app.add_user("Clinic", EMAIL, "staff").await;
    let first = app.sign_in(EMAIL).await;
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header(COOKIE, &first.cookie)
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let new_cookie = response.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(new_cookie, first.cookie);
    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", Some(&first.cookie), None)
            .await
            .0,
        401
    );
    assert_eq!(
        send(&app, Method::GET, "/api/auth/me", Some(&new_cookie), None)
            .await
            .0,
        200
    );
}
