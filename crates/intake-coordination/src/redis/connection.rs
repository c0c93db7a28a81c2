//! Opening Redis connections for the pool, in each topology.
//!
//! A pooled [`RedisConnection`] remembers whether it may be unusable: it is
//! marked suspect before every request and cleared only when Redis answered,
//! so a request abandoned at its deadline, a reset socket, or a write refused
//! by a demoted master (`READONLY` after a Sentinel failover) all make the
//! pool drop the connection instead of handing it out again.
//!
//! bb8 never returns a failed connect from `Pool::get`: it hands the error to
//! its error sink and lets the checkout wait until its own timeout. The
//! [`ConnectFailures`] sink passes those errors on to the checkouts waiting
//! at that moment, so that a Redis refusing connections or credentials fails
//! a call at once, with the reason, instead of reading as a timeout.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, Pipeline,
    RedisConnectionInfo, RedisError, RedisFuture, RedisResult, ServerErrorKind, TlsCertificates,
    TlsMode, Value,
};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;
use tokio::sync::broadcast::{self, error::RecvError};

use super::settings::{HostPort, RedisSettings, Topology};

/// Opens connections for bb8, in the configured topology.
pub(crate) struct Connector {
    target: Target,
    config: AsyncConnectionConfig,
}

enum Target {
    Standalone(Client),
    // `SentinelClient` asks the sentinels for the current master on every
    // connect and needs `&mut self` to do it.
    Sentinel(Mutex<SentinelClient>),
    Cluster(redis::cluster::ClusterClient),
}

impl Connector {
    /// Builds the client for `settings`; fails only on configuration that
    /// can never work (such as an unreadable CA bundle).
    pub(crate) fn new(settings: &RedisSettings) -> RedisResult<Self> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.command_timeout));
        let target = match &settings.topology {
            Topology::Standalone(address) => Target::Standalone(standalone(settings, address)?),
            Topology::Sentinel {
                sentinels,
                master_name,
            } => Target::Sentinel(Mutex::new(sentinel(settings, sentinels, master_name)?)),
            Topology::Cluster { nodes } => Target::Cluster(cluster(settings, nodes)?),
        };
        Ok(Self { target, config })
    }
}

fn address(settings: &RedisSettings, node: &HostPort) -> ConnectionAddr {
    if settings.tls {
        ConnectionAddr::TcpTls {
            host: node.host.clone(),
            port: node.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(node.host.clone(), node.port)
    }
}

fn credentials(settings: &RedisSettings) -> RedisConnectionInfo {
    // The client library name costs a `CLIENT SETINFO` round trip on every
    // new connection and tells Redis nothing intake needs.
    let mut info = RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(username) = &settings.username {
        info = info.set_username(username);
    }
    if let Some(password) = &settings.password {
        info = info.set_password(password.expose_secret());
    }
    info
}

fn certificates(settings: &RedisSettings) -> Option<TlsCertificates> {
    let root_cert = settings.ca_cert_pem.clone()?;
    Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(root_cert),
    })
}

fn standalone(settings: &RedisSettings, node: &HostPort) -> RedisResult<Client> {
    let info = address(settings, node)
        .into_connection_info()?
        .set_redis_settings(credentials(settings));
    let client = match certificates(settings) {
        Some(certificates) if settings.tls => Client::build_with_tls(info, certificates)?,
        _ => Client::open(info)?,
    };
    if settings.tls_verify_hostname {
        return Ok(client);
    }
    // The chain is still checked against the configured CA; only the name
    // is not (see `RedisSettings::tls_verify_hostname`).
    let info = client.get_connection_info().clone();
    let mut address = info.addr().clone();
    address.set_danger_accept_invalid_hostnames(true);
    Client::open(info.set_addr(address))
}

