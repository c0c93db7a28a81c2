//! The limiter in Redis: one `EVALSHA` of `gcra.lua` per decision.

use std::sync::LazyLock;

use redis::Script;

use super::RatePolicy;
use super::gcra::Decision;
use crate::redis::{GatewayError, RedisGateway};

static GCRA: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("gcra.lua")));

/// Decides one request for the bucket `key` (a full Redis key name).
///
/// Returns the decision and Redis's clock (Unix µs) at the decision.
pub(crate) async fn decide(
    gateway: &RedisGateway,
    key: &str,
    policy: &RatePolicy,
) -> Result<(Decision, u64), GatewayError> {
    let params = policy.gcra();
    let mut invocation = GCRA.prepare_invoke();
    invocation
        .key(key)
        .arg(params.interval_us)
        .arg(params.window_us);
    let (allowed, remaining, reset_after_us, retry_after_us, now_us): (u8, u64, u64, u64, u64) =
        gateway.invoke("rate_limit", &invocation).await?;
    let decision = Decision {
        allowed: allowed == 1,
        remaining,
        reset_after_us,
        retry_after_us,
        new_tat_us: (allowed == 1).then(|| now_us + reset_after_us),
    };
    Ok((decision, now_us))
}
