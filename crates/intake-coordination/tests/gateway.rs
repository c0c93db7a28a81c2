//! The Redis gateway against real `redis-server` processes: commands and
//! scripts, credentials and TLS, outages, the circuit breaker, timeouts,
//! health, Sentinel, Cluster and the compliance rules.

mod common;

use std::time::{Duration, Instant};

use intake_coordination::Coordinator;
use intake_coordination::breaker::{BreakerSettings, BreakerState};
use intake_coordination::health::{ConnectionStatus, Verdict};
use intake_coordination::redis::compliance::{self, Finding, Level};
use intake_coordination::redis::{ConnectError, GatewayError, RedisGateway, Topology};
use intake_testkit::redis::{RedisCluster, RedisSentinelGroup, RedisServer};
use redis::{Script, cmd};

use common::{connect, eventually, host_port, install_crypto_provider, settings_for};

const PASSWORD: &str = "Correct-Horse-42";

/// Writes `value` under `key` with a TTL, as every intake key has one.
async fn set(gateway: &RedisGateway, key: &str, value: &str) -> Result<(), GatewayError> {
    let mut command = cmd("SET");
    command.arg(key).arg(value).arg("EX").arg(60);
    gateway.query("SET", &command).await
}

async fn get(gateway: &RedisGateway, key: &str) -> Result<Option<String>, GatewayError> {
    gateway.query("GET", cmd("GET").arg(key)).await
}

fn finding_for<'a>(findings: &'a [Finding], rule: &str) -> Option<&'a Finding> {
    findings.iter().find(|finding| finding.rule == rule)
}

#[tokio::test]
async fn set_then_get_round_trips_and_the_pool_counts_its_checkouts() {
    install_crypto_provider();
    let server = RedisServer::start();
    let gateway = connect(settings_for(&server)).await;

    set(&gateway, "intake:test:greeting", "hello")
        .await
        .unwrap();
    let value = get(&gateway, "intake:test:greeting").await.unwrap();

    assert_eq!(value.as_deref(), Some("hello"));
    let figures = gateway.pool_figures();
    assert!(figures.total_connections >= 1, "{figures:?}");
    assert!(figures.hits > 0, "{figures:?}");
}

#[tokio::test]
async fn a_script_still_runs_after_redis_flushed_its_script_cache() {
    install_crypto_provider();
    let server = RedisServer::start();
    let gateway = connect(settings_for(&server)).await;
    let script = Script::new(
        "redis.call('SET', KEYS[1], ARGV[1], 'EX', 60) return redis.call('GET', KEYS[1])",
    );

    let first: String = gateway
        .invoke("test.echo", script.key("intake:test:script").arg("one"))
        .await
        .unwrap();
    assert_eq!(server.cli(&["SCRIPT", "FLUSH"]), "OK");
    let second: String = gateway
        .invoke("test.echo", script.key("intake:test:script").arg("two"))
        .await
        .unwrap();

    assert_eq!((first.as_str(), second.as_str()), ("one", "two"));
    assert_eq!(server.cli(&["SCRIPT", "EXISTS", script.get_hash()]), "1");
}

