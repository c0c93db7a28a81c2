//! Configuration from the environment, exactly as SPEC section 3 lists it.
//!
//! Everything is read once, at start-up, into [`Config`]; nothing else in the
//! process reads environment variables. Every secret may instead be read from
//! a file named by the variable with a `_FILE` suffix, as secret managers
//! mount them. Secrets are held in types that never print their value.
//!
//! Production mode refuses configurations that would be unsafe with PHI:
//! no Redis, Redis without a password or without TLS, or no secret key of at
//! least 32 bytes. Each refusal names the variable to fix.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use intake_coordination::breaker::BreakerSettings;
use intake_coordination::rate_limit::RatePolicy;
use intake_coordination::redis::{HostPort, RedisSettings, Topology};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretBox, SecretString};

/// A configuration problem, naming the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The variable to fix.
    pub variable: &'static str,
    /// What is wrong with it, never its secret value.
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// `development` or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Friendly defaults for trying intake out.
    Development,
    /// Refuses unsafe settings; secure cookies and HSTS.
    Production,
}

impl Mode {
    /// The mode's name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }
}

/// The root key of every server-side MAC: at least 32 bytes.
pub struct SecretKey(SecretBox<[u8]>);

impl SecretKey {
    /// The shortest key accepted.
    pub const MIN_BYTES: usize = 32;

    /// Wraps `bytes` when they are long enough.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= Self::MIN_BYTES).then(|| Self(SecretBox::new(bytes.into_boxed_slice())))
    }

    /// The key's bytes, for computing MACs.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// Decodes the hex or base64 text of `INTAKE_SECRET_KEY`.
    fn parse(text: &str) -> Result<Self, ConfigError> {
        let text = text.trim();
        let bytes = decode_hex(text)
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text)
                    .ok()
            })
            .or_else(|| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(text)
                    .ok()
            })
            .ok_or_else(|| ConfigError::new("INTAKE_SECRET_KEY", "is neither hex nor base64"))?;
        Self::new(bytes).ok_or_else(|| {
            ConfigError::new(
                "INTAKE_SECRET_KEY",
                format!("must hold at least {} random bytes", Self::MIN_BYTES),
            )
        })
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SecretKey([redacted])")
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

/// Session and CSRF lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// Absolute session lifetime.
    pub absolute_ttl: Duration,
    /// Automatic logoff after inactivity; `None` turns it off.
    pub idle_timeout: Option<Duration>,
    /// CSRF token lifetime.
    pub csrf_ttl: Duration,
}

/// The three rate-limit policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// The two login routes, by client IP.
    pub auth: RatePolicy,
    /// Every other `/api/` route, by user (else IP).
    pub api: RatePolicy,
    /// PDF generation, by user.
    pub pdf: RatePolicy,
}

/// Where the identity provider's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched (and cached) from a URL.
    Url(String),
    /// Read from a file.
    File(PathBuf),
}

/// The identity provider whose ID tokens `session-login` accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// The signing keys.
    pub jwks: JwksSource,
    /// Claim holding the organization id.
    pub organization_claim: String,
    /// Claim holding the role.
    pub role_claim: String,
}

/// Google's signing keys for Firebase ID tokens.
const FIREBASE_JWKS_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

