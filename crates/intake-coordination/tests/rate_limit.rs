//! The rate-limit contract, run against Redis and against the in-process
//! coordinator, then what only Redis can show: the script's arithmetic is
//! the GCRA function's, a refusal costs one command and writes nothing, and
//! limits hold in process while Redis is gone.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intake_coordination::Coordinator;
use intake_coordination::rate_limit::gcra::{self, GcraParams};
use intake_coordination::rate_limit::{RateDecision, RatePolicy};
use intake_coordination::redis::RedisSettings;
use intake_testkit::redis::RedisServer;
use metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

const PASSWORD: &str = "s3cretpw";

/// A store under test, seen from two instances: two gateways on one Redis
/// server, or one in-process coordinator twice (one process, one state).
struct Store {
    name: &'static str,
    first: Coordinator,
    second: Coordinator,
    server: Option<RedisServer>,
}

async fn stores() -> Vec<Store> {
    common::install_crypto_provider();
    let server = RedisServer::builder().password(PASSWORD).start();
    let first = common::connect(common::settings_for(&server)).await;
    let second = common::connect(common::settings_for(&server)).await;
    let in_process = Coordinator::in_process();
    vec![
        Store {
            name: "redis",
            first: Coordinator::redis(first, "intake:"),
            second: Coordinator::redis(second, "intake:"),
            server: Some(server),
        },
        Store {
            name: "in-process",
            first: in_process.clone(),
            second: in_process,
            server: None,
        },
    ]
}

fn policy(text: &str) -> RatePolicy {
    text.parse().expect("test policies parse")
}

/// Settings for outage tests: a short command timeout, one retry.
fn outage_settings(server: &RedisServer) -> RedisSettings {
    let mut settings = common::settings_for(server);
    settings.command_timeout = Duration::from_millis(300);
    settings.max_retries = 1;
    settings
}

