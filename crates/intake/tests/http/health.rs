//! `/health`, `/readyz` and `/metrics` against real Redis servers.

use std::time::{Duration, Instant};

use intake_testkit::database::TestDatabase;
use intake_testkit::redis::{RedisCluster, RedisSentinelGroup, RedisServer};

use crate::helpers::{TestApp, config, redis_variables};

fn as_pairs<'a>(variables: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    variables
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

#[tokio::test]
async fn health_reports_a_redis_with_password_and_tls_as_connected() {
    let server = RedisServer::builder().password("s3cretpw").tls().start();
    let variables = redis_variables(&server);
    let app = TestApp::spawn(&as_pairs(&variables)).await;

    let (status, health) = app.health().await;

    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "healthy");
    let redis = &health["redis"];
    assert_eq!(redis["status"], "connected");
    assert_eq!(redis["mode"], "standalone");
    assert_eq!(redis["circuit_breaker"], "closed");
    assert!(redis["latency_ms"].as_f64().is_some());
    for figure in [
        "total_connections",
        "idle_connections",
        "stale_connections",
        "hits",
        "misses",
        "timeouts",
    ] {
        assert!(redis["pool"][figure].is_u64(), "pool.{figure} in {health}");
    }
    assert!(
        redis["server"]["redis_version"]
            .as_str()
            .unwrap()
            .starts_with("7.")
    );
    assert_eq!(redis["server"]["role"], "master");
    assert_eq!(health["database"]["backend"], "sqlite");
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn a_killed_redis_makes_health_unhealthy_and_a_restarted_one_heals_it() {
    let mut server = RedisServer::builder().password("s3cretpw").start();
    let database = TestDatabase::sqlite();
    let url = server.url();
    let mut config = config(
        &database,
        &[("REDIS_URL", &url), ("REDIS_COMMAND_TIMEOUT_MS", "1000")],
    );
    let redis = config.redis.as_mut().unwrap();
    redis.breaker.open_for = Duration::from_millis(300);
    let command_timeout = redis.command_timeout;
    let threshold = redis.breaker.failure_threshold;
    let app = TestApp::spawn_with(config, database).await;
    assert_eq!(app.health().await.0, 200);

    server.stop();
    let mut last = serde_json::Value::Null;
    for _ in 0..threshold {
        let started = Instant::now();
        let (status, health) = app.health().await;
        // The promise of REDIS_COMMAND_TIMEOUT_MS, with room for a slow CI.
        assert!(started.elapsed() < command_timeout + Duration::from_secs(1));
        assert_eq!(status, 500, "{health}");
        assert_eq!(health["status"], "unhealthy");
        assert_eq!(health["redis"]["status"], "disconnected");
        last = health;
    }
    assert_eq!(last["redis"]["circuit_breaker"], "open", "{last}");
    assert_eq!(app.get("/readyz").await.status(), 503);

    server.start_again();
    let healed = wait_for_health(&app, "healthy", Duration::from_secs(15)).await;
    assert_eq!(healed["redis"]["status"], "connected");
    assert_eq!(healed["redis"]["circuit_breaker"], "closed");
}

#[tokio::test]
async fn memory_use_past_eighty_percent_of_maxmemory_degrades_health() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let variables = redis_variables(&server);
    let app = TestApp::spawn(&as_pairs(&variables)).await;
    assert_eq!(app.health().await.1["status"], "healthy");

    // Fill the server with a value, then set maxmemory so that what is used
    // stands at about 90% of it.
    server.cli(&["SETRANGE", "test:filler", "524288", "x"]);
    let used: u64 = info_field(&server, "used_memory").parse().unwrap();
    server.cli(&["CONFIG", "SET", "maxmemory", &(used * 10 / 9).to_string()]);

    let (status, health) = app.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "degraded");
    let warning = health["redis"]["warning"].as_str().unwrap();
    assert!(warning.contains("maxmemory"), "{warning}");
    assert!(
        health["redis"]["server"]["memory_usage_ratio"]
            .as_f64()
            .unwrap()
            >= 0.8
    );
}

#[tokio::test]
async fn an_unreachable_redis_at_start_up_is_an_outage_not_an_error() {
    let mut server = RedisServer::builder().password("s3cretpw").start();
    server.stop();
    let database = TestDatabase::sqlite();
    let url = server.url();
    let mut config = config(&database, &[("REDIS_URL", &url)]);
    config.redis.as_mut().unwrap().breaker.open_for = Duration::from_millis(300);
    let app = TestApp::spawn_with(config, database).await;

    let (status, health) = app.health().await;
    assert_eq!(status, 500);
    assert_eq!(health["redis"]["status"], "disconnected");

    server.start_again();
    wait_for_health(&app, "healthy", Duration::from_secs(15)).await;
}