/// The whole configuration of one intake process.
#[derive(Debug)]
pub struct Config {
    /// `development` or `production`.
    pub mode: Mode,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://...` (may hold a password).
    pub database_url: SecretString,
    /// Redis, or `None` for in-process coordination.
    pub redis: Option<RedisSettings>,
    /// Prefix of every Redis key.
    pub key_prefix: String,
    /// Session and CSRF lifetimes.
    pub sessions: SessionSettings,
    /// Rate-limit policies.
    pub rate_limits: RateLimits,
    /// The identity provider, if any.
    pub oidc: Option<OidcSettings>,
    /// The MAC root key; in development it may be left to the database.
    pub secret_key: Option<SecretKey>,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Extra origins allowed to make state-changing requests.
    pub allowed_origins: Vec<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in
    /// tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Environment { lookup: &lookup };
        let mode = match env.get("INTAKE_ENV").as_deref() {
            None | Some("development") => Mode::Development,
            Some("production") => Mode::Production,
            Some(_) => {
                return Err(ConfigError::new(
                    "INTAKE_ENV",
                    "must be development or production",
                ));
            }
        };
        let config = Self {
            mode,
            listen: listen_address(&env)?,
            database_url: env
                .secret("DATABASE_URL")?
                .unwrap_or_else(|| SecretString::from("sqlite://intake.db")),
            redis: redis_settings(&env)?,
            key_prefix: env
                .get("INTAKE_KEY_PREFIX")
                .unwrap_or_else(|| "intake:".into()),
            sessions: SessionSettings {
                absolute_ttl: env.seconds("SESSION_ABSOLUTE_TTL_SECS", 432_000)?,
                idle_timeout: Some(env.seconds("SESSION_IDLE_TIMEOUT_SECS", 1800)?)
                    .filter(|timeout| !timeout.is_zero()),
                csrf_ttl: env.seconds("CSRF_TTL_SECS", 14_400)?,
            },
            rate_limits: RateLimits {
                auth: env.rate_policy("RATE_LIMIT_AUTH", "5/60s+2")?,
                api: env.rate_policy("RATE_LIMIT_API", "100/60s+10")?,
                pdf: env.rate_policy("RATE_LIMIT_PDF", "10/60s+2")?,
            },
            oidc: oidc_settings(&env)?,
            secret_key: env
                .secret("INTAKE_SECRET_KEY")?
                .map(|text| SecretKey::parse(text.expose_secret()))
                .transpose()?,
            trusted_proxies: env.list("TRUSTED_PROXIES", parse_cidr)?,
            allowed_origins: env.list("INTAKE_ALLOWED_ORIGINS", |origin| {
                Ok(origin.trim_end_matches('/').to_owned())
            })?,
        };
        if mode == Mode::Production {
            config.refuse_unsafe_production()?;
        }
        Ok(config)
    }

    fn refuse_unsafe_production(&self) -> Result<(), ConfigError> {
        let Some(redis) = &self.redis else {
            return Err(ConfigError::new(
                "REDIS_URL",
                "production requires Redis (set REDIS_URL, REDIS_ADDR, REDIS_SENTINELS \
                 or REDIS_CLUSTER_NODES)",
            ));
        };
        if redis.password.is_none() {
            return Err(ConfigError::new(
                "REDIS_PASSWORD",
                "production requires a Redis password",
            ));
        }
        if !redis.tls {
            return Err(ConfigError::new(
                "REDIS_TLS_ENABLED",
                "production requires TLS to Redis (use rediss:// or REDIS_TLS_ENABLED=true)",
            ));
        }
        if self.secret_key.is_none() {
            return Err(ConfigError::new(
                "INTAKE_SECRET_KEY",
                format!(
                    "production requires a key of at least {} random bytes",
                    SecretKey::MIN_BYTES
                ),
            ));
        }
        Ok(())
    }

    /// The database backend's name, without the URL (which may hold a
    /// password).
    pub fn database_scheme(&self) -> &str {
        let url = self.database_url.expose_secret();
        url.split_once("://")
            .map_or("unknown", |(scheme, _)| scheme)
    }
}

