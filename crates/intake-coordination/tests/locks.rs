//! The lock contract, run against Redis and against the in-process
//! coordinator, then what only Redis can show: keys, TTLs, Cluster slots,
//! a renewal refused by the store, and an unreachable store.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intake_coordination::Coordinator;
use intake_coordination::locks::{LockError, LockGuard};
use intake_coordination::redis::Topology;
use intake_testkit::redis::{RedisCluster, RedisServer};

const PASSWORD: &str = "s3cretpw";

/// A short lease, so expiry and renewal are quick to see.
const SHORT_TTL: Duration = Duration::from_millis(300);
/// A lease no test outlives, so only a release can free the lock.
const LONG_TTL: Duration = Duration::from_secs(30);

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

async fn acquire(coordinator: &Coordinator, resource: &str, ttl: Duration) -> LockGuard {
    coordinator
        .acquire_lock(resource, ttl, None)
        .await
        .expect("the lock is free")
}

/// Whether `coordinator` finds `resource` held by someone else right now.
async fn is_held(coordinator: &Coordinator, resource: &str) -> bool {
    match coordinator.acquire_lock(resource, LONG_TTL, None).await {
        Err(LockError::Contended { .. }) => true,
        Ok(guard) => {
            guard.release().await.expect("released");
            false
        }
        Err(other) => panic!("the store failed: {other:?}"),
    }
}

/// Waits at most `within` for the guard to report the lock lost.
async fn lost_within(guard: &LockGuard, within: Duration) -> bool {
    tokio::time::timeout(within, guard.lost()).await.is_ok()
}

#[tokio::test]
async fn a_held_lock_is_contended_for_everyone_else_until_released() {
    for store in stores().await {
        let guard = acquire(&store.first, "pdf:response-1", LONG_TTL).await;

        let refused = store
            .second
            .acquire_lock("pdf:response-1", LONG_TTL, None)
            .await
            .unwrap_err();

        let LockError::Contended { held_for } = refused else {
            panic!("{}: {refused:?}", store.name);
        };
        let held_for = held_for.expect("the holder's remaining lease is known");
        assert!(held_for > LONG_TTL - Duration::from_secs(1), "{held_for:?}");
        assert!(is_held(&store.second, "pdf:response-1").await);
        assert!(
            !is_held(&store.second, "pdf:response-2").await,
            "{}",
            store.name
        );

        assert!(guard.release().await.expect("released"), "{}", store.name);
        assert!(
            !is_held(&store.second, "pdf:response-1").await,
            "{}",
            store.name
        );
    }
}