#[tokio::test]
async fn metrics_expose_requests_and_redis_figures_as_prometheus_text() {
    let server = RedisServer::builder().password("s3cretpw").start();
    let variables = redis_variables(&server);
    let app = TestApp::spawn(&as_pairs(&variables)).await;
    app.health().await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for metric in [
        "intake_http_requests_total",
        "intake_redis_command_duration_seconds",
        "intake_redis_circuit_breaker_state",
        "intake_redis_pool_connections",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
}

/// Polls `/health` until its status is `wanted` (recovery runs on the
/// breaker's timer, so there is no event to wait on).
async fn wait_for_health(app: &TestApp, wanted: &str, limit: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (_, health) = app.health().await;
        if health["status"] == wanted {
            return health;
        }
        assert!(
            started.elapsed() < limit,
            "health never became {wanted}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn info_field(server: &RedisServer, field: &str) -> String {
    let info = server.cli(&["INFO", "memory"]);
    info.lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix(&format!("{field}:"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("{field} not in INFO"))
}

#[tokio::test]
async fn health_reports_sentinel_mode_through_the_configured_sentinels() {
    let group = RedisSentinelGroup::start("intake-master", 3, Some("s3cretpw"));
    let sentinels = group.sentinel_addrs().join(",");
    let app = TestApp::spawn(&[
        ("REDIS_SENTINELS", &sentinels),
        ("REDIS_SENTINEL_MASTER", group.master_name()),
        ("REDIS_PASSWORD", "s3cretpw"),
    ])
    .await;

    let (status, health) = app.health().await;

    assert_eq!(status, 200, "{health}");
    assert_eq!(health["redis"]["mode"], "sentinel");
    assert_eq!(health["redis"]["status"], "connected");
    assert_eq!(health["redis"]["server"]["role"], "master");
}

#[tokio::test]
async fn on_redis_cluster_sessions_and_rate_limits_keep_their_keys_in_one_slot() {
    let cluster = RedisCluster::start(3, Some("s3cretpw"));
    let nodes = cluster.node_addrs().join(",");
    let app = TestApp::spawn(&[
        ("REDIS_CLUSTER_NODES", &nodes),
        ("REDIS_PASSWORD", "s3cretpw"),
        ("RATE_LIMIT_AUTH", "100/60s+0"),
    ])
    .await;
    let (status, health) = app.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["redis"]["mode"], "cluster");

    // Multi-key scripts (session, CSRF tokens, the user's index) would fail
    // with CROSSSLOT if their keys did not share a hash tag.
    app.add_user("Clinic", "ada@clinic.example", "staff").await;
    let first = app.sign_in("ada@clinic.example").await;
    let second = app.sign_in("ada@clinic.example").await;
    let (status, listed) = first
        .call(&app, reqwest::Method::GET, "/api/auth/sessions", None)
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 2);
    let (status, revoked) = first
        .call(
            &app,
            reqwest::Method::POST,
            "/api/auth/sessions/revoke-others",
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), revoked),
        (200, serde_json::json!({"revoked": 1}))
    );
    let (status, _) = second
        .call(&app, reqwest::Method::GET, "/api/auth/me", None)
        .await;
    assert_eq!(status, 401);
    let (status, _) = first
        .call(&app, reqwest::Method::POST, "/api/auth/logout", None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_certificate_naming_its_server_only_in_the_common_name_needs_the_hostname_check_off() {
    // GCP Memorystore's certificates look like this; rustls reads only
    // subject alternative names.
    let server = RedisServer::builder()
        .password("s3cretpw")
        .tls_with_name_in_common_name_only()
        .start();
    let url = server.url();
    let ca = server.ca_cert_path().unwrap().display().to_string();

    let strict = TestApp::spawn(&[("REDIS_URL", &url), ("REDIS_CA_CERT", &ca)]).await;
    let (status, health) = strict.health().await;
    assert_eq!(status, 500, "the name check refuses it: {health}");

    let relaxed = TestApp::spawn(&[
        ("REDIS_URL", &url),
        ("REDIS_CA_CERT", &ca),
        ("REDIS_TLS_VERIFY_HOSTNAME", "false"),
    ])
    .await;
    let (status, health) = relaxed.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["redis"]["status"], "connected");

    // The chain is still checked: another CA's certificate is refused.
    let stranger = RedisServer::builder().password("s3cretpw").tls().start();
    let other_ca = stranger.ca_cert_path().unwrap().display().to_string();
    let wrong_ca = TestApp::spawn(&[
        ("REDIS_URL", &url),
        ("REDIS_CA_CERT", &other_ca),
        ("REDIS_TLS_VERIFY_HOSTNAME", "false"),
    ])
    .await;
    assert_eq!(wrong_ca.health().await.0, 500);
}
