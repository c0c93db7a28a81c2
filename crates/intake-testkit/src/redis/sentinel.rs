//! A Sentinel group: a master, one replica and Sentinels watching them.
//!
//! The group is ready once the replica has finished its first sync and every
//! Sentinel has logged that it monitors the master, has found the replica and
//! has found every other Sentinel, and answers `SENTINEL
//! get-master-addr-by-name` with the master's address. Sentinels find each
//! other through hello messages sent every 2 s, so start-up takes about that
//! long; without it they could not elect a leader for a failover.

use std::fs;
use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

use super::{RedisServer, RedisServerBuilder, STARTUP_TIMEOUT, ports, run_cli};
use crate::process::WatchedProcess;

/// The line a replica logs once it holds a copy of the master's data.
const REPLICA_SYNCED_LINE: &str = "MASTER <-> REPLICA sync: Finished with success";

/// A master, one replica and Sentinels monitoring them, all on loopback
/// ports and killed when dropped.
pub struct RedisSentinelGroup {
    master_name: String,
    /// Declared first so that the Sentinels are killed before the servers
    /// they watch.
    sentinels: Vec<Sentinel>,
    master: RedisServer,
    replica: RedisServer,
}

impl RedisSentinelGroup {
    /// Starts a master, a replica of it and `sentinels` Sentinels that
    /// monitor it as `master_name`, with a quorum of a majority of them.
    /// With a `password`, both servers require it and the Sentinels and the
    /// replica authenticate with it; the Sentinels themselves need none.
    ///
    /// # Panics
    ///
    /// When `sentinels` is 0, `master_name` is not a plain word, or a process
    /// fails to start or the group does not settle within 10 s (with the
    /// logs).
    pub fn start(master_name: &str, sentinels: usize, password: Option<&str>) -> Self {
        assert!(
            sentinels > 0,
            "a Sentinel group needs at least one Sentinel"
        );
        assert!(
            is_plain_word(master_name),
            "master name {master_name:?} must be letters, digits, '-', '_' or '.'"
        );

        let master = replicated_server(password).start();
        let replicaof = format!("127.0.0.1 {}", master.port());
        let replica = replicated_server(password)
            .arg("replicaof", &replicaof)
            .start();
        expect(replica.wait_for_log_line(REPLICA_SYNCED_LINE, STARTUP_TIMEOUT));

        let settings = SentinelSettings {
            master_name,
            master_port: master.port(),
            quorum: sentinels / 2 + 1,
            password,
        };
        let sentinels = (0..sentinels).map(|_| Sentinel::start(&settings)).collect();

        let group = Self {
            master_name: master_name.to_owned(),
            sentinels,
            master,
            replica,
        };
        group.wait_until_settled();
        group
    }

    /// The name the Sentinels know the master by.
    pub fn master_name(&self) -> &str {
        &self.master_name
    }

    /// `127.0.0.1:PORT` of every Sentinel.
    pub fn sentinel_addrs(&self) -> Vec<String> {
        let addr = |sentinel: &Sentinel| format!("127.0.0.1:{}", sentinel.port);
        self.sentinels.iter().map(addr).collect()
    }

    /// The server that was master when the group started.
    pub fn master(&self) -> &RedisServer {
        &self.master
    }

    /// The server that was a replica when the group started.
    pub fn replica(&self) -> &RedisServer {
        &self.replica
    }

    /// The master as [`master`](Self::master), mutable so that a test can
    /// stop it to cause a failover.
    pub fn master_mut(&mut self) -> &mut RedisServer {
        &mut self.master
    }

    /// The replica as [`replica`](Self::replica), mutable.
    pub fn replica_mut(&mut self) -> &mut RedisServer {
        &mut self.replica
    }

    /// Runs `redis-cli` against the Sentinel at `index` with `arguments`,
    /// such as `["SENTINEL", "get-master-addr-by-name", "primary"]`, and
    /// returns its output, trimmed.
    ///
    /// # Panics
    ///
    /// When there is no such Sentinel, or `redis-cli` fails, including on an
    /// error reply.
    pub fn sentinel_cli(&self, index: usize, arguments: &[&str]) -> String {
        let sentinel = &self.sentinels[index];
        sentinel.cli(arguments).unwrap_or_else(|error| {
            panic!("redis-cli {arguments:?} on Sentinel {index} failed: {error}")
        })
    }