#[tokio::test]
async fn fencing_tokens_strictly_increase_with_every_acquisition() {
    for store in stores().await {
        let mut tokens = Vec::new();
        for round in 0..6 {
            let instance = if round % 2 == 0 {
                &store.first
            } else {
                &store.second
            };
            let guard = acquire(instance, "pdf:response-1", LONG_TTL).await;
            tokens.push(guard.fencing_token());
            guard.release().await.expect("released");
        }
        assert!(
            tokens.windows(2).all(|pair| pair[0] < pair[1]),
            "{}: {tokens:?}",
            store.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contending_tasks_on_two_instances_never_hold_the_lock_together() {
    for store in stores().await {
        let inside = Arc::new(AtomicBool::new(false));
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for task in 0..8 {
            let instance = if task % 2 == 0 {
                store.first.clone()
            } else {
                store.second.clone()
            };
            let (inside, tokens) = (Arc::clone(&inside), Arc::clone(&tokens));
            tasks.push(tokio::spawn(async move {
                for _ in 0..3 {
                    let guard = instance
                        .acquire_lock("pdf:shared", LONG_TTL, Some(Duration::from_secs(10)))
                        .await
                        .expect("acquired within the deadline");
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    tokens.lock().unwrap().push(guard.fencing_token());
                    for _ in 0..5 {
                        tokio::task::yield_now().await;
                    }
                    inside.store(false, Ordering::SeqCst);
                    assert!(guard.release().await.expect("released"));
                }
            }));
        }
        for task in tasks {
            task.await.expect("no task panicked");
        }
        let tokens = tokens.lock().unwrap();
        assert_eq!(tokens.len(), 24, "{}", store.name);
        assert!(
            tokens.windows(2).all(|pair| pair[0] < pair[1]),
            "{}: fencing tokens in order of holding: {tokens:?}",
            store.name
        );
    }
}

#[tokio::test]
async fn waiting_for_a_held_lock_gives_up_at_the_deadline() {
    for store in stores().await {
        let _holder = acquire(&store.first, "pdf:response-1", LONG_TTL).await;
        let wait = Duration::from_millis(200);

        let started = Instant::now();
        let result = store
            .second
            .acquire_lock("pdf:response-1", LONG_TTL, Some(wait))
            .await;
        let elapsed = started.elapsed();

        assert!(
            matches!(result, Err(LockError::Contended { .. })),
            "{result:?}"
        );
        assert!(elapsed >= wait, "{}: {elapsed:?}", store.name);
        assert!(
            elapsed < wait + Duration::from_millis(150),
            "{}: {elapsed:?}",
            store.name
        );
    }
}

#[tokio::test]
async fn a_waiter_gets_the_lock_soon_after_it_is_released() {
    for store in stores().await {
        let holder = acquire(&store.first, "pdf:response-1", LONG_TTL).await;
        let first_token = holder.fencing_token();
        let waiter = {
            let second = store.second.clone();
            tokio::spawn(async move {
                second
                    .acquire_lock("pdf:response-1", LONG_TTL, Some(Duration::from_secs(5)))
                    .await
            })
        };
        // Time passing is the point: the waiter must be waiting.
        tokio::time::sleep(Duration::from_millis(50)).await;

        let released_at = Instant::now();
        holder.release().await.expect("released");
        let guard = waiter.await.unwrap().expect("the waiter gets the lock");

        assert!(
            released_at.elapsed() < Duration::from_secs(1),
            "{}",
            store.name
        );
        assert!(guard.fencing_token() > first_token);
    }
}

#[tokio::test]
async fn a_holder_paused_past_its_lease_is_told_it_lost_the_lock_and_cannot_act_on_it() {
    for store in stores().await {
        let stale = acquire(&store.first, "pdf:response-1", SHORT_TTL).await;

        // The whole runtime stalls (a long pause of the process), so the
        // renewal cannot run and the lease runs out.
        std::thread::sleep(SHORT_TTL + Duration::from_millis(100));
        let next = acquire(&store.second, "pdf:response-1", LONG_TTL).await;

        assert!(
            lost_within(&stale, Duration::from_secs(1)).await,
            "{}",
            store.name
        );
        assert!(stale.is_lost());
        assert!(stale.lost_signal().is_cancelled());
        assert!(
            next.fencing_token() > stale.fencing_token(),
            "{}",
            store.name
        );
        // The stale holder can neither extend nor release the new lock.
        assert!(!stale.extend().await.expect("the store answers"));
        assert!(
            !stale.release().await.expect("the store answers"),
            "{}",
            store.name
        );
        assert!(
            is_held(&store.first, "pdf:response-1").await,
            "{}",
            store.name
        );
        assert!(!next.is_lost());
    }
}

#[tokio::test]
async fn renewal_keeps_a_long_jobs_lock_past_its_ttl() {
    for store in stores().await {
        let guard = acquire(&store.first, "pdf:response-1", SHORT_TTL).await;

        // The job runs for more than three TTLs.
        tokio::time::sleep(SHORT_TTL * 3 + Duration::from_millis(100)).await;

        assert!(!guard.is_lost(), "{}", store.name);
        assert!(
            is_held(&store.second, "pdf:response-1").await,
            "{}",
            store.name
        );
        assert!(guard.release().await.expect("released"), "{}", store.name);
    }
}

#[tokio::test]
async fn dropping_a_guard_releases_the_lock() {
    for store in stores().await {
        let guard = acquire(&store.first, "pdf:response-1", LONG_TTL).await;
        drop(guard);

        // The release runs in the background; a waiter gets the lock long
        // before its 30 s lease could have run out.
        let started = Instant::now();
        let next = store
            .second
            .acquire_lock("pdf:response-1", LONG_TTL, Some(Duration::from_secs(2)))
            .await;

        assert!(next.is_ok(), "{}: {next:?}", store.name);
        assert!(started.elapsed() < Duration::from_secs(1), "{}", store.name);
        drop(next);
        if let Some(server) = &store.server {
            common::eventually(Duration::from_secs(2), || async {
                match server
                    .cli(&["EXISTS", "intake:lock:{pdf:response-1}"])
                    .as_str()
                {
                    "0" => Ok(()),
                    other => Err(other.to_owned()),
                }
            })
            .await;
        }
    }
}

#[tokio::test]
async fn resources_that_could_shape_the_key_and_unusable_ttls_are_refused() {
    for store in stores().await {
        for resource in ["", "pdf:{x}", "a}b", "with space"] {
            let result = store.first.acquire_lock(resource, LONG_TTL, None).await;
            assert!(
                matches!(result, Err(LockError::InvalidResource)),
                "{resource:?}"
            );
        }
        for ttl in [Duration::ZERO, Duration::from_micros(999), Duration::MAX] {
            let result = store.first.acquire_lock("pdf:1", ttl, None).await;
            let name = store.name;
            assert!(matches!(result, Err(LockError::InvalidTtl)), "{name}");
        }
    }
}

// What only Redis can show.

async fn redis_coordinator(server: &RedisServer, command_timeout: Duration) -> Coordinator {
    common::install_crypto_provider();
    let mut settings = common::settings_for(server);
    settings.command_timeout = command_timeout;
    settings.max_retries = 1;
    Coordinator::redis(common::connect(settings).await, "intake:")
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    server
        .cli(&["PTTL", key])
        .parse()
        .expect("PTTL is a number")
}

#[tokio::test]
async fn the_lock_and_its_fencing_counter_share_a_hash_tag_and_both_expire() {
    let server = RedisServer::builder().password(PASSWORD).start();
    let coordinator = redis_coordinator(&server, Duration::from_secs(3)).await;

    let guard = acquire(&coordinator, "pdf:response-1", LONG_TTL).await;

    let lock_ttl = pttl(&server, "intake:lock:{pdf:response-1}");
    let fence_ttl = pttl(&server, "intake:lock-fence:{pdf:response-1}");
    assert!(lock_ttl > 29_000 && lock_ttl <= 30_000, "{lock_ttl}");
    assert!(fence_ttl > 29 * 24 * 3600 * 1000, "{fence_ttl}");
    let counter: u64 = server
        .cli(&["GET", "intake:lock-fence:{pdf:response-1}"])
        .parse()
        .unwrap();
    assert_eq!(counter, guard.fencing_token());
    // The owner token is 128 random bits, as hex.
    let owner = server.cli(&["GET", "intake:lock:{pdf:response-1}"]);
    assert_eq!(owner.len(), 32, "{owner}");
    assert!(
        !format!("{guard:?}").contains(&owner),
        "the token stays out of Debug"
    );
}

#[tokio::test]
async fn a_lost_fencing_counter_restarts_above_every_earlier_token() {
    let server = RedisServer::builder().password(PASSWORD).start();
    let coordinator = redis_coordinator(&server, Duration::from_secs(3)).await;
    let first = acquire(&coordinator, "pdf:response-1", LONG_TTL).await;
    let first_token = first.fencing_token();
    first.release().await.unwrap();

    // As if the counter had expired, or Redis had restarted empty.
    server.cli(&["DEL", "intake:lock-fence:{pdf:response-1}"]);
    let second = acquire(&coordinator, "pdf:response-1", LONG_TTL).await;

    assert!(second.fencing_token() > first_token);
}

#[tokio::test]
async fn a_holder_whose_renewal_is_refused_is_told_it_lost_the_lock() {
    let server = RedisServer::builder().password(PASSWORD).start();
    let first = redis_coordinator(&server, Duration::from_secs(3)).await;
    let second = redis_coordinator(&server, Duration::from_secs(3)).await;
    let stale = acquire(&first, "pdf:response-1", SHORT_TTL).await;
    let stale_token = stale.fencing_token();

    // The key vanishes behind the holder's back, and someone else takes it.
    server.cli(&["DEL", "intake:lock:{pdf:response-1}"]);
    let next = acquire(&second, "pdf:response-1", LONG_TTL).await;

    // The next renewal (a third of the TTL away) is refused.
    assert!(lost_within(&stale, SHORT_TTL).await);
    assert!(!stale.release().await.unwrap());
    assert!(is_held(&first, "pdf:response-1").await);
    assert!(next.fencing_token() > stale_token);
}

#[tokio::test]
async fn a_non_owner_extend_is_refused_by_the_store() {
    let server = RedisServer::builder().password(PASSWORD).start();
    let first = redis_coordinator(&server, Duration::from_secs(3)).await;
    let second = redis_coordinator(&server, Duration::from_secs(3)).await;
    let stale = acquire(&first, "pdf:response-1", LONG_TTL).await;
    server.cli(&["DEL", "intake:lock:{pdf:response-1}"]);
    let next = acquire(&second, "pdf:response-1", LONG_TTL).await;
    let ttl_before = pttl(&server, "intake:lock:{pdf:response-1}");

    // Renewal is ten seconds away: this asks the store.
    assert!(!stale.is_lost());
    assert!(!stale.extend().await.unwrap());

    assert!(stale.is_lost());
    assert!(pttl(&server, "intake:lock:{pdf:response-1}") <= ttl_before);
    assert!(next.extend().await.unwrap());
}

#[tokio::test]
async fn with_redis_unreachable_the_lease_runs_out_by_the_holders_clock() {
    let mut server = RedisServer::builder().password(PASSWORD).start();
    let coordinator = redis_coordinator(&server, Duration::from_millis(200)).await;
    let acquired_at = Instant::now();
    let guard = acquire(&coordinator, "pdf:response-1", SHORT_TTL).await;

    server.stop();

    assert!(lost_within(&guard, SHORT_TTL * 2).await);
    let lost_after = acquired_at.elapsed();
    assert!(lost_after >= SHORT_TTL, "{lost_after:?}");
    assert!(
        lost_after < SHORT_TTL + Duration::from_millis(100),
        "{lost_after:?}"
    );
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable_at_once_not_contended() {
    let mut server = RedisServer::builder().password(PASSWORD).start();
    let coordinator = redis_coordinator(&server, Duration::from_millis(300)).await;
    server.stop();

    let started = Instant::now();
    let result = coordinator
        .acquire_lock("pdf:response-1", LONG_TTL, Some(Duration::from_secs(5)))
        .await;

    let error = result.unwrap_err();
    assert!(matches!(error, LockError::Unavailable(_)), "{error:?}");
    assert!(error.is_unavailable() && !error.is_contended());
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn locks_work_on_a_cluster_because_both_keys_share_one_slot() {
    common::install_crypto_provider();
    let cluster = RedisCluster::start(3, Some(PASSWORD));
    let mut settings = common::settings_for(&cluster.nodes()[0]);
    settings.topology = Topology::Cluster {
        nodes: cluster
            .node_addrs()
            .iter()
            .map(|a| common::host_port(a))
            .collect(),
    };
    let coordinator = Coordinator::redis(common::connect(settings).await, "intake:");

    let mut tokens = Vec::new();
    for response in 0..6 {
        let resource = format!("pdf:response-{}", response % 3);
        let guard = acquire(&coordinator, &resource, LONG_TTL).await;
        assert!(guard.extend().await.expect("extended"));
        tokens.push((resource, guard.fencing_token()));
        assert!(guard.release().await.expect("released"));
    }

    for (resource, token) in &tokens[3..] {
        let earlier = tokens.iter().find(|(other, _)| other == resource).unwrap();
        assert!(token > &earlier.1, "{tokens:?}");
    }
}