/// Variable lookup with the parsing rules shared by every variable.
struct Environment<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Environment<'_> {
    /// A set, non-empty variable.
    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    /// A secret from `NAME` or from the file named by `NAME_FILE`.
    fn secret(&self, name: &'static str) -> Result<Option<SecretString>, ConfigError> {
        let file_variable = format!("{name}_FILE");
        match (self.get(name), self.get(&file_variable)) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                name,
                format!("set either {name} or {file_variable}, not both"),
            )),
            (Some(value), None) => Ok(Some(value.into())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|error| {
                    ConfigError::new(name, format!("cannot read {file_variable} {path}: {error}"))
                })?;
                Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned().into()))
            }
            (None, None) => Ok(None),
        }
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| ConfigError::new(name, format!("{text:?} is not {expected}"))),
        }
    }

    fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.parsed(name, default, "a whole number of seconds")
            .map(Duration::from_secs)
    }

    fn millis(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let millis: u64 = self.parsed(name, default, "a whole number of milliseconds")?;
        if millis == 0 {
            return Err(ConfigError::new(name, "must be above 0"));
        }
        Ok(Duration::from_millis(millis))
    }

    fn flag(&self, name: &'static str) -> Result<Option<bool>, ConfigError> {
        match self
            .get(name)
            .map(|text| text.trim().to_ascii_lowercase())
            .as_deref()
        {
            None => Ok(None),
            Some("true" | "1" | "yes") => Ok(Some(true)),
            Some("false" | "0" | "no") => Ok(Some(false)),
            Some(_) => Err(ConfigError::new(name, "must be true or false")),
        }
    }

    fn rate_policy(&self, name: &'static str, default: &str) -> Result<RatePolicy, ConfigError> {
        let text = self.get(name).unwrap_or_else(|| default.to_owned());
        text.parse().map_err(
            |error: intake_coordination::rate_limit::InvalidRatePolicy| {
                ConfigError::new(name, error.to_string())
            },
        )
    }

    /// A comma-separated list, each item parsed by `parse`.
    fn list<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(Vec::new());
        };
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| parse(item).map_err(|problem| ConfigError::new(name, problem)))
            .collect()
    }
}

fn listen_address(env: &Environment<'_>) -> Result<SocketAddr, ConfigError> {
    if let Some(text) = env.get("INTAKE_LISTEN") {
        return text
            .trim()
            .parse()
            .map_err(|_| ConfigError::new("INTAKE_LISTEN", format!("{text:?} is not host:port")));
    }
    let port: u16 = match env.get("PORT") {
        // Cloud Run names the port; the container must listen on every address.
        Some(_) => env.parsed("PORT", 0, "a port number")?,
        None => return Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
    };
    Ok(SocketAddr::from(([0, 0, 0, 0], port)))
}

fn parse_cidr(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR such as 10.0.0.0/8"))
}

fn parse_host_port(text: &str) -> Result<HostPort, String> {
    let invalid = || format!("{text:?} is not host:port");
    let (host, port) = text.rsplit_once(':').ok_or_else(invalid)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid());
    }
    Ok(HostPort {
        host: host.to_owned(),
        port: port.parse().map_err(|_| invalid())?,
    })
}