#[tokio::test]
async fn a_policy_admits_count_plus_burst_from_rest_then_refuses() {
    for store in stores().await {
        let policy = policy("3/60s+2");
        let mut remaining = Vec::new();
        for _ in 0..5 {
            let decision = store.first.rate_limit("auth", &policy, "203.0.113.7").await;
            assert!(decision.allowed, "{}: {decision:?}", store.name);
            assert!(!decision.degraded, "{}", store.name);
            assert_eq!(decision.limit, 3);
            assert_eq!(decision.retry_after, None);
            remaining.push(decision.remaining);
        }
        assert_eq!(remaining, [4, 3, 2, 1, 0], "{}", store.name);

        let refused = store.first.rate_limit("auth", &policy, "203.0.113.7").await;

        assert!(!refused.allowed, "{}", store.name);
        assert_eq!(refused.remaining, 0);
        // One request costs 20 s; five were spent a moment ago.
        let retry = refused.retry_after.expect("a refusal says when to retry");
        assert!(retry > Duration::from_secs(19) && retry <= Duration::from_secs(20));
        assert_eq!(refused.retry_after_secs(), Some(20), "{}", store.name);
        assert!(refused.reset_after > Duration::from_secs(99));
        let now_unix = refused.decided_at_unix_us / 1_000_000;
        assert!(refused.reset_at_unix >= now_unix + 99, "{}", store.name);
        assert!(refused.reset_at_unix <= now_unix + 101, "{}", store.name);

        let other_client = store.first.rate_limit("auth", &policy, "203.0.113.8").await;
        let other_policy = store.first.rate_limit("api", &policy, "203.0.113.7").await;
        assert!(
            other_client.allowed && other_policy.allowed,
            "{}",
            store.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_decisions_from_two_instances_admit_exactly_the_allowed_number() {
    for store in stores().await {
        let policy = policy("4/60s+0");
        let mut attempts = Vec::new();
        for attempt in 0..40 {
            let instance = if attempt % 2 == 0 {
                store.first.clone()
            } else {
                store.second.clone()
            };
            attempts.push(tokio::spawn(async move {
                instance.rate_limit("api", &policy, "user-1").await
            }));
        }
        let mut admitted = 0;
        for attempt in attempts {
            let decision = attempt.await.expect("the task finishes");
            assert!(!decision.degraded, "{}", store.name);
            admitted += usize::from(decision.allowed);
        }
        assert_eq!(admitted, 4, "{}", store.name);
    }
}

#[tokio::test]
async fn client_keys_cannot_shape_the_bucket_key() {
    for store in stores().await {
        let policy = policy("1/60s+0");
        let sneaky = "x}{intake:lock:{pdf:1}";
        assert!(store.first.rate_limit("api", &policy, sneaky).await.allowed);
        assert!(!store.first.rate_limit("api", &policy, sneaky).await.allowed);
        // A different key that escapes to something similar is its own bucket.
        assert!(store.first.rate_limit("api", &policy, "x").await.allowed);

        if let Some(server) = &store.server {
            let escaped = "intake:rate:api:x%7D%7Bintake:lock:%7Bpdf:1%7D";
            assert_eq!(server.cli(&["EXISTS", escaped]), "1");
        }
    }
}

/// Counts `intake_rate_limit_refusals_total` by policy label.
#[derive(Default)]
struct RefusalRecorder {
    by_policy: Arc<Mutex<HashMap<String, Arc<AtomicU64>>>>,
}

struct Count(Arc<AtomicU64>);

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl metrics::Recorder for RefusalRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() != "intake_rate_limit_refusals_total" {
            return Counter::noop();
        }
        let policy = key
            .labels()
            .find(|label| label.key() == "policy")
            .map(|label| label.value().to_owned())
            .unwrap_or_default();
        let mut by_policy = self.by_policy.lock().unwrap();
        let count = by_policy.entry(policy).or_default();
        Counter::from_arc(Arc::new(Count(Arc::clone(count))))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl RefusalRecorder {
    fn refusals(&self, policy: &str) -> u64 {
        let by_policy = self.by_policy.lock().unwrap();
        by_policy
            .get(policy)
            .map_or(0, |count| count.load(Ordering::Relaxed))
    }
}

#[test]
fn each_refusal_counts_once_under_its_policy() {
    // A recorder local to this thread, so a current-thread runtime on the
    // same thread reports to it and other tests do not.
    let recorder = RefusalRecorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stores = runtime.block_on(stores());
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            for (number, store) in stores.iter().enumerate() {
                let key = format!("client-{number}");
                for _ in 0..5 {
                    store
                        .first
                        .rate_limit("pdf", &policy("2/60s+0"), &key)
                        .await;
                }
                store
                    .first
                    .rate_limit("auth", &policy("9/60s+0"), &key)
                    .await;
            }
        });
    });
    assert_eq!(recorder.refusals("pdf"), 6, "three refusals per store");
    assert_eq!(recorder.refusals("auth"), 0);
}

// What only Redis can show.

async fn redis_store(
    settings: impl FnOnce(&RedisServer) -> RedisSettings,
) -> (RedisServer, Coordinator) {
    common::install_crypto_provider();
    let server = RedisServer::builder().password(PASSWORD).start();
    let gateway = common::connect(settings(&server)).await;
    (server, Coordinator::redis(gateway, "intake:"))
}