fn sentinel(
    settings: &RedisSettings,
    sentinels: &[HostPort],
    master_name: &str,
) -> RedisResult<SentinelClient> {
    // TODO: sentinels are asked without credentials; deployments whose
    // sentinels require a password need their own setting for it. Nor does
    // `tls_verify_hostname` reach Sentinel connections yet: the sentinel
    // client builder offers no such switch.
    let addresses = sentinels.iter().map(|node| address(settings, node));
    let mut builder =
        SentinelClientBuilder::new(addresses, master_name, SentinelServerType::Master)?;
    if let Some(username) = &settings.username {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = &settings.password {
        builder = builder.set_client_to_redis_password(password.expose_secret());
    }
    if settings.tls {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(certificates) = certificates(settings) {
            builder = builder
                .set_client_to_redis_certificates(certificates.clone())
                .set_client_to_sentinel_certificates(certificates);
        }
    }
    builder.build()
}

fn cluster(
    settings: &RedisSettings,
    nodes: &[HostPort],
) -> RedisResult<redis::cluster::ClusterClient> {
    let seeds = nodes
        .iter()
        .map(|node| address(settings, node).into_connection_info())
        .collect::<RedisResult<Vec<_>>>()?;
    let mut builder = ClusterClientBuilder::new(seeds)
        .connection_timeout(settings.connect_timeout)
        .response_timeout(settings.command_timeout);
    if let Some(username) = &settings.username {
        builder = builder.username(username);
    }
    if let Some(password) = &settings.password {
        builder = builder.password(password.expose_secret());
    }
    if settings.tls {
        builder = builder
            .tls(TlsMode::Secure)
            .danger_accept_invalid_hostnames(!settings.tls_verify_hostname);
        if let Some(certificates) = certificates(settings) {
            builder = builder.certs(certificates);
        }
    }
    builder.build()
}

/// The pool's error sink: every failed connect, offered to the checkouts
/// waiting for a connection when it happened.
#[derive(Debug, Clone)]
pub(crate) struct ConnectFailures {
    sender: broadcast::Sender<RedisError>,
}

/// What one checkout hears from [`ConnectFailures`] while it waits.
pub(crate) struct ConnectFailureListener {
    receiver: broadcast::Receiver<RedisError>,
}

impl ConnectFailures {
    /// A sink nobody listens to yet.
    pub(crate) fn new() -> Self {
        // Listeners need only the first failure after they subscribed; a
        // few slots keep a burst from the pool's refills from lagging them.
        let (sender, _) = broadcast::channel(8);
        Self { sender }
    }

    /// Listens for connects that fail from now on.
    pub(crate) fn listen(&self) -> ConnectFailureListener {
        ConnectFailureListener {
            receiver: self.sender.subscribe(),
        }
    }
}

impl bb8::ErrorSink<RedisError> for ConnectFailures {
    fn sink(&self, error: RedisError) {
        // With no checkout waiting, nobody needs the error: the next call
        // will connect again and meet it itself.
        let _ = self.sender.send(error);
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<RedisError>> {
        Box::new(self.clone())
    }
}

impl ConnectFailureListener {
    /// The next connect failure; pending forever if none comes.
    pub(crate) async fn next(&mut self) -> RedisError {
        loop {
            match self.receiver.recv().await {
                Ok(error) => return error,
                // Failures were skipped; the next one kept is as good.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => std::future::pending().await,
            }
        }
    }
}

/// One pooled connection.
pub(crate) struct RedisConnection {
    inner: Inner,
    suspect: bool,
}

enum Inner {
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl RedisConnection {
    fn settle<T>(&mut self, result: RedisResult<T>) -> RedisResult<T> {
        self.suspect = match &result {
            Ok(_) => false,
            Err(error) => needs_new_connection(error),
        };
        result
    }
}

/// Whether `error` means this connection should not be used again.
pub(crate) fn needs_new_connection(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly) | ErrorKind::AuthenticationFailed
        )
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, command: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            self.suspect = true;
            let result = match &mut self.inner {
                Inner::Multiplexed(connection) => connection.req_packed_command(command).await,
                Inner::Cluster(connection) => connection.req_packed_command(command).await,
            };
            self.settle(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.suspect = true;
            let result = match &mut self.inner {
                Inner::Multiplexed(connection) => {
                    connection
                        .req_packed_commands(pipeline, offset, count)
                        .await
                }
                Inner::Cluster(connection) => {
                    connection
                        .req_packed_commands(pipeline, offset, count)
                        .await
                }
            };
            self.settle(result)
        })
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Multiplexed(connection) => connection.get_db(),
            Inner::Cluster(connection) => connection.get_db(),
        }
    }
}

impl bb8::ManageConnection for Connector {
    type Connection = RedisConnection;
    type Error = RedisError;

    async fn connect(&self) -> Result<RedisConnection, RedisError> {
        let inner = match &self.target {
            Target::Standalone(client) => Inner::Multiplexed(
                client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?,
            ),
            Target::Sentinel(client) => Inner::Multiplexed(
                client
                    .lock()
                    .await
                    .get_async_connection_with_config(&self.config)
                    .await?,
            ),
            Target::Cluster(client) => Inner::Cluster(client.get_async_connection().await?),
        };
        Ok(RedisConnection {
            inner,
            suspect: false,
        })
    }

    async fn is_valid(&self, connection: &mut RedisConnection) -> Result<(), RedisError> {
        // Only called if checkout testing is turned on, which the gateway
        // never does: a PING per checkout would double every request's cost.
        redis::cmd("PING").query_async(connection).await
    }

    fn has_broken(&self, connection: &mut RedisConnection) -> bool {
        connection.suspect
    }
}