/// Where Redis is and how to reach it, or `None` for in-process.
fn redis_settings(env: &Environment<'_>) -> Result<Option<RedisSettings>, ConfigError> {
    let url = env.secret("REDIS_URL")?;
    let sources = [
        ("REDIS_URL", url.is_some()),
        ("REDIS_ADDR", env.get("REDIS_ADDR").is_some()),
        ("REDIS_SENTINELS", env.get("REDIS_SENTINELS").is_some()),
        (
            "REDIS_CLUSTER_NODES",
            env.get("REDIS_CLUSTER_NODES").is_some(),
        ),
    ];
    let chosen: Vec<&str> = sources
        .iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect();
    if chosen.len() > 1 {
        return Err(ConfigError::new(
            "REDIS_URL",
            format!("set only one of {}", chosen.join(", ")),
        ));
    }
    let mut username = None;
    let mut password = None;
    let mut url_tls = None;
    let topology = if let Some(url) = &url {
        let parsed = parse_redis_url(url.expose_secret())?;
        (username, password, url_tls) = (parsed.username, parsed.password, Some(parsed.tls));
        Topology::Standalone(parsed.address)
    } else if let Some(address) = env.get("REDIS_ADDR") {
        Topology::Standalone(
            parse_host_port(address.trim()).map_err(|p| ConfigError::new("REDIS_ADDR", p))?,
        )
    } else if env.get("REDIS_SENTINELS").is_some() {
        let master_name = env.get("REDIS_SENTINEL_MASTER").ok_or_else(|| {
            ConfigError::new("REDIS_SENTINEL_MASTER", "is required with REDIS_SENTINELS")
        })?;
        Topology::Sentinel {
            sentinels: env.list("REDIS_SENTINELS", parse_host_port)?,
            master_name: master_name.trim().to_owned(),
        }
    } else if env.get("REDIS_CLUSTER_NODES").is_some() {
        Topology::Cluster {
            nodes: env.list("REDIS_CLUSTER_NODES", parse_host_port)?,
        }
    } else {
        return Ok(None);
    };

    let tls = match (url_tls, env.flag("REDIS_TLS_ENABLED")?) {
        (Some(true), Some(false)) => {
            return Err(ConfigError::new(
                "REDIS_TLS_ENABLED",
                "is false but REDIS_URL is rediss://",
            ));
        }
        (from_url, flag) => from_url.unwrap_or(false) || flag.unwrap_or(false),
    };
    let ca_cert_pem = match env.get("REDIS_CA_CERT") {
        None => None,
        Some(path) => Some(std::fs::read(path.trim()).map_err(|error| {
            ConfigError::new("REDIS_CA_CERT", format!("cannot read {path}: {error}"))
        })?),
    };
    let tls_verify_hostname = env.flag("REDIS_TLS_VERIFY_HOSTNAME")?.unwrap_or(true);
    if !tls_verify_hostname && ca_cert_pem.is_none() {
        return Err(ConfigError::new(
            "REDIS_TLS_VERIFY_HOSTNAME",
            "false needs REDIS_CA_CERT: without a private CA, any publicly trusted \
             certificate would be accepted",
        ));
    }
    let defaults = RedisSettings::standalone("", 0);
    Ok(Some(RedisSettings {
        topology,
        username: username.or_else(|| env.get("REDIS_USERNAME")),
        password: password.or(env.secret("REDIS_PASSWORD")?),
        tls,
        ca_cert_pem,
        tls_verify_hostname,
        pool_size: env.parsed("REDIS_POOL_SIZE", defaults.pool_size, "a count")?,
        min_idle: env.parsed("REDIS_MIN_IDLE", defaults.min_idle, "a count")?,
        connect_timeout: env.millis("REDIS_CONNECT_TIMEOUT_MS", 5000)?,
        command_timeout: env.millis("REDIS_COMMAND_TIMEOUT_MS", 3000)?,
        max_retries: env.parsed("REDIS_MAX_RETRIES", defaults.max_retries, "a count")?,
        breaker: BreakerSettings::default(),
    }))
}

struct RedisUrl {
    address: HostPort,
    username: Option<String>,
    password: Option<SecretString>,
    tls: bool,
}

fn parse_redis_url(text: &str) -> Result<RedisUrl, ConfigError> {
    // The URL may hold a password, so no message repeats it.
    let invalid = |problem: &str| ConfigError::new("REDIS_URL", problem.to_owned());
    let url = url::Url::parse(text).map_err(|_| invalid("is not a valid URL"))?;
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        _ => return Err(invalid("must start with redis:// or rediss://")),
    };
    let host = url.host_str().ok_or_else(|| invalid("names no host"))?;
    if !matches!(url.path(), "" | "/" | "/0") {
        return Err(invalid(
            "selecting a database other than 0 is not supported",
        ));
    }
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(|decoded| decoded.into_owned())
            .map_err(|_| invalid("has a user or password that is not UTF-8"))
    };
    let username = Some(decode(url.username())?).filter(|name| !name.is_empty());
    let password = url
        .password()
        .map(decode)
        .transpose()?
        .map(SecretString::from);
    Ok(RedisUrl {
        address: HostPort {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: url.port().unwrap_or(6379),
        },
        username,
        password,
        tls,
    })
}

