//! Rate limits as clients meet them (SPEC section 6), against real Redis.

use std::time::{Duration, Instant};

use intake_testkit::redis::RedisServer;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

use crate::helpers::{TestApp, redis_app, redis_pair};

async fn failed_login(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "nobody@clinic.example", "password": "wrong password"}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_eighth_failed_login_in_a_row_is_refused_with_the_rate_limit_answer() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[]).await;

    let mut remaining = Vec::new();
    for _ in 0..7 {
        let response = failed_login(&app, None).await;
        assert_eq!(response.status(), 401);
        assert_eq!(header(&response, "x-ratelimit-limit"), "5");
        remaining.push(
            header(&response, "x-ratelimit-remaining")
                .parse::<u32>()
                .unwrap(),
        );
        assert!(header(&response, "ratelimit-policy").starts_with("\"auth\";q=5;w=60"));
    }
    assert_eq!(remaining, [6, 5, 4, 3, 2, 1, 0], "Remaining counts down");

    let refused = failed_login(&app, None).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "x-ratelimit-limit"), "5");
    assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let reset: u64 = header(&refused, "x-ratelimit-reset").parse().unwrap();
    assert!(reset > 1_700_000_000);
    assert!(header(&refused, "ratelimit").starts_with("\"auth\";r=0;t="));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "Rate limit exceeded", "retry_after": retry_after})
    );
}

#[tokio::test]
async fn two_instances_sharing_redis_admit_exactly_the_policy_under_concurrency() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let limit = [("RATE_LIMIT_AUTH", "4/60s+0")];
    let (first, second) = redis_pair(&server, &limit).await;

    // Each attempt runs as its own task, so they race for real.
    let mut attempts = tokio::task::JoinSet::new();
    for attempt in 0..40 {
        let app = if attempt % 2 == 0 { &first } else { &second };
        let request = app
            .client
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "nobody@clinic.example", "password": "wrong password"}));
        attempts.spawn(async move { request.send().await.unwrap().status() });
    }
    let statuses = attempts.join_all().await;

    let admitted = statuses.iter().filter(|status| **status == 401).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!((admitted, refused), (4, 36), "{statuses:?}");
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[("TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    for attempt in 0..7 {
        let spoofed = format!("198.51.100.{attempt}");
        assert_eq!(failed_login(&app, Some(&spoofed)).await.status(), 401);
    }
    assert_eq!(failed_login(&app, Some("203.0.113.77")).await.status(), 429);
}

#[tokio::test]
async fn the_api_policy_counts_a_users_requests_across_all_their_sessions() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[("RATE_LIMIT_API", "3/60s+0")]).await;
    let organization = app
        .app
        .database
        .create_organization("Clinic")
        .await
        .unwrap();
    let hash = intake::auth::password::hash_password("correct horse battery".to_owned().into())
        .await
        .unwrap();
    app.app
        .database
        .create_user(intake_storage::NewUser {
            organization_id: organization.id,
            email: Some("ada@clinic.example".into()),
            role: "staff".into(),
            password_hash: Some(hash),
            oidc: None,
        })
        .await
        .unwrap();
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "ada@clinic.example", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let cookie = header(&response, "set-cookie");
        cookies.push(cookie.split(';').next().unwrap().to_owned());
    }

    let mut statuses = Vec::new();
    for request in 0..4 {
        let response = app
            .client
            .get(app.url("/api/auth/me"))
            .header(COOKIE, &cookies[request % 2])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

#[tokio::test]
async fn with_redis_stopped_limits_still_refuse_within_the_command_timeout() {
    let mut server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[("REDIS_COMMAND_TIMEOUT_MS", "500")]).await;
    server.stop();

    let mut statuses = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        statuses.push(failed_login(&app, None).await.status().as_u16());
        // The promise of REDIS_COMMAND_TIMEOUT_MS, with room for a slow CI
        // (the password check of a failed login takes time of its own).
        assert!(started.elapsed() < Duration::from_millis(500) + Duration::from_secs(2));
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 401, 429]);
}

#[tokio::test]
async fn pdf_generation_also_spends_the_pdf_policy() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let app = redis_app(&server, &[("RATE_LIMIT_PDF", "1/60s+0")]).await;
    let generate = || {
        app.client
            .post(app.url("/api/responses/some-response/generate-pdf"))
            .send()
    };

    let first = generate().await.unwrap();
    assert_ne!(first.status(), 429);
    assert_eq!(header(&first, "x-ratelimit-limit"), "1");
    assert!(header(&first, "ratelimit-policy").starts_with("\"pdf\";q=1;w=60"));
    let second = generate().await.unwrap();
    assert_eq!(second.status(), 429);

    // Other routes still have the whole api budget.
    let other = app
        .client
        .get(app.url("/api/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    assert_eq!(header(&other, "x-ratelimit-limit"), "100");
}
