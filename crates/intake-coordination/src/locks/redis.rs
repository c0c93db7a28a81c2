//! Locks in Redis: three compare-and-act scripts over the gateway.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;

use super::Attempt;
use crate::clock::millis;
use crate::redis::{GatewayError, RedisGateway};

static ACQUIRE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("acquire.lua")));
static EXTEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("extend.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("release.lua")));

/// How long a resource's fencing counter outlives its last acquisition.
const FENCE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The lock store in Redis, under `prefix`. Owned (not borrowed), because
/// the renewal task and a dropped guard's release outlive the call that
/// made them.
#[derive(Clone)]
pub(crate) struct RedisLocks {
    gateway: RedisGateway,
    prefix: Arc<str>,
}

impl RedisLocks {
    pub(crate) fn new(gateway: RedisGateway, prefix: Arc<str>) -> Self {
        Self { gateway, prefix }
    }

    /// `{prefix}lock:{R}`, the braces literal: a Cluster hash tag.
    fn lock_key(&self, resource: &str) -> String {
        format!("{}lock:{{{resource}}}", self.prefix)
    }

    /// `{prefix}lock-fence:{R}`, in the lock's slot.
    fn fence_key(&self, resource: &str) -> String {
        format!("{}lock-fence:{{{resource}}}", self.prefix)
    }

    pub(crate) async fn acquire(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Attempt, GatewayError> {
        let mut invocation = ACQUIRE.prepare_invoke();
        invocation
            .key(self.lock_key(resource))
            .key(self.fence_key(resource))
            .arg(owner)
            .arg(millis(ttl))
            .arg(millis(FENCE_TTL));
        let (taken, value): (u8, i64) = self.gateway.invoke("lock.acquire", &invocation).await?;
        Ok(if taken == 1 {
            Attempt::Acquired {
                fencing_token: u64::try_from(value).unwrap_or_default(),
            }
        } else {
            // PTTL is -1 or -2 when the key has no TTL or just vanished.
            Attempt::Held {
                held_for: u64::try_from(value).ok().map(Duration::from_millis),
            }
        })
    }

    pub(crate) async fn extend(
        &self,
        resource: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, GatewayError> {
        let mut invocation = EXTEND.prepare_invoke();
        invocation
            .key(self.lock_key(resource))
            .arg(owner)
            .arg(millis(ttl));
        let extended: u8 = self.gateway.invoke("lock.extend", &invocation).await?;
        Ok(extended == 1)
    }

    pub(crate) async fn release(&self, resource: &str, owner: &str) -> Result<bool, GatewayError> {
        let mut invocation = RELEASE.prepare_invoke();
        invocation.key(self.lock_key(resource)).arg(owner);
        let released: u8 = self.gateway.invoke("lock.release", &invocation).await?;
        Ok(released == 1)
    }
}
