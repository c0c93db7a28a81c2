//! Helpers shared by the integration tests: settings that point a gateway at
//! a test server, and a bounded wait for something the gateway heals by
//! itself.

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::{Duration, Instant};

use intake_coordination::redis::{HostPort, RedisGateway, RedisSettings};
use intake_testkit::redis::RedisServer;

/// How often [`eventually`] tries again.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// Installs the crypto provider rustls uses for `rediss://` connections.
/// Every test calls it first: tests share one process, and whichever runs
/// first installs it.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Settings that reach `server` as it was started: its port, its password,
/// and TLS with its own CA when it serves TLS.
pub fn settings_for(server: &RedisServer) -> RedisSettings {
    let mut settings = RedisSettings::standalone("127.0.0.1", server.port());
    settings.password = server.password().map(Into::into);
    if let Some(path) = server.ca_cert_path() {
        settings.tls = true;
        let pem = std::fs::read(path).expect("the test CA certificate is readable");
        settings.ca_cert_pem = Some(pem);
    }
    settings
}

/// A gateway over `settings`, which must be accepted.
pub async fn connect(settings: RedisSettings) -> RedisGateway {
    RedisGateway::connect(settings)
        .await
        .expect("the gateway connects")
}

/// `127.0.0.1:PORT`, as the test helpers write addresses, as a [`HostPort`].
pub fn host_port(address: &str) -> HostPort {
    let (host, port) = address.rsplit_once(':').expect("an address has a port");
    HostPort {
        host: host.to_owned(),
        port: port.parse().expect("a port is a number"),
    }
}

/// Calls `attempt` until it succeeds, pausing briefly between tries, for at
/// most `within`; panics with the last error after that.
///
/// For what the gateway must do by itself over time (a breaker's open period
/// ending), not for waiting on a server to start: the test helpers return
/// only once a server accepts connections.
pub async fn eventually<T, E, F>(within: Duration, mut attempt: impl FnMut() -> F) -> T
where
    E: Debug,
    F: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + within;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(error) if Instant::now() >= deadline => {
                panic!("still failing after {} ms: {error:?}", within.as_millis())
            }
            Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}
