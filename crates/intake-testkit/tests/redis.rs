//! The Redis helpers against real `redis-server` processes, inspected with
//! `redis-cli`.

use std::net::TcpStream;
use std::process::{Command, Output};

use intake_testkit::redis::{RedisCluster, RedisSentinelGroup, RedisServer};

/// Runs `redis-cli` on a port with no password and no TLS, as a client that
/// knows nothing about the server would.
fn cli_without_credentials(port: u16, arguments: &[&str]) -> Output {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(arguments)
        .output()
        .expect("redis-cli runs")
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn plain_server_answers_ping() {
    let server = RedisServer::start();

    assert_eq!(server.cli(&["PING"]), "PONG");
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(server.addr(), format!("127.0.0.1:{}", server.port()));
}

#[tokio::test]
async fn password_server_refuses_commands_without_the_password() {
    let server = RedisServer::builder().password("Secret42").start();

    let anonymous = cli_without_credentials(server.port(), &["PING"]);

    assert!(stdout_of(&anonymous).starts_with("NOAUTH"), "{anonymous:?}");
    assert!(server.try_cli(&["GET", "x"]).is_ok());
    assert_eq!(server.cli(&["PING"]), "PONG");
    assert_eq!(server.password(), Some("Secret42"));
    let expected_url = format!("redis://:Secret42@127.0.0.1:{}", server.port());
    assert_eq!(server.url(), expected_url);
}

#[tokio::test]
async fn tls_server_answers_over_tls_and_refuses_plain_tcp() {
    let server = RedisServer::builder().tls().password("Secret42").start();

    let plain = cli_without_credentials(server.port(), &["PING"]);

    assert_eq!(server.cli(&["PING"]), "PONG");
    assert_ne!(stdout_of(&plain), "PONG", "{plain:?}");
    assert!(!plain.status.success(), "{plain:?}");
    let ca_certificate = server.ca_cert_path().expect("a TLS server has a CA");
    assert!(ca_certificate.is_file());
    assert!(server.url().starts_with("rediss://:Secret42@127.0.0.1:"));
}

#[tokio::test]
async fn tls_certificate_names_the_loopback_address_and_localhost() {
    let server = RedisServer::builder().tls().start();
    let server_certificate = server.directory().join("server.crt");

    let verified = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(server.ca_cert_path().unwrap())
        .args(["-verify_ip", "127.0.0.1", "-verify_hostname", "localhost"])
        .arg(&server_certificate)
        .output()
        .expect("openssl runs");

    assert!(verified.status.success(), "{verified:?}");
}

#[tokio::test]
async fn error_replies_fail_cli_and_come_back_from_try_cli() {
    let server = RedisServer::start();

    let error = server.try_cli(&["NO-SUCH-COMMAND"]).unwrap_err();

    assert!(error.starts_with("ERR unknown command"), "{error}");
}

#[tokio::test]
async fn builder_options_reach_the_server() {
    let server = RedisServer::builder()
        .maxmemory(4 * 1024 * 1024)
        .maxmemory_policy("noeviction")
        .arg("--hz", "20")
        .start();

    let config = server.cli(&["CONFIG", "GET", "maxmemory*"]);
    let hz = server.cli(&["CONFIG", "GET", "hz"]);

    assert!(config.contains("maxmemory\n4194304"), "{config}");
    assert!(config.contains("maxmemory-policy\nnoeviction"), "{config}");
    assert_eq!(hz, "hz\n20");
}

#[tokio::test]
#[should_panic(expected = "Bad directive")]
async fn server_that_fails_to_start_panics_with_its_log() {
    RedisServer::builder().arg("no-such-option", "1").start();
}

#[tokio::test]
async fn stopped_server_starts_again_on_the_same_port() {
    let mut server = RedisServer::builder().password("Secret42").start();
    let port = server.port();

    server.stop();
    let refused = TcpStream::connect(("127.0.0.1", port)).is_err();
    server.start_again();

    assert!(refused, "nothing listens while the server is stopped");
    assert_eq!(server.port(), port);
    assert_eq!(server.cli(&["PING"]), "PONG");
}

#[tokio::test]
async fn restarted_tls_server_keeps_its_certificates() {
    let mut server = RedisServer::builder().tls().start();
    let ca_certificate = std::fs::read(server.ca_cert_path().unwrap()).unwrap();

    server.restart();

    assert_eq!(server.cli(&["PING"]), "PONG");
    assert_eq!(
        std::fs::read(server.ca_cert_path().unwrap()).unwrap(),
        ca_certificate
    );
}

#[tokio::test]
async fn dropping_a_server_ends_its_process_and_removes_its_directory() {
    let server = RedisServer::start();
    let port = server.port();
    let directory = server.directory().to_owned();

    drop(server);

    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(!directory.exists());
}

#[tokio::test]
async fn sentinels_report_the_master_address() {
    let group = RedisSentinelGroup::start("primary", 3, Some("Secret42"));
    let master_port = group.master().port().to_string();

    assert_eq!(group.master_name(), "primary");
    assert_eq!(group.sentinel_addrs().len(), 3);
    for (index, addr) in group.sentinel_addrs().iter().enumerate() {
        let port: u16 = addr.strip_prefix("127.0.0.1:").unwrap().parse().unwrap();
        let query = ["SENTINEL", "get-master-addr-by-name", "primary"];
        let answer = stdout_of(&cli_without_credentials(port, &query));
        assert_eq!(
            answer,
            format!("127.0.0.1\n{master_port}"),
            "Sentinel {index}"
        );
    }
    let replication = group.replica().cli(&["INFO", "replication"]);
    assert!(
        replication.contains("master_link_status:up"),
        "{replication}"
    );
}

#[tokio::test]
async fn single_sentinel_without_password_finds_master_and_replica() {
    let group = RedisSentinelGroup::start("forms-primary", 1, None);

    let replicas = group.sentinel_cli(0, &["SENTINEL", "replicas", "forms-primary"]);

    assert_eq!(group.sentinel_addrs().len(), 1);
    assert!(
        replicas.contains(&group.replica().port().to_string()),
        "{replicas}"
    );
    assert_eq!(group.master().cli(&["ROLE"]).lines().next(), Some("master"));
}

#[tokio::test]
async fn cluster_reports_state_ok_on_every_node() {
    let cluster = RedisCluster::start(3, Some("Secret42"));

    assert_eq!(cluster.node_addrs().len(), 3);
    for node in cluster.nodes() {
        let info = node.cli(&["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_state:ok"), "{info}");
    }
    let first = &cluster.nodes()[0];
    assert_eq!(first.cli(&["-c", "SET", "{user}:1", "x"]), "OK");
    assert_eq!(first.cli(&["-c", "GET", "{user}:1"]), "x");
}