#[tokio::test]
async fn a_password_and_tls_server_reports_its_version_and_role() {
    install_crypto_provider();
    let server = RedisServer::builder().password(PASSWORD).tls().start();
    let gateway = connect(settings_for(&server)).await;

    let (info, _latency) = gateway.server_info().await.unwrap();

    assert!(info.redis_version.starts_with("7."), "{info:?}");
    assert_eq!(info.role, "master");
    assert!(info.used_memory > 0, "{info:?}");
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error() {
    install_crypto_provider();
    let server = RedisServer::builder().password(PASSWORD).start();
    let mut settings = settings_for(&server);
    settings.password = Some("not-the-password".into());

    let result = RedisGateway::connect(settings).await;

    assert!(
        matches!(result, Err(ConnectError::Authentication)),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn no_password_against_a_password_server_is_an_authentication_error() {
    install_crypto_provider();
    let server = RedisServer::builder().password(PASSWORD).start();
    let mut settings = settings_for(&server);
    settings.password = None;

    let result = RedisGateway::connect(settings).await;

    assert!(
        matches!(result, Err(ConnectError::Authentication)),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn an_unreachable_redis_at_start_is_an_outage_that_heals_without_a_new_gateway() {
    install_crypto_provider();
    let mut server = RedisServer::start();
    let mut settings = settings_for(&server);
    settings.breaker.open_for = Duration::from_millis(200);
    server.stop();

    let gateway = connect(settings).await;
    let started = Instant::now();
    let error = get(&gateway, "intake:test:absent").await.unwrap_err();

    // A refused connection fails the call with its reason, not by waiting
    // out the command timeout.
    assert!(error.is_unavailable(), "{error:?}");
    assert!(matches!(error, GatewayError::Unreachable(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    server.start_again();
    let value = eventually(Duration::from_secs(5), || {
        get(&gateway, "intake:test:absent")
    })
    .await;

    assert_eq!(value, None);
    assert_eq!(gateway.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn the_breaker_opens_after_the_threshold_fails_fast_and_closes_after_recovery() {
    install_crypto_provider();
    let mut server = RedisServer::start();
    let mut settings = settings_for(&server);
    settings.max_retries = 1;
    settings.breaker = BreakerSettings {
        failure_threshold: 3,
        open_for: Duration::from_millis(300),
    };
    let gateway = connect(settings).await;
    server.stop();

    // The breaker opens during the third call, so not before it started.
    let mut not_open_before = Instant::now();
    for failure in 1..=3 {
        assert_eq!(gateway.breaker_state(), BreakerState::Closed, "{failure}");
        not_open_before = Instant::now();
        let error = get(&gateway, "intake:test:key").await.unwrap_err();
        assert!(matches!(error, GatewayError::Unreachable(_)), "{error:?}");
    }
    assert_eq!(gateway.breaker_state(), BreakerState::Open);

    let started = Instant::now();
    let error = get(&gateway, "intake:test:key").await.unwrap_err();
    assert!(matches!(error, GatewayError::CircuitOpen), "{error:?}");
    assert!(started.elapsed() < Duration::from_millis(50));

    server.start_again();
    eventually(Duration::from_secs(5), || get(&gateway, "intake:test:key")).await;

    assert!(not_open_before.elapsed() >= Duration::from_millis(300));
    assert_eq!(gateway.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn a_call_redis_does_not_answer_times_out_and_health_reports_it() {
    install_crypto_provider();
    let server = RedisServer::start();
    let mut settings = settings_for(&server);
    let command_timeout = Duration::from_millis(200);
    settings.command_timeout = command_timeout;
    // Without a retry to outlast it, the connection's own response timeout
    // ends the call about when the gateway's deadline does; either way the
    // call must come back as a timeout.
    settings.max_retries = 0;
    let gateway = connect(settings).await;
    let coordinator = Coordinator::redis(gateway.clone(), "intake:");
    let timeouts_before = gateway.pool_figures().timeouts;

    // Redis holds every client's commands, the gateway's included, for 1 s.
    server.cli(&["CLIENT", "PAUSE", "1000", "ALL"]);
    let started = Instant::now();
    let error = get(&gateway, "intake:test:key").await.unwrap_err();
    let elapsed = started.elapsed();

    assert!(
        matches!(error, GatewayError::Timeout(timeout) if timeout == command_timeout),
        "{error:?}"
    );
    assert!(
        elapsed < command_timeout + Duration::from_secs(1),
        "{elapsed:?}"
    );
    assert!(gateway.pool_figures().timeouts > timeouts_before);

    // `redis-cli` is held by the pause too, so it returns once Redis answers
    // again (CLIENT UNPAUSE would wait just the same).
    assert_eq!(server.cli(&["PING"]), "PONG");
    let health = coordinator.health().await;
    assert_eq!(health.verdict, Verdict::Degraded, "{health:?}");
    let warning = health.warning.unwrap_or_default();
    assert!(warning.contains("timeouts"), "{warning}");

    let next = coordinator.health().await;
    assert_eq!(next.verdict, Verdict::Healthy, "{next:?}");
}

/// `used_memory` as `INFO memory` reports it now.
fn used_memory(server: &RedisServer) -> u64 {
    let info = server.cli(&["INFO", "memory"]);
    let value = info
        .lines()
        .find_map(|line| line.trim_end().strip_prefix("used_memory:"))
        .expect("INFO memory reports used_memory");
    value.parse().expect("used_memory is a number")
}

#[tokio::test]
async fn health_is_degraded_at_eighty_percent_of_maxmemory_and_healthy_below() {
    install_crypto_provider();
    let server = RedisServer::start();
    let gateway = connect(settings_for(&server)).await;
    let coordinator = Coordinator::redis(gateway, "intake:");
    let unlimited = coordinator.health().await;
    assert_eq!(unlimited.verdict, Verdict::Healthy, "{unlimited:?}");

    let near_limit = (used_memory(&server) * 100 / 85).to_string();
    server.cli(&["CONFIG", "SET", "maxmemory", &near_limit]);
    let crowded = coordinator.health().await;

    assert_eq!(crowded.verdict, Verdict::Degraded, "{crowded:?}");
    let warning = crowded.warning.unwrap_or_default();
    assert!(warning.contains("maxmemory"), "{warning}");
    let ratio = crowded.server.and_then(|server| server.memory_usage_ratio);
    assert!(ratio.is_some_and(|ratio| ratio >= 0.8), "{ratio:?}");

    let roomy = (used_memory(&server) * 100 / 40).to_string();
    server.cli(&["CONFIG", "SET", "maxmemory", &roomy]);
    let relieved = coordinator.health().await;
    assert_eq!(relieved.verdict, Verdict::Healthy, "{relieved:?}");
    assert_eq!(relieved.warning, None);
}

#[tokio::test]
async fn health_of_a_stopped_server_is_unhealthy_and_disconnected() {
    install_crypto_provider();
    let mut server = RedisServer::start();
    let gateway = connect(settings_for(&server)).await;
    let coordinator = Coordinator::redis(gateway, "intake:");
    server.stop();

    let health = coordinator.health().await;

    assert_eq!(health.verdict, Verdict::Unhealthy, "{health:?}");
    assert_eq!(health.status, ConnectionStatus::Disconnected);
    assert_eq!(health.mode, "standalone");
    assert!(health.server.is_none());
    assert!(health.warning.is_some());
}

#[tokio::test]
async fn a_sentinel_gateway_reaches_the_master() {
    install_crypto_provider();
    let group = RedisSentinelGroup::start("intake-master", 3, Some(PASSWORD));
    let mut settings = settings_for(group.master());
    settings.topology = Topology::Sentinel {
        sentinels: group
            .sentinel_addrs()
            .iter()
            .map(|a| host_port(a))
            .collect(),
        master_name: group.master_name().to_owned(),
    };
    let gateway = connect(settings).await;

    let (info, _latency) = gateway.server_info().await.unwrap();
    set(&gateway, "intake:test:sentinel", "master")
        .await
        .unwrap();
    let value = get(&gateway, "intake:test:sentinel").await.unwrap();

    assert_eq!(info.role, "master");
    assert_eq!(value.as_deref(), Some("master"));
    assert_eq!(
        group.master().cli(&["GET", "intake:test:sentinel"]),
        "master"
    );
}

#[tokio::test]
async fn a_cluster_gateway_reaches_keys_on_every_node_and_reads_info() {
    install_crypto_provider();
    let cluster = RedisCluster::start(3, Some(PASSWORD));
    let mut settings = settings_for(&cluster.nodes()[0]);
    settings.topology = Topology::Cluster {
        nodes: cluster.node_addrs().iter().map(|a| host_port(a)).collect(),
    };
    let gateway = connect(settings).await;
    let keys: Vec<String> = (0..20).map(|n| format!("intake:test:key-{n}")).collect();

    for key in &keys {
        set(&gateway, key, key).await.unwrap();
    }
    for key in &keys {
        assert_eq!(
            get(&gateway, key).await.unwrap().as_deref(),
            Some(key.as_str())
        );
    }

    // Twenty keys spread over the slots land on every master.
    for node in cluster.nodes() {
        assert_ne!(node.cli(&["DBSIZE"]), "0", "node {}", node.addr());
    }
    let (info, _latency) = gateway.server_info().await.unwrap();
    assert!(info.redis_version.starts_with("7."), "{info:?}");
    assert_eq!(info.role, "master");
    assert!(info.used_memory > 0, "{info:?}");
}

#[tokio::test]
async fn compliance_fails_a_server_without_tls_or_password() {
    install_crypto_provider();
    let server = RedisServer::start();
    let gateway = connect(settings_for(&server)).await;

    let findings = compliance::check(&gateway).await;

    let tls = finding_for(&findings, "redis-tls").map(|finding| finding.level);
    let auth = finding_for(&findings, "redis-auth").map(|finding| finding.level);
    assert_eq!(tls, Some(Level::Fail), "{findings:?}");
    assert_eq!(auth, Some(Level::Fail), "{findings:?}");
}

#[tokio::test]
async fn compliance_passes_a_server_with_tls_and_a_password() {
    install_crypto_provider();
    let server = RedisServer::builder().password(PASSWORD).tls().start();
    let gateway = connect(settings_for(&server)).await;

    let findings = compliance::check(&gateway).await;

    let failures: Vec<&Finding> = findings
        .iter()
        .filter(|finding| finding.level == Level::Fail)
        .collect();
    assert!(failures.is_empty(), "{findings:?}");
    for rule in ["redis-tls", "redis-version", "redis-eviction", "redis-auth"] {
        assert!(
            finding_for(&findings, rule).is_some(),
            "{rule}: {findings:?}"
        );
    }
}
