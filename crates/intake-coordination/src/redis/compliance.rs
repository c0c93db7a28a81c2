//! The compliance rules of SPEC section 3 for the Redis intake connects to.
//!
//! Run by `intake check`, and at start-up in production where any failure
//! refuses to start. Each rule yields one [`Finding`].

use std::fmt;
use std::time::Duration;

use bb8::ManageConnection;

use super::connection::Connector;
use super::gateway::{RedisGateway, is_authentication_error};
use super::settings::RedisSettings;

/// How a rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The rule holds.
    Ok,
    /// The rule holds, with a risk worth reading.
    Warn,
    /// The rule is broken.
    Fail,
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How it came out.
    pub level: Level,
    /// Short rule name, e.g. `redis-version`.
    pub rule: &'static str,
    /// Why, in one sentence; never a secret.
    pub detail: String,
}

impl Finding {
    fn new(level: Level, rule: &'static str, detail: impl Into<String>) -> Self {
        Self {
            level,
            rule,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(formatter, "{level:<4} {}: {}", self.rule, self.detail)
    }
}

/// The rule that fails when Redis cannot be reached at all.
pub const REACHABLE_RULE: &str = "redis-reachable";

/// Checks every rule against the Redis behind `gateway`.
pub async fn check(gateway: &RedisGateway) -> Vec<Finding> {
    let settings = gateway.settings();
    let mut findings = Vec::new();
    findings.push(check_tls(settings));
    match gateway.server_info().await {
        Err(error) => {
            findings.push(Finding::new(
                Level::Fail,
                REACHABLE_RULE,
                format!("cannot read INFO: {error}"),
            ));
            return findings;
        }
        Ok((info, _)) => {
            findings.push(check_version(&info.redis_version, info.version()));
            findings.push(check_eviction(&info.maxmemory_policy));
        }
    }
    findings.push(check_credentials_required(settings).await);
    findings
}

fn check_tls(settings: &RedisSettings) -> Finding {
    if settings.tls {
        Finding::new(Level::Ok, "redis-tls", "connections use TLS")
    } else {
        Finding::new(
            Level::Fail,
            "redis-tls",
            "connections are not encrypted (use rediss:// or REDIS_TLS_ENABLED=true)",
        )
    }
}

fn check_version(text: &str, version: Option<(u32, u32)>) -> Finding {
    match version {
        Some(version) if version >= (7, 2) => {
            Finding::new(Level::Ok, "redis-version", format!("server version {text}"))
        }
        Some(version) if version >= (7, 0) => Finding::new(
            Level::Warn,
            "redis-version",
            format!("server version {text} is supported, 7.2 or newer is recommended"),
        ),
        _ => Finding::new(
            Level::Fail,
            "redis-version",
            format!("server version {text:?} is older than 7.0"),
        ),
    }
}

fn check_eviction(policy: &str) -> Finding {
    if policy.starts_with("allkeys-") {
        Finding::new(
            Level::Warn,
            "redis-eviction",
            format!(
                "maxmemory-policy is {policy}: sessions and locks could be evicted silently \
                 (use noeviction or a volatile-* policy)"
            ),
        )
    } else {
        Finding::new(
            Level::Ok,
            "redis-eviction",
            format!("maxmemory-policy is {policy}"),
        )
    }
}

/// Opens one connection without credentials and expects Redis to refuse it.
async fn check_credentials_required(settings: &RedisSettings) -> Finding {
    const RULE: &str = "redis-auth";
    let mut anonymous = settings.clone();
    anonymous.username = None;
    anonymous.password = None;
    let probe = async {
        let connector = Connector::new(&anonymous)?;
        let mut connection = connector.connect().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
    };
    let deadline = settings.connect_timeout + settings.command_timeout;
    match tokio::time::timeout(deadline, probe).await {
        Ok(Err(error)) if is_authentication_error(&error) => Finding::new(
            Level::Ok,
            RULE,
            "a connection without credentials is refused (NOAUTH)",
        ),
        Ok(Ok(_)) => Finding::new(
            Level::Fail,
            RULE,
            "Redis accepts connections without credentials (set requirepass or ACL users)",
        ),
        Ok(Err(error)) => Finding::new(
            Level::Fail,
            RULE,
            format!("could not probe an anonymous connection: {error}"),
        ),
        Err(_) => Finding::new(
            Level::Fail,
            RULE,
            format!(
                "an anonymous connection got no answer within {} ms",
                Duration::as_millis(&deadline)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_below_seven_fails_and_below_seven_two_warns() {
        assert_eq!(check_version("6.2.1", Some((6, 2))).level, Level::Fail);
        assert_eq!(check_version("7.0.15", Some((7, 0))).level, Level::Warn);
        assert_eq!(check_version("7.2.4", Some((7, 2))).level, Level::Ok);
        assert_eq!(check_version("", None).level, Level::Fail);
    }

    #[test]
    fn allkeys_eviction_policies_warn() {
        assert_eq!(check_eviction("allkeys-lru").level, Level::Warn);
        assert_eq!(check_eviction("volatile-lru").level, Level::Ok);
        assert_eq!(check_eviction("noeviction").level, Level::Ok);
    }
}
