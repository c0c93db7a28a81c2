//! Rate limiting (SPEC section 6): policies, and the GCRA limiter that
//! enforces them in Redis or in process.
//!
//! A policy `COUNT/SECONDSs+BURST` sustains COUNT requests per SECONDS and,
//! from rest, admits COUNT+BURST at once. [`Coordinator::rate_limit`] makes
//! one decision and returns everything the response headers need
//! ([`RateDecision`]).
//!
//! - [`gcra`]: the arithmetic, once, as a pure function on integers
//!   ([`gcra::decide`]), with its property tests.
//! - `gcra.lua`: the same formula as one Redis script. Time is Redis
//!   `TIME` in microseconds; a refused request writes nothing; an admitted
//!   one stores the new TAT with a TTL of the time until the bucket is full
//!   again. One `EVALSHA` per decision, admitted or refused.
//! - [`MemoryRateLimiter`]: the in-process limiter.
//!
//! Limits never switch off. While Redis is unreachable (breaker open,
//! timeout, refused connection) the Redis coordinator decides with its
//! in-process limiter instead and marks the decision
//! [`degraded`](RateDecision::degraded). That limiter is *warm*: it is made
//! at start-up with the coordinator, and every Redis decision is mirrored
//! into it (the key's time until its bucket is full again), so at failover
//! each instance already knows which clients had spent their budget. During
//! an outage every instance limits on its own, so a client spreading its
//! requests over N instances gets up to N budgets; that is the price of
//! not failing closed. Keeping it warm costs one map update per decision.
//! The in-process coordinator uses the same limiter.
//!
//! Each refusal counts in `intake_rate_limit_refusals_total{policy}`, each
//! fallback decision in `intake_rate_limit_degraded_decisions_total{policy}`;
//! the switch to the fallback and back is logged once each way. The
//! `SECURITY:` line for a refusal belongs to the HTTP layer, which knows
//! the route and client; [`RateDecision`] carries the policy, the wait and
//! whether the decision was degraded.
//!
//! Bucket keys are `PREFIX` `rate:` `POLICY` `:` `KEY`, e.g.
//! `intake:rate:auth:203.0.113.7` (no hash tag: one key per script). The
//! caller's key (a client IP, a user id) is escaped: bytes outside
//! `A-Z a-z 0-9 - _ . :` are written `%XX` (colons too, in the policy
//! name), so a key can never hold a brace (a Cluster hash tag) or collide
//! with another. Callers that would rather not have client IPs in Redis key
//! names pass a keyed hash instead.

pub mod gcra;
mod memory;
mod redis;

pub use memory::MemoryRateLimiter;

use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::Coordinator;
use crate::coordinator::RedisCoordinator;
use gcra::{Decision, MAX_WINDOW_US};

/// A parsed `COUNT/SECONDSs+BURST` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    /// Requests sustained per period.
    pub count: u32,
    /// The period.
    pub period: Duration,
    /// Extra requests admitted at once from rest.
    pub burst: u32,
}

/// Why a policy text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a rate policy of the form COUNT/SECONDSs+BURST (e.g. 100/60s+10) \
     with COUNT and SECONDS above zero and a window (SECONDS / COUNT × (COUNT + BURST)) \
     under 8 years"
)]
pub struct InvalidRatePolicy(String);

impl FromStr for RatePolicy {
    type Err = InvalidRatePolicy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidRatePolicy(text.to_owned());
        let (count, rest) = text.trim().split_once('/').ok_or_else(invalid)?;
        let (seconds, burst) = rest.split_once('+').unwrap_or((rest, "0"));
        let seconds = seconds.strip_suffix('s').ok_or_else(invalid)?;
        let count: u32 = count.parse().map_err(|_| invalid())?;
        let seconds: u64 = seconds.parse().map_err(|_| invalid())?;
        let burst: u32 = burst.parse().map_err(|_| invalid())?;
        if count == 0 || seconds == 0 {
            return Err(invalid());
        }
        let interval_us = (u128::from(seconds) * 1_000_000).div_ceil(u128::from(count));
        let window_us = interval_us * (u128::from(count) + u128::from(burst));
        if window_us > u128::from(MAX_WINDOW_US) {
            return Err(invalid());
        }
        Ok(Self {
            count,
            period: Duration::from_secs(seconds),
            burst,
        })
    }
}