    fn wait_until_settled(&self) {
        let replica_found = format!("+slave slave {} ", self.replica.addr());
        let sentinel_found = "+sentinel sentinel ";
        let others = self.sentinels.len() - 1;
        let expected_address = format!("127.0.0.1\n{}", self.master.port());

        for sentinel in &self.sentinels {
            let output = sentinel.process.output();
            expect(output.wait_for_line(&replica_found, STARTUP_TIMEOUT));
            expect(output.wait_for_lines(sentinel_found, others, STARTUP_TIMEOUT));

            let query = ["SENTINEL", "get-master-addr-by-name", &self.master_name];
            let address = expect(sentinel.cli(&query));
            assert_eq!(
                address, expected_address,
                "Sentinel on port {} reports another master",
                sentinel.port
            );
        }
    }
}

/// Whether `name` can stand unquoted in a Sentinel configuration file and in
/// its log lines.
fn is_plain_word(name: &str) -> bool {
    let is_allowed =
        |character: char| character.is_ascii_alphanumeric() || "-_.".contains(character);
    !name.is_empty() && name.chars().all(is_allowed)
}

/// A server ready to take part in replication, as master or replica.
fn replicated_server(password: Option<&str>) -> RedisServerBuilder {
    // Without this a master waits 5 s for more replicas before a first sync.
    let builder = RedisServer::builder().arg("repl-diskless-sync-delay", "0");
    match password {
        // `masterauth` lets either server follow the other after a failover.
        Some(password) => builder
            .password(password)
            .single_value_arg("masterauth", password),
        None => builder,
    }
}

/// What every Sentinel of a group is told about the master.
struct SentinelSettings<'a> {
    master_name: &'a str,
    master_port: u16,
    quorum: usize,
    password: Option<&'a str>,
}

/// One `redis-server --sentinel` process with its own configuration file,
/// which Sentinel rewrites as it learns about the group.
struct Sentinel {
    port: u16,
    /// Declared before `_directory` so that the process is killed before its
    /// configuration file is removed.
    process: WatchedProcess,
    /// Held only to be removed when the Sentinel is dropped.
    _directory: TempDir,
}

impl Sentinel {
    fn start(settings: &SentinelSettings) -> Self {
        let port = ports::free_port();
        let directory = expect(
            tempfile::Builder::new()
                .prefix("intake-sentinel-")
                .tempdir()
                .map_err(|error| format!("failed to create a directory: {error}")),
        );
        let config_path = directory.path().join("sentinel.conf");
        let config = sentinel_config(port, directory.path(), settings);
        expect(
            fs::write(&config_path, config)
                .map_err(|error| format!("failed to write sentinel.conf: {error}")),
        );

        let mut command = Command::new("redis-server");
        command.arg(&config_path).arg("--sentinel");
        let process = expect(WatchedProcess::spawn("redis-sentinel", command));
        let monitoring = format!("+monitor master {} ", settings.master_name);
        expect(process.wait_for_line(&monitoring, STARTUP_TIMEOUT));

        Self {
            port,
            process,
            _directory: directory,
        }
    }

    fn cli(&self, arguments: &[&str]) -> Result<String, String> {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        run_cli(command, arguments)
    }
}

fn sentinel_config(port: u16, directory: &Path, settings: &SentinelSettings) -> String {
    let name = settings.master_name;
    let directory = quote_config_value(&directory.to_string_lossy());
    let mut config = format!(
        "port {port}\n\
         bind 127.0.0.1\n\
         daemonize no\n\
         logfile \"\"\n\
         dir {directory}\n\
         sentinel monitor {name} 127.0.0.1 {} {}\n\
         sentinel down-after-milliseconds {name} 1000\n\
         sentinel failover-timeout {name} 5000\n",
        settings.master_port, settings.quorum,
    );
    if let Some(password) = settings.password {
        let password = quote_config_value(password);
        config.push_str(&format!("sentinel auth-pass {name} {password}\n"));
    }
    config
}

/// Quotes a value for a Redis configuration file, escaping what the file's
/// parser would otherwise read as the end of the value.
fn quote_config_value(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    format!("\"{escaped}\"")
}

fn expect<T>(result: Result<T, String>) -> T {
    result.unwrap_or_else(|error| panic!("Sentinel group: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_config_value_escapes_quotes_and_backslashes() {
        assert_eq!(quote_config_value(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
