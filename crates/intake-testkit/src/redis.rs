//! Real `redis-server` processes for tests, on free loopback ports.
//!
//! - [`RedisServer`]: one server, plain or with a password, TLS only (with a
//!   CA and a server certificate made for it), a memory limit or any other
//!   option. It can be stopped and started again on the same port.
//! - [`RedisSentinelGroup`]: a master, one replica and Sentinels watching them.
//! - [`RedisCluster`]: masters joined into a Redis Cluster, without replicas.
//!
//! Every process runs in the foreground with its log on stdout, and start-up
//! waits for the log line saying it is ready, never for a fixed time. Nothing
//! is persisted (`save ""`, `appendonly no`); each server works in its own
//! temporary directory, removed with it. Dropping a helper kills its
//! processes and waits for them.
//!
//! The `redis-server`, `redis-cli` and `openssl` commands must be on the
//! `PATH`. Tests inspect servers through `redis-cli` ([`RedisServer::cli`]),
//! so this crate needs no Redis client library.

mod certificates;
mod cluster;
mod ports;
mod sentinel;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

pub use self::cluster::RedisCluster;
pub use self::sentinel::RedisSentinelGroup;

use self::certificates::TlsFiles;
use crate::process::WatchedProcess;

/// How long a process may take to log that it is ready, and a cluster or
/// Sentinel group to settle, before the helper gives up.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server may take to exit after SIGTERM before it is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The line `redis-server` logs once its listening sockets are open.
const READY_LINE: &str = "Ready to accept connections";

/// How many times a server whose port was taken by another process in the
/// meantime is started again on a new port.
const PORT_ATTEMPTS: usize = 3;

/// Chooses how a [`RedisServer`] is configured; [`RedisServerBuilder::start`]
/// starts it.
#[derive(Clone, Default)]
#[must_use]
pub struct RedisServerBuilder {
    port: Option<u16>,
    password: Option<String>,
    tls: bool,
    /// The server certificate names its address only in its common name.
    name_in_common_name_only: bool,
    /// Option names, without the leading `--`, and their values.
    options: Vec<(String, Vec<String>)>,
}

impl RedisServerBuilder {
    /// Requires clients to authenticate with `password` (`requirepass`).
    /// It goes to `redis-server` as a command-line argument, so it must not
    /// begin with `--`.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Serves TLS only, with a server certificate for `127.0.0.1` and
    /// `localhost` signed by a CA made for this server (see
    /// [`RedisServer::ca_cert_path`]). Clients need no certificate.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Serves TLS with a certificate that names `127.0.0.1` only in its
    /// common name, with no subject alternative name, as GCP Memorystore's
    /// certificates do. Clients that check names against subject alternative
    /// names only (rustls) refuse it unless told to skip the name.
    pub fn tls_with_name_in_common_name_only(mut self) -> Self {
        self.tls = true;
        self.name_in_common_name_only = true;
        self
    }

    /// Limits the memory used for data to `bytes` (`maxmemory`).
    pub fn maxmemory(self, bytes: u64) -> Self {
        self.arg("maxmemory", &bytes.to_string())
    }

    /// Sets what happens when `maxmemory` is reached, such as `noeviction`.
    pub fn maxmemory_policy(self, policy: &str) -> Self {
        self.arg("maxmemory-policy", policy)
    }

    /// Sets any other configuration option, with or without the leading
    /// `--`. Several words in `value` become several values, as in
    /// `redis.conf`: `arg("replicaof", "127.0.0.1 6380")`.
    pub fn arg(mut self, option: &str, value: &str) -> Self {
        let option = option.trim_start_matches("--").to_owned();
        let mut values: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
        if values.is_empty() {
            // An empty value stays one empty argument, as in `save ""`.
            values.push(String::new());
        }
        self.options.push((option, values));
        self
    }

    /// Sets an option to one value, spaces included, such as a password.
    fn single_value_arg(mut self, option: &str, value: &str) -> Self {
        let values = vec![value.to_owned()];
        self.options.push((option.to_owned(), values));
        self
    }