impl fmt::Display for RatePolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}/{}s+{}",
            self.count,
            self.period.as_secs(),
            self.burst
        )
    }
}

/// One rate-limit decision, with what the response headers need.
///
/// For `X-RateLimit-*`: [`limit`](Self::limit),
/// [`remaining`](Self::remaining), [`reset_at_unix`](Self::reset_at_unix).
/// For the IETF draft's `RateLimit-Policy` and `RateLimit`:
/// [`policy_name`](Self::policy_name), [`policy`](Self::policy) (quota and
/// window), `remaining` and [`reset_after_secs`](Self::reset_after_secs).
/// For a 429: [`retry_after_secs`](Self::retry_after_secs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// The policy's name (`auth`, `api`, `pdf`), for headers, metrics and
    /// the `SECURITY:` log line.
    pub policy_name: &'static str,
    /// The policy decided under.
    pub policy: RatePolicy,
    /// Whether the request is admitted.
    pub allowed: bool,
    /// COUNT, the sustained requests per period.
    pub limit: u32,
    /// Further requests admitted right now. From rest this is up to
    /// COUNT + BURST − 1, so it can exceed [`limit`](Self::limit) by the
    /// burst.
    pub remaining: u32,
    /// Time until the bucket is full again.
    pub reset_after: Duration,
    /// When refused: time until a request would be admitted.
    pub retry_after: Option<Duration>,
    /// Unix second at which the bucket is full again, rounded up.
    pub reset_at_unix: u64,
    /// The deciding store's clock at the decision (Unix µs): Redis `TIME`,
    /// or this process's clock when decided in process.
    pub decided_at_unix_us: u64,
    /// Decided by the in-process limiter because Redis was unreachable.
    pub degraded: bool,
}

impl RateDecision {
    fn new(
        policy_name: &'static str,
        policy: &RatePolicy,
        decision: &Decision,
        now_us: u64,
        degraded: bool,
    ) -> Self {
        let full_at_us = now_us.saturating_add(decision.reset_after_us);
        Self {
            policy_name,
            policy: *policy,
            allowed: decision.allowed,
            limit: policy.count,
            remaining: u32::try_from(decision.remaining).unwrap_or(u32::MAX),
            reset_after: decision.reset_after(),
            retry_after: (!decision.allowed)
                .then(|| Duration::from_micros(decision.retry_after_us)),
            reset_at_unix: full_at_us.div_ceil(1_000_000),
            decided_at_unix_us: now_us,
            degraded,
        }
    }

    /// `Retry-After` in whole seconds (rounded up, at least 1), when
    /// refused.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after.map(|wait| ceil_secs(wait).max(1))
    }

    /// Seconds until the bucket is full again, rounded up.
    pub fn reset_after_secs(&self) -> u64 {
        ceil_secs(self.reset_after)
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The Redis key of the bucket for `key` under `policy_name`, every byte
/// outside `A-Z a-z 0-9 - _ .` (and `:` in the key) escaped as `%XX`: no
/// braces, and no two (policy, key) pairs share a bucket.
pub(crate) fn bucket_key(prefix: &str, policy_name: &str, key: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + policy_name.len() + key.len() + 8);
    name.push_str(prefix);
    name.push_str("rate:");
    // The policy's own colons are escaped, so the first bare one ends it.
    push_escaped(&mut name, policy_name, false);
    name.push(':');
    push_escaped(&mut name, key, true);
    name
}

fn push_escaped(name: &mut String, text: &str, keep_colons: bool) {
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.')
            || (keep_colons && byte == b':');
        if plain {
            name.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(name, "%{byte:02X}");
        }
    }
}

