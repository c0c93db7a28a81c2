//! How to reach Redis, as configuration describes it.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use crate::breaker::BreakerSettings;

/// A `host:port` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.host, self.port)
    }
}

/// Which kind of Redis deployment to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server (or a managed endpoint such as Memorystore Standard HA).
    Standalone(HostPort),
    /// A master found through Redis Sentinel.
    Sentinel {
        /// The sentinels to ask.
        sentinels: Vec<HostPort>,
        /// The name the sentinels know the master by.
        master_name: String,
    },
    /// Redis Cluster, discovered from these seed nodes.
    Cluster {
        /// Seed nodes.
        nodes: Vec<HostPort>,
    },
}

impl Topology {
    /// The mode name used by `/health` (`standalone`, `sentinel`, `cluster`).
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Standalone(_) => "standalone",
            Self::Sentinel { .. } => "sentinel",
            Self::Cluster { .. } => "cluster",
        }
    }
}

/// Everything the gateway needs to connect and to bound its calls.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// Where Redis is.
    pub topology: Topology,
    /// ACL user, if any.
    pub username: Option<String>,
    /// Password (`AUTH`), if any.
    pub password: Option<SecretString>,
    /// Whether connections use TLS.
    pub tls: bool,
    /// PEM bundle of the CAs that may sign the server's certificate; the
    /// system's roots when `None`.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// Whether the server's certificate must name the host connected to.
    /// `false` still checks the chain against [`Self::ca_cert_pem`], for
    /// servers such as GCP Memorystore whose certificates carry the address
    /// only in the common name, which rustls does not read.
    pub tls_verify_hostname: bool,
    /// Most connections the pool opens.
    pub pool_size: u32,
    /// Idle connections the pool keeps ready.
    pub min_idle: u32,
    /// Longest wait to establish one connection.
    pub connect_timeout: Duration,
    /// Longest wait for one whole call, retries included.
    pub command_timeout: Duration,
    /// How often a call is retried on a fresh connection when its connection
    /// failed before Redis answered.
    pub max_retries: u32,
    /// When the circuit breaker opens and for how long.
    pub breaker: BreakerSettings,
}

impl RedisSettings {
    /// Settings with the defaults of SPEC section 3 for one server.
    pub fn standalone(host: impl Into<String>, port: u16) -> Self {
        Self {
            topology: Topology::Standalone(HostPort {
                host: host.into(),
                port,
            }),
            username: None,
            password: None,
            tls: false,
            ca_cert_pem: None,
            tls_verify_hostname: true,
            pool_size: 10,
            min_idle: 5,
            connect_timeout: Duration::from_millis(5000),
            command_timeout: Duration::from_millis(3000),
            max_retries: 3,
            breaker: BreakerSettings::default(),
        }
    }
}