/// `calls` of every command in `INFO commandstats`, by lowercase name.
fn command_calls(server: &RedisServer) -> HashMap<String, u64> {
    let stats = server.cli(&["INFO", "commandstats"]);
    stats
        .lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = fields
                .split(',')
                .find_map(|field| field.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

#[tokio::test]
async fn a_refused_decision_costs_exactly_one_redis_command() {
    let (server, coordinator) = redis_store(|server| {
        let mut settings = common::settings_for(server);
        // One connection, opened before the measurement: no connection
        // set-up (AUTH, HELLO, CLIENT) can fall inside it.
        settings.pool_size = 1;
        settings.min_idle = 1;
        settings
    })
    .await;
    let policy = policy("2/60s+0");
    for _ in 0..3 {
        coordinator.rate_limit("auth", &policy, "client").await;
    }

    server.cli(&["CONFIG", "RESETSTAT"]);
    let refused = coordinator.rate_limit("auth", &policy, "client").await;
    let calls = command_calls(&server);

    assert!(!refused.allowed && !refused.degraded, "{refused:?}");
    // Redis counts the commands a script runs in commandstats too: TIME
    // and GET are the script's own, inside the one EVALSHA. `redis-cli`
    // adds its own AUTH, CONFIG RESETSTAT and INFO. Nothing is written.
    let from_the_gateway: HashMap<&str, u64> = calls
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "config|resetstat" | "info" | "auth"))
        .map(|(name, calls)| (name.as_str(), *calls))
        .collect();
    assert_eq!(
        from_the_gateway,
        HashMap::from([("evalsha", 1), ("time", 1), ("get", 1)]),
        "{calls:?}"
    );
}

/// The stored TAT of `key`, if any.
fn stored_tat(server: &RedisServer, key: &str) -> Option<u64> {
    server.cli(&["GET", key]).parse().ok()
}

#[tokio::test]
async fn the_script_decides_exactly_as_the_gcra_function() {
    let (server, coordinator) = redis_store(common::settings_for).await;
    let key = "intake:rate:api:client";
    // Odd numbers, so rounding would show: 7 per 13 s, burst 3.
    let policy = policy("7/13s+3");
    let GcraParams { interval_us, .. } = policy.gcra();
    let check = |before: Option<u64>, decision: &RateDecision, after: Option<u64>| {
        let expected = gcra::decide(before, decision.decided_at_unix_us, &policy);
        assert_eq!(decision.allowed, expected.allowed, "{decision:?}");
        assert_eq!(u64::from(decision.remaining), expected.remaining);
        assert_eq!(decision.reset_after, expected.reset_after());
        assert_eq!(
            decision.retry_after,
            (!expected.allowed).then(|| Duration::from_micros(expected.retry_after_us))
        );
        let written = expected.new_tat_us.or(before);
        assert_eq!(after, written, "the stored TAT");
    };

    for _ in 0..14 {
        let before = stored_tat(&server, key);
        let decision = coordinator.rate_limit("api", &policy, "client").await;
        check(before, &decision, stored_tat(&server, key));
    }

    // A TAT in the past (the key not yet expired) counts as a full bucket,
    // and one several intervals ahead as partly spent.
    let now_us = redis_time_us(&server);
    for tat in [now_us - 5 * interval_us, now_us + 4 * interval_us + 17] {
        server.cli(&["SET", key, &tat.to_string(), "PX", "60000"]);
        let decision = coordinator.rate_limit("api", &policy, "client").await;
        check(Some(tat), &decision, stored_tat(&server, key));
    }
}

/// Redis's clock in Unix microseconds.
fn redis_time_us(server: &RedisServer) -> u64 {
    let time = server.cli(&["TIME"]);
    let mut parts = time.lines().map(|part| part.trim().parse::<u64>().unwrap());
    parts.next().unwrap() * 1_000_000 + parts.next().unwrap()
}

#[tokio::test]
async fn the_bucket_key_lives_until_the_bucket_is_full_and_a_refusal_writes_nothing() {
    let (server, coordinator) = redis_store(common::settings_for).await;
    let key = "intake:rate:auth:client";
    let policy = policy("2/10s+0");

    let first = coordinator.rate_limit("auth", &policy, "client").await;
    let ttl_ms: u64 = server.cli(&["PTTL", key]).parse().unwrap();
    let reset_ms = first.reset_after.as_millis() as u64;
    assert!(
        ttl_ms <= reset_ms + 1 && ttl_ms + 100 >= reset_ms,
        "{ttl_ms} {reset_ms}"
    );

    coordinator.rate_limit("auth", &policy, "client").await;
    let tat = stored_tat(&server, key);
    let ttl_before: u64 = server.cli(&["PTTL", key]).parse().unwrap();
    for _ in 0..3 {
        assert!(
            !coordinator
                .rate_limit("auth", &policy, "client")
                .await
                .allowed
        );
    }
    let ttl_after: u64 = server.cli(&["PTTL", key]).parse().unwrap();

    assert_eq!(stored_tat(&server, key), tat);
    assert!(ttl_after <= ttl_before, "{ttl_after} > {ttl_before}");
}