    /// Listens on `port` instead of a free port chosen by the builder.
    fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Starts the server and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// When the server, or `openssl` for TLS, fails; the message carries the
    /// server's log.
    pub fn start(self) -> RedisServer {
        // A port chosen by the caller cannot be swapped for another.
        let attempts = match self.port {
            Some(_) => 1,
            None => PORT_ATTEMPTS,
        };
        for attempt in 1..=attempts {
            match self.clone().try_start() {
                Ok(server) => return server,
                Err(error) if attempt < attempts && is_port_taken(&error) => {}
                Err(error) => panic!("{error}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn try_start(self) -> Result<RedisServer, String> {
        let directory = tempfile::Builder::new()
            .prefix("intake-redis-")
            .tempdir()
            .map_err(|error| format!("failed to create a directory: {error}"))?;
        let tls = if self.tls {
            Some(TlsFiles::generate(
                directory.path(),
                self.name_in_common_name_only,
            )?)
        } else {
            None
        };

        let mut server = RedisServer {
            port: self.port.unwrap_or_else(ports::free_port),
            password: self.password,
            tls,
            options: self.options,
            process: None,
            directory,
        };
        server.try_start_again()?;
        Ok(server)
    }
}

/// A `redis-server` process on a loopback port, killed when dropped.
pub struct RedisServer {
    port: u16,
    password: Option<String>,
    tls: Option<TlsFiles>,
    options: Vec<(String, Vec<String>)>,
    /// `None` while stopped. Declared before `directory` so that the process
    /// is killed before its working directory is removed.
    process: Option<WatchedProcess>,
    directory: TempDir,
}

impl RedisServer {
    /// A builder for a server with options; see [`RedisServerBuilder`].
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder::default()
    }

    /// Starts a plain server: no password, no TLS, no memory limit.
    ///
    /// # Panics
    ///
    /// Like [`RedisServerBuilder::start`].
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// The port the server listens on, TLS or not; it stays the same across
    /// [`stop`](Self::stop) and [`start_again`](Self::start_again).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A connection URL: `redis://` or, with TLS, `rediss://`, carrying the
    /// password (percent-encoded) when there is one.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(password) => {
                let password = percent_encode(password);
                format!("{scheme}://:{password}@{}", self.addr())
            }
            None => format!("{scheme}://{}", self.addr()),
        }
    }

    /// The password clients must send, if the server requires one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The PEM file of the CA that signed the server certificate, for a TLS
    /// server.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.tls
            .as_ref()
            .map(|files| files.ca_certificate.as_path())
    }

    /// The server's working directory, removed when the server is dropped.
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }

    /// Whether the server process is running (it was not stopped).
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// The log of the running process, or an empty string while stopped.
    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(|process| process.output().text())
            .unwrap_or_default()
    }

    /// Waits until the running process logs a line containing `needle`,
    /// counting from its start; fails with the log after `timeout`.
    pub fn wait_for_log_line(&self, needle: &str, timeout: Duration) -> Result<(), String> {
        match &self.process {
            Some(process) => process.wait_for_line(needle, timeout),
            None => Err(format!("redis-server on port {} is stopped", self.port)),
        }
    }

    /// Shuts the server down with SIGTERM, killing it if it has not exited
    /// within 10 s. Does nothing if it is already stopped. The port is kept
    /// for [`start_again`](Self::start_again).
    pub fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            // Failing to reap means the process is gone already.
            let _ = process.terminate(SHUTDOWN_GRACE);
        }
    }

    /// Starts a stopped server again on the same port, with the same
    /// configuration and certificates, and waits until it accepts
    /// connections. Its data is gone: nothing was persisted.
    ///
    /// # Panics
    ///
    /// When the server is running, or fails to start (with its log).
    pub fn start_again(&mut self) {
        if let Err(error) = self.try_start_again() {
            panic!("{error}");
        }
    }

    /// Stops the server, then starts it again on the same port.
    ///
    /// # Panics
    ///
    /// Like [`start_again`](Self::start_again).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Runs `redis-cli` against the server, authenticated and over TLS when
    /// needed, with `arguments` such as `["CONFIG", "GET", "maxmemory"]`, and
    /// returns its output, trimmed.
    ///
    /// # Panics
    ///
    /// When `redis-cli` fails, including on an error reply.
    pub fn cli(&self, arguments: &[&str]) -> String {
        self.try_cli(arguments).unwrap_or_else(|error| {
            panic!(
                "redis-cli {arguments:?} on port {} failed: {error}",
                self.port
            )
        })
    }

    /// Like [`cli`](Self::cli), but an error reply (`NOAUTH ...`, `OOM ...`)
    /// or a failure to connect is returned as `Err` with `redis-cli`'s
    /// messages.
    pub fn try_cli(&self, arguments: &[&str]) -> Result<String, String> {
        run_cli(self.cli_command(), arguments)
    }

    /// `redis-cli` with this server's address, TLS options and password (in
    /// the environment, so it is not on the command line).
    fn cli_command(&self) -> Command {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(files) = &self.tls {
            command
                .arg("--tls")
                .arg("--cacert")
                .arg(&files.ca_certificate);
        }
        if let Some(password) = &self.password {
            command.env("REDISCLI_AUTH", password);
        }
        command
    }

    fn try_start_again(&mut self) -> Result<(), String> {
        if self.process.is_some() {
            return Err(format!(
                "redis-server on port {} is already running",
                self.port
            ));
        }
        let process = WatchedProcess::spawn("redis-server", self.server_command())?;
        let ready = process.output().wait_for_line(READY_LINE, STARTUP_TIMEOUT);
        ready.map_err(|error| {
            format!("redis-server on port {} did not start: {error}", self.port)
        })?;
        self.process = Some(process);
        Ok(())
    }

    fn server_command(&self) -> Command {
        let mut command = Command::new("redis-server");
        command.args(["--daemonize", "no", "--logfile", "", "--bind", "127.0.0.1"]);
        command.args(["--save", "", "--appendonly", "no"]);
        command.arg("--dir").arg(self.directory.path());

        let port = self.port.to_string();
        match &self.tls {
            None => {
                command.args(["--port", &port]);
            }
            Some(files) => {
                command.args(["--port", "0", "--tls-port", &port]);
                command.arg("--tls-cert-file").arg(&files.certificate);
                command.arg("--tls-key-file").arg(&files.private_key);
                command.arg("--tls-ca-cert-file").arg(&files.ca_certificate);
                command.args(["--tls-auth-clients", "no"]);
            }
        }
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        for (option, values) in &self.options {
            command.arg(format!("--{option}"));
            command.args(values);
        }
        command
    }
}