fn oidc_settings(env: &Environment<'_>) -> Result<Option<OidcSettings>, ConfigError> {
    let organization_claim = env
        .get("OIDC_ORG_CLAIM")
        .unwrap_or_else(|| "organization_id".into());
    let role_claim = env.get("OIDC_ROLE_CLAIM").unwrap_or_else(|| "role".into());
    if let Some(project) = env.get("FIREBASE_PROJECT_ID") {
        let project = project.trim();
        return Ok(Some(OidcSettings {
            issuer: format!("https://securetoken.google.com/{project}"),
            audience: project.to_owned(),
            jwks: JwksSource::Url(FIREBASE_JWKS_URL.to_owned()),
            organization_claim,
            role_claim,
        }));
    }
    let Some(issuer) = env.get("OIDC_ISSUER") else {
        return Ok(None);
    };
    let audience = env
        .get("OIDC_AUDIENCE")
        .ok_or_else(|| ConfigError::new("OIDC_AUDIENCE", "is required with OIDC_ISSUER"))?;
    let jwks = match (env.get("OIDC_JWKS_URL"), env.get("OIDC_JWKS_FILE")) {
        (Some(url), None) => JwksSource::Url(url),
        (None, Some(path)) => JwksSource::File(path.into()),
        _ => {
            return Err(ConfigError::new(
                "OIDC_JWKS_URL",
                "set exactly one of OIDC_JWKS_URL and OIDC_JWKS_FILE with OIDC_ISSUER",
            ));
        }
    };
    Ok(Some(OidcSettings {
        issuer,
        audience,
        jwks,
        organization_claim,
        role_claim,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn no_configuration_gives_the_embedded_defaults() {
        let config = config(&[]).unwrap();
        assert_eq!(config.mode, Mode::Development);
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url.expose_secret(), "sqlite://intake.db");
        assert!(config.redis.is_none());
        assert_eq!(config.key_prefix, "intake:");
        assert_eq!(config.sessions.absolute_ttl, Duration::from_secs(432_000));
        assert_eq!(
            config.sessions.idle_timeout,
            Some(Duration::from_secs(1800))
        );
        assert_eq!(config.rate_limits.auth.to_string(), "5/60s+2");
        assert!(config.secret_key.is_none());
    }

    #[test]
    fn cloud_run_port_listens_on_every_address() {
        let config = config(&[("PORT", "9000")]).unwrap();
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
    }

    #[test]
    fn a_zero_idle_timeout_turns_automatic_logoff_off() {
        let config = config(&[("SESSION_IDLE_TIMEOUT_SECS", "0")]).unwrap();
        assert_eq!(config.sessions.idle_timeout, None);
    }

    #[test]
    fn redis_url_gives_address_credentials_and_tls() {
        let config = config(&[("REDIS_URL", "rediss://app:p%40ss@cache.internal:6380")]).unwrap();
        let redis = config.redis.unwrap();
        assert_eq!(
            redis.topology,
            Topology::Standalone(HostPort {
                host: "cache.internal".into(),
                port: 6380
            })
        );
        assert_eq!(redis.username.as_deref(), Some("app"));
        assert_eq!(redis.password.unwrap().expose_secret(), "p@ss");
        assert!(redis.tls);
    }

    #[test]
    fn redis_parts_form_the_same_settings_as_a_url() {
        let config = config(&[
            ("REDIS_ADDR", "10.0.0.3:6378"),
            ("REDIS_PASSWORD", "secret"),
            ("REDIS_TLS_ENABLED", "true"),
            ("REDIS_COMMAND_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        let redis = config.redis.unwrap();
        assert_eq!(redis.topology.mode(), "standalone");
        assert!(redis.tls);
        assert_eq!(redis.command_timeout, Duration::from_millis(250));
        assert_eq!(redis.password.unwrap().expose_secret(), "secret");
    }

    #[test]
    fn secrets_can_come_from_files() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("password");
        std::fs::write(&path, "from-file\n").unwrap();
        let config = config(&[
            ("REDIS_ADDR", "127.0.0.1:6379"),
            ("REDIS_PASSWORD_FILE", path.to_str().unwrap()),
        ])
        .unwrap();
        let password = config.redis.unwrap().password.unwrap();
        assert_eq!(password.expose_secret(), "from-file");
    }

    #[test]
    fn skipping_the_hostname_check_needs_a_private_ca() {
        let error = config(&[
            ("REDIS_URL", "rediss://:pw@10.0.0.3:6378"),
            ("REDIS_TLS_VERIFY_HOSTNAME", "false"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "REDIS_TLS_VERIFY_HOSTNAME");
    }

    #[test]
    fn sentinel_and_cluster_topologies_are_read() {
        let sentinel = config(&[
            ("REDIS_SENTINELS", "10.0.0.1:26379, 10.0.0.2:26379"),
            ("REDIS_SENTINEL_MASTER", "mymaster"),
        ])
        .unwrap();
        assert_eq!(sentinel.redis.unwrap().topology.mode(), "sentinel");
        let cluster = config(&[("REDIS_CLUSTER_NODES", "10.0.0.1:7000,10.0.0.2:7000")]).unwrap();
        match cluster.redis.unwrap().topology {
            Topology::Cluster { nodes } => assert_eq!(nodes.len(), 2),
            other => panic!("expected a cluster, got {other:?}"),
        }
    }

    #[test]
    fn two_redis_sources_at_once_are_refused() {
        let error = config(&[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("REDIS_ADDR", "127.0.0.1:6379"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "REDIS_URL");
    }

    #[test]
    fn a_malformed_rate_policy_names_its_variable() {
        let error = config(&[("RATE_LIMIT_API", "100 per minute")]).unwrap_err();
        assert_eq!(error.variable, "RATE_LIMIT_API");
    }

    #[test]
    fn the_secret_key_accepts_hex_and_base64_of_32_bytes() {
        let hex = config(&[("INTAKE_SECRET_KEY", KEY)]).unwrap();
        assert_eq!(hex.secret_key.unwrap().expose().len(), 32);
        let base64 = base64::engine::general_purpose::STANDARD.encode([7u8; 48]);
        let config = config(&[("INTAKE_SECRET_KEY", &base64)]).unwrap();
        assert_eq!(config.secret_key.unwrap().expose(), [7u8; 48]);
    }

    #[test]
    fn a_short_secret_key_is_refused() {
        let error = config(&[("INTAKE_SECRET_KEY", "00ff")]).unwrap_err();
        assert_eq!(error.variable, "INTAKE_SECRET_KEY");
    }

    #[test]
    fn production_refuses_each_unsafe_setting_naming_the_variable() {
        let production = [("INTAKE_ENV", "production"), ("INTAKE_SECRET_KEY", KEY)];
        let refused = |extra: &[(&str, &str)]| {
            let pairs: Vec<_> = production.iter().chain(extra).copied().collect();
            config(&pairs).unwrap_err().variable
        };
        assert_eq!(refused(&[]), "REDIS_URL");
        assert_eq!(
            refused(&[("REDIS_URL", "rediss://cache:6379")]),
            "REDIS_PASSWORD"
        );
        assert_eq!(
            refused(&[("REDIS_URL", "redis://:pw@cache:6379")]),
            "REDIS_TLS_ENABLED"
        );
        let no_key = config(&[
            ("INTAKE_ENV", "production"),
            ("REDIS_URL", "rediss://:pw@cache:6379"),
        ]);
        assert_eq!(no_key.unwrap_err().variable, "INTAKE_SECRET_KEY");
        let safe = [("REDIS_URL", "rediss://:pw@cache:6379")];
        let pairs: Vec<_> = production.iter().chain(&safe).copied().collect();
        assert_eq!(config(&pairs).unwrap().mode, Mode::Production);
    }

    #[test]
    fn errors_never_repeat_the_redis_password() {
        let error = config(&[("REDIS_URL", "http://user:hunter2@cache:6379")]).unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn firebase_project_sets_issuer_and_audience() {
        let config = config(&[("FIREBASE_PROJECT_ID", "clinic-app")]).unwrap();
        let oidc = config.oidc.unwrap();
        assert_eq!(oidc.issuer, "https://securetoken.google.com/clinic-app");
        assert_eq!(oidc.audience, "clinic-app");
        assert_eq!(oidc.organization_claim, "organization_id");
    }
}