#[tokio::test]
async fn a_budget_spent_in_redis_stays_spent_when_redis_goes_away() {
    let (mut server, coordinator) = redis_store(outage_settings).await;
    let policy = policy("3/60s+0");
    for _ in 0..3 {
        assert!(
            coordinator
                .rate_limit("auth", &policy, "client")
                .await
                .allowed
        );
    }

    server.stop();
    let refused = coordinator.rate_limit("auth", &policy, "client").await;
    let fresh = coordinator
        .rate_limit("auth", &policy, "someone-else")
        .await;

    assert!(refused.degraded && !refused.allowed, "{refused:?}");
    let retry = refused.retry_after.unwrap();
    assert!(retry > Duration::from_secs(19) && retry <= Duration::from_secs(20));
    assert!(fresh.degraded && fresh.allowed, "{fresh:?}");
}

#[tokio::test]
async fn with_redis_stopped_limits_hold_in_process_and_no_call_outlasts_the_timeout() {
    let (mut server, coordinator) = redis_store(outage_settings).await;
    let timeout = Duration::from_millis(300);
    let policy = policy("4/60s+2");
    server.stop();

    let mut admitted = 0;
    for _ in 0..10 {
        let started = Instant::now();
        let decision = coordinator.rate_limit("auth", &policy, "client").await;
        let elapsed = started.elapsed();
        assert!(decision.degraded, "{decision:?}");
        assert!(elapsed < timeout, "{elapsed:?}");
        admitted += usize::from(decision.allowed);
    }

    assert_eq!(admitted, 6);
}

#[tokio::test]
async fn a_redis_that_does_not_answer_costs_at_most_the_command_timeout() {
    let (server, coordinator) = redis_store(outage_settings).await;
    let timeout = Duration::from_millis(300);
    let policy = policy("1/60s+0");

    // Redis holds every client's commands for 2 s.
    server.cli(&["CLIENT", "PAUSE", "2000", "ALL"]);
    let mut decisions = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let decision = coordinator.rate_limit("auth", &policy, "client").await;
        let elapsed = started.elapsed();
        // The gateway's deadline, plus scheduling slack.
        assert!(
            elapsed < timeout + Duration::from_millis(250),
            "{elapsed:?}"
        );
        decisions.push(decision);
    }
    // redis-cli is held by the pause too: this returns once Redis answers.
    assert_eq!(server.cli(&["PING"]), "PONG");

    assert!(decisions.iter().all(|decision| decision.degraded));
    let admitted: Vec<bool> = decisions.iter().map(|decision| decision.allowed).collect();
    assert_eq!(admitted, [true, false, false]);
}

#[tokio::test]
async fn decisions_return_to_redis_when_it_comes_back() {
    let (mut server, coordinator) = redis_store(|server| {
        let mut settings = outage_settings(server);
        settings.breaker.open_for = Duration::from_millis(100);
        settings
    })
    .await;
    let policy = policy("100/60s+0");
    server.stop();
    assert!(
        coordinator
            .rate_limit("api", &policy, "client")
            .await
            .degraded
    );

    server.start_again();
    let decision = common::eventually(Duration::from_secs(5), || async {
        let decision = coordinator.rate_limit("api", &policy, "client").await;
        if decision.degraded {
            Err(decision)
        } else {
            Ok(decision)
        }
    })
    .await;

    assert!(decision.allowed);
}