/// Whether a server failed because another process took its port after it
/// was found free.
fn is_port_taken(error: &str) -> bool {
    error.contains("Address already in use")
}

/// Runs `redis-cli` with `-e`, so that an error reply fails too, and returns
/// its output trimmed, or its messages as the error.
fn run_cli(mut command: Command, arguments: &[&str]) -> Result<String, String> {
    let output = command
        .arg("-e")
        .args(arguments)
        .output()
        .map_err(|error| format!("failed to run redis-cli: {error}"))?;

    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(format!("{stdout}\n{stderr}").trim().to_owned())
}

/// Percent-encodes everything but unreserved characters (RFC 3986), so a
/// password can sit in a URL's user information.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_keeps_unreserved_characters_and_encodes_the_rest() {
        assert_eq!(percent_encode("Secret-1._~"), "Secret-1._~");
        assert_eq!(percent_encode("a b@c:d/é"), "a%20b%40c%3Ad%2F%C3%A9");
    }

    #[test]
    fn arg_splits_words_and_keeps_an_empty_value() {
        let builder = RedisServer::builder()
            .arg("--replicaof", "127.0.0.1 6380")
            .arg("save", "");

        let expected = [
            (
                "replicaof".to_owned(),
                vec!["127.0.0.1".to_owned(), "6380".to_owned()],
            ),
            ("save".to_owned(), vec![String::new()]),
        ];
        assert_eq!(builder.options, expected);
    }
}