impl Coordinator {
    /// Decides one request for `key` (a client IP, a user id) under the
    /// policy `policy_name`.
    ///
    /// Infallible: when Redis is unreachable the decision is made by the
    /// in-process limiter and marked [`degraded`](RateDecision::degraded);
    /// it takes at most the Redis command timeout. A refusal counts in
    /// `intake_rate_limit_refusals_total{policy}`.
    pub async fn rate_limit(
        &self,
        policy_name: &'static str,
        policy: &RatePolicy,
        key: &str,
    ) -> RateDecision {
        let decision = match self {
            Self::Redis(redis) => redis.rate_limit(policy_name, policy, key).await,
            Self::InProcess(memory) => {
                let (decision, now_us) = memory.rate_limiter().decide(policy_name, policy, key);
                RateDecision::new(policy_name, policy, &decision, now_us, false)
            }
        };
        if !decision.allowed {
            metrics::counter!("intake_rate_limit_refusals_total", "policy" => policy_name)
                .increment(1);
        }
        decision
    }
}

impl RedisCoordinator {
    async fn rate_limit(
        &self,
        policy_name: &'static str,
        policy: &RatePolicy,
        key: &str,
    ) -> RateDecision {
        let bucket = bucket_key(self.key_prefix(), policy_name, key);
        let fallback = self.rate_fallback();
        match redis::decide(self.gateway(), &bucket, policy).await {
            Ok((decision, now_us)) => {
                fallback.mirror(policy_name, key, decision.reset_after_us);
                if self.rate_degraded().swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limiting is back on Redis");
                }
                RateDecision::new(policy_name, policy, &decision, now_us, false)
            }
            Err(error) => {
                if !error.is_unavailable() {
                    // A script error is a bug, not an outage; limits still
                    // hold, in process.
                    tracing::error!(error = %error, "rate-limit script failed");
                }
                if !self.rate_degraded().swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %error,
                        "rate limiting falls back to the in-process limiter"
                    );
                }
                metrics::counter!(
                    "intake_rate_limit_degraded_decisions_total",
                    "policy" => policy_name
                )
                .increment(1);
                let (decision, now_us) = fallback.decide(policy_name, policy, key);
                RateDecision::new(policy_name, policy, &decision, now_us, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_count_period_and_burst() {
        let policy: RatePolicy = "5/60s+2".parse().unwrap();
        assert_eq!(
            policy,
            RatePolicy {
                count: 5,
                period: Duration::from_secs(60),
                burst: 2
            }
        );
        assert_eq!(policy.to_string(), "5/60s+2");
    }

    #[test]
    fn the_burst_may_be_left_out() {
        let policy: RatePolicy = "4/60s".parse().unwrap();
        assert_eq!(policy.burst, 0);
    }

    #[test]
    fn malformed_or_zero_policies_are_refused() {
        for text in [
            "",
            "5",
            "5/60",
            "5/60m+2",
            "0/60s+1",
            "5/0s",
            "a/60s+1",
            "5/60s+-1",
            "1/999999999s",
            "1/60s+4294967295",
        ] {
            assert!(text.parse::<RatePolicy>().is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn bucket_keys_escape_everything_that_could_shape_a_key() {
        assert_eq!(
            bucket_key("intake:", "auth", "203.0.113.7"),
            "intake:rate:auth:203.0.113.7"
        );
        assert_eq!(
            bucket_key("intake:", "api", "2001:db8::1"),
            "intake:rate:api:2001:db8::1"
        );
        assert_eq!(
            bucket_key("intake:", "api", "a}{b c%"),
            "intake:rate:api:a%7D%7Bb%20c%25"
        );
        // Escaping is injective: the escaped form of "%7B" is not "{", and
        // a colon cannot move from the key into the policy.
        assert_ne!(bucket_key("p:", "api", "%7B"), bucket_key("p:", "api", "{"));
        assert_ne!(bucket_key("p:", "a:b", "c"), bucket_key("p:", "a", "b:c"));
    }

    #[test]
    fn header_seconds_round_up() {
        let policy: RatePolicy = "3/60s+0".parse().unwrap();
        let decision = Decision {
            allowed: false,
            remaining: 0,
            reset_after_us: 59_000_001,
            retry_after_us: 1,
            new_tat_us: None,
        };
        let decided = RateDecision::new("auth", &policy, &decision, 1_000_000, false);
        assert_eq!(decided.retry_after_secs(), Some(1));
        assert_eq!(decided.reset_after_secs(), 60);
        assert_eq!(decided.reset_at_unix, 61);
        assert_eq!(decided.limit, 3);
    }
}
